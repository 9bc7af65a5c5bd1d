//! Intake: what `POST /gitlab` and `POST /alerts` do with a delivery. The HTTP edge
//! (`openmic-http`) first asks [`Intake::before_body`] whether the headers admit it
//! (who sends it, the size it declares), then reads the body within `MAX_BODY_BYTES`
//! and hands it here; intake authenticates again (a signature covers the body),
//! checks and queues. All real work happens behind the queue.
//!
//! A crate of its own, on `openmic-core` only, so the functions that take deliveries
//! (webhook, alerts) build without what the rest of the domain needs (rendering,
//! templates, mail). The domain (`openmic`) re-exports it as `openmic::intake`, and
//! its [`payload`]s as `openmic::alerts::{Alert, parse, fieldmap, …}`.
//!
//! - [`hooks`]: GitLab's payloads; [`payload`]: the alert shapes and the one [`payload::Alert`];
//! - [`auth`]: who may post; [`projects`]: which projects are taken;
//! - [`alerts`]: `POST /alerts`, one queue message per alert.

pub mod alerts;
pub mod auth;
pub mod hooks;
pub mod payload;
pub mod projects;

use std::sync::Arc;

use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{Instrument, info, info_span, warn};

pub use auth::{Route, check_declared_length, too_large};
use hooks::{Hook, HookError};
use openmic_core::clock::{Clock, SystemClock};
use openmic_core::compose::Backends;
use openmic_core::config::alerting::ALERT_FIELD_MAP;
use openmic_core::config::intake::{ALERT_TOKEN, GITLAB_SIGNING_TOKEN, GITLAB_WEBHOOK_SECRET};
use openmic_core::config::{Config, ConfigError};
use openmic_core::errors::Chain;
use openmic_core::ids::IncidentId;
use openmic_core::message::{self, Source};
use openmic_core::ports::{ClaimStore, ClaimsIn, ObjectStore, Queue};
use openmic_core::signing::SigningKey;
use projects::{Projects, Refused};

/// What intake reads.
pub use openmic_core::config::intake::VARIABLES;

/// A route's reply (the one type every route answers with).
pub use openmic_core::reply::Reply;

/// What intake needs: settings and where to queue.
pub struct Intake {
    pub config: Arc<Config>,
    pub publish_queue: Option<Arc<dyn Queue>>,
    pub alert_queue: Option<Arc<dyn Queue>>,
    /// For claim checks of bodies too large for the queue.
    pub claims: Option<Arc<dyn ClaimStore>>,
    signing_key: Option<SigningKey>,
    projects: Projects,
    /// `ALERT_FIELD_MAP`, for bodies of any shape.
    field_map: Option<crate::payload::fieldmap::FieldMap>,
    /// When a delivery arrives (signatures' freshness, the time an alert was received).
    pub clock: Arc<dyn Clock>,
}

impl Intake {
    /// Checks the settings each route needs: a route without its secret is refused at
    /// start rather than left open.
    pub fn new(
        config: Arc<Config>,
        publish_queue: Option<Arc<dyn Queue>>,
        alert_queue: Option<Arc<dyn Queue>>,
        claims: Option<Arc<dyn ClaimStore>>,
    ) -> Result<Intake, ConfigError> {
        if publish_queue.is_some() {
            config.require(&[GITLAB_WEBHOOK_SECRET.name()])?;
        }
        if alert_queue.is_some() {
            config.require(&[ALERT_TOKEN.name()])?;
        }
        let signing_key = match &config.intake.gitlab_signing_token {
            Some(t) => Some(
                SigningKey::from_secret(t.expose())
                    .map_err(|e| GITLAB_SIGNING_TOKEN.invalid(e.to_string()))?,
            ),
            None => None,
        };
        let field_map = match &config.alert_routing.field_map {
            Some(json) => Some(
                crate::payload::fieldmap::FieldMap::parse(json)
                    .map_err(|e| ALERT_FIELD_MAP.invalid(Chain(&e).to_string()))?,
            ),
            None => None,
        };
        Ok(Intake {
            field_map,
            projects: Projects::new(&config, None),
            config,
            publish_queue,
            alert_queue,
            claims,
            signing_key,
            clock: Arc::new(SystemClock),
        })
    }

    /// Intake composed from a process's backends: `POST /gitlab` where it has the
    /// publish queue, `POST /alerts` where it has the alerts queue; bodies too large
    /// for a queue claimed in the state bucket, and without `GITLAB_PROJECT_ID` (the
    /// local runner) the first project heard of kept there; on the backends' clock.
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<Intake, ConfigError> {
        let claims = backends
            .state
            .clone()
            .map(|s| Arc::new(ClaimsIn(s)) as Arc<dyn ClaimStore>);
        let mut intake = Intake::new(
            config,
            backends.publish.clone(),
            backends.alerts.clone(),
            claims,
        )?
        .with_clock(backends.clock.clone());
        if let Some(state) = &backends.state {
            intake = intake.keeping_first_project_in(state.clone());
        }
        Ok(intake)
    }

    /// Intake with another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Intake {
        self.clock = clock;
        self
    }

    /// Without `GITLAB_PROJECT_ID` (the local runner), the first project heard of is
    /// kept in `state`, so a restart keeps it.
    pub fn keeping_first_project_in(mut self, state: Arc<dyn ObjectStore>) -> Intake {
        self.projects = Projects::new(&self.config, Some(state));
        self
    }
}

/// JSON bodies only; a missing content type is taken as JSON.
pub fn check_json_content_type(headers: &HeaderMap) -> Result<(), Reply> {
    match headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => Ok(()),
        Some(ct) => {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
            {
                Ok(())
            } else {
                Err(Reply::error(
                    StatusCode::BAD_REQUEST,
                    format!("Content-Type must be application/json, not {ct:?}"),
                ))
            }
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The deduplication id of a delivery: `Idempotency-Key`, else `X-Gitlab-Event-UUID`,
/// else `webhook-id`, else a hash of the body.
pub fn delivery_id(headers: &HeaderMap, body: &[u8]) -> String {
    let given = ["idempotency-key", "x-gitlab-event-uuid", "webhook-id"]
        .iter()
        .find_map(|h| header_str(headers, h).filter(|v| !v.trim().is_empty()));
    match given {
        Some(id) => message::dedup_id(id.trim()),
        None => hex::encode(Sha256::digest(body)),
    }
}

impl Intake {
    /// Queues one message; 503 if the queue cannot take it.
    pub async fn enqueue(
        &self,
        queue: &dyn Queue,
        group: String,
        dedup: String,
        body: String,
    ) -> Result<(), Reply> {
        self.enqueue_all(queue, vec![(group, dedup, body)]).await
    }

    /// Queues messages (group, deduplication id, body) in order, in batches where the
    /// queue allows; 503 if the queue cannot take them. A retry of the same delivery
    /// carries the same deduplication ids, so what was queued before is not doubled.
    pub async fn enqueue_all(
        &self,
        queue: &dyn Queue,
        messages: Vec<(String, String, String)>,
    ) -> Result<(), Reply> {
        let unavailable = |e: openmic_core::errors::BackendError| {
            warn!(error = %e, "queue refused a message");
            Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the queue is unavailable; try again",
            )
        };
        let mut out = Vec::with_capacity(messages.len());
        for (group, dedup, body) in messages {
            out.push(
                message::outgoing(group, dedup, body, self.claims.as_deref())
                    .await
                    .map_err(unavailable)?,
            );
        }
        queue.send_batch(out).await.map_err(unavailable)
    }
}

/// Runs one request's work in its span and logs the reply (status, and the error
/// message of a refusal).
async fn respond(
    span: tracing::Span,
    work: impl std::future::Future<Output = Result<Reply, Reply>>,
) -> Reply {
    async move {
        let reply = match work.await {
            Ok(r) | Err(r) => r,
        };
        info!(
            status = reply.status.as_u16(),
            error = reply.error.as_deref(),
            "reply"
        );
        reply
    }
    .instrument(span)
    .await
}

impl Intake {
    /// `POST /gitlab` with its body read.
    pub async fn gitlab(&self, headers: &HeaderMap, body: &[u8]) -> Reply {
        let event = header_str(headers, "x-gitlab-event").unwrap_or("");
        let span = info_span!("gitlab", event = %event, delivery = tracing::field::Empty);
        respond(span, gitlab_inner(self, headers, body)).await
    }

    /// `POST /alerts` with its body read.
    pub async fn alerts(&self, headers: &HeaderMap, body: &[u8]) -> Reply {
        let span = info_span!("alerts", delivery = tracing::field::Empty);
        respond(span, alerts::accept(self, headers, body)).await
    }
}

/// The `X-Gitlab-Event` of a push.
pub const PUSH_HOOK: &str = "Push Hook";

/// With `ONCALL_CONFIG` in a GitLab repository, a push that touched the on-call file
/// is queued for the publisher, which asks for the file to be read again; any other
/// push is ignored (as every push is without it).
async fn oncall_push(
    intake: &Intake,
    headers: &HeaderMap,
    body: &[u8],
    text: &str,
) -> Result<Reply, Reply> {
    let push = hooks::PushHook::parse(body)
        .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let touched = match &intake.config.oncall.oncall_config {
        Some(openmic_core::config::oncall::OnCallSource::Gitlab {
            project,
            file,
            reference,
        }) => push.touches(project, file, reference),
        _ => false,
    };
    if !touched {
        return Ok(Reply::json(
            StatusCode::OK,
            json!({ "ignored": "a push that does not touch the on-call file" }),
        ));
    }
    let dedup = delivery_id(headers, body);
    tracing::Span::current().record("delivery", dedup.as_str());
    let received_at = openmic_core::time::format(&intake.clock.now());
    let message = message::compose(Source::Gitlab, Some(PUSH_HOOK), &dedup, &received_at, text);
    let queue = intake
        .publish_queue
        .as_deref()
        .ok_or_else(|| Reply::error(StatusCode::NOT_FOUND, "no route"))?;
    intake
        .enqueue(queue, "oncall".into(), dedup, message)
        .await?;
    Ok(Reply::json(StatusCode::ACCEPTED, json!({ "queued": 1 })))
}

async fn gitlab_inner(intake: &Intake, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    intake.check_gitlab_auth(headers, body)?;
    check_json_content_type(headers)?;
    let text = std::str::from_utf8(body).map_err(|e| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            format!("body is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    let event = header_str(headers, "x-gitlab-event");
    let oncall_in_gitlab = matches!(
        intake.config.oncall.oncall_config,
        Some(openmic_core::config::oncall::OnCallSource::Gitlab { .. })
    );
    if event == Some(PUSH_HOOK) && oncall_in_gitlab {
        return oncall_push(intake, headers, body, text).await;
    }
    let hook = match Hook::parse(event, body) {
        Ok(h) => h,
        Err(HookError::Ignored(why)) => {
            return Ok(Reply::json(StatusCode::OK, json!({ "ignored": why })));
        }
        Err(HookError::Malformed(why)) => return Err(Reply::error(StatusCode::BAD_REQUEST, why)),
    };
    let project = hook.project_id();
    intake.projects.admit(project).await.map_err(|e| match e {
        Refused::OtherProject(why) => Reply::error(StatusCode::FORBIDDEN, why),
        Refused::Backend(e) => {
            warn!(error = %e, "the state bucket cannot say which project was taken");
            Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state bucket is unavailable; try again",
            )
        }
    })?;
    let dedup = delivery_id(headers, body);
    tracing::Span::current().record("delivery", dedup.as_str());
    let received_at = openmic_core::time::format(&intake.clock.now());
    let message = message::compose(Source::Gitlab, event, &dedup, &received_at, text);
    let queue = intake
        .publish_queue
        .as_deref()
        .ok_or_else(|| Reply::error(StatusCode::NOT_FOUND, "no route"))?;
    intake
        .enqueue(
            queue,
            IncidentId::new(project, hook.iid()).group(),
            dedup,
            message,
        )
        .await?;
    Ok(Reply::json(StatusCode::ACCEPTED, json!({ "queued": 1 })))
}
