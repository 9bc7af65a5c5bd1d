//! The body of a queue message: the accepted delivery and what intake knew of it, or
//! a claim check pointing at that body in the state bucket when it is too large for
//! the queue.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::errors::{BackendError, ProcessError};
use crate::ports::{ClaimStore, ObjectStore, OutMessage};

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Gitlab,
    Alert,
    /// A chat command or button press, verified at its route, worked on behind the
    /// alerts queue.
    Chat,
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

/// The body of a queue message as intake writes it. `payload` is one JSON value that
/// the caller has already read through (intake parses every body it accepts), so it is
/// copied as it is rather than checked a third time.
pub fn compose(
    source: Source,
    event: Option<&str>,
    delivery: &str,
    received_at: &str,
    payload: &str,
) -> String {
    let mut out = head(source, event, delivery, received_at, payload.len());
    out.push_str(payload);
    out.push('}');
    out
}

/// A message body whose payload is serialised straight into it.
pub fn compose_value(
    source: Source,
    event: Option<&str>,
    delivery: &str,
    received_at: &str,
    payload: &impl Serialize,
) -> Result<String, serde_json::Error> {
    let mut out = head(source, event, delivery, received_at, 1024).into_bytes();
    serde_json::to_writer(&mut out, payload)?;
    out.push(b'}');
    // serde_json writes UTF-8.
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

/// `{"source":…,"event":…,"delivery":…,"received_at":…,"payload":` with room for
/// `payload_len` more bytes.
fn head(
    source: Source,
    event: Option<&str>,
    delivery: &str,
    received_at: &str,
    payload_len: usize,
) -> String {
    #[derive(Serialize)]
    struct Head<'a> {
        source: Source,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<&'a str>,
        delivery: &'a str,
        received_at: &'a str,
    }
    let head = Head {
        source,
        event,
        delivery,
        received_at,
    };
    // A struct of strings always serialises, as `{"source":...}`.
    let head = serde_json::to_string(&head).unwrap_or_default();
    let mut out = String::with_capacity(head.len() + payload_len + 12);
    out.push_str(head.strip_suffix('}').unwrap_or(&head));
    out.push_str(",\"payload\":");
    out
}

impl Envelope {
    /// Reads a message body, following a claim check through `state` if needed.
    pub async fn read(body: &str, state: &dyn ObjectStore) -> Result<Envelope, ReadError> {
        read_body(body, state).await
    }
}

/// Reads a message body of any shape, following a claim check through `state` if
/// the message is one.
pub async fn read_body<T: serde::de::DeserializeOwned>(
    body: &str,
    state: &dyn ObjectStore,
) -> Result<T, ReadError> {
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

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Backend(BackendError),
}

impl From<ReadError> for ProcessError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Malformed(m) => ProcessError::Permanent(m),
            ReadError::Backend(b) => b.into(),
        }
    }
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
    state: Option<&dyn ClaimStore>,
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
    state.put_claim(&key, Bytes::from(body)).await?;
    let claim = serde_json::to_string(&Claim { claim: key }).unwrap_or_default();
    Ok(OutMessage {
        group_id,
        dedup_id: dedup,
        body: claim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_bodies_read_back() {
        let body = compose(
            Source::Gitlab,
            Some("Issue \"Hook\""),
            "d-1",
            "2024-01-01T00:00:00.000Z",
            "{\"a\": [1, 2]}",
        );
        let e: Envelope = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (e.source, e.event.as_deref(), e.delivery.as_str()),
            (Source::Gitlab, Some("Issue \"Hook\""), "d-1")
        );
        assert_eq!(e.payload.get(), "{\"a\": [1, 2]}");
        let e: Envelope =
            serde_json::from_str(&compose(Source::Alert, None, "x", "t", "1")).unwrap();
        assert_eq!((e.event, e.payload.get()), (None, "1"));
    }
}
