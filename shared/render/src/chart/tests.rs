use super::*;

const T0: f64 = 1_700_000_000.0;

fn figure(series: usize, points: usize) -> Figure {
    let step = 3600.0 * 1.5 / points as f64;
    Figure {
        width: 800,
        height: 420,
        scale: 1.0,
        title: "rate(http_requests_total{code=~\"5..\"}[5m]) > 0.5".into(),
        subtitle: "2023-11-14 21:13 – 22:43 UTC".into(),
        x: Axis {
            min: T0,
            max: T0 + 5400.0,
            ticks: (0..7)
                .map(|i| Tick {
                    at: T0 + f64::from(i) * 900.0,
                    label: format!("22:{:02}", i * 15 % 60),
                })
                .collect(),
        },
        y: Axis {
            min: 0.0,
            max: 1.0,
            ticks: (0..=4)
                .map(|i| Tick {
                    at: f64::from(i) * 0.25,
                    label: format!("{}", f64::from(i) * 0.25),
                })
                .collect(),
        },
        series: (0..series)
            .map(|s| Line {
                name: format!("instance=\"host-{s}:9100\""),
                points: (0..points)
                    .map(|i| {
                        let t = T0 + i as f64 * step;
                        let v = 0.5 + 0.4 * ((i as f64 / 40.0) + s as f64).sin();
                        (t, if i == 100 { f64::NAN } else { v })
                    })
                    .collect(),
            })
            .collect(),
        threshold: Some(Threshold {
            value: 0.5,
            label: "threshold > 0.5".into(),
        }),
        shaded: Some(Shaded {
            from: T0 + 3600.0,
            to: T0 + 5400.0,
            label: "firing".into(),
        }),
        more: Some("and 2 more series".into()),
        alt: "a chart <of> things & more".into(),
    }
}

fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn the_font_reads_and_measures() {
    assert!(font::available());
    let narrow = font::width("iiii", 11.0);
    let wide = font::width("MMMM", 11.0);
    assert!(narrow > 4.0 && wide > 2.0 * narrow, "{narrow} {wide}");
    // A character the font lacks is measured as `?`, never as nothing.
    assert_eq!(font::width("漢", 11.0), font::width("?", 11.0));
    let cut = font::fit(&"x".repeat(200), 11.0, 100.0);
    assert!(
        cut.ends_with('…') && font::width(&cut, 11.0) <= 100.0,
        "{cut}"
    );
}

#[test]
fn the_png_has_its_size_and_the_firing_span_shaded_where_it_began() {
    let f = figure(3, 720);
    let drawn = draw(&f).unwrap();
    let (w, h, rgb) = decode(&drawn.png);
    assert_eq!((w, h), (800, 420));
    let px = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    };
    let plot = drawn.layout.plot;
    let start = drawn.layout.x_of(T0 + 3600.0);
    assert!(
        start > plot.x + plot.w * 0.6 && start < plot.x + plot.w * 0.7,
        "{start}"
    );
    // Look along a row in the plot between two grid lines (no series passes so close to
    // the top: the values stay under 0.9 of 1.0).
    let y = (plot.y + 6.0) as u32;
    let white = (255, 255, 255);
    let before = px(start as u32 - 3, y);
    let after = px(start as u32 + 3, y);
    assert_eq!(before, white, "left of the alert's start");
    assert_ne!(after, white, "right of the alert's start");
    assert!(after.0 > after.1 && after.0 > after.2, "reddish: {after:?}");
    // The shade runs to the plot's right edge, and the first shaded column is the start.
    let first = (plot.x as u32..(plot.x + plot.w) as u32)
        .find(|&x| px(x, y) != white && px(x, y).0 > px(x, y).1)
        .unwrap();
    assert!((first as f32 - start).abs() <= 1.0, "{first} vs {start}");
    assert_ne!(px((plot.x + plot.w) as u32 - 3, y), white);
    // The background is opaque and light everywhere outside the plot.
    assert_eq!(px(2, 2), white);
}

#[test]
fn the_svg_parses_and_has_the_threshold_where_its_value_maps() {
    let f = figure(12, 50);
    let (svg, layout) = draw_svg(&f);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("800"));
    let title = root.children().find(|n| n.has_tag_name("title")).unwrap();
    assert_eq!(title.text(), Some("a chart <of> things & more"));
    let class = |c: &str| {
        root.descendants()
            .filter(|n| n.attribute("class") == Some(c))
            .collect::<Vec<_>>()
    };
    let threshold = class("threshold");
    assert_eq!(threshold.len(), 1);
    let d = threshold[0].attribute("d").unwrap();
    let y = layout.y_of(0.5);
    assert!(d.contains(&format!(" {y:.1}L")), "{d} at {y}");
    assert_eq!(threshold[0].attribute("stroke-dasharray"), Some("6 4"));
    // At most ten series are drawn; the rest are summed up in the legend.
    assert_eq!(class("series").len(), 10);
    let legend: Vec<_> = class("legend")
        .iter()
        .filter_map(|n| n.text())
        .map(str::to_owned)
        .collect();
    assert!(
        legend.contains(&"and 2 more series".to_owned()),
        "{legend:?}"
    );
    assert!(legend.contains(&"firing".to_owned()), "{legend:?}");
    // The NaN at point 100 is a gap: the series' path starts a new run after it.
    let series = class("series")[0].attribute("d").unwrap();
    assert_eq!(
        series.matches('M').count(),
        1,
        "50 points, the NaN beyond them"
    );
    let firing = class("firing");
    assert_eq!(firing.len(), 1);
    let x: f32 = firing[0].attribute("x").unwrap().parse().unwrap();
    assert!((x - layout.x_of(T0 + 3600.0)).abs() < 0.01);
}

#[test]
fn a_gap_splits_the_line_and_a_lone_point_still_shows() {
    let mut f = figure(1, 300);
    f.series[0].points[102] = (f.series[0].points[102].0, f64::INFINITY);
    let (svg, _) = draw_svg(&f);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let d = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("series"))
        .unwrap()
        .attribute("d")
        .unwrap()
        .to_owned();
    // Runs: 0..100, 103..300, and point 101 alone between the NaN and the +Inf.
    assert_eq!(d.matches('M').count(), 3, "{d}");
}

#[test]
fn odd_figures_draw_without_panicking() {
    let mut f = figure(0, 0);
    f.x.min = f.x.max;
    f.y.min = f64::NAN;
    f.scale = f32::NAN;
    f.title = "\u{0}\u{1}<>&\"'".repeat(100);
    let drawn = draw(&f).unwrap();
    let (w, h, _) = decode(&drawn.png);
    assert_eq!((w, h), (800, 420));
    roxmltree::Document::parse(&drawn.svg).unwrap();
    // A size out of bounds is brought within them, never allocated as asked.
    f.width = 0;
    f.height = 1_000_000;
    let (w, h, _) = decode(&draw(&f).unwrap().png);
    assert_eq!((w, h), (200, 3000));
}
