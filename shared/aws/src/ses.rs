//! Mail through SES (API v2), sent as the same RFC 5322 message the embedded mailer
//! writes to disk.
//!
//! Subscription mail goes through a paced mailer ([`SesMailer::paced`]): it sends at
//! the account's `SendQuota.MaxSendRate` (read with `GetAccount`, again every ten
//! minutes), and when SES throttles anyway (other senders share the rate) it waits
//! and tries again, for up to a minute, before failing the mail as a passing
//! failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use tokio::sync::Mutex;
use tracing::warn;

use super::classify;
use openmic_core::errors::BackendError;
use openmic_core::mail::Mail;
use openmic_core::ports::Mailer;

/// How long a throttled mail is tried again before it fails.
pub const THROTTLE_BUDGET: Duration = Duration::from_secs(60);
/// How long the send rate read from SES is used before it is read again.
const RATE_TTL: Duration = Duration::from_secs(600);
/// The rate used when SES does not tell it (the sandbox's).
pub const FALLBACK_RATE: f64 = 1.0;

#[derive(Clone)]
pub struct SesMailer {
    client: Client,
    /// `SES_CONFIGURATION_SET`: its events (bounces, complaints) come back by SNS.
    configuration_set: Option<String>,
    pace: Option<Arc<Pace>>,
}

/// The paced mailer's clock: the account's rate and the next free moment to send.
struct Pace {
    rate: Mutex<Option<(f64, Instant)>>,
    next: Mutex<Instant>,
}

impl SesMailer {
    /// A mailer that sends whenever asked (the maintainers' alerts).
    pub fn new(client: Client) -> Self {
        SesMailer {
            client,
            configuration_set: None,
            pace: None,
        }
    }

    /// A mailer at the account's send rate, sending with `configuration_set`.
    pub fn paced(client: Client, configuration_set: Option<String>) -> Self {
        SesMailer {
            client,
            configuration_set,
            pace: Some(Arc::new(Pace {
                rate: Mutex::new(None),
                next: Mutex::new(Instant::now()),
            })),
        }
    }

    /// The account's send rate, from `GetAccount` (cached).
    async fn rate(&self, pace: &Pace) -> f64 {
        let mut cached = pace.rate.lock().await;
        if let Some((rate, at)) = *cached
            && at.elapsed() < RATE_TTL
        {
            return rate;
        }
        let rate = match self.client.get_account().send().await {
            Ok(out) => out
                .send_quota()
                .map(|q| q.max_send_rate())
                .filter(|r| r.is_finite() && *r > 0.0)
                .unwrap_or(FALLBACK_RATE),
            Err(e) => {
                warn!(error = %classify("get account", e), rate = FALLBACK_RATE, "SES's send rate is unknown; sending at the sandbox's");
                FALLBACK_RATE
            }
        };
        *cached = Some((rate, Instant::now()));
        rate
    }

    /// Waits for this mail's moment at the send rate.
    async fn wait_turn(&self, pace: &Pace) {
        let interval = Duration::from_secs_f64(1.0 / self.rate(pace).await);
        let slot = {
            let mut next = pace.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Holds every mail back for `pause` (SES said slow down).
    async fn hold(&self, pace: &Pace, pause: Duration) {
        let mut next = pace.next.lock().await;
        *next = (*next).max(Instant::now() + pause);
    }

    async fn send_once(
        &self,
        mail: &Mail,
        raw: &[u8],
    ) -> Result<
        (),
        SdkError<
            aws_sdk_sesv2::operation::send_email::SendEmailError,
            aws_sdk_sesv2::config::http::HttpResponse,
        >,
    > {
        let raw = RawMessage::builder()
            .data(Blob::new(raw.to_vec()))
            .build()
            .map_err(SdkError::construction_failure)?;
        self.client
            .send_email()
            .from_email_address(&mail.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(mail.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map(|_| ())
    }
}

/// Whether SES refused for the rate (its v2 `TooManyRequestsException`, v1's
/// `Throttling: Maximum sending rate exceeded`).
fn throttled<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_sesv2::config::http::HttpResponse>,
) -> bool {
    let status = e.raw_response().map(|r| r.status().as_u16());
    matches!(
        e.code(),
        Some("TooManyRequestsException" | "Throttling" | "ThrottlingException")
    ) || status == Some(429)
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        let raw = mail.to_rfc5322()?;
        let Some(pace) = &self.pace else {
            return self
                .send_once(mail, &raw)
                .await
                .map_err(|e| classify("send mail", e));
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        loop {
            self.wait_turn(pace).await;
            match self.send_once(mail, &raw).await {
                Ok(()) => return Ok(()),
                Err(e) if throttled(&e) && started.elapsed() + pause < THROTTLE_BUDGET => {
                    warn!(
                        pause_ms = pause.as_millis() as u64,
                        "SES throttled; slowing down"
                    );
                    self.hold(pace, pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
                Err(e) => return Err(classify("send mail", e)),
            }
        }
    }

    async fn max_send_rate(&self) -> Result<Option<f64>, BackendError> {
        match &self.pace {
            Some(pace) => Ok(Some(self.rate(pace).await)),
            None => Ok(None),
        }
    }
}
