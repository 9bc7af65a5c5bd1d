//! Mail through SES (API v2), sent as the same RFC 5322 message the embedded mailer
//! writes to disk.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use super::classify;
use openmic_core::errors::BackendError;
use openmic_core::mail::Mail;
use openmic_core::ports::Mailer;

#[derive(Clone)]
pub struct SesMailer {
    client: Client,
}

impl SesMailer {
    pub fn new(client: Client) -> Self {
        SesMailer { client }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        let raw = mail.to_rfc5322()?;
        let raw = RawMessage::builder()
            .data(Blob::new(raw))
            .build()
            .map_err(|e| BackendError::Permanent(format!("mail: {e}")))?;
        self.client
            .send_email()
            .from_email_address(&mail.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(mail.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("send mail", e))
    }
}
