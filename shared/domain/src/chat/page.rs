//! Sending to any kind of target, and paging a person: their contact methods tried in
//! order until one takes the message.
//!
//! [`Senders`] is the way out to every kind: HTTP through [`Outbound`] (chat
//! services, webhooks, ntfy, Pushover, Telegram), text messages through [`Sms`]. A
//! failure names the service and what happened, never a secret or a contact detail:
//! whatever the target holds (its URL, token, phone number, key, chat) is taken out
//! of the reason, whoever wrote it (a server's answer, an SDK's error).
//!
//! [`fall_through`] is the rule of paging, over any contact methods (mail among
//! them, which the caller sends): each is tried in turn, the first that takes the
//! message ends it, and every failure before it is kept, so the caller can record
//! them. [`first_delivered`] is that rule over [`Target`]s and a [`ChannelSender`].

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::deliver::{Delivered, Failure, Retries, deliver};
use super::{Kind, Message, Outgoing, Target, outgoing};
use crate::config::Secret;
use crate::ports::{Outbound, Sms};

/// Sends one message to one target.
#[async_trait]
pub trait ChannelSender: Send + Sync {
    async fn send(&self, target: &Target, message: &Message) -> Result<Delivered, Failure>;
}

/// The ways out: HTTP and SMS, each where this process has it, with the retries of
/// an HTTP request.
#[derive(Clone)]
pub struct Senders {
    pub outbound: Option<Arc<dyn Outbound>>,
    pub sms: Option<Arc<dyn Sms>>,
    pub retries: Retries,
}

impl Senders {
    /// Sends through `outbound` for HTTP (or the senders' own), and the SMS port.
    pub(super) async fn send_through(
        &self,
        outbound: Option<&dyn Outbound>,
        target: &Target,
        message: &Message,
    ) -> Result<Delivered, Failure> {
        let result = match outgoing(target, message) {
            Outgoing::Http(request) => match outbound.or(self.outbound.as_deref()) {
                Some(o) => deliver(o, &request, self.retries).await,
                None => Err(missing("this process sends no HTTP requests")),
            },
            Outgoing::Sms { phone, text } => match &self.sms {
                Some(sms) => match sms.send_sms(&phone, &text).await {
                    Ok(()) => Ok(Delivered {
                        status: 200,
                        attempts: 1,
                    }),
                    Err(e) => Err(Failure {
                        service: "",
                        reason: e.to_string(),
                        status: None,
                        attempts: 1,
                        permanent: !e.is_transient(),
                    }),
                },
                None => Err(missing(
                    "this process sends no text messages (Amazon SNS: openmic-local with --backend aws, or the notifier on AWS)",
                )),
            },
        };
        result.map_err(|f| Failure {
            service: target.kind.as_str(),
            reason: redact(&f.reason, target),
            ..f
        })
    }
}

fn missing(why: &str) -> Failure {
    Failure {
        service: "",
        reason: why.to_owned(),
        status: None,
        attempts: 0,
        permanent: true,
    }
}

#[async_trait]
impl ChannelSender for Senders {
    async fn send(&self, target: &Target, message: &Message) -> Result<Delivered, Failure> {
        self.send_through(None, target, message).await
    }
}

/// `reason` without anything `target` holds that is secret or personal: its URL (and
/// the URL's path, which holds a webhook's or a bot's token), its token, whom it
/// reaches, and, for SMS, anything that looks like a phone number.
fn redact(reason: &str, target: &Target) -> String {
    let url = url::Url::parse(&target.url).ok();
    let mut secrets: Vec<&str> = vec![target.url.as_str()];
    if let Some(url) = &url {
        for segment in url.path_segments().into_iter().flatten() {
            secrets.push(segment);
            // Telegram's `bot<token>`.
            secrets.extend(segment.strip_prefix("bot"));
        }
        secrets.extend(url.query());
    }
    secrets.extend(target.to.as_deref());
    secrets.extend(target.token.as_ref().map(Secret::expose));
    // Longest first, so a part never leaves the rest of a longer one behind.
    secrets.retain(|s| s.len() >= 6);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = reason.to_owned();
    for s in secrets {
        out = out.replace(s, "[redacted]");
    }
    if target.kind == Kind::Sms {
        out = phones_redacted(&out);
    }
    out
}

/// Every run of 6 or more digits (with a `+`, spaces or dashes between) as
/// `[number]`: SNS names the number in some of its errors.
fn phones_redacted(text: &str) -> String {
    let re = regex_lite::Regex::new(r"\+?\d[\d \-]{4,}\d").unwrap_or_else(|_| unreachable!());
    re.replace_all(text, |c: &regex_lite::Captures<'_>| {
        let digits = c[0].bytes().filter(u8::is_ascii_digit).count();
        if digits >= 6 {
            "[number]".to_owned()
        } else {
            c[0].to_owned()
        }
    })
    .into_owned()
}

/// What paging did: the method that took the message (its index and how), and the
/// failures of those tried before it (or of all, if none did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged {
    pub delivered: Option<(usize, Delivered)>,
    pub failures: Vec<(usize, Failure)>,
}

/// Tries `methods` in order with `send` until one delivers.
pub async fn fall_through<'a, M, F, Fut>(methods: &'a [M], mut send: F) -> Paged
where
    F: FnMut(&'a M) -> Fut,
    Fut: Future<Output = Result<Delivered, Failure>>,
{
    let mut failures = Vec::new();
    for (i, method) in methods.iter().enumerate() {
        match send(method).await {
            Ok(d) => {
                return Paged {
                    delivered: Some((i, d)),
                    failures,
                };
            }
            Err(f) => failures.push((i, f)),
        }
    }
    Paged {
        delivered: None,
        failures,
    }
}

/// Sends `message` to the first of `targets` that takes it.
pub async fn first_delivered(
    sender: &dyn ChannelSender,
    targets: &[Target],
    message: &Message,
) -> Paged {
    fall_through(targets, |t| sender.send(t, message)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Services;
    use crate::errors::BackendError;
    use crate::ports::Answer;
    use bytes::Bytes;
    use std::sync::Mutex;

    const BOT: &str = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ_0123456-89";
    const USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
    const APP: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";

    /// Answers by URL: refuses Telegram (echoing what it got, as a careless server
    /// might), takes the rest; keeps what it was sent.
    #[derive(Default)]
    struct Web(Mutex<Vec<String>>);

    #[async_trait]
    impl Outbound for Web {
        async fn post(
            &self,
            url: &str,
            _headers: &[(&str, String)],
            body: Bytes,
        ) -> Result<Answer, BackendError> {
            self.0.lock().unwrap().push(url.to_owned());
            if url.contains("telegram") {
                return Ok(Answer {
                    status: 401,
                    body: format!("no bot at {url} for {}", String::from_utf8_lossy(&body)),
                    retry_after: None,
                });
            }
            Ok(Answer {
                status: 200,
                body: String::new(),
                retry_after: None,
            })
        }
    }

    /// Refuses every number, naming it, as SNS does.
    struct NoSms;

    #[async_trait]
    impl Sms for NoSms {
        async fn send_sms(&self, phone: &str, _text: &str) -> Result<(), BackendError> {
            Err(BackendError::Permanent(format!(
                "InvalidParameter: PhoneNumber {phone} (+1 555-0100) is opted out"
            )))
        }
    }

    fn services() -> Services {
        Services {
            pushover_token: Some(Secret::new(APP)),
            telegram_bot_token: Some(Secret::new(BOT)),
            telegram_api: "https://telegram.example".into(),
            ..Services::default()
        }
    }

    #[tokio::test]
    async fn falls_through_to_the_next_method_and_names_no_secret() {
        let s = services();
        let web = Arc::new(Web::default());
        let senders = Senders {
            outbound: Some(web.clone()),
            sms: Some(Arc::new(NoSms)),
            retries: Retries::ONCE,
        };
        let targets = [
            Target::contact(Kind::Sms, "+15550100", &s).unwrap(),
            Target::contact(Kind::Telegram, "987654321", &s).unwrap(),
            Target::contact(Kind::Pushover, USER, &s).unwrap(),
            Target::contact(Kind::Ntfy, "https://ntfy.example/never", &s).unwrap(),
        ];
        let paged = first_delivered(&senders, &targets, &crate::chat::tests::sample()).await;
        assert_eq!(
            paged.delivered,
            Some((
                2,
                Delivered {
                    status: 200,
                    attempts: 1
                }
            ))
        );
        let failures: Vec<(usize, &str, Option<u16>, bool)> = paged
            .failures
            .iter()
            .map(|(i, f)| (*i, f.service, f.status, f.permanent))
            .collect();
        assert_eq!(
            failures,
            [(0, "sms", None, true), (1, "telegram", Some(401), true)]
        );
        for (_, f) in &paged.failures {
            let said = f.to_string();
            for secret in [BOT, "15550100", "555-0100", "987654321", APP, USER] {
                assert!(!said.contains(secret), "{secret} in {said}");
            }
            assert!(said.starts_with(&format!("{}: ", f.service)), "{said}");
        }
        // The ntfy topic was never tried.
        assert_eq!(web.0.lock().unwrap().len(), 2);

        // No method takes it: every failure, in order.
        let none = Senders {
            outbound: None,
            sms: None,
            retries: Retries::ONCE,
        };
        let paged = first_delivered(&none, &targets[..2], &crate::chat::tests::sample()).await;
        assert_eq!(paged.delivered, None);
        let reasons: Vec<String> = paged.failures.iter().map(|(_, f)| f.to_string()).collect();
        assert!(
            reasons[0].starts_with("sms: this process sends no text messages"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].starts_with("telegram: this process sends no HTTP"),
            "{reasons:?}"
        );
    }

    #[tokio::test]
    async fn any_methods_fall_through_mail_among_them() {
        let methods = ["mail", "sms", "push"];
        let paged = fall_through(&methods, |m| async move {
            match *m {
                "push" => Ok(Delivered {
                    status: 200,
                    attempts: 1,
                }),
                other => Err(Failure {
                    service: if other == "mail" { "email" } else { "sms" },
                    reason: "refused".into(),
                    status: None,
                    attempts: 1,
                    permanent: true,
                }),
            }
        })
        .await;
        assert_eq!(paged.delivered.map(|(i, _)| i), Some(2));
        assert_eq!(
            paged
                .failures
                .iter()
                .map(|(i, f)| (*i, f.service))
                .collect::<Vec<_>>(),
            [(0, "email"), (1, "sms")]
        );
    }
}
