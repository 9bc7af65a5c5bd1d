//! The queue's side: a [`Job`] done against GitLab and the alert records, every
//! action noted on the issue (internal) naming who did it and from where, and the
//! result posted to the request's `response_url`. A job is done once: what GitLab
//! refuses or cannot take is said in the result, never retried into a second issue,
//! and a declare delivered twice finds the incident the first declared (by the job's
//! delivery id) and opens no second issue.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::json;
use tracing::{info, warn};

use super::accept::may_answer_at;
use super::publish::queue_award;
use super::{ACK_BUTTON, Commands, Job, RESOLVE_BUTTON, SILENCE_BUTTON, Work};
use crate::alerts::Severity;
use crate::alerts::declared::{Declared, Routing};
use crate::alerts::escalating::Begun;
use crate::alerts::lifecycle::Notifier;
use crate::alerts::links::LinkAction;
use crate::alerts::record::{ActionRecord, AlertRecord, IssueLink, RecordStatus, Via, key_of};
use crate::alerts::timeline;
use crate::chat::commands::bridge;
use crate::chat::commands::reply::{self, Visibility};
use crate::chat::commands::{Command, Platform, Refusal};
use crate::document;
use crate::errors::ProcessError;
use crate::gitlab::{ApiError, ApiIssue, Gitlab};
use crate::ids::IncidentId;
use crate::message::{Envelope, Source};
use crate::oncall::schedule::on_call_now;

/// What a job is worked with beside itself: its delivery id (the same for a job
/// delivered twice) and the notifier that escalates.
struct On<'a> {
    delivery: &'a str,
    notifier: &'a Notifier,
}

/// What working a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worked {
    pub visibility: Visibility,
    pub text: String,
    /// Whether the result reached the `response_url`.
    pub posted: bool,
}

/// A result for whoever asked, or for the channel.
pub(super) struct Said {
    visibility: Visibility,
    text: String,
}

pub(super) fn to_user(text: impl Into<String>) -> Said {
    Said {
        visibility: Visibility::Ephemeral,
        text: text.into(),
    }
}

fn to_channel(text: impl Into<String>) -> Said {
    Said {
        visibility: Visibility::InChannel,
        text: text.into(),
    }
}

/// What stops a job half way: said to whoever asked.
pub(super) struct Stop(Said);

impl From<Said> for Stop {
    fn from(s: Said) -> Stop {
        Stop(s)
    }
}

/// GitLab refused or did not answer: logged, and said without its detail.
fn gitlab_failed(what: &str, e: &ApiError) -> Stop {
    warn!(what, error = %e, "chat command: GitLab did not take it");
    Stop(to_user(format!(
        "GitLab did not take the {what} ({}); nothing more was done.",
        match e {
            ApiError::Config { .. } => "openmic's GitLab token may not do it",
            ApiError::Transient(_) => "it did not answer",
            ApiError::Permanent(_) => "it refused",
        }
    )))
}

/// `@alice`.
pub(super) fn who(job: &Job) -> String {
    format!("@{}", job.gitlab_user.as_deref().unwrap_or(&job.user_name))
}

/// `from Slack (user U1, channel C1)`.
pub(super) fn from_where(job: &Job) -> String {
    format!(
        "from {} (user {}, channel {})",
        job.platform.title(),
        job.user_id,
        job.channel_id
    )
}

/// What the channel is told of on call for a declared incident: who was paged, or
/// why nobody was.
fn on_call_said(r: &Routing, labels: &std::collections::BTreeMap<String, String>) -> String {
    let described = || {
        labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ack = format!(
        "Acknowledge with the link in the page or `/incident ack {}`.",
        r.id
    );
    match &r.begun {
        Begun::NoOnCall => "Nobody was paged: openmic has no on-call file (ONCALL_CONFIG).".into(),
        Begun::NoFile => {
            "Nobody was paged: no on-call file that validates has been read yet.".into()
        }
        Begun::NoPolicy => format!(
            "Nobody was paged: no policy of the on-call file matches {}.",
            described()
        ),
        Begun::Quiet => "Nobody was paged: the incident is silenced.".into(),
        Begun::Already { policy } | Begun::Began { policy, .. } => {
            let mut text = format!("On call: policy `{policy}`");
            let mut paged: Vec<String> = Vec::new();
            for p in &r.paged {
                let how = if p.by.is_empty() {
                    "could not be reached".to_owned()
                } else {
                    format!("by {}", p.by.join(", "))
                };
                paged.push(format!("{} ({}) {how}", p.to, p.because));
            }
            if paged.is_empty() {
                text.push_str(", nobody paged yet");
            } else {
                let _ = write!(text, ", paged {}", paged.join("; "));
            }
            if let Some(step) = r.steps_without_anyone.first() {
                let _ = write!(text, "; step {step} found nobody on call");
            }
            if let Begun::Began {
                next: Some(next), ..
            } = &r.begun
            {
                let _ = write!(
                    text,
                    "; it escalates at {} unless acknowledged",
                    crate::time::format(next)
                );
            }
            let _ = write!(text, ". {ack}");
            text
        }
    }
}

fn severity_label(s: Severity) -> String {
    format!("severity::{}", s.as_str())
}

impl Commands {
    /// Handles one queue message of the chat kind; `notifier` is the alerts queue's
    /// own, which escalates what is declared ([`crate::alerts::declared`]).
    pub async fn handle(&self, body: &str, notifier: &Notifier) -> Result<Worked, ProcessError> {
        let envelope = Envelope::read(body, self.state.as_ref()).await?;
        if envelope.source != Source::Chat {
            return Err(ProcessError::Permanent(format!(
                "not a chat job: {:?}",
                envelope.source
            )));
        }
        let job: Job = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("chat job: {e}")))?;
        let on = On {
            delivery: &envelope.delivery,
            notifier,
        };
        let said = match self.work(&job, &on).await {
            Ok(said) | Err(Stop(said)) => said,
        };
        let posted = self.post(&job, &said).await;
        Ok(Worked {
            visibility: said.visibility,
            text: said.text,
            posted,
        })
    }

    /// Posts the result to the job's `response_url`, if it is on its service's origin.
    async fn post(&self, job: &Job, said: &Said) -> bool {
        let (Some(url), Some(outbound)) = (&job.response_url, &self.outbound) else {
            warn!("chat command: no response_url or no outbound HTTP; the result is dropped");
            return false;
        };
        if !may_answer_at(&self.config, job.platform, url) {
            warn!(
                platform = job.platform.as_str(),
                "chat command: response_url is not on its service's origin; not posted"
            );
            return false;
        }
        let mut body = reply::reply(job.platform, said.visibility, &said.text);
        body["replace_original"] = json!(false);
        let headers = [("content-type", "application/json".to_owned())];
        match outbound
            .post(url, &headers, Bytes::from(body.to_string()))
            .await
        {
            Ok(a) if (200..300).contains(&a.status) => true,
            Ok(a) => {
                warn!(
                    status = a.status,
                    "chat command: the response_url refused the result"
                );
                false
            }
            Err(e) => {
                warn!(error = %e, "chat command: the response_url did not answer");
                false
            }
        }
    }

    async fn work(&self, job: &Job, on: &On<'_>) -> Result<Said, Stop> {
        match &job.work {
            Work::Command { text } => {
                let parsed = match job.platform {
                    Platform::Slack => Command::parse_slack(text),
                    Platform::Mattermost => Command::parse(text),
                };
                let command = parsed.map_err(|p| to_user(format!("{p}.")))?;
                info!(
                    command = command.name(),
                    platform = job.platform.as_str(),
                    "chat command"
                );
                let job = self.acting_or_refused(job, command.reads_only()).await?;
                self.command(&job, command, on).await
            }
            Work::Button { action, alert } => {
                let job = self.acting_or_refused(job, false).await?;
                self.button(&job, action, alert).await
            }
        }
    }

    /// The job as its user acts on it, or the reply that nothing knows them (checked
    /// here again, where the action happens).
    async fn acting_or_refused(&self, job: &Job, reads_only: bool) -> Result<Job, Stop> {
        self.acting(job, reads_only)
            .await
            .ok_or_else(|| Stop(to_user(Refusal::Unmapped.to_string())))
    }

    async fn command(&self, job: &Job, command: Command, on: &On<'_>) -> Result<Said, Stop> {
        match command {
            Command::Declare {
                title,
                severity,
                components,
            } => self.declare(job, on, &title, severity, &components).await,
            Command::List => self.list().await,
            Command::Update { iid, public, text } => self.update(job, iid, public, &text).await,
            Command::Ack { alert } => self.ack(job, &alert, None, Via::Command).await,
            Command::Resolve { iid } => self.resolve(job, iid).await,
            Command::Bridge { iid, url } => self.bridge(job, iid, &url).await,
            Command::Page { target, text } => self.page(job, &target, &text).await,
            Command::Help => Ok(to_user(reply::usage())),
        }
    }

    async fn button(&self, job: &Job, action: &str, alert: &str) -> Result<Said, Stop> {
        match action {
            ACK_BUTTON => self.ack(job, alert, None, Via::Button).await,
            SILENCE_BUTTON => {
                let until = self.clock.now() + chrono::Duration::hours(1);
                self.ack(job, alert, Some(until), Via::Button).await
            }
            RESOLVE_BUTTON => {
                let record = self.record(alert).await?;
                let Some(issue) = record.issue else {
                    return Err(to_user("This alert has no incident issue to resolve.").into());
                };
                self.resolve(job, issue.iid).await
            }
            _ => Err(to_user("That button is not one of openmic's.").into()),
        }
    }

    /// GitLab's API and the project incidents are opened in, or why not.
    fn api(&self) -> Result<(&dyn Gitlab, u64), Stop> {
        let Some(access) = &self.gitlab else {
            return Err(to_user(
                "openmic has no GitLab API access here (GITLAB_URL and GITLAB_TOKEN); nothing was done.",
            )
            .into());
        };
        let Some(project) = self.config.home_project() else {
            return Err(to_user("GITLAB_PROJECT_ID is not set; nothing was done.").into());
        };
        Ok((access.api.as_ref(), project))
    }

    /// Incident `iid` of the project, or why not.
    async fn incident(&self, iid: u64) -> Result<(IncidentId, ApiIssue), Stop> {
        let (api, project) = self.api()?;
        let id = IncidentId::new(project, iid);
        match api.issue(id).await {
            Ok(Some(issue)) => Ok((id, issue)),
            Ok(None) => Err(to_user(format!(
                "There is no incident #{iid} in this project; nothing was done."
            ))
            .into()),
            Err(e) => Err(gitlab_failed("lookup of the incident", &e)),
        }
    }

    /// Notes on the issue who did what from where (internal: it names chat users).
    async fn note(&self, id: IncidentId, job: &Job, what: &str) {
        let Ok((api, _)) = self.api() else { return };
        let body = format!("{what} by {} {}.", who(job), from_where(job));
        if let Err(e) = api.create_note(id, &body, true).await {
            warn!(error = %e, "chat command: the note naming who acted could not be added");
        }
    }

    /// Opens the incident issue, posts it in the channel, and pages the on-call
    /// policy its labels route to ([`crate::alerts::declared`]); a job done before
    /// (delivered twice, tried again) opens no second issue and pages nobody again.
    async fn declare(
        &self,
        job: &Job,
        on: &On<'_>,
        title: &str,
        severity: Option<Severity>,
        components: &[String],
    ) -> Result<Said, Stop> {
        let (api, project) = self.api()?;
        let before = match on.notifier.declared_issue(on.delivery).await {
            Ok(issue) => issue,
            Err(e) => {
                warn!(error = %e, "chat command: whether the declare was done before is unknown");
                return Err(
                    to_user("openmic could not read its records just now; try again.").into(),
                );
            }
        };
        let issue = match before.clone() {
            Some(issue) => issue,
            None => {
                let issue = self
                    .open_declared(job, api, project, title, severity, components)
                    .await?;
                IssueLink {
                    id: Some(issue.id),
                    project: Some(project),
                    iid: issue.iid,
                    url: issue.web_url.clone().unwrap_or_default(),
                    closed: false,
                    call_link: None,
                    chart: false,
                }
            }
        };
        let declared = Declared {
            delivery: on.delivery.to_owned(),
            title: title.to_owned(),
            severity,
            components: components.to_vec(),
            platform: job.platform,
            by: who(job),
            issue: issue.clone(),
            at: self.clock.now(),
        };
        let routing = on.notifier.declare(&declared).await;
        // Done before: told again only where this run began the paging (the first
        // stopped short of it).
        let began = matches!(
            &routing,
            Ok(Routing {
                begun: Begun::Began { .. },
                ..
            })
        );
        if before.is_some() && !began {
            return Ok(to_user(format!(
                "Incident #{} was declared by this request already; nothing more was done.",
                issue.iid
            )));
        }
        let mut text = format!("Incident #{} declared by {}: {title}", issue.iid, who(job));
        if let Some(s) = severity {
            let _ = write!(text, "\nSeverity: {}", s.as_str());
        }
        if !components.is_empty() {
            let _ = write!(text, "\nComponents: {}", components.join(", "));
        }
        if !issue.url.is_empty() {
            let _ = write!(text, "\nIssue: {}", issue.url);
        }
        let labels = crate::alerts::declared::labels(title, severity, components, job.platform);
        match routing {
            Ok(r) => {
                let _ = write!(text, "\n{}", on_call_said(&r, &labels));
            }
            Err(e) => {
                warn!(error = %e, "chat command: the declared incident's paging did not start");
                text.push_str(
                    "\nNobody was paged: openmic could not record the incident for paging just now; page with `/incident page`.",
                );
            }
        }
        Ok(to_channel(text))
    }

    /// Opens a declared incident's issue and notes who declared it from where.
    async fn open_declared(
        &self,
        job: &Job,
        api: &dyn Gitlab,
        project: u64,
        title: &str,
        severity: Option<Severity>,
        components: &[String],
    ) -> Result<ApiIssue, Stop> {
        let mut labels: Vec<String> = severity.into_iter().map(severity_label).collect();
        labels.extend(components.iter().map(|c| format!("component::{c}")));
        let mut description = String::new();
        if let Some(name) = &self.config.alert_routing.incident_template {
            match api.issue_template(project, name).await {
                Ok(Some(t)) => description.push_str(&t),
                Ok(None) => warn!(template = %name, "INCIDENT_TEMPLATE names no issue template"),
                Err(e) => warn!(error = %e, "INCIDENT_TEMPLATE could not be read"),
            }
        }
        let issue = api
            .create_incident(project, title, &description, &labels.join(","))
            .await
            .map_err(|e| gitlab_failed("new incident", &e))?;
        self.note(IncidentId::new(project, issue.iid), job, "Declared")
            .await;
        Ok(issue)
    }

    async fn update(&self, job: &Job, iid: u64, public: bool, text: &str) -> Result<Said, Stop> {
        let (id, issue) = self.incident(iid).await?;
        let (api, _) = self.api()?;
        let user = job.gitlab_user.as_deref().unwrap_or_default();
        let publishes = public && self.may_publish(id, user).await;
        let note = if publishes {
            api.create_note(id, text, false).await
        } else {
            let body = format!("{text}\n\n— {} {}", who(job), from_where(job));
            api.create_note(id, &body, true).await
        }
        .map_err(|e| gitlab_failed("note", &e))?;
        if !publishes {
            let why = if public {
                format!(
                    "\n{} may not publish, so the note stays internal.",
                    who(job)
                )
            } else {
                String::new()
            };
            return Ok(to_user(format!(
                "Internal note added to incident #{iid}.{why}"
            )));
        }
        self.note(id, job, "The note above was published").await;
        let Some(queue) = &self.publish else {
            return Ok(to_user(format!(
                "Note added to incident #{iid}; it could not be published here (no publish queue)."
            )));
        };
        let at = self.clock.now();
        if let Err(e) = queue_award(
            queue.as_ref(),
            self.claims.as_deref(),
            id,
            &issue,
            &note,
            user,
            at,
        )
        .await
        {
            warn!(error = %e, "chat command: the publication could not be queued");
            return Ok(to_user(format!(
                "Note added to incident #{iid}, but its publication could not be queued; add 🎤 to it in GitLab."
            )));
        }
        Ok(to_channel(format!(
            "{} published an update on incident #{iid}: {text}",
            who(job)
        )))
    }

    /// Whether `user`'s 🎤 publishes in the incident's project, by publishing's rules.
    async fn may_publish(&self, id: IncidentId, user: &str) -> bool {
        let Some(access) = &self.gitlab else {
            return false;
        };
        match access.roles.trusts_microphone(id.project, user, None).await {
            Ok(trusted) => trusted,
            Err(e) => {
                warn!(error = %e, "chat command: who may publish could not be read");
                false
            }
        }
    }

    async fn resolve(&self, job: &Job, iid: u64) -> Result<Said, Stop> {
        let (id, issue) = self.incident(iid).await?;
        if issue.state == "closed" {
            return Ok(to_user(format!("Incident #{iid} is already resolved.")));
        }
        let (api, _) = self.api()?;
        api.close_issue(id)
            .await
            .map_err(|e| gitlab_failed("resolution", &e))?;
        self.note(id, job, "Resolved").await;
        Ok(to_channel(format!(
            "Incident #{iid} resolved by {}: {}",
            who(job),
            issue.title
        )))
    }

    async fn bridge(&self, job: &Job, iid: u64, url: &str) -> Result<Said, Stop> {
        let (id, issue) = self.incident(iid).await?;
        let (api, _) = self.api()?;
        let description = issue.description.as_deref().unwrap_or_default();
        api.set_description(id, &bridge::with_bridge(description, url))
            .await
            .map_err(|e| gitlab_failed("call link", &e))?;
        self.note(id, job, &format!("Call link set to {url}")).await;
        Ok(to_channel(format!(
            "Call link of incident #{iid} ({}): {url}",
            issue.title
        )))
    }

    /// The alert record with id `alert`, or why not.
    async fn record(&self, alert: &str) -> Result<AlertRecord, Stop> {
        let id = alert.trim();
        let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let unknown = || {
            Stop(to_user(format!(
                "There is no alert `{id}`; nothing was done."
            )))
        };
        if !well_formed {
            return Err(unknown());
        }
        match document::read::<AlertRecord>(self.state.as_ref(), &key_of(id)).await {
            Ok(Some((r, _))) => Ok(r),
            Ok(None) => Err(unknown()),
            Err(e) => {
                warn!(error = %e, "chat command: the alert record could not be read");
                Err(to_user("The alert could not be read just now; try again.").into())
            }
        }
    }

    /// Acknowledges alert `alert` (or silences it until `until`), as the signed link
    /// does: recorded in the alert's record, noted on its issue and its timeline.
    async fn ack(
        &self,
        job: &Job,
        alert: &str,
        until: Option<crate::time::Timestamp>,
        via: Via,
    ) -> Result<Said, Stop> {
        let record = self.record(alert).await?;
        let action = if until.is_some() {
            LinkAction::Silence
        } else {
            LinkAction::Ack
        };
        if action == LinkAction::Ack && record.status == RecordStatus::Resolved {
            return Ok(to_user(format!(
                "{} has resolved; there is nothing to acknowledge.",
                record.alert.title
            )));
        }
        if action == LinkAction::Ack
            && let Some(a) = record.acknowledged()
        {
            return Ok(to_user(format!(
                "{} was already acknowledged by {}.",
                record.alert.title, a.by
            )));
        }
        let done = ActionRecord {
            action,
            by: who(job),
            channel: job.platform.as_str().to_owned(),
            at: self.clock.now(),
            generation: record.generation,
            until,
            noted: false,
            via,
        };
        let key = key_of(alert.trim());
        let updated = document::update(self.state.as_ref(), &key, |old| {
            old.map(|mut r: AlertRecord| {
                r.record_action(done.clone());
                r
            })
        })
        .await;
        if let Err(e) = updated {
            warn!(error = %e, "chat command: the alert record could not be updated");
            return Err(to_user("The alert could not be updated just now; try again.").into());
        }
        if let (Some(issue), Ok((_, home))) = (&record.issue, self.api()) {
            let id = IncidentId::new(issue.project.unwrap_or(home), issue.iid);
            let what = match until {
                Some(u) => format!("Alert silenced until {}", crate::time::format(&u)),
                None => "Alert acknowledged".to_owned(),
            };
            self.note(id, job, &what).await;
        }
        if let Ok((api, home)) = self.api() {
            timeline::write_or_defer(api, self.state.as_ref(), Some(home), &key, done.at).await;
        }
        let verb = match until {
            Some(_) => "silenced for 1h",
            None => "acknowledged",
        };
        Ok(to_channel(format!(
            "{} {verb} by {}.",
            record.alert.title,
            who(job)
        )))
    }

    /// Open incidents (with their call links), firing alerts, and who is on call in
    /// each schedule of the on-call file.
    async fn list(&self) -> Result<Said, Stop> {
        let mut text = String::from("Open incidents:");
        match self.api() {
            Ok((api, project)) => match api.open_incidents(project).await {
                Ok(issues) if issues.is_empty() => text.push_str("\n  none"),
                Ok(issues) => {
                    for i in issues {
                        let _ = write!(text, "\n  #{} {}", i.iid, i.title);
                        if let Some(url) =
                            i.description.as_deref().and_then(bridge::from_description)
                        {
                            let _ = write!(text, " · call: {url}");
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "chat command: open incidents could not be read");
                    text.push_str("\n  (GitLab did not answer)");
                }
            },
            Err(_) => text.push_str("\n  (no GitLab API access here)"),
        }
        text.push_str("\nFiring alerts:");
        let firing = self.firing().await;
        if firing.is_empty() {
            text.push_str("\n  none");
        }
        for r in firing {
            let _ = write!(
                text,
                "\n  {} `{}` ({})",
                r.alert.title,
                r.id(),
                r.alert.severity.as_str()
            );
            if let Some(a) = r.acknowledged() {
                let _ = write!(text, " acknowledged by {}", a.by);
            }
        }
        if let Some(file) = self.on_call_file().await {
            text.push_str("\nOn call:");
            for (schedule, who) in on_call_now(&file, self.clock.now()) {
                let _ = write!(text, "\n  {schedule}: {}", who.unwrap_or("nobody"));
            }
        }
        Ok(to_user(text))
    }

    /// Firing alerts, at most 20.
    async fn firing(&self) -> Vec<AlertRecord> {
        let keys = match self.state.list("alerts/").await {
            Ok(keys) => keys,
            Err(e) => {
                warn!(error = %e, "chat command: alert records could not be listed");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for key in keys.iter().filter(|k| k.ends_with(".json")) {
            // A declared incident is listed among the open incidents, not here.
            if let Ok(Some((r, _))) = document::read::<AlertRecord>(self.state.as_ref(), key).await
                && r.status == RecordStatus::Triggered
                && r.declared.is_none()
            {
                out.push(r);
                if out.len() == 20 {
                    break;
                }
            }
        }
        out
    }
}
