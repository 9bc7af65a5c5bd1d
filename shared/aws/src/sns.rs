//! SNS on Lambda: the messages of an SNS event (SES's bounce and complaint
//! notifications), each handled in its own span.

use std::future::Future;

use serde::Deserialize;
use serde_json::Value;
use tracing::{Instrument, error, info, info_span, warn};

use openmic_core::errors::ProcessError;

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "Records")]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(rename = "EventSource", default)]
    event_source: String,
    #[serde(rename = "Sns")]
    sns: Sns,
}

#[derive(Debug, Deserialize)]
struct Sns {
    #[serde(rename = "MessageId", default)]
    message_id: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// Whether an event is SNS's (`Records[].EventSource` `aws:sns`).
pub fn is_sns(event: &Value) -> bool {
    event["Records"]
        .as_array()
        .and_then(|r| r.first())
        .is_some_and(|r| r["EventSource"] == "aws:sns")
}

/// Handles each message of an SNS event. A message that can never be handled is
/// logged and dropped; a passing failure fails the invocation, which Lambda retries.
pub async fn handle_sns<F, Fut, T>(event: Value, mut handle: F) -> Result<usize, String>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, ProcessError>>,
    T: std::fmt::Debug,
{
    let event: Event =
        serde_json::from_value(event).map_err(|e| format!("not an SNS event: {e}"))?;
    let mut handled = 0;
    for r in event
        .records
        .into_iter()
        .filter(|r| r.event_source == "aws:sns")
    {
        let span = info_span!("message", message_id = %r.sns.message_id);
        let result = handle(r.sns.message).instrument(span.clone()).await;
        let _enter = span.enter();
        match result {
            Ok(outcome) => {
                info!(?outcome, "handled");
                handled += 1;
            }
            Err(ProcessError::Retryable(reason)) => {
                warn!(%reason, "failed for a passing reason; the invocation is retried");
                return Err(reason);
            }
            Err(ProcessError::Permanent(reason)) => {
                error!(%reason, "message can never succeed; dropped");
            }
        }
    }
    Ok(handled)
}
