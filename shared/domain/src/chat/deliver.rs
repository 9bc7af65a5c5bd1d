//! Delivery: one request, retried with backoff while the failure may pass (no answer,
//! 408, 429 with its `Retry-After`, 5xx), given up at once when it cannot (any other
//! 4xx, a redirect). What failed is said without the URL, which holds the channel's
//! secret.

use std::time::Duration;

use bytes::Bytes;

use super::Request;
use crate::ports::Outbound;

/// How often, and how patiently, a request is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub attempts: u32,
    /// The first wait; each next one doubles.
    pub backoff: Duration,
    /// The longest wait a server's `Retry-After` may ask for.
    pub max_wait: Duration,
}

impl Retries {
    /// Three attempts, half a second then a second apart.
    pub const STANDARD: Retries = Retries {
        attempts: 3,
        backoff: Duration::from_millis(500),
        max_wait: Duration::from_secs(5),
    };
    /// One attempt: for a channel already known to be failing, so that it costs the
    /// others no time.
    pub const ONCE: Retries = Retries {
        attempts: 1,
        backoff: Duration::ZERO,
        max_wait: Duration::ZERO,
    };
}

/// A request the server took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    pub attempts: u32,
}

/// A request given up on: the service and what happened, never a secret or a
/// contact detail (`pushover: answered 400 (…)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {reason}")]
pub struct Failure {
    /// The service (`slack`, `sms`, `telegram`, …); empty until [`super::send`] or
    /// [`super::Senders`] names it.
    pub service: &'static str,
    /// What happened, for the log and the operators' notice (never the URL).
    pub reason: String,
    pub status: Option<u16>,
    pub attempts: u32,
    /// Retrying later will not help (the service refused the request itself).
    pub permanent: bool,
}

/// Sends `request` through `outbound` as `retries` allows.
pub async fn deliver(
    outbound: &dyn Outbound,
    request: &Request,
    retries: Retries,
) -> Result<Delivered, Failure> {
    let body = Bytes::from(request.body.clone());
    let mut delay = retries.backoff;
    let mut last = Failure {
        service: "",
        reason: "not tried".into(),
        status: None,
        attempts: 0,
        permanent: false,
    };
    for attempt in 1..=retries.attempts.max(1) {
        let mut wait = delay;
        match outbound
            .post(&request.url, &request.headers, body.clone())
            .await
        {
            Ok(a) if (200..300).contains(&a.status) => {
                return Ok(Delivered {
                    status: a.status,
                    attempts: attempt,
                });
            }
            Ok(a) if a.status == 408 || a.status == 429 || a.status >= 500 => {
                last = Failure {
                    service: "",
                    reason: answered(a.status, &a.body),
                    status: Some(a.status),
                    attempts: attempt,
                    permanent: false,
                };
                if let Some(secs) = a.retry_after {
                    wait = Duration::from_secs(secs).min(retries.max_wait);
                }
            }
            Ok(a) => {
                return Err(Failure {
                    service: "",
                    reason: answered(a.status, &a.body),
                    status: Some(a.status),
                    attempts: attempt,
                    permanent: true,
                });
            }
            Err(e) => {
                last = Failure {
                    service: "",
                    reason: e.to_string(),
                    status: None,
                    attempts: attempt,
                    permanent: false,
                };
            }
        }
        if attempt < retries.attempts {
            tokio::time::sleep(wait).await;
            delay *= 2;
        }
    }
    Err(last)
}

fn answered(status: u16, body: &str) -> String {
    let hint = match status {
        300..=399 => " (a redirect: give the webhook's final URL)",
        401 | 403 => " (the webhook's URL, token or key is no longer valid)",
        404 | 410 => " (the webhook was deleted or its URL is wrong)",
        _ => "",
    };
    if body.is_empty() {
        format!("answered {status}{hint}")
    } else {
        format!("answered {status}{hint}: {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::BackendError;
    use crate::ports::Answer;
    use std::sync::Mutex;

    /// Answers from a script, one per request.
    struct Scripted(Mutex<Vec<Result<Answer, BackendError>>>);

    #[async_trait::async_trait]
    impl Outbound for Scripted {
        async fn post(
            &self,
            _url: &str,
            _headers: &[(&str, String)],
            _body: Bytes,
        ) -> Result<Answer, BackendError> {
            self.0.lock().unwrap().remove(0)
        }
    }

    fn answer(status: u16) -> Result<Answer, BackendError> {
        Ok(Answer {
            status,
            body: String::new(),
            retry_after: None,
        })
    }

    fn request() -> Request {
        Request {
            url: "https://hooks.example.com/secret".into(),
            headers: vec![],
            body: b"{}".to_vec(),
        }
    }

    const QUICK: Retries = Retries {
        attempts: 3,
        backoff: Duration::from_millis(1),
        max_wait: Duration::from_millis(5),
    };

    #[tokio::test]
    async fn passing_failures_are_retried_and_refusals_are_not() {
        let s = Scripted(Mutex::new(vec![
            Err(BackendError::Transient("timed out".into())),
            answer(503),
            answer(200),
        ]));
        assert_eq!(
            deliver(&s, &request(), QUICK).await,
            Ok(Delivered {
                status: 200,
                attempts: 3
            })
        );
        let s = Scripted(Mutex::new(vec![answer(429), answer(404)]));
        let f = deliver(&s, &request(), QUICK).await.unwrap_err();
        assert_eq!((f.status, f.attempts, f.permanent), (Some(404), 2, true));
        assert!(f.reason.contains("deleted"), "{}", f.reason);
        let s = Scripted(Mutex::new(vec![answer(500), answer(502), answer(500)]));
        let f = deliver(&s, &request(), QUICK).await.unwrap_err();
        assert_eq!((f.status, f.attempts, f.permanent), (Some(500), 3, false));
        let s = Scripted(Mutex::new(vec![answer(500)]));
        let f = deliver(&s, &request(), Retries::ONCE).await.unwrap_err();
        assert_eq!(f.attempts, 1);
        assert!(!f.reason.contains("secret"));
    }
}
