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
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A time (Unix milliseconds) as RFC 3339.
pub fn timestamp(at_ms: i64) -> String {
    let mut out = String::new();
    write_timestamp(&mut out, at_ms);
    out
}

/// [`timestamp`] into `out`: `YYYY-MM-DDTHH:MM:SS[.mmm]Z` for years 0 to 9999 (what
/// chrono writes with `SecondsFormat::AutoSi`), written here for the thousands of rows
/// of a chart; other instants by chrono.
fn write_timestamp(out: &mut String, at_ms: i64) {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
    const FIRST: i64 = -62_167_219_200_000;
    const LAST: i64 = 253_402_300_799_999;
    if !(FIRST..=LAST).contains(&at_ms) {
        if let Some(t) = DateTime::<Utc>::from_timestamp_millis(at_ms) {
            out.push_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        return;
    }
    let (secs, ms) = (at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar, in
    // eras of 400 years).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    );
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
    out.push('Z');
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
        // The series' field, quoted once for all its rows.
        let mut name = String::new();
        field(&mut name, &series_name(s));
        for p in &s.points {
            write_timestamp(&mut out, p.at_ms);
            out.push(',');
            out.push_str(&name);
            out.push(',');
            write_value(&mut out, p.value);
            out.push_str("\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let chrono = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        };
        // Around the epoch, leap days and centuries, both ends of four-digit years,
        // and a spread of instants with and without milliseconds.
        let mut cases = vec![
            0,
            -1,
            1,
            999,
            1000,
            951_782_400_000,     // 2000-02-29
            4_107_542_400_000,   // 2100-02-28
            -2_208_988_800_000,  // 1900-01-01
            -62_167_219_200_000, // 0000-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            1_796_032_800_000,   // 2026-12-01T10:00:00
        ];
        let mut x: i64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x.rem_euclid(253_402_300_799_999 + 62_167_219_200_000) - 62_167_219_200_000);
        }
        for ms in cases {
            assert_eq!(timestamp(ms), chrono(ms), "{ms}");
        }
        // Beyond four-digit years chrono writes it.
        assert_eq!(timestamp(253_402_300_800_000), chrono(253_402_300_800_000));
    }

    #[test]
    fn values_and_a_quoted_series() {
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(value(0.1), "0.1");
        let s = Series {
            labels: [
                ("__name__".to_owned(), "up".to_owned()),
                ("a".to_owned(), "x,y".to_owned()),
            ]
            .into_iter()
            .collect(),
            points: vec![super::super::Point {
                at_ms: 1500,
                value: 1.0,
            }],
        };
        assert_eq!(
            write(&[s]),
            "timestamp,series,value\r\n1970-01-01T00:00:01.500Z,\"up{a=\"\"x,y\"\"}\",1\r\n"
        );
    }
}
