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

/// Why an SNS invocation failed (Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    #[error("not an SNS event")]
    NotSns(#[source] serde_json::Error),
    #[error("a message failed for a passing reason")]
    Retry(#[source] ProcessError),
}

/// Handles each message of an SNS event. A message that can never be handled is
/// logged and dropped; a passing failure fails the invocation, which Lambda retries.
pub async fn handle_sns<F, Fut, T>(event: Value, mut handle: F) -> Result<usize, SnsError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, ProcessError>>,
    T: std::fmt::Debug,
{
    let event: Event = serde_json::from_value(event).map_err(SnsError::NotSns)?;
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
            Err(e @ ProcessError::Retryable(_)) => {
                warn!(reason = %e, "failed for a passing reason; the invocation is retried");
                return Err(SnsError::Retry(e));
            }
            Err(ProcessError::Permanent(reason)) => {
                error!(%reason, "message can never succeed; dropped");
            }
        }
    }
    Ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An SNS event as Lambda delivers it (the shape AWS documents), with two messages.
    fn event(messages: &[&str]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                json!({
                    "EventSource": "aws:sns", "EventVersion": "1.0",
                    "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:feedback:1",
                    "Sns": {
                        "Type": "Notification", "MessageId": format!("m-{i}"),
                        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:feedback",
                        "Subject": null, "Message": m, "Timestamp": "2026-12-01T09:00:00.000Z",
                        "MessageAttributes": {}
                    }
                })
            })
            .collect();
        json!({ "Records": records })
    }

    #[tokio::test]
    async fn each_message_is_handled_and_a_passing_failure_fails_the_invocation() {
        let e = event(&["one", "never", "two"]);
        assert!(is_sns(&e));
        assert!(!is_sns(&json!({"Records": [{"eventSource": "aws:sqs"}]})));
        let mut seen = Vec::new();
        let handled = handle_sns(e, |m| {
            seen.push(m.clone());
            async move {
                match m.as_str() {
                    "never" => Err(ProcessError::Permanent("not an SES notification".into())),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(handled.ok(), Some(2), "the permanent failure is dropped");
        assert_eq!(seen, ["one", "never", "two"]);
        let failed = handle_sns(event(&["later"]), |_| async {
            Err::<(), _>(ProcessError::Retryable("the state bucket is away".into()))
        })
        .await;
        let failed = failed.unwrap_err();
        assert!(
            matches!(&failed, SnsError::Retry(ProcessError::Retryable(r)) if r == "the state bucket is away"),
            "{failed:?}"
        );
        let not_sns = handle_sns(json!([1]), |_| async { Ok::<(), ProcessError>(()) }).await;
        assert!(matches!(not_sns, Err(SnsError::NotSns(_))));
    }
}
