//! The embedded mailer: each message an RFC 5322 file in `DIR/outbox/`.

use std::path::PathBuf;

use async_trait::async_trait;
use openmic_core::errors::BackendError;
use openmic_core::mail::Mail;
use openmic_core::ports::Mailer;

/// Writes each message as `DIR/outbox/<time>-<id>.eml`.
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(OutboxMailer { dir })
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        let raw = mail.to_rfc5322()?;
        use sha2::Digest;
        let id = hex::encode(&sha2::Sha256::digest(mail.message_id.as_bytes())[..6]);
        let name = format!("{}-{id}.eml", mail.date.format("%Y%m%dT%H%M%S%.3fZ"));
        crate::store::write_atomic(&self.dir.join(name), &raw)
            .await
            .map_err(|e| BackendError::Transient(format!("outbox: {e}")))
    }
}
