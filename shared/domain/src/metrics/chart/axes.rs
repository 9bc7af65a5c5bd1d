//! The chart's axes: a value range widened to round ticks (1, 2 or 5 times a power of
//! ten, of the unit's own scale: 1024s for bytes, ms/s/min/h for seconds, percent for
//! ratios) with their labels, and time ticks on round UTC minutes and hours.

use chrono::{DateTime, Utc};

use super::promql::Unit;

/// How values are written: the unit, and whether they are per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub unit: Unit,
    pub per_second: bool,
}

/// A display unit: what one of it is worth, and its suffix.
fn display(scale: Scale, magnitude: f64) -> (f64, &'static str) {
    let m = magnitude.abs();
    match scale.unit {
        Unit::Plain => {
            if m >= 1e12 {
                (1e12, "T")
            } else if m >= 1e9 {
                (1e9, "G")
            } else if m >= 1e6 {
                (1e6, "M")
            } else if m >= 1e4 {
                (1e3, "k")
            } else {
                (1.0, "")
            }
        }
        Unit::Bytes => {
            const K: f64 = 1024.0;
            if m >= K * K * K * K {
                (K * K * K * K, " TiB")
            } else if m >= K * K * K {
                (K * K * K, " GiB")
            } else if m >= K * K {
                (K * K, " MiB")
            } else if m >= K {
                (K, " KiB")
            } else {
                (1.0, " B")
            }
        }
        Unit::Seconds => {
            if m == 0.0 {
                (1.0, " s")
            } else if m < 1e-3 {
                (1e-6, " µs")
            } else if m < 1.0 {
                (1e-3, " ms")
            } else if m < 120.0 {
                (1.0, " s")
            } else if m < 7200.0 {
                (60.0, " min")
            } else {
                (3600.0, " h")
            }
        }
        Unit::Ratio => (0.01, "%"),
        Unit::Percent => (1.0, "%"),
    }
}

fn suffix(scale: Scale, unit: &str) -> String {
    if scale.per_second {
        if unit.is_empty() {
            "/s".to_owned()
        } else {
            format!("{unit}/s")
        }
    } else {
        unit.to_owned()
    }
}

/// `v` written with `decimals` digits after the point, without a `-0`.
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

/// A value written alone (a legend, the text alternative): three significant digits
/// in the unit its size calls for. NaN and ±Inf as Prometheus writes them.
pub fn value(v: f64, scale: Scale) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let (per, unit) = display(scale, v);
    let x = v / per;
    let digits = if x == 0.0 {
        0
    } else {
        (2 - x.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let mut s = fixed(x, digits);
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", suffix(scale, unit))
}

/// A round step near `raw`: 1, 2 or 5 times a power of ten.
fn round_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// The value axis: `lo..hi` (the data's finite values and the threshold) widened to
/// round ticks, about five of them, each labelled.
pub fn value_axis(lo: f64, hi: f64, scale: Scale) -> (f64, f64, Vec<(f64, String)>) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
        if lo < 0.0 && hi - pad >= 0.0 {
            lo = 0.0;
        }
    }
    // A positive series is seen against zero unless it hardly moves far from it.
    if lo > 0.0 && lo < hi * 0.5 {
        lo = 0.0;
    }
    if hi < 0.0 && hi > lo * 0.5 {
        hi = 0.0;
    }
    let (per, unit) = display(scale, lo.abs().max(hi.abs()));
    let (slo, shi) = (lo / per, hi / per);
    let step = round_step((shi - slo) / 5.0);
    let first = (slo / step).floor() * step;
    let last = (shi / step).ceil() * step;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let mut ticks = Vec::new();
    let mut k = 0;
    loop {
        let t = first + f64::from(k) * step;
        if t > last + step * 1e-9 || k > 20 {
            break;
        }
        ticks.push((
            t * per,
            format!("{}{}", fixed(t, decimals.min(6)), suffix(scale, unit)),
        ));
        k += 1;
    }
    (first * per, last * per, ticks)
}

/// Time ticks (Unix seconds) on round UTC times between `start` and `end`, at most
/// about seven, labelled `HH:MM` (or `MM-DD` a day apart and more).
pub fn time_axis(start: i64, end: i64) -> Vec<(f64, String)> {
    const STEPS: &[i64] = &[
        60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
    ];
    let span = (end - start).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 7)
        .unwrap_or(span / 7 + 1);
    let mut out = Vec::new();
    let mut t = start.div_euclid(step) * step;
    if t < start {
        t += step;
    }
    while t <= end && out.len() < 16 {
        if let Some(at) = DateTime::<Utc>::from_timestamp(t, 0) {
            let label = if step >= 86400 {
                at.format("%m-%d").to_string()
            } else {
                at.format("%H:%M").to_string()
            };
            out.push((t as f64, label));
        }
        t += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Scale = Scale {
        unit: Unit::Plain,
        per_second: false,
    };

    fn s(unit: Unit) -> Scale {
        Scale {
            unit,
            per_second: false,
        }
    }

    #[test]
    fn values_are_written_in_their_unit() {
        assert_eq!(value(0.25, s(Unit::Seconds)), "250 ms");
        assert_eq!(value(0.0000125, s(Unit::Seconds)), "12.5 µs");
        assert_eq!(value(3.0, s(Unit::Seconds)), "3 s");
        assert_eq!(value(1536.0, s(Unit::Bytes)), "1.5 KiB");
        assert_eq!(
            value(3.0 * 1024.0 * 1024.0 * 1024.0, s(Unit::Bytes)),
            "3 GiB"
        );
        assert_eq!(value(0.0512, s(Unit::Ratio)), "5.12%");
        assert_eq!(value(97.0, s(Unit::Percent)), "97%");
        assert_eq!(value(12345.0, PLAIN), "12.3k");
        assert_eq!(value(0.5, PLAIN), "0.5");
        assert_eq!(value(-0.0, PLAIN), "0");
        assert_eq!(value(f64::NAN, PLAIN), "NaN");
        assert_eq!(value(f64::NEG_INFINITY, PLAIN), "-Inf");
        let rate = Scale {
            unit: Unit::Bytes,
            per_second: true,
        };
        assert_eq!(value(2048.0, rate), "2 KiB/s");
        let count_rate = Scale {
            unit: Unit::Plain,
            per_second: true,
        };
        assert_eq!(value(3.5, count_rate), "3.5/s");
    }

    #[test]
    fn the_value_axis_has_round_ticks_around_the_data() {
        let (lo, hi, ticks) = value_axis(0.12, 0.91, PLAIN);
        assert_eq!((lo, hi), (0.0, 1.0));
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let (_, _, ticks) = value_axis(0.0, 0.3, s(Unit::Seconds));
        assert!(ticks.iter().any(|(_, l)| l == "100 ms"), "{ticks:?}");
        let (_, hi, ticks) = value_axis(0.0, 3.0 * 1024.0 * 1024.0, s(Unit::Bytes));
        assert!(hi >= 3.0 * 1024.0 * 1024.0);
        assert!(ticks.iter().any(|(_, l)| l == "1 MiB"), "{ticks:?}");
        let (_, _, ticks) = value_axis(0.0, 0.08, s(Unit::Ratio));
        assert!(ticks.iter().any(|(_, l)| l == "2%"), "{ticks:?}");
        // A flat line, and nothing at all, still get an axis.
        let (lo, hi, ticks) = value_axis(5.0, 5.0, PLAIN);
        assert!(
            lo < 5.0 && hi > 5.0 && ticks.len() >= 2,
            "{lo} {hi} {ticks:?}"
        );
        let (lo, hi, _) = value_axis(f64::NAN, f64::INFINITY, PLAIN);
        assert_eq!((lo, hi), (0.0, 1.0));
        // Data far from zero is not squeezed against it.
        let (lo, _, _) = value_axis(1000.0, 1010.0, PLAIN);
        assert!(lo >= 998.0, "{lo}");
    }

    #[test]
    fn time_ticks_fall_on_round_utc_times() {
        // 2023-11-14T22:13:20Z for an hour and a half.
        let start = 1_700_000_000;
        let ticks = time_axis(start, start + 5400);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            labels,
            ["22:15", "22:30", "22:45", "23:00", "23:15", "23:30"]
        );
        assert!(ticks.iter().all(|(t, _)| *t as i64 % 900 == 0));
        let week = time_axis(start, start + 7 * 86400);
        assert!(week.len() <= 8 && week[0].1.contains('-'), "{week:?}");
        assert!(time_axis(start, start).len() <= 1);
    }
}
