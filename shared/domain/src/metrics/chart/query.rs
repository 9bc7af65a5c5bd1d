//! Asking Prometheus for an alert's series, through the outbound HTTP port: one GET
//! of `<PROMETHEUS_URL>/api/v1/query_range` within [`BUDGET`] (connection, answer and
//! reading it), its answer read at most [`MAX_ANSWER_BYTES`]. No answer in time,
//! none at all, an HTTP error, too large an answer: each a named [`NoChart`]. The
//! caller sends its mail either way.

use std::time::Duration;

use super::matrix::{self, MAX_ANSWER_BYTES};
use super::{Alert, Chart, NoChart, Range, Series};
use crate::config::metrics::Prometheus;
use crate::errors::BackendError;
use crate::ports::{Outbound, is_too_large};
use crate::time::Timestamp;

/// The most a chart may take, Prometheus' answer and all.
pub const BUDGET: Duration = Duration::from_secs(5);

/// The query's URL (`PROMETHEUS_URL` carries no query string).
pub fn url(prometheus: &Prometheus, expr: &str, range: Range) -> String {
    format!(
        "{}/api/v1/query_range?{}",
        prometheus.base,
        range.query(expr)
    )
}

/// The series of `expr` over `range`.
pub async fn series(
    outbound: &dyn Outbound,
    prometheus: &Prometheus,
    expr: &str,
    range: Range,
) -> Result<Vec<Series>, NoChart> {
    let url = url(prometheus, expr, range);
    let headers: Vec<(&str, String)> = prometheus
        .authorization
        .iter()
        .map(|a| ("authorization", a.expose().to_owned()))
        .chain([("accept", "application/json".to_owned())])
        .collect();
    let fetched = tokio::time::timeout(BUDGET, outbound.get_with(&url, &headers, MAX_ANSWER_BYTES))
        .await
        .map_err(|_| NoChart::Slow(BUDGET.as_secs()))?
        .map_err(|e| match e {
            e if is_too_large(&e) => NoChart::TooLarge(MAX_ANSWER_BYTES),
            // The client's own timeout (as long as the budget) may come first.
            BackendError::Transient(m) if m.starts_with("timed out") => {
                NoChart::Slow(BUDGET.as_secs())
            }
            _ => NoChart::Unreachable,
        })?;
    // Prometheus answers a refused query with 400 or 422 and its error as JSON: that
    // is read for its reason; any other failure is named by its status.
    match matrix::parse(&fetched.body) {
        Err(NoChart::Garbage(_)) if !(200..300).contains(&fetched.status) => {
            Err(NoChart::Status(fetched.status))
        }
        Ok(_) if !(200..300).contains(&fetched.status) => Err(NoChart::Status(fetched.status)),
        other => other,
    }
}

/// The chart behind an alert: its expression (`g0.expr` of its `generatorURL`) asked
/// of `prometheus` from an hour before it began to `now`, drawn. Within [`BUDGET`].
pub async fn chart(
    outbound: Option<&dyn Outbound>,
    prometheus: Option<&Prometheus>,
    generator_url: Option<&str>,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Chart, NoChart> {
    let (Some(outbound), Some(prometheus)) = (outbound, prometheus) else {
        return Err(NoChart::NotConfigured);
    };
    let expr = generator_url
        .and_then(super::promql::expression)
        .ok_or(NoChart::NoExpression)?;
    let range = Range::for_alert(starts_at, now);
    let series = series(outbound, prometheus, &expr, range).await?;
    let alert = Alert {
        expr: &expr,
        starts_at,
        ends_at,
        range,
    };
    super::chart(&alert, &series)
}
