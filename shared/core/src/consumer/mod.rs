//! The one queue consumer: a receive of messages (a Lambda SQS batch, a receive from
//! SQS by the local runner, a receive from the files queue) handled in order, each
//! message as [`verdict`] says (a panic contained to it, retried or given up
//! on), with FIFO order kept per group: once a message of a group fails, the later
//! messages of that group in the receive are held back unhandled and fail too; other
//! groups go on. The caller learns which messages are done (to delete or acknowledge)
//! and which failed (to be received again): SQS's partial batch failure.
//!
//! A message given up on (a permanent failure, a passing one on the receive that
//! reaches `MAX_RECEIVE_COUNT`, or one received more often than that without an
//! outcome) is sent by the consumer itself to its queue's dead letters
//! ([`DeadLetterQueue`]: SQS's dead-letter queue, the files queue's `dead/`) with its
//! reason, and then counts as done, so the group behind it goes on; the maintainers
//! are mailed once. Without a dead-letter queue, or when it does not take the
//! message, the message fails as before and the queue's own redrive moves it after
//! `maxReceiveCount` receives (without the reason, which the log keeps).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::Config;
pub mod verdict;

use self::verdict::{GivenUp, Verdict};
use crate::errors::{BackendError, ProcessError};
use crate::ports::Mailer;

/// One message of a receive, whatever queue it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id on its queue (SQS's message id; the files queue's sequence number).
    pub id: String,
    /// Its FIFO group (empty: none).
    pub group: String,
    /// Its deduplication id, kept with it in the dead letters.
    pub dedup_id: String,
    /// Its body (`None`: an SQS record without one, which can never succeed).
    pub body: Option<String>,
    /// 1 on its first receive.
    pub receive_count: u32,
}

/// A message given up on, as it goes to the dead letters.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The queue it came from: `publish`, `alerts`, `updates`.
    pub queue: &'a str,
    pub message_id: &'a str,
    pub group_id: &'a str,
    pub dedup_id: &'a str,
    pub body: &'a str,
    pub receive_count: u32,
    pub reason: &'a str,
}

/// Where the messages a consumer gives up on go: SQS's dead-letter queue
/// (`openmic_aws::sqs::SqsQueue`), the files queue's `dead/`, or a stand-in in tests.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Keeps the message there with its reason; `Ok` once it is there.
    async fn bury(&self, letter: &Letter<'_>) -> Result<(), BackendError>;
    /// Where that is, for a person (the queue's URL, the folder).
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
    /// Gives up on a message: to the dead letters, then the maintainers' mail. `true`
    /// when the message is off the queue's hands (it may be deleted); `false` when it
    /// must fail (the queue's redrive moves it later).
    async fn give_up(&self, letter: &Letter<'_>) -> bool {
        let kept_in = match &self.dlq {
            Some(dlq) => match dlq.bury(letter).await {
                Ok(()) => dlq.location(),
                Err(e) => {
                    error!(error = %e, reason = letter.reason, "given up on, but the dead letters did not take it; it fails, and stays queued (on SQS the queue's redrive moves it after maxReceiveCount)");
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
            match verdict::tell_maintainers(mailer.as_ref(), &self.config, &given_up).await {
                Ok(true) => info!("the maintainers were mailed about it"),
                Ok(false) => {}
                Err(e) => warn!(error = %e, "the maintainers' mail about it could not be sent"),
            }
        }
        self.dlq.is_some()
    }
}

/// Handles one receive, in order, with `handle`; returns for each message, in the
/// same order, whether it is done (handled, or given up on and in the dead letters:
/// delete it) or failed (leave it to be received again).
pub async fn consume<F, Fut, T>(
    messages: Vec<Message>,
    dead: &DeadLetters,
    mut handle: F,
) -> Vec<bool>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, ProcessError>>,
    T: std::fmt::Debug,
{
    let mut receive = Receive::new(dead);
    let mut done = Vec::with_capacity(messages.len());
    for m in messages {
        done.push(match receive.holds_back(&m) {
            true => false,
            false => receive.handle(m, &mut handle).await,
        });
    }
    done
}

/// A receive in progress, for a queue that hands its messages over one by one (the
/// files queue counts a receive only for a message it hands over): which groups
/// failed so far. [`consume`] is this over a whole receive.
pub struct Receive<'a> {
    dead: &'a DeadLetters,
    failed_groups: HashSet<String>,
}

impl<'a> Receive<'a> {
    pub fn new(dead: &'a DeadLetters) -> Self {
        Receive {
            dead,
            failed_groups: HashSet::new(),
        }
    }

    /// Whether a message waits behind an earlier failure of its group in this
    /// receive (then it is not handled, and fails).
    pub fn holds_back(&self, m: &Message) -> bool {
        let held = !m.group.is_empty() && self.failed_groups.contains(&m.group);
        if held {
            info!(queue = self.dead.queue, message_id = %m.id, group = %m.group, "held back behind an earlier failure in its group");
        }
        held
    }

    /// Handles one message (see [`verdict`]): `true` when it is done, `false`
    /// when it failed (its group is then held back for the rest of the receive).
    pub async fn handle<F, Fut, T>(&mut self, m: Message, handle: F) -> bool
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, ProcessError>>,
        T: std::fmt::Debug,
    {
        let dead = self.dead;
        let span = info_span!("message", queue = dead.queue, message_id = %m.id, group = %m.group, receive_count = m.receive_count);
        let max = dead.max_receive_count;
        let (body, result) = match (
            verdict::given_up_before_handling(m.receive_count, max),
            m.body,
        ) {
            (Some(reason), body) => (body.unwrap_or_default(), Err(reason)),
            (None, Some(body)) => {
                let result = verdict::contained(handle(body.clone()))
                    .instrument(span.clone())
                    .await;
                (body, Ok(result))
            }
            (None, None) => (
                String::new(),
                Ok(Err(ProcessError::Permanent(
                    "the message has no body".into(),
                ))),
            ),
        };
        let verdict = match &result {
            Err(reason) => Verdict::GiveUp(reason.clone()),
            Ok(result) => verdict::verdict(result, m.receive_count, max),
        };
        let handled = match verdict {
            Verdict::Done => {
                if let Ok(Ok(outcome)) = &result {
                    span.in_scope(|| info!(?outcome, "handled"));
                }
                true
            }
            Verdict::Retry(reason) => {
                span.in_scope(|| warn!(%reason, "failed for a passing reason; will be retried"));
                false
            }
            Verdict::GiveUp(reason) => {
                let letter = Letter {
                    queue: dead.queue,
                    message_id: &m.id,
                    group_id: &m.group,
                    dedup_id: &m.dedup_id,
                    body: &body,
                    receive_count: m.receive_count,
                    reason: &reason,
                };
                dead.give_up(&letter).instrument(span.clone()).await
            }
        };
        if !handled {
            self.failed_groups.insert(m.group);
        }
        handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryMailer;
    use std::sync::Mutex;
    use std::task::Poll;

    /// A future that never waits needs no runtime: one poll with a no-op waker.
    fn run<F: Future>(f: F) -> F::Output {
        let mut f = Box::pin(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the future waited"),
        }
    }

    fn msg(id: &str, group: &str, body: &str) -> Message {
        Message {
            id: id.into(),
            group: group.into(),
            dedup_id: id.into(),
            body: Some(body.into()),
            receive_count: 1,
        }
    }

    /// A letter as kept: message id, group, body, receive count, reason.
    type KeptLetter = (String, String, String, u32, String);

    /// A dead-letter queue that keeps what it is sent (or refuses everything).
    #[derive(Default)]
    pub(crate) struct Kept {
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
            config: Arc::new({
                let mut c = Config::default();
                c.mail.mail_from = Some("openmic@status.example.com".into());
                c.mail.maintainer_emails = vec!["oncall@example.com".into()];
                c
            }),
        }
    }

    fn failed(ids: &[&str], done: &[bool]) -> Vec<String> {
        ids.iter()
            .zip(done)
            .filter(|(_, d)| !**d)
            .map(|(id, _)| (*id).to_owned())
            .collect()
    }

    /// The ordering case: message 2 of a group is never handled after message 1 of
    /// the same group failed in the same receive; the other groups go on.
    #[test]
    fn only_failures_fail_and_groups_keep_order() {
        let messages = vec![
            msg("1", "a", "ok"),
            msg("2", "b", "retry"),
            msg("3", "b", "ok"),
            msg("4", "c", "bad"),
            msg("5", "a", "ok"),
        ];
        let mut seen = Vec::new();
        let mailer = Arc::new(MemoryMailer::default());
        // No dead-letter queue URL: what is given up on waits for the redrive.
        let done = run(consume(
            messages,
            &dead_letters(None, mailer.clone()),
            |body| {
                seen.push(body.clone());
                async move {
                    match body.as_str() {
                        "retry" => Err(ProcessError::Retryable("throttled".into())),
                        "bad" => Err(ProcessError::Permanent("unreadable".into())),
                        _ => Ok(()),
                    }
                }
            },
        ));
        assert_eq!(failed(&["1", "2", "3", "4", "5"], &done), ["2", "3", "4"]);
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

    /// A handler that panics on one message (as slicing inside a character does)
    /// fails that message alone: to the dead letters with the panic as its reason,
    /// the maintainers mailed once without its body, and every other message of the
    /// receive, in its group and in the others, handled.
    #[test]
    fn a_panicking_message_goes_to_the_dead_letters_and_the_receive_goes_on() {
        let messages = vec![
            msg("1", "issue:1", "ok"),
            msg("2", "issue:2", "Window: 2026-12-1é 02:00 UTC/PT2H"),
            msg("3", "issue:3", "ok"),
            msg("4", "issue:2", "ok after"),
            msg("5", "issue:1", "ok"),
        ];
        let dlq = Arc::new(Kept::default());
        let mailer = Arc::new(MemoryMailer::default());
        let mut handled = Vec::new();
        let done = run(consume(
            messages,
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
        ));
        assert_eq!(done, [true; 5]);
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

    #[test]
    fn a_passing_failure_is_retried_then_given_up_on_its_last_receive() {
        let dlq = Arc::new(Kept::default());
        let mailer = Arc::new(MemoryMailer::default());
        let dead = dead_letters(Some(dlq.clone()), mailer.clone());
        for count in 1..=5 {
            let messages = vec![
                Message {
                    receive_count: count,
                    ..msg("9", "g", "flaky")
                },
                Message {
                    receive_count: count,
                    ..msg("10", "g", "behind")
                },
            ];
            let done = run(consume(messages, &dead, |body| async move {
                match body.as_str() {
                    "flaky" => Err(ProcessError::Retryable("GitLab answered 503".into())),
                    _ => Ok(()),
                }
            }));
            if count < 5 {
                assert_eq!(done, [false, false], "receive {count}");
                assert!(dlq.letters.lock().unwrap().is_empty());
            } else {
                assert_eq!(done, [true, true], "given up on, and the group goes on");
            }
        }
        let letters = dlq.letters.lock().unwrap().clone();
        assert_eq!(letters.len(), 1);
        assert!(
            letters[0].4.contains("each of its 5 receives"),
            "{:?}",
            letters[0]
        );
        assert_eq!(mailer.take().len(), 1);
        // Received more often than allowed without an outcome (a crash each time):
        // given up on before it is handled again.
        let mut ran = false;
        let done = run(consume(
            vec![Message {
                receive_count: 6,
                ..msg("11", "h", "crashes")
            }],
            &dead,
            |_| {
                ran = true;
                async { Ok(()) }
            },
        ));
        assert_eq!(done, [true]);
        assert!(!ran, "not handled again");
        assert!(
            dlq.letters.lock().unwrap()[1]
                .4
                .contains("received 5 times")
        );
    }

    #[test]
    fn a_dead_letter_queue_that_refuses_leaves_the_message_failed() {
        let dlq = Arc::new(Kept {
            refuse: true,
            ..Kept::default()
        });
        let mailer = Arc::new(MemoryMailer::default());
        let done = run(consume(
            vec![msg("1", "g", "bad"), msg("2", "g", "ok")],
            &dead_letters(Some(dlq), mailer.clone()),
            |body| async move {
                match body.as_str() {
                    "bad" => Err(ProcessError::Permanent("unreadable".into())),
                    _ => Ok(()),
                }
            },
        ));
        assert_eq!(done, [false, false]);
        assert!(
            mailer.take().is_empty(),
            "nobody is told of what is not given up on"
        );
    }
}
