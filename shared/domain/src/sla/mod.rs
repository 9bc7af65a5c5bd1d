//! SLA timers on any tier: `INCIDENT_SLA` gives each severity a target time to
//! resolve; an incident still open past its target gets GitLab's `missed::SLA` label
//! once and one reminder to the channels alerts go to, never twice.
//!
//! - [`targets`]: `INCIDENT_SLA`'s value, and whether an incident is past its target;
//! - this module: the watch list the publisher keeps in the state bucket
//!   ([`WATCH_KEY`]) of the incidents that have a target, and which of them are due.
//!   The notifier's tick labels and reminds, and marks in the list what it did, so a
//!   replayed event or a second tick does nothing again.
//!
//! An incident's severity is GitLab's (the issue's `severity`), else its
//! `severity::<name>` label; an issue with neither, and a maintenance, has no target.

pub mod targets;

pub use targets::{SlaError, SlaTargets, gitlab_severity};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError};
use crate::ids::IncidentId;
use crate::intake::payload::Severity;
use crate::time::Timestamp;

/// What SLA timers read.
pub use crate::config::sla::VARIABLES;

/// The label GitLab's own SLA timer (Ultimate) gives an incident past its due date.
pub const MISSED_LABEL: &str = "missed::SLA";

/// The watch list in the state bucket.
pub const WATCH_KEY: &str = "index/sla.json";

/// How long a closed incident stays on the watch list (its marks keep a reopened one
/// from being reminded again).
pub const KEEP_CLOSED_DAYS: i64 = 30;

impl SlaTargets {
    /// `INCIDENT_SLA` of a configuration (none when unset), or the error naming it.
    pub fn from_config(config: &Config) -> Result<SlaTargets, ConfigError> {
        let Some(value) = config.sla.incident_sla.as_deref() else {
            return Ok(SlaTargets::default());
        };
        SlaTargets::parse(value)
            .map_err(|e| crate::config::sla::INCIDENT_SLA.invalid(e.to_string()))
    }
}

/// An incident's severity: GitLab's field, else a `severity::<name>` label.
pub fn severity_of(field: Option<&str>, labels: &[String]) -> Option<Severity> {
    if let Some(s) = field.and_then(gitlab_severity) {
        return Some(s);
    }
    labels.iter().find_map(|l| {
        let (scope, value) = l.split_once("::")?;
        (scope.trim().eq_ignore_ascii_case("severity"))
            .then(|| gitlab_severity(value.trim()))
            .flatten()
    })
}

/// What an incident's state says, for the watch list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub id: IncidentId,
    /// As written in GitLab (the list is private).
    pub title: String,
    pub severity: Severity,
    pub opened_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// The page in GitLab, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What the notifier did about a missed target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missed {
    /// When the tick found it past its target.
    pub at: Timestamp,
    /// The label is on the issue (or cannot be put there: no API access, or refused).
    pub labelled: bool,
    /// The reminder went out (marked before it goes).
    pub reminded: bool,
}

/// One incident on the watch list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    #[serde(flatten)]
    pub seen: Seen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<Missed>,
}

/// The watch list: incidents with a target, by `<project>/<iid>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub incidents: BTreeMap<String, Watched>,
}

impl Watch {
    /// Takes what an incident's state says now, keeping what was done about it; `None`
    /// takes it off (no target any more). Returns whether the list changed.
    pub fn observe(&mut self, id: IncidentId, seen: Option<Seen>) -> bool {
        let key = id.to_string();
        match seen {
            None => self.incidents.remove(&key).is_some(),
            Some(seen) => match self.incidents.get_mut(&key) {
                Some(w) if w.seen == seen => false,
                Some(w) => {
                    w.seen = seen;
                    true
                }
                None => {
                    self.incidents.insert(key, Watched { seen, missed: None });
                    true
                }
            },
        }
    }

    /// The incidents open at `now` past their target and not yet marked missed.
    pub fn due(&self, targets: &SlaTargets, now: Timestamp) -> Vec<String> {
        self.incidents
            .iter()
            .filter(|(_, w)| w.missed.is_none() && w.seen.closed_at.is_none())
            .filter(|(_, w)| {
                targets.missed(w.seen.severity, w.seen.opened_at, w.seen.closed_at, now)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Drops incidents closed more than [`KEEP_CLOSED_DAYS`] before `now`.
    pub fn prune(&mut self, now: Timestamp) -> bool {
        let before = self.incidents.len();
        let since = now - chrono::Duration::days(KEEP_CLOSED_DAYS);
        self.incidents
            .retain(|_, w| w.seen.closed_at.is_none_or(|c| c >= since));
        self.incidents.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    fn seen(iid: u64, severity: Severity, closed: Option<&str>) -> Seen {
        Seen {
            id: IncidentId::new(42, iid),
            title: format!("incident {iid}"),
            severity,
            opened_at: at("2026-12-07T10:00:00Z"),
            closed_at: closed.map(at),
            url: None,
        }
    }

    #[test]
    fn severity_from_the_field_else_a_label() {
        assert_eq!(severity_of(Some("HIGH"), &[]), Some(Severity::High));
        let labels = vec!["component::api".to_owned(), "severity::critical".to_owned()];
        assert_eq!(severity_of(None, &labels), Some(Severity::Critical));
        assert_eq!(
            severity_of(Some("nonsense"), &labels),
            Some(Severity::Critical)
        );
        assert_eq!(severity_of(None, &["severity::3".to_owned()]), None);
        assert_eq!(severity_of(None, &[]), None);
    }

    #[test]
    fn due_once_past_the_target_and_never_again() {
        let targets = SlaTargets::parse("critical=1h,high=4h").unwrap();
        let mut w = Watch::default();
        assert!(w.observe(
            IncidentId::new(42, 1),
            Some(seen(1, Severity::Critical, None))
        ));
        assert!(w.observe(IncidentId::new(42, 2), Some(seen(2, Severity::High, None))));
        assert!(!w.observe(
            IncidentId::new(42, 1),
            Some(seen(1, Severity::Critical, None))
        ));
        assert!(w.due(&targets, at("2026-12-07T11:00:00Z")).is_empty());
        assert_eq!(w.due(&targets, at("2026-12-07T11:00:01Z")), ["42/1"]);
        w.incidents.get_mut("42/1").unwrap().missed = Some(Missed {
            at: at("2026-12-07T11:00:01Z"),
            labelled: true,
            reminded: true,
        });
        assert!(w.due(&targets, at("2026-12-07T12:00:00Z")).is_empty());
        // A later state of the incident keeps the mark.
        let mut renamed = seen(1, Severity::Critical, None);
        renamed.title = "renamed".into();
        assert!(w.observe(IncidentId::new(42, 1), Some(renamed)));
        assert!(w.incidents["42/1"].missed.is_some());
        // Closed in time: never due.
        w.observe(
            IncidentId::new(42, 2),
            Some(seen(2, Severity::High, Some("2026-12-07T13:00:00Z"))),
        );
        assert!(w.due(&targets, at("2026-12-08T00:00:00Z")).is_empty());
        // Closed long ago: off the list.
        assert!(w.prune(at("2027-02-01T00:00:00Z")));
        assert_eq!(w.incidents.keys().collect::<Vec<_>>(), ["42/1"]);
        // No target any more: off the list.
        assert!(w.observe(IncidentId::new(42, 1), None));
        assert!(w.incidents.is_empty());
    }
}
