//! Reading `POST /alerts` bodies: Alertmanager's webhook (`version: "4"`) and GitLab's
//! generic alert. Errors name the field that is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Alert, AlertSource, AlertStatus, Severity};
use crate::timefmt::{self, Timestamp};

/// The most alerts one request may carry (Alertmanager's `max_alerts` keeps a group
/// under it).
pub const MAX_ALERTS: usize = 1000;

/// Alertmanager's zero time: "no end".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Alertmanager's webhook message, every top-level field.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerWebhook {
    pub version: String,
    #[serde(default)]
    pub group_key: Option<String>,
    #[serde(default)]
    pub truncated_alerts: u64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, Value>,
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    pub alerts: Vec<AlertmanagerAlert>,
}

#[derive(Debug, Deserialize)]
pub struct AlertmanagerAlert {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, Value>,
    #[serde(default, rename = "startsAt")]
    pub starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
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
}

/// Reads an Alertmanager webhook or a generic alert.
///
/// A well-formed Alertmanager message (the usual case, and the large one) is read in
/// one typed pass. Anything else is read as a JSON value first, which decides the
/// shape and names what is wrong.
pub fn parse(body: &[u8]) -> Result<Parsed, AlertError> {
    if memchr::memmem::find(body, b"\"alerts\"").is_some()
        && let Ok(hook) = serde_json::from_slice::<AlertmanagerWebhook>(body)
        && hook.version == "4"
        && hook.alerts.len() <= MAX_ALERTS
    {
        return alertmanager_alerts(hook);
    }
    parse_value(body)
}

/// [`parse`] by way of a JSON value: every shape, every error.
fn parse_value(body: &[u8]) -> Result<Parsed, AlertError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AlertError(format!("body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(AlertError("body must be a JSON object".into()));
    };
    if map.contains_key("alerts") || map.contains_key("version") {
        alertmanager(map)
    } else {
        generic(map).map(|a| Parsed {
            alerts: vec![a],
            truncated: 0,
        })
    }
}

fn field_error(path: &str, e: impl std::fmt::Display) -> AlertError {
    AlertError(format!("{path}: {e}"))
}

fn alertmanager(map: Map<String, Value>) -> Result<Parsed, AlertError> {
    match map.get("version") {
        Some(Value::String(v)) if v == "4" => {}
        Some(other) => return Err(AlertError(format!("version: expected \"4\", got {other}"))),
        None => return Err(AlertError("missing field `version`".into())),
    }
    if let Some(Value::Array(a)) = map.get("alerts")
        && a.len() > MAX_ALERTS
    {
        return Err(AlertError(format!(
            "alerts: {} alerts in one request, at most {MAX_ALERTS} (set max_alerts in Alertmanager's webhook_config)",
            a.len()
        )));
    }
    let hook: AlertmanagerWebhook = serde_json::from_value(Value::Object(map))
        .map_err(|e| AlertError(format!("Alertmanager webhook: {e}")))?;
    alertmanager_alerts(hook)
}

/// Alertmanager's alerts, each with the common labels and annotations under its own.
fn alertmanager_alerts(hook: AlertmanagerWebhook) -> Result<Parsed, AlertError> {
    let mut extra = Map::new();
    if let Some(g) = &hook.group_key {
        extra.insert("groupKey".into(), Value::String(g.clone()));
    }
    if let Some(r) = &hook.receiver {
        extra.insert("receiver".into(), Value::String(r.clone()));
    }
    if let Some(u) = &hook.external_url {
        extra.insert("externalURL".into(), Value::String(u.clone()));
    }
    if let Some(s) = &hook.status {
        extra.insert("groupStatus".into(), Value::String(s.clone()));
    }
    let mut alerts = Vec::with_capacity(hook.alerts.len());
    for (i, a) in hook.alerts.into_iter().enumerate() {
        let at = |f: &str| format!("alerts[{i}].{f}");
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
        let status = match a.status.as_deref().or(hook.status.as_deref()) {
            Some("firing") => AlertStatus::Firing,
            Some("resolved") => AlertStatus::Resolved,
            Some(other) => {
                return Err(field_error(
                    &at("status"),
                    format!("expected firing or resolved, got {other:?}"),
                ));
            }
            None => return Err(field_error(&at("status"), "missing")),
        };
        let starts_at =
            am_time(a.starts_at.as_deref()).map_err(|e| field_error(&at("startsAt"), e))?;
        let ends_at = am_time(a.ends_at.as_deref()).map_err(|e| field_error(&at("endsAt"), e))?;
        let title = text("title")
            .or_else(|| text("summary"))
            .or_else(|| labels.get("alertname").cloned())
            .unwrap_or_else(|| "Prometheus alert".into());
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
        alerts.push(Alert {
            source: AlertSource::Prometheus,
            fingerprint: Some(fingerprint),
            status,
            title,
            description: text("description"),
            severity: Severity::normalise(labels.get("severity").map(String::as_str)),
            environment,
            service: labels.get("service").or_else(|| labels.get("job")).cloned(),
            monitoring_tool: Some("Prometheus".into()),
            hosts,
            starts_at,
            ends_at,
            generator_url: a.generator_url.filter(|u| !u.is_empty()),
            runbook: text("runbook").or_else(|| text("runbook_url")),
            labels,
            annotations,
            extra: extra.clone(),
        });
    }
    Ok(Parsed {
        alerts,
        truncated: hook.truncated_alerts,
    })
}

fn am_time(v: Option<&str>) -> Result<Option<Timestamp>, String> {
    match v.map(str::trim) {
        None | Some("") | Some(ZERO_TIME) => Ok(None),
        Some(t) => match timefmt::parse(t) {
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
        Some(Value::String(s)) => timefmt::parse(s)
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

const GENERIC_FIELDS: [&str; 10] = [
    "title",
    "description",
    "start_time",
    "end_time",
    "service",
    "monitoring_tool",
    "hosts",
    "severity",
    "fingerprint",
    "gitlab_environment_name",
];

fn generic(map: Map<String, Value>) -> Result<Alert, AlertError> {
    let title =
        opt_string(&map, "title")?.ok_or_else(|| AlertError("missing field `title`".into()))?;
    let starts_at =
        generic_time(map.get("start_time")).map_err(|e| field_error("start_time", e))?;
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
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_example_from_gitlab_docs() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/payloads/gitlab-generic-alert.json"
        ))
        .unwrap();
        let p = parse(&body).unwrap();
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
            timefmt::format(&a.starts_at.unwrap()),
            "2019-09-12T06:00:55.000Z"
        );
    }

    #[test]
    fn generic_forms() {
        let p = parse(br#"{"title":"x","start_time":1700000000000,"end_time":"1700000060000","hosts":["a","b"],"fingerprint":["x",1],"severity":"WARNING"}"#).unwrap();
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
        let cases: [(&[u8], &str); 7] = [
            (br#"{"description":"x"}"#, "title"),
            (br#"{"title":"x","start_time":"yesterday"}"#, "start_time"),
            (br#"{"title":"x","hosts":{"a":1}}"#, "hosts"),
            (br#"{"version":"3","alerts":[]}"#, "version"),
            (br#"{"version":"4","alerts":[{"status":"firing","startsAt":"2022-010-30T11:22:40Z"}]}"#, "alerts[0].startsAt"),
            (br#"{"version":"4","alerts":[{"status":"bogus"}]}"#, "alerts[0].status"),
            (br#"{"version":"4"}"#, "alerts"),
        ];
        for (body, field) in cases {
            let e = parse(body).unwrap_err();
            assert!(e.0.contains(field), "{} should name {field}", e.0);
        }
    }

    /// The typed pass reads an Alertmanager message as the value path does.
    #[test]
    fn typed_pass_agrees_with_the_value_path() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/alerts");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let event: Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            let Some(body) = event["body"].as_str() else {
                continue;
            };
            let (Ok(typed), Ok(value)) = (parse(body.as_bytes()), parse_value(body.as_bytes()))
            else {
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
    fn alertmanager_rules() {
        let body = br#"{"version":"4","groupKey":"{}:{alertname=\"X\"}","truncatedAlerts":2,"status":"firing","receiver":"openmic",
          "groupLabels":{"alertname":"X"},"commonLabels":{"alertname":"X","env":"staging"},"commonAnnotations":{"summary":"Common"},
          "externalURL":"http://am:9093","alerts":[
            {"status":"firing","labels":{"instance":"db1","severity":"critical"},"annotations":{"title":"DB down"},"startsAt":"2024-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"abc"},
            {"status":"resolved","labels":{"gitlab_environment_name":"production"},"annotations":{},"startsAt":"2024-01-01T00:00:00.5Z","endsAt":"2024-01-01T01:00:00Z"}]}"#;
        let p = parse(body).unwrap();
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
