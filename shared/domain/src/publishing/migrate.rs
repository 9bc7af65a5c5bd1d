//! Upgrades lose nothing: what an earlier release wrote, moved to this release's layout.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use tracing::{info, warn};

use super::Publisher;
use super::incident::IncidentState;
use crate::document;
use crate::errors::{BackendError, ProcessError};
use crate::ids::IncidentId;
use crate::ports::{Condition, PutOptions};
use crate::site::data::{self, INDEX_KEY, PublishedIndex};

/// What [`Publisher::migrate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// First-release states moved to `incidents/<project>/<iid>.json`.
    pub states_moved: usize,
    /// Published incidents given a new public id (one project to several, or back).
    pub renumbered: Vec<(u64, u64)>,
}

impl Publisher {
    /// Checks once per process that the buckets are in this release's layout, and
    /// moves them to it if not ([`Publisher::migrate`]).
    pub async fn check_layout(&self) -> Result<(), ProcessError> {
        self.layout_checked
            .get_or_try_init(|| async {
                let current = document::read::<PublishedIndex>(self.state.as_ref(), INDEX_KEY)
                    .await?
                    .is_some_and(|(i, _)| {
                        i.layout == data::LAYOUT && i.ids == self.config.public_ids()
                    });
                if !current {
                    let m = self.migrate().await?;
                    info!(
                        states_moved = m.states_moved,
                        renumbered = m.renumbered.len(),
                        "buckets moved to the current layout"
                    );
                }
                Ok::<(), ProcessError>(())
            })
            .await?;
        Ok(())
    }

    /// Moves what an earlier release wrote to this release's layout, losing nothing:
    /// first-release states (`incidents/<iid>.json`) go under their project; the
    /// index learns which issue each public id is; published incidents whose public
    /// id changed (one project to several, or back) are republished under the new
    /// one, their old keys removed; incidents published before the page had a history
    /// are published again with `closed_at`; and published incidents whose state
    /// keeps no publisher's change for alerts (`effective`) take their issue as it
    /// stands, as of their latest publication (no maintenance mutes otherwise than
    /// before the upgrade), and are published again with their muting. Running it
    /// again changes nothing.
    pub async fn migrate(&self) -> Result<Migration, ProcessError> {
        let mut report = Migration::default();
        let index = document::read::<PublishedIndex>(self.state.as_ref(), INDEX_KEY).await?;
        // Where the first release's states were, by iid.
        let mut moved: BTreeMap<u64, IncidentId> = BTreeMap::new();
        if index
            .as_ref()
            .is_none_or(|(i, _)| i.layout < data::PROJECT_LAYOUT)
        {
            for key in self.state.list(crate::ids::STATE_PREFIX).await? {
                let Some(iid) = crate::ids::legacy_iid(&key) else {
                    continue;
                };
                let Some((mut state, _)) =
                    document::read::<IncidentState>(self.state.as_ref(), &key).await?
                else {
                    continue;
                };
                // Published before notes back existed: its publication is no new one.
                if state.ever_published() {
                    state.linked_back.get_or_insert_with(chrono::Utc::now);
                }
                let id = state.id();
                let body = serde_json::to_vec(&state)
                    .map_err(|e| ProcessError::Permanent(e.to_string()))?;
                let opts = PutOptions::private_json().with_condition(Condition::IfNoneMatch);
                match self
                    .state
                    .put(&id.state_key(), Bytes::from(body), opts)
                    .await
                {
                    // Already moved by an earlier, interrupted run or a concurrent one.
                    Ok(_) | Err(BackendError::PreconditionFailed(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                self.state.delete(&key).await?;
                moved.insert(iid, id);
                report.states_moved += 1;
            }
            // Without GITLAB_PROJECT_ID, the project the earlier release served stays
            // the one taken.
            if let Some(project) = most_common(moved.values().map(|id| id.project)) {
                self.projects.keep_first(project).await?;
            }
        }
        let (index, _) = index.unwrap_or_default();
        // Published before incidents carried what the history needs (`closed_at`), or
        // before the index carried their muting: rendered again from their state.
        let rerender = index.layout < data::LAYOUT;
        let home = self.config.home_project();
        let ids = self.config.public_ids();
        // Each published incident's issue, and its public id under this configuration.
        let mut renumber = Vec::new();
        for (old, entry) in &index.incidents {
            let source = entry
                .source
                .or_else(|| moved.get(old).copied())
                .or_else(|| home.map(|p| IncidentId::new(p, *old)));
            let Some(source) = source else {
                warn!(
                    id = old,
                    "migration: no issue known for a published incident; left as it is"
                );
                continue;
            };
            let Some((mut state, _)) =
                document::read::<IncidentState>(self.state.as_ref(), &source.state_key()).await?
            else {
                warn!(id = old, incident = %source, "migration: the published incident has no state; left as it is");
                continue;
            };
            if state.effective.is_none() && state.ever_published() {
                state = self
                    .update_state(source, IncidentState::adopt_earlier_release)
                    .await?;
                info!(id = old, incident = %source, "migration: alerts follow the issue as it stood, as of its publication");
            }
            let new = state.public_id(ids).unwrap_or(*old);
            if new != *old || entry.source.is_none() || rerender {
                renumber.push((*old, new, state));
            }
        }
        // Copied uploads follow their incident (where a new id is no other's old one:
        // those are fetched again from GitLab), then the old keys go, all of them, so
        // no new id meets an old one's files.
        let olds: BTreeSet<u64> = renumber.iter().map(|(old, _, _)| *old).collect();
        for (old, new, _) in &renumber {
            if old != new && !olds.contains(new) {
                self.copy_files(*old, *new).await?;
            }
        }
        for (old, new, _) in &renumber {
            if old != new {
                self.remove_public(*old).await?;
            }
        }
        let olds: BTreeSet<u64> = renumber.iter().map(|(old, _, _)| *old).collect();
        document::update(
            self.state.as_ref(),
            INDEX_KEY,
            |current: Option<PublishedIndex>| {
                let mut index = current.unwrap_or_else(|| PublishedIndex::new(ids));
                index.incidents.retain(|id, _| !olds.contains(id));
                index.layout = data::LAYOUT;
                index.ids = ids;
                Some(index)
            },
        )
        .await?;
        // Republishing under a new id is no news for subscribers.
        for (old, new, state) in &renumber {
            self.apply_with(state, super::Apply::MOVED).await?;
            if old != new {
                info!(old, new, incident = %state.id(), "republished under its new public id");
                report.renumbered.push((*old, *new));
            }
        }
        self.write_list().await?;
        Ok(report)
    }
}

impl Publisher {
    /// Copies an incident's uploads from under one public id to under another.
    async fn copy_files(&self, from: u64, to: u64) -> Result<(), ProcessError> {
        let (old, new) = (data::files_prefix(from), data::files_prefix(to));
        for key in self.status.list(&old).await? {
            let Some(object) = self.status.get(&key).await? else {
                continue;
            };
            let content_type = object
                .content_type
                .unwrap_or_else(|| crate::ports::content_type_for(&key).to_owned());
            let opts = PutOptions {
                content_type,
                cache_control: Some(crate::ports::FILE_CACHE_CONTROL.into()),
                condition: Condition::Always,
            };
            self.status
                .put(&format!("{new}{}", &key[old.len()..]), object.body, opts)
                .await?;
        }
        Ok(())
    }
}

fn most_common(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(v, _)| v)
}
