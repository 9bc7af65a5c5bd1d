//! Resync: an incident rebuilt from GitLab's API (what webhooks never say: deleted
//! notes and issues, lost deliveries), and the scheduled run over every published one.

use std::collections::BTreeMap;

use bytes::Bytes;
use tracing::{info, warn};

use super::incident::{ApiView, Verdict};
use super::{Outcome, Publisher, RESYNC_CURSOR_KEY};
use crate::errors::ProcessError;
use crate::gitlab::ApiError;
use crate::ids::IncidentId;
use crate::ports::PutOptions;

/// GitLab's refusal as the publisher's: retried when it may pass.
pub(super) fn api_err(e: ApiError) -> ProcessError {
    match e {
        ApiError::Transient(m) => ProcessError::Retryable(m),
        other => ProcessError::Permanent(other.to_string()),
    }
}

impl Publisher {
    /// Rebuilds an incident's state from GitLab's API and republishes it.
    pub async fn resync(&self, id: IncidentId) -> Result<Outcome, ProcessError> {
        let api = self.gitlab.as_ref().ok_or_else(|| {
            ProcessError::Permanent("resync needs GITLAB_URL and GITLAB_TOKEN".into())
        })?;
        self.check_layout().await?;
        let Some(issue) = api.issue(id).await.map_err(api_err)? else {
            let now = self.clock.now();
            let state = self.update_state(id, |s| s.mark_deleted(now)).await?;
            info!(incident = %id, "issue deleted in GitLab");
            return self.apply(&state).await;
        };
        let notes = api.notes(id).await.map_err(api_err)?;
        let label_events = api.label_events(id).await.map_err(api_err)?;
        let mut awards = BTreeMap::new();
        for note in notes.iter().filter(|n| !n.system && !n.is_internal()) {
            awards.insert(
                note.id,
                api.note_awards(id, note.id).await.map_err(api_err)?,
            );
        }
        // Verdicts for everyone whose action counts.
        let mut users: BTreeMap<String, u64> = BTreeMap::new();
        for n in &notes {
            users.insert(n.author.username.clone(), n.author.id);
        }
        for a in awards.values().flatten() {
            users.insert(a.user.username.clone(), a.user.id);
        }
        for e in &label_events {
            if let Some(u) = &e.user {
                users.insert(u.username.clone(), u.id);
            }
        }
        let mut verdicts = BTreeMap::new();
        let id_project = id.project;
        for (name, uid) in &users {
            let v = Verdict {
                may_publish: self
                    .authorizer
                    .may_publish(id_project, name, Some(*uid))
                    .await?,
                trusted_microphone: self
                    .authorizer
                    .trusts_microphone(id_project, name, Some(*uid))
                    .await?,
            };
            verdicts.insert(name.clone(), v);
        }
        let view = ApiView {
            issue: &issue,
            notes: &notes,
            awards: &awards,
            label_events: &label_events,
            verdicts: &verdicts,
        };
        let state = self
            .update_state(id, |s| {
                s.resync(&view, &self.config.publishing.publish_label)
            })
            .await?;
        self.apply(&state).await
    }

    /// Resyncs every incident still published (the scheduled run).
    pub async fn resync_published(
        &self,
    ) -> Result<Vec<(u64, Result<Outcome, ProcessError>)>, ProcessError> {
        self.resync_published_until(None).await
    }

    /// Resyncs published incidents until `deadline`, starting after the last one the
    /// previous run reached (`index/resync-cursor.json`) and going round, so that with
    /// many incidents every one is still visited within a few periods.
    pub async fn resync_published_until(
        &self,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<(u64, Result<Outcome, ProcessError>)>, ProcessError> {
        self.check_layout().await?;
        let (index, _) = self.read_index().await?;
        let cursor: u64 = match self.state.get(RESYNC_CURSOR_KEY).await? {
            Some(obj) => serde_json::from_slice::<serde_json::Value>(&obj.body)
                .ok()
                .and_then(|v| v["after"].as_u64())
                .unwrap_or(0),
            None => 0,
        };
        let entries: Vec<(u64, Option<IncidentId>)> = index
            .incidents
            .iter()
            .map(|(id, e)| (*id, e.source))
            .collect();
        let start = entries.iter().position(|(i, _)| *i > cursor).unwrap_or(0);
        let mut out = Vec::new();
        let mut last = None;
        for (id, source) in entries[start..].iter().chain(entries[..start].iter()) {
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                info!(
                    done = out.len(),
                    left = entries.len() - out.len(),
                    "resync: out of time; the next run goes on"
                );
                break;
            }
            let r = match source {
                Some(incident) => self.resync(*incident).await,
                None => Err(ProcessError::Permanent(format!(
                    "incident {id}: the index does not say which issue it is"
                ))),
            };
            match &r {
                Ok(o) => info!(id, outcome = ?o, "resynced"),
                Err(e) => warn!(id, error = %e, "resync failed"),
            }
            out.push((*id, r));
            last = Some(*id);
        }
        if let Some(after) = last {
            let body = serde_json::json!({ "after": after }).to_string();
            self.state
                .put(
                    RESYNC_CURSOR_KEY,
                    Bytes::from(body),
                    PutOptions::private_json(),
                )
                .await?;
        }
        // The site exists from the first scheduled run on, incidents or none.
        self.write_list().await?;
        Ok(out)
    }
}
