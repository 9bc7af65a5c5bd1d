//! The subscription routes, as the HTTP edges (API Gateway, the local server) hand
//! them over: HTML pages for people, JSON with `Accept: application/json`.
//!
//! - `GET /subscribe`: a form; `POST /subscribe` (fields `email`, `components`
//!   repeated, honeypot `website`): the same answer, after the same work, whether or
//!   not a confirmation mail goes out ([`super::request`]); only from the status
//!   page's or the API's own origin (or with no `Origin` and no `Referer`, as from
//!   curl), and only the page's components;
//! - `GET|POST /subscribe/confirm?token=`: what will be confirmed, and confirming;
//! - `GET|POST /unsubscribe?token=`: what will happen, and leaving (RFC 8058's
//!   one-click POST takes any body);
//! - `GET|POST /subscriptions?token=`: the choice of components, and changing it.
//!
//! A GET never changes anything: mail scanners follow links. An unsubscribe or manage
//! link acts only on the subscription it was made for ([`Subscriber::holds`]).

use crate::reply::Reply;
use http::{HeaderMap, Method, StatusCode, header};
use minijinja::context;
use serde_json::{Value, json};
use std::sync::LazyLock;
use tracing::{Instrument, info, info_span, warn};

use super::address::{self, SubscriberId, masked, redact};
use super::mail::MANAGE_PATH;
use super::problem::Problem;
use super::request::Asked;
use super::subscriber::{self, Confirmed, Subscriber};
use super::token::{CONFIRM_TTL, Purpose, Token, TokenError};
use super::{Fan, Subscriptions, limits};
use crate::document;
use crate::errors::ProcessError;
use crate::site::data::{INDEX_KEY, PublishedIndex};
use crate::time::Timestamp;

/// The routes, each served for GET, HEAD and POST.
pub const ROUTES: [&str; 4] = [
    "/subscribe",
    "/subscribe/confirm",
    "/unsubscribe",
    "/subscriptions",
];
/// The largest form taken.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// How much of a refused `Origin` a page repeats.
const SHOWN_ORIGIN: usize = 100;

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    crate::templates::environment(&[(
        "page.html",
        include_str!("../../templates/subscriptions/page.html"),
    )])
});

/// A request to one of the routes.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The client's address as the edge saw it (API Gateway's `sourceIp`, the
    /// socket's peer); none if unknown.
    pub source: Option<&'a str>,
}

/// Every view a page may show: each has its title in the catalogues
/// (`subscriptions.title.<view>`).
pub const VIEWS: [&str; 26] = [
    "subscribe_form",
    "check_mail",
    "invalid_address",
    "invalid_components",
    "invalid_body",
    "unsupported_body",
    "too_large",
    "too_many",
    "try_later",
    "wrong_origin",
    "confirm",
    "confirm_change",
    "confirmed",
    "already",
    "link_invalid",
    "link_expired",
    "link_stale",
    "unsubscribe",
    "unsubscribed",
    "not_subscribed",
    "manage",
    "saved",
    "off",
    "unavailable",
    "not_found",
    "method_not_allowed",
];

/// What a page says: its view (a name the template and JSON share) and what it shows.
#[derive(Debug, Default)]
struct View {
    status: u16,
    name: &'static str,
    problem: Option<Problem>,
    /// The address, masked (pages reached by a link) or as typed (the form again).
    address: Option<String>,
    email: Option<String>,
    chosen: Vec<String>,
    /// A subscriber's choice as it stands, beside a change waiting for its
    /// confirmation.
    current: Option<Vec<String>>,
    known: Vec<String>,
    manage_url: Option<String>,
    retry_after: Option<i64>,
}

impl View {
    fn new(status: u16, name: &'static str) -> View {
        View {
            status,
            name,
            ..View::default()
        }
    }
    fn error(status: u16, name: &'static str, problem: Problem) -> View {
        View {
            problem: Some(problem),
            ..View::new(status, name)
        }
    }
    /// A refusal whose problem is named as its view.
    fn refused(status: u16, name: &'static str) -> View {
        View::error(status, name, Problem::new(name))
    }
    fn unavailable() -> View {
        View::refused(503, "unavailable")
    }
}

/// What a form (or a JSON body) sent.
#[derive(Debug, Default)]
struct Fields {
    email: String,
    components: Vec<String>,
    website: String,
    action: String,
    /// From an audience page's form: the audience whose updates are asked for too.
    audience: String,
}

/// `scheme://host[:port]` of a URL, lowercased, without a default port: an origin
/// as browsers send it. None for anything else (`null`, a relative path).
pub fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    let port = match (scheme.as_str(), authority.port_u16()) {
        ("https", Some(443)) | ("http", Some(80)) | (_, None) => String::new(),
        (_, Some(p)) => format!(":{p}"),
    };
    matches!(scheme.as_str(), "http" | "https").then(|| format!("{scheme}://{host}{port}"))
}

impl Subscriptions {
    /// Answers one request to the routes.
    pub async fn web(&self, req: Request<'_>) -> Reply {
        let span = info_span!("request", method = %req.method, path = req.path);
        async {
            let json = wants_json(req.headers);
            let view = self.route(&req).instrument(tracing::Span::current()).await;
            info!(status = view.status, view = view.name, "answered");
            let mut page = self.page(&view, json);
            if req.method == Method::HEAD {
                page.body.clear();
            }
            page
        }
        .instrument(span)
        .await
    }

    async fn route(&self, req: &Request<'_>) -> View {
        let head_or_get = req.method == Method::GET || req.method == Method::HEAD;
        if !ROUTES.contains(&req.path) {
            return View::error(
                404,
                "not_found",
                Problem::new("not_found")
                    .with("method", req.method)
                    .with("path", req.path),
            );
        }
        if !head_or_get && req.method != Method::POST {
            return View::error(
                405,
                "method_not_allowed",
                Problem::new("method_not_allowed")
                    .with("method", req.method)
                    .with("path", req.path),
            );
        }
        let Some(fan) = self.fan.as_ref() else {
            return View::refused(404, "off");
        };
        if req.body.len() > MAX_FORM_BYTES {
            return View::error(
                413,
                "too_large",
                Problem::new("too_large").with("max", MAX_FORM_BYTES),
            );
        }
        let now = self.clock.now();
        let result = match (req.path, head_or_get) {
            ("/subscribe", true) => self.form(View::new(200, "subscribe_form")).await,
            ("/subscribe", false) => self.subscribe(fan, req, now).await,
            (path, get) => {
                let purpose = match path {
                    "/subscribe/confirm" => Purpose::Confirm,
                    "/unsubscribe" => Purpose::Unsubscribe,
                    _ => Purpose::Manage,
                };
                let token = query_token(req.query).unwrap_or_default();
                match fan.composer.key.verify(&token, purpose, now) {
                    Err(TokenError::Invalid) => Ok(View::refused(400, "link_invalid")),
                    Err(TokenError::Expired) => Ok(View::refused(410, "link_expired")),
                    Ok(t) => self.with_token(fan, req, t, get, now).await,
                }
            }
        };
        result.unwrap_or_else(|e| {
            warn!(error = %redact(&e.to_string()), "the state bucket failed");
            View::unavailable()
        })
    }

    /// The origin a form came from, if it is not one of [`Subscriptions::origins`]:
    /// `Origin`, else `Referer`'s origin; neither (a client that is no browser)
    /// passes.
    fn foreign_origin(&self, headers: &HeaderMap) -> Option<String> {
        let given = |name: header::HeaderName| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        };
        let (origin, referer) = (given(header::ORIGIN), given(header::REFERER));
        let from = match (origin, referer) {
            (Some(o), _) => o,
            (None, Some(r)) => r,
            (None, None) => return None,
        };
        match origin_of(&from) {
            Some(o) if self.origins.contains(&o) => None,
            Some(o) => Some(o),
            None => Some(from.chars().take(SHOWN_ORIGIN).collect()),
        }
    }

    async fn with_token(
        &self,
        fan: &Fan,
        req: &Request<'_>,
        token: Token,
        get: bool,
        now: Timestamp,
    ) -> Result<View, ProcessError> {
        let id = token.subscriber.clone();
        let record = self.record(&id).await?;
        if token.purpose == Purpose::Confirm {
            return self.confirm(fan, &id, record, token.issued, get, now).await;
        }
        let shown = |s: &Subscriber| s.address.as_deref().map(masked);
        // The link acts on the subscription it was made for, while it lasts.
        let held = match &record {
            Some(s) if s.holds(token.subscription, token.issued) => Some(s),
            Some(s) if s.active() => {
                info!(subscriber = %self.pseudonym(&id), "a link of an earlier subscription");
                return Ok(View::refused(410, "link_stale"));
            }
            _ => None,
        };
        match (token.purpose, get, held) {
            (Purpose::Unsubscribe, true, Some(s)) => Ok(View {
                address: shown(s),
                ..View::new(200, "unsubscribe")
            }),
            (Purpose::Unsubscribe, true, None) => Ok(View::new(200, "not_subscribed")),
            (Purpose::Unsubscribe, false, _) => {
                self.unsubscribe(&id, token.subscription, token.issued)
                    .await
            }
            (_, true, Some(s)) => {
                self.form(View {
                    address: shown(s),
                    chosen: s.components.clone(),
                    ..View::new(200, "manage")
                })
                .await
            }
            (_, _, None) => Ok(View::refused(404, "not_subscribed")),
            (_, false, Some(s)) => {
                let fields = match fields(req) {
                    Ok(f) => f,
                    Err(v) => return Ok(*v),
                };
                if fields.action == "unsubscribe" {
                    return self
                        .unsubscribe(&id, token.subscription, token.issued)
                        .await;
                }
                // The page's components, and those chosen before (one a published
                // incident no longer names stays choosable).
                let mut known = self.known_components().await?;
                known.extend(s.components.iter().cloned());
                let chosen = match subscriber::known_components(fields.components, &known) {
                    Ok(c) => c,
                    Err(e) => {
                        return self
                            .form(View {
                                address: shown(s),
                                chosen: s.components.clone(),
                                ..View::error(400, "invalid_components", e.problem())
                            })
                            .await;
                    }
                };
                let after = document::update(
                    self.state.as_ref(),
                    &subscriber::key(&id),
                    |old: Option<Subscriber>| {
                        old.map(|mut s| {
                            if s.holds(token.subscription, token.issued) {
                                s.components = chosen.clone();
                            }
                            s
                        })
                    },
                )
                .await?;
                Ok(match after {
                    Some(s) if s.holds(token.subscription, token.issued) => {
                        info!(subscriber = %self.pseudonym(&id), components = s.components.len(), "choice of components changed");
                        self.form(View {
                            address: shown(&s),
                            chosen: s.components,
                            ..View::new(200, "saved")
                        })
                        .await?
                    }
                    _ => View::refused(404, "not_subscribed"),
                })
            }
        }
    }

    /// A confirmation link: GET shows what the request asked for (beside the choice
    /// it would replace), POST makes it so.
    async fn confirm(
        &self,
        fan: &Fan,
        id: &SubscriberId,
        record: Option<Subscriber>,
        issued: i64,
        get: bool,
        now: Timestamp,
    ) -> Result<View, ProcessError> {
        let waiting = self
            .waiting(id)
            .await?
            .filter(|w| w.requested_at.timestamp() == issued && w.current(now));
        let Some(w) = waiting else {
            return Ok(
                match subscriber::confirmed_before(record.as_ref(), issued) {
                    Confirmed::Already(_) => match &record {
                        Some(s) => self.subscribed(fan, "already", s, id, now),
                        None => View::refused(410, "link_stale"),
                    },
                    _ => View::refused(410, "link_stale"),
                },
            );
        };
        if record.as_ref().is_some_and(|s| s.suppressed.is_some()) {
            return Ok(View::refused(410, "link_stale"));
        }
        let current = record
            .as_ref()
            .filter(|s| s.active())
            .map(|s| s.components.clone());
        if get {
            return Ok(View {
                address: Some(masked(&w.address)),
                chosen: w.components.clone(),
                name: if current.is_some() {
                    "confirm_change"
                } else {
                    "confirm"
                },
                current,
                ..View::new(200, "confirm")
            });
        }
        let mut outcome = Confirmed::Stale;
        let after = document::update(
            self.state.as_ref(),
            &subscriber::key(id),
            |old: Option<Subscriber>| {
                let (mut new, c) =
                    subscriber::confirm(old, &w.address, &w.components, w.requested_at, now);
                // Asked from an audience's page: that audience's updates come too.
                if let (Some(s), Confirmed::Now(_), Some(a)) = (&mut new, &c, &w.audience) {
                    s.audience = Some(a.clone());
                }
                outcome = c;
                new
            },
        )
        .await?;
        // Confirmed: the request is done.
        if matches!(outcome, Confirmed::Now(_) | Confirmed::Already(_)) {
            self.state.delete(&super::request::key(id)).await?;
        }
        Ok(match (outcome, after) {
            (Confirmed::Now(_), Some(s)) => {
                info!(subscriber = %self.pseudonym(id), components = s.components.len(), change = current.is_some(), "subscription confirmed");
                self.subscribed(fan, "confirmed", &s, id, now)
            }
            (Confirmed::Already(_), Some(s)) => self.subscribed(fan, "already", &s, id, now),
            _ => View::refused(410, "link_stale"),
        })
    }

    /// A subscribed page, with a link to manage the subscription.
    fn subscribed(
        &self,
        fan: &Fan,
        name: &'static str,
        s: &Subscriber,
        id: &SubscriberId,
        now: Timestamp,
    ) -> View {
        View {
            address: s.address.as_deref().map(masked),
            chosen: s.components.clone(),
            manage_url: Some(fan.composer.link(
                MANAGE_PATH,
                Purpose::Manage,
                id,
                s.subscription(),
                now,
            )),
            ..View::new(200, name)
        }
    }

    /// Leaving the subscription a link was made for: its record goes (a suppressed
    /// one stays, so no form brings the address back). Done again, it is done; a
    /// later subscription of the address stays.
    async fn unsubscribe(
        &self,
        id: &SubscriberId,
        subscription: Option<i64>,
        issued: i64,
    ) -> Result<View, ProcessError> {
        let key = subscriber::key(id);
        let record = document::read::<Subscriber>(self.state.as_ref(), &key)
            .await?
            .map(|(s, _)| s);
        let address = match &record {
            Some(s) if s.holds(subscription, issued) => {
                let address = s.address.as_deref().map(masked);
                self.state.delete(&key).await?;
                info!(subscriber = %self.pseudonym(id), "unsubscribed; the record is removed");
                address
            }
            Some(s) if s.active() => return Ok(View::refused(410, "link_stale")),
            _ => None,
        };
        Ok(View {
            address,
            ..View::new(200, "unsubscribed")
        })
    }

    /// `POST /subscribe`. Every request that passes the checks gets the same work and
    /// the same answer: a message queued, "check your mail".
    async fn subscribe(
        &self,
        fan: &Fan,
        req: &Request<'_>,
        now: Timestamp,
    ) -> Result<View, ProcessError> {
        if let Some(origin) = self.foreign_origin(req.headers) {
            info!(%origin, "a subscribe form from another site refused");
            return Ok(View::error(
                403,
                "wrong_origin",
                Problem::new("wrong_origin").with("origin", origin),
            ));
        }
        let fields = match fields(req) {
            Ok(f) => f,
            Err(v) => return Ok(*v),
        };
        if !limits::take(self.state.as_ref(), &fan.composer.key, req.source, now).await? {
            info!("subscribe requests over the cap for this source");
            return Ok(View {
                retry_after: Some(3600),
                ..View::refused(429, "too_many")
            });
        }
        let check_mail = View::new(202, "check_mail");
        if !fields.website.trim().is_empty() {
            info!("the honeypot field is filled; nothing sent");
            return Ok(check_mail);
        }
        let address = match address::parse(&fields.email) {
            Ok(a) => a,
            Err(e) => {
                return self
                    .form(View {
                        email: Some(fields.email.trim().to_owned()),
                        chosen: fields.components,
                        ..View::error(400, "invalid_address", e.problem())
                    })
                    .await;
            }
        };
        let audience = match self.audience_of(&fields, req) {
            Ok(a) => a,
            Err(view) => return Ok(*view),
        };
        let mut known = self.known_components().await?;
        if let Some(a) = &audience {
            known.extend(self.config.site.components_for(Some(a)));
        }
        let components = match subscriber::known_components(fields.components, &known) {
            Ok(c) => c,
            Err(e) => {
                info!(error = %e.problem(), "a subscribe request for components the page does not have refused");
                return self
                    .form(View {
                        email: Some(address.as_str().to_owned()),
                        ..View::error(400, "invalid_components", e.problem())
                    })
                    .await;
            }
        };
        let max = self.config.subscriptions.subscribe_max_per_hour;
        if limits::mails_spent(self.state.as_ref(), now, max).await? {
            info!(max, "the hour's confirmation mails are spent; try later");
            return Ok(View {
                retry_after: Some(seconds_to_next_hour(now)),
                ..View::refused(429, "try_later")
            });
        }
        // Token times are whole seconds.
        let requested_at = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        self.queue_request(&Asked {
            address: address.as_str().to_owned(),
            components,
            requested_at,
            audience,
        })
        .await?;
        info!(subscriber = %self.pseudonym(&address.id()), "subscribe request queued");
        Ok(check_mail)
    }

    /// The audience a subscribe request is for (`audience=` of an audience page's
    /// form): one of `AUDIENCES`, asked by a reader whose session holds it; else a
    /// refusal (403) saying why.
    fn audience_of(&self, fields: &Fields, req: &Request<'_>) -> Result<Option<String>, Box<View>> {
        let name = fields.audience.trim();
        if name.is_empty() {
            return Ok(None);
        }
        let refuse = |why: String| {
            info!(why, "an audience subscription refused");
            Box::new(View::error(
                403,
                "audience_denied",
                Problem::new("audience_denied").with("why", why),
            ))
        };
        if self.config.audiences.audiences.get(name).is_none() {
            return Err(refuse("no such audience page".to_owned()));
        }
        let Some(signin) = self.signin.get() else {
            return Err(refuse(format!(
                "subscribing to the {name} page's updates needs sign-in, which is not set up here"
            )));
        };
        let cookies = req
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        let path = format!("/{name}/");
        match signin.admit(
            name,
            &path,
            (!cookies.is_empty()).then_some(cookies.as_str()),
        ) {
            Ok(()) => Ok(Some(name.to_owned())),
            Err(reply) if reply.status == StatusCode::FOUND => Err(refuse(format!(
                "subscribing to the {name} page's updates needs you signed in to it: sign in, then subscribe from its page"
            ))),
            Err(reply) => Err(refuse(
                reply
                    .body
                    .split("<p id=\"why\">")
                    .nth(1)
                    .and_then(|r| r.split("</p>").next())
                    .map(|w| w.trim_end_matches('.').to_owned())
                    .unwrap_or_else(|| format!("you may not read the {name} page")),
            )),
        }
    }

    /// The page's components: `COMPONENTS`, then those published incidents name
    /// (as the page lists them).
    async fn known_components(&self) -> Result<Vec<String>, ProcessError> {
        let index = document::read::<PublishedIndex>(self.state.as_ref(), INDEX_KEY)
            .await?
            .map(|(i, _)| i)
            .unwrap_or_default();
        Ok(crate::site::history::components(
            &index,
            &self.config.site.components,
        ))
    }

    /// A view with the components a reader may choose: the page's, and those already
    /// chosen.
    async fn form(&self, mut view: View) -> Result<View, ProcessError> {
        let mut known = self.known_components().await?;
        for c in &view.chosen {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(c)) {
                known.push(c.clone());
            }
        }
        view.known = known;
        Ok(view)
    }

    fn page(&self, view: &View, json: bool) -> Reply {
        let mut headers = vec![
            ("cache-control", "no-store".to_owned()),
            ("referrer-policy", "no-referrer".to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
            ("x-robots-tag", "noindex".to_owned()),
        ];
        if view.status == 405 {
            headers.push(("allow", "GET, HEAD, POST".to_owned()));
        }
        if let Some(s) = view.retry_after {
            headers.push(("retry-after", s.to_string()));
        }
        let status = StatusCode::from_u16(view.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if json {
            return Reply {
                headers,
                ..Reply::json(status, view_json(view))
            };
        }
        headers.push((
            "content-security-policy",
            crate::templates::PAGE_CSP.to_owned(),
        ));
        let language = self.config.site.page_language;
        let ctx = context! {
            lang => language.code(),
            view => view.name,
            site_title => &self.site_title,
            status_page_url => &self.config.site.status_page_url,
            problem => view.problem.as_ref().map(|p| p.sentence(language)),
            address => &view.address,
            email => &view.email,
            chosen => &view.chosen,
            current => &view.current,
            known => &view.known,
            manage_url => &view.manage_url,
            hours => CONFIRM_TTL.num_hours(),
        };
        let body = TEMPLATES
            .get_template("page.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                warn!(error = %e, "page.html did not render");
                let cat = crate::i18n::catalogue(language);
                format!(
                    "<!DOCTYPE html><html lang=\"{}\"><title>{}</title><p>{}</p></html>",
                    language.code(),
                    cat.text("subscriptions.title.unavailable"),
                    cat.text("subscriptions.page.unavailable"),
                )
            });
        Reply {
            headers,
            ..Reply::html(status, body)
        }
    }
}

#[cfg(test)]
impl Subscriptions {
    /// The page of view `name`, with an address, a choice and a problem to show.
    pub(super) fn render_view(&self, name: &'static str) -> String {
        let view = View {
            problem: Some(Problem::new("link_invalid")),
            address: Some("r…@example.com".into()),
            chosen: vec!["api".into()],
            current: Some(vec!["web".into()]),
            known: vec!["api".into(), "web".into()],
            manage_url: Some("https://api.example.com/subscriptions?token=t".into()),
            ..View::new(200, name)
        };
        self.page(&view, false).body
    }
}

fn view_json(view: &View) -> Value {
    let mut v = json!({ "status": view.name });
    if let Some(p) = &view.problem {
        v["error"] = json!(p.to_string());
    }
    if let Some(a) = &view.address {
        v["address"] = json!(a);
    }
    if matches!(
        view.name,
        "confirm" | "confirm_change" | "confirmed" | "already" | "manage" | "saved"
    ) {
        v["components"] = json!(view.chosen);
    }
    if let Some(current) = &view.current {
        v["current_components"] = json!(current);
    }
    if matches!(
        view.name,
        "subscribe_form" | "manage" | "saved" | "invalid_address" | "invalid_components"
    ) {
        v["known_components"] = json!(view.known);
    }
    if let Some(u) = &view.manage_url {
        v["manage_url"] = json!(u);
    }
    v
}

/// Seconds from `now` to the next hour, when the hour's cap starts again.
fn seconds_to_next_hour(now: Timestamp) -> i64 {
    3600 - now.timestamp().rem_euclid(3600)
}

/// Whether the client asked for JSON.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("application/json"))
}

/// `token=` of a query string.
fn query_token(query: Option<&str>) -> Option<String> {
    form_pairs(query?.as_bytes())
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

/// A request's fields, from a form or a JSON object; else the view that refuses it.
fn fields(req: &Request<'_>) -> Result<Fields, Box<View>> {
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut f = Fields::default();
    match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => {
            for (k, v) in form_pairs(req.body) {
                match k.as_str() {
                    "email" => f.email = v,
                    "components" | "components[]" => f.components.push(v),
                    "website" => f.website = v,
                    "action" => f.action = v,
                    "audience" => f.audience = v,
                    _ => {}
                }
            }
        }
        "application/json" => {
            let v: Value = serde_json::from_slice(req.body).map_err(|e| {
                Box::new(View::error(
                    400,
                    "invalid_body",
                    Problem::new("invalid_body").with("error", e),
                ))
            })?;
            let text = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            f.email = text("email");
            f.website = text("website");
            f.action = text("action");
            f.audience = text("audience");
            f.components = match v.get("components") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect(),
                Some(Value::String(c)) => vec![c.clone()],
                _ => Vec::new(),
            };
        }
        other => {
            return Err(Box::new(View::error(
                415,
                "unsupported_body",
                Problem::new("unsupported_body").with("type", other),
            )));
        }
    }
    Ok(f)
}

/// `application/x-www-form-urlencoded` pairs: `+` is a space, `%XX` a byte; bytes
/// that are not UTF-8 are replaced.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    // Two hex digits, no more: `u8::from_str_radix` would also take
                    // a sign (`%+1`), which no form encoder writes for a byte.
                    let digit = |b: u8| (b as char).to_digit(16);
                    let hex = match s.get(i + 1..i + 3) {
                        Some(&[h, l]) => digit(h)
                            .zip(digit(l))
                            .and_then(|(h, l)| u8::try_from(h * 16 + l).ok()),
                        _ => None,
                    };
                    match hex {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&p[..eq]), decode(&p[eq + 1..])),
            None => (decode(p), String::new()),
        })
        .collect()
}
