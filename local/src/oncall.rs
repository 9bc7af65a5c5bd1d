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
    #[error("--calendars needs PUBLIC_API_URL and ALERT_LINK_SECRET (the deployment's)")]
    NoLinks,
}

/// Each person's calendar link (`<person>\t<link>`, a line each), signed with
/// `secret` (`ALERT_LINK_SECRET`) under `base` (`PUBLIC_API_URL`).
pub fn calendar_links(file: &OnCall, base: &str, secret: &str) -> String {
    file.people
        .iter()
        .map(|p| {
            format!(
                "{}\t{}\n",
                p.name,
                openmic::oncall::calendar::link(secret, base, p)
            )
        })
        .collect()
}

/// Reads the file at `path` and gives each person's calendar link.
pub fn run_calendars(
    path: Option<&Path>,
    base: Option<&str>,
    secret: Option<&str>,
) -> Result<String, OnCallError> {
    let (Some(base), Some(secret)) = (base, secret) else {
        return Err(OnCallError::NoLinks);
    };
    let file = read(path)?;
    Ok(calendar_links(&file, base, secret))
}

fn read(path: Option<&Path>) -> Result<OnCall, OnCallError> {
    let path = path.ok_or(OnCallError::NoFile)?;
    let text = std::fs::read_to_string(path).map_err(|source| OnCallError::Read {
        path: path.to_owned(),
        source,
    })?;
    OnCall::parse(&text).map_err(|source| OnCallError::Invalid {
        path: path.to_owned(),
        source,
    })
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
    let file = read(path)?;
    Ok(report(&file, at))
}
