//! The public status data in GitLab's format: `data/incident/<iid>.json` and
//! `data/list.json` (GitLab's schemas: `basic_incident`, `incident_details`,
//! `incident_list`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::PublicIds;
use crate::ids::IncidentId;
use crate::maintenance::Window;
use crate::time::{self, Timestamp};

/// The list holds this many incidents, newest first.
pub const LIST_LEN: usize = 20;
/// The largest detail document.
pub const MAX_DETAIL_BYTES: usize = 1024 * 1024;

pub const LIST_KEY: &str = "data/list.json";

/// `data/incident/<id>.json`, by the incident's public id.
pub fn detail_key(id: u64) -> String {
    format!("data/incident/{id}.json")
}

/// Everything published for an incident lives under this prefix (uploads).
pub fn files_prefix(id: u64) -> String {
    format!("data/incident/{id}/")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub note: String,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub created_at: Timestamp,
}

/// An incident as published. In the list, `comments` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    pub status: String,
    pub title: String,
    pub description: String,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<Comment>>,
    pub links: Links,
    /// openmic's own: GitLab's severity when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// openmic's own: the lifecycle stage from `status::<stage>` labels (closed means
    /// resolved): investigating, identified, monitoring or resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// openmic's own: affected components from `component::<name>` labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// openmic's own: when the issue was closed (the end of the incident in the
    /// page's history).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "time::ser_opt",
        deserialize_with = "time::de_opt"
    )]
    pub closed_at: Option<Timestamp>,
    /// openmic's own: `maintenance` for a scheduled maintenance (absent: an incident).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// openmic's own: a maintenance's window; its `stage` is then `scheduled`,
    /// `in_progress` or `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// openmic's own: the postmortem a publisher published after the incident closed.
    /// In the list (and the private index's entry) its `text` is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<Postmortem>,
    /// openmic's own: the key times a publisher tagged on the incident's GitLab
    /// timeline (with API access), in the order of [`KEY_TIME_TAGS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_times: Vec<KeyTime>,
}

/// The timeline tags whose times are public, GitLab's names and ours.
pub const KEY_TIME_TAGS: [(&str, &str); 4] = [
    ("Start time", "start_time"),
    ("Impact detected", "impact_detected"),
    ("Impact mitigated", "impact_mitigated"),
    ("End time", "end_time"),
];

/// One key time: `start_time`, `impact_detected`, `impact_mitigated` or `end_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTime {
    pub tag: String,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub occurred_at: Timestamp,
}

/// An incident's postmortem, as published: when, and its sanitised HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postmortem {
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub published_at: Timestamp,
    /// Empty (and absent) where only the fact is shown: the list and the index.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// `kind` of a scheduled maintenance.
pub const MAINTENANCE: &str = "maintenance";

impl Incident {
    /// Planned work rather than an incident.
    pub fn is_maintenance(&self) -> bool {
        self.kind.as_deref() == Some(MAINTENANCE)
    }

    /// Whether it still affects the service: open and not resolved (planned work
    /// never counts as an open incident).
    pub fn is_open(&self) -> bool {
        self.status == "opened"
            && self.stage.as_deref() != Some("resolved")
            && !self.is_maintenance()
    }
}

/// The lifecycle stages, in order.
pub const STAGES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

/// The scopes openmic reads as holding one label at a time. GitLab Premium makes
/// scoped labels exclusive; on Free adding `status::monitoring` leaves
/// `status::investigating` in place, so several may stand at once and the one added
/// last is the one meant.
pub const EXCLUSIVE_SCOPES: [&str; 1] = ["status"];

/// Whether `label` belongs to one of [`EXCLUSIVE_SCOPES`].
pub fn in_exclusive_scope(label: &str) -> bool {
    label
        .split_once("::")
        .is_some_and(|(scope, _)| EXCLUSIVE_SCOPES.contains(&scope.trim()))
}

/// The value meant of an exclusive `scope` among `labels`: of the labels `scope::<v>`
/// whose `v` is in `order`, the one added last (`added`: when each label was added,
/// where known; unknown counts as earliest), a tie going to the later in `order`.
/// Returns its position in `order`.
pub fn latest_in_scope(
    scope: &str,
    labels: &[String],
    added: &BTreeMap<String, Timestamp>,
    order: &[&str],
) -> Option<usize> {
    labels
        .iter()
        .filter_map(|l| {
            let (s, v) = l.split_once("::")?;
            if s.trim() != scope {
                return None;
            }
            let at = order
                .iter()
                .position(|x| x.eq_ignore_ascii_case(v.trim()))?;
            Some((added.get(l).copied(), at))
        })
        .max()
        .map(|(_, at)| at)
}

/// The stage of an issue: closed is resolved; else the `status::` label added last
/// (see [`latest_in_scope`]); else investigating.
pub fn stage_of(
    state: &str,
    labels: &[String],
    added: &BTreeMap<String, Timestamp>,
) -> &'static str {
    if state == "closed" {
        return "resolved";
    }
    latest_in_scope("status", labels, added, &STAGES).map_or("investigating", |i| STAGES[i])
}

/// The components of `component::<name>` labels, sorted.
pub fn components_of(labels: &[String]) -> Vec<String> {
    let mut out: Vec<String> = labels
        .iter()
        .filter_map(|l| l.strip_prefix("component::"))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Incident {
    /// The detail document's bytes, as the publisher writes them.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }

    /// The list entry: the detail without comments, and its postmortem without text.
    pub fn summary(&self) -> Incident {
        Incident {
            comments: None,
            postmortem: self.postmortem.as_ref().map(|p| Postmortem {
                published_at: p.published_at,
                text: String::new(),
            }),
            ..self.clone()
        }
    }
}

/// `data/list.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
}

/// One published incident in the private index: its list entry and its latest
/// updates (for the feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub incident: Incident,
    #[serde(default)]
    pub updates: Vec<Comment>,
    /// The project and iid behind the public id (absent in the first release's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IncidentId>,
    /// What a maintenance mutes, as a publisher's change last set it, for the notifier
    /// (private: its `Mute:` line may name internal services). An earlier release kept
    /// only the `Mute:` line here; the upgrade publishes every incident again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muting: Option<crate::maintenance::Muting>,
    /// The postmortem with its text, for the feed (absent before one, and in an
    /// earlier release's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<Postmortem>,
}

/// How many of an incident's latest updates the index keeps for the feed.
pub const FEED_UPDATES: usize = 10;

impl IndexEntry {
    pub fn of(
        detail: &Incident,
        source: IncidentId,
        muting: Option<crate::maintenance::Muting>,
    ) -> IndexEntry {
        let comments = detail.comments.as_deref().unwrap_or_default();
        let skip = comments.len().saturating_sub(FEED_UPDATES);
        IndexEntry {
            incident: detail.summary(),
            updates: comments[skip..].to_vec(),
            source: Some(source),
            muting,
            postmortem: detail.postmortem.clone(),
        }
    }
}

/// The private index of every published incident (state bucket), from which the
/// public list and the site are derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PublishedIndex {
    /// By public id.
    pub incidents: std::collections::BTreeMap<u64, IndexEntry>,
    /// How the public ids were made.
    #[serde(default)]
    pub ids: PublicIds,
    /// The layout of the state bucket this index goes with: absent in the first
    /// release's, [`PROJECT_LAYOUT`] since incidents are keyed by project,
    /// [`HISTORY_LAYOUT`] since published incidents carry what the history needs
    /// (`closed_at`), [`LAYOUT`] since states keep what a publisher's change set for
    /// alerts (`effective`) and the index the muting made of it.
    #[serde(default)]
    pub layout: u32,
    /// What the incident pages in the status bucket were last rendered with (the
    /// site's [`crate::site::Page::fingerprint`]): when the templates, the language or
    /// the brand change, every incident page is rendered again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<String>,
    /// The components' states from their firing alerts, as the notifier last handed
    /// them (`COMPONENT_STATUS_FROM_ALERTS`; private, like the rest of the index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_states: Option<crate::metrics::components::States>,
    /// The upstream components as the notifier last read them (`UPSTREAM_COMPONENTS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<crate::metrics::upstream::Upstream>,
    /// The incidents this page has taken down (set in the same write that drops their
    /// entry): with audiences, a page skips the take-down of an incident it never
    /// held, and these it always brings in line again, so a take-down cut after the
    /// index was written is finished when the event comes again.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub withdrawn: std::collections::BTreeSet<u64>,
}

/// The state bucket's layout since incidents are keyed by project:
/// `incidents/<project>/<iid>.json`.
pub const PROJECT_LAYOUT: u32 = 2;
/// [`PROJECT_LAYOUT`], and every published incident rendered with `closed_at`.
pub const HISTORY_LAYOUT: u32 = 3;
/// The current layout: [`HISTORY_LAYOUT`], and every published incident's state
/// keeps what decides its alerts as a publisher's change set it (`effective`; a
/// state from before takes its issue as it stood, as of its publication), its index
/// entry the muting made of it.
pub const LAYOUT: u32 = 4;

pub const INDEX_KEY: &str = "index/published.json";

impl PublishedIndex {
    /// An empty index in this release's layout.
    pub fn new(ids: PublicIds) -> PublishedIndex {
        PublishedIndex {
            incidents: Default::default(),
            ids,
            layout: LAYOUT,
            pages: None,
            alert_states: None,
            upstream: None,
            withdrawn: Default::default(),
        }
    }

    /// Every entry, most recently created first.
    pub fn newest_first(&self) -> Vec<&IndexEntry> {
        let mut all: Vec<&IndexEntry> = self.incidents.values().collect();
        all.sort_by_key(|e| std::cmp::Reverse((e.incident.created_at, e.incident.id)));
        all
    }

    /// The 20 most recently created, newest first.
    pub fn list(&self) -> IncidentList {
        IncidentList {
            incidents: self
                .newest_first()
                .into_iter()
                .take(LIST_LEN)
                .map(|e| e.incident.clone())
                .collect(),
        }
    }
}
