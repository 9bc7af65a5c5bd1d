//! The chart behind an alert, from what senders give it: an Alertmanager
//! `generatorURL` (its `g0.expr`) and Prometheus' `query_range` answer. Each reader
//! returns a value or a named reason (`NoChart`), never a panic; whatever they
//! return draws or is refused by name.
//!
//! Input: the first line is the generator URL (or the expression itself), the rest
//! the answer's body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use openmic::metrics::chart::{self, Alert, Range, matrix, promql};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let head = String::from_utf8_lossy(head);
    let expr = promql::expression(&head).unwrap_or_else(|| head.clone().into_owned());
    let _ = promql::threshold(&expr);
    let _ = promql::unit(&expr);
    let _ = promql::per_second(&expr);
    for name in promql::metric_names(&expr) {
        let _ = promql::unit_of_metric(&name);
    }
    let Ok(series) = matrix::parse(body) else {
        return;
    };
    let starts_at = chrono::DateTime::from_timestamp(1_765_101_600, 0).expect("a valid time");
    let now = chrono::DateTime::from_timestamp(1_765_105_200, 0).expect("a valid time");
    let alert = Alert {
        expr: &expr,
        starts_at,
        ends_at: None,
        range: Range::for_alert(starts_at, now),
    };
    if let Ok(drawn) = chart::chart(&alert, &series) {
        assert!(drawn.png.starts_with(b"\x89PNG"), "the chart is a PNG");
    }
});
