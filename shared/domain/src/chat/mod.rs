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
//! And the pagers, which reach one person (or a group) where they are, each saying
//! what fired, for how long (from the message's [`since`](Message::since)), and its
//! first button's link (an alert's acknowledge link):
//!
//! - [`Kind::Sms`]: a text message through Amazon SNS (the [`Sms`](crate::ports::Sms)
//!   port), plain and short ([`sms`]);
//! - [`Kind::Ntfy`]: ntfy's JSON publishing to the server's root, `click` the link;
//! - [`Kind::Pushover`]: Pushover's `messages.json`, plain text, `url` the link;
//! - [`Kind::Telegram`]: the Telegram Bot API's `sendMessage` in its HTML style.
//!
//! A pager's address is checked when it is read ([`Target::contact`]), and the
//! services' tokens come from the configuration ([`Services`]). [`first_delivered`]
//! tries a person's contact methods in order until one takes the message.
//!
//! Alerts use it for their channels; anything else with news for operators (public
//! status updates) can too: a [`Message`] knows nothing of alerts.
//!
//! Every text of a message (title, text, facts' names and values, links' labels) may
//! come from an alert, an issue or a label, and every link's target from a payload,
//! so each service's body writes them through one rule of its own, in its module: no
//! payload can mention anyone, make a link, or format, in that service's syntax (see
//! each module for what its parser reads and why its rule holds). Before it, in
//! `text`: bidirectional controls are removed, text is cut whole at the service's
//! limit (never inside an escape, and before the links, which are never cut), and a
//! link keeps its target only if [`safe_url`] makes it safe, otherwise its label is
//! shown as text. Every body is valid for its service: tests/tests/chat_bodies.rs
//! runs them through the services' own libraries and documented limits.

pub mod commands;
mod contact;
mod deliver;
mod discord;
mod googlechat;
mod mattermost;
mod ntfy;
mod page;
mod pager;
mod pushover;
mod slack;
pub mod sms;
mod teams;
mod telegram;
mod text;
mod webhook;

pub use contact::{ContactError, Services};
pub use deliver::{Delivered, Failure, Retries, deliver};
pub use page::{ChannelSender, Paged, Senders, fall_through, first_delivered};
pub use pager::CALL_LABEL;
/// How long a number of seconds is, as pagers say it (`12m`, `2h 5m`).
pub use text::safe_url;

use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::ports::Outbound;
use crate::signing::SigningKey;
use crate::time::Timestamp;

/// A chat service, a generic webhook, or a pager.
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
    /// A text message to a phone, through Amazon SNS.
    Sms,
    Ntfy,
    Pushover,
    Telegram,
}

impl Kind {
    /// Whether its body shows an image by its URL (Slack's `image` block, Teams' card's
    /// `Image`).
    pub fn shows_images(self) -> bool {
        matches!(self, Kind::Slack | Kind::Teams)
    }

    /// Every kind, by its name in configuration.
    pub const ALL: [Kind; 10] = [
        Kind::Slack,
        Kind::Teams,
        Kind::Mattermost,
        Kind::Discord,
        Kind::GoogleChat,
        Kind::Webhook,
        Kind::Sms,
        Kind::Ntfy,
        Kind::Pushover,
        Kind::Telegram,
    ];

    /// The pagers: each reaches a person (or a group) rather than a channel, and is
    /// addressed by a contact detail ([`Target::contact`]).
    pub const PAGERS: [Kind; 4] = [Kind::Sms, Kind::Ntfy, Kind::Pushover, Kind::Telegram];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::Mattermost => "mattermost",
            Kind::Discord => "discord",
            Kind::GoogleChat => "googlechat",
            Kind::Webhook => "webhook",
            Kind::Sms => "sms",
            Kind::Ntfy => "ntfy",
            Kind::Pushover => "pushover",
            Kind::Telegram => "telegram",
        }
    }

    /// Whether this kind pages a person ([`Kind::PAGERS`]).
    pub fn is_pager(self) -> bool {
        Kind::PAGERS.contains(&self)
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
    /// When what the message tells of began (an alert's start): pagers say for how
    /// long it has been going on at `timestamp`.
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// What a generic webhook's receiver gets beside the message, as `data.details`.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    /// The alert record's id, for a firing alert's message: Slack shows it buttons
    /// that act through openmic's interactivity route (Acknowledge, Silence 1h,
    /// Resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// An image a service shows by its URL (Slack's `image` block): the chart behind
    /// a firing alert, through its signed, expiring link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

/// An image by its URL, with its text alternative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    pub alt: String,
}

/// Where a message goes.
#[derive(Clone)]
pub struct Target {
    pub kind: Kind,
    /// The incoming webhook's URL, ntfy's topic URL, or the pager service's API
    /// endpoint (Telegram's holds the bot's token); empty for SMS. It may hold a
    /// secret: never logged.
    pub url: String,
    /// A generic webhook's signing key (`whsec_…`).
    pub signing: Option<std::sync::Arc<SigningKey>>,
    /// Whom a pager reaches: a phone number (SMS), a Pushover user or group key, a
    /// Telegram chat. A person's contact detail: never logged.
    pub to: Option<String>,
    /// A token the service wants in the request: Pushover's application token, an
    /// ntfy access token.
    pub token: Option<Secret>,
}

impl Target {
    /// A chat service's or a webhook's target: its URL, nothing else.
    pub fn webhook(kind: Kind, url: impl Into<String>) -> Target {
        Target {
            kind,
            url: url.into(),
            signing: None,
            to: None,
            token: None,
        }
    }
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

/// What delivers a message: an HTTP request (through [`Outbound`]), or a text
/// message to a phone (through the [`Sms`](crate::ports::Sms) port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Http(Request),
    Sms { phone: String, text: String },
}

impl Outgoing {
    /// The HTTP request, if it is one.
    pub fn http(self) -> Option<Request> {
        match self {
            Outgoing::Http(r) => Some(r),
            Outgoing::Sms { .. } => None,
        }
    }
}

/// What delivers `message` to `target`, in the service's format.
pub fn outgoing(target: &Target, message: &Message) -> Outgoing {
    if target.kind == Kind::Sms {
        return Outgoing::Sms {
            phone: target.to.clone().unwrap_or_default(),
            text: sms::text(message),
        };
    }
    Outgoing::Http(request(target, message))
}

/// The HTTP request that delivers `message` to `target`, in the service's format (an
/// SMS target's is none: see [`outgoing`]).
fn request(target: &Target, message: &Message) -> Request {
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
        Kind::Ntfy => {
            let (root, topic) = ntfy::root_and_topic(&target.url);
            url = root;
            if let Some(token) = &target.token {
                headers.push(("authorization", format!("Bearer {}", token.expose())));
            }
            json(ntfy::body(&topic, message))
        }
        Kind::Pushover => json(pushover::body(
            target.token.as_ref().map_or("", Secret::expose),
            target.to.as_deref().unwrap_or_default(),
            message,
        )),
        Kind::Telegram => json(telegram::body(
            target.to.as_deref().unwrap_or_default(),
            message,
        )),
        // Not HTTP: `outgoing` makes its text.
        Kind::Sms => sms::text(message).into_bytes(),
    };
    Request { url, headers, body }
}

/// Sends `message` to `target` over HTTP, retrying what may pass (see
/// [`deliver()`]); an SMS target needs [`Senders`], which has the SMS port too.
pub async fn send(
    outbound: &dyn Outbound,
    target: &Target,
    message: &Message,
    retries: Retries,
) -> Result<Delivered, Failure> {
    Senders {
        outbound: None,
        sms: None,
        retries,
    }
    .send_through(Some(outbound), target, message)
    .await
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
            since: Some(crate::time::parse("2024-03-05T09:48:00Z").unwrap()),
            alert: None,
            details: Some(serde_json::json!({"fingerprint": "f1"})),
            image: None,
        }
    }

    /// A message whose every field from a payload tries something: mentions in every
    /// spelling the services know, links in their syntaxes, formatting, a title link
    /// that closes Slack's link and opens another, targets that are not http(s) or
    /// that hold each link syntax's delimiters, bidirectional overrides, zero-width
    /// characters, and a fact with nothing in it.
    pub fn hostile() -> Message {
        Message {
            event: "alert.firing".into(),
            id: "msg-2".into(),
            title: "Disk <!channel> <!here|here> <!subteam^S0123> <@U123> @here \\@all \u{202E}gnp.exe".into(),
            text: "[re-login](https://evil.example/sso) <https://evil.example|click> **b** _i_\n\
                   # H\n> q `c` @\u{200B}everyone <#C1> <@&42> <users/all> &lt;!here&gt; \u{2066}x\u{2069}\u{200F}"
                .into(),
            link: Some(Link {
                label: "Graph".into(),
                url: "https://x/graph>* <!channel> *<https://evil.example/phish".into(),
            }),
            facts: vec![
                Fact {
                    name: "Hosts <!here>".into(),
                    value: "[a](javascript:alert(1)) @channel".into(),
                },
                Fact {
                    name: String::new(),
                    value: "\u{202E}".into(),
                },
            ],
            buttons: vec![
                Link {
                    label: "Acknowledge".into(),
                    url: "https://api.example.com/alerts/ack?token=abc".into(),
                },
                Link {
                    label: "Runbook [x](https://evil.example)".into(),
                    url: "javascript:alert(document.cookie)".into(),
                },
                Link {
                    label: "Image".into(),
                    url: "data:text/html,<script>alert(1)</script>".into(),
                },
                Link {
                    label: "Dashboard".into(),
                    url: "https://grafana.example.com/d/x (1)|y)?q=ä ö&r=<b>".into(),
                },
            ],
            tone: Tone::Warning,
            thread: Some("alert-5678".into()),
            timestamp: crate::time::parse("2024-03-05T10:00:00Z").unwrap(),
            since: None,
            alert: None,
            details: None,
            image: None,
        }
    }

    /// Mentions in every spelling the services know, links in their syntaxes, and the
    /// tricks around them.
    const VARIANTS: &[&str] = &[
        "@here",
        "@HERE",
        "@channel",
        "@all",
        "@everyone",
        "\\@here",
        "@\u{200B}here",
        "x@here",
        "(@all)",
        "<!here>",
        "<!channel>",
        "<!everyone>",
        "<!here|here>",
        "<!subteam^S0123>",
        "<!subteam^S0123|@oncall>",
        "<@U123>",
        "<@U123|bob>",
        "<#C123>",
        "<@&42>",
        "<@!42>",
        "<users/all>",
        "<users/123>",
        "<https://evil.example|click>",
        "<https://evil.example>",
        "[x](javascript:alert(1))",
        "[x](https://evil.example)",
        "![i](https://evil.example/i.png)",
        "[x]\u{200B}(https://evil.example)",
        "[x][r]\n\n[r]: https://evil.example",
        "&lt;!channel&gt;",
        "&#60;!here&#62;",
        "<\u{200B}!channel>",
        "\u{202E}<!here>",
        "**b** _i_ ~s~ `c` # h",
        "\n- l\n> q",
    ];

    /// A message with `v` in every field that comes from a payload, and one button
    /// with a safe target.
    fn with_everywhere(v: &str) -> Message {
        Message {
            title: format!("T {v}"),
            text: format!("X {v}"),
            link: None,
            facts: vec![Fact {
                name: format!("N {v}"),
                value: format!("V {v}"),
            }],
            buttons: vec![Link {
                label: format!("L {v}"),
                url: "https://api.example.com/alerts/ack?token=abc".into(),
            }],
            ..hostile()
        }
    }

    /// How many times `c` stands in `s` without a backslash before it.
    fn unescaped(s: &str, c: char) -> usize {
        let mut backslashes = 0;
        let mut n = 0;
        for x in s.chars() {
            if x == c && backslashes % 2 == 0 {
                n += 1;
            }
            backslashes = if x == '\\' { backslashes + 1 } else { 0 };
        }
        n
    }

    /// Every string in `v`, with the path to it.
    fn strings(v: &serde_json::Value, path: String, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::String(s) => out.push((path, s.clone())),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    strings(x, format!("{path}[{i}]"), out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    strings(x, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }

    /// Where a mention could start: `@` not followed by a word joiner.
    fn bare_at(s: &str) -> bool {
        s.match_indices('@')
            .any(|(i, _)| !s[i + 1..].starts_with(text::WORD_JOINER))
    }

    #[test]
    fn no_variant_mentions_links_or_formats_in_any_service() {
        for v in VARIANTS {
            let m = with_everywhere(v);
            let mut all = Vec::new();
            for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Sms) {
                let target = Target {
                    to: Some("123".into()),
                    ..Target::webhook(kind, "https://hooks.example.com/x")
                };
                let body: serde_json::Value =
                    serde_json::from_slice(&request(&target, &m).body).unwrap();
                let mut fields = Vec::new();
                strings(&body, kind.as_str().into(), &mut fields);
                all.extend(fields.iter().map(|(p, s)| (kind, p.clone(), s.clone())));
            }
            for (kind, path, s) in &all {
                let at = format!("{v:?} in {path}: {s:?}");
                assert!(
                    !s.chars().any(crate::mail::is_bidi_control) || *kind == Kind::Webhook,
                    "{at}"
                );
                match kind {
                    // mrkdwn and `text`: no `<` or `>` but the title link's own.
                    Kind::Slack if path.ends_with(".url") => {}
                    Kind::Slack if s.contains("plain_text") => {}
                    Kind::Slack => {
                        let plain = all.iter().any(|(k, p, t)| {
                            *k == Kind::Slack
                                && *p == path.replace(".text.text", ".text.type")
                                && t == "plain_text"
                        });
                        if plain {
                            assert!(
                                s.match_indices('<')
                                    .all(|(i, _)| s[i + 1..].starts_with(text::WORD_JOINER)),
                                "{at}"
                            );
                        } else {
                            assert!(!s.contains('<') && !s.contains('>'), "{at}");
                        }
                    }
                    // Only TextRuns and action titles hold text; no Markdown element.
                    Kind::Teams => {
                        assert!(s != "TextBlock" && s != "FactSet", "{at}");
                        let field = path.rsplit('.').next().unwrap_or_default();
                        if field == "text" {
                            assert!(path.contains(".inlines["), "{at}");
                        }
                    }
                    Kind::Mattermost
                        if path.ends_with(".color") || path.ends_with("title_link") => {}
                    Kind::Mattermost => {
                        // The heading is openmic's.
                        let s = s.strip_prefix("#### ").unwrap_or(s);
                        assert!(!bare_at(s), "{at}");
                        // What Mattermost's server turns into mentions first.
                        assert!(
                            ["<!channel>", "<!here>", "<!all>"]
                                .iter()
                                .all(|a| !s.contains(a)),
                            "{at}"
                        );
                        let user = regex_lite::Regex::new("<@[a-zA-Z0-9]+>").unwrap();
                        assert!(!user.is_match(s), "{at}");
                        let plain = path.ends_with(".fallback") || path.ends_with("[0].title");
                        if !plain {
                            // The one link is the button's.
                            let links = unescaped(s, '[');
                            let expected = usize::from(path.ends_with("[0].text"));
                            assert_eq!(links, expected, "{at}");
                            assert_eq!(unescaped(s, '<'), 0, "{at}");
                            assert_eq!(
                                unescaped(s, '*') + unescaped(s, '_') + unescaped(s, '#'),
                                0,
                                "{at}"
                            );
                        }
                    }
                    Kind::Discord if path.ends_with(".url") || path.ends_with(".timestamp") => {}
                    Kind::Discord => {
                        let expected = usize::from(path.ends_with(".description"));
                        assert_eq!(unescaped(s, '['), expected, "{at}");
                        for c in ['<', '@', '*', '_', '~', '`', '#', '>', '|'] {
                            assert_eq!(unescaped(s, c), 0, "{c} {at}");
                        }
                    }
                    Kind::GoogleChat if path == "googlechat.text" => {
                        assert!(
                            s.match_indices('<')
                                .all(|(i, _)| s[i + 1..].starts_with(text::WORD_JOINER)),
                            "{at}"
                        );
                        for c in ['*', '_', '~', '`'] {
                            assert!(
                                s.match_indices(c)
                                    .all(|(i, _)| s[i + 1..].starts_with(text::WORD_JOINER)
                                        && s[..i].ends_with(text::WORD_JOINER)),
                                "{at}"
                            );
                        }
                    }
                    // Card text is HTML: no tag from a payload.
                    Kind::GoogleChat
                        if path.contains("widgets") && !path.contains("buttonList") =>
                    {
                        assert!(!s.contains('<') && !s.contains('>'), "{at}");
                    }
                    // HTML: no tag but openmic's own, no mention.
                    Kind::Telegram if path == "telegram.text" => {
                        let own =
                            regex_lite::Regex::new(r#"</?b>|<a href="[^"<>]*">|</a>"#).unwrap();
                        let rest = own.replace_all(s, "");
                        assert!(!rest.contains('<') && !rest.contains('>'), "{at}");
                        assert!(!bare_at(s), "{at}");
                    }
                    // Plain text, shown as written; no mention syntax there to escape.
                    Kind::Ntfy | Kind::Pushover => {}
                    _ => {}
                }
            }
        }
    }

    /// The text after the last link is cut at most, with escapes that are several
    /// characters long (`&amp;`, `\\[`, `@\u{2060}`), a link of the text's own and
    /// characters two UTF-16 units long at every position around each limit.
    #[test]
    fn a_long_text_is_cut_before_the_links_and_never_inside_an_escape() {
        let unit = "a&<@[x](https://evil.example/p) 😀 ";
        let whole_entities = |s: &str| {
            s.match_indices('&').all(|(i, _)| {
                ["&amp;", "&lt;", "&gt;"]
                    .iter()
                    .any(|e| s[i..].starts_with(e))
            })
        };
        let even_backslashes =
            |s: &str| (s.len() - s.trim_end_matches('\\').len()).is_multiple_of(2);
        for shift in 0..12 {
            let text = format!(
                "{}{}",
                "b".repeat(shift),
                unit.repeat(10_000 / unit.len() + 1)
            );
            let m = Message { text, ..sample() };
            let links = "[Acknowledge](https://api.example.com/alerts/ack?token=abc) · [Silence 1 h](https://api.example.com/alerts/silence?token=def&for=1h)";

            let s = slack::body(&m);
            let cut = s["blocks"][1]["text"]["text"].as_str().unwrap();
            assert!(cut.chars().count() <= 3000 && cut.ends_with('…'), "{shift}");
            assert!(whole_entities(cut), "{shift}: {cut}");
            assert_eq!(s["blocks"][3]["elements"].as_array().unwrap().len(), 3);

            let t = teams::body(&m);
            let card = &t["attachments"][0]["content"];
            let run = card["body"][1]["inlines"][0]["text"].as_str().unwrap();
            assert!(run.chars().count() <= 6000 && run.ends_with('…'));
            assert_eq!(card["actions"].as_array().unwrap().len(), 3);

            let mm = mattermost::body(&m);
            let all = mm["attachments"][0]["text"].as_str().unwrap();
            assert!(all.chars().count() <= 7000, "{shift}");
            let before = all
                .strip_suffix(links)
                .unwrap()
                .strip_suffix("\n\n")
                .unwrap();
            let before = before.strip_suffix('…').unwrap();
            assert!(even_backslashes(before), "{shift}: {before}");
            assert!(
                !before.ends_with('@'),
                "{shift}: a mention's word joiner cut off"
            );

            let d = discord::body(&m);
            let e = &d["embeds"][0];
            let description = e["description"].as_str().unwrap();
            assert!(text::Units::Utf16.of(description) <= 4096, "{shift}");
            let before = description
                .strip_suffix(links)
                .unwrap()
                .strip_suffix("\n\n")
                .unwrap();
            assert!(
                even_backslashes(before.strip_suffix('…').unwrap()),
                "{shift}"
            );

            let g = googlechat::body(&m);
            let paragraph =
                g["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["textParagraph"]["text"]
                    .as_str()
                    .unwrap();
            assert!(paragraph.chars().count() <= 4000 && paragraph.ends_with('…'));
            assert!(whole_entities(paragraph), "{shift}");
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
