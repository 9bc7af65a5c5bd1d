//! The body of a queue message: the accepted delivery and what intake knew of it, or
//! a claim check pointing at that body in the state bucket when it is too large for
//! the queue.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::ports::{BackendError, ObjectStore, OutMessage, PutOptions};

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Gitlab,
    Alert,
}

/// A message as the consumers read it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub source: Source,
    /// `X-Gitlab-Event`, or the alert format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The delivery's id (the deduplication id).
    pub delivery: String,
    /// When intake accepted it, RFC 3339.
    pub received_at: String,
    pub payload: Box<RawValue>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    claim: String,
}

/// SQS's largest message body, less room for attributes.
pub const MAX_INLINE_BYTES: usize = 250 * 1024;
pub const CLAIM_PREFIX: &str = "claims/";

impl Envelope {
    pub fn to_json(&self) -> String {
        // An envelope of strings and a RawValue always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!())
    }

    /// Reads a message body, following a claim check through `state` if needed.
    pub async fn read(body: &str, state: &dyn ObjectStore) -> Result<Envelope, ReadError> {
        if let Ok(claim) = serde_json::from_str::<Claim>(body) {
            let object = state
                .get(&claim.claim)
                .await
                .map_err(ReadError::Backend)?
                .ok_or_else(|| {
                    ReadError::Malformed(format!("claimed body {} is missing", claim.claim))
                })?;
            return serde_json::from_slice(&object.body)
                .map_err(|e| ReadError::Malformed(format!("claimed body {}: {e}", claim.claim)));
        }
        serde_json::from_str(body).map_err(|e| ReadError::Malformed(format!("message body: {e}")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Backend(BackendError),
}

/// A deduplication id SQS accepts (up to 128 of `[A-Za-z0-9!-~]`): the given id if it
/// fits, else its hash.
pub fn dedup_id(given: &str) -> String {
    let fits = !given.is_empty()
        && given.len() <= 128
        && given.bytes().all(|b| (b'!'..=b'~').contains(&b));
    if fits {
        given.to_owned()
    } else {
        hex::encode(Sha256::digest(given.as_bytes()))
    }
}

/// The message to send for a body: inline if small enough, else stored in the state
/// bucket under `claims/` and sent as a claim check.
pub async fn outgoing(
    group_id: String,
    dedup: String,
    body: String,
    state: Option<&dyn ObjectStore>,
) -> Result<OutMessage, BackendError> {
    if body.len() <= MAX_INLINE_BYTES {
        return Ok(OutMessage {
            group_id,
            dedup_id: dedup,
            body,
        });
    }
    let state = state
        .ok_or_else(|| BackendError::Permanent("message too large and no state bucket".into()))?;
    let key = format!(
        "{CLAIM_PREFIX}{}.json",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    state
        .put(&key, Bytes::from(body), PutOptions::private_json())
        .await?;
    let claim = serde_json::to_string(&Claim { claim: key }).unwrap_or_default();
    Ok(OutMessage {
        group_id,
        dedup_id: dedup,
        body: claim,
    })
}
