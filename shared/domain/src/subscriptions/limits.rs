//! The cap on subscribe requests per source address and hour: a counter per source
//! and hour in the state bucket (`subscriber-limits/<hour>/<keyed hash>.json`; the
//! source address itself is never stored), changed with conditional writes.

use serde::{Deserialize, Serialize};

use super::token::TokenKey;
use crate::document;
use crate::errors::ProcessError;
use crate::ports::ObjectStore;
use crate::time::Timestamp;

pub const PREFIX: &str = "subscriber-limits/";
/// Subscribe requests taken from one source address in an hour.
pub const PER_SOURCE_PER_HOUR: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    requests: u32,
}

/// The counter's key for a source in the hour of `now`.
pub fn key(key: &TokenKey, source: &str, now: Timestamp) -> String {
    format!(
        "{PREFIX}{}/{}.json",
        now.format("%Y%m%d%H"),
        key.keyed_hash("source", source)
    )
}

/// Counts a request from `source` (none: where it came from is unknown, counted
/// together); whether it is within the cap.
pub async fn take(
    state: &dyn ObjectStore,
    token_key: &TokenKey,
    source: Option<&str>,
    now: Timestamp,
) -> Result<bool, ProcessError> {
    let key = key(token_key, source.unwrap_or("unknown"), now);
    let mut within = false;
    document::update(state, &key, |old: Option<Counter>| {
        let n = old.map_or(0, |c| c.requests);
        within = n < PER_SOURCE_PER_HOUR;
        // Past the cap the counter stays as it is: nothing to write.
        Some(Counter {
            requests: n + u32::from(within),
        })
    })
    .await?;
    Ok(within)
}
