//! The chart behind an alert: the series of its expression over the span from an
//! hour before it began to now, drawn (PNG for mail and chat, SVG elsewhere) with the
//! firing span shaded and the threshold the expression compares with, its text
//! alternative (each drawn series' current value and range), and its data as CSV.
//!
//! The rules live here, with no I/O: which range and step to ask Prometheus for
//! ([`Range`]), how its answer is read ([`matrix`]), which series are drawn (at most
//! ten, those going furthest towards firing first; the rest summed up as "and N
//! more"), the axes in the expression's unit ([`axes`], [`promql::unit`]), the words.
//! `openmic-render`'s `chart` lays the picture out and draws it. Whatever keeps a
//! chart from being drawn is a [`NoChart`], never a panic: the mail goes without it
//! and says why. A Grafana alert's `imageURL` is its chart instead ([`grafana`]);
//! the PNG of chat messages and digests is kept and served by [`image`].

pub mod axes;
pub mod csv;
pub mod grafana;
pub mod image;
pub mod matrix;
pub mod promql;
pub mod query;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use openmic_render::chart as draw;

use crate::time::Timestamp;
use axes::Scale;
use promql::{Threshold, Unit};

/// At most this many series are drawn.
pub const MAX_DRAWN: usize = 10;

/// At most this many points per series are asked for.
pub const MAX_STEPS: i64 = 720;

/// The span before the alert began that the chart shows.
pub const BEFORE_SECONDS: i64 = 3600;

/// The chart's size in logical pixels (the SVG's; the PNG is drawn at [`SCALE`]).
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 400;
/// PNG pixels per logical pixel.
pub const SCALE: f32 = 1.0;

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// NaN and ±Inf as Prometheus gave them.
    pub value: f64,
}

/// One series of a `query_range` answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<Point>,
}

/// Why an alert's notice carries no chart; the mail says so in these words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoChart {
    #[error("Prometheus is not configured (PROMETHEUS_URL)")]
    NotConfigured,
    #[error("the alert carries no Prometheus expression (g0.expr in its generatorURL)")]
    NoExpression,
    #[error("Prometheus did not answer within {0} seconds")]
    Slow(u64),
    #[error("Prometheus could not be reached")]
    Unreachable,
    #[error("Prometheus answered HTTP {0}")]
    Status(u16),
    #[error("Prometheus' answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("a series of Prometheus' answer has more than {0} points")]
    TooManyPoints(usize),
    #[error("Prometheus refused the query ({error_type}): {message}")]
    Refused { error_type: String, message: String },
    #[error("Prometheus' answer could not be read: {0}")]
    Garbage(String),
    #[error("the expression returned no data for the span")]
    Empty,
    #[error("the expression's values are all NaN or infinite")]
    NoFiniteValues,
    #[error("the chart could not be drawn: {0}")]
    Draw(String),
    #[error("Grafana's image did not come within {0} seconds")]
    ImageSlow(u64),
    #[error("Grafana's image could not be fetched")]
    ImageUnreachable,
    #[error("Grafana's image answered HTTP {0}")]
    ImageStatus(u16),
    #[error("Grafana's image is larger than {0} bytes")]
    ImageTooLarge(usize),
    #[error("Grafana's image is not a PNG")]
    NotAPng,
}

impl NoChart {
    /// A short name for logs and tests.
    pub fn code(&self) -> &'static str {
        match self {
            NoChart::NotConfigured => "not_configured",
            NoChart::NoExpression => "no_expression",
            NoChart::Slow(_) => "slow",
            NoChart::Unreachable => "unreachable",
            NoChart::Status(_) => "status",
            NoChart::TooLarge(_) => "too_large",
            NoChart::TooManyPoints(_) => "too_many_points",
            NoChart::Refused { .. } => "refused",
            NoChart::Garbage(_) => "garbage",
            NoChart::Empty => "empty",
            NoChart::NoFiniteValues => "no_finite_values",
            NoChart::Draw(_) => "draw",
            NoChart::ImageSlow(_) => "image_slow",
            NoChart::ImageUnreachable => "image_unreachable",
            NoChart::ImageStatus(_) => "image_status",
            NoChart::ImageTooLarge(_) => "image_too_large",
            NoChart::NotAPng => "not_a_png",
        }
    }
}

/// The span and step asked of Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    /// Whole seconds, at least 1.
    pub step: i64,
}

impl Range {
    /// From an hour before the alert began to `now`: a step of the span over
    /// [`MAX_STEPS`], rounded up to whole seconds, at least one. An alert that
    /// "began" after `now` (a clock apart) still gets its hour.
    pub fn for_alert(starts_at: Timestamp, now: Timestamp) -> Range {
        let start = starts_at.timestamp() - BEFORE_SECONDS;
        let end = now.timestamp().max(start + BEFORE_SECONDS);
        let span = end - start;
        let step = ((span + MAX_STEPS - 1) / MAX_STEPS).max(1);
        Range { start, end, step }
    }

    /// `/api/v1/query_range`'s query string for `expr` (each value form-encoded).
    pub fn query(&self, expr: &str) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("query", expr)
            .append_pair("start", &self.start.to_string())
            .append_pair("end", &self.end.to_string())
            .append_pair("step", &self.step.to_string())
            .finish()
    }
}

/// What a chart is drawn for.
#[derive(Debug, Clone)]
pub struct Alert<'a> {
    /// The expression (`g0.expr`).
    pub expr: &'a str,
    pub starts_at: Timestamp,
    /// When it resolved; firing until the range's end otherwise.
    pub ends_at: Option<Timestamp>,
    pub range: Range,
}

/// The chart drawn, with its words and data.
#[derive(Debug, Clone)]
pub struct Chart {
    pub png: Vec<u8>,
    /// What was drawn (none for Grafana's image): its SVG is drawn when asked for
    /// ([`Chart::svg`]), as nothing openmic sends carries one.
    pub figure: Option<draw::Figure>,
    /// The text alternative: a first line, then one line per drawn series.
    pub text: String,
    pub csv: String,
    /// Drawn by openmic, or Grafana's own image (no SVG, no CSV).
    pub from: ChartFrom,
}

impl Chart {
    /// The chart as SVG, for where vectors serve better than the PNG (mail clients
    /// block SVG); none for Grafana's image.
    pub fn svg(&self) -> Option<String> {
        self.figure.as_ref().map(|f| draw::draw_svg(f).0)
    }
}

/// Where a chart comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFrom {
    /// Drawn from Prometheus' series: with its data as CSV.
    Drawn,
    /// The alert's `imageURL` (Grafana's image renderer): no data with it.
    Grafana,
}

/// The series' order of drawing: those going furthest towards firing first (the
/// highest peak, or the lowest trough where the alert fires below its threshold),
/// then by name.
fn ranked(series: &[Series], below: bool) -> Vec<&Series> {
    let extreme = |s: &Series| {
        let finite = s.points.iter().map(|p| p.value).filter(|v| v.is_finite());
        if below {
            finite.fold(f64::INFINITY, f64::min)
        } else {
            -finite.fold(f64::NEG_INFINITY, f64::max)
        }
    };
    let mut out: Vec<(&Series, f64, String)> = series
        .iter()
        .map(|s| (s, extreme(s), csv::series_name(s)))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.2.cmp(&b.2)));
    out.into_iter().map(|(s, _, _)| s).collect()
}

/// The legend's names: only the labels in which the series differ (all of them
/// alike: the metric's name, or the expression's value).
fn names(series: &[&Series]) -> Vec<String> {
    let keys: BTreeSet<&String> = series.iter().flat_map(|s| s.labels.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| {
            let first = series[0].labels.get(*k);
            series.iter().any(|s| s.labels.get(*k) != first)
        })
        .collect();
    series
        .iter()
        .map(|s| {
            if differing.is_empty() {
                return s
                    .labels
                    .get("__name__")
                    .cloned()
                    .unwrap_or_else(|| "value".to_owned());
            }
            differing
                .iter()
                .filter_map(|k| s.labels.get(*k).map(|v| format!("{k}=\"{v}\"")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .map(|n| if n.is_empty() { "{}".to_owned() } else { n })
        .collect()
}

fn utc(secs: i64, format: &str) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

/// The expression on one line.
fn one_line(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The figure to draw and its text alternative.
pub fn figure(alert: &Alert<'_>, series: &[Series]) -> Result<(draw::Figure, String), NoChart> {
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(NoChart::Empty);
    }
    let finite = || {
        series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| p.value)
            .filter(|v| v.is_finite())
    };
    if finite().next().is_none() {
        return Err(NoChart::NoFiniteValues);
    }
    let threshold: Option<Threshold> = promql::threshold(alert.expr);
    let measured = threshold
        .as_ref()
        .map_or(alert.expr, |t| t.measured.as_str());
    let mut unit = promql::unit(measured);
    if unit == Unit::Plain {
        // The series' own metric name, where the expression keeps it.
        let metric = series.iter().find_map(|s| s.labels.get("__name__"));
        unit = metric.map_or(Unit::Plain, |m| promql::unit_of_metric(m));
    }
    let scale = Scale {
        unit,
        per_second: promql::per_second(measured) && unit != Unit::Ratio,
    };
    let below = threshold.as_ref().is_some_and(|t| t.op.below());
    let ordered = ranked(series, below);
    let drawn = &ordered[..ordered.len().min(MAX_DRAWN)];
    let more = ordered.len() - drawn.len();
    let names = names(drawn);

    let range = alert.range;
    let (start, end) = (range.start as f64, range.end as f64);
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = match &threshold {
        Some(t) => (lo.min(t.value), hi.max(t.value)),
        None => (lo, hi),
    };
    let (ymin, ymax, yticks) = axes::value_axis(lo, hi, scale);
    let gap_ms = range.step * 1000 * 2;
    let lines: Vec<draw::Line> = drawn
        .iter()
        .zip(&names)
        .map(|(s, name)| {
            let mut points = Vec::with_capacity(s.points.len() + 8);
            let mut last: Option<i64> = None;
            for p in &s.points {
                // A sample missing (a stale series) is a gap, not a straight line.
                if last.is_some_and(|l| p.at_ms - l > gap_ms) {
                    points.push((p.at_ms as f64 / 1000.0 - 0.001, f64::NAN));
                }
                last = Some(p.at_ms);
                points.push((p.at_ms as f64 / 1000.0, p.value));
            }
            draw::Line {
                name: name.clone(),
                points,
            }
        })
        .collect();

    let began = alert.starts_at.timestamp();
    let ended = alert.ends_at.map(|e| e.timestamp());
    let shaded = draw::Shaded {
        from: began as f64,
        to: ended.map_or(end, |e| e as f64),
        label: match ended {
            Some(e) => format!("fired {}–{} UTC", utc(began, "%H:%M"), utc(e, "%H:%M")),
            None => format!("firing since {} UTC", utc(began, "%H:%M")),
        },
    };
    let threshold_words = threshold.as_ref().map(|t| {
        format!(
            "threshold {} {}",
            t.op.symbol(),
            axes::value(t.value, scale)
        )
    });
    let expr = one_line(alert.expr);
    let span = format!(
        "{} – {} UTC",
        utc(range.start, "%Y-%m-%d %H:%M"),
        utc(
            range.end,
            if range.start / 86400 == range.end / 86400 {
                "%H:%M"
            } else {
                "%Y-%m-%d %H:%M"
            }
        )
    );

    // The text alternative.
    let mut text = format!("Chart of {expr}, {span}");
    if let Some(w) = &threshold_words {
        text.push_str(&format!(", {w}"));
    }
    text.push_str(&format!(", {}.", shaded.label));
    for (s, name) in drawn.iter().zip(&names) {
        let values = s.points.iter().map(|p| p.value).filter(|v| v.is_finite());
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.fold(f64::NEG_INFINITY, f64::max);
        let now = s.points.last().map_or(f64::NAN, |p| p.value);
        let now = if now.is_finite() {
            axes::value(now, scale)
        } else {
            "no value".to_owned()
        };
        if min.is_finite() {
            text.push_str(&format!(
                "\n{name}: now {now}, range {}–{}",
                axes::value(min, scale),
                axes::value(max, scale)
            ));
        } else {
            text.push_str(&format!("\n{name}: no finite values"));
        }
    }
    let more_words = (more > 0).then(|| format!("and {more} more series"));
    if let Some(m) = &more_words {
        text.push_str(&format!("\n{m} (in the CSV)"));
    }

    let figure = draw::Figure {
        width: WIDTH,
        height: HEIGHT,
        scale: SCALE,
        title: expr,
        subtitle: span,
        x: draw::Axis {
            min: start,
            max: end,
            ticks: axes::time_axis(range.start, range.end)
                .into_iter()
                .map(|(at, label)| draw::Tick { at, label })
                .collect(),
        },
        y: draw::Axis {
            min: ymin,
            max: ymax,
            ticks: yticks
                .into_iter()
                .map(|(at, label)| draw::Tick { at, label })
                .collect(),
        },
        series: lines,
        threshold: threshold
            .as_ref()
            .zip(threshold_words)
            .map(|(t, label)| draw::Threshold {
                value: t.value,
                label,
            }),
        shaded: Some(shaded),
        more: more_words,
        alt: text.clone(),
    };
    Ok((figure, text))
}

/// The chart of `series` for `alert`: PNG, text alternative and CSV (and its SVG on
/// demand).
pub fn chart(alert: &Alert<'_>, series: &[Series]) -> Result<Chart, NoChart> {
    let (figure, text) = figure(alert, series)?;
    let png = draw::png(&figure).map_err(|e| NoChart::Draw(e.to_string()))?;
    Ok(Chart {
        png,
        figure: Some(figure),
        text,
        csv: csv::write(series),
        from: ChartFrom::Drawn,
    })
}

#[cfg(test)]
mod tests;
