//! The publisher: one queue message in, the incident's state merged, the status
//! bucket brought in line with it. Handling the same message twice leaves the same
//! buckets.

use std::sync::Arc;

use bytes::Bytes;
use tracing::{info, warn};

use crate::config::Config;
use crate::document;
use std::collections::{BTreeMap, BTreeSet};

use crate::gitlab::{Hook, HookError};
use crate::gitlab_api::{ApiError, GitlabApi};
use crate::incident::{ApiView, IncidentState, Verdict};
use crate::message::{Envelope, ReadError, Source};
use crate::ports::{Authorizer, BackendError, Condition, ObjectStore, PutOptions};
use crate::render::Upload;
use crate::status::{self, INDEX_KEY, LIST_KEY, PublishedIndex};

/// How a message failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProcessError {
    /// A passing failure: retry the message later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The message can never succeed: leave it to the dead-letter queue.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<BackendError> for ProcessError {
    fn from(e: BackendError) -> Self {
        if e.is_transient() {
            ProcessError::Retryable(e.to_string())
        } else {
            ProcessError::Permanent(e.to_string())
        }
    }
}

impl From<ReadError> for ProcessError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Malformed(m) => ProcessError::Permanent(m),
            ReadError::Backend(b) => b.into(),
        }
    }
}

/// What handling a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Published {
        iid: u64,
    },
    Unpublished {
        iid: u64,
    },
    /// State updated; nothing public to change.
    Private {
        iid: u64,
    },
    Ignored(String),
}

fn tempfile_path() -> std::path::PathBuf {
    let mut nonce = [0u8; 12];
    let _ = getrandom::fill(&mut nonce);
    std::env::temp_dir().join(format!("openmic-upload-{}", hex::encode(nonce)))
}

/// Where the scheduled resync goes on from.
pub const RESYNC_CURSOR_KEY: &str = "index/resync-cursor.json";

pub fn state_key(iid: u64) -> String {
    format!("incidents/{iid}.json")
}

pub struct Publisher {
    pub config: Arc<Config>,
    pub state: Arc<dyn ObjectStore>,
    pub status: Arc<dyn ObjectStore>,
    pub authorizer: Arc<dyn Authorizer>,
    /// GitLab's API, where configured: attachments and resync.
    pub gitlab: Option<Arc<GitlabApi>>,
}

impl Publisher {
    /// Handles one message body.
    pub async fn handle(&self, body: &str) -> Result<Outcome, ProcessError> {
        let envelope = Envelope::read(body, self.state.as_ref()).await?;
        if envelope.source != Source::Gitlab {
            return Err(ProcessError::Permanent(format!(
                "not a GitLab event: {:?}",
                envelope.source
            )));
        }
        let hook = match Hook::parse(envelope.event.as_deref(), envelope.payload.get().as_bytes()) {
            Ok(h) => h,
            Err(HookError::Ignored(why)) => return Ok(Outcome::Ignored(why)),
            Err(HookError::Malformed(why)) => return Err(ProcessError::Permanent(why)),
        };
        if let Some(want) = self.config.gitlab_project_id
            && hook.project().id != want
        {
            return Err(ProcessError::Permanent(format!(
                "event of project {}",
                hook.project().id
            )));
        }
        let user = hook.user();
        let verdict = Verdict {
            may_publish: self.authorizer.may_publish(&user.username, user.id).await?,
            trusted_microphone: self
                .authorizer
                .trusts_microphone(&user.username, user.id)
                .await?,
        };
        let iid = hook.iid();
        let state = self
            .update_state(iid, hook.project().id, |s| {
                s.merge(
                    &hook,
                    envelope.event.as_deref(),
                    &self.config.publish_label,
                    verdict,
                )
            })
            .await?;
        self.apply(&state).await
    }

    /// Reads, changes and writes an incident's state with a conditional write, retried
    /// if another writer got there first.
    pub async fn update_state(
        &self,
        iid: u64,
        project_id: u64,
        change: impl Fn(&mut IncidentState),
    ) -> Result<IncidentState, ProcessError> {
        let state = document::update(self.state.as_ref(), &state_key(iid), |old| {
            let mut state = old.unwrap_or_else(|| IncidentState::new(iid, project_id));
            change(&mut state);
            Some(state)
        })
        .await?;
        state.ok_or_else(|| ProcessError::Retryable(format!("state of {iid} vanished")))
    }

    /// Brings the status bucket in line with the state.
    pub async fn apply(&self, state: &IncidentState) -> Result<Outcome, ProcessError> {
        let iid = state.iid;
        if state.published()
            && let Some(rendered) =
                status::render_incident(state, self.config.gitlab_url.as_deref())
        {
            let body = rendered
                .incident
                .to_json()
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            self.status
                .put(
                    &status::detail_key(iid),
                    Bytes::from(body),
                    PutOptions::json(),
                )
                .await?;
            let page = crate::site::render_incident_page(&rendered.incident)
                .map_err(ProcessError::Permanent)?;
            self.status.put(&page.key, page.body, page.options).await?;
            let summary = status::IndexEntry::of(&rendered.incident);
            self.update_index(|index| {
                index.incidents.insert(iid, summary.clone());
            })
            .await?;
            info!(
                iid,
                comments = rendered.incident.comments.as_ref().map_or(0, Vec::len),
                "published"
            );
            // The text is public now; the files follow.
            self.sync_files(iid, &rendered.uploads).await?;
            return Ok(Outcome::Published { iid });
        }
        if state.ever_published() {
            // Detail first, so that nothing of it stays reachable if we stop halfway.
            self.status.delete(&status::detail_key(iid)).await?;
            self.status
                .delete(&crate::site::incident_page_key(iid))
                .await?;
            let removed = self
                .status
                .delete_prefix(&status::files_prefix(iid))
                .await?;
            self.update_index(|index| {
                index.incidents.remove(&iid);
            })
            .await?;
            info!(iid, files = removed, "unpublished");
            return Ok(Outcome::Unpublished { iid });
        }
        Ok(Outcome::Private { iid })
    }

    /// Copies the uploads the published text points at into the status bucket (those
    /// not there yet), and removes files no published text points at any more. A
    /// failed download leaves nothing behind and fails the message for a retry; the
    /// text is already public.
    async fn sync_files(&self, iid: u64, uploads: &[Upload]) -> Result<(), ProcessError> {
        let prefix = status::files_prefix(iid);
        let present: BTreeSet<String> = self.status.list(&prefix).await?.into_iter().collect();
        let wanted: BTreeSet<String> = uploads.iter().map(|u| u.key(iid)).collect();
        for stale in present.difference(&wanted) {
            self.status.delete(stale).await?;
        }
        let Some(api) = &self.gitlab else {
            return Ok(());
        };
        let mut retry = None;
        for upload in uploads {
            let key = upload.key(iid);
            if present.contains(&key) {
                continue;
            }
            match self.copy_upload(api, upload, &key).await {
                Ok(true) => info!(iid, key, "upload copied"),
                Ok(false) => warn!(
                    iid,
                    key, "upload not found in GitLab; its link stays broken"
                ),
                Err(ApiError::Transient(m)) => retry = Some(m),
                Err(e) => {
                    warn!(iid, key, error = %e, "upload not copied");
                }
            }
        }
        match retry {
            Some(m) => Err(ProcessError::Retryable(format!("incident {iid}: {m}"))),
            None => Ok(()),
        }
    }

    async fn copy_upload(
        &self,
        api: &GitlabApi,
        upload: &Upload,
        key: &str,
    ) -> Result<bool, ApiError> {
        let tmp = tempfile_path();
        let result = async {
            let Some(content_type) = api
                .download_upload(&upload.secret, &upload.filename, &tmp)
                .await?
            else {
                return Ok(false);
            };
            let content_type = content_type
                .filter(|c| !c.is_empty() && c != "application/octet-stream")
                .unwrap_or_else(|| crate::adapters::fs::content_type_for(key).to_owned());
            let opts = PutOptions {
                content_type,
                cache_control: Some(crate::status::FILE_CACHE_CONTROL.into()),
                condition: Condition::Always,
            };
            self.status
                .put_file(key, &tmp, opts)
                .await
                .map_err(|e| match e {
                    BackendError::Permanent(m) => ApiError::Permanent(m),
                    other => ApiError::Transient(other.to_string()),
                })?;
            Ok(true)
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }

    /// Rebuilds an incident's state from GitLab's API and republishes it.
    pub async fn resync(&self, iid: u64) -> Result<Outcome, ProcessError> {
        let api = self.gitlab.as_ref().ok_or_else(|| {
            ProcessError::Permanent("resync needs GITLAB_URL and GITLAB_TOKEN".into())
        })?;
        let api_err = |e: ApiError| match e {
            ApiError::Transient(m) => ProcessError::Retryable(m),
            other => ProcessError::Permanent(other.to_string()),
        };
        let project = api.project();
        let Some(issue) = api.issue(iid).await.map_err(api_err)? else {
            let now = chrono::Utc::now();
            let state = self
                .update_state(iid, project, |s| s.mark_deleted(now))
                .await?;
            info!(iid, "issue deleted in GitLab");
            return self.apply(&state).await;
        };
        let notes = api.notes(iid).await.map_err(api_err)?;
        let label_events = api.label_events(iid).await.map_err(api_err)?;
        let mut awards = BTreeMap::new();
        for note in notes.iter().filter(|n| !n.system && !n.is_internal()) {
            awards.insert(
                note.id,
                api.note_awards(iid, note.id).await.map_err(api_err)?,
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
        for (name, id) in &users {
            let v = Verdict {
                may_publish: self.authorizer.may_publish(name, Some(*id)).await?,
                trusted_microphone: self.authorizer.trusts_microphone(name, Some(*id)).await?,
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
            .update_state(iid, project, |s| {
                s.resync(&view, &self.config.publish_label)
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
        let (index, _) = self.read_index().await?;
        let cursor: u64 = match self.state.get(RESYNC_CURSOR_KEY).await? {
            Some(obj) => serde_json::from_slice::<serde_json::Value>(&obj.body)
                .ok()
                .and_then(|v| v["after"].as_u64())
                .unwrap_or(0),
            None => 0,
        };
        let iids: Vec<u64> = index.incidents.keys().copied().collect();
        let start = iids.iter().position(|i| *i > cursor).unwrap_or(0);
        let mut out = Vec::new();
        let mut last = None;
        for iid in iids[start..].iter().chain(iids[..start].iter()) {
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                info!(
                    done = out.len(),
                    left = iids.len() - out.len(),
                    "resync: out of time; the next run goes on"
                );
                break;
            }
            let r = self.resync(*iid).await;
            match &r {
                Ok(o) => info!(iid, outcome = ?o, "resynced"),
                Err(e) => warn!(iid, error = %e, "resync failed"),
            }
            out.push((*iid, r));
            last = Some(*iid);
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

    /// Changes the private index of published incidents, then rewrites `data/list.json`
    /// from the newest index. Both writes are conditional, so concurrent publishers of
    /// different incidents never drop each other's entries.
    pub async fn update_index(
        &self,
        change: impl Fn(&mut PublishedIndex),
    ) -> Result<(), ProcessError> {
        document::update(self.state.as_ref(), INDEX_KEY, |old| {
            let mut index = old.unwrap_or_default();
            change(&mut index);
            Some(index)
        })
        .await?;
        self.write_list().await
    }

    /// Rewrites what derives from the index: `data/list.json` and the site. It loops
    /// until the index did not change while it wrote, so whatever writer finishes last
    /// leaves objects derived from the newest index: concurrent publishers of
    /// different incidents never drop each other's entries.
    pub async fn write_list(&self) -> Result<(), ProcessError> {
        for _ in 0..document::CAS_ATTEMPTS {
            let (index, etag) = self.read_index().await?;
            let body = serde_json::to_vec(&index.list())
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            let current = self.status.get(LIST_KEY).await?;
            if current.is_none_or(|c| c.body.as_ref() != body.as_slice()) {
                self.status
                    .put(LIST_KEY, Bytes::from(body), PutOptions::json())
                    .await?;
            }
            let objects = crate::site::render_site(&index, self.config.status_page_url.as_deref())
                .map_err(ProcessError::Permanent)?;
            for o in objects {
                self.status.put(&o.key, o.body, o.options).await?;
            }
            if self.read_index().await?.1 == etag {
                return Ok(());
            }
        }
        warn!("{INDEX_KEY}: too many concurrent writers");
        Err(ProcessError::Retryable(format!(
            "{INDEX_KEY}: too many concurrent writers"
        )))
    }

    /// The index and its etag (empty when there is none yet).
    async fn read_index(&self) -> Result<(PublishedIndex, String), ProcessError> {
        Ok(document::read(self.state.as_ref(), INDEX_KEY)
            .await?
            .unwrap_or_default())
    }
}

impl Publisher {
    /// The publisher for a configuration: with GitLab's API where `GITLAB_URL` and
    /// `GITLAB_TOKEN` are set (roles, attachments, resync), else `PUBLISHERS` alone.
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        status: Arc<dyn ObjectStore>,
    ) -> Result<Publisher, crate::config::ConfigError> {
        let gitlab = GitlabApi::from_config(&config)?.map(Arc::new);
        let authorizer: Arc<dyn Authorizer> = match &gitlab {
            Some(api) => Arc::new(crate::gitlab_api::RoleAuthorizer::new(
                api.clone(),
                config.clone(),
            )),
            None => {
                if config.microphone_trust == crate::config::MicrophoneTrust::Developers {
                    warn!(
                        "MICROPHONE_TRUST=developers needs GITLAB_URL and GITLAB_TOKEN; trusting publishers only"
                    );
                }
                Arc::new(crate::adapters::policy::ConfigAuthorizer::new(
                    config.clone(),
                ))
            }
        };
        Ok(Publisher {
            config,
            state,
            status,
            authorizer,
            gitlab,
        })
    }
}
