//! Alerts: the intake shapes (Alertmanager's webhook, Grafana's two, GitLab's generic
//! alert, any body through `ALERT_FIELD_MAP`), one normalised [`Alert`], the alert
//! lifecycle, and its notices: routed to channels by label matchers (mail, chat,
//! webhooks), held in digests during storms, with links to acknowledge and silence.
//!
//! - [`parse`], [`fieldmap`]: what `POST /alerts` takes;
//! - [`lifecycle`]: the record per fingerprint and the [`lifecycle::Notifier`];
//! - [`channels`], [`matchers`]: where notices go; [`recipients`]: who "the
//!   maintainers" are; [`storm`]: each channel's storms and health;
//! - [`message`], [`mail`]: what notices say; [`links`], [`actions`]: acknowledge and
//!   silence from a message; [`issues`]: GitLab incident issues.

pub mod actions;
pub mod channels;
pub mod fieldmap;
pub mod issues;
pub mod lifecycle;
pub mod links;
pub mod mail;
pub mod matchers;
pub mod message;
pub mod muting;
mod notify;
pub mod parse;
pub mod recipients;
pub mod storm;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

use crate::config::Function::{Alerts, Notifier, Publisher, Subscriptions};
use crate::config::Variable;

/// What the alerts' lifecycle reads.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "MAIL_FROM",
        default: "required by the notifier and subscriptions",
        meaning: "the sender of alert mail, of subscription mail and of the maintainers' notice of a queue message given up on",
        secret: false,
        read_by: &[Publisher, Notifier, Subscriptions],
        required_by: &[Notifier, Subscriptions],
    },
    Variable {
        name: "MAINTAINER_EMAILS",
        default: "required by the notifier",
        meaning: "the recipients of alert mail and of the notice of a queue message given up on, comma-separated",
        secret: false,
        read_by: &[Publisher, Notifier, Subscriptions],
        required_by: &[Notifier],
    },
    Variable {
        name: "RENOTIFY_AFTER",
        default: "`4h`",
        meaning: "repeats of a firing alert mail again after this (`90s`, `30m`, `4h`, `1d`)",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "CREATE_INCIDENTS",
        default: "`false`",
        meaning: "with API access: a new alert opens a GitLab incident issue",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "INCIDENT_TEMPLATE",
        default: "none",
        meaning: "the issue template those issues start from",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "AUTO_CLOSE_INCIDENTS",
        default: "`false`",
        meaning: "the resolution closes the alert's incident issue",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "ALERT_CHANNELS",
        default: "mail to the maintainers",
        meaning: "where alerts go: a JSON list of email, Slack, Teams, Mattermost, Discord, Google Chat and signed webhook channels, each with label matchers (see [Alert routing](alerts.md#alert-routing))",
        secret: true,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "ALERT_LINK_SECRET",
        default: "required by the notifier (generated locally)",
        meaning: "the key that signs the acknowledge and silence links (`openssl rand -hex 32`)",
        secret: true,
        read_by: &[Notifier],
        required_by: &[Notifier],
    },
    Variable {
        name: "ALERT_DIGEST_AFTER",
        default: "`10/5m`",
        meaning: "more alert notices than this for one channel (count/window) become one digest; `off` sends each",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "NOTIFY_ROLES",
        default: "none",
        meaning: "with API access: also mail the projects' `owners`, `maintainers` or `developers` (and higher), at the address GitLab shows",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "ALERT_FIELD_MAP",
        default: "none",
        meaning: "JSON of dotted paths mapping any body's fields onto the generic alert (`{\"title\": \"summary\"}`)",
        secret: false,
        read_by: &[Alerts],
        required_by: &[],
    },
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
