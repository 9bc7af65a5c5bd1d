//! Components that follow their alerts (`COMPONENT_STATUS_FROM_ALERTS=true`): a
//! firing alert labelled `component` puts that component in the state its severity
//! gives (critical: major outage, high: partial outage, anything else degraded); the
//! worst of its firing alerts wins, and when the last resolves it is operational again.
//!
//! - the notifier keeps each component's firing alerts in the state bucket
//!   ([`FIRING_KEY`], [`Firing`]) and, on every notice of an alert that names a
//!   component, hands the publisher what they give ([`States`]) on the publish queue
//!   ([`queue_states`]): the publisher owns the public bucket;
//! - the publisher keeps the newest [`States`] (by [`States::version`]) in its index
//!   and the page shows them where nothing else decides (`site::summary`): an open
//!   incident published for the component takes over, planned work in progress holds
//!   it. Only the state is published: never an alert's name, labels or values, and
//!   only for components the page has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::errors::BackendError;
use crate::intake::payload::Severity;
use crate::message::{self, Source};
use crate::ports::{ClaimStore, Queue};
use crate::time::{self, Timestamp};

/// The alert label that names a component.
pub const LABEL: &str = "component";

/// The notifier's list of each component's firing alerts (state bucket).
pub const FIRING_KEY: &str = "index/component-alerts.json";

/// The publish queue message's `event`.
pub const EVENT: &str = "Component States";

/// The queue group of those messages: handled in order.
const GROUP: &str = "component-states";

/// The state a firing alert puts its component in, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl Impact {
    /// Critical: a major outage; high: a partial one; anything else: degraded.
    pub fn of(severity: Severity) -> Impact {
        match severity {
            Severity::Critical => Impact::MajorOutage,
            Severity::High => Impact::PartialOutage,
            _ => Impact::Degraded,
        }
    }
}

/// The component an alert's labels name, if any (blanks trimmed).
pub fn component_of(labels: &BTreeMap<String, String>) -> Option<&str> {
    labels
        .get(LABEL)
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
}

/// Each component's firing alerts, by alert record key, with what each gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// Raised by every change, so the publisher keeps only the newest states.
    pub version: u64,
    pub components: BTreeMap<String, BTreeMap<String, Impact>>,
}

impl Firing {
    /// Takes what alert `record` gives now: `Some((component, impact))` while it fires,
    /// `None` once resolved (or no longer labelled). Returns whether anything changed.
    pub fn observe(&mut self, record: &str, firing: Option<(&str, Impact)>) -> bool {
        let before = self.components.clone();
        for alerts in self.components.values_mut() {
            alerts.remove(record);
        }
        if let Some((component, impact)) = firing {
            self.components
                .entry(component.to_owned())
                .or_default()
                .insert(record.to_owned(), impact);
        }
        self.components.retain(|_, alerts| !alerts.is_empty());
        let changed = self.components != before;
        if changed {
            self.version += 1;
        }
        changed
    }

    /// What the firing alerts give: the worst for each component.
    pub fn states(&self, at: Timestamp) -> States {
        States {
            version: self.version,
            at,
            components: self
                .components
                .iter()
                .filter_map(|(c, alerts)| Some((c.clone(), *alerts.values().max()?)))
                .collect(),
        }
    }
}

/// What the notifier hands the publisher: each component's state from its alerts
/// (components not named are operational as far as alerts go).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct States {
    pub version: u64,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub at: Timestamp,
    pub components: BTreeMap<String, Impact>,
}

impl States {
    /// Whether `self` is to replace `kept` (a message older than what the publisher
    /// has is dropped; the same one handled twice changes nothing).
    pub fn newer_than(&self, kept: Option<&States>) -> bool {
        kept.is_none_or(|k| self.version > k.version)
    }

    /// The state of `component` (any case), if its alerts give one.
    pub fn of(&self, component: &str) -> Option<Impact> {
        self.components
            .iter()
            .filter(|(c, _)| c.eq_ignore_ascii_case(component))
            .map(|(_, i)| *i)
            .max()
    }
}

/// Queues `states` for the publisher.
pub async fn queue_states(
    queue: &dyn Queue,
    claims: Option<&dyn ClaimStore>,
    states: &States,
) -> Result<(), BackendError> {
    let dedup = format!("component-states-{}", states.version);
    let text = message::compose_value(
        Source::Alert,
        Some(EVENT),
        &dedup,
        &time::format(&states.at),
        states,
    )
    .map_err(|e| BackendError::Permanent(e.to_string()))?;
    let out = message::outgoing(GROUP.to_owned(), dedup, text, claims).await?;
    queue.send(out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        time::parse("2024-03-05T10:00:00Z").unwrap()
    }

    #[test]
    fn the_worst_firing_alert_wins_and_resolution_restores() {
        let mut f = Firing::default();
        assert!(f.observe("a", Some(("API", Impact::Degraded))));
        assert!(f.observe("b", Some(("API", Impact::MajorOutage))));
        assert!(f.observe("c", Some(("Database", Impact::PartialOutage))));
        assert!(!f.observe("a", Some(("API", Impact::Degraded))), "a repeat");
        let s = f.states(at());
        assert_eq!(s.of("api"), Some(Impact::MajorOutage));
        assert_eq!(s.of("Database"), Some(Impact::PartialOutage));
        assert_eq!(s.version, 3);
        assert!(f.observe("b", None));
        assert_eq!(f.states(at()).of("API"), Some(Impact::Degraded));
        // Relabelled to another component: it leaves the first.
        assert!(f.observe("a", Some(("Database", Impact::Degraded))));
        assert_eq!(f.states(at()).of("API"), None);
        assert!(f.observe("a", None) && f.observe("c", None));
        assert!(f.components.is_empty());
        let last = f.states(at());
        assert!(last.newer_than(Some(&s)) && !s.newer_than(Some(&last)));
        assert!(!last.newer_than(Some(&last)));
    }

    #[test]
    fn severities_give_their_states() {
        assert_eq!(Impact::of(Severity::Critical), Impact::MajorOutage);
        assert_eq!(Impact::of(Severity::High), Impact::PartialOutage);
        for s in [
            Severity::Medium,
            Severity::Low,
            Severity::Info,
            Severity::Unknown,
        ] {
            assert_eq!(Impact::of(s), Impact::Degraded);
        }
        let labels = BTreeMap::from([("component".to_owned(), "  ".to_owned())]);
        assert_eq!(component_of(&labels), None);
    }

    #[tokio::test]
    async fn the_message_reads_back_as_what_was_queued() {
        let queue = crate::memory::MemoryQueue::default();
        let mut f = Firing::default();
        f.observe("a", Some(("API", Impact::PartialOutage)));
        let states = f.states(at());
        queue_states(&queue, None, &states).await.unwrap();
        let sent = queue.take();
        assert_eq!(sent.len(), 1);
        let store = crate::memory::MemoryStore::default();
        let envelope = crate::message::Envelope::read(&sent[0].body, &store)
            .await
            .unwrap();
        assert_eq!(
            (envelope.source, envelope.event.as_deref()),
            (Source::Alert, Some(EVENT))
        );
        let back: States = serde_json::from_str(envelope.payload.get()).unwrap();
        assert_eq!(back, states);
    }
}
