//! SQS batches on Lambda: each message handled in its own span; failures reported as
//! `batchItemFailures`, so only they are retried. A message that can never succeed is
//! logged with its id and reason and reported too, so that after `maxReceiveCount`
//! it lands in the dead-letter queue. FIFO order holds: once a message of a group
//! fails, the later messages of that group in the batch are returned unprocessed.

use std::collections::HashSet;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tracing::{Instrument, error, info, info_span, warn};

use openmic_core::errors::ProcessError;

pub async fn handle_batch<F, Fut, T>(event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, ProcessError>>,
    T: std::fmt::Debug,
{
    let mut failures = Vec::new();
    let mut failed_groups: HashSet<String> = HashSet::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let group = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default();
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .cloned()
            .unwrap_or_default();
        let span =
            info_span!("message", message_id = %id, group = %group, receive_count = %receive_count);
        let fail = |failures: &mut Vec<BatchItemFailure>| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id.clone();
            failures.push(f);
        };
        if !group.is_empty() && failed_groups.contains(&group) {
            span.in_scope(|| info!("held back behind an earlier failure in its group"));
            fail(&mut failures);
            continue;
        }
        let Some(body) = record.body else {
            span.in_scope(|| error!(reason = "message has no body", "message can never succeed"));
            fail(&mut failures);
            continue;
        };
        let result = handle(body).instrument(span.clone()).await;
        let _enter = span.enter();
        match result {
            Ok(outcome) => info!(?outcome, "handled"),
            Err(ProcessError::Retryable(reason)) => {
                warn!(%reason, "failed for a passing reason; will be retried");
                failed_groups.insert(group.clone());
                fail(&mut failures);
            }
            Err(ProcessError::Permanent(reason)) => {
                error!(%reason, "message can never succeed; it goes to the dead-letter queue after maxReceiveCount");
                failed_groups.insert(group.clone());
                fail(&mut failures);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;

    fn msg(id: &str, group: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    #[tokio::test]
    async fn only_failures_are_reported_and_groups_keep_order() {
        let mut event = SqsEvent::default();
        event.records = vec![
            msg("1", "a", "ok"),
            msg("2", "b", "retry"),
            msg("3", "b", "ok"),
            msg("4", "c", "bad"),
            msg("5", "a", "ok"),
        ];
        let mut seen = Vec::new();
        let resp = handle_batch(event, |body| {
            seen.push(body.clone());
            async move {
                match body.as_str() {
                    "retry" => Err(ProcessError::Retryable("throttled".into())),
                    "bad" => Err(ProcessError::Permanent("unreadable".into())),
                    _ => Ok(()),
                }
            }
        })
        .await;
        let ids: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, vec!["2", "3", "4"]);
        assert_eq!(
            seen,
            vec!["ok", "retry", "bad", "ok"],
            "message 3 is not processed after 2 failed"
        );
    }
}
