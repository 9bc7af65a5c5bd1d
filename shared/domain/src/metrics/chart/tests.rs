use super::*;
use crate::time;

fn at(text: &str) -> Timestamp {
    time::parse(text).unwrap()
}

/// `n` series over the range, every `step` seconds: a slow wave around 0.5 each.
fn waves(range: Range, n: usize) -> Vec<Series> {
    (0..n)
        .map(|s| Series {
            labels: BTreeMap::from([
                ("__name__".to_owned(), "errors_ratio".to_owned()),
                ("job".to_owned(), "api".to_owned()),
                ("instance".to_owned(), format!("host-{s}:9100")),
            ]),
            points: (0..)
                .map(|i| range.start + i * range.step)
                .take_while(|t| *t <= range.end)
                .enumerate()
                .map(|(i, t)| Point {
                    at_ms: t * 1000,
                    value: 0.45 + 0.1 * s as f64 / n as f64 + 0.2 * (i as f64 / 60.0).sin(),
                })
                .collect(),
        })
        .collect()
}

fn alert(expr: &str, range: Range) -> Alert<'_> {
    Alert {
        expr,
        starts_at: at("2026-12-07T10:00:00Z"),
        ends_at: None,
        range,
    }
}

fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width, info.height, buf)
}

#[test]
fn the_range_is_the_hour_before_to_now_in_at_most_720_whole_second_steps() {
    let r = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T10:30:00Z"));
    assert_eq!(r.end - r.start, 5400);
    assert_eq!(r.start, at("2026-12-07T09:00:00Z").timestamp());
    assert_eq!(r.step, 8, "5400 / 720 = 7.5, rounded up");
    let r = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-08T10:00:00Z"));
    assert_eq!(r.step, 125);
    assert!((r.end - r.start) / r.step <= 720);
    // An alert that began "after" now (clocks apart) still gets its hour.
    let r = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T09:00:00Z"));
    assert_eq!((r.end - r.start, r.step), (3600, 5));
    let r = Range {
        start: 0,
        end: 600,
        step: 1,
    };
    assert_eq!(
        r.query("up > 0.5"),
        "query=up+%3E+0.5&start=0&end=600&step=1"
    );
}

#[test]
fn the_png_decodes_at_its_size_with_the_firing_span_shaded_from_the_alert_start() {
    let range = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T10:30:00Z"));
    let series = waves(range, 3);
    let a = alert("errors_ratio > 0.6", range);
    let chart = chart(&a, &series).unwrap();
    let (w, h, rgb) = decode(&chart.png);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    // The same figure laid out gives where the alert's start maps.
    let (figure, _) = figure(&a, &series).unwrap();
    let (layout, _) = draw::shapes(&figure);
    let start = layout.x_of(a.starts_at.timestamp() as f64);
    let plot = layout.plot;
    // 10:00 of 09:00–10:30: two thirds along the plot.
    let along = (start - plot.x) / plot.w;
    assert!((along - 2.0 / 3.0).abs() < 0.005, "{along}");
    let px = |x: f32, y: f32| {
        let i = ((y as u32 * w + x as u32) * 3) as usize;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    };
    // A row near the plot's top, above the waves (they stay under 0.75 of the axis).
    let y = plot.y + 4.0;
    assert_eq!(px(start - 3.0, y), (255, 255, 255));
    let shaded = px(start + 3.0, y);
    assert!(
        shaded != (255, 255, 255) && shaded.0 > shaded.1,
        "{shaded:?}"
    );
    assert!(
        (plot.x as u32..(plot.x + plot.w) as u32)
            .filter(|&x| {
                let (r, g, _) = px(x as f32, y);
                r > g.saturating_add(10)
            })
            .all(|x| (x as f32) >= start - 1.0),
        "nothing left of the start is shaded"
    );
}

#[test]
fn the_svg_parses_and_holds_the_threshold_and_the_text_alternative() {
    let range = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T10:30:00Z"));
    let series = waves(range, 12);
    let a = alert("avg by (instance) (errors_ratio) >= 0.6", range);
    let chart = chart(&a, &series).unwrap();
    let svg = chart.svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let threshold = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("threshold"))
        .count();
    assert_eq!(threshold, 1);
    let series_drawn = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("series"))
        .count();
    assert_eq!(series_drawn, MAX_DRAWN);
    let legend: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("legend"))
        .filter_map(|n| n.text())
        .collect();
    // A ratio: percent; the legend names only the label the series differ in.
    assert!(legend.contains(&"threshold >= 60%"), "{legend:?}");
    assert!(legend.contains(&"and 2 more series"), "{legend:?}");
    assert!(legend.contains(&"instance=\"host-11:9100\""), "{legend:?}");
    assert!(legend.contains(&"firing since 10:00 UTC"), "{legend:?}");
    // The text alternative: a first line, one per drawn series, the rest summed up.
    let lines: Vec<&str> = chart.text.lines().collect();
    assert_eq!(lines.len(), 1 + MAX_DRAWN + 1, "{}", chart.text);
    assert!(lines[0].starts_with("Chart of avg by (instance) (errors_ratio) >= 0.6, 2026-12-07 09:00 – 10:30 UTC, threshold >= 60%"), "{}", lines[0]);
    // Those going furthest towards firing first: the highest wave is host-11.
    assert!(
        lines[1].starts_with("instance=\"host-11:9100\": now "),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(", range ") && lines[1].contains('%'),
        "{}",
        lines[1]
    );
    assert_eq!(lines[11], "and 2 more series (in the CSV)");
    let title = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
    assert_eq!(title.text(), Some(chart.text.as_str()));
}

#[test]
fn the_csv_round_trips_through_a_csv_reader() {
    let series = vec![
        Series {
            labels: BTreeMap::from([
                ("__name__".to_owned(), "http_requests_total".to_owned()),
                ("path".to_owned(), "/a,b".to_owned()),
                ("msg".to_owned(), "say \"hi\"\nthere".to_owned()),
            ]),
            points: vec![
                Point {
                    at_ms: 1_435_781_430_781,
                    value: 1.5,
                },
                Point {
                    at_ms: 1_435_781_445_000,
                    value: f64::NAN,
                },
                Point {
                    at_ms: 1_435_781_460_000,
                    value: f64::INFINITY,
                },
                Point {
                    at_ms: 1_435_781_475_000,
                    value: f64::NEG_INFINITY,
                },
                Point {
                    at_ms: 1_435_781_490_000,
                    value: 1e-7,
                },
            ],
        },
        Series {
            labels: BTreeMap::new(),
            points: vec![Point {
                at_ms: 0,
                value: -2.0,
            }],
        },
    ];
    let text = csv::write(&series);
    assert!(text.starts_with("timestamp,series,value\r\n"));
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["timestamp", "series", "value"]
    );
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[0][0], "2015-07-01T20:10:30.781Z");
    assert_eq!(&rows[1][0], "2015-07-01T20:10:45Z");
    assert_eq!(
        &rows[0][1],
        "http_requests_total{msg=\"say \\\"hi\\\"\\nthere\",path=\"/a,b\"}"
    );
    let values: Vec<&str> = rows.iter().map(|r| r.get(2).unwrap()).collect();
    assert_eq!(values, ["1.5", "NaN", "+Inf", "-Inf", "0.0000001", "-2"]);
    for (row, p) in rows.iter().zip(series.iter().flat_map(|s| &s.points)) {
        let back: f64 = match &row[2] {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap(),
        };
        assert!(back == p.value || (back.is_nan() && p.value.is_nan()));
        assert_eq!(time::parse(&row[0]).unwrap().timestamp_millis(), p.at_ms);
    }
    assert_eq!(&rows[5][1], "{}");
}

#[test]
fn nothing_to_draw_is_named() {
    let range = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T10:30:00Z"));
    let a = alert("x > 1", range);
    assert_eq!(chart(&a, &[]).unwrap_err(), NoChart::Empty);
    assert_eq!(chart(&a, &[Series::default()]).unwrap_err(), NoChart::Empty);
    let nan = Series {
        labels: BTreeMap::new(),
        points: vec![
            Point {
                at_ms: range.start * 1000,
                value: f64::NAN,
            },
            Point {
                at_ms: range.end * 1000,
                value: f64::INFINITY,
            },
        ],
    };
    assert_eq!(chart(&a, &[nan]).unwrap_err(), NoChart::NoFiniteValues);
    assert_eq!(NoChart::NoFiniteValues.code(), "no_finite_values");
}

#[test]
fn gaps_and_a_resolved_alert_draw() {
    let range = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T11:00:00Z"));
    let mut series = waves(range, 1);
    // NaN, +Inf and a missing stretch (a stale series): gaps, not lines.
    series[0].points[10].value = f64::NAN;
    series[0].points[20].value = f64::INFINITY;
    series[0].points.drain(100..200);
    let mut a = alert("http_request_duration_seconds > 0.5", range);
    a.ends_at = Some(at("2026-12-07T10:20:00Z"));
    let chart = chart(&a, &series).unwrap();
    let svg = chart.svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let d = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("series"))
        .unwrap()
        .attribute("d")
        .unwrap();
    assert_eq!(d.matches('M').count(), 4, "three gaps: {d}");
    assert!(
        chart.text.contains("fired 10:00–10:20 UTC"),
        "{}",
        chart.text
    );
    assert!(chart.text.contains("threshold > 500 ms"), "{}", chart.text);
    // The CSV keeps what the drawing leaves out.
    assert!(chart.csv.contains(",NaN\r\n") && chart.csv.contains(",+Inf\r\n"));
}

/// What a sender may put in `generatorURL` (cut anywhere, odd characters, unbalanced
/// quotes, braces and parentheses, operators at either end) is read to a value or to
/// nothing, never a panic; fuzz/fuzz_targets/chart.rs goes further.
#[test]
fn any_expression_a_sender_gives_is_read_without_panicking() {
    let seeds = [
        "histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[5m]))) > 0.5",
        "rate(errors_total{job=\"api\",path=~\"/a|/b\"}[5m]) / rate(requests_total[5m]) >= 0.05",
        "up == 0",
        "x_bytes / 1024 < 10",
        "sum without (instance) (node_load1) > bool 3",
        "a{b=\"}\\\"\"} > 1 and c < 2",
        "métrique_é > 1 ≥ 2",
        "`raw > 1",
        "by (",
        "((((",
        "}}}} > 3",
        ">",
        ">=",
        "< 1",
        "'",
        "\\",
    ];
    let mut inputs: Vec<String> = Vec::new();
    for seed in seeds {
        // Every prefix and suffix at a character boundary.
        for (i, _) in seed.char_indices().chain([(seed.len(), ' ')]) {
            inputs.push(seed[..i].to_owned());
            inputs.push(seed[i..].to_owned());
        }
    }
    let range = Range::for_alert(at("2026-12-07T10:00:00Z"), at("2026-12-07T11:00:00Z"));
    for expr in &inputs {
        let url = format!(
            "http://prometheus:9090/graph?g0.expr={}&g0.tab=1",
            url::form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
        );
        let trimmed = Some(expr.trim()).filter(|e| !e.is_empty());
        assert_eq!(promql::expression(&url).as_deref(), trimmed, "{url}");
        let _ = promql::threshold(expr);
        let _ = promql::unit(expr);
        let _ = promql::per_second(expr);
        for name in promql::metric_names(expr) {
            let _ = promql::unit_of_metric(&name);
        }
    }
    // And each whole one draws, or is refused by name (drawing is slow unoptimised:
    // the seeds only).
    for expr in seeds {
        if let Ok(drawn) = chart(&alert(expr, range), &waves(range, 2)) {
            assert!(drawn.png.starts_with(b"\x89PNG"), "{expr:?}");
        }
    }
}
