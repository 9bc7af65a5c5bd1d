//! Reading `POST /alerts` bodies: Alertmanager's webhook (`version: "4"`), Grafana's
//! (`version: "1"`: Alertmanager's shape and more) and its legacy one (no `alerts[]`),
//! and GitLab's generic alert. What real senders send is read; a field that cannot be
//! used is replaced, as GitLab does, and noted on the alert (`quirks`), never a 400.
//! Errors name the field that is wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fieldmap::FieldMap;
use super::{Alert, AlertSource, AlertStatus, GENERIC_FIELDS, Severity};
use openmic_core::time::{self, Timestamp};

/// The most alerts one request may carry (Alertmanager's `max_alerts` keeps a group
/// under it).
pub const MAX_ALERTS: usize = 1000;

/// Alertmanager's zero time: "no end".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Alertmanager's webhook message, every top-level field, and Grafana's additions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerWebhook {
    /// `4` from Alertmanager, `1` from Grafana; some senders leave it out.
    #[serde(default, deserialize_with = "lenient_text")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub group_key: Option<String>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub truncated_alerts: u64,
    #[serde(default, deserialize_with = "lenient_text")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub receiver: Option<String>,
    #[serde(default, deserialize_with = "lenient_labels")]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_labels")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_annotations")]
    pub common_annotations: BTreeMap<String, Value>,
    #[serde(default, rename = "externalURL", deserialize_with = "lenient_text")]
    pub external_url: Option<String>,
    /// Grafana's organisation: present on every Grafana message.
    #[serde(default)]
    pub org_id: Option<Value>,
    pub alerts: Vec<AlertmanagerAlert>,
}

#[derive(Debug, Deserialize)]
pub struct AlertmanagerAlert {
    #[serde(default, deserialize_with = "lenient_text")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_annotations")]
    pub annotations: BTreeMap<String, Value>,
    #[serde(default, rename = "startsAt", deserialize_with = "lenient_text")]
    pub starts_at: Option<String>,
    #[serde(default, rename = "endsAt", deserialize_with = "lenient_text")]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL", deserialize_with = "lenient_text")]
    pub generator_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    pub fingerprint: Option<String>,
    /// Grafana: the query results that fired it (may be null).
    #[serde(default, rename = "valueString", deserialize_with = "lenient_text")]
    pub value_string: Option<String>,
    #[serde(default, rename = "silenceURL", deserialize_with = "lenient_text")]
    pub silence_url: Option<String>,
    #[serde(default, rename = "dashboardURL", deserialize_with = "lenient_text")]
    pub dashboard_url: Option<String>,
    #[serde(default, rename = "panelURL", deserialize_with = "lenient_text")]
    pub panel_url: Option<String>,
    #[serde(default, rename = "imageURL", deserialize_with = "lenient_text")]
    pub image_url: Option<String>,
}

/// A body that cannot be read; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AlertError(pub String);

/// What a `POST /alerts` body holds.
#[derive(Debug)]
pub struct Parsed {
    pub alerts: Vec<Alert>,
    /// Alerts Alertmanager left out of the message (`truncatedAlerts`).
    pub truncated: u64,
    /// Why a well-formed body carries no alert (Grafana's legacy `pending`, `paused`).
    pub ignored: Option<String>,
}

impl Parsed {
    fn of(alerts: Vec<Alert>) -> Parsed {
        Parsed {
            alerts,
            truncated: 0,
            ignored: None,
        }
    }
}

/// Reads an Alertmanager or Grafana webhook, Grafana's legacy one, or a generic alert.
/// `received` is when the body arrived: it stands in for a start time that cannot be
/// read, and decides the status of an alert that gives none.
///
/// A well-formed Alertmanager message (the usual case, and the large one) is read in
/// one typed pass. Anything else is read as a JSON value first, which decides the
/// shape and names what is wrong.
pub fn parse(body: &[u8], received: Timestamp) -> Result<Parsed, AlertError> {
    parse_with(body, received, None)
}

/// [`parse`], with a body that is neither Alertmanager's nor Grafana's read through
/// `ALERT_FIELD_MAP` first.
pub fn parse_with(
    body: &[u8],
    received: Timestamp,
    fields: Option<&FieldMap>,
) -> Result<Parsed, AlertError> {
    if memchr::memmem::find(body, b"\"alerts\"").is_some()
        && let Ok(hook) = serde_json::from_slice::<AlertmanagerWebhook>(body)
        && hook.alerts.len() <= MAX_ALERTS
    {
        return Ok(alertmanager_alerts(hook, received));
    }
    parse_value(body, received, fields)
}

/// [`parse`] by way of a JSON value: every shape, every error.
fn parse_value(
    body: &[u8],
    received: Timestamp,
    fields: Option<&FieldMap>,
) -> Result<Parsed, AlertError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AlertError(format!("body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(AlertError("body must be a JSON object".into()));
    };
    if map.contains_key("alerts") {
        alertmanager(&map, body, received)
    } else if map.contains_key("ruleName") || map.contains_key("evalMatches") {
        grafana_legacy(&map)
    } else if let Some(fields) = fields {
        let mapped = fields.apply(&map);
        match (mapped.contains_key("title"), fields.path("title")) {
            (false, Some(path)) => Err(AlertError(format!(
                "missing field `title`: ALERT_FIELD_MAP takes it from `{path}`, which this body does not have"
            ))),
            _ => generic(mapped, received).map(|a| Parsed::of(vec![a])),
        }
    } else if map.contains_key("version") && !map.contains_key("title") {
        Err(AlertError("missing field `alerts`".into()))
    } else {
        generic(map, received).map(|a| Parsed::of(vec![a]))
    }
}

fn field_error(path: &str, e: impl std::fmt::Display) -> AlertError {
    AlertError(format!("{path}: {e}"))
}

/// Any version: Alertmanager's 3 and 4 and Grafana's 1 share the shape, and senders
/// that copy it write what they like (`0`, or nothing).
fn alertmanager(
    map: &Map<String, Value>,
    body: &[u8],
    received: Timestamp,
) -> Result<Parsed, AlertError> {
    match map.get("alerts") {
        Some(Value::Array(a)) if a.len() > MAX_ALERTS => {
            return Err(AlertError(format!(
                "alerts: {} alerts in one request, at most {MAX_ALERTS} (set max_alerts in Alertmanager's webhook_config)",
                a.len()
            )));
        }
        Some(Value::Array(_)) => {}
        Some(other) => return Err(AlertError(format!("alerts: expected a list, got {other}"))),
        None => return Err(AlertError("missing field `alerts`".into())),
    }
    // Read from the bytes again, as the typed pass does: the one reading of the shape.
    let hook: AlertmanagerWebhook = serde_json::from_slice(body)
        .map_err(|e| AlertError(format!("Alertmanager webhook: {e}")))?;
    Ok(alertmanager_alerts(hook, received))
}

/// Alertmanager's (or Grafana's) alerts, each with the common labels and annotations
/// under its own.
fn alertmanager_alerts(hook: AlertmanagerWebhook, received: Timestamp) -> Parsed {
    let grafana = hook.version.as_deref() == Some("1") || hook.org_id.is_some();
    let mut extra = Map::new();
    for (k, v) in [
        ("groupKey", &hook.group_key),
        ("receiver", &hook.receiver),
        ("externalURL", &hook.external_url),
        ("groupStatus", &hook.status),
    ] {
        if let Some(v) = v {
            extra.insert(k.into(), Value::String(v.clone()));
        }
    }
    let mut alerts = Vec::with_capacity(hook.alerts.len());
    for (i, a) in hook.alerts.into_iter().enumerate() {
        let at = |f: &str| format!("alerts[{i}].{f}");
        let mut quirks = Vec::new();
        // An alert's own labels and annotations win over the common ones.
        let mut labels = hook.common_labels.clone();
        labels.extend(a.labels);
        let mut annotations = hook.common_annotations.clone();
        annotations.extend(a.annotations);
        let text = |k: &str| {
            annotations
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .filter(|s| !s.is_empty())
        };
        let starts_at = match am_time(a.starts_at.as_deref()) {
            Ok(t) => t,
            Err(bad) => {
                quirks.push(format!("{}: {bad}; used the time received", at("startsAt")));
                Some(received)
            }
        };
        let ends_at = am_time(a.ends_at.as_deref()).unwrap_or_else(|bad| {
            quirks.push(format!("{}: {bad}; taken as no end", at("endsAt")));
            None
        });
        let status = match a.status.as_deref().or(hook.status.as_deref()) {
            Some(s) if s.eq_ignore_ascii_case("firing") => AlertStatus::Firing,
            Some(s) if s.eq_ignore_ascii_case("resolved") => AlertStatus::Resolved,
            given => {
                // No status: an end that has passed means resolved, as Alertmanager's
                // own API decides.
                let status = if ends_at.is_some_and(|e| e <= received) {
                    AlertStatus::Resolved
                } else {
                    AlertStatus::Firing
                };
                quirks.push(format!(
                    "{}: {}; taken as {}",
                    at("status"),
                    given.map_or("missing".to_owned(), |g| format!(
                        "{g:?} is neither firing nor resolved"
                    )),
                    if status == AlertStatus::Firing {
                        "firing"
                    } else {
                        "resolved"
                    }
                ));
                status
            }
        };
        let title = text("title")
            .or_else(|| text("summary"))
            .or_else(|| labels.get("alertname").cloned())
            .unwrap_or_else(|| {
                if grafana {
                    "Grafana alert".into()
                } else {
                    "Prometheus alert".into()
                }
            });
        let environment = ["gitlab_environment_name", "env", "environment"]
            .iter()
            .find_map(|k| labels.get(*k).filter(|v| !v.is_empty()).cloned());
        let hosts = text("hosts")
            .or_else(|| labels.get("instance").cloned())
            .map(|h| vec![h])
            .unwrap_or_default();
        let fingerprint = a
            .fingerprint
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| labels_fingerprint(&labels));
        let links: BTreeMap<String, String> = [
            ("silence", a.silence_url),
            ("dashboard", a.dashboard_url),
            ("panel", a.panel_url),
            ("image", a.image_url),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v.filter(|v| !v.is_empty())?)))
        .collect();
        let mut extra = extra.clone();
        if let Some(v) = a.value_string.filter(|v| !v.is_empty()) {
            extra.insert("valueString".into(), Value::String(v));
        }
        alerts.push(Alert {
            source: if grafana {
                AlertSource::Grafana
            } else {
                AlertSource::Prometheus
            },
            fingerprint: Some(fingerprint),
            status,
            title,
            description: text("description").or_else(|| text("message")),
            severity: Severity::normalise(labels.get("severity").map(String::as_str)),
            environment,
            service: labels.get("service").or_else(|| labels.get("job")).cloned(),
            monitoring_tool: Some(if grafana { "Grafana" } else { "Prometheus" }.into()),
            hosts,
            starts_at,
            ends_at,
            generator_url: a.generator_url.filter(|u| !u.is_empty()),
            runbook: text("runbook").or_else(|| text("runbook_url")),
            labels,
            annotations,
            links,
            extra,
            quirks,
        });
    }
    Parsed {
        alerts,
        truncated: hook.truncated_alerts,
        ignored: None,
    }
}

/// Grafana's legacy alerting (before unified alerting): one rule's state, no
/// `alerts[]`. `alerting` and `no_data` fire, `ok` resolves; `pending` and `paused`
/// say nothing yet.
fn grafana_legacy(map: &Map<String, Value>) -> Result<Parsed, AlertError> {
    let s = |k: &str| match map.get(k) {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let state = s("state").ok_or_else(|| AlertError("missing field `state`".into()))?;
    let status = match state.as_str() {
        "alerting" | "no_data" => AlertStatus::Firing,
        "ok" => AlertStatus::Resolved,
        other => {
            return Ok(Parsed {
                ignored: Some(format!(
                    "Grafana state {other:?} is neither firing nor resolved"
                )),
                ..Parsed::of(vec![])
            });
        }
    };
    let rule = s("ruleName").or_else(|| s("title"));
    let mut labels: BTreeMap<String, String> = match map.get("tags") {
        Some(Value::Object(tags)) => tags
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect(),
        _ => BTreeMap::new(),
    };
    if let Some(r) = &rule {
        labels
            .entry("alertname".into())
            .or_insert_with(|| r.clone());
    }
    let fingerprint = format!(
        "grafana:{}:{}",
        s("orgId").unwrap_or_default(),
        s("ruleId").or_else(|| rule.clone()).unwrap_or_default()
    );
    let matches: Vec<String> = match map.get("evalMatches") {
        Some(Value::Array(m)) => m
            .iter()
            .map(|m| {
                let metric = m.get("metric").map(value_text).unwrap_or_default();
                let value = m.get("value").map(value_text).unwrap_or_default();
                format!("{metric} = {value}")
            })
            .collect(),
        _ => vec![],
    };
    let description = match (s("message"), matches.is_empty()) {
        (Some(m), true) => Some(m),
        (Some(m), false) => Some(format!("{m}\n\n{}", matches.join("\n"))),
        (None, false) => Some(matches.join("\n")),
        (None, true) => None,
    };
    let mut links = BTreeMap::new();
    if let Some(u) = s("imageUrl") {
        links.insert("image".into(), u);
    }
    let extra: Map<String, Value> = ["dashboardId", "panelId", "orgId", "ruleId", "state"]
        .iter()
        .filter_map(|k| Some((k.to_string(), map.get(*k)?.clone())))
        .collect();
    Ok(Parsed::of(vec![Alert {
        source: AlertSource::Grafana,
        fingerprint: Some(fingerprint),
        status,
        title: rule.unwrap_or_else(|| "Grafana alert".into()),
        description,
        severity: Severity::normalise(labels.get("severity").map(String::as_str)),
        environment: ["env", "environment"]
            .iter()
            .find_map(|k| labels.get(*k).cloned()),
        service: labels.get("service").cloned(),
        monitoring_tool: Some("Grafana".into()),
        hosts: vec![],
        starts_at: None,
        ends_at: None,
        generator_url: s("ruleUrl"),
        runbook: None,
        labels,
        annotations: BTreeMap::new(),
        links,
        extra,
        quirks: vec![],
    }]))
}

/// Alertmanager's times: absent, empty or Go's zero time mean unset; anything else
/// that is no time is an error saying so (the caller decides what stands in).
fn am_time(v: Option<&str>) -> Result<Option<Timestamp>, String> {
    match v.map(str::trim) {
        None | Some("") | Some(ZERO_TIME) => Ok(None),
        Some(t) => match time::parse(t) {
            // Go's zero time in any spelling is "unset".
            Some(ts) if ts.timestamp() <= -62_135_596_800 => Ok(None),
            Some(ts) => Ok(Some(ts)),
            None => Err(format!("invalid timestamp {t:?}")),
        },
    }
}

/// Alertmanager's own fingerprint is a hash of the label set; without one, ours is too.
fn labels_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xff]);
    }
    hex::encode(&h.finalize()[..8])
}

/// A JSON value as text: strings as they are, anything else as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Text a sender may write as a string, a number, a flag or null (`null` and absent
/// are none; anything else is its JSON).
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("text")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Text)
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(a))?;
            Ok(Some(v.to_string()))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(a))?;
            Ok(Some(v.to_string()))
        }
    }
    d.deserialize_any(Text)
}

/// Labels: a map of text; values that are not strings are kept as their JSON, and
/// `null` for the whole map is no labels.
fn lenient_labels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Label(#[serde(deserialize_with = "lenient_text")] Option<String>);
    let map = Option::<BTreeMap<String, Label>>::deserialize(d)?.unwrap_or_default();
    Ok(map
        .into_iter()
        .map(|(k, Label(v))| (k, v.unwrap_or_default()))
        .collect())
}

/// Annotations: any JSON values; `null` for the whole map is none.
fn lenient_annotations<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Value>, D::Error> {
    Ok(Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default())
}

/// A count that may come as a number, a string of digits or null.
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(lenient_text(d)?
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v.max(0.0) as u64))
}

/// RFC 3339 or epoch milliseconds (a number or a string of digits).
fn generic_time(v: Option<&Value>) -> Result<Option<Timestamp>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| format!("{n} is not epoch milliseconds")),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| format!("{s:?} is not epoch milliseconds")),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => time::parse(s)
            .map(Some)
            .ok_or_else(|| format!("invalid timestamp {s:?}")),
        Some(other) => Err(format!("expected a timestamp, got {other}")),
    }
}

fn opt_string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, AlertError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(AlertError(format!("{key}: expected a string, got {other}"))),
    }
}

fn string_or_list(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, AlertError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(AlertError(format!(
                    "{key}[{i}]: expected a string, got {other}"
                ))),
            })
            .collect(),
        Some(other) => Err(AlertError(format!(
            "{key}: expected a string or a list of strings, got {other}"
        ))),
    }
}

fn generic(map: Map<String, Value>, received: Timestamp) -> Result<Alert, AlertError> {
    let title =
        opt_string(&map, "title")?.ok_or_else(|| AlertError("missing field `title`".into()))?;
    let mut quirks = Vec::new();
    // As GitLab: a start time it cannot read is the time received.
    let starts_at = generic_time(map.get("start_time")).unwrap_or_else(|e| {
        quirks.push(format!("start_time: {e}; used the time received"));
        Some(received)
    });
    let ends_at = generic_time(map.get("end_time")).map_err(|e| field_error("end_time", e))?;
    let fingerprint = match map.get("fingerprint") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        // GitLab hashes a list into one fingerprint.
        Some(Value::Array(_)) => {
            let parts = string_or_list(&map, "fingerprint")?;
            Some(hex::encode(Sha256::digest(parts.join("\u{1f}").as_bytes())))
        }
        Some(other) => {
            return Err(AlertError(format!(
                "fingerprint: expected a string or a list, got {other}"
            )));
        }
    };
    let extra: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !GENERIC_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let status = if ends_at.is_some() {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    Ok(Alert {
        source: AlertSource::Generic,
        fingerprint,
        status,
        title,
        description: opt_string(&map, "description")?,
        severity: Severity::normalise(opt_string(&map, "severity")?.as_deref()),
        environment: opt_string(&map, "gitlab_environment_name")?,
        service: opt_string(&map, "service")?,
        monitoring_tool: opt_string(&map, "monitoring_tool")?,
        hosts: string_or_list(&map, "hosts")?,
        starts_at,
        ends_at,
        generator_url: None,
        runbook: extra
            .get("runbook")
            .and_then(Value::as_str)
            .map(str::to_owned),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        links: BTreeMap::new(),
        extra,
        quirks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        time::parse("2024-06-01T12:00:00Z").unwrap()
    }

    #[test]
    fn generic_example_from_gitlab_docs() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/payloads/gitlab-generic-alert.json"
        ))
        .unwrap();
        let p = parse(&body, now()).unwrap();
        let a = &p.alerts[0];
        assert_eq!(a.title, "Incident title");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.hosts, vec!["value"]);
        assert_eq!(
            a.fingerprint.as_deref(),
            Some("d19381d4e8ebca87b55cda6e8eee7385")
        );
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.extra["foo"]["bar"]["baz"], 42);
        assert_eq!(
            time::format(&a.starts_at.unwrap()),
            "2019-09-12T06:00:55.000Z"
        );
    }

    #[test]
    fn generic_forms() {
        let p = parse(br#"{"title":"x","start_time":1700000000000,"end_time":"1700000060000","hosts":["a","b"],"fingerprint":["x",1],"severity":"WARNING"}"#, now()).unwrap();
        let a = &p.alerts[0];
        assert_eq!(a.hosts, vec!["a", "b"]);
        assert_eq!(a.status, AlertStatus::Resolved);
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.fingerprint.as_ref().map(String::len), Some(64));
        assert_eq!(Severity::normalise(None), Severity::Critical);
        assert_eq!(Severity::normalise(Some("whatever")), Severity::Unknown);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"description":"x"}"#, "title"),
            (br#"{"title":"x","hosts":{"a":1}}"#, "hosts"),
            (br#"{"title":"x","end_time":"later"}"#, "end_time"),
            (br#"{"version":"4","alerts":{}}"#, "alerts"),
            (br#"{"version":"4"}"#, "alerts"),
        ];
        for (body, field) in cases {
            let e = parse(body, now()).unwrap_err();
            assert!(e.0.contains(field), "{} should name {field}", e.0);
        }
    }

    /// One bad optional field never loses the alert: it is replaced as GitLab does and
    /// noted on the alert.
    #[test]
    fn unusable_optional_values_are_replaced_and_noted() {
        let p = parse(br#"{"title":"x","start_time":"yesterday"}"#, now()).unwrap();
        assert_eq!(p.alerts[0].starts_at, Some(now()));
        assert!(
            p.alerts[0].quirks[0].contains("start_time"),
            "{:?}",
            p.alerts[0].quirks
        );
        let p = parse(
            br#"{"alerts":[{"startsAt":"2022-010-30T11:22:40Z","endsAt":"2024-06-01T11:00:00Z","labels":{"alertname":"Disk","port":9100,"up":true}},{"status":"bogus","annotations":{"value":3.5,"list":[1]}},{"labels":null,"annotations":null,"startsAt":"2024-01-18 12:03:34.872839876 +0100 CET"}]}"#,
            now(),
        )
        .unwrap();
        let [a, b, c] = &p.alerts[..] else {
            panic!("{:?}", p.alerts)
        };
        assert_eq!(a.starts_at, Some(now()));
        assert_eq!(
            a.status,
            AlertStatus::Resolved,
            "no status, ended before now"
        );
        assert_eq!(
            (a.labels["port"].as_str(), a.labels["up"].as_str()),
            ("9100", "true")
        );
        assert!(
            a.quirks.iter().any(|q| q.contains("alerts[0].startsAt")),
            "{:?}",
            a.quirks
        );
        assert_eq!(b.status, AlertStatus::Firing);
        assert!(
            b.quirks.iter().any(|q| q.contains("alerts[1].status")),
            "{:?}",
            b.quirks
        );
        assert_eq!(b.annotations["value"], 3.5);
        assert_eq!(
            c.starts_at.map(|t| time::format(&t)).as_deref(),
            Some("2024-01-18T11:03:34.872Z")
        );
        assert!(c.quirks.iter().any(|q| q.contains("alerts[2].status")));
    }

    #[test]
    fn grafana_unified_and_legacy() {
        let body = br#"{"receiver":"openmic","status":"firing","orgId":1,"alerts":[{"status":"firing","labels":{"alertname":"High CPU","grafana_folder":"ops"},"annotations":{"summary":"CPU above 90%"},"startsAt":"2024-05-01T10:00:00+02:00","endsAt":"0001-01-01T00:00:00Z","generatorURL":"https://grafana.example.com/alerting/grafana/abc/view","fingerprint":"f1","silenceURL":"https://grafana.example.com/alerting/silence/new?alertmanager=grafana","dashboardURL":"https://grafana.example.com/d/x","panelURL":"https://grafana.example.com/d/x?viewPanel=2","imageURL":"https://grafana.example.com/render/x.png","values":null,"valueString":"[ var='B' labels={} value=93 ]"}],"groupLabels":{},"commonLabels":{"alertname":"High CPU"},"commonAnnotations":{},"externalURL":"https://grafana.example.com/","version":"1","groupKey":"{}:{}","truncatedAlerts":0,"title":"[FIRING:1] High CPU","state":"alerting","message":"**Firing**"}"#;
        let p = parse(body, now()).unwrap();
        let a = &p.alerts[0];
        assert_eq!(a.source, AlertSource::Grafana);
        assert_eq!(a.title, "CPU above 90%");
        assert_eq!(
            a.links["silence"],
            "https://grafana.example.com/alerting/silence/new?alertmanager=grafana"
        );
        assert_eq!(a.links.len(), 4);
        assert_eq!(a.extra["valueString"], "[ var='B' labels={} value=93 ]");
        assert_eq!(a.monitoring_tool.as_deref(), Some("Grafana"));
        let legacy = br#"{"dashboardId":1,"evalMatches":[{"value":100,"metric":"High value","tags":null}],"imageUrl":"https://grafana.example.com/x.png","message":"Someone is testing","orgId":0,"panelId":1,"ruleId":7,"ruleName":"Test notification","ruleUrl":"https://grafana.example.com/","state":"alerting","tags":{"severity":"warning"},"title":"[Alerting] Test notification"}"#;
        let p = parse(legacy, now()).unwrap();
        let a = &p.alerts[0];
        assert_eq!(
            (a.status, a.title.as_str()),
            (AlertStatus::Firing, "Test notification")
        );
        assert_eq!(a.fingerprint.as_deref(), Some("grafana:0:7"));
        assert_eq!(a.severity, Severity::Medium);
        assert!(
            a.description
                .as_deref()
                .unwrap()
                .contains("High value = 100")
        );
        let ok = String::from_utf8_lossy(legacy).replace("\"alerting\"", "\"ok\"");
        let p = parse(ok.as_bytes(), now()).unwrap();
        assert_eq!(p.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(p.alerts[0].fingerprint.as_deref(), Some("grafana:0:7"));
        let pending = String::from_utf8_lossy(legacy).replace("\"alerting\"", "\"pending\"");
        let p = parse(pending.as_bytes(), now()).unwrap();
        assert!(p.alerts.is_empty() && p.ignored.is_some());
    }

    /// The typed pass reads an Alertmanager message as the value path does.
    #[test]
    fn typed_pass_agrees_with_the_value_path() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/alerts");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let event: Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            let Some(body) = event["body"].as_str() else {
                continue;
            };
            let (Ok(typed), Ok(value)) = (
                parse(body.as_bytes(), now()),
                parse_value(body.as_bytes(), now(), None),
            ) else {
                continue;
            };
            assert_eq!(typed.alerts, value.alerts, "{body}");
            assert_eq!(typed.truncated, value.truncated);
            seen += typed
                .alerts
                .iter()
                .filter(|a| a.source == AlertSource::Prometheus)
                .count();
        }
        assert!(seen >= 4, "{seen} Alertmanager alerts in events/alerts");
    }

    #[test]
    fn field_map_reads_any_body() {
        let fields = FieldMap::parse(
            r#"{"title": "summary", "severity": "labels.priority", "fingerprint": "id"}"#,
        )
        .unwrap();
        let body = br#"{"summary": "Queue backlog", "labels": {"priority": "P1"}, "id": "q-7", "version": 2}"#;
        let a = &parse_with(body, now(), Some(&fields)).unwrap().alerts[0];
        assert_eq!(a.title, "Queue backlog");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.fingerprint.as_deref(), Some("q-7"));
        assert_eq!(a.extra["labels"]["priority"], "P1");
        let e = parse_with(br#"{"message": "x"}"#, now(), Some(&fields)).unwrap_err();
        assert!(e.0.contains("takes it from `summary`"), "{}", e.0);
        // Without the map, the same body is not an alert.
        assert!(parse(body, now()).is_err());
    }

    #[test]
    fn alertmanager_rules() {
        let body = br#"{"version":"4","groupKey":"{}:{alertname=\"X\"}","truncatedAlerts":2,"status":"firing","receiver":"openmic",
          "groupLabels":{"alertname":"X"},"commonLabels":{"alertname":"X","env":"staging"},"commonAnnotations":{"summary":"Common"},
          "externalURL":"http://am:9093","alerts":[
            {"status":"firing","labels":{"instance":"db1","severity":"critical"},"annotations":{"title":"DB down"},"startsAt":"2024-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"abc"},
            {"status":"resolved","labels":{"gitlab_environment_name":"production"},"annotations":{},"startsAt":"2024-01-01T00:00:00.5Z","endsAt":"2024-01-01T01:00:00Z"}]}"#;
        let p = parse(body, now()).unwrap();
        assert_eq!(p.truncated, 2);
        let (a, b) = (&p.alerts[0], &p.alerts[1]);
        assert_eq!(
            (a.title.as_str(), a.environment.as_deref(), a.ends_at),
            ("DB down", Some("staging"), None)
        );
        assert_eq!(a.hosts, vec!["db1"]);
        assert_eq!(a.fingerprint.as_deref(), Some("abc"));
        assert_eq!(b.title, "Common");
        assert_eq!(b.environment.as_deref(), Some("production"));
        assert_eq!(b.status, AlertStatus::Resolved);
        assert!(b.fingerprint.is_some() && b.ends_at.is_some());
        assert_eq!(a.extra["receiver"], "openmic");
    }
}
