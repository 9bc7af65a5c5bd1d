//! JSON documents in a bucket, read and changed with conditional writes: two writers
//! of one document never lose each other's change. The incident state, the published
//! index and the alert records all go through here.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errors::{BackendError, ProcessError};
use crate::ports::{Condition, ObjectStore, PutOptions};

/// How many times a conditional write is retried after losing a race.
pub const CAS_ATTEMPTS: usize = 16;

/// A document and its etag, if it exists.
pub async fn read<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<(T, String)>, ProcessError> {
    match store.get(key).await? {
        Some(obj) => {
            let doc = serde_json::from_slice(&obj.body)
                .map_err(|e| ProcessError::Permanent(format!("{key} is unreadable: {e}")))?;
            Ok(Some((doc, obj.etag)))
        }
        None => Ok(None),
    }
}

/// Reads the document (`None` if absent), lets `change` make the new one (`None`:
/// nothing to write), and writes it only if nobody wrote it meanwhile; a lost race
/// reads again and retries. Returns the document as it stands afterwards.
pub async fn update<T>(
    store: &dyn ObjectStore,
    key: &str,
    mut change: impl FnMut(Option<T>) -> Option<T>,
) -> Result<Option<T>, ProcessError>
where
    T: Serialize + DeserializeOwned + Clone + PartialEq,
{
    for _ in 0..CAS_ATTEMPTS {
        let (old, condition) = match read::<T>(store, key).await? {
            Some((doc, etag)) => (Some(doc), Condition::IfMatch(etag)),
            None => (None, Condition::IfNoneMatch),
        };
        let new = change(old.clone());
        if new == old {
            return Ok(new);
        }
        let Some(doc) = &new else { return Ok(None) };
        let body = serde_json::to_vec(doc).map_err(|e| ProcessError::Permanent(e.to_string()))?;
        let opts = PutOptions::private_json().with_condition(condition);
        match store.put(key, Bytes::from(body), opts).await {
            Ok(_) => return Ok(new),
            Err(BackendError::PreconditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProcessError::Retryable(format!(
        "{key}: too many concurrent writers"
    )))
}
