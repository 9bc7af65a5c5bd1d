//! The one writer of GitLab incident timeline events (GraphQL's
//! `timelineEventCreate`, on every tier): the publisher's on a published incident
//! ([`crate::publishing::timeline`]) and the notifier's on an alert's incident issue
//! ([`crate::alerts::timeline`]). Each caller says which events are due by the names
//! its state remembers them by; this writes them in order, a note cut to GitLab's
//! limit, and says which are done.

use tracing::{info, warn};

use crate::errors::ProcessError;
use crate::gitlab::{ApiError, Gitlab};
use crate::time::Timestamp;

/// One event openmic writes on an incident's timeline: the name the state remembers
/// it by, its note, and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub note: String,
    pub at: Timestamp,
}

impl Event {
    pub fn new(name: impl Into<String>, note: impl Into<String>, at: Timestamp) -> Event {
        Event {
            name: name.into(),
            note: note.into(),
            at,
        }
    }
}

/// The longest note GitLab takes on a timeline event, in characters.
pub const NOTE_LIMIT: usize = 280;

/// What writing events came to.
#[derive(Debug, Default)]
pub struct Written {
    /// The names written, or refused by GitLab (no `api` scope, an old GitLab): none
    /// is tried again.
    pub done: Vec<String>,
    /// A passing failure: the event it stopped at and those after it are not done.
    pub failed: Option<ProcessError>,
}

/// Writes `events` in order on the timeline of the incident whose issue has the
/// global id `issue`, each note cut to [`NOTE_LIMIT`]; stops at the first passing
/// failure. `what` names the incident or alert in the log.
pub async fn write_events(api: &dyn Gitlab, issue: u64, events: &[Event], what: &str) -> Written {
    let mut written = Written::default();
    for e in events {
        let note = cut(&e.note);
        match api.add_timeline_event(issue, &note, e.at, &[]).await {
            Ok(()) => info!(what, event = %e.name, "timeline event written"),
            Err(ApiError::Transient(m)) => {
                warn!(what, event = %e.name, error = %m, "timeline event not written yet");
                written.failed = Some(ProcessError::Retryable(m));
                break;
            }
            Err(err) => warn!(what, event = %e.name, error = %err, "no timeline event"),
        }
        written.done.push(e.name.clone());
    }
    written
}

/// A note cut to [`NOTE_LIMIT`] characters, an ellipsis at its end if it was cut.
fn cut(note: &str) -> String {
    if note.chars().count() <= NOTE_LIMIT {
        return note.to_owned();
    }
    let mut out: String = note.chars().take(NOTE_LIMIT - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_note_is_cut_to_gitlabs_limit() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(NOTE_LIMIT + 5);
        let c = cut(&long);
        assert_eq!(c.chars().count(), NOTE_LIMIT);
        assert!(c.ends_with('…'));
        assert_eq!(cut(&"a".repeat(NOTE_LIMIT)), "a".repeat(NOTE_LIMIT));
    }
}
