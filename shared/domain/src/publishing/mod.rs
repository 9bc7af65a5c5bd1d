//! Publishing: one queue message in, the incident's state merged, the status bucket
//! brought in line with it. Handling the same message twice leaves the same buckets.
//!
//! - [`incident`]: the private state of an incident and how each event merges in;
//! - [`public`]: what of it becomes public;
//! - [`authorize`]: who may publish, from configuration alone;
//! - [`postmortem`]: which note (or linked issue, `linked`) is a closed incident's
//!   postmortem;
//! - [`timeline`]: GitLab's incident timeline: what openmic did, and the key times;
//! - this module: the [`Publisher`] that reads, merges, writes and publishes, resyncs
//!   from GitLab's API, and moves an earlier release's data.

pub mod audience;
pub mod authorize;
mod components;
pub mod incident;
mod linked;
mod migrate;
pub mod postmortem;
pub mod public;
mod resync;
pub mod timeline;

pub use migrate::Migration;

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::compose::Backends;
use crate::config::{Config, ConfigError};
use crate::document;
use crate::errors::ProcessError;
use crate::gitlab::{ApiError, Gitlab, GitlabAccess};
use crate::ids::IncidentId;
use crate::intake::hooks::{Hook, HookError};
use crate::intake::projects::Projects;
use crate::maintenance::{MUTINGS_KEY, Muting, Mutings, SetBy, Stage};
use crate::message::{Envelope, Source};
use crate::ports::{Authorizer, ClaimsIn, ObjectStore, PutOptions, Queue};
use crate::site::data::{self, INDEX_KEY, LIST_KEY, PublishedIndex};
use crate::site::render::Upload;
use crate::site::{ARCHIVE_PREFIX, Page};
use crate::time;
use incident::{IncidentState, Verdict};

/// What publishing reads.
pub use crate::config::publishing::VARIABLES;

/// How one incident is applied to the status bucket.
#[derive(Debug, Clone, Copy)]
struct Apply {
    /// Queue its public changes for subscribers.
    announce: bool,
    /// Rewrite the list and the site at once.
    site: bool,
}

impl Apply {
    /// One incident, as a message brings it.
    const ONE: Apply = Apply {
        announce: true,
        site: true,
    };
    /// One of many (the tick): the caller writes the site once after them.
    const MANY: Apply = Apply {
        announce: true,
        site: false,
    };
    /// Republished under a new id (the upgrade): no news, the site once after.
    const MOVED: Apply = Apply {
        announce: false,
        site: false,
    };
}

/// What handling a message did; `id` is the incident's public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Published {
        id: u64,
    },
    Unpublished {
        id: u64,
    },
    /// State updated; nothing public to change.
    Private {
        incident: IncidentId,
    },
    Ignored(String),
    /// The components' states from their alerts taken (version `version`), or not
    /// (`taken: false`: an older version than the one kept).
    Components {
        version: u64,
        taken: bool,
    },
    /// The upstream components' states taken (version `version`), or not.
    Upstream {
        version: u64,
        taken: bool,
    },
}

/// Where the scheduled resync goes on from.
pub const RESYNC_CURSOR_KEY: &str = "index/resync-cursor.json";

/// The publisher's part: a push that touched the file (intake queued only such
/// pushes) asks for the file to be read again at the next tick.
async fn oncall_pushed(
    state: &dyn crate::ports::ObjectStore,
    envelope: &Envelope,
) -> Result<Outcome, ProcessError> {
    let push = crate::oncall::keeper::Pushed {
        delivery: envelope.delivery.clone(),
        at: envelope.received_at.clone(),
    };
    crate::document::update(
        state,
        crate::oncall::keeper::PUSH_KEY,
        |_: Option<crate::oncall::keeper::Pushed>| Some(push.clone()),
    )
    .await?;
    tracing::info!("the on-call file was pushed: read again at the next tick");
    Ok(Outcome::Ignored(
        "the on-call file was pushed; it is read again at the next tick".into(),
    ))
}

pub struct Publisher {
    pub config: Arc<Config>,
    pub state: Arc<dyn ObjectStore>,
    pub status: Arc<dyn ObjectStore>,
    pub authorizer: Arc<dyn Authorizer>,
    /// GitLab's API, where configured: attachments, resync and the note back.
    pub gitlab: Option<Arc<dyn Gitlab>>,
    pub projects: Arc<Projects>,
    /// Where public updates go for subscribers (`SUBSCRIPTIONS=on`).
    pub updates: Option<Arc<dyn Queue>>,
    /// What the site looks like and speaks (`PAGE_*`, `COMPONENTS`).
    pub page: Arc<Page>,
    /// Set once this process has seen the buckets in the current layout.
    layout_checked: tokio::sync::OnceCell<()>,
    /// The time now: maintenances' stages, and the instant the site is rendered at
    /// (its history's "today"); the system's clock, or one a test moves.
    pub clock: Arc<dyn Clock>,
    /// `INCIDENT_SLA`: incidents with a target are kept on the SLA watch list.
    pub sla: crate::sla::SlaTargets,
    /// The audience whose page this publisher writes (`None`: the public page).
    audience: Option<String>,
    /// The audience pages written beside the public one (`AUDIENCES`).
    audiences: Vec<AudienceStores>,
}

/// Where one audience's page and its own indexes are (see [`audience`]).
#[derive(Clone)]
struct AudienceStores {
    name: String,
    /// The state bucket, with `index/…` moved under the audience's index prefix.
    state: Arc<dyn ObjectStore>,
    /// The state bucket under `audiences/<name>/`.
    pages: Arc<dyn ObjectStore>,
    /// Its page: the public one's, with the audience's components.
    page: Arc<Page>,
}

impl Publisher {
    /// Handles one message body.
    pub async fn handle(&self, body: &str) -> Result<Outcome, ProcessError> {
        let envelope = Envelope::read(body, self.state.as_ref()).await?;
        if components::is_states(&envelope) {
            return self.component_states(&envelope).await;
        }
        if components::is_upstream(&envelope) {
            return self.upstream_states(&envelope).await;
        }
        if envelope.source != Source::Gitlab {
            return Err(ProcessError::Permanent(format!(
                "not a GitLab event: {:?}",
                envelope.source
            )));
        }
        if envelope.event.as_deref() == Some(openmic_intake::PUSH_HOOK) {
            return oncall_pushed(self.state.as_ref(), &envelope).await;
        }
        let mut hook =
            match Hook::parse(envelope.event.as_deref(), envelope.payload.get().as_bytes()) {
                Ok(h) => h,
                Err(HookError::Ignored(why)) => return Ok(Outcome::Ignored(why)),
                Err(HookError::Malformed(why)) => return Err(ProcessError::Permanent(why)),
            };
        let received = time::parse(&envelope.received_at).unwrap_or_else(chrono::Utc::now);
        let quirks = hook.fill_unknown_times(received);
        let project = hook.project_id();
        self.projects.admit(project).await?;
        self.check_layout().await?;
        let user = hook.user();
        let verdict = Verdict {
            may_publish: self
                .authorizer
                .may_publish(project, &user.username, user.id)
                .await?,
            trusted_microphone: self
                .authorizer
                .trusts_microphone(project, &user.username, user.id)
                .await?,
        };
        if !quirks.is_empty() {
            info!(
                ?quirks,
                "replaced what the delivery left out or wrote unreadably"
            );
        }
        let id = IncidentId::new(project, hook.iid());
        let state = self
            .update_state(id, |s| {
                s.merge(
                    &hook,
                    envelope.event.as_deref(),
                    incident::Labels {
                        publish: &self.config.publishing.publish_label,
                        maintenance: &self.config.maintenance.maintenance_label,
                    },
                    verdict,
                );
                s.note_quirks(&envelope.delivery, &quirks);
            })
            .await?;
        self.watch_sla(&state).await?;
        if let Hook::Emoji(h) = &hook {
            self.linked_postmortem(id, h, verdict).await?;
        }
        self.apply(&state).await
    }

    /// Reads, changes and writes an incident's state with a conditional write, retried
    /// if another writer got there first.
    pub async fn update_state(
        &self,
        id: IncidentId,
        change: impl Fn(&mut IncidentState),
    ) -> Result<IncidentState, ProcessError> {
        let state = document::update(self.state.as_ref(), &id.state_key(), |old| {
            let mut state = old.unwrap_or_else(|| IncidentState::new(id.iid, id.project));
            change(&mut state);
            Some(state)
        })
        .await?;
        state.ok_or_else(|| ProcessError::Retryable(format!("state of {id} vanished")))
    }

    /// Brings the status bucket in line with the state, and hands what became
    /// public to the subscribers.
    pub async fn apply(&self, state: &IncidentState) -> Result<Outcome, ProcessError> {
        self.apply_with(state, Apply::ONE).await
    }

    /// Brings the status bucket in line with the state; with `how.announce`, each
    /// public change (publication, comment, stage, close, reopen) is queued for
    /// subscribers before the bucket changes, so a retry finds it again (the same
    /// change has the same id, and is mailed once); with `how.site`, the list and the
    /// site follow at once (a caller applying many incidents writes them once after).
    async fn apply_with(&self, state: &IncidentState, how: Apply) -> Result<Outcome, ProcessError> {
        let outcome = self.apply_here(state, how).await?;
        // An incident for everyone is announced once, by the public page; one for
        // audiences only by each of their pages, to their subscribers.
        let labels = state.issue.as_ref().map_or(&[][..], |i| &i.labels[..]);
        let only = matches!(
            audience::Readers::of(labels, &self.config.audiences.audiences),
            audience::Readers::Only(_)
        );
        for a in &self.audiences {
            let view = Apply {
                announce: how.announce && only,
                ..how
            };
            self.audience_view(a).apply_here(state, view).await?;
        }
        Ok(outcome)
    }

    /// The publisher of audience `a`'s page: this one's configuration, clock and
    /// GitLab, its own stores, no audiences of its own.
    fn audience_view(&self, a: &AudienceStores) -> Publisher {
        Publisher {
            config: self.config.clone(),
            state: a.state.clone(),
            status: a.pages.clone(),
            authorizer: self.authorizer.clone(),
            gitlab: self.gitlab.clone(),
            projects: self.projects.clone(),
            updates: self.updates.clone(),
            page: a.page.clone(),
            // The layout is the public publisher's to check and move.
            layout_checked: tokio::sync::OnceCell::new_with(Some(())),
            clock: self.clock.clone(),
            sla: crate::sla::SlaTargets::default(),
            audience: Some(a.name.clone()),
            audiences: Vec::new(),
        }
    }

    /// [`Publisher::apply_with`] for this publisher's page alone.
    async fn apply_here(&self, state: &IncidentState, how: Apply) -> Result<Outcome, ProcessError> {
        let Some(id) = state.public_id(self.config.public_ids()) else {
            return Ok(Outcome::Private {
                incident: state.id(),
            });
        };
        let labels = state.issue.as_ref().map_or(&[][..], |i| &i.labels[..]);
        let readers = audience::Readers::of(labels, &self.config.audiences.audiences);
        if !readers.see(self.audience.as_deref()) {
            if let (None, true, Some(problem)) =
                (&self.audience, state.published(), readers.problem())
            {
                let text = format!(
                    "openmic shows this incident on no page: {problem}. Name one of them \
                     ({}) or remove the label.",
                    self.config
                        .audiences
                        .audiences
                        .iter()
                        .map(|a| format!("`audience::{}`", a.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return self.withhold(state, id, problem, text, how).await;
            }
            return self.take_down(state, id, how).await;
        }
        let public = self.audience.is_none();
        let now = self.clock.now();
        let maintenance = match &state.issue {
            Some(issue) => {
                public::maintenance(issue, &self.config.maintenance.maintenance_label, now)
            }
            None => Ok(None),
        };
        let maintenance = match maintenance {
            Ok(m) => m,
            // Shown nowhere rather than with a wrong time; said back.
            Err(problem) if state.published() && self.audience.is_none() => {
                let text = format!(
                    "openmic cannot show this maintenance on the status page: {}. Fix the \
                     description (for example `Window: 2026-12-01T02:00:00Z/PT2H`) and it appears.",
                    problem.0
                );
                return self.withhold(state, id, problem.0, text, how).await;
            }
            Err(_) => return self.take_down(state, id, how).await,
        };
        if state.published()
            && let Some(mut rendered) = public::render_incident(
                state,
                id,
                self.config.gitlab.gitlab_url.as_deref(),
                maintenance,
            )
        {
            // A component marked for other audiences is never named here.
            rendered.incident.components.retain(|c| self.page.shows(c));
            rendered.incident.key_times = self.key_times(state, id, &rendered.incident).await?;
            if how.announce
                && let Some(queue) = &self.updates
            {
                self.announce(queue.as_ref(), id, &rendered.incident)
                    .await?;
            }
            let body = rendered
                .incident
                .to_json()
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            self.status
                .put(&data::detail_key(id), Bytes::from(body), PutOptions::json())
                .await?;
            let page = crate::site::render_incident_page(&rendered.incident, &self.page)
                .map_err(|e| ProcessError::permanent(&e))?;
            self.status.put(&page.key, page.body, page.options).await?;
            let muting = self.muting(state, &rendered.incident);
            let summary = data::IndexEntry::of(&rendered.incident, state.id(), muting);
            self.update_index(how, |index| {
                index.incidents.insert(id, summary.clone());
            })
            .await?;
            info!(
                id,
                incident = %state.id(),
                comments = rendered.incident.comments.as_ref().map_or(0, Vec::len),
                stage = rendered.incident.stage.as_deref(),
                "published"
            );
            if public {
                self.hold_delivery(state).await?;
            }
            // The text is public now; the files follow.
            self.sync_files(state.project_id, id, &rendered.uploads)
                .await?;
            if public {
                self.link_back(state, id).await?;
                self.write_timeline(state, &rendered.incident).await?;
            }
            return Ok(Outcome::Published { id });
        }
        self.take_down(state, id, how).await
    }

    /// Removes what is public of an incident that is not (or no longer) to be.
    async fn take_down(
        &self,
        state: &IncidentState,
        id: u64,
        how: Apply,
    ) -> Result<Outcome, ProcessError> {
        // With audiences, an incident this page never showed (one for another
        // audience) changes nothing here: its site is not written again. Without
        // them, the one page is always brought in line, as a take-down stopped
        // halfway and retried must be.
        let here = self.audience.is_none() && self.audiences.is_empty() || self.shows(id).await?;
        if state.ever_published() && here {
            self.remove_public(id).await?;
            self.update_index(how, |index| {
                index.incidents.remove(&id);
                index.withdrawn.insert(id);
            })
            .await?;
            info!(id, incident = %state.id(), "unpublished");
            return Ok(Outcome::Unpublished { id });
        }
        Ok(Outcome::Private {
            incident: state.id(),
        })
    }

    /// Whether this page holds anything of incident `id`, or may: its detail (written
    /// first when published, removed first when taken down), its entry in the index,
    /// or its mark as taken down here (written with the entry's removal, before the
    /// list and the site), so a publication or a take-down stopped halfway counts.
    async fn shows(&self, id: u64) -> Result<bool, ProcessError> {
        if self.status.get(&data::detail_key(id)).await?.is_some() {
            return Ok(true);
        }
        let (index, _) = self.read_index().await?;
        Ok(index.incidents.contains_key(&id) || index.withdrawn.contains(&id))
    }

    /// Queues the updates between what is public of incident `id` and `after`.
    async fn announce(
        &self,
        queue: &dyn Queue,
        id: u64,
        after: &data::Incident,
    ) -> Result<(), ProcessError> {
        let before = match self.status.get(&data::detail_key(id)).await? {
            None => None,
            Some(o) => match serde_json::from_slice::<data::Incident>(&o.body) {
                Ok(i) => Some(i),
                Err(e) => {
                    warn!(id, error = %e, "the published detail is unreadable; no update from this change");
                    return Ok(());
                }
            },
        };
        let mut updates = crate::subscriptions::detect(before.as_ref(), after);
        // An audience page's updates go to its subscribers alone, each audience's
        // under an id of its own (an incident for two audiences is two updates).
        if let Some(a) = &self.audience {
            for u in &mut updates {
                u.audience = Some(a.clone());
                u.id = format!("{a}.{}", u.id);
            }
        }
        if updates.is_empty() {
            return Ok(());
        }
        let claims = ClaimsIn(self.state.clone());
        crate::subscriptions::announce(queue, Some(&claims), &updates).await?;
        for u in &updates {
            info!(id, update = %u.id, kind = u.kind.as_str(), "update queued for subscribers");
        }
        Ok(())
    }

    /// An incident that cannot be shown (a maintenance whose window cannot be read, a
    /// label naming no audience): nothing of it is public; the problem goes into its
    /// audit and, with API access, once into a note (`text`) on its issue.
    async fn withhold(
        &self,
        state: &IncidentState,
        id: u64,
        problem: String,
        text: String,
        how: Apply,
    ) -> Result<Outcome, ProcessError> {
        warn!(incident = %state.id(), %problem, "withheld");
        let now = self.clock.now();
        let incident = state.id();
        let state = self
            .update_state(incident, |s| s.note_problem(&problem, now))
            .await?;
        let outcome = self.take_down(&state, id, how).await?;
        self.note_once(&state, &problem, &text).await?;
        Ok(outcome)
    }

    /// With API access, says a problem the state records in a note on the issue, once:
    /// the state remembers that it was said.
    async fn note_once(
        &self,
        state: &IncidentState,
        problem: &str,
        text: &str,
    ) -> Result<(), ProcessError> {
        let Some(api) = &self.gitlab else {
            return Ok(());
        };
        let said = state.problems.iter().rev().find(|p| p.text == problem);
        if said.is_none_or(|p| p.noted) {
            return Ok(());
        }
        let incident = state.id();
        match api.add_note(incident, text).await {
            Ok(()) => {
                self.update_state(incident, |s| s.problem_noted(problem))
                    .await?;
            }
            Err(ApiError::Transient(m)) => return Err(ProcessError::Retryable(m)),
            Err(e) => warn!(%incident, error = %e, "the problem could not be noted on the issue"),
        }
        Ok(())
    }

    /// What a published maintenance mutes, for the notifier: its window, components and
    /// `Mute:` line as a publisher's change last set them (none before one, or when
    /// that change left no window that can be read); its title and closing as they are.
    fn muting(&self, state: &IncidentState, incident: &data::Incident) -> Option<Muting> {
        let effective = state.effective.as_ref()?;
        let delivery = state.effective_delivery(&self.config.maintenance.maintenance_label);
        Some(Muting {
            id: incident.id,
            title: crate::site::text_of(&incident.title),
            window: delivery.window()?,
            closed_at: incident.closed_at,
            mute: delivery.mute(),
            components: delivery.components,
            set_by: Some(SetBy {
                by: effective.by.clone(),
                at: effective.at,
            }),
            widened: vec![],
        })
    }

    /// A published incident whose issue, as it reads now, would change what alerts do
    /// otherwise than a publisher last set: the change waits for a publisher. It goes
    /// into the state's problems and, with API access, into one note on the issue for
    /// as long as the same publisher's change stands, whatever else is edited or
    /// retried.
    async fn hold_delivery(&self, state: &IncidentState) -> Result<(), ProcessError> {
        let held = state.held_delivery(&self.config.maintenance.maintenance_label);
        if held.is_empty() {
            return Ok(());
        }
        let problem = state.held_problem();
        warn!(incident = %state.id(), changed = ?held, "a change to what alerts do waits for a publisher");
        let state = match state.problems.iter().any(|p| p.text == problem) {
            true => state.clone(),
            false => {
                let now = self.clock.now();
                self.update_state(state.id(), |s| {
                    if !s.problems.iter().any(|p| p.text == problem) {
                        s.note_problem(&problem, now);
                    }
                })
                .await?
            }
        };
        let text = format!(
            "openmic: {problem}. Only a publisher's change decides what alerts do: a \
             publisher editing the description, changing the labels that publish it or \
             decide its alerts, or commenting `/publish` makes the issue as it then reads \
             take effect."
        );
        self.note_once(&state, &problem, &text).await
    }

    /// Removes everything public of the incident numbered `id`: the detail first, so
    /// that nothing of it stays reachable if we stop halfway, then its page and files.
    async fn remove_public(&self, id: u64) -> Result<(), ProcessError> {
        self.status.delete(&data::detail_key(id)).await?;
        self.status
            .delete(&crate::site::incident_page_key(id))
            .await?;
        let removed = self.status.delete_prefix(&data::files_prefix(id)).await?;
        info!(id, files = removed, "public files removed");
        Ok(())
    }

    /// With API access and `LINK_BACK`, the first publication leaves one note on the
    /// issue with the incident's public page, never a second (the state remembers it).
    /// The issue's notes are read first, so a retry after a lost state write never
    /// notes it twice either.
    async fn link_back(&self, state: &IncidentState, id: u64) -> Result<(), ProcessError> {
        let (Some(api), true, None) = (
            &self.gitlab,
            self.config.publishing.link_back,
            state.linked_back,
        ) else {
            return Ok(());
        };
        let Some(base) = self.config.site.status_page_url.as_deref() else {
            warn!("LINK_BACK: STATUS_PAGE_URL is not set, so there is no public URL to note");
            return Ok(());
        };
        let url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            crate::site::incident_page_key(id)
        );
        let incident = state.id();
        let noted = match api.notes(incident).await {
            Ok(notes) => notes.iter().any(|n| n.body.contains(&url)),
            Err(ApiError::Transient(m)) => return Err(ProcessError::Retryable(m)),
            Err(e) => {
                warn!(%incident, error = %e, "LINK_BACK: the issue's notes could not be read");
                return Ok(());
            }
        };
        if !noted {
            match api.add_note(incident, &link_back_note(&url)).await {
                Ok(()) => info!(%incident, %url, "public URL noted on the issue"),
                Err(ApiError::Transient(m)) => return Err(ProcessError::Retryable(m)),
                Err(e) => {
                    // A token without the `api` scope: said once by the client, and the
                    // publication stands.
                    warn!(%incident, error = %e, "LINK_BACK: no note added");
                    return Ok(());
                }
            }
        }
        let now = self.clock.now();
        self.update_state(incident, |s| {
            s.linked_back.get_or_insert(now);
        })
        .await?;
        Ok(())
    }

    /// Copies the uploads the published text points at into the status bucket (those
    /// not there yet), and removes files no published text points at any more. A
    /// failed download leaves nothing behind and fails the message for a retry; the
    /// text is already public.
    async fn sync_files(
        &self,
        project: u64,
        id: u64,
        uploads: &[Upload],
    ) -> Result<(), ProcessError> {
        let prefix = data::files_prefix(id);
        let present: BTreeSet<String> = self.status.list(&prefix).await?.into_iter().collect();
        let wanted: BTreeSet<String> = uploads.iter().map(|u| u.key(id)).collect();
        for stale in present.difference(&wanted) {
            self.status.delete(stale).await?;
        }
        let Some(api) = &self.gitlab else {
            return Ok(());
        };
        let mut retry = None;
        for upload in uploads {
            let key = upload.key(id);
            if present.contains(&key) {
                continue;
            }
            let copied = api
                .copy_upload(
                    project,
                    &upload.secret,
                    &upload.name,
                    self.status.as_ref(),
                    &key,
                )
                .await;
            match copied {
                Ok(true) => info!(id, key, "upload copied"),
                Ok(false) => warn!(id, key, "upload not found in GitLab; its link stays broken"),
                Err(ApiError::Transient(m)) => retry = Some(m),
                Err(e) => {
                    warn!(id, key, error = %e, "upload not copied");
                }
            }
        }
        match retry {
            Some(m) => Err(ProcessError::Retryable(format!("incident {id}: {m}"))),
            None => Ok(()),
        }
    }

    /// Changes the private index of published incidents, then (with `how.site`)
    /// rewrites `data/list.json` and the site from the newest index: this page's
    /// alone (each audience's page is brought in line by its own view). Both writes are
    /// conditional, so concurrent publishers of different incidents never drop each
    /// other's entries.
    async fn update_index(
        &self,
        how: Apply,
        change: impl Fn(&mut PublishedIndex),
    ) -> Result<(), ProcessError> {
        let ids = self.config.public_ids();
        document::update(self.state.as_ref(), INDEX_KEY, |old| {
            let mut index = old.unwrap_or_else(|| PublishedIndex::new(ids));
            change(&mut index);
            Some(index)
        })
        .await?;
        if how.site {
            self.write_list_here().await?;
        }
        Ok(())
    }

    /// Rewrites what derives from the index: `data/list.json` and the site, as of the
    /// clock's now; removes archive months that no longer have anything; and when the
    /// pages' templates, language or brand changed, renders every incident page again
    /// from its public detail. It loops until the index did not change while it
    /// wrote, so whatever writer finishes last leaves objects derived from the newest
    /// index: concurrent publishers of different incidents never drop each other's
    /// entries.
    pub async fn write_list(&self) -> Result<(), ProcessError> {
        self.write_list_here().await?;
        for a in &self.audiences {
            self.audience_view(a).write_list_here().await?;
        }
        Ok(())
    }

    /// [`Publisher::write_list`] for this publisher's page alone.
    async fn write_list_here(&self) -> Result<(), ProcessError> {
        for _ in 0..document::CAS_ATTEMPTS {
            let (index, etag) = self.read_index().await?;
            if index.pages.as_deref() != Some(self.page.fingerprint())
                && !index.incidents.is_empty()
            {
                self.rerender_pages(&index).await?;
                continue;
            }
            let body = serde_json::to_vec(&index.list())
                .map_err(|e| ProcessError::Permanent(e.to_string()))?;
            let current = self.status.get(LIST_KEY).await?;
            if current.is_none_or(|c| c.body.as_ref() != body.as_slice()) {
                self.status
                    .put(LIST_KEY, Bytes::from(body), PutOptions::json())
                    .await?;
            }
            let objects = crate::site::render_site(&index, &self.page, self.clock.now())
                .map_err(|e| ProcessError::permanent(&e))?;
            let derived: BTreeSet<String> = objects
                .iter()
                .filter(|o| {
                    o.key.starts_with(ARCHIVE_PREFIX)
                        || o.key.starts_with(crate::site::COMPONENT_FEEDS)
                })
                .map(|o| o.key.clone())
                .collect();
            for o in objects {
                self.status.put(&o.key, o.body, o.options).await?;
            }
            // A month whose incidents were all unpublished names none of them any more;
            // a component no published incident names keeps no feed.
            for prefix in [ARCHIVE_PREFIX, crate::site::COMPONENT_FEEDS] {
                for stale in self.status.list(prefix).await? {
                    if !derived.contains(&stale) {
                        self.status.delete(&stale).await?;
                    }
                }
            }
            if self.audience.is_none() {
                self.write_mutings(&index).await?;
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

    /// Renders every published incident's page again from its public detail, then
    /// notes in the index what they were rendered with.
    async fn rerender_pages(&self, index: &PublishedIndex) -> Result<(), ProcessError> {
        for id in index.incidents.keys() {
            let Some(object) = self.status.get(&data::detail_key(*id)).await? else {
                continue;
            };
            let detail: data::Incident = serde_json::from_slice(&object.body)
                .map_err(|e| ProcessError::Permanent(format!("{}: {e}", data::detail_key(*id))))?;
            let page = crate::site::render_incident_page(&detail, &self.page)
                .map_err(|e| ProcessError::permanent(&e))?;
            self.status.put(&page.key, page.body, page.options).await?;
        }
        let fingerprint = self.page.fingerprint().to_owned();
        info!(
            pages = index.incidents.len(),
            fingerprint, "incident pages rendered again"
        );
        document::update(
            self.state.as_ref(),
            INDEX_KEY,
            |old: Option<PublishedIndex>| {
                old.map(|mut index| {
                    index.pages = Some(fingerprint.clone());
                    index
                })
            },
        )
        .await?;
        Ok(())
    }

    /// `index/maintenance.json`, for the notifier: the published maintenances not over
    /// for more than a day, with what they mute. Written only when it changes.
    async fn write_mutings(&self, index: &PublishedIndex) -> Result<(), ProcessError> {
        let since = self.clock.now() - chrono::Duration::days(1);
        let current = self.state.get(MUTINGS_KEY).await?;
        let before: Mutings = current
            .as_ref()
            .and_then(|c| serde_json::from_slice(&c.body).ok())
            .unwrap_or_default();
        let mut mutings = Mutings::default();
        for e in index.incidents.values() {
            let Some(mut muting) = e.muting.clone() else {
                continue;
            };
            if muting.ends_at() < since {
                continue;
            }
            // A publisher's change that mutes more than the one before is told to the
            // maintainers once (by the notifier): what it widened stays with it.
            if let Some(old) = before.maintenances.iter().find(|m| m.id == muting.id) {
                muting.widened = match old.set_by == muting.set_by {
                    true => old.widened.clone(),
                    false => crate::alerts::muting::widened(&muting, old),
                };
            }
            mutings.maintenances.push(muting);
        }
        let body =
            serde_json::to_vec(&mutings).map_err(|e| ProcessError::Permanent(e.to_string()))?;
        if current.is_none_or(|c| c.body.as_ref() != body.as_slice()) {
            self.state
                .put(MUTINGS_KEY, Bytes::from(body), PutOptions::private_json())
                .await?;
        }
        Ok(())
    }

    /// Moves every published maintenance to its stage at the clock's time (the
    /// scheduled tick, every minute): each one whose public stage is no longer right
    /// is published again, and the site follows. Returns how many moved.
    pub async fn tick(&self) -> Result<usize, ProcessError> {
        let mut moved = self.tick_here().await?;
        for a in &self.audiences {
            moved += self.audience_view(a).tick_here().await?;
        }
        Ok(moved)
    }

    /// [`Publisher::tick`] for this publisher's page alone.
    async fn tick_here(&self) -> Result<usize, ProcessError> {
        self.check_layout().await?;
        let now = self.clock.now();
        let (index, _) = self.read_index().await?;
        let mut moved = 0;
        let mut failed = None;
        for e in index.incidents.values() {
            let i = &e.incident;
            let (Some(window), Some(stage), Some(source)) =
                (i.window, i.stage.as_deref(), e.source)
            else {
                continue;
            };
            if Stage::at(&window, i.status == "closed", now).as_str() == stage {
                continue;
            }
            let outcome =
                match document::read::<IncidentState>(self.state.as_ref(), &source.state_key())
                    .await
                {
                    Ok(None) => continue,
                    Ok(Some((state, _))) => self.apply_here(&state, Apply::MANY).await,
                    Err(e) => Err(e),
                };
            match outcome {
                Ok(outcome) => {
                    info!(id = i.id, from = stage, ?outcome, "maintenance moved on");
                    moved += 1;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // The site once, for all that moved, even when one failed (perhaps after its
        // stage reached the index, when no later tick would move it again).
        let written = match moved > 0 || failed.is_some() {
            true => self.write_list_here().await,
            false => Ok(()),
        };
        match (failed, written) {
            (None, written) => written.map(|()| moved),
            // The failure that stopped the tick is the one to report.
            (Some(e), Err(site)) => {
                warn!(error = %site, "tick: the site was not written after a failure");
                Err(e)
            }
            (Some(e), Ok(())) => Err(e),
        }
    }

    /// The index and its etag (empty when there is none yet).
    async fn read_index(&self) -> Result<(PublishedIndex, String), ProcessError> {
        Ok(document::read(self.state.as_ref(), INDEX_KEY)
            .await?
            .unwrap_or_default())
    }
}

impl Publisher {
    /// With `INCIDENT_SLA`, keeps the incident on the SLA watch list as its state now
    /// reads (written only when that changes), for the notifier's tick.
    async fn watch_sla(&self, state: &IncidentState) -> Result<(), ProcessError> {
        if self.sla.is_empty() {
            return Ok(());
        }
        let seen = state.sla_seen(&self.config.maintenance.maintenance_label);
        let id = state.id();
        let (watch, _) =
            document::read::<crate::sla::Watch>(self.state.as_ref(), crate::sla::WATCH_KEY)
                .await?
                .unwrap_or_default();
        let key = id.to_string();
        let unchanged = match (&seen, watch.incidents.get(&key)) {
            (None, None) => true,
            (Some(s), Some(w)) => &w.seen == s,
            _ => false,
        };
        if unchanged {
            return Ok(());
        }
        let now = self.clock.now();
        document::update(self.state.as_ref(), crate::sla::WATCH_KEY, |old| {
            let mut watch: crate::sla::Watch = old.unwrap_or_default();
            watch.observe(id, seen.clone());
            watch.prune(now);
            Some(watch)
        })
        .await?;
        Ok(())
    }
}

/// The note a first publication leaves on its issue.
fn link_back_note(url: &str) -> String {
    format!("Published on the status page: {url}")
}

impl Publisher {
    /// The publisher for a configuration: with GitLab's API where it is configured
    /// (roles, attachments, resync, the note back), else `PUBLISHERS` alone.
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        status: Arc<dyn ObjectStore>,
        gitlab: Option<GitlabAccess>,
    ) -> Publisher {
        let authorizer: Arc<dyn Authorizer> = match &gitlab {
            Some(access) => access.roles.clone(),
            None => {
                if config.publishing.microphone_trust == crate::config::MicrophoneTrust::Developers
                {
                    warn!(
                        "MICROPHONE_TRUST=developers needs GITLAB_URL and GITLAB_TOKEN; trusting publishers only"
                    );
                }
                Arc::new(authorize::ConfigAuthorizer::new(config.clone()))
            }
        };
        let gitlab = gitlab.map(|g| g.api);
        let sla = crate::sla::SlaTargets::from_config(&config).unwrap_or_else(|e| {
            warn!(error = %e, "no SLA timers");
            crate::sla::SlaTargets::default()
        });
        let page = Arc::new(Page::new(&config));
        let audiences = config
            .audiences
            .audiences
            .iter()
            .map(|a| AudienceStores {
                page: Arc::new(page.for_audience(&config, &a.name)),
                name: a.name.clone(),
                state: Arc::new(audience::Prefixed::only(
                    state.clone(),
                    audience::index_prefix(&a.name),
                    "index/",
                )) as Arc<dyn ObjectStore>,
                pages: Arc::new(audience::Prefixed::all(
                    state.clone(),
                    audience::pages_prefix(&a.name),
                )),
            })
            .collect();
        Publisher {
            projects: Arc::new(Projects::new(&config, Some(state.clone()))),
            page,
            config,
            state,
            status,
            authorizer,
            gitlab,
            updates: None,
            layout_checked: tokio::sync::OnceCell::new(),
            clock: Arc::new(SystemClock),
            sla,
            audience: None,
            audiences,
        }
    }

    /// The publisher composed from a process's backends: the state and status
    /// buckets, GitLab's API where configured, the updates queue where public updates
    /// are sent on (subscribers, `UPDATE_CHANNELS`), the backends' clock.
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<Publisher, ConfigError> {
        crate::sla::SlaTargets::from_config(&config)?;
        let mut publisher = Publisher::new(
            config,
            backends.state()?,
            backends.status()?,
            backends.gitlab.clone(),
        )
        .with_clock(backends.clock.clone());
        if let Some(queue) = &backends.updates {
            publisher = publisher.with_updates(queue.clone());
        }
        Ok(publisher)
    }

    /// Hands public updates to `queue` for subscribers (`SUBSCRIPTIONS=on`).
    pub fn with_updates(mut self, queue: Arc<dyn Queue>) -> Publisher {
        self.updates = Some(queue);
        self
    }

    /// The publisher with another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Publisher {
        self.clock = clock;
        self
    }
}
