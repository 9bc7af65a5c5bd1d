//! Where alerts go: the channels of `ALERT_CHANNELS`, each with the label matchers
//! (Alertmanager's syntax) that decide which alerts it gets. Without the variable,
//! one channel mails the maintainers, as before.
//!
//! ```json
//! [{"name": "oncall", "type": "email", "to": "maintainers"},
//!  {"name": "ops", "type": "slack", "url": "https://hooks.slack.com/services/…",
//!   "match": "severity=~\"critical|high\", env=\"production\""},
//!  {"name": "audit", "type": "webhook", "url": "https://…", "secret": "whsec_…"}]
//! ```
//!
//! Matchers see the alert's labels; where the alert carries no such label, these
//! stand in: `alertname` (its title), `severity` (GitLab's level: critical, high,
//! medium, low, info, unknown), `env` and `environment`, `service`,
//! `monitoring_tool`, and `source` (prometheus, grafana, generic).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::matchers::Matchers;
use crate::chat::{Kind, Target};
use crate::config::{Config, ConfigError, is_address};
use crate::intake::payload::Alert;
use crate::signing::SigningKey;

/// Who a mail channel mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTo {
    /// The maintainers: `MAINTAINER_EMAILS`, and the members `NOTIFY_ROLES` names.
    pub maintainers: bool,
    /// Addresses of the channel's own.
    pub addresses: Vec<String>,
}

/// A channel's kind and address.
#[derive(Debug, Clone)]
pub enum Destination {
    Mail(MailTo),
    Chat(Target),
}

/// One channel.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Unique; names the channel in logs, records and the links' "who acted".
    pub name: String,
    pub destination: Destination,
    pub matchers: Matchers,
}

impl Channel {
    pub fn is_mail(&self) -> bool {
        matches!(self.destination, Destination::Mail(_))
    }

    /// Whether the channel takes `alert`.
    pub fn takes(&self, alert: &Alert) -> bool {
        self.matchers.matches(|name| label(alert, name))
    }
}

/// Every channel, in the order configured.
#[derive(Debug, Clone)]
pub struct Channels(pub Vec<Channel>);

/// The one channel there is without `ALERT_CHANNELS`.
pub const MAINTAINERS: &str = "maintainers";

impl Channels {
    /// The channels `ALERT_CHANNELS` lists, or mail to the maintainers.
    pub fn from_config(config: &Config) -> Result<Channels, ConfigError> {
        match &config.alert_routing.channels {
            None => Ok(Channels(vec![Channel {
                name: MAINTAINERS.into(),
                destination: Destination::Mail(MailTo {
                    maintainers: true,
                    addresses: vec![],
                }),
                matchers: Matchers::default(),
            }])),
            Some(json) => Channels::parse(json.expose()).map_err(|why| ConfigError::Invalid {
                name: "ALERT_CHANNELS",
                why,
            }),
        }
    }

    /// Reads the JSON list; errors name the entry and the field.
    pub fn parse(json: &str) -> Result<Channels, String> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Array(items) = value else {
            return Err("must be a JSON list of channels".into());
        };
        let mut out: Vec<Channel> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(map) = item else {
                return Err(format!("[{i}] must be an object"));
            };
            let channel = channel(map).map_err(|e| {
                let name = map.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    format!("[{i}]: {e}")
                } else {
                    format!("[{i}] ({name}): {e}")
                }
            })?;
            if out.iter().any(|c| c.name == channel.name) {
                return Err(format!("[{i}]: the name {:?} is used twice", channel.name));
            }
            out.push(channel);
        }
        if out.is_empty() {
            return Err("lists no channel (leave it unset to mail the maintainers)".into());
        }
        Ok(Channels(out))
    }

    /// The channels that take `alert`.
    pub fn route<'a, 'b>(
        &'a self,
        alert: &'b Alert,
    ) -> impl Iterator<Item = &'a Channel> + use<'a, 'b> {
        self.0.iter().filter(move |c| c.takes(alert))
    }

    pub fn get(&self, name: &str) -> Option<&Channel> {
        self.0.iter().find(|c| c.name == name)
    }

    /// Whether any channel is a chat or webhook one (which needs outbound HTTP).
    pub fn any_chat(&self) -> bool {
        self.0.iter().any(|c| !c.is_mail())
    }

    /// Whether any channel mails the maintainers.
    pub fn mails_maintainers(&self) -> bool {
        self.0.iter().any(|c| {
            matches!(
                &c.destination,
                Destination::Mail(MailTo {
                    maintainers: true,
                    ..
                })
            )
        })
    }
}

const KEYS: [&str; 6] = ["name", "type", "url", "to", "match", "secret"];

fn channel(map: &Map<String, Value>) -> Result<Channel, String> {
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key {unknown:?} (a channel has {})",
            KEYS.join(", ")
        ));
    }
    let text = |key: &str| -> Result<Option<&str>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
            Some(other) => Err(format!("{key} must be a string, not {other}")),
        }
    };
    let name = text("name")?.ok_or("name is required")?.to_owned();
    if name.chars().any(char::is_control) || name.chars().count() > 100 {
        return Err("name must be one line of at most 100 characters".into());
    }
    let kind_name = text("type")?.ok_or("type is required")?;
    let matchers =
        Matchers::parse(text("match")?.unwrap_or("")).map_err(|e| format!("match: {e}"))?;
    let destination = if kind_name.eq_ignore_ascii_case("email") {
        if map.contains_key("url") || map.contains_key("secret") {
            return Err("an email channel has `to`, not `url` or `secret`".into());
        }
        Destination::Mail(mail_to(map.get("to"))?)
    } else {
        let kind = Kind::parse(kind_name).ok_or_else(|| {
            format!(
                "type {kind_name:?} is not one of email, {}",
                crate::chat::Kind::ALL.map(Kind::as_str).join(", ")
            )
        })?;
        if map.contains_key("to") {
            return Err(format!("a {} channel has `url`, not `to`", kind.as_str()));
        }
        let url = text("url")?.ok_or_else(|| format!("url is required for {}", kind.as_str()))?;
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            return Err("url must be an http(s) URL".into());
        }
        let signing = match (kind, text("secret")?) {
            (Kind::Webhook, Some(s)) => Some(Arc::new(
                SigningKey::from_secret(s).map_err(|e| format!("secret: {e}"))?,
            )),
            (Kind::Webhook, None) => {
                return Err(
                    "secret is required for a webhook (whsec_ and base64: it signs every delivery)"
                        .into(),
                );
            }
            (_, Some(_)) => {
                return Err(format!("a {} channel takes no secret", kind.as_str()));
            }
            (_, None) => None,
        };
        Destination::Chat(Target {
            kind,
            url: url.to_owned(),
            signing,
        })
    };
    Ok(Channel {
        name,
        destination,
        matchers,
    })
}

/// `to`: a list or a comma-separated string of addresses, `maintainers` among them
/// for the maintainers; absent means the maintainers.
fn mail_to(to: Option<&Value>) -> Result<MailTo, String> {
    let entries: Vec<String> = match to {
        None | Some(Value::Null) => vec![MAINTAINERS.into()],
        Some(Value::String(s)) => s.split(',').map(|a| a.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| format!("to: {v} is not an address"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("to must be a list of addresses, not {other}")),
    };
    let mut out = MailTo {
        maintainers: false,
        addresses: vec![],
    };
    for e in entries.into_iter().filter(|e| !e.is_empty()) {
        if e.eq_ignore_ascii_case(MAINTAINERS) {
            out.maintainers = true;
        } else if is_address(&e) {
            out.addresses.push(e);
        } else {
            return Err(format!(
                "to: {e:?} is not an email address (or `maintainers`)"
            ));
        }
    }
    if !out.maintainers && out.addresses.is_empty() {
        return Err("to names nobody".into());
    }
    Ok(out)
}

/// A label of `alert` as matchers see it: its own, else what stands in for it.
pub fn label<'a>(alert: &'a Alert, name: &str) -> Option<&'a str> {
    if let Some(v) = alert.labels.get(name) {
        return Some(v);
    }
    match name {
        "alertname" => Some(&alert.title),
        "severity" => Some(alert.severity.as_str()),
        "env" | "environment" => alert.environment.as_deref(),
        "service" => alert.service.as_deref(),
        "monitoring_tool" => alert.monitoring_tool.as_deref(),
        "source" => Some(alert.source.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::payload::{AlertSource, AlertStatus, Severity};

    pub(crate) fn alert(title: &str, labels: &[(&str, &str)]) -> Alert {
        Alert {
            source: AlertSource::Generic,
            fingerprint: Some(title.into()),
            status: AlertStatus::Firing,
            title: title.into(),
            description: None,
            severity: Severity::High,
            environment: Some("production".into()),
            service: None,
            monitoring_tool: None,
            hosts: vec![],
            starts_at: None,
            ends_at: None,
            generator_url: None,
            runbook: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: Default::default(),
            links: Default::default(),
            extra: Default::default(),
            quirks: vec![],
        }
    }

    #[test]
    fn routes_by_labels_and_stand_ins() {
        let c = Channels::parse(
            r#"[{"name": "all", "type": "email", "to": "maintainers, lead@example.com"},
                {"name": "prod-pages", "type": "slack", "url": "https://hooks.slack.com/services/T/B/x",
                 "match": "severity=~\"critical|high\", env=\"production\""},
                {"name": "disks", "type": "discord", "url": "https://discord.com/api/webhooks/1/x", "match": "alertname=~\"Disk.*\""},
                {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9000/in", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]"#,
        )
        .unwrap();
        let names = |a: &Alert| c.route(a).map(|c| c.name.as_str()).collect::<Vec<_>>();
        let disk = alert("DiskFull", &[]);
        assert_eq!(names(&disk), vec!["all", "prod-pages", "disks", "hook"]);
        let mut staging = alert("High CPU", &[("env", "staging")]);
        assert_eq!(
            names(&staging),
            vec!["all", "hook"],
            "a label wins over the stand-in"
        );
        staging.labels.clear();
        staging.severity = Severity::Medium;
        assert_eq!(names(&staging), vec!["all", "hook"]);
        let Destination::Mail(to) = &c.0[0].destination else {
            panic!()
        };
        assert_eq!(
            to,
            &MailTo {
                maintainers: true,
                addresses: vec!["lead@example.com".into()]
            }
        );
        assert!(c.any_chat() && c.mails_maintainers());
        assert!(
            !format!("{:?}", c).contains("hooks.slack.com"),
            "URLs hold secrets"
        );
    }

    #[test]
    fn errors_name_the_entry_and_the_field() {
        for (json, want) in [
            ("{}", "must be a JSON list"),
            ("[]", "lists no channel"),
            (
                r#"[{"type": "slack", "url": "https://x"}]"#,
                "[0]: name is required",
            ),
            (
                r#"[{"name": "a", "type": "irc", "url": "https://x"}]"#,
                "[0] (a): type \"irc\" is not one of email, slack, teams",
            ),
            (
                r#"[{"name": "a", "type": "slack"}]"#,
                "url is required for slack",
            ),
            (
                r#"[{"name": "a", "type": "slack", "url": "ftp://x"}]"#,
                "url must be an http(s) URL",
            ),
            (
                r#"[{"name": "a", "type": "webhook", "url": "https://x"}]"#,
                "secret is required",
            ),
            (
                r#"[{"name": "a", "type": "webhook", "url": "https://x", "secret": "whsec_!!"}]"#,
                "secret:",
            ),
            (
                r#"[{"name": "a", "type": "email", "to": ["nobody"]}]"#,
                "\"nobody\" is not an email address",
            ),
            (
                r#"[{"name": "a", "type": "email", "matcher": "x=y"}]"#,
                "unknown key \"matcher\"",
            ),
            (
                r#"[{"name": "a", "type": "slack", "url": "https://x", "match": "env="}, {"name": "a", "type": "email"}]"#,
                "used twice",
            ),
            (
                r#"[{"name": "a", "type": "slack", "url": "https://x", "match": "env=~\"(\""}]"#,
                "match: ",
            ),
        ] {
            let e = Channels::parse(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
