//! Where alerts go: the channels of `ALERT_CHANNELS`, each with the label matchers
//! (Alertmanager's syntax) that decide which alerts it gets. Without the variable,
//! one channel mails the maintainers, as before.
//!
//! ```json
//! [{"name": "oncall", "type": "email", "to": "maintainers"},
//!  {"name": "ops", "type": "slack", "url": "https://hooks.slack.com/services/…",
//!   "match": "severity=~\"critical|high\", env=\"production\""},
//!  {"name": "audit", "type": "webhook", "url": "https://…", "secret": "whsec_…"},
//!  {"name": "lead-phone", "type": "sms", "to": "+15550100", "match": "severity=\"critical\""},
//!  {"name": "lead-push", "type": "ntfy", "url": "https://ntfy.sh/…", "secret": "tk_…"},
//!  {"name": "ops-pushover", "type": "pushover", "to": "<user or group key>"},
//!  {"name": "ops-telegram", "type": "telegram", "to": "-1001234567890"}]
//! ```
//!
//! The pagers (`sms`, `ntfy`, `pushover`, `telegram`) take their address as the
//! on-call file's contact methods do ([`Target::contact`]): SMS and Telegram and
//! Pushover in `to`, ntfy's topic URL in `url` (with an access token as `secret`);
//! Pushover needs `PUSHOVER_TOKEN` and Telegram `TELEGRAM_BOT_TOKEN`.
//!
//! Matchers see the alert's labels; where the alert carries no such label, these
//! stand in: `alertname` (its title), `severity` (GitLab's level: critical, high,
//! medium, low, info, unknown), `env` and `environment`, `service`,
//! `monitoring_tool`, and `source` (prometheus, grafana, generic).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::matchers::{MatcherError, Matchers};
use crate::chat::{ContactError, Kind, Services, Target};
use crate::config::alerting::ALERT_CHANNELS;
use crate::config::{Config, ConfigError, Secret, is_address};
use crate::errors::Chain;
use crate::intake::payload::Alert;
use crate::signing::{KeyError, SigningKey};

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
            Some(json) => {
                let services = Services::from_config(config)?;
                Channels::parse_with(json.expose(), &services)
                    .map_err(|e| ALERT_CHANNELS.invalid(Chain(&e).to_string()))
            }
        }
    }

    /// Reads the JSON list, with no pager service's token; errors name the entry and
    /// the field.
    pub fn parse(json: &str) -> Result<Channels, ChannelsError> {
        Channels::parse_with(json, &Services::default())
    }

    /// Reads the JSON list, pagers with what `services` gives them.
    pub fn parse_with(json: &str, services: &Services) -> Result<Channels, ChannelsError> {
        let value: Value = serde_json::from_str(json).map_err(ChannelsError::Json)?;
        let Value::Array(items) = value else {
            return Err(ChannelsError::NotAList);
        };
        let mut out: Vec<Channel> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let entry = |why| {
                let name = item.get("name").and_then(Value::as_str);
                let name = name.filter(|n| !n.is_empty()).map(str::to_owned);
                ChannelsError::Entry { index, name, why }
            };
            let Value::Object(map) = item else {
                return Err(entry(EntryError::NotAnObject));
            };
            let channel = channel(map, services).map_err(entry)?;
            if out.iter().any(|c| c.name == channel.name) {
                return Err(entry(EntryError::NameTwice(channel.name)));
            }
            out.push(channel);
        }
        if out.is_empty() {
            return Err(ChannelsError::Empty);
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

    /// Whether any channel is a chat or webhook one (or a pager).
    pub fn any_chat(&self) -> bool {
        self.0.iter().any(|c| !c.is_mail())
    }

    /// Whether any channel is reached over HTTP (all but mail and SMS).
    pub fn any_http(&self) -> bool {
        self.0
            .iter()
            .any(|c| matches!(&c.destination, Destination::Chat(t) if t.kind != Kind::Sms))
    }

    /// Whether any channel sends text messages.
    pub fn any_sms(&self) -> bool {
        self.0
            .iter()
            .any(|c| matches!(&c.destination, Destination::Chat(t) if t.kind == Kind::Sms))
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

/// What is wrong with a list of channels (`ALERT_CHANNELS`, `UPDATE_CHANNELS`).
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error("not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("must be a JSON list of channels")]
    NotAList,
    #[error("lists no channel (leave it unset to mail the maintainers)")]
    Empty,
    /// Entry `index` (named `name`, if it has a name).
    #[error("[{index}]{}", name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Entry {
        index: usize,
        name: Option<String>,
        #[source]
        why: EntryError,
    },
}

/// What is wrong with one channel of a list.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("must be an object")]
    NotAnObject,
    #[error("the name {0:?} is used twice")]
    NameTwice(String),
    #[error("match")]
    Match(#[source] MatcherError),
    #[error("secret")]
    Secret(#[source] KeyError),
    #[error("{field}")]
    Contact {
        field: &'static str,
        #[source]
        why: ContactError,
    },
    /// A field missing or not what it must be, said in a sentence.
    #[error("{0}")]
    Field(String),
}

impl From<String> for EntryError {
    fn from(why: String) -> Self {
        EntryError::Field(why)
    }
}

impl From<&str> for EntryError {
    fn from(why: &str) -> Self {
        EntryError::Field(why.to_owned())
    }
}

const KEYS: [&str; 6] = ["name", "type", "url", "to", "match", "secret"];

/// A string field: absent, null and blank are none.
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, EntryError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        // Not the value: it may be a contact detail.
        Some(other) => Err(format!("{key} must be a string, not {}", json_type(other)).into()),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A chat service's or a webhook's target.
fn chat(kind: Kind, map: &Map<String, Value>) -> Result<Target, EntryError> {
    if map.contains_key("to") {
        return Err(format!("a {} channel has `url`, not `to`", kind.as_str()).into());
    }
    let url = text(map, "url")?.ok_or_else(|| format!("url is required for {}", kind.as_str()))?;
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        return Err("url must be an http(s) URL".into());
    }
    let signing = match (kind, text(map, "secret")?) {
        (Kind::Webhook, Some(s)) => Some(Arc::new(
            SigningKey::from_secret(s).map_err(EntryError::Secret)?,
        )),
        (Kind::Webhook, None) => {
            return Err(
                "secret is required for a webhook (whsec_ and base64: it signs every delivery)"
                    .into(),
            );
        }
        (_, Some(_)) => {
            return Err(format!("a {} channel takes no secret", kind.as_str()).into());
        }
        (_, None) => None,
    };
    Ok(Target {
        signing,
        ..Target::webhook(kind, url)
    })
}

/// A pager's target: its address where the service keeps it (ntfy's topic URL in
/// `url`, the others' in `to`), checked as a contact method is; an ntfy access
/// token as `secret`.
fn pager(kind: Kind, map: &Map<String, Value>, services: &Services) -> Result<Target, EntryError> {
    let (field, other) = match kind {
        Kind::Ntfy => ("url", "to"),
        _ => ("to", "url"),
    };
    if map.contains_key(other) {
        return Err(format!("a {} channel has `{field}`, not `{other}`", kind.as_str()).into());
    }
    let secret = text(map, "secret")?;
    if secret.is_some() && kind != Kind::Ntfy {
        return Err(format!(
            "a {} channel takes no secret (its service's token is a variable of its own)",
            kind.as_str()
        )
        .into());
    }
    let detail =
        text(map, field)?.ok_or_else(|| format!("{field} is required for {}", kind.as_str()))?;
    let mut target = Target::contact(kind, detail, services)
        .map_err(|why| EntryError::Contact { field, why })?;
    target.token = target.token.or(secret.map(Secret::new));
    Ok(target)
}

fn channel(map: &Map<String, Value>, services: &Services) -> Result<Channel, EntryError> {
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key {unknown:?} (a channel has {})",
            KEYS.join(", ")
        )
        .into());
    }
    let text = |key: &str| text(map, key);
    let name = text("name")?.ok_or("name is required")?.to_owned();
    if name.chars().any(char::is_control) || name.chars().count() > 100 {
        return Err("name must be one line of at most 100 characters".into());
    }
    let kind_name = text("type")?.ok_or("type is required")?;
    let matchers = Matchers::parse(text("match")?.unwrap_or("")).map_err(EntryError::Match)?;
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
        if kind.is_pager() {
            Destination::Chat(pager(kind, map, services)?)
        } else {
            Destination::Chat(chat(kind, map)?)
        }
    };
    Ok(Channel {
        name,
        destination,
        matchers,
    })
}

/// `to`: a list or a comma-separated string of addresses, `maintainers` among them
/// for the maintainers; absent means the maintainers.
fn mail_to(to: Option<&Value>) -> Result<MailTo, EntryError> {
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
        Some(other) => return Err(format!("to must be a list of addresses, not {other}").into()),
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
            return Err(format!("to: {e:?} is not an email address (or `maintainers`)").into());
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
            let e = Chain(&Channels::parse(json).unwrap_err()).to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
