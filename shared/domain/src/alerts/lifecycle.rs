//! The alert record per fingerprint and the notifier: new alert, repeat, resolve,
//! re-fire after resolve, resolve of an unknown alert.
//!
//! Notices are sent at least once and, short of a crash between sending and recording
//! it, exactly once: the record first takes the event and the notice it owes
//! (`pending`), then each channel gets it (the record notes which did, `delivered`),
//! then the record drops it. Acknowledging an alert stops its reminders; silencing it
//! mutes it, every notice recorded (`muted`) and none sent, until the silence ends.
//! An alert a maintenance in progress holds ([`super::muting`]) goes to no channel
//! while it lasts, and to its channels, once, when it ends (the tick).

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

use super::channels::Channels;
use super::links::{LinkAction, Links};
use super::muting::{self, MUTED_KEY, Muted, MutedBy};
use super::recipients::Recipients;
use super::{Alert, AlertStatus};
use crate::chat::Retries;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::errors::BackendError;
use crate::errors::ProcessError;
use crate::gitlab::Gitlab;
use crate::maintenance::{MUTINGS_KEY, Mutings};
use crate::message::{Envelope, Source};
use crate::ports::{Mailer, ObjectStore, Outbound};
use crate::time::Timestamp;

/// How many applied delivery ids a record remembers, to ignore redeliveries.
const REMEMBERED_DELIVERIES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Triggered,
    Resolved,
}

/// A notice the record owes its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    New,
    Reminder,
    Resolved,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::New => "new",
            Notice::Reminder => "reminder",
            Notice::Resolved => "resolved",
        }
    }
}

/// Someone acknowledged or silenced the alert by a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub action: LinkAction,
    /// Who the link was made for (a recipient's address, or the channel).
    pub by: String,
    /// The channel whose message held the link.
    pub channel: String,
    pub at: Timestamp,
    /// The generation acted on.
    pub generation: u32,
    /// A silence's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Whether the note on the alert's GitLab issue was added.
    #[serde(default)]
    pub noted: bool,
}

/// The most actions and muted notices a record keeps.
const REMEMBERED_ACTIONS: usize = 50;

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
    /// The channels (and mail recipients) that already have the first pending notice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<String>,
    /// Acknowledgements and silences, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionRecord>,
    /// Notices not sent because the alert was silenced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub muted: Vec<(Notice, Timestamp)>,
    /// The maintenance in progress that mutes it (see [`super::muting`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_by: Option<MutedBy>,
    /// The maintenance it fired during, once that ended: its first mail says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_during: Option<MutedBy>,
}

impl AlertRecord {
    /// The id in its key (`alerts/<id>.json`), which links carry.
    pub fn id(&self) -> String {
        record_id(&self.fingerprint)
    }

    /// Who acknowledged this generation, if anyone did.
    pub fn acknowledged(&self) -> Option<&ActionRecord> {
        self.actions
            .iter()
            .find(|a| a.action == LinkAction::Ack && a.generation == self.generation)
    }

    /// Until when the fingerprint is silenced, if a silence is still running at `at`.
    pub fn silenced_at(&self, at: Timestamp) -> Option<Timestamp> {
        self.actions
            .iter()
            .filter_map(|a| a.until.filter(|_| a.action == LinkAction::Silence))
            .max()
            .filter(|until| *until > at)
    }

    /// Records an acknowledgement or a silence; keeps the latest ones.
    pub fn record_action(&mut self, action: ActionRecord) {
        if action.action == LinkAction::Ack {
            // Reminders are moot once someone has it.
            self.drop_unsent_reminders();
        }
        self.actions.push(action);
        let excess = self.actions.len().saturating_sub(REMEMBERED_ACTIONS);
        self.actions.drain(..excess);
    }

    /// Drops the reminders not yet sent; one some channels already have stays, to
    /// reach the others.
    pub fn drop_unsent_reminders(&mut self) {
        let started = !self.delivered.is_empty();
        let mut first = true;
        self.pending.retain(|(n, _)| {
            let keep = *n != Notice::Reminder || (first && started);
            first = false;
            keep
        });
    }

    /// Drops the first pending notice and what was delivered of it.
    pub fn settle(&mut self, notice: Notice, at: Timestamp, how: Settled) {
        if let Some(pos) = self.pending.iter().position(|p| *p == (notice, at)) {
            self.pending.remove(pos);
            self.delivered.clear();
            match how {
                Settled::Sent if notice != Notice::Resolved => {
                    self.last_notified = Some(self.last_notified.map_or(at, |n| n.max(at)));
                }
                Settled::Muted => {
                    self.muted.push((notice, at));
                    let excess = self.muted.len().saturating_sub(REMEMBERED_ACTIONS);
                    self.muted.drain(..excess);
                }
                _ => {}
            }
        }
    }
}

/// What became of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Every channel that takes the alert has it.
    Sent,
    /// The alert is silenced: recorded, not sent.
    Muted,
    /// No channel takes the alert.
    Unrouted,
}

/// The id of a fingerprint's record.
pub fn record_id(fingerprint: &str) -> String {
    hex::encode(&Sha256::digest(fingerprint.as_bytes())[..16])
}

pub fn record_key(fingerprint: &str) -> String {
    key_of(&record_id(fingerprint))
}

/// The key of the record with id `id`.
pub fn key_of(id: &str) -> String {
    format!("alerts/{id}.json")
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
            let quiet = r.acknowledged().is_some() || r.silenced_at(at).is_some();
            if due && !quiet && !r.pending.iter().any(|(n, _)| *n != Notice::Resolved) {
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
                pending: vec![(Notice::New, at)],
                delivered: vec![],
                // Silences outlive a generation; acknowledgements are per generation
                // (`acknowledged` looks at this one only).
                actions: old.as_ref().map(|o| o.actions.clone()).unwrap_or_default(),
                muted: old.as_ref().map(|o| o.muted.clone()).unwrap_or_default(),
                deliveries: old.map(|o| o.deliveries).unwrap_or_default(),
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
            r.drop_unsent_reminders();
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

/// The notifier handler: alert records, and their notices to the channels.
pub struct Notifier {
    pub config: Arc<Config>,
    pub state: Arc<dyn ObjectStore>,
    pub mailer: Arc<dyn Mailer>,
    pub issues: Option<Arc<dyn IncidentIssues>>,
    pub channels: Channels,
    /// Outbound HTTP, for chat and webhook channels.
    pub outbound: Option<Arc<dyn Outbound>>,
    /// The acknowledge and silence links (with `PUBLIC_API_URL`).
    pub links: Option<Links>,
    pub recipients: Recipients,
    /// How chat deliveries are retried.
    pub retries: Retries,
    pub clock: Arc<dyn Clock>,
}

/// What handling an alert message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOutcome {
    pub change: Change,
    pub sent: Sent,
}

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticked {
    /// Alerts a maintenance held, let go.
    pub released: usize,
    /// What went out for them.
    pub sent: Sent,
    /// Storms' digests sent.
    pub digests: usize,
    /// Publishers' changes that widened a maintenance, told to the maintainers.
    pub widened: usize,
}

/// What went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    pub mails: usize,
    /// Chat and webhook messages delivered.
    pub messages: usize,
    /// Notices held for a digest.
    pub digested: usize,
    /// Notices not sent: the alert is silenced.
    pub muted: usize,
    /// Chat and webhook deliveries given up on.
    pub failed: usize,
}

impl std::ops::AddAssign for Sent {
    fn add_assign(&mut self, o: Sent) {
        self.mails += o.mails;
        self.messages += o.messages;
        self.digested += o.digested;
        self.muted += o.muted;
        self.failed += o.failed;
    }
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
            return Ok(NotifyOutcome {
                change,
                sent: Sent::default(),
            });
        };
        if was_held && !muting::held(&record) {
            self.hold(&key, false).await?;
        }
        let sent = self.deliver(&key, record).await?;
        Ok(NotifyOutcome { change, sent })
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

    /// The scheduled work of a minute: the alerts a maintenance no longer holds (over,
    /// or narrowed by a publisher) are let go (each still firing goes to its channels
    /// now, once), the maintainers are told of a publisher's change that widened a
    /// maintenance, then the storms' digests that are due are sent. All are tried; the
    /// first error is returned.
    pub async fn tick(&self) -> Result<Ticked, ProcessError> {
        let now = self.clock.now();
        let released = self.release_held(now).await;
        let widened = self.tell_widened().await;
        let digests = self.send_digests(now).await;
        let (released, sent) = released?;
        Ok(Ticked {
            released,
            sent,
            widened: widened?,
            digests: digests?,
        })
    }

    /// Tells the maintainers, once each, of the publishers' changes that made a
    /// maintenance mute more than before (`widened` in `index/maintenance.json`).
    /// A change is marked told before its mail goes; if the mail fails, the mark is
    /// taken back and the next tick tries again.
    async fn tell_widened(&self) -> Result<usize, ProcessError> {
        let mutings = self.mutings().await?;
        let due: Vec<(&crate::maintenance::Muting, String)> = mutings
            .maintenances
            .iter()
            .filter(|m| !m.widened.is_empty())
            .filter_map(|m| Some((m, muting::change_key(m.id, m.set_by.as_ref()?.at))))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let kept: std::collections::BTreeSet<u64> =
            mutings.maintenances.iter().map(|m| m.id).collect();
        let mut claimed = Vec::new();
        crate::document::update(self.state.as_ref(), muting::WIDENED_KEY, |old| {
            let mut told: muting::Told = old.unwrap_or_default();
            told.changes.retain(|k| {
                k.split_once('@')
                    .and_then(|(id, _)| id.parse::<u64>().ok())
                    .is_some_and(|id| kept.contains(&id))
            });
            claimed.clear();
            for (m, key) in &due {
                if told.changes.insert(key.clone()) {
                    claimed.push((*m, key.clone()));
                }
            }
            Some(told)
        })
        .await?;
        for (n, (m, _)) in claimed.iter().enumerate() {
            if let Err(e) = self.mail_widened(m).await {
                // This one and those after it are not told yet.
                let untold: Vec<&String> = claimed[n..].iter().map(|(_, k)| k).collect();
                crate::document::update(self.state.as_ref(), muting::WIDENED_KEY, |old| {
                    old.map(|mut told: muting::Told| {
                        told.changes.retain(|k| !untold.contains(&k));
                        told
                    })
                })
                .await?;
                return Err(e);
            }
            info!(maintenance = m.id, widened = ?m.widened, "maintainers told of a maintenance widened");
        }
        Ok(claimed.len())
    }

    async fn mail_widened(&self, m: &crate::maintenance::Muting) -> Result<(), ProcessError> {
        for r in self.recipients.maintainers().await {
            let mail = super::mail::maintenance_widened(&self.config, m, &r.address)
                .map_err(|e| ProcessError::Permanent(format!("widened mail: {e}")))?;
            self.mailer.send(&mail).await?;
        }
        Ok(())
    }

    /// Lets go of the alerts their maintenance no longer holds at `now`; returns how
    /// many, and what went out.
    async fn release_held(&self, now: Timestamp) -> Result<(usize, Sent), ProcessError> {
        let Some((muted, _)) =
            crate::document::read::<Muted>(self.state.as_ref(), MUTED_KEY).await?
        else {
            return Ok((0, Sent::default()));
        };
        let mutings = self.mutings().await?;
        let (mut released, mut sent) = (0, Sent::default());
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
                    released += 1;
                    sent += self.deliver(key, r).await?;
                }
                None => self.hold(key, false).await?,
            }
        }
        Ok((released, sent))
    }

    /// Reads, changes and conditionally writes a record.
    pub(super) async fn update(
        &self,
        key: &str,
        change: impl FnMut(Option<AlertRecord>) -> Option<AlertRecord>,
    ) -> Result<Option<AlertRecord>, ProcessError> {
        crate::document::update(self.state.as_ref(), key, change).await
    }

    /// The notifier for a configuration: its channels (`ALERT_CHANNELS`, which needs
    /// `outbound` for chat and webhooks), its links (with `PUBLIC_API_URL`, which then
    /// needs `ALERT_LINK_SECRET`), its recipients (`NOTIFY_ROLES`), and incident issues
    /// where `CREATE_INCIDENTS=true` (which then needs `GITLAB_URL`, `GITLAB_TOKEN` and
    /// `GITLAB_PROJECT_ID`).
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        mailer: Arc<dyn Mailer>,
        gitlab: Option<Arc<dyn Gitlab>>,
        outbound: Option<Arc<dyn Outbound>>,
    ) -> Result<Notifier, ConfigError> {
        let issues: Option<Arc<dyn IncidentIssues>> = if config.create_incidents {
            config.require(&["GITLAB_URL", "GITLAB_TOKEN", "GITLAB_PROJECT_ID"])?;
            let api = gitlab.clone().ok_or(ConfigError::Missing("GITLAB_TOKEN"))?;
            let project = config
                .home_project()
                .ok_or(ConfigError::Missing("GITLAB_PROJECT_ID"))?;
            Some(Arc::new(super::issues::GitlabIncidents::new(
                api,
                project,
                config.incident_template.clone(),
            )))
        } else {
            None
        };
        let channels = Channels::from_config(&config)?;
        if channels.any_chat() && outbound.is_none() {
            return Err(ConfigError::Invalid {
                name: "ALERT_CHANNELS",
                why: "chat and webhook channels need outbound HTTP, which this process lacks"
                    .into(),
            });
        }
        Ok(Notifier {
            links: Links::from_config(&config)?,
            recipients: Recipients::new(&config, gitlab)?,
            config,
            state,
            mailer,
            issues,
            channels,
            outbound,
            retries: Retries::STANDARD,
            clock: Arc::new(SystemClock),
        })
    }

    /// The notifier with another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Notifier {
        self.clock = clock;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::mail::Mail;
    use crate::maintenance::{Muting, SetBy, Window};
    use crate::memory::{MemoryMailer, MemoryStore};

    /// A mailer that refuses its first `fails` mails for a passing reason.
    struct Flaky {
        fails: AtomicUsize,
        inner: MemoryMailer,
    }

    #[async_trait]
    impl Mailer for Flaky {
        async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
            if self
                .fails
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(BackendError::Transient("throttled".into()));
            }
            self.inner.send(mail).await
        }
    }

    fn muting(id: u64, at: &str, widened: &[&str]) -> Muting {
        Muting {
            id,
            title: format!("Maintenance {id}"),
            window: Window::parse_line("2026-12-01T02:00:00Z/PT4H").unwrap(),
            closed_at: None,
            components: vec!["Database".into()],
            mute: Some(r#"alertname=~"cache.*""#.into()),
            set_by: Some(SetBy {
                by: "alice".into(),
                at: crate::time::parse(at).unwrap(),
            }),
            widened: widened.iter().map(|w| (*w).to_owned()).collect(),
        }
    }

    async fn put_mutings(state: &MemoryStore, mutings: &Mutings) {
        state
            .put(
                MUTINGS_KEY,
                serde_json::to_vec(mutings).unwrap().into(),
                crate::ports::PutOptions::private_json(),
            )
            .await
            .unwrap();
    }

    /// Each widening is mailed to every maintainer once: a mail refused for a passing
    /// reason is tried again at the next tick (that one and those after it), and one
    /// told is never told again; a new change of the same maintenance is told anew.
    #[tokio::test]
    async fn a_widening_is_told_once_and_again_after_a_failed_mail() {
        let config = Config::from_lookup(|name| match name {
            "MAIL_FROM" => Some("openmic@status.example.com".into()),
            "MAINTAINER_EMAILS" => Some("oncall@example.com, lead@example.com".into()),
            _ => None,
        })
        .unwrap();
        let state = Arc::new(MemoryStore::new());
        let mailer = Arc::new(Flaky {
            fails: AtomicUsize::new(1),
            inner: MemoryMailer::default(),
        });
        let notifier =
            Notifier::new(Arc::new(config), state.clone(), mailer.clone(), None, None).unwrap();
        let mut mutings = Mutings {
            maintenances: vec![
                muting(7, "2026-12-01T02:15:00Z", &["the window"]),
                muting(8, "2026-12-01T02:15:00Z", &["the `Mute:` line"]),
                muting(9, "2026-12-01T02:15:00Z", &[]),
            ],
        };
        put_mutings(&state, &mutings).await;
        assert!(notifier.tick().await.is_err(), "the mail was refused");
        assert!(mailer.inner.take().is_empty());
        let ticked = notifier.tick().await.unwrap();
        assert_eq!(ticked.widened, 2);
        let sent = mailer.inner.take();
        let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "openmic: the maintenance Maintenance 7 now mutes more alerts",
                "openmic: the maintenance Maintenance 7 now mutes more alerts",
                "openmic: the maintenance Maintenance 8 now mutes more alerts",
                "openmic: the maintenance Maintenance 8 now mutes more alerts",
            ]
        );
        assert!(
            sent[0].text.contains("alice changed the maintenance"),
            "{}",
            sent[0].text
        );
        assert!(sent[0].text.contains("the window"), "{}", sent[0].text);
        assert_eq!(notifier.tick().await.unwrap().widened, 0, "told once");
        // A later change of maintenance 7: told; maintenance 8 gone: forgotten.
        mutings.maintenances = vec![muting(7, "2026-12-01T03:00:00Z", &["the components"])];
        put_mutings(&state, &mutings).await;
        assert_eq!(notifier.tick().await.unwrap().widened, 1);
        assert_eq!(mailer.inner.take().len(), 2);
        let (told, _) = crate::document::read::<muting::Told>(state.as_ref(), muting::WIDENED_KEY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            told.changes.into_iter().collect::<Vec<_>>(),
            ["7@2026-12-01T02:15:00.000Z", "7@2026-12-01T03:00:00.000Z"]
        );
    }
}
