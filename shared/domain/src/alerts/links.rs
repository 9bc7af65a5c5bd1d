//! The signed links in alert messages: `GET|POST /alerts/ack?token=` and
//! `GET|POST /alerts/silence?token=&for=1h|4h|24h`. A token says what it may do (ack or
//! silence), to which alert and generation, for whom (the mail recipient, or the
//! channel), and until when (7 days after the message); it is signed with
//! `ALERT_LINK_SECRET` (HMAC-SHA256), so it cannot be made or changed without it.
//!
//! Form: `base64url(JSON).base64url(HMAC)`, both without padding; only these
//! characters appear in a URL: `A-Z a-z 0-9 - _ .`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError, Secret};
use crate::signing::TokenSigner;
use crate::time::Timestamp;

/// How long a link works after its message.
pub const LINK_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Ack,
    Silence,
}

impl LinkAction {
    /// Its route: `/alerts/ack`, `/alerts/silence`.
    pub fn path(self) -> &'static str {
        match self {
            LinkAction::Ack => "/alerts/ack",
            LinkAction::Silence => "/alerts/silence",
        }
    }
}

/// The silences a link offers: `for=` value, duration.
pub const SILENCES: [(&str, Duration); 3] = [
    ("1h", Duration::from_secs(3600)),
    ("4h", Duration::from_secs(4 * 3600)),
    ("24h", Duration::from_secs(24 * 3600)),
];

/// The duration of `for=`, if it is one of [`SILENCES`].
pub fn silence_for(value: &str) -> Option<Duration> {
    SILENCES.iter().find(|(v, _)| *v == value).map(|(_, d)| *d)
}

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    #[serde(rename = "a")]
    pub action: LinkAction,
    /// The alert record's id (its key is `alerts/<id>.json`).
    #[serde(rename = "k")]
    pub record: String,
    /// The alert's generation the link was made for.
    #[serde(rename = "g")]
    pub generation: u32,
    /// The channel the message went to.
    #[serde(rename = "c")]
    pub channel: String,
    /// The mail recipient the link was made for (empty for a chat channel).
    #[serde(rename = "r", default, skip_serializing_if = "String::is_empty")]
    pub recipient: String,
    /// Unix seconds after which the link no longer works.
    #[serde(rename = "x")]
    pub expires: i64,
}

impl Grant {
    /// Who acted, as a note says it: the recipient, else the channel.
    pub fn who(&self) -> String {
        if self.recipient.is_empty() {
            format!("someone in the {} channel", self.channel)
        } else {
            self.recipient.clone()
        }
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// No token at all.
    Missing,
    /// Not made with this key, or changed since.
    Forged,
    /// Made for the other action.
    WrongAction,
    Expired(Timestamp),
}

/// The key that signs and checks tokens.
#[derive(Debug, Clone)]
pub struct LinkKey(TokenSigner);

/// What the MAC covers beside the payload, so no other signature of the same key
/// can pass for a link.
const CONTEXT: &[u8] = b"openmic alert link v1\n";

impl LinkKey {
    pub fn new(secret: &Secret) -> LinkKey {
        LinkKey(TokenSigner::new(secret.expose().as_bytes()))
    }

    /// The token for `grant`.
    pub fn sign(&self, grant: &Grant) -> String {
        // A struct of strings and numbers always serialises.
        let payload = B64.encode(serde_json::to_vec(grant).unwrap_or_default());
        let sig = B64.encode(self.0.mac(&[CONTEXT, payload.as_bytes()]));
        format!("{payload}.{sig}")
    }

    /// What `token` grants, if this key made it for `action` and it has not expired.
    pub fn verify(
        &self,
        token: Option<&str>,
        action: LinkAction,
        now: Timestamp,
    ) -> Result<Grant, LinkError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(LinkError::Missing)?;
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Forged)?;
        let sig = B64.decode(sig).map_err(|_| LinkError::Forged)?;
        if !self.0.verify(&[CONTEXT, payload.as_bytes()], &sig) {
            return Err(LinkError::Forged);
        }
        let grant: Grant = B64
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(LinkError::Forged)?;
        if grant.action != action {
            return Err(LinkError::WrongAction);
        }
        if now.timestamp() > grant.expires {
            return Err(LinkError::Expired(
                chrono::DateTime::from_timestamp(grant.expires, 0).unwrap_or(now),
            ));
        }
        Ok(grant)
    }
}

/// The links of one message, for one recipient: acknowledge, and silence for each
/// duration of [`SILENCES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionLinks {
    pub ack: String,
    /// (`for=` value, URL), in the order of [`SILENCES`].
    pub silence: Vec<(&'static str, String)>,
}

/// Makes the links of messages: where the routes are, and the key.
#[derive(Debug, Clone)]
pub struct Links {
    /// `PUBLIC_API_URL`, without a trailing slash.
    pub base: String,
    pub key: LinkKey,
}

impl Links {
    /// The links of the configuration: on with `PUBLIC_API_URL`, which then needs
    /// `ALERT_LINK_SECRET`.
    pub fn from_config(config: &Config) -> Result<Option<Links>, ConfigError> {
        let Some(base) = &config.subscriptions.public_api_url else {
            return Ok(None);
        };
        let secret = config
            .alert_routing
            .link_secret
            .as_ref()
            .ok_or_else(|| crate::config::alerting::ALERT_LINK_SECRET.missing())?;
        Ok(Some(Links {
            base: base.clone(),
            key: LinkKey::new(secret),
        }))
    }

    /// The links for a message of `record` (generation `generation`) sent at `at`.
    pub fn for_message(
        &self,
        record: &str,
        generation: u32,
        channel: &str,
        recipient: &str,
        at: Timestamp,
    ) -> ActionLinks {
        let expires = at.timestamp() + LINK_LIFETIME.as_secs() as i64;
        let token = |action| {
            self.key.sign(&Grant {
                action,
                record: record.to_owned(),
                generation,
                channel: channel.to_owned(),
                recipient: recipient.to_owned(),
                expires,
            })
        };
        let silence = token(LinkAction::Silence);
        ActionLinks {
            ack: format!(
                "{}{}?token={}",
                self.base,
                LinkAction::Ack.path(),
                token(LinkAction::Ack)
            ),
            silence: SILENCES
                .iter()
                .map(|(v, _)| {
                    (
                        *v,
                        format!(
                            "{}{}?token={silence}&for={v}",
                            self.base,
                            LinkAction::Silence.path()
                        ),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links {
            base: "https://api.example.com".into(),
            key: LinkKey::new(&Secret::new("a-link-secret-of-some-length")),
        }
    }

    fn token_of(url: &str) -> &str {
        url.split("token=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
    }

    #[test]
    fn a_link_mailed_by_an_earlier_release_still_works() {
        // Made by the layout the module documents (computed apart from this code):
        // links sit in mailboxes for a week, so the format never changes under them.
        let key = LinkKey::new(&Secret::new("alert-link-secret-of-at-least-32-characters"));
        let grant = Grant {
            action: LinkAction::Silence,
            record: "a1b2c3".into(),
            generation: 3,
            channel: "oncall".into(),
            recipient: "sre@example.com".into(),
            expires: 1_796_212_800,
        };
        let mailed = "eyJhIjoic2lsZW5jZSIsImsiOiJhMWIyYzMiLCJnIjozLCJjIjoib25jYWxsIiwiciI6InNyZUBleGFtcGxlLmNvbSIsIngiOjE3OTYyMTI4MDB9.iUsSfZjXU7nzBoSUC0TR2LANeJh75ByHp8sncZ7Cqqs";
        assert_eq!(key.sign(&grant), mailed);
        let before = chrono::DateTime::from_timestamp(1_796_212_000, 0).unwrap();
        assert_eq!(
            key.verify(Some(mailed), LinkAction::Silence, before),
            Ok(grant)
        );
    }

    #[test]
    fn tokens_grant_what_they_say_and_nothing_else() {
        let at = crate::time::parse("2024-03-05T10:00:00Z").unwrap();
        let l = links().for_message("0123abcd", 2, "maintainers", "ops@example.com", at);
        assert!(
            l.ack
                .starts_with("https://api.example.com/alerts/ack?token=")
        );
        assert_eq!(l.silence[1].0, "4h");
        assert!(l.silence[1].1.ends_with("&for=4h"));
        let key = &links().key;
        let ack = token_of(&l.ack);
        assert!(
            ack.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let g = key.verify(Some(ack), LinkAction::Ack, at).unwrap();
        assert_eq!(
            (
                g.record.as_str(),
                g.generation,
                g.recipient.as_str(),
                g.who()
            ),
            (
                "0123abcd",
                2,
                "ops@example.com",
                "ops@example.com".to_owned()
            )
        );
        // The other action, another key, a changed payload, a late click.
        assert_eq!(
            key.verify(Some(ack), LinkAction::Silence, at),
            Err(LinkError::WrongAction)
        );
        let other = LinkKey::new(&Secret::new("another-secret-entirely"));
        assert_eq!(
            other.verify(Some(ack), LinkAction::Ack, at),
            Err(LinkError::Forged)
        );
        let (payload, sig) = ack.split_once('.').unwrap();
        let mut grant: serde_json::Value =
            serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        grant["g"] = 3.into();
        let altered = format!("{}.{sig}", B64.encode(grant.to_string()));
        assert_eq!(
            key.verify(Some(&altered), LinkAction::Ack, at),
            Err(LinkError::Forged)
        );
        assert_eq!(
            key.verify(Some("nonsense"), LinkAction::Ack, at),
            Err(LinkError::Forged)
        );
        assert_eq!(
            key.verify(Some(" "), LinkAction::Ack, at),
            Err(LinkError::Missing)
        );
        let late = at + chrono::Duration::days(7) + chrono::Duration::seconds(1);
        assert!(matches!(
            key.verify(Some(ack), LinkAction::Ack, late),
            Err(LinkError::Expired(_))
        ));
        assert!(
            key.verify(
                Some(ack),
                LinkAction::Ack,
                late - chrono::Duration::seconds(2)
            )
            .is_ok()
        );
        assert_eq!(silence_for("4h"), Some(Duration::from_secs(14400)));
        assert_eq!(silence_for("2h"), None);
    }
}
