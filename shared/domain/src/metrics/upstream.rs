//! Other companies' components (`UPSTREAM_COMPONENTS`): each mirrored from a status
//! page that publishes Atlassian Statuspage's `api/v2/summary.json` (GitHub's and
//! many others), read by the notifier's tick every [`EVERY`] and handed to the
//! publisher on its queue ([`queue_upstream`]), which shows them on the page as
//! upstream, apart from the page's own components. Never mailed, never in the
//! service's own state or history.
//!
//! The mirrored state is a named component's `status` (`operational`,
//! `degraded_performance`, `partial_outage`, `major_outage`, `under_maintenance`),
//! or without one the page's `status.indicator` (`none`, `minor`, `major`,
//! `critical`, `maintenance`). A page that does not answer, answers an error, more
//! than [`MAX_BYTES`], or anything but that shape is [`Mirrored::Unknown`], and the
//! reason is logged, named; it never holds up anything else.

use serde::{Deserialize, Serialize};

use crate::errors::BackendError;
use crate::message::{self, Source};
use crate::ports::{ClaimStore, Fetched, Queue};
use crate::time::{self, Timestamp};

/// How often the pages are read.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// The largest answer read (GitHub's summary is some 20 KB).
pub const MAX_BYTES: usize = 1 << 20;

/// When the pages were last read (state bucket).
pub const READ_KEY: &str = "index/upstream.json";

/// The publish queue message's `event`.
pub const EVENT: &str = "Upstream States";

const GROUP: &str = "upstream-states";

/// An upstream component's state, as the page names states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mirrored {
    Operational,
    Maintenance,
    Degraded,
    PartialOutage,
    MajorOutage,
    /// Its page could not be read.
    Unknown,
}

impl Mirrored {
    /// As `data/summary.json` and the catalogues name it.
    pub fn key(self) -> &'static str {
        match self {
            Mirrored::Operational => "operational",
            Mirrored::Maintenance => "maintenance",
            Mirrored::Degraded => "degraded",
            Mirrored::PartialOutage => "partial_outage",
            Mirrored::MajorOutage => "major_outage",
            Mirrored::Unknown => "unknown",
        }
    }
}

/// Why a page's state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no answer")]
    Fetch(#[source] BackendError),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the answer is not a Statuspage summary.json")]
    NotSummary(#[source] serde_json::Error),
    #[error("the page has no component {0:?}")]
    NoComponent(String),
    #[error("unknown status {0:?}")]
    UnknownStatus(String),
}

/// The part of Statuspage's `summary.json` read.
#[derive(Deserialize)]
struct Summary {
    status: Indicator,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Indicator {
    indicator: String,
}

#[derive(Deserialize)]
struct Component {
    name: String,
    status: String,
}

fn from_component(status: &str) -> Option<Mirrored> {
    Some(match status {
        "operational" => Mirrored::Operational,
        "degraded_performance" => Mirrored::Degraded,
        "partial_outage" => Mirrored::PartialOutage,
        "major_outage" => Mirrored::MajorOutage,
        "under_maintenance" => Mirrored::Maintenance,
        _ => return None,
    })
}

fn from_indicator(indicator: &str) -> Option<Mirrored> {
    Some(match indicator {
        "none" => Mirrored::Operational,
        "minor" => Mirrored::Degraded,
        "major" => Mirrored::PartialOutage,
        "critical" => Mirrored::MajorOutage,
        "maintenance" => Mirrored::Maintenance,
        _ => return None,
    })
}

/// The state a page's answer gives: its component `component` (any case), or the
/// page's own.
pub fn read(answer: &Fetched, component: Option<&str>) -> Result<Mirrored, UpstreamError> {
    if !(200..300).contains(&answer.status) {
        return Err(UpstreamError::Status(answer.status));
    }
    let summary: Summary =
        serde_json::from_slice(&answer.body).map_err(UpstreamError::NotSummary)?;
    let (status, known) = match component {
        Some(name) => {
            let c = summary
                .components
                .iter()
                .find(|c| c.name.trim().eq_ignore_ascii_case(name))
                .ok_or_else(|| UpstreamError::NoComponent(name.to_owned()))?;
            (c.status.as_str(), from_component(&c.status))
        }
        None => (
            summary.status.indicator.as_str(),
            from_indicator(&summary.status.indicator),
        ),
    };
    known.ok_or_else(|| UpstreamError::UnknownStatus(status.chars().take(40).collect()))
}

/// One upstream component as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// `UPSTREAM_COMPONENTS`' name for it.
    pub name: String,
    pub state: Mirrored,
}

/// What the notifier hands the publisher: every upstream component, in the order of
/// `UPSTREAM_COMPONENTS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    pub version: u64,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub at: Timestamp,
    pub components: Vec<Line>,
}

impl Upstream {
    /// Whether `self` is to replace `kept`.
    pub fn newer_than(&self, kept: Option<&Upstream>) -> bool {
        kept.is_none_or(|k| self.version > k.version)
    }
}

/// When the pages were last read, and the version of what that gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRead {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

impl LastRead {
    /// Whether the pages are due at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        self.at
            .is_none_or(|at| now - at >= chrono::Duration::from_std(EVERY).unwrap_or_default())
    }
}

/// Queues `upstream` for the publisher.
pub async fn queue_upstream(
    queue: &dyn Queue,
    claims: Option<&dyn ClaimStore>,
    upstream: &Upstream,
) -> Result<(), BackendError> {
    let dedup = format!("upstream-states-{}", upstream.version);
    let text = message::compose_value(
        Source::Alert,
        Some(EVENT),
        &dedup,
        &time::format(&upstream.at),
        upstream,
    )
    .map_err(|e| BackendError::Permanent(e.to_string()))?;
    let out = message::outgoing(GROUP.to_owned(), dedup, text, claims).await?;
    queue.send(out).await
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// GitHub's `https://www.githubstatus.com/api/v2/summary.json` during the outage
    /// of 2020-04-02, as captured in rapid7/github-status-checker's tests/test.py.
    const GITHUB: &str = include_str!("../../../../tests/fixtures/statuspage/github-summary.json");

    fn answer(status: u16, body: &str) -> Fetched {
        Fetched {
            status,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn a_real_summary_gives_its_components_and_its_page_state() {
        let ok = answer(200, GITHUB);
        assert_eq!(read(&ok, None).unwrap(), Mirrored::PartialOutage);
        assert_eq!(
            read(&ok, Some("git operations")).unwrap(),
            Mirrored::MajorOutage
        );
        assert_eq!(
            read(&ok, Some("GitHub Actions")).unwrap(),
            Mirrored::PartialOutage
        );
        assert_eq!(
            read(&ok, Some("GitHub Pages")).unwrap(),
            Mirrored::Operational
        );
    }

    #[test]
    fn garbage_is_named_and_never_a_state() {
        assert!(matches!(
            read(&answer(503, GITHUB), None),
            Err(UpstreamError::Status(503))
        ));
        assert!(matches!(
            read(&answer(200, "<html>busy</html>"), None),
            Err(UpstreamError::NotSummary(_))
        ));
        assert!(matches!(
            read(&answer(200, "{\"status\": {}}"), None),
            Err(UpstreamError::NotSummary(_))
        ));
        assert!(matches!(
            read(&answer(200, GITHUB), Some("Copilot")),
            Err(UpstreamError::NoComponent(c)) if c == "Copilot"
        ));
        let odd = "{\"status\": {\"indicator\": \"sideways\"}, \"components\": []}";
        assert_eq!(
            read(&answer(200, odd), None).unwrap_err().to_string(),
            "unknown status \"sideways\""
        );
    }

    #[test]
    fn the_pages_are_due_every_five_minutes() {
        let at = time::parse("2024-03-05T10:00:00Z").unwrap();
        assert!(LastRead::default().due(at));
        let read = LastRead {
            version: 1,
            at: Some(at),
        };
        assert!(!read.due(at + chrono::Duration::seconds(299)));
        assert!(read.due(at + chrono::Duration::seconds(300)));
    }
}
