//! The alert record per fingerprint and the notifier: new alert, repeat, resolve,
//! re-fire after resolve, resolve of an unknown alert.
//!
//! Mail is sent at least once and, short of a crash between sending and recording
//! it, exactly once: the record first takes the event and the mail it owes
//! (`pending`), then the mail goes out, then the record drops it.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

use super::muting::{self, MUTED_KEY, Muted, MutedBy};
use super::{Alert, AlertStatus};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::errors::BackendError;
use crate::errors::ProcessError;
use crate::gitlab::Gitlab;
use crate::maintenance::{MUTINGS_KEY, Mutings};
use crate::message::{Envelope, Source};
use crate::ports::Mailer;
use crate::ports::ObjectStore;
use crate::time::Timestamp;

/// How many applied delivery ids a record remembers, to ignore redeliveries.
const REMEMBERED_DELIVERIES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Triggered,
    Resolved,
}

/// A mail the record owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    New,
    Reminder,
    Resolved,
}

/// A GitLab incident issue opened for the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueLink {
    /// The project the issue is in (absent in the first release's records: the first
    /// of `GITLAB_PROJECT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<u64>,
    pub iid: u64,
    pub url: String,
    #[serde(default)]
    pub closed: bool,
}

/// The record of one alert (`alerts/<hash of fingerprint>.json` in the state bucket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub fingerprint: String,
    pub status: RecordStatus,
    /// The latest payload.
    pub alert: Alert,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub event_count: u64,
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
    #[serde(default)]
    pub issue: Option<IssueLink>,
    #[serde(default)]
    pub last_notified: Option<Timestamp>,
    /// Message-ID of the first mail: later mails reply to it.
    pub thread_id: String,
    /// How many times this fingerprint fired anew after a resolution.
    #[serde(default)]
    pub generation: u32,
    #[serde(default)]
    pub deliveries: VecDeque<String>,
    #[serde(default)]
    pub pending: Vec<(Notice, Timestamp)>,
    /// The maintenance in progress that mutes it (see [`super::muting`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_by: Option<MutedBy>,
    /// The maintenance it fired during, once that ended: its first mail says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_during: Option<MutedBy>,
}

pub fn record_key(fingerprint: &str) -> String {
    format!(
        "alerts/{}.json",
        hex::encode(&Sha256::digest(fingerprint.as_bytes())[..16])
    )
}

/// What an event did to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Repeat,
    Resolved,
    /// A resolve with no open alert, or a delivery already applied.
    Ignored,
}

/// Applies one alert event to the record (none if the fingerprint is new).
pub fn apply(
    record: Option<AlertRecord>,
    fingerprint: &str,
    alert: &Alert,
    delivery: &str,
    at: Timestamp,
    renotify_after: std::time::Duration,
) -> (Option<AlertRecord>, Change) {
    if let Some(r) = &record
        && r.deliveries.iter().any(|d| d == delivery)
    {
        return (record, Change::Ignored);
    }
    let remember = |r: &mut AlertRecord| {
        r.deliveries.push_back(delivery.to_owned());
        while r.deliveries.len() > REMEMBERED_DELIVERIES {
            r.deliveries.pop_front();
        }
    };
    match (alert.status, record) {
        (AlertStatus::Firing, Some(mut r)) if r.status == RecordStatus::Triggered => {
            r.event_count += 1;
            r.last_seen = r.last_seen.max(at);
            r.alert = alert.clone();
            let due = r.last_notified.is_none_or(|n| {
                at.signed_duration_since(n)
                    .to_std()
                    .is_ok_and(|elapsed| elapsed >= renotify_after)
            });
            if due && !r.pending.iter().any(|(n, _)| *n != Notice::Resolved) {
                r.pending.push((Notice::Reminder, at));
            }
            remember(&mut r);
            (Some(r), Change::Repeat)
        }
        (AlertStatus::Firing, old) => {
            let generation = old.as_ref().map_or(0, |r| r.generation + 1);
            let thread_id = format!(
                "<alert-{}-{}@openmic>",
                hex::encode(&Sha256::digest(fingerprint.as_bytes())[..8]),
                at.timestamp_millis()
            );
            let mut r = AlertRecord {
                fingerprint: fingerprint.to_owned(),
                status: RecordStatus::Triggered,
                alert: alert.clone(),
                first_seen: at,
                last_seen: at,
                event_count: 1,
                resolved_at: None,
                issue: None,
                last_notified: None,
                thread_id,
                generation,
                deliveries: old.map(|o| o.deliveries).unwrap_or_default(),
                pending: vec![(Notice::New, at)],
                muted_by: None,
                fired_during: None,
            };
            remember(&mut r);
            (Some(r), Change::New)
        }
        (AlertStatus::Resolved, Some(mut r)) if r.status == RecordStatus::Triggered => {
            r.status = RecordStatus::Resolved;
            r.resolved_at = Some(alert.ends_at.unwrap_or(at));
            r.last_seen = r.last_seen.max(at);
            r.alert = alert.clone();
            // A reminder not yet sent is moot now.
            r.pending.retain(|(n, _)| *n == Notice::New);
            r.pending.push((Notice::Resolved, at));
            remember(&mut r);
            (Some(r), Change::Resolved)
        }
        (AlertStatus::Resolved, record) => (record, Change::Ignored),
    }
}

/// Opens and closes GitLab incident issues for alerts (with `CREATE_INCIDENTS`).
#[async_trait::async_trait]
pub trait IncidentIssues: Send + Sync {
    async fn open(&self, record: &AlertRecord) -> Result<IssueLink, BackendError>;
    async fn close(&self, issue: &IssueLink) -> Result<(), BackendError>;
}

/// The notifier handler.
pub struct Notifier {
    pub config: Arc<Config>,
    pub state: Arc<dyn ObjectStore>,
    pub mailer: Arc<dyn Mailer>,
    pub issues: Option<Arc<dyn IncidentIssues>>,
    pub clock: Arc<dyn Clock>,
}

/// What handling an alert message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOutcome {
    pub change: Change,
    pub mails: usize,
}

impl Notifier {
    pub async fn handle(&self, body: &str) -> Result<NotifyOutcome, ProcessError> {
        let envelope = Envelope::read(body, self.state.as_ref()).await?;
        if envelope.source != Source::Alert {
            return Err(ProcessError::Permanent(format!(
                "not an alert: {:?}",
                envelope.source
            )));
        }
        let alert: Alert = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("alert payload: {e}")))?;
        let at = crate::time::parse(&envelope.received_at).ok_or_else(|| {
            ProcessError::Permanent(format!("received_at {:?}", envelope.received_at))
        })?;
        // No fingerprint: every request is an alert of its own (as GitLab does).
        let fingerprint = alert
            .fingerprint
            .clone()
            .unwrap_or_else(|| format!("delivery:{}", envelope.delivery));
        let key = record_key(&fingerprint);
        let mutings = self.mutings().await?;
        // Listed before it can be held, so the tick always finds what is held.
        if alert.status == AlertStatus::Firing && muting::muting_for(&alert, &mutings, at).is_some()
        {
            self.hold(&key, true).await?;
        }
        let mut change = Change::Ignored;
        let mut was_held = false;
        let record = self
            .update(&key, |old| {
                was_held = old.as_ref().is_some_and(muting::held);
                let (mut new, c) = apply(
                    old,
                    &fingerprint,
                    &alert,
                    &envelope.delivery,
                    at,
                    self.config.renotify_after,
                );
                if let Some(r) = new.as_mut() {
                    muting::settle(r, c, &mutings, at);
                }
                change = c;
                new
            })
            .await?;
        info!(
            fingerprint = %fingerprint,
            change = ?change,
            muted_by = record.as_ref().and_then(|r| r.muted_by.as_ref()).map(|m| m.maintenance),
            "alert"
        );
        let Some(record) = record else {
            return Ok(NotifyOutcome { change, mails: 0 });
        };
        if was_held && !muting::held(&record) {
            self.hold(&key, false).await?;
        }
        let mails = self.deliver(&key, record).await?;
        Ok(NotifyOutcome { change, mails })
    }

    /// The maintenances the publisher keeps for muting (none before the first).
    async fn mutings(&self) -> Result<Mutings, ProcessError> {
        Ok(crate::document::read(self.state.as_ref(), MUTINGS_KEY)
            .await?
            .map(|(m, _)| m)
            .unwrap_or_default())
    }

    /// Adds a record to the muted list (or takes it off).
    async fn hold(&self, key: &str, held: bool) -> Result<(), ProcessError> {
        crate::document::update(self.state.as_ref(), MUTED_KEY, |old: Option<Muted>| {
            let mut muted = old.unwrap_or_default();
            if held {
                muted.alerts.insert(key.to_owned());
            } else {
                muted.alerts.remove(key);
            }
            Some(muted)
        })
        .await?;
        Ok(())
    }

    /// Lets go of the alerts whose maintenance is over (the scheduled tick): each one
    /// still firing is mailed now, once. Returns how many mails went out.
    pub async fn tick(&self) -> Result<usize, ProcessError> {
        let Some((muted, _)) =
            crate::document::read::<Muted>(self.state.as_ref(), MUTED_KEY).await?
        else {
            return Ok(0);
        };
        let now = self.clock.now();
        let mutings = self.mutings().await?;
        let mut mails = 0;
        for key in &muted.alerts {
            let record = self
                .update(key, |old| {
                    old.map(|mut r| {
                        muting::settle(&mut r, Change::Ignored, &mutings, now);
                        r
                    })
                })
                .await?;
            match record {
                Some(r) if muting::held(&r) => continue,
                Some(r) => {
                    self.hold(key, false).await?;
                    mails += self.deliver(key, r).await?;
                }
                None => self.hold(key, false).await?,
            }
        }
        Ok(mails)
    }

    /// Sends what the record owes, dropping each notice once sent.
    async fn deliver(&self, key: &str, mut record: AlertRecord) -> Result<usize, ProcessError> {
        let mut sent = 0;
        while let Some(&(notice, at)) = record.pending.first() {
            if let Some(issues) = &self.issues {
                if notice == Notice::New && record.issue.is_none() {
                    let link = issues.open(&record).await?;
                    record = self
                        .update(key, |old| {
                            old.map(|mut r| {
                                if r.thread_id == record.thread_id && r.issue.is_none() {
                                    r.issue = Some(link.clone());
                                }
                                r
                            })
                        })
                        .await?
                        .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))?;
                }
                if notice == Notice::Resolved
                    && self.config.auto_close_incidents
                    && let Some(issue) = record.issue.clone().filter(|i| !i.closed)
                {
                    issues.close(&issue).await?;
                    record = self
                        .update(key, |old| {
                            old.map(|mut r| {
                                if let Some(i) = r.issue.as_mut().filter(|i| i.iid == issue.iid) {
                                    i.closed = true;
                                }
                                r
                            })
                        })
                        .await?
                        .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))?;
                }
            }
            let mail = super::mail::compose(&self.config, &record, notice, at)
                .map_err(|e| ProcessError::Permanent(format!("mail: {e}")))?;
            self.mailer.send(&mail).await?;
            sent += 1;
            record = self
                .update(key, |old| {
                    old.map(|mut r| {
                        if let Some(pos) = r.pending.iter().position(|p| *p == (notice, at)) {
                            r.pending.remove(pos);
                            if notice != Notice::Resolved {
                                r.last_notified = Some(r.last_notified.map_or(at, |n| n.max(at)));
                            }
                        }
                        r
                    })
                })
                .await?
                .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))?;
        }
        Ok(sent)
    }

    /// Reads, changes and conditionally writes a record.
    async fn update(
        &self,
        key: &str,
        change: impl FnMut(Option<AlertRecord>) -> Option<AlertRecord>,
    ) -> Result<Option<AlertRecord>, ProcessError> {
        crate::document::update(self.state.as_ref(), key, change).await
    }
}

impl Notifier {
    /// The notifier for a configuration: with incident issues where
    /// `CREATE_INCIDENTS=true` (which then needs `GITLAB_URL`, `GITLAB_TOKEN` and
    /// `GITLAB_PROJECT_ID`).
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        mailer: Arc<dyn Mailer>,
        gitlab: Option<Arc<dyn Gitlab>>,
    ) -> Result<Notifier, crate::config::ConfigError> {
        let issues: Option<Arc<dyn IncidentIssues>> = if config.create_incidents {
            config.require(&["GITLAB_URL", "GITLAB_TOKEN", "GITLAB_PROJECT_ID"])?;
            let api = gitlab.ok_or(crate::config::ConfigError::Missing("GITLAB_TOKEN"))?;
            let project = config
                .home_project()
                .ok_or(crate::config::ConfigError::Missing("GITLAB_PROJECT_ID"))?;
            Some(Arc::new(super::issues::GitlabIncidents::new(
                api,
                project,
                config.incident_template.clone(),
            )))
        } else {
            None
        };
        Ok(Notifier {
            config,
            state,
            mailer,
            issues,
            clock: Arc::new(SystemClock),
        })
    }

    /// The notifier with another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Notifier {
        self.clock = clock;
        self
    }
}
