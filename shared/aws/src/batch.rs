//! SQS batches on Lambda: the records of an SQS event handled by the one consumer
//! ([`openmic_core::consumer`]: each message in its own span, a panic contained to
//! it, FIFO groups held back behind a failure, what is given up on sent to the
//! dead-letter queue with its reason), and its failures reported as
//! `batchItemFailures`, so only they are retried.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

pub use openmic_core::consumer::{DeadLetterQueue, DeadLetters, Letter, Message};
use openmic_core::errors::ProcessError;

/// An SQS record as the consumer's message.
pub fn message(record: SqsMessage) -> Message {
    let attribute = |name: &str| record.attributes.get(name).cloned().unwrap_or_default();
    Message {
        id: record.message_id.clone().unwrap_or_default(),
        group: attribute("MessageGroupId"),
        dedup_id: attribute("MessageDeduplicationId"),
        receive_count: record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(1),
        body: record.body,
    }
}

/// Handles a Lambda SQS batch; the messages that failed (to be received again) as
/// Lambda's partial batch response.
pub async fn handle_batch<F, Fut, T>(
    event: SqsEvent,
    dead: &DeadLetters,
    handle: F,
) -> SqsBatchResponse
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, ProcessError>>,
    T: std::fmt::Debug,
{
    let messages: Vec<Message> = event.records.into_iter().map(message).collect();
    let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    let done = openmic_core::consumer::consume(messages, dead, handle).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = ids
        .into_iter()
        .zip(done)
        .filter(|(_, done)| !done)
        .map(|(id, _)| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmic_core::config::Config;
    use openmic_core::memory::MemoryMailer;
    use std::sync::Arc;

    fn msg(id: &str, group: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    fn failed(resp: &SqsBatchResponse) -> Vec<&str> {
        resp.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    /// The ordering case on Lambda's path: in one batch, message 2 of a group is never
    /// handled after message 1 of that group failed, and both are reported failed;
    /// the other groups go on. A record without a body fails alone.
    #[tokio::test]
    async fn a_batch_reports_its_failures_and_keeps_each_groups_order() {
        let mut event = SqsEvent::default();
        let mut bodiless = msg("6", "d", "");
        bodiless.body = None;
        bodiless
            .attributes
            .insert("ApproximateReceiveCount".into(), "2".into());
        event.records = vec![
            msg("1", "a", "ok"),
            msg("2", "b", "retry"),
            msg("3", "b", "ok"),
            msg("4", "c", "ok"),
            msg("5", "a", "ok"),
            bodiless,
        ];
        let dead = DeadLetters {
            queue: "publish",
            max_receive_count: 5,
            dlq: None,
            mailer: Some(Arc::new(MemoryMailer::default())),
            config: Arc::new(Config::default()),
        };
        let mut seen = Vec::new();
        let resp = handle_batch(event, &dead, |body| {
            seen.push(body.clone());
            async move {
                match body.as_str() {
                    "retry" => Err(ProcessError::Retryable("throttled".into())),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(failed(&resp), vec!["2", "3", "6"]);
        assert_eq!(seen, vec!["ok", "retry", "ok", "ok"], "3 is held back");
    }
}
