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

impl ProcessError {
    /// A permanent failure for `e`, whose reason keeps `e`'s whole chain of causes.
    pub fn permanent(e: &(dyn std::error::Error + 'static)) -> ProcessError {
        ProcessError::Permanent(Chain(e).to_string())
    }
}

/// An error with its causes, each after a colon (`template alert.txt did not render:
/// undefined value (in alert.txt:3)`): what a log line or a dead letter's reason shows
/// of it (`tracing`'s `error = %Chain(&e)`), where a reply shows the error alone.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the mail did not compose")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("template alert.txt did not render")]
    struct Middle(#[source] std::fmt::Error);

    #[test]
    fn a_chain_shows_every_cause_and_a_permanent_failure_keeps_it() {
        let e = Outer(Middle(std::fmt::Error));
        let all = "the mail did not compose: template alert.txt did not render: \
                   an error occurred when formatting an argument";
        assert_eq!(Chain(&e).to_string(), all);
        assert_eq!(
            ProcessError::permanent(&e),
            ProcessError::Permanent(all.into())
        );
    }
}
