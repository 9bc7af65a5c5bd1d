//! `POST /alerts`: token check ([`super::auth`]), one queue message per alert.

use http::{HeaderMap, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::{Intake, Reply, check_json_content_type, delivery_id};
use crate::payload::parse;
use openmic_core::errors::Chain;
use openmic_core::message::{self, Source};

/// Checks and queues a delivery to `POST /alerts`.
pub(super) async fn accept(
    intake: &Intake,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, Reply> {
    intake.check_alert_token(headers)?;
    check_json_content_type(headers)?;
    let now = intake.clock.now();
    let parsed = parse::parse_with(body, now, intake.field_map.as_ref())
        .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, e.0))?;
    if let Some(why) = parsed.ignored {
        return Ok(Reply::json(StatusCode::OK, json!({ "ignored": why })));
    }
    if parsed.truncated > 0 {
        warn!(
            truncated = parsed.truncated,
            "Alertmanager left alerts out of this message (max_alerts)"
        );
    }
    let delivery = delivery_id(headers, body);
    tracing::Span::current().record("delivery", delivery.as_str());
    let queue = intake
        .alert_queue
        .as_deref()
        .ok_or_else(|| Reply::error(StatusCode::NOT_FOUND, "no route"))?;
    let received_at = openmic_core::time::format(&now);
    let n = parsed.alerts.len();
    let messages = messages(parsed, &delivery, &received_at)
        .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, Chain(&e).to_string()))?;
    intake.enqueue_all(queue, messages).await?;
    Ok(Reply::json(StatusCode::ACCEPTED, json!({ "queued": n })))
}

/// An alert that could not be written as a queue message.
#[derive(Debug, thiserror::Error)]
#[error("alerts[{index}]")]
pub struct MessageError {
    pub index: usize,
    #[source]
    pub source: serde_json::Error,
}

/// One queue message (group, deduplication id, body) per alert of a request.
pub fn messages(
    parsed: parse::Parsed,
    delivery: &str,
    received_at: &str,
) -> Result<Vec<(String, String, String)>, MessageError> {
    let mut out = Vec::with_capacity(parsed.alerts.len());
    for (i, alert) in parsed.alerts.into_iter().enumerate() {
        let id = format!("{delivery}:{i}");
        // One group per alert, so one alert's repeats and resolution stay in order.
        let key = alert.fingerprint.as_deref().unwrap_or(&id);
        let group = format!(
            "alert:{}",
            hex::encode(&Sha256::digest(key.as_bytes())[..16])
        );
        let event = alert.source.as_str();
        let body = message::compose_value(Source::Alert, Some(event), &id, received_at, &alert)
            .map_err(|source| MessageError { index: i, source })?;
        out.push((group, message::dedup_id(&id), body));
    }
    Ok(out)
}
