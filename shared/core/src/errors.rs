//! Errors every part shares: a backend's failure, and how handling a queue message
//! failed, each classed by what the caller should do about it.

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

/// How a message failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProcessError {
    /// A passing failure: retry the message later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The message can never succeed: leave it to the dead-letter queue.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<BackendError> for ProcessError {
    fn from(e: BackendError) -> Self {
        if e.is_transient() {
            ProcessError::Retryable(e.to_string())
        } else {
            ProcessError::Permanent(e.to_string())
        }
    }
}
