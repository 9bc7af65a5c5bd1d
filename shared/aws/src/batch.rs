//! SQS batches, on Lambda and in the local runner's SQS worker: each message handled
//! in its own span, a panic in its handler contained to it (`consume::contained`), and
//! failures reported as `batchItemFailures`, so only they are retried. FIFO order
//! holds: once a message of a group fails, the later messages of that group in the
//! batch are returned unprocessed; other groups go on.
//!
//! A message given up on (a permanent failure, or a passing one on the receive that
//! reaches `MAX_RECEIVE_COUNT`, the queue's `maxReceiveCount`) is sent by the handler
//! itself to the queue's dead-letter queue, with its reason as a message attribute,
//! and then counts as handled (Lambda deletes it), so the group behind it goes on; the
//! maintainers are mailed once. Without a dead-letter queue URL, or when that send
//! fails, it is reported failed as before and the queue's own redrive moves it after
//! `maxReceiveCount` receives (without the reason, which the log keeps).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tracing::{Instrument, error, info, info_span, warn};

use openmic_core::config::Config;
use openmic_core::consume::{self, GivenUp, Verdict};
use openmic_core::errors::{BackendError, ProcessError};
use openmic_core::ports::Mailer;

/// A message given up on, as it goes to the dead-letter queue.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The queue it came from: `publish`, `alerts`, `updates`.
    pub queue: &'a str,
    pub message_id: &'a str,
    pub group_id: &'a str,
    pub body: &'a str,
    pub receive_count: u32,
    pub reason: &'a str,
}

/// Where the messages a consumer gives up on go: SQS (`SqsQueue`), or a stand-in in
/// tests.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Sends the message there with its reason; `Ok` once it is there.
    async fn bury(&self, letter: &Letter<'_>) -> Result<(), BackendError>;
    /// Where that is, for a person (the queue's URL).
    fn location(&self) -> String;
}

/// What a consumer does with the messages it gives up on.
#[derive(Clone)]
pub struct DeadLetters {
    /// The queue's name in logs and mail: `publish`, `alerts`, `updates`.
    pub queue: &'static str,
    /// `MAX_RECEIVE_COUNT`: the queue's `maxReceiveCount`.
    pub max_receive_count: u32,
    pub dlq: Option<Arc<dyn DeadLetterQueue>>,
    /// The maintainers' mail (with `MAIL_FROM` and `MAINTAINER_EMAILS`).
    pub mailer: Option<Arc<dyn Mailer>>,
    pub config: Arc<Config>,
}

impl DeadLetters {
    /// Gives up on a message: to the dead-letter queue, then the maintainers' mail.
    /// `true` when the message is off the queue's hands (it may be deleted); `false`
    /// when it must be reported failed (the queue's redrive moves it later).
    async fn give_up(&self, letter: &Letter<'_>) -> bool {
        let kept_in = match &self.dlq {
            Some(dlq) => match dlq.bury(letter).await {
                Ok(()) => dlq.location(),
                Err(e) => {
                    error!(error = %e, reason = letter.reason, "given up on, but the dead-letter queue did not take it; reported failed, the queue's redrive moves it after maxReceiveCount");
                    return false;
                }
            },
            // The queue's redrive moves it on its next receive; only then is it
            // given up on, and the maintainers told.
            None if letter.receive_count >= self.max_receive_count => {
                format!(
                    "the {} queue's dead-letter queue (moved there by its redrive policy)",
                    self.queue
                )
            }
            None => {
                error!(
                    reason = letter.reason,
                    "can never succeed; reported failed until the queue's redrive moves it (no dead-letter queue URL is set)"
                );
                return false;
            }
        };
        error!(
            reason = letter.reason,
            kept_in, "given up on: moved to the dead letters with its reason"
        );
        let given_up = GivenUp {
            queue: self.queue.to_owned(),
            message_id: letter.message_id.to_owned(),
            receive_count: letter.receive_count,
            reason: letter.reason.to_owned(),
            kept_in,
            at: chrono::Utc::now(),
        };
        if let Some(mailer) = &self.mailer {
            match consume::tell_maintainers(mailer.as_ref(), &self.config, &given_up).await {
                Ok(true) => info!("the maintainers were mailed about it"),
                Ok(false) => {}
                Err(e) => warn!(error = %e, "the maintainers' mail about it could not be sent"),
            }
        }
        self.dlq.is_some()
    }
}

pub async fn handle_batch<F, Fut, T>(
    event: SqsEvent,
    dead: &DeadLetters,
    mut handle: F,
) -> SqsBatchResponse
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
        let receive_count: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(1);
        let span =
            info_span!("message", message_id = %id, group = %group, receive_count = receive_count);
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
        let (body, result) = match record.body {
            Some(body) => {
                let result = consume::contained(handle(body.clone()))
                    .instrument(span.clone())
                    .await;
                (body, result)
            }
            None => (
                String::new(),
                Err(ProcessError::Permanent("the message has no body".into())),
            ),
        };
        let verdict = consume::verdict(&result, receive_count, dead.max_receive_count);
        let letter = Letter {
            queue: dead.queue,
            message_id: &id,
            group_id: &group,
            body: &body,
            receive_count,
            reason: match &verdict {
                Verdict::GiveUp(reason) | Verdict::Retry(reason) => reason,
                Verdict::Done => "",
            },
        };
        let handled = match (&verdict, &result) {
            (Verdict::Done, Ok(outcome)) => {
                span.in_scope(|| info!(?outcome, "handled"));
                true
            }
            (Verdict::Retry(reason), _) => {
                span.in_scope(|| warn!(%reason, "failed for a passing reason; will be retried"));
                false
            }
            _ => dead.give_up(&letter).instrument(span.clone()).await,
        };
        if !handled {
            failed_groups.insert(group.clone());
            fail(&mut failures);
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
    use openmic_core::memory::MemoryMailer;
    use std::sync::Mutex;

    fn msg(id: &str, group: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    fn received(mut m: SqsMessage, count: u32) -> SqsMessage {
        m.attributes
            .insert("ApproximateReceiveCount".into(), count.to_string());
        m
    }

    /// A letter as kept: message id, group, body, receive count, reason.
    type KeptLetter = (String, String, String, u32, String);

    /// A dead-letter queue that keeps what it is sent (or refuses everything).
    #[derive(Default)]
    struct Kept {
        letters: Mutex<Vec<KeptLetter>>,
        refuse: bool,
    }

    #[async_trait]
    impl DeadLetterQueue for Kept {
        async fn bury(&self, l: &Letter<'_>) -> Result<(), BackendError> {
            if self.refuse {
                return Err(BackendError::Transient("SQS is down".into()));
            }
            self.letters.lock().unwrap().push((
                l.message_id.into(),
                l.group_id.into(),
                l.body.into(),
                l.receive_count,
                l.reason.into(),
            ));
            Ok(())
        }
        fn location(&self) -> String {
            "https://sqs.example/publish-dlq.fifo".into()
        }
    }

    fn dead_letters(dlq: Option<Arc<Kept>>, mailer: Arc<MemoryMailer>) -> DeadLetters {
        DeadLetters {
            queue: "publish",
            max_receive_count: 5,
            dlq: dlq.map(|d| d as Arc<dyn DeadLetterQueue>),
            mailer: Some(mailer),
            config: Arc::new(Config {
                mail_from: Some("openmic@status.example.com".into()),
                maintainer_emails: vec!["oncall@example.com".into()],
                ..Config::default()
            }),
        }
    }

    fn failed(resp: &SqsBatchResponse) -> Vec<&str> {
        resp.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
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
        let mailer = Arc::new(MemoryMailer::default());
        // No dead-letter queue URL: what is given up on waits for the redrive.
        let resp = handle_batch(event, &dead_letters(None, mailer.clone()), |body| {
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
        assert_eq!(failed(&resp), vec!["2", "3", "4"]);
        assert_eq!(
            seen,
            vec!["ok", "retry", "bad", "ok"],
            "message 3 is not processed after 2 failed"
        );
        assert!(
            mailer.take().is_empty(),
            "nothing is given up on before its last receive without a dead-letter queue"
        );
    }

    /// The attack of a one-line `Window:`: a handler that panics on one message (as
    /// slicing inside a character does) fails that message alone. It goes to the
    /// dead-letter queue with the panic as its reason, the maintainers are mailed
    /// once without its body, and every other message of the batch, in its group and
    /// in the others, is handled.
    #[tokio::test]
    async fn a_panicking_message_goes_to_the_dead_letters_and_the_batch_goes_on() {
        let mut event = SqsEvent::default();
        event.records = vec![
            msg("1", "issue:1", "ok"),
            msg("2", "issue:2", "Window: 2026-12-1é 02:00 UTC/PT2H"),
            msg("3", "issue:3", "ok"),
            msg("4", "issue:2", "ok after"),
            msg("5", "issue:1", "ok"),
        ];
        let dlq = Arc::new(Kept::default());
        let mailer = Arc::new(MemoryMailer::default());
        let mut handled = Vec::new();
        let resp = handle_batch(
            event,
            &dead_letters(Some(dlq.clone()), mailer.clone()),
            |body| {
                handled.push(body.clone());
                async move {
                    if let Some(line) = body.strip_prefix("Window: ") {
                        let (date, _) = line.split_at(10);
                        return Ok(date.len());
                    }
                    Ok(body.len())
                }
            },
        )
        .await;
        assert!(failed(&resp).is_empty(), "{:?}", failed(&resp));
        assert_eq!(handled.len(), 5, "every message was handled: {handled:?}");
        let letters = dlq.letters.lock().unwrap().clone();
        assert_eq!(letters.len(), 1);
        let (id, group, body, count, reason) = &letters[0];
        assert_eq!((id.as_str(), group.as_str(), *count), ("2", "issue:2", 1));
        assert_eq!(body, "Window: 2026-12-1é 02:00 UTC/PT2H");
        assert!(
            reason.starts_with("it can never succeed (receive 1): the handler panicked at ")
                && !reason.contains("2026-12-1é"),
            "{reason}"
        );
        let mails = mailer.take();
        assert_eq!(mails.len(), 1, "the maintainers are told once");
        let m = &mails[0];
        assert!(m.subject.contains("publish queue"), "{}", m.subject);
        assert!(
            m.text.contains("Message: 2") && m.text.contains("the handler panicked at "),
            "{}",
            m.text
        );
        assert!(m.text.contains("https://sqs.example/publish-dlq.fifo"));
        assert!(!m.text.contains("Window:"), "never the body: {}", m.text);
    }

    #[tokio::test]
    async fn a_passing_failure_is_retried_then_given_up_on_its_last_receive() {
        let dlq = Arc::new(Kept::default());
        let mailer = Arc::new(MemoryMailer::default());
        let dead = dead_letters(Some(dlq.clone()), mailer.clone());
        for count in 1..=5 {
            let mut event = SqsEvent::default();
            event.records = vec![
                received(msg("9", "g", "flaky"), count),
                received(msg("10", "g", "behind"), count),
            ];
            let resp = handle_batch(event, &dead, |body| async move {
                match body.as_str() {
                    "flaky" => Err(ProcessError::Retryable("GitLab answered 503".into())),
                    _ => Ok(()),
                }
            })
            .await;
            if count < 5 {
                assert_eq!(failed(&resp), vec!["9", "10"], "receive {count}");
                assert!(dlq.letters.lock().unwrap().is_empty());
            } else {
                assert!(
                    failed(&resp).is_empty(),
                    "given up on, and the group goes on"
                );
            }
        }
        let letters = dlq.letters.lock().unwrap().clone();
        assert_eq!(letters.len(), 1);
        assert!(
            letters[0].4.contains("each of its 5 receives")
                && letters[0].4.ends_with("GitLab answered 503")
        );
        assert_eq!(mailer.take().len(), 1);
    }

    #[tokio::test]
    async fn when_the_dead_letter_queue_refuses_the_message_is_reported_failed() {
        let dlq = Arc::new(Kept {
            refuse: true,
            ..Kept::default()
        });
        let mailer = Arc::new(MemoryMailer::default());
        let mut event = SqsEvent::default();
        event.records = vec![msg("1", "g", "bad"), msg("2", "g", "ok")];
        let resp = handle_batch(
            event,
            &dead_letters(Some(dlq), mailer.clone()),
            |body| async move {
                match body.as_str() {
                    "bad" => Err(ProcessError::Permanent("unreadable".into())),
                    _ => Ok(()),
                }
            },
        )
        .await;
        assert_eq!(failed(&resp), vec!["1", "2"]);
        assert!(
            mailer.take().is_empty(),
            "nobody is told of what is not given up on"
        );
    }
}
