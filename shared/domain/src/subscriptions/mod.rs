//! Subscriptions: readers follow incidents by mail, per component, with double
//! opt-in and one-click unsubscribe.
//!
//! - [`address`]: an address checked, its hash (the subscriber's id), its mailbox,
//!   masked, redacted;
//! - [`token`]: the signed tokens of the links in mail, and the keyed pseudonyms logs
//!   name subscribers by;
//! - [`subscriber`]: a subscriber's record and how a confirmation changes it;
//! - [`request`]: a subscribe request, from the form through the queue to its
//!   confirmation mail, kept until confirmed or expired;
//! - [`limits`]: the caps per source, per mailbox and per hour;
//! - [`update`]: what subscribers are told, found by comparing what was public;
//! - [`mail`]: the confirmation and update mails, from templates;
//! - [`problem`]: what was wrong with a request, in the reader's language;
//! - [`fanout`]: an update to every subscriber, through a queue, never twice;
//! - [`feedback`]: SES's bounces and complaints;
//! - [`web`]: the routes (`/subscribe`, `/subscribe/confirm`, `/unsubscribe`,
//!   `/subscriptions`), HTML for people and JSON when asked.
//!
//! Subscriber records live in the state bucket only (`subscribers/<sha256 of the
//! lowercased address>.json`), requests waiting for their confirmation beside them
//! (`subscription-requests/`); logs and errors name a subscriber by a keyed hash
//! ([`token::TokenKey::pseudonym`]), never the address or its plain hash.

pub mod address;
pub mod channels;
pub mod fanout;
pub mod feedback;
pub mod limits;
pub mod mail;
pub mod problem;
pub mod request;
pub mod subscriber;
pub mod token;
pub mod update;
pub mod web;

#[cfg(test)]
mod tests;

pub use channels::UpdateChannels;
pub use fanout::{FanOut, announce};
pub use update::{Update, UpdateKind, detect};

use std::sync::Arc;

use tracing::info;

use crate::clock::{Clock, SystemClock};
use crate::compose::Backends;
use crate::config::Function::{Notifier, Publisher, Subscriptions as SubscriptionsFn};
use crate::config::{Config, ConfigError, Variable};
use crate::document;
use crate::errors::ProcessError;
use crate::ports::{Mailer, ObjectStore, Queue};
use address::SubscriberId;
use mail::Composer;
use subscriber::Subscriber;
use token::{Pseudonym, TokenKey};

/// What subscriptions read.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "SUBSCRIPTIONS",
        default: "`off`",
        meaning: "`on`: readers subscribe to updates by mail (see [Subscriptions](subscriptions.md))",
        secret: false,
        read_by: &[Publisher, SubscriptionsFn],
        required_by: &[],
    },
    Variable {
        name: "UPDATE_CHANNELS",
        default: "none",
        meaning: "the operators' chat and webhook channels every public update goes to: a JSON list as `ALERT_CHANNELS`, without email (see [the operators' channels](subscriptions.md#the-operators-channels-update_channels))",
        secret: true,
        read_by: &[SubscriptionsFn],
        required_by: &[],
    },
    Variable {
        name: "SUBSCRIPTION_SECRET",
        default: "required when `SUBSCRIPTIONS=on` (kept in the data directory locally)",
        meaning: "the key that signs the links in subscription mail, 32 characters or more",
        secret: true,
        read_by: &[SubscriptionsFn],
        required_by: &[],
    },
    Variable {
        name: "PUBLIC_API_URL",
        default: "the HTTP API (locally the listen address)",
        meaning: "where the subscription routes and the alert links are served: the base of the links in mail and chat and of the subscribe form",
        secret: false,
        read_by: &[Publisher, SubscriptionsFn, Notifier],
        required_by: &[],
    },
    Variable {
        name: "SUBSCRIBE_MAX_PER_HOUR",
        default: "`200`",
        meaning: "at most this many confirmation mails an hour, whoever asks; past it the subscribe form says to try later (see [Subscriptions](subscriptions.md))",
        secret: false,
        read_by: &[SubscriptionsFn],
        required_by: &[],
    },
];

/// Mails (and records) in flight at once, at most: the fan-out's and the requests'.
pub const MAX_CONCURRENCY: usize = 16;

/// What the fan-out and the mail need, once subscriptions are on.
struct Fan {
    composer: Composer,
    queue: Arc<dyn Queue>,
}

/// Subscriptions: the routes, the fan-out of updates, and SES's feedback.
pub struct Subscriptions {
    pub config: Arc<Config>,
    /// The site's name in mail and pages (`PAGE_TITLE`, or the page language's).
    site_title: String,
    state: Arc<dyn ObjectStore>,
    mailer: Arc<dyn Mailer>,
    /// None while `SUBSCRIPTIONS` is off.
    fan: Option<Fan>,
    /// `UPDATE_CHANNELS`, once [`Subscriptions::with_channels`] gave a way out.
    channels: Option<UpdateChannels>,
    /// The time of requests, deliveries and feedback; the system's, or one a test
    /// moves.
    clock: Arc<dyn Clock>,
    /// Whether the records are in this release's layout ([`Subscriptions::check_layout`]).
    layout_checked: tokio::sync::OnceCell<()>,
    /// The origins `POST /subscribe` is taken from: the status page's and the API's
    /// (`scheme://host[:port]`); [`Subscriptions::with_origin`] adds more.
    origins: Vec<String>,
}

impl Subscriptions {
    /// With `SUBSCRIPTIONS=on`, `SUBSCRIPTION_SECRET`, `PUBLIC_API_URL`, `MAIL_FROM`
    /// and the updates queue are required.
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        mailer: Arc<dyn Mailer>,
        queue: Option<Arc<dyn Queue>>,
    ) -> Result<Subscriptions, ConfigError> {
        let site_title = crate::site::Page::title(&config);
        let fan = if config.subscriptions {
            config.require(&["SUBSCRIPTION_SECRET", "PUBLIC_API_URL", "MAIL_FROM"])?;
            let queue = queue.ok_or(ConfigError::Missing("UPDATE_QUEUE_URL"))?;
            let (Some(secret), Some(api), Some(from)) = (
                &config.subscription_secret,
                &config.public_api_url,
                &config.mail_from,
            ) else {
                unreachable!("required above")
            };
            Some(Fan {
                composer: Composer {
                    site_title: site_title.clone(),
                    from: from.clone(),
                    api: api.clone(),
                    page: config.status_page_url.clone(),
                    key: TokenKey::new(secret),
                    language: config.page_language,
                },
                queue,
            })
        } else {
            None
        };
        let origins = [&config.status_page_url, &config.public_api_url]
            .into_iter()
            .flatten()
            .filter_map(|url| web::origin_of(url))
            .collect();
        Ok(Subscriptions {
            config,
            site_title,
            state,
            mailer,
            fan,
            channels: None,
            clock: Arc::new(SystemClock),
            layout_checked: tokio::sync::OnceCell::new(),
            origins,
        })
    }

    /// The subscriptions composed from a process's backends: the state bucket,
    /// subscribers' mailer, the updates queue (batches re-queued), outbound HTTPS for
    /// `UPDATE_CHANNELS`, the backends' clock.
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<Subscriptions, ConfigError> {
        let subscriptions = Subscriptions::new(
            config,
            backends.state()?,
            backends.subscription_mailer()?,
            backends.updates.clone(),
        )?
        .with_clock(backends.clock.clone());
        match &backends.outbound {
            Some(outbound) => subscriptions.with_channels(outbound.clone()),
            None if subscriptions.config.update_channels.is_some() => Err(ConfigError::Invalid {
                name: "UPDATE_CHANNELS",
                why: "its channels need outbound HTTP, which this process lacks".into(),
            }),
            None => Ok(subscriptions),
        }
    }

    /// The subscriptions taking `POST /subscribe` from the page at `url` too (a page
    /// of its own for an audience); a URL with no origin is ignored.
    pub fn with_origin(mut self, url: &str) -> Subscriptions {
        if let Some(o) = web::origin_of(url)
            && !self.origins.contains(&o)
        {
            self.origins.push(o);
        }
        self
    }

    /// How logs name a subscriber: keyed with `SUBSCRIPTION_SECRET`.
    fn pseudonym(&self, id: &SubscriberId) -> Pseudonym {
        match &self.fan {
            Some(fan) => fan.composer.key.pseudonym(id),
            None => Pseudonym::unknown(),
        }
    }

    /// The subscriptions on another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Subscriptions {
        self.clock = clock;
        self
    }

    /// With `UPDATE_CHANNELS`: every update also goes to those channels through
    /// `outbound`.
    pub fn with_channels(
        mut self,
        outbound: Arc<dyn crate::ports::Outbound>,
    ) -> Result<Subscriptions, ConfigError> {
        if let Some(json) = &self.config.update_channels {
            let channels = UpdateChannels::parse(json.expose(), outbound).map_err(|e| {
                ConfigError::Invalid {
                    name: "UPDATE_CHANNELS",
                    why: crate::errors::Chain(&e).to_string(),
                }
            })?;
            self.channels = Some(channels);
        }
        Ok(self)
    }

    pub fn enabled(&self) -> bool {
        self.fan.is_some()
    }

    /// One SES notification (an SNS message): a permanent bounce or a complaint
    /// stops mail to the subscriber for good. Returns how many subscribers it
    /// stopped.
    pub async fn feedback(&self, message: &str) -> Result<usize, ProcessError> {
        let verdict = feedback::read(message).map_err(|e| ProcessError::permanent(&e))?;
        let stop = match verdict {
            feedback::Verdict::Stop(stop) => stop,
            feedback::Verdict::Nothing(kind) => {
                info!(kind, "mail feedback needs nothing");
                return Ok(0);
            }
        };
        let now = self.clock.now();
        let mut stopped = 0;
        for (id, reason) in stop {
            let after = document::update(
                self.state.as_ref(),
                &subscriber::key(&id),
                |old: Option<Subscriber>| subscriber::suppress(old, reason, now),
            )
            .await?;
            let who = self.pseudonym(&id);
            if after.is_some() {
                info!(subscriber = %who, ?reason, "mail to the subscriber stopped for good");
                stopped += 1;
            } else {
                info!(subscriber = %who, ?reason, "mail feedback about an address that is no subscriber");
            }
        }
        Ok(stopped)
    }
}
