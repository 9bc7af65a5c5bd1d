//! `openmic-local oncall [--at TIME] [--config PATH]`: who is on call in each schedule
//! of a local on-call file (`ONCALL_CONFIG` as a path), one line each,
//! `<schedule>\t<person>` (`-` when nobody), in the file's order.

use std::path::{Path, PathBuf};

use openmic::oncall::{FileError, OnCall, on_call_now};
use openmic::time::Timestamp;

/// Why there is no answer.
#[derive(Debug, thiserror::Error)]
pub enum OnCallError {
    #[error("no on-call file: give --config PATH or set ONCALL_CONFIG to its path")]
    NoFile,
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} does not validate:\n{source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: FileError,
    },
    #[error("--at {0:?} is not a time such as 2026-12-07T09:00:00Z")]
    BadTime(String),
}

/// The lines `oncall` prints for the file's `text` at `at`.
pub fn report(file: &OnCall, at: Timestamp) -> String {
    on_call_now(file, at)
        .into_iter()
        .map(|(schedule, who)| format!("{schedule}\t{}\n", who.unwrap_or("-")))
        .collect()
}

/// Reads the file at `path` (or says why not) and reports who is on call at `at` (a
/// time as `--at` takes it; `now` without one).
pub fn run(path: Option<&Path>, at: Option<&str>, now: Timestamp) -> Result<String, OnCallError> {
    let at = match at {
        None => now,
        Some(text) => {
            openmic::time::parse(text).ok_or_else(|| OnCallError::BadTime(text.to_owned()))?
        }
    };
    let path = path.ok_or(OnCallError::NoFile)?;
    let text = std::fs::read_to_string(path).map_err(|source| OnCallError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file = OnCall::parse(&text).map_err(|source| OnCallError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    Ok(report(&file, at))
}
