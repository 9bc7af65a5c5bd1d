//! The chart's data as CSV (RFC 4180): `timestamp,series,value`, one row per sample
//! of every series (not only those drawn), CRLF line ends. A timestamp is RFC 3339 in
//! UTC (milliseconds where the sample has them), a series is written as Prometheus
//! writes it (`up{instance="a:9090",job="node"}`), a value as the shortest text that
//! reads back to it, `NaN`, `+Inf` or `-Inf`. A field holding a comma, a quote or a
//! line end is quoted, its quotes doubled.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::Series;

/// `field` as one CSV field.
fn field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// A sample's value as the CSV writes it.
pub fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// A time (Unix milliseconds) as RFC 3339.
pub fn timestamp(at_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(at_ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// The series' name as Prometheus writes it: its metric name, then its other labels
/// in braces, each value quoted with `\`, `"` and line ends escaped.
pub fn series_name(series: &Series) -> String {
    let mut out = series.labels.get("__name__").cloned().unwrap_or_default();
    let labels: Vec<String> = series
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    if !labels.is_empty() || out.is_empty() {
        let _ = write!(out, "{{{}}}", labels.join(","));
    }
    out
}

/// Every series' samples as CSV.
pub fn write(series: &[Series]) -> String {
    let rows: usize = series.iter().map(|s| s.points.len()).sum();
    let mut out = String::with_capacity(32 + rows * 64);
    out.push_str("timestamp,series,value\r\n");
    for s in series {
        let name = series_name(s);
        for p in &s.points {
            out.push_str(&timestamp(p.at_ms));
            out.push(',');
            field(&mut out, &name);
            out.push(',');
            out.push_str(&value(p.value));
            out.push_str("\r\n");
        }
    }
    out
}
