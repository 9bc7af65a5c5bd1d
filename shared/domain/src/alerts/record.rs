//! The record of one alert per fingerprint (`alerts/<hash of fingerprint>.json` in
//! the state bucket) and its rules: [`apply`] takes an event (new alert, repeat,
//! resolve, re-fire after resolve, resolve of an unknown alert) and says what it
//! changed; the record owes its channels the notices in `pending` until each is
//! settled. The [`super::lifecycle::Notifier`] reads, applies and writes records and
//! sends what they owe.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::links::LinkAction;
use super::{Alert, AlertStatus};
use crate::time::{self, Timestamp};

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
    /// How it was done: a signed link, a chat button or a chat command.
    #[serde(default)]
    pub via: Via,
}

/// How an acknowledgement or a silence was done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A signed link in a mail or a message (`channel` names which).
    #[default]
    Link,
    /// A button of a chat message (`channel` names the chat service).
    Button,
    /// A chat command (`channel` names the chat service).
    Command,
}

/// The most actions and muted notices a record keeps.
const REMEMBERED_ACTIONS: usize = 50;

/// A GitLab incident issue opened for the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueLink {
    /// GitLab's global id of the issue (its incident timeline is addressed by it);
    /// absent in records of the releases before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The project the issue is in (absent in the first release's records: the first
    /// of `GITLAB_PROJECT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<u64>,
    pub iid: u64,
    pub url: String,
    #[serde(default)]
    pub closed: bool,
    /// The incident's call link (its description's `Bridge:` line), as read when a
    /// notice is sent: for the people the notice goes to, never public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_link: Option<String>,
    /// Whether the alert's chart and its CSV were uploaded to the issue (in a note),
    /// so a retried notice does not upload them twice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chart: bool,
}

/// The maintenance that muted an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutedBy {
    /// The maintenance's public id.
    pub maintenance: u64,
    pub title: String,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub since: Timestamp,
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
    /// Its escalation under an on-call policy (docs/oncall.md): what was paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<crate::oncall::escalation::Escalating>,
    /// The events of this firing written (or being written) on its incident issue's
    /// GitLab timeline, by name ([`super::timeline`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline_written: Vec<String>,
    /// Set when the record stands for an incident declared from chat rather than an
    /// alert ([`super::declared`]): it escalates as an alert does, and owes no notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<Declaration>,
}

/// Who declared an incident from chat, and from which service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// The GitLab user they act as: `@alice`.
    pub by: String,
    /// The chat service: `slack`, `mattermost`.
    pub platform: String,
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
                escalation: None,
                timeline_written: Vec::new(),
                declared: None,
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
