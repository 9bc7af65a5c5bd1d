//! The fan-out: one update to every subscriber who wants it, through the updates
//! queue, never twice.
//!
//! The publisher queues each update (`{"update": …}`). Its message is planned: the
//! update is kept in the state bucket (`updates/<id>.json`) and the subscribers are
//! split into batches, each a message (`{"batch": …}`) sized to what SES takes in a
//! minute (`GetAccount`'s `MaxSendRate`). All of it goes through one FIFO group, so
//! every batch of an update is mailed before any of the next update: a subscriber
//! gets an incident's mails in order.
//!
//! A batch mails each subscriber it names who is still subscribed and wants the
//! update. Before a mail goes out, a record of it (`deliveries/<update>/<subscriber>.json`)
//! is created with a write that fails if it exists; a mail whose record exists is not
//! sent again, so a retried batch or a redelivered message mails no one twice. A
//! send that fails removes its record, so the retry sends it. (Should the function
//! stop between the record and SES's answer, that one mail is not retried: never
//! twice wins over at least once.)

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::address::{SubscriberId, redact};
use super::mail::Prepared;
use super::request::{self, Asked, Mailed};
use super::subscriber;
use super::update::Update;
use super::{MAX_CONCURRENCY, Subscriptions};
use crate::document;
use crate::errors::{BackendError, ProcessError};
use crate::message;
use crate::ports::{ClaimStore, Condition, OutMessage, PutOptions, Queue};

/// The one message group of the updates queue.
pub const GROUP: &str = "updates";
pub const UPDATES_PREFIX: &str = "updates/";
pub const DELIVERIES_PREFIX: &str = "deliveries/";
/// A batch holds at most this many subscribers...
pub const MAX_BATCH: usize = 100;
/// ...and about this many seconds of mail at the send rate.
pub const BATCH_SECONDS: f64 = 60.0;

/// A message of the updates queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanMessage {
    /// An update to plan, from the publisher.
    Update(Update),
    /// Subscribers to mail one planned update.
    Batch(Batch),
    /// A subscribe request from the form, for its confirmation mail (in the
    /// `confirmations` group: [`super::request`]).
    Confirmation(Asked),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The update's id (`updates/<id>.json`).
    pub update: String,
    pub part: usize,
    pub subscribers: Vec<SubscriberId>,
}

/// What handling a message of the updates queue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanOut {
    Planned {
        update: String,
        subscribers: usize,
        batches: usize,
    },
    Delivered {
        update: String,
        part: usize,
        /// Mailed now.
        sent: usize,
        /// Mailed before (a retry): not again.
        already: usize,
        /// Unsubscribed, unconfirmed, suppressed, or not about their components.
        skipped: usize,
        /// Refused by the mail service for that address alone.
        refused: usize,
    },
    /// Subscriptions are off; the update went to this many operators' channels.
    Posted { update: String, channels: usize },
    /// A subscribe request handled: whether its confirmation went out.
    Confirmation(Mailed),
    /// Subscriptions are off and there are no channels: the message is dropped.
    Off,
}

pub fn update_key(update: &str) -> String {
    format!("{UPDATES_PREFIX}{update}.json")
}

pub fn delivery_key(update: &str, subscriber: &SubscriberId) -> String {
    format!("{DELIVERIES_PREFIX}{update}/{}.json", subscriber.as_str())
}

/// Subscribers per batch at `rate` mails a second (none: no limit).
pub fn batch_size(rate: Option<f64>) -> usize {
    match rate {
        Some(r) if r.is_finite() && r > 0.0 => ((r * BATCH_SECONDS) as usize).clamp(1, MAX_BATCH),
        _ => MAX_BATCH,
    }
}

/// Mails in flight at once at `rate` mails a second.
pub fn concurrency(rate: Option<f64>) -> usize {
    match rate {
        Some(r) if r.is_finite() && r > 0.0 => (r.ceil() as usize).clamp(1, MAX_CONCURRENCY),
        _ => MAX_CONCURRENCY / 2,
    }
}

/// Hands updates to the fan-out, in order: a message each in the updates group,
/// deduplicated by the update's id; one too large for the queue goes by claim check.
pub async fn announce(
    queue: &dyn Queue,
    claims: Option<&dyn ClaimStore>,
    updates: &[Update],
) -> Result<(), BackendError> {
    let mut messages = Vec::with_capacity(updates.len());
    for u in updates {
        let body = serde_json::to_string(&FanMessage::Update(u.clone()))
            .map_err(|e| BackendError::Permanent(format!("update {}: {e}", u.id)))?;
        messages
            .push(message::outgoing(GROUP.into(), message::dedup_id(&u.id), body, claims).await?);
    }
    if messages.is_empty() {
        return Ok(());
    }
    queue.send_batch(messages).await
}

/// How one subscriber of a batch went.
enum One {
    Sent,
    Already,
    Skipped,
    /// Refused by the mail service, with its reason (addresses removed).
    Refused(String),
}

impl Subscriptions {
    /// Queues a request's confirmation mail (the form's one piece of work that
    /// differs from a refusal's).
    pub(super) async fn queue_request(&self, asked: &Asked) -> Result<(), ProcessError> {
        let Some(fan) = &self.fan else {
            return Err(ProcessError::Permanent("subscriptions are off".into()));
        };
        let body = serde_json::to_string(&FanMessage::Confirmation(asked.clone()))
            .map_err(|e| ProcessError::Permanent(e.to_string()))?;
        let dedup = fan.composer.key.keyed_hash(
            "request",
            &format!(
                "{}\0{}",
                asked.address.to_lowercase(),
                asked.requested_at.timestamp()
            ),
        );
        fan.queue
            .send(OutMessage {
                group_id: request::GROUP.into(),
                dedup_id: dedup,
                body,
            })
            .await?;
        Ok(())
    }

    /// Handles one message of the updates queue: an update is planned for the
    /// subscribers, then posted to the operators' channels (a failing channel never
    /// holds back the mail); a batch is mailed.
    pub async fn handle(&self, body: &str) -> Result<FanOut, ProcessError> {
        if self.fan.is_none() && self.channels.is_none() {
            return Ok(FanOut::Off);
        }
        let msg: FanMessage = message::read_body(body, self.state.as_ref()).await?;
        match msg {
            FanMessage::Update(u) => {
                let planned = match &self.fan {
                    Some(fan) => Some(self.plan(fan.queue.as_ref(), u.clone()).await?),
                    None => None,
                };
                let posted = match &self.channels {
                    // The operators' channels are public: never an audience's update.
                    Some(_) if u.audience.is_some() => 0,
                    Some(c) => {
                        let page = self.config.site.status_page_url.as_deref();
                        c.tell(self.state.as_ref(), &u, &self.site_title, page)
                            .await?
                    }
                    None => 0,
                };
                Ok(planned.unwrap_or(FanOut::Posted {
                    update: u.id,
                    channels: posted,
                }))
            }
            FanMessage::Batch(b) => self.deliver(b).await,
            FanMessage::Confirmation(asked) => self.ask(asked).await.map(FanOut::Confirmation),
        }
    }

    /// Keeps the update and queues its batches.
    async fn plan(&self, queue: &dyn Queue, update: Update) -> Result<FanOut, ProcessError> {
        // Subscribers only: no request of the earlier release left among them.
        self.check_layout().await?;
        let body =
            serde_json::to_vec(&update).map_err(|e| ProcessError::Permanent(e.to_string()))?;
        self.state
            .put(
                &update_key(&update.id),
                Bytes::from(body),
                PutOptions::private_json(),
            )
            .await?;
        let ids: Vec<SubscriberId> = self
            .state
            .list(subscriber::PREFIX)
            .await?
            .iter()
            .filter_map(|k| subscriber::id_of_key(k))
            .collect();
        let size = batch_size(self.mailer.max_send_rate().await?);
        let mut messages = Vec::with_capacity(ids.len().div_ceil(size));
        for (part, chunk) in ids.chunks(size).enumerate() {
            let batch = FanMessage::Batch(Batch {
                update: update.id.clone(),
                part,
                subscribers: chunk.to_vec(),
            });
            messages.push(OutMessage {
                group_id: GROUP.into(),
                dedup_id: message::dedup_id(&format!("{}#{part}", update.id)),
                body: serde_json::to_string(&batch)
                    .map_err(|e| ProcessError::Permanent(e.to_string()))?,
            });
        }
        let batches = messages.len();
        if !messages.is_empty() {
            queue.send_batch(messages).await?;
        }
        info!(update = %update.id, kind = update.kind.as_str(), subscribers = ids.len(), batches, "update planned");
        Ok(FanOut::Planned {
            update: update.id,
            subscribers: ids.len(),
            batches,
        })
    }

    /// Mails one batch of an update.
    async fn deliver(&self, batch: Batch) -> Result<FanOut, ProcessError> {
        let fan = self
            .fan
            .as_ref()
            .ok_or_else(|| ProcessError::Permanent("subscriptions are off".into()))?;
        let key = update_key(&batch.update);
        let (update, _) = document::read::<Update>(self.state.as_ref(), &key)
            .await?
            .ok_or_else(|| ProcessError::Permanent(format!("{key} is missing")))?;
        let prepared = fan
            .composer
            .prepare(&update)
            .map_err(|e| ProcessError::permanent(&e))?;
        let width = concurrency(self.mailer.max_send_rate().await?);
        let update = Arc::new(update);
        let results: Vec<Result<One, ProcessError>> = futures_util::stream::iter(batch.subscribers)
            .map(|id| {
                let (update, prepared) = (update.clone(), &prepared);
                async move { self.deliver_one(&update, prepared, id).await }
            })
            .buffer_unordered(width)
            .collect()
            .await;
        let (mut sent, mut already, mut skipped, mut refused) = (0, 0, 0, 0);
        let (mut retry, mut broken, mut refusal) = (None, None, None);
        for r in results {
            match r {
                Ok(One::Sent) => sent += 1,
                Ok(One::Already) => already += 1,
                Ok(One::Skipped) => skipped += 1,
                Ok(One::Refused(m)) => {
                    refused += 1;
                    refusal = Some(m);
                }
                Err(ProcessError::Retryable(m)) => retry = Some(m),
                Err(ProcessError::Permanent(m)) => broken = Some(m),
            }
        }
        info!(update = %batch.update, part = batch.part, sent, already, skipped, refused, "batch mailed");
        if let Some(m) = retry {
            return Err(ProcessError::Retryable(m));
        }
        if let Some(m) = broken {
            return Err(ProcessError::Permanent(m));
        }
        // Refused every time: the mail service refuses the sender, not one address;
        // the message fails (to the dead-letter queue and its alarm) and its
        // records are gone, so a redrive once it is fixed mails everyone.
        if let Some(m) = refusal.filter(|_| sent == 0 && already == 0) {
            return Err(ProcessError::Permanent(m));
        }
        Ok(FanOut::Delivered {
            update: batch.update,
            part: batch.part,
            sent,
            already,
            skipped,
            refused,
        })
    }

    async fn deliver_one(
        &self,
        update: &Update,
        prepared: &Prepared,
        id: SubscriberId,
    ) -> Result<One, ProcessError> {
        let fan = self
            .fan
            .as_ref()
            .ok_or_else(|| ProcessError::Permanent("subscriptions are off".into()))?;
        let who = self.pseudonym(&id);
        // A record of the earlier release is moved here first: every update reads
        // every record, so its waiting request leaves what updates plan over.
        let record = match self.record(&id).await {
            Ok(r) => r,
            Err(ProcessError::Permanent(e)) => {
                warn!(subscriber = %who, error = %redact(&e), "subscriber record unreadable; skipped");
                return Ok(One::Skipped);
            }
            Err(e) => return Err(e),
        };
        let Some(s) = record else {
            return Ok(One::Skipped);
        };
        let (true, Some(address)) = (
            s.active()
                && s.wants(&update.incident.components)
                && s.reads(update.audience.as_deref()),
            s.address.as_deref(),
        ) else {
            return Ok(One::Skipped);
        };
        let key = delivery_key(&update.id, &id);
        let now = self.clock.now();
        let record = serde_json::json!({ "at": crate::time::format(&now) }).to_string();
        let claim = PutOptions::private_json().with_condition(Condition::IfNoneMatch);
        match self.state.put(&key, Bytes::from(record), claim).await {
            Ok(_) => {}
            Err(BackendError::PreconditionFailed(_)) => return Ok(One::Already),
            Err(e) => return Err(e.into()),
        }
        let mail = prepared.mail(&fan.composer, address, &id, s.subscription(), now);
        let Err(e) = self.mailer.send(&mail).await else {
            return Ok(One::Sent);
        };
        // Not sent: the retry may send it.
        if let Err(d) = self.state.delete(&key).await {
            warn!(subscriber = %who, error = %d, "a failed mail's record stays; that mail is not retried");
        }
        let reason = redact(&e.to_string());
        warn!(subscriber = %who, update = %update.id, error = %reason, "mail not sent");
        match e {
            BackendError::Permanent(_) => Ok(One::Refused(reason)),
            _ => Err(ProcessError::Retryable(reason)),
        }
    }
}
