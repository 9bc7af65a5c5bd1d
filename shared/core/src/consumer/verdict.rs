//! One queue message handled, the same way on every backend (Lambda's SQS batches,
//! the local runner's files queue and its SQS worker):
//!
//! - a panic in a handler is contained to its message: [`contained`] turns it into
//!   that message's permanent failure, with the panic's message, so the process and
//!   the other messages of a batch go on;
//! - after a failure, [`verdict`] says whether the message is tried again or given up
//!   on: a permanent failure at once, a passing one on the receive that reaches
//!   `MAX_RECEIVE_COUNT` (the queue's `maxReceiveCount` on SQS), and one received
//!   more often than that without an outcome (the process stopped while handling it)
//!   before it is handled again;
//! - a message given up on goes to its queue's dead letters with its reason, and the
//!   maintainers are mailed once about it ([`GivenUp::mail`]): the queue, the
//!   message's id and the reason, never its body (which may hold a subscriber's
//!   address or a payload's secrets).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use crate::config::Config;
use crate::errors::{BackendError, ProcessError};
use crate::mail::{Mail, header_safe};
use crate::ports::Mailer;
use crate::time::{self, Timestamp};

/// The longest reason kept with a dead letter (an SQS message attribute counts
/// against the message's 256 KiB, and a reason is read by a person).
pub const MAX_REASON_CHARS: usize = 2000;

thread_local! {
    /// Where the last panic on this thread happened (`file:line:column`).
    static PANICKED_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Puts, once per process, a panic hook before the one in place that notes where a
/// panic happened, so [`contained`] can say it. The hook in place still runs (the
/// default one prints the panic's message and location to the log).
fn note_panic_locations() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            PANICKED_AT.with(|p| *p.borrow_mut() = at);
            next(info)
        }));
    });
}

/// Runs a message's handling; a panic in it becomes the message's permanent failure
/// instead of unwinding further. With `panic = "unwind"` (the release profile) this
/// keeps the process and the batch's other messages.
///
/// The failure's reason says where the panic happened (`the handler panicked at
/// shared/domain/src/…rs:165:31`), not its message: a panic's message may quote the
/// data it failed on (slicing quotes the string), and the reason goes to the
/// dead-letter queue's attribute and the maintainers' mail. The message itself is in
/// the log, where the panic hook prints it.
pub async fn contained<F, T>(handling: F) -> Result<T, ProcessError>
where
    F: Future<Output = Result<T, ProcessError>>,
{
    note_panic_locations();
    let mut handling = Box::pin(handling);
    std::future::poll_fn(move |cx| {
        PANICKED_AT.with(|p| p.borrow_mut().take());
        match std::panic::catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(cx))) {
            Ok(poll) => poll,
            // Not polled again: `poll_fn` is done once it answers `Ready`.
            Err(_) => {
                let at = PANICKED_AT.with(|p| p.borrow_mut().take());
                Poll::Ready(Err(ProcessError::Permanent(match at {
                    Some(at) => format!("the handler panicked at {at} (its message is in the log)"),
                    None => "the handler panicked (its message and location are in the log)".into(),
                })))
            }
        }
    })
    .await
}

/// A panic's message (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// What becomes of a message after one receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Handled: it leaves the queue.
    Done,
    /// A passing failure with receives left: it comes back later.
    Retry(String),
    /// Given up on: to the dead letters with this reason.
    GiveUp(String),
}

/// The verdict on a message received for the `receive_count`-th time (1 the first)
/// whose handling gave `result`, its queue allowing `max_receives` receives.
pub fn verdict<T>(
    result: &Result<T, ProcessError>,
    receive_count: u32,
    max_receives: u32,
) -> Verdict {
    match result {
        Ok(_) => Verdict::Done,
        Err(ProcessError::Permanent(reason)) => Verdict::GiveUp(format!(
            "it can never succeed (receive {receive_count}): {reason}"
        )),
        Err(ProcessError::Retryable(reason)) if receive_count >= max_receives.max(1) => {
            Verdict::GiveUp(format!(
                "it failed on each of its {receive_count} receives, the last time: {reason}"
            ))
        }
        Err(ProcessError::Retryable(reason)) => Verdict::Retry(reason.clone()),
    }
}

/// A message received more often than its queue allows without an outcome: each
/// receive ended without one (the process stopped while handling it), so it is given
/// up on before it is handled again. `None` while it has receives left.
pub fn given_up_before_handling(receive_count: u32, max_receives: u32) -> Option<String> {
    (receive_count > max_receives.max(1)).then(|| {
        format!(
            "it was received {} times without an outcome: the process stopped each time while handling it",
            receive_count - 1
        )
    })
}

/// A message given up on, as the maintainers are told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    /// The queue it came from (`publish`, `alerts`, `updates`).
    pub queue: String,
    /// Its id on that queue (SQS's message id; the files queue's sequence number).
    pub message_id: String,
    pub receive_count: u32,
    pub reason: String,
    /// Where it is now, for a person to look at and move back: the dead-letter
    /// queue's URL, or the files queue's `dead/` folder.
    pub kept_in: String,
    pub at: Timestamp,
}

impl GivenUp {
    /// Its reason, cut to [`MAX_REASON_CHARS`].
    pub fn short_reason(&self) -> String {
        clip(&self.reason, MAX_REASON_CHARS)
    }

    /// The maintainers' mail about it (none without `MAIL_FROM` and
    /// `MAINTAINER_EMAILS`). Its message id is the message's, so a mail sent twice
    /// for one message (a crash between the two steps) is one message to a mail
    /// client, and the outbox keeps one file.
    pub fn mail(&self, config: &Config) -> Option<Mail> {
        let from = config.mail.mail_from.clone()?;
        if config.mail.maintainer_emails.is_empty() {
            return None;
        }
        let reason = self.short_reason();
        let text = format!(
            "openmic gave up on a message of its {queue} queue.\n\n\
             Queue: {queue}\n\
             Message: {id}\n\
             Received: {count} time(s)\n\
             Reason: {reason}\n\
             Kept in: {kept}\n\
             At: {at}\n\n\
             Its body is kept there and is not repeated here. Once the cause is fixed, \
             move it back to its queue (docs/operations.md, When a message fails); handling it twice \
             changes nothing.\n",
            queue = self.queue,
            id = self.message_id,
            count = self.receive_count,
            kept = self.kept_in,
            at = time::format(&self.at),
        );
        let html = format!("<pre>{}</pre>", crate::html::escape(&text));
        let token: String = format!("{}.{}", self.queue, self.message_id)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Some(Mail {
            parts: Vec::new(),
            from,
            to: config.mail.maintainer_emails.clone(),
            subject: header_safe(&format!(
                "openmic gave up on a message of the {} queue",
                self.queue
            )),
            text,
            html,
            date: self.at,
            message_id: format!("<dead-letter.{token}@openmic>"),
            in_reply_to: None,
            headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
        })
    }
}

/// Tells the maintainers of a message given up on, once (see [`GivenUp::mail`]).
/// `Ok(false)`: there is nobody to tell.
pub async fn tell_maintainers(
    mailer: &dyn Mailer,
    config: &Config,
    given_up: &GivenUp,
) -> Result<bool, BackendError> {
    match given_up.mail(config) {
        Some(mail) => mailer.send(&mail).await.map(|()| true),
        None => Ok(false),
    }
}

/// At most `max` characters of `s`, with `…` where it was cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future>(f: F) -> F::Output {
        // A future that never waits needs no runtime: one poll with a no-op waker.
        let mut f = Box::pin(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the future waited"),
        }
    }

    /// The hook in place prints each panic (the test harness keeps it with the test's
    /// output); the reason names where it happened, never the data it quotes.
    #[test]
    fn a_panic_is_the_messages_permanent_failure_saying_where() {
        let text = "2026-12-1é";
        let sliced = run(contained(async move {
            let (date, _) = text.split_at(10);
            Ok::<_, ProcessError>(date.len())
        }));
        let formatted = run(contained(async {
            if text.len() > 1 {
                panic!("window {text} unreadable");
            }
            Ok::<(), ProcessError>(())
        }));
        for result in [sliced.map(|_| ()), formatted] {
            match result {
                Err(ProcessError::Permanent(why)) => {
                    assert!(
                        why.starts_with("the handler panicked at ") && why.contains(".rs:"),
                        "{why}"
                    );
                    assert!(!why.contains("2026"), "the data stays out: {why}");
                }
                other => panic!("{other:?}"),
            }
        }
        // No panic: the result as it was.
        assert_eq!(run(contained(async { Ok::<_, ProcessError>(3) })), Ok(3));
        assert_eq!(
            run(contained(async {
                Err::<(), _>(ProcessError::Retryable("throttled".into()))
            })),
            Err(ProcessError::Retryable("throttled".into()))
        );
    }

    #[test]
    fn retried_until_the_last_receive_permanent_at_once() {
        let retry: Result<(), _> = Err(ProcessError::Retryable("503".into()));
        let permanent: Result<(), _> = Err(ProcessError::Permanent("unreadable".into()));
        assert_eq!(verdict(&Ok::<_, ProcessError>(()), 5, 5), Verdict::Done);
        assert_eq!(verdict(&retry, 1, 5), Verdict::Retry("503".into()));
        assert_eq!(verdict(&retry, 4, 5), Verdict::Retry("503".into()));
        match verdict(&retry, 5, 5) {
            Verdict::GiveUp(why) => {
                assert!(why.contains("each of its 5 receives") && why.ends_with("503"))
            }
            other => panic!("{other:?}"),
        }
        match verdict(&permanent, 1, 5) {
            Verdict::GiveUp(why) => assert!(why.ends_with("unreadable"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A nonsensical limit of 0 still allows one receive.
        assert!(matches!(verdict(&retry, 1, 0), Verdict::GiveUp(_)));
        assert_eq!(given_up_before_handling(5, 5), None);
        assert!(given_up_before_handling(6, 5).is_some_and(|why| why.contains("received 5 times")),);
    }

    #[test]
    fn the_maintainers_mail_names_queue_id_and_reason_and_never_the_body() {
        let config = {
            let mut c = Config::default();
            c.mail.mail_from = Some("openmic@status.example.com".into());
            c.mail.maintainer_emails = vec!["oncall@example.com".into()];
            c
        };
        let given_up = GivenUp {
            queue: "publish".into(),
            message_id: "00000000000000000042".into(),
            receive_count: 5,
            reason: format!("the handler panicked: <b>{}", "x".repeat(5000)),
            kept_in: "queue/publish/dead/".into(),
            at: time::parse("2026-12-01T02:00:00Z").unwrap(),
        };
        let mail = given_up.mail(&config).unwrap();
        assert_eq!(mail.to, vec!["oncall@example.com".to_owned()]);
        assert_eq!(
            mail.subject,
            "openmic gave up on a message of the publish queue"
        );
        for part in [
            "publish",
            "00000000000000000042",
            "the handler panicked",
            "queue/publish/dead/",
        ] {
            assert!(mail.text.contains(part), "{part}");
        }
        assert!(
            mail.text.chars().count() < MAX_REASON_CHARS + 1000,
            "the reason is cut"
        );
        assert!(mail.html.contains("&lt;b&gt;") && !mail.html.contains("<b>"));
        assert_eq!(
            mail.message_id,
            "<dead-letter.publish.00000000000000000042@openmic>"
        );
        assert!(mail.to_rfc5322().is_ok());
        // Nobody to tell without a sender or recipients.
        assert_eq!(given_up.mail(&Config::default()), None);
    }
}
