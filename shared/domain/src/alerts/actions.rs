//! Acknowledge and silence, from a link in a message: `GET|POST /alerts/ack?token=`
//! and `GET|POST /alerts/silence?token=&for=1h|4h|24h`. A GET only shows what the
//! link will do, with a button (mail scanners fetch links); the POST does it.
//!
//! - Acknowledging stops the reminders of the alert's current generation (its
//!   resolution is still sent); a link from an earlier generation is refused.
//! - Silencing mutes the fingerprint, whatever its generation, until the time ends:
//!   notices are recorded, none is sent.
//! - Both are recorded in the alert's record (`actions`: who, from which channel,
//!   when) and, where the alert has a GitLab incident issue and the API is set up,
//!   noted on the issue naming who acted; an acknowledgement is an event of its
//!   timeline too ([`super::timeline`]).
//!
//! Refusals are pages that say why: 400 (no token, a bad `for`), 403 (forged or
//! altered), 404 (no such alert), 409 (acknowledging a resolved alert), 410 (expired,
//! or the alert fired again since).

use std::sync::Arc;

use minijinja::{Value, context};
use tracing::{info, warn};

use super::links::{Grant, LinkAction, LinkError, LinkKey, silence_for};
use super::message::{self, render};
use super::record::{ActionRecord, AlertRecord, RecordStatus, key_of};
use crate::compose::Backends;
use crate::config::{Config, ConfigError};
use crate::document;
use crate::gitlab::Gitlab;
use crate::ids::IncidentId;
use crate::ports::ObjectStore;
use crate::reply::Reply;
use crate::time::{self, Timestamp};
use http::StatusCode;

/// The headers of every link page beside its content type: never cached, the token
/// never sent on as a referrer, nothing loaded from elsewhere, never in a frame.
pub const PAGE_HEADERS: [(&str, &str); 5] = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", crate::templates::PAGE_CSP),
];

/// Why a link is refused (the page's `why`) and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    Link(LinkError),
    Generation,
    Unknown,
    BadFor,
    Off,
    Resolved,
    Unavailable,
}

impl Refusal {
    fn status(&self) -> u16 {
        match self {
            Refusal::Link(LinkError::Missing) | Refusal::BadFor => 400,
            Refusal::Link(LinkError::Forged | LinkError::WrongAction) => 403,
            Refusal::Link(LinkError::Expired(_)) | Refusal::Generation => 410,
            Refusal::Unknown | Refusal::Off => 404,
            Refusal::Resolved => 409,
            Refusal::Unavailable => 503,
        }
    }

    fn why(&self) -> &'static str {
        match self {
            Refusal::Link(LinkError::Missing) => "missing",
            Refusal::Link(LinkError::Forged) => "forged",
            Refusal::Link(LinkError::WrongAction) => "wrong_action",
            Refusal::Link(LinkError::Expired(_)) => "expired",
            Refusal::Generation => "generation",
            Refusal::Unknown => "unknown",
            Refusal::BadFor => "bad_for",
            Refusal::Off => "off",
            Refusal::Resolved => "resolved",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// What a valid link grants, read from the link alone.
struct Granted {
    grant: Grant,
    /// Its alert record's key.
    key: String,
    /// A silence's length (`for=`).
    length: Option<(String, std::time::Duration)>,
}

impl Granted {
    /// When a silence granted now ends.
    fn until(&self, now: Timestamp) -> Option<Timestamp> {
        self.length
            .as_ref()
            .map(|(_, d)| now + chrono::Duration::from_std(*d).unwrap_or_default())
    }
}

/// What a valid link is about: what it grants, and the alert's record.
struct Subject {
    link: Granted,
    record: AlertRecord,
}

/// The handler of the links.
pub struct Actions {
    /// The on-call calendar links, served beside these (`GET /oncall/<person>.ics`).
    pub calendar: Arc<crate::oncall::calendar::Calendar>,
    config: Arc<Config>,
    state: Arc<dyn ObjectStore>,
    gitlab: Option<Arc<dyn Gitlab>>,
    key: Option<LinkKey>,
    /// The charts' image links, signed with the same secret.
    image_key: Option<crate::metrics::chart::image::ImageKey>,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Actions {
    /// Links are checked with `ALERT_LINK_SECRET`; without it every link is refused.
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        gitlab: Option<Arc<dyn Gitlab>>,
    ) -> Actions {
        Actions {
            calendar: Arc::new(crate::oncall::calendar::Calendar::new(
                &config,
                state.clone(),
            )),
            key: config.alert_routing.link_secret.as_ref().map(LinkKey::new),
            image_key: config
                .alert_routing
                .link_secret
                .as_ref()
                .map(crate::metrics::chart::image::ImageKey::new),
            clock: Arc::new(crate::clock::SystemClock),
            config,
            state,
            gitlab,
        }
    }

    /// The alert links composed from a process's backends: the state bucket, and
    /// GitLab's API where configured (an acknowledgement noted on the alert's issue).
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<Actions, ConfigError> {
        let mut actions = Actions::new(
            config,
            backends.state()?,
            backends.gitlab.as_ref().map(|g| g.api.clone()),
        );
        actions.clock = backends.clock.clone();
        Ok(actions)
    }

    /// `GET /charts/<alert>/<n>.png?expires=&sig=`: the chart of a chat message,
    /// from the state bucket, while its signed link holds (on the process's clock).
    pub async fn chart_image(&self, path: &str, expires: Option<&str>, sig: Option<&str>) -> Reply {
        crate::metrics::chart::image::serve(
            self.state.as_ref(),
            self.image_key.as_ref(),
            path,
            expires,
            sig,
            self.clock.now(),
        )
        .await
    }

    /// `GET`: what the link will do, and a button. Changes nothing.
    pub async fn show(
        &self,
        action: LinkAction,
        token: Option<&str>,
        length: Option<&str>,
        now: Timestamp,
    ) -> Reply {
        let s = match self.check(action, token, length, now).await {
            Ok(s) => s,
            Err(r) => return refused(action, &r),
        };
        let state = if action == LinkAction::Ack && s.record.acknowledged().is_some() {
            "already"
        } else {
            "confirm"
        };
        page(200, action, state, &s, false, now)
    }

    /// `POST`: acknowledges or silences.
    pub async fn act(
        &self,
        action: LinkAction,
        token: Option<&str>,
        length: Option<&str>,
        now: Timestamp,
    ) -> Reply {
        // The record is read once, in the update that acts on it.
        let link = match self.grant(action, token, length, now) {
            Ok(g) => g,
            Err(r) => return refused(action, &r),
        };
        let grant = &link.grant;
        let done = ActionRecord {
            action,
            by: grant.who(),
            channel: grant.channel.clone(),
            at: now,
            generation: grant.generation,
            until: link.until(now),
            noted: false,
            via: super::record::Via::Link,
        };
        let mut refusal = None;
        let mut already = false;
        let updated = document::update(self.state.as_ref(), &link.key, |old| {
            let mut r: AlertRecord = old?;
            refusal = ack_refusal(action, &r, grant).err();
            already = refusal.is_none() && action == LinkAction::Ack && r.acknowledged().is_some();
            if refusal.is_none() && !already {
                r.record_action(done.clone());
            }
            Some(r)
        })
        .await;
        let record = match updated {
            Ok(Some(r)) => r,
            Ok(None) => return refused(action, &Refusal::Unknown),
            Err(e) => {
                warn!(error = %e, "alert link: the record could not be updated");
                return refused(action, &Refusal::Unavailable);
            }
        };
        if let Some(r) = refusal {
            return refused(action, &r);
        }
        let s = Subject { link, record };
        if already {
            return page(200, action, "already", &s, false, now);
        }
        info!(action = ?action, channel = %done.channel, generation = done.generation, "alert acted on by link");
        let noted = self.note(&s, &done).await;
        if let Some(api) = &self.gitlab {
            super::timeline::write_or_defer(
                api.as_ref(),
                self.state.as_ref(),
                self.config.home_project(),
                &s.link.key,
                now,
            )
            .await;
        }
        page(200, action, "done", &s, noted, now)
    }

    /// What the link grants, from the link alone (no I/O), or why not.
    fn grant(
        &self,
        action: LinkAction,
        token: Option<&str>,
        length: Option<&str>,
        now: Timestamp,
    ) -> Result<Granted, Refusal> {
        let key = self.key.as_ref().ok_or(Refusal::Off)?;
        let grant = key.verify(token, action, now).map_err(Refusal::Link)?;
        let length = match action {
            LinkAction::Ack => None,
            LinkAction::Silence => {
                let v = length.unwrap_or("").trim();
                Some((v.to_owned(), silence_for(v).ok_or(Refusal::BadFor)?))
            }
        };
        Ok(Granted {
            key: key_of(&grant.record),
            grant,
            length,
        })
    }

    /// The grant, its record and the silence's length, or why not.
    async fn check(
        &self,
        action: LinkAction,
        token: Option<&str>,
        length: Option<&str>,
        now: Timestamp,
    ) -> Result<Subject, Refusal> {
        let link = self.grant(action, token, length, now)?;
        let record = match document::read::<AlertRecord>(self.state.as_ref(), &link.key).await {
            Ok(Some((r, _))) => r,
            Ok(None) => return Err(Refusal::Unknown),
            Err(e) => {
                warn!(error = %e, "alert link: the record could not be read");
                return Err(Refusal::Unavailable);
            }
        };
        ack_refusal(action, &record, &link.grant)?;
        Ok(Subject { link, record })
    }

    /// Notes the action on the alert's incident issue; true if it was noted.
    async fn note(&self, s: &Subject, done: &ActionRecord) -> bool {
        let (Some(api), Some(issue)) = (&self.gitlab, &s.record.issue) else {
            return false;
        };
        let Some(project) = issue.project.or(self.config.home_project()) else {
            return false;
        };
        let which = if done.action == LinkAction::Ack {
            "ack_note"
        } else {
            "silence_note"
        };
        let body = message::string(
            which,
            context! {
                who => &done.by,
                channel => &done.channel,
                at => time::format(&done.at),
                until => done.until.map(|u| time::format(&u)),
            },
        );
        if let Err(e) = api
            .add_note(IncidentId::new(project, issue.iid), &body)
            .await
        {
            warn!(error = %e, "alert link: the note on the incident issue could not be added");
            return false;
        }
        let marked = document::update(self.state.as_ref(), &s.link.key, |old| {
            old.map(|mut r: AlertRecord| {
                if let Some(a) = r
                    .actions
                    .iter_mut()
                    .find(|a| a.at == done.at && a.action == done.action && a.by == done.by)
                {
                    a.noted = true;
                }
                r
            })
        })
        .await;
        if let Err(e) = marked {
            warn!(error = %e, "alert link: the note could not be recorded");
        }
        true
    }
}

/// Why an acknowledgement cannot be taken on `record`: its link is of an earlier
/// firing, or the alert resolved before anyone acknowledged it.
fn ack_refusal(action: LinkAction, record: &AlertRecord, grant: &Grant) -> Result<(), Refusal> {
    if action != LinkAction::Ack {
        return Ok(());
    }
    if record.generation != grant.generation {
        return Err(Refusal::Generation);
    }
    if record.status == RecordStatus::Resolved && record.acknowledged().is_none() {
        return Err(Refusal::Resolved);
    }
    Ok(())
}

fn page(
    status: u16,
    action: LinkAction,
    state: &str,
    s: &Subject,
    noted: bool,
    now: Timestamp,
) -> Reply {
    let r = &s.record;
    let a = &r.alert;
    let ctx = context! {
        state => state,
        action => action_name(action),
        for => s.link.length.as_ref().map(|(v, _)| v.clone()),
        until => s.link.until(now).map(|u| time::format(&u)),
        title => crate::mail::header_safe(&a.title),
        environment => &a.environment,
        severity => a.severity.as_str(),
        status => if r.status == RecordStatus::Resolved { "resolved" } else { "firing" },
        started => time::format(&a.starts_at.unwrap_or(r.first_seen)),
        acknowledged => r.acknowledged().map(|ack| context! { by => &ack.by, at => time::format(&ack.at) }),
        silenced_until => r.silenced_at(now).map(|u| time::format(&u)),
        who => s.link.grant.who(),
        has_issue => r.issue.is_some(),
        noted => noted,
    };
    html(status, &ctx)
}

fn action_name(action: LinkAction) -> &'static str {
    match action {
        LinkAction::Ack => "ack",
        LinkAction::Silence => "silence",
    }
}

fn refused(action: LinkAction, r: &Refusal) -> Reply {
    let expired = match r {
        Refusal::Link(LinkError::Expired(at)) => Some(time::format(at)),
        _ => None,
    };
    let ctx = context! {
        state => "refused",
        action => action_name(action),
        why => r.why(),
        expired => expired,
    };
    html(r.status(), &ctx)
}

fn html(status: u16, ctx: &Value) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let page = match render("alert-action.html", ctx) {
        Ok(html) => Reply::html(status, html),
        Err(e) => {
            tracing::error!(error = %e, "alert link page");
            Reply::html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!DOCTYPE html><title>Error</title><p>openmic could not show this page.</p>"
                    .into(),
            )
        }
    };
    PAGE_HEADERS
        .into_iter()
        .fold(page, |page, (name, value)| page.with_header(name, value))
}
