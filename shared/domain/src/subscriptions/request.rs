//! Subscribe requests: from the form to the confirmation mail, and the request kept
//! until it is confirmed.
//!
//! `POST /subscribe` does the same for every address that passes the form's checks:
//! it queues one message (`{"confirmation": …}`, in the updates queue's
//! `confirmations` group) and answers "check your mail". Whether a mail goes out is
//! decided when the message is handled ([`Subscriptions::ask`]): not to an address
//! whose mail stopped for good, not to a mailbox that got a confirmation within the
//! hour ([`super::limits::claim_mailbox`]), not past the hour's cap; so the answer,
//! and the time it takes, tell nothing about the address.
//!
//! A request waiting for its confirmation is a document of its own,
//! `subscription-requests/<subscriber id>.json` (the newest request of an address
//! replaces an older one), which nothing but its confirmation reads: updates plan
//! over confirmed subscribers only. It is removed when confirmed, and after
//! [`CONFIRM_TTL`] (48 hours) by the state bucket's lifecycle rule on AWS and by the
//! tick's sweep locally ([`Subscriptions::sweep`]).
//!
//! The release before kept a waiting request inside the subscriber's record; such a
//! record is moved ([`moved`]): the request to its own document (if it is still within
//! its 48 hours, so its mailed link still works), a record that was nothing but the
//! request removed. All of them are moved before the first update is planned (and by
//! `openmic-local migrate`, and the local tick), once: `subscribers/layout.json` says
//! it was done ([`Subscriptions::check_layout`]); until then a record is moved
//! whenever it is read.

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::Subscriptions;
use super::address::{SubscriberId, redact};
use super::limits::{self, Claim};
use super::subscriber::{self, Subscriber};
use super::token::CONFIRM_TTL;
use crate::document;
use crate::errors::{BackendError, ProcessError};
use crate::time::Timestamp;

pub const PREFIX: &str = "subscription-requests/";
/// The updates queue's message group of confirmations: apart from the updates', so a
/// long fan-out never holds a confirmation back.
pub const GROUP: &str = "confirmations";

/// Written once every record of the earlier release was moved (no subscriber's key:
/// not 64 hex digits, so the fan-out never takes it for one).
pub const LAYOUT_KEY: &str = "subscribers/layout.json";

/// What [`LAYOUT_KEY`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Layout {
    /// `apart`: requests in `subscription-requests/`, none in a record.
    requests: String,
}

/// Marks the subscriber records as in this release's layout: nothing of the earlier
/// release left to move ([`Subscriptions::check_layout`]).
pub async fn mark_layout(state: &dyn crate::ports::ObjectStore) -> Result<(), ProcessError> {
    let done = serde_json::to_vec(&Layout {
        requests: "apart".into(),
    })
    .map_err(|e| ProcessError::Permanent(e.to_string()))?;
    state
        .put(
            LAYOUT_KEY,
            done.into(),
            crate::ports::PutOptions::private_json(),
        )
        .await?;
    Ok(())
}

pub fn key(id: &SubscriberId) -> String {
    format!("{PREFIX}{}.json", id.as_str())
}

/// A request waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub address: String,
    /// What was asked for; empty: every update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// When it was asked for, in whole seconds: the issue time of its link.
    pub requested_at: Timestamp,
    /// Whether its confirmation mail went out (a message handled again sends none).
    #[serde(default)]
    pub mailed: bool,
    /// The audience page it was asked from, by a reader signed in to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

impl Waiting {
    /// Whether its link still works at `now`.
    pub fn current(&self, now: Timestamp) -> bool {
        now - self.requested_at <= CONFIRM_TTL
    }
}

/// A request as the form queues it for its confirmation mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    pub address: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Whole seconds: the issue time of its link.
    pub requested_at: Timestamp,
    /// The audience page it was asked from, by a reader signed in to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// What handling a request's message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailed {
    Sent,
    /// Sent before (the message came again).
    Already,
    /// The mailbox got a confirmation within the hour.
    TooSoon,
    /// The hour's `SUBSCRIBE_MAX_PER_HOUR` confirmations went out.
    OverCap,
    /// Mail to the address stopped for good.
    Suppressed,
    /// A newer request of the address came first.
    Replaced,
    /// The mail service refused the address.
    Refused,
}

/// What a record of the earlier release becomes at `now`: the record without its
/// waiting request (none if it was nothing else), and that request if its link still
/// works. A record with nothing to move is as it was.
pub fn moved(record: Subscriber, now: Timestamp) -> (Option<Subscriber>, Option<Waiting>) {
    if record.pending.is_none() && record.confirmation_sent_at.is_none() {
        return (Some(record), None);
    }
    let mut s = record;
    let pending = s.pending.take();
    let sent = s.confirmation_sent_at.take();
    let waiting = match (&pending, &s.address) {
        (Some(p), Some(address)) if s.suppressed.is_none() => Some(Waiting {
            address: address.clone(),
            components: p.components.clone(),
            requested_at: p.requested_at,
            mailed: true,
            audience: None,
        }),
        _ => None,
    }
    .filter(|w| w.current(now));
    if s.confirmed_at.is_none() && s.suppressed.is_none() {
        return (None, waiting);
    }
    // No request waited: the last one mailed is the one confirmed.
    if pending.is_none() {
        s.confirmed_request = s.confirmed_request.or(sent);
    }
    (Some(s), waiting)
}

impl Subscriptions {
    /// A subscriber's record, moved first if the earlier release wrote it with a
    /// request inside.
    pub(super) async fn record(
        &self,
        id: &SubscriberId,
    ) -> Result<Option<Subscriber>, ProcessError> {
        let record_key = subscriber::key(id);
        let Some((record, _)) =
            document::read::<Subscriber>(self.state.as_ref(), &record_key).await?
        else {
            return Ok(None);
        };
        if record.pending.is_none() && record.confirmation_sent_at.is_none() {
            return Ok(Some(record));
        }
        let now = self.clock.now();
        if let (_, Some(waiting)) = moved(record.clone(), now) {
            // The request first: should anything stop between, it is moved again.
            document::update(
                self.state.as_ref(),
                &key(id),
                |old: Option<Waiting>| match old {
                    Some(newer) if newer.requested_at >= waiting.requested_at => Some(newer),
                    _ => Some(waiting.clone()),
                },
            )
            .await?;
        }
        let mut remove = false;
        let after = document::update(
            self.state.as_ref(),
            &record_key,
            |old: Option<Subscriber>| {
                let (kept, _) = moved(old?, now);
                remove = kept.is_none();
                kept
            },
        )
        .await?;
        if remove {
            self.state.delete(&record_key).await?;
            info!(subscriber = %self.pseudonym(id), "a waiting request of the earlier release moved out of its record");
            return Ok(None);
        }
        info!(subscriber = %self.pseudonym(id), "a record of the earlier release moved");
        Ok(after)
    }

    /// Moves every record the earlier release wrote with a request inside, unless
    /// that was done (once per process, then never again once [`LAYOUT_KEY`] says
    /// so).
    pub async fn check_layout(&self) -> Result<(), ProcessError> {
        self.layout_checked
            .get_or_try_init(|| async {
                if document::read::<Layout>(self.state.as_ref(), LAYOUT_KEY)
                    .await?
                    .is_none()
                {
                    let moved = self.migrate().await?;
                    info!(moved, "subscriber records of the earlier release moved");
                }
                Ok::<(), ProcessError>(())
            })
            .await?;
        Ok(())
    }

    /// Moves every record the earlier release wrote with a request inside; how many
    /// there were. Done, it writes [`LAYOUT_KEY`].
    pub async fn migrate(&self) -> Result<usize, ProcessError> {
        use futures_util::StreamExt;
        let state = self.state.as_ref();
        let ids: Vec<SubscriberId> = state
            .list(subscriber::PREFIX)
            .await?
            .iter()
            .filter_map(|k| subscriber::id_of_key(k))
            .collect();
        // Read as the fan-out reads them, several at once: a large list is moved well
        // within one invocation.
        let moved: Vec<Result<bool, ProcessError>> = futures_util::stream::iter(ids)
            .map(|id| async move {
                let legacy = match document::read::<Subscriber>(state, &subscriber::key(&id))
                    .await
                {
                    Ok(r) => r.is_some_and(|(s, _)| {
                        s.pending.is_some() || s.confirmation_sent_at.is_some()
                    }),
                    Err(ProcessError::Permanent(e)) => {
                        warn!(subscriber = %self.pseudonym(&id), error = %redact(&e), "subscriber record unreadable; left as it is");
                        false
                    }
                    Err(e) => return Err(e),
                };
                if legacy {
                    self.record(&id).await?;
                }
                Ok(legacy)
            })
            .buffer_unordered(super::MAX_CONCURRENCY)
            .collect()
            .await;
        let mut count = 0;
        for m in moved {
            count += usize::from(m?);
        }
        mark_layout(state).await?;
        Ok(count)
    }

    /// The request waiting for `id`'s confirmation, if any.
    pub(super) async fn waiting(&self, id: &SubscriberId) -> Result<Option<Waiting>, ProcessError> {
        Ok(document::read::<Waiting>(self.state.as_ref(), &key(id))
            .await?
            .map(|(w, _)| w))
    }

    /// Handles a request's message: its confirmation mail, if one may go out.
    pub(super) async fn ask(&self, asked: Asked) -> Result<Mailed, ProcessError> {
        let fan = self
            .fan
            .as_ref()
            .ok_or_else(|| ProcessError::Permanent("subscriptions are off".into()))?;
        let id = SubscriberId::of(&asked.address);
        let who = self.pseudonym(&id);
        let issued = asked.requested_at;
        let done = |mailed: Mailed| {
            info!(subscriber = %who, outcome = ?mailed, "subscribe request handled");
            Ok(mailed)
        };
        let record = self.record(&id).await?;
        if record.as_ref().is_some_and(|s| s.suppressed.is_some()) {
            return done(Mailed::Suppressed);
        }
        match self.waiting(&id).await? {
            Some(w) if w.requested_at == issued && w.mailed => return done(Mailed::Already),
            Some(w) if w.requested_at > issued => return done(Mailed::Replaced),
            _ => {}
        }
        let token_key = &fan.composer.key;
        let state = self.state.as_ref();
        let previous = match limits::claim_mailbox(state, token_key, &asked.address, issued).await?
        {
            Claim::TooSoon => return done(Mailed::TooSoon),
            Claim::Ours => None,
            Claim::Claimed { previous } => {
                if !limits::take_mail(
                    state,
                    self.clock.now(),
                    self.config.subscriptions.subscribe_max_per_hour,
                )
                .await?
                {
                    limits::release_mailbox(state, token_key, &asked.address, issued, previous)
                        .await?;
                    warn!(
                        max = self.config.subscriptions.subscribe_max_per_hour,
                        "SUBSCRIBE_MAX_PER_HOUR confirmations went out this hour; a request gets none"
                    );
                    return done(Mailed::OverCap);
                }
                previous
            }
        };
        // The request is kept, marked as mailed, before its mail goes: never twice.
        let waiting = Waiting {
            address: asked.address.clone(),
            components: asked.components.clone(),
            requested_at: issued,
            mailed: true,
            audience: asked.audience.clone(),
        };
        let mut replaced = false;
        document::update(state, &key(&id), |old: Option<Waiting>| match old {
            Some(newer) if newer.requested_at > issued => {
                replaced = true;
                Some(newer)
            }
            _ => Some(waiting.clone()),
        })
        .await?;
        if replaced {
            return done(Mailed::Replaced);
        }
        let change = record.as_ref().is_some_and(Subscriber::active);
        let mail = fan
            .composer
            .confirmation(&asked.address, &id, issued, change)
            .map_err(|e| ProcessError::permanent(&e))?;
        let Err(e) = self.mailer.send(&mail).await else {
            info!(subscriber = %who, change, "confirmation mailed");
            return done(Mailed::Sent);
        };
        let reason = redact(&e.to_string());
        warn!(subscriber = %who, error = %reason, "the confirmation mail was not sent");
        // Not sent: the request may be mailed again, the mailbox claimed again.
        document::update(state, &key(&id), |old: Option<Waiting>| {
            old.map(|mut w| {
                if w.requested_at == issued {
                    w.mailed = false;
                }
                w
            })
        })
        .await?;
        limits::release_mailbox(state, token_key, &asked.address, issued, previous).await?;
        match e {
            BackendError::Permanent(_) => done(Mailed::Refused),
            _ => Err(ProcessError::Retryable(reason)),
        }
    }

    /// Removes what outlived its use: requests whose link expired (48 hours) and the
    /// limits' documents older than a day. On AWS the state bucket's lifecycle rules
    /// do this; the local runner's tick calls it. Returns how many documents went.
    pub async fn sweep(&self) -> Result<usize, ProcessError> {
        self.check_layout().await?;
        let now = self.clock.now();
        let state = self.state.as_ref();
        let mut removed = 0;
        for key in state.list(PREFIX).await? {
            let expired = match document::read::<Waiting>(state, &key).await {
                Ok(w) => w.is_none_or(|(w, _)| !w.current(now)),
                Err(ProcessError::Permanent(e)) => {
                    warn!(error = %redact(&e), "an unreadable subscribe request is removed");
                    true
                }
                Err(e) => return Err(e),
            };
            if expired {
                state.delete(&key).await?;
                removed += 1;
            }
        }
        if removed > 0 {
            info!(removed, "expired subscribe requests removed");
        }
        Ok(removed + limits::sweep(state, now).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::subscriber::{Feedback, Pending, Suppression};

    fn at(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    fn legacy(confirmed: bool, pending: Option<&str>) -> Subscriber {
        Subscriber {
            address: Some("r@example.com".into()),
            components: vec!["api".into()],
            confirmed_at: confirmed.then(|| at("2026-11-01T10:00:00Z")),
            confirmed_request: None,
            suppressed: None,
            pending: pending.map(|t| Pending {
                components: vec!["web".into()],
                requested_at: at(t),
            }),
            confirmation_sent_at: Some(at(pending.unwrap_or("2026-11-01T09:59:00Z"))),
            audience: None,
        }
    }

    #[test]
    fn records_of_the_earlier_release_are_moved() {
        let now = at("2026-12-01T10:00:00Z");
        // Nothing but a request, within its 48 hours: the request alone remains.
        let (record, waiting) = moved(legacy(false, Some("2026-12-01T09:00:00Z")), now);
        assert_eq!(record, None);
        let waiting = waiting.unwrap();
        assert_eq!(
            (
                waiting.address.as_str(),
                waiting.components.clone(),
                waiting.requested_at,
                waiting.mailed
            ),
            (
                "r@example.com",
                vec!["web".to_string()],
                at("2026-12-01T09:00:00Z"),
                true
            )
        );
        // Expired: nothing remains.
        assert_eq!(
            moved(legacy(false, Some("2026-11-29T09:59:59Z")), now),
            (None, None)
        );
        // A subscriber with a change waiting: both, the choice unchanged.
        let (record, waiting) = moved(legacy(true, Some("2026-12-01T09:00:00Z")), now);
        let record = record.unwrap();
        assert!(
            record.active() && record.pending.is_none() && record.confirmation_sent_at.is_none()
        );
        assert_eq!(record.components, vec!["api".to_string()]);
        assert_eq!(waiting.unwrap().components, vec!["web".to_string()]);
        // A subscriber and nothing waiting: its last request is the confirmed one.
        let (record, waiting) = moved(legacy(true, None), now);
        assert_eq!(waiting, None);
        assert_eq!(
            record.unwrap().confirmed_request,
            Some(at("2026-11-01T09:59:00Z"))
        );
        // A suppressed one stays suppressed, with no request.
        let mut stopped = legacy(false, Some("2026-12-01T09:00:00Z"));
        stopped.address = None;
        stopped.suppressed = Some(Suppression {
            reason: Feedback::Bounce,
            at: now,
        });
        let (record, waiting) = moved(stopped, now);
        assert!(record.unwrap().suppressed.is_some());
        assert_eq!(waiting, None);
        // A current record is as it was.
        let current = Subscriber::confirmed("r@example.com", now);
        assert_eq!(moved(current.clone(), now), (Some(current), None));
    }
}
