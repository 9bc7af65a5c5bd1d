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
pub mod feeds;
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
pub use update::{Update, UpdateKind, component_updates, detect};

use std::sync::Arc;

use tracing::info;

use crate::clock::{Clock, SystemClock};
use crate::compose::Backends;
use crate::config::aws::UPDATE_QUEUE_URL;
use crate::config::mail::MAIL_FROM;
use crate::config::subscriptions::{PUBLIC_API_URL, SUBSCRIPTION_SECRET, UPDATE_CHANNELS};
use crate::config::{Config, ConfigError};
use crate::document;
use crate::errors::ProcessError;
use crate::ports::{Mailer, ObjectStore, Queue};
use address::SubscriberId;
use mail::Composer;
use subscriber::Subscriber;
use token::{Pseudonym, TokenKey};

/// What subscriptions read.
pub use crate::config::subscriptions::VARIABLES;

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
    /// Sign-in to audience pages, where it is set up: an audience's subscription
    /// needs a session holding that audience ([`Subscriptions::with_signin`]).
    signin: std::sync::OnceLock<Arc<dyn crate::ports::SignIn>>,
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
        let fan = if config.subscriptions.enabled {
            config.require(&[
                SUBSCRIPTION_SECRET.name(),
                PUBLIC_API_URL.name(),
                MAIL_FROM.name(),
            ])?;
            let queue = queue.ok_or_else(|| UPDATE_QUEUE_URL.missing())?;
            let (Some(secret), Some(api), Some(from)) = (
                &config.subscriptions.subscription_secret,
                &config.subscriptions.public_api_url,
                &config.mail.mail_from,
            ) else {
                unreachable!("required above")
            };
            Some(Fan {
                composer: Composer {
                    site_title: site_title.clone(),
                    from: from.clone(),
                    api: api.clone(),
                    page: config.site.status_page_url.clone(),
                    key: TokenKey::new(secret),
                    language: config.site.page_language,
                },
                queue,
            })
        } else {
            None
        };
        let origins = [
            &config.site.status_page_url,
            &config.subscriptions.public_api_url,
        ]
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
            signin: std::sync::OnceLock::new(),
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
            None if subscriptions.config.subscriptions.update_channels.is_some() => {
                Err(UPDATE_CHANNELS
                    .invalid("its channels need outbound HTTP, which this process lacks"))
            }
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
        if let Some(json) = &self.config.subscriptions.update_channels {
            let channels = UpdateChannels::parse(json.expose(), outbound)
                .map_err(|e| UPDATE_CHANNELS.invalid(crate::errors::Chain(&e).to_string()))?;
            self.channels = Some(channels);
        }
        Ok(self)
    }

    /// Takes audience subscriptions from readers signed in with `signin` (once; a
    /// second call changes nothing).
    pub fn with_signin(&self, signin: Arc<dyn crate::ports::SignIn>) {
        let _ = self.signin.set(signin);
    }

    pub fn enabled(&self) -> bool {
        self.fan.is_some()
    }

    /// `GET /<audience>/feed.atom` and `/<audience>/feed/<component>.atom` with a
    /// reader's signed link ([`feeds`]): the audience's feed from the state bucket; a
    /// link unsigned or changed gets a page saying why (403), an unknown audience or
    /// file 404.
    pub async fn audience_feed(
        &self,
        audience: &str,
        file: &str,
        query: Option<&str>,
    ) -> crate::reply::Reply {
        use http::StatusCode;
        let not_found = || {
            crate::reply::Reply::error(StatusCode::NOT_FOUND, format!("no feed /{audience}/{file}"))
        };
        if self.config.audiences.audiences.get(audience).is_none() {
            return not_found();
        }
        let Some(key) = feeds::feed_key(audience, file) else {
            return not_found();
        };
        let secret = self
            .config
            .subscriptions
            .subscription_secret
            .as_ref()
            .map(|s| s.expose());
        if let Err(why) = feeds::check(secret, audience, query) {
            tracing::info!(audience, reason = %why, "audience feed refused");
            return feeds::denied(&why);
        }
        match self.state.get(&key).await {
            Ok(Some(o)) => crate::reply::Reply {
                status: StatusCode::OK,
                content_type: "application/atom+xml",
                body: String::from_utf8_lossy(&o.body).into_owned(),
                headers: vec![("cache-control", "private, no-store".to_owned())],
                error: None,
                binary: None,
            },
            Ok(None) => not_found(),
            Err(e) => crate::reply::Reply::failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state bucket is unavailable",
                &e,
            ),
        }
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
