//! What `POST /alerts` takes: the shapes senders post ([`parse`]: Alertmanager's
//! webhook, Grafana's two, GitLab's generic alert; [`fieldmap`]: any body through
//! `ALERT_FIELD_MAP`) and the one normalised [`Alert`] each becomes, the body of an
//! alerts-queue message.

pub mod fieldmap;
pub mod parse;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use openmic_core::time::Timestamp;

/// The generic alert's own fields (GitLab's documented keys); the rest are extra keys.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// GitLab's severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
    Unknown,
}

impl Severity {
    /// GitLab's rule: absent means critical; known names (any case) and the usual
    /// aliases map to their level; anything else is unknown.
    pub fn normalise(value: Option<&str>) -> Severity {
        let Some(v) = value.map(|v| v.trim().to_ascii_lowercase()) else {
            return Severity::Critical;
        };
        match v.as_str() {
            "" => Severity::Critical,
            "critical" | "crit" | "page" | "fatal" | "emergency" | "alert" | "p1" => {
                Severity::Critical
            }
            "high" | "error" | "err" | "major" | "p2" => Severity::High,
            "medium" | "warning" | "warn" | "minor" | "p3" => Severity::Medium,
            "low" | "p4" => Severity::Low,
            "info" | "informational" | "information" | "notice" | "p5" => Severity::Info,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
            Severity::Unknown => "unknown",
        }
    }
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    Prometheus,
    Grafana,
    Generic,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Prometheus => "prometheus",
            AlertSource::Grafana => "grafana",
            AlertSource::Generic => "generic",
        }
    }
}

/// One alert, whatever shape it arrived in: the body of one alerts-queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub source: AlertSource,
    /// None: a generic alert without fingerprint, a new alert every time.
    pub fingerprint: Option<String>,
    pub status: AlertStatus,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub severity: Severity,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub monitoring_tool: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
    #[serde(default)]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub runbook: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, serde_json::Value>,
    /// Links the sender gives beside the generator URL, by kind (Grafana's `silence`,
    /// `dashboard`, `panel`, `image`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// Alertmanager's group fields, or a generic alert's extra keys.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// What the sender left out or wrote unreadably, and what was used instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<String>,
}
