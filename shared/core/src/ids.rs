//! Identities: an incident is its project and its iid.

use serde::{Deserialize, Serialize};

/// An incident's private identity: its project and its iid (iids repeat across
/// projects). State, queue groups, the audit and resync all go by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IncidentId {
    pub project: u64,
    pub iid: u64,
}

impl IncidentId {
    pub fn new(project: u64, iid: u64) -> IncidentId {
        IncidentId { project, iid }
    }

    /// `incidents/<project>/<iid>.json` in the state bucket.
    pub fn state_key(&self) -> String {
        format!("{STATE_PREFIX}{}/{}.json", self.project, self.iid)
    }

    /// The queue's message group: one incident's events are handled in order.
    pub fn group(&self) -> String {
        format!("issue:{}:{}", self.project, self.iid)
    }
}

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.project, self.iid)
    }
}

/// Where incident states live in the state bucket.
pub const STATE_PREFIX: &str = "incidents/";

/// Where the first release kept an incident's state: by iid alone.
pub fn legacy_state_key(iid: u64) -> String {
    format!("{STATE_PREFIX}{iid}.json")
}

/// The iid of a first-release state key (`incidents/<iid>.json`).
pub fn legacy_iid(key: &str) -> Option<u64> {
    key.strip_prefix(STATE_PREFIX)?
        .strip_suffix(".json")?
        .parse()
        .ok()
}
