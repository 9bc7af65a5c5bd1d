//! Chat and webhook messages: one generic [`Message`] (a title, text, facts, links and
//! buttons), written in the body each service's incoming webhook documents, and
//! delivered with retries and backoff through the [`Outbound`] port.
//!
//! - [`Kind::Slack`]: Slack's incoming webhook, `text` with Block Kit `blocks`;
//! - [`Kind::Teams`]: Microsoft Teams (Workflows' "post to a channel when a webhook
//!   request is received", and the older connectors): a `message` with one Adaptive
//!   Card attachment;
//! - [`Kind::Mattermost`]: Mattermost's incoming webhook, `text` with one Slack-style
//!   `attachments` entry;
//! - [`Kind::Discord`]: Discord's webhook, `content` with one embed, no mentions;
//! - [`Kind::GoogleChat`]: Google Chat's incoming webhook, `text` with a `cardsV2` card,
//!   threaded by the message's thread key;
//! - [`Kind::Webhook`]: any endpoint: a JSON event `{type, timestamp, data}` signed as
//!   Standard Webhooks sign (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! Alerts use it for their channels; anything else with news for operators (public
//! status updates) can too: a [`Message`] knows nothing of alerts.

mod deliver;
mod discord;
mod googlechat;
mod mattermost;
mod slack;
mod teams;
mod text;
mod webhook;

pub use deliver::{Delivered, Failure, Retries, deliver};
pub use text::safe_url;

use serde::{Deserialize, Serialize};

use crate::ports::Outbound;
use crate::signing::SigningKey;
use crate::time::Timestamp;

/// A chat service, or a generic webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Slack,
    Teams,
    Mattermost,
    Discord,
    #[serde(rename = "googlechat")]
    GoogleChat,
    Webhook,
}

impl Kind {
    /// Every kind, by its name in configuration.
    pub const ALL: [Kind; 6] = [
        Kind::Slack,
        Kind::Teams,
        Kind::Mattermost,
        Kind::Discord,
        Kind::GoogleChat,
        Kind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::Mattermost => "mattermost",
            Kind::Discord => "discord",
            Kind::GoogleChat => "googlechat",
            Kind::Webhook => "webhook",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
    }
}

/// How a message should look: its colour where the service shows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Something is broken (a critical or high alert).
    Danger,
    /// Something may break (a medium alert).
    Warning,
    /// Something recovered.
    Good,
    #[default]
    Neutral,
}

impl Tone {
    /// `#rrggbb`.
    pub fn hex(self) -> &'static str {
        match self {
            Tone::Danger => "#d22d2d",
            Tone::Warning => "#e8a317",
            Tone::Good => "#2e8540",
            Tone::Neutral => "#5c6b7a",
        }
    }

    pub fn rgb(self) -> u32 {
        u32::from_str_radix(&self.hex()[1..], 16).unwrap_or(0)
    }
}

/// A labelled link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

/// A labelled value shown beside the text ("Severity: critical").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

/// A message for a chat channel or a webhook, whatever the news.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// What the message is, for a webhook's `type` (`alert.firing`, `status.update`).
    pub event: String,
    /// Stable across retries of the same message (a webhook's `webhook-id`).
    pub id: String,
    /// One line.
    pub title: String,
    /// Plain text; may hold several lines.
    #[serde(default)]
    pub text: String,
    /// Where the title leads (a graph, the incident), with what to call it where a
    /// service shows it as a button.
    #[serde(default)]
    pub link: Option<Link>,
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Actions and references, as buttons where the service has them.
    #[serde(default)]
    pub buttons: Vec<Link>,
    #[serde(default)]
    pub tone: Tone,
    /// Messages with the same thread key belong together (Google Chat threads them).
    #[serde(default)]
    pub thread: Option<String>,
    pub timestamp: Timestamp,
    /// What a generic webhook's receiver gets beside the message, as `data.details`.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

/// Where a message goes.
#[derive(Clone)]
pub struct Target {
    pub kind: Kind,
    /// The incoming webhook's URL (it holds the service's secret: never logged).
    pub url: String,
    /// A generic webhook's signing key (`whsec_…`).
    pub signing: Option<std::sync::Arc<SigningKey>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A request ready to send: where, with which headers, which body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The request that delivers `message` to `target`, in the service's format.
pub fn request(target: &Target, message: &Message) -> Request {
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    let mut headers = vec![("content-type", "application/json".to_owned())];
    let mut url = target.url.clone();
    let body = match target.kind {
        Kind::Slack => json(slack::body(message)),
        Kind::Teams => json(teams::body(message)),
        Kind::Mattermost => json(mattermost::body(message)),
        Kind::Discord => json(discord::body(message)),
        Kind::GoogleChat => {
            url = googlechat::url(&url, message);
            json(googlechat::body(message))
        }
        Kind::Webhook => {
            let body = json(webhook::body(message));
            headers.extend(webhook::headers(target.signing.as_deref(), message, &body));
            body
        }
    };
    Request { url, headers, body }
}

/// Sends `message` to `target`, retrying what may pass (see [`deliver()`]).
pub async fn send(
    outbound: &dyn Outbound,
    target: &Target,
    message: &Message,
    retries: Retries,
) -> Result<Delivered, Failure> {
    deliver(outbound, &request(target, message), retries).await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A message with every part filled in, and text that services would read as
    /// markup or mentions.
    pub fn sample() -> Message {
        Message {
            event: "alert.firing".into(),
            id: "msg-1".into(),
            title: "New alert: production: Disk <full> & @here".into(),
            text: "Disk /var at 97% on db-1.\n*not bold* <!channel> @everyone".into(),
            link: Some(Link {
                label: "Graph".into(),
                url: "https://prometheus.example.com/graph?g0.expr=up".into(),
            }),
            facts: vec![
                Fact {
                    name: "Severity".into(),
                    value: "critical".into(),
                },
                Fact {
                    name: "Environment".into(),
                    value: "production".into(),
                },
            ],
            buttons: vec![
                Link {
                    label: "Acknowledge".into(),
                    url: "https://api.example.com/alerts/ack?token=abc".into(),
                },
                Link {
                    label: "Silence 1 h".into(),
                    url: "https://api.example.com/alerts/silence?token=def&for=1h".into(),
                },
            ],
            tone: Tone::Danger,
            thread: Some("alert-1234".into()),
            timestamp: crate::time::parse("2024-03-05T10:00:00Z").unwrap(),
            details: Some(serde_json::json!({"fingerprint": "f1"})),
        }
    }

    #[test]
    fn kinds_read_as_configured() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(Kind::parse("GoogleChat"), Some(Kind::GoogleChat));
        assert_eq!(Kind::parse("irc"), None);
        assert_eq!(Tone::Danger.rgb(), 0xd22d2d);
    }
}
