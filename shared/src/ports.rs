//! The ports: the small traits the domain talks to. Adapters implement them on the
//! local file system (the embedded default) and on AWS.

use async_trait::async_trait;
use bytes::Bytes;

/// A failure of a backend, classed by what the caller should do about it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// A conditional write lost a race: read again and retry.
    #[error("precondition failed for {0}")]
    PreconditionFailed(String),
    /// A passing failure (throttling, 5xx, timeout): the same call may succeed later.
    #[error("{0}")]
    Transient(String),
    /// A failure that will not go away by retrying (missing bucket, access denied,
    /// invalid key).
    #[error("{0}")]
    Permanent(String),
}

impl BackendError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackendError::Transient(_) | BackendError::PreconditionFailed(_)
        )
    }
}

/// An object read from a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub body: Bytes,
    /// An opaque version tag for conditional writes.
    pub etag: String,
    pub content_type: Option<String>,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    Always,
    /// Only if the object still has this etag.
    IfMatch(String),
    /// Only if no object exists at the key.
    IfNoneMatch,
}

/// How an object is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOptions {
    pub content_type: String,
    pub cache_control: Option<String>,
    pub condition: Condition,
}

impl PutOptions {
    /// JSON with a short cache lifetime, as the status data wants.
    pub fn json() -> Self {
        PutOptions {
            content_type: "application/json".into(),
            cache_control: Some(crate::status::DATA_CACHE_CONTROL.into()),
            condition: Condition::Always,
        }
    }
    /// Private JSON (state bucket): no caching.
    pub fn private_json() -> Self {
        PutOptions {
            content_type: "application/json".into(),
            cache_control: Some("no-store".into()),
            condition: Condition::Always,
        }
    }
    pub fn with_condition(mut self, condition: Condition) -> Self {
        self.condition = condition;
        self
    }
}

/// A bucket: the public status bucket or the private state bucket.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError>;
    /// Writes the whole object; returns its new etag.
    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError>;
    /// Deletes the object; deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), BackendError>;
    /// Every key under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError>;
    /// Writes the object from a file, without holding it whole in memory where the
    /// backend allows.
    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        opts: PutOptions,
    ) -> Result<String, BackendError> {
        let body = tokio::fs::read(path)
            .await
            .map_err(|e| BackendError::Transient(format!("read {}: {e}", path.display())))?;
        self.put(key, Bytes::from(body), opts).await
    }
    /// Deletes every key under `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, BackendError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}

/// A message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutMessage {
    /// Messages of one group are handled in order (`issue:<iid>`, or an alert's
    /// fingerprint).
    pub group_id: String,
    /// Two messages with the same id within the deduplication window are one.
    pub dedup_id: String,
    pub body: String,
}

/// The sending side of a queue.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: OutMessage) -> Result<(), BackendError>;
    /// Sends messages in order; a queue that takes batches sends them together.
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), BackendError> {
        for m in messages {
            self.send(m).await?;
        }
        Ok(())
    }
}

/// The answer to "may this user publish / is their microphone trusted".
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `username` (GitLab user `user_id`) may publish or unpublish incidents of
    /// `project`.
    async fn may_publish(
        &self,
        project: u64,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<bool, BackendError>;
    /// Whether a microphone award by this user publishes a comment in `project`.
    async fn trusts_microphone(
        &self,
        project: u64,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<bool, BackendError>;
}
