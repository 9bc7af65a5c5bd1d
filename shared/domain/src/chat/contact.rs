//! A pager's address, checked when it is read (a channel of `ALERT_CHANNELS`, a
//! person's contact method): an SMS number in E.164, an ntfy topic's https URL (http
//! only on this machine's loopback, for tests), a Pushover user or group key, a
//! Telegram chat. And the services' own settings ([`Services`]): Pushover's
//! application token and Telegram's bot token, and where their APIs are.
//!
//! A contact detail is a person's, and a token a secret: no error here names one.

use url::{Host, Url};

use super::{Kind, Target};
use crate::config::alerting::{
    AlertRouting, PUSHOVER_API_URL, PUSHOVER_TOKEN, TELEGRAM_API_URL, TELEGRAM_BOT_TOKEN,
};
use crate::config::{Config, ConfigError, Secret, Setting};

/// The pagers' settings: tokens, and where the services' APIs are.
#[derive(Clone)]
pub struct Services {
    /// `PUSHOVER_TOKEN`: the application's token.
    pub pushover_token: Option<Secret>,
    /// `PUSHOVER_API_URL`, without a trailing `/`.
    pub pushover_api: String,
    /// `TELEGRAM_BOT_TOKEN`.
    pub telegram_bot_token: Option<Secret>,
    /// `TELEGRAM_API_URL`, without a trailing `/`.
    pub telegram_api: String,
}

impl Default for Services {
    /// No tokens, and the services' own APIs (the declared defaults).
    fn default() -> Self {
        let r = AlertRouting::default();
        Services {
            pushover_token: None,
            pushover_api: r.pushover_api_url,
            telegram_bot_token: None,
            telegram_api: r.telegram_api_url,
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("pushover_api", &self.pushover_api)
            .field("telegram_api", &self.telegram_api)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// The settings the configuration gives, each checked: the tokens' shapes (never
    /// echoed), the APIs' URLs https (http only on loopback).
    pub fn from_config(config: &Config) -> Result<Services, ConfigError> {
        let r = &config.alert_routing;
        if let Some(t) = &r.pushover_token
            && !is_pushover_key(t.expose())
        {
            return Err(PUSHOVER_TOKEN
                .invalid("an application's token is 30 letters and digits (pushover.net/apps)"));
        }
        if let Some(t) = &r.telegram_bot_token {
            let shape = t.expose().split_once(':').is_some_and(|(id, secret)| {
                !id.is_empty()
                    && id.bytes().all(|b| b.is_ascii_digit())
                    && secret.len() >= 20
                    && secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            if !shape {
                return Err(TELEGRAM_BOT_TOKEN.invalid(
                    "a bot's token is its number, a colon and its secret, as @BotFather gives it",
                ));
            }
        }
        let api = |setting: &Setting<String>, value: &str| {
            let url = value.trim();
            match Url::parse(url) {
                Ok(u) if is_https_or_loopback(&u) && u.query().is_none() => {
                    Ok(url.trim_end_matches('/').to_owned())
                }
                _ => Err(setting
                    .invalid("must be an https URL (http only on loopback), without a query")),
            }
        };
        Ok(Services {
            pushover_token: r.pushover_token.clone(),
            pushover_api: api(&PUSHOVER_API_URL, &r.pushover_api_url)?,
            telegram_bot_token: r.telegram_bot_token.clone(),
            telegram_api: api(&TELEGRAM_API_URL, &r.telegram_api_url)?,
        })
    }
}

/// What is wrong with a pager's contact detail (never the detail itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("{0} is not a pager (sms, ntfy, pushover, telegram)")]
    NotAPager(&'static str),
    #[error(
        "an SMS number must be E.164: + and the country code, 6 to 15 digits in all, the \
         first not 0, nothing else (+442079460000)"
    )]
    Phone,
    #[error(
        "an ntfy topic must be an https URL (http only on loopback) without credentials, \
         ending in the topic (at most 64 of A-Z, a-z, 0-9, _ and -), as https://ntfy.example/<topic>"
    )]
    Ntfy,
    #[error("a Pushover user or group key is 30 letters and digits")]
    PushoverKey,
    #[error(
        "a Telegram chat is a chat's number (123456789, -1001234567890) or a public \
         channel's @name (5 to 32 of A-Z, a-z, 0-9 and _)"
    )]
    TelegramChat,
    #[error("{variable} is not set, and {kind} needs it")]
    NoToken {
        variable: &'static str,
        kind: &'static str,
    },
}

/// `+` and 6 to 15 digits, the first not 0.
pub fn is_phone(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (6..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn is_pushover_key(s: &str) -> bool {
    s.len() == 30 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_telegram_chat(s: &str) -> bool {
    if let Some(name) = s.strip_prefix('@') {
        return (5..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    (1..=19).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<i64>().is_ok_and(|n| n != 0)
}

/// https anywhere, or http to this machine (`localhost`, 127.0.0.0/8, `::1`): what a
/// secret or a person's message may travel over.
pub fn is_https_or_loopback(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && match url.scheme() {
            "https" => true,
            "http" => loopback,
            _ => false,
        }
}

fn is_ntfy_topic_url(s: &str) -> bool {
    let Ok(url) = Url::parse(s) else {
        return false;
    };
    let topic = url
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()));
    is_https_or_loopback(&url)
        && url.fragment().is_none()
        && topic.is_some_and(|t| {
            (1..=64).contains(&t.len())
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

impl Target {
    /// A pager's target for a contact detail (`+15550100`, `https://ntfy.sh/ops`, a
    /// Pushover key, a Telegram chat), checked, with what its service needs of
    /// `services`.
    pub fn contact(kind: Kind, detail: &str, services: &Services) -> Result<Target, ContactError> {
        let detail = detail.trim();
        let token = |t: &Option<Secret>, variable| {
            t.clone().ok_or(ContactError::NoToken {
                variable,
                kind: kind.as_str(),
            })
        };
        let target = match kind {
            Kind::Sms => {
                if !is_phone(detail) {
                    return Err(ContactError::Phone);
                }
                Target {
                    to: Some(detail.to_owned()),
                    ..Target::webhook(kind, "")
                }
            }
            Kind::Ntfy => {
                if !is_ntfy_topic_url(detail) {
                    return Err(ContactError::Ntfy);
                }
                Target::webhook(kind, detail)
            }
            Kind::Pushover => {
                if !is_pushover_key(detail) {
                    return Err(ContactError::PushoverKey);
                }
                Target {
                    to: Some(detail.to_owned()),
                    token: Some(token(&services.pushover_token, PUSHOVER_TOKEN.name())?),
                    ..Target::webhook(kind, format!("{}/1/messages.json", services.pushover_api))
                }
            }
            Kind::Telegram => {
                if !is_telegram_chat(detail) {
                    return Err(ContactError::TelegramChat);
                }
                let bot = token(&services.telegram_bot_token, TELEGRAM_BOT_TOKEN.name())?;
                Target {
                    to: Some(detail.to_owned()),
                    ..Target::webhook(
                        kind,
                        format!("{}/bot{}/sendMessage", services.telegram_api, bot.expose()),
                    )
                }
            }
            other => return Err(ContactError::NotAPager(other.as_str())),
        };
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ_0123456-89";
    const APP: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
    const USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

    fn services() -> Services {
        Services {
            pushover_token: Some(Secret::new(APP)),
            telegram_bot_token: Some(Secret::new(BOT)),
            ..Services::default()
        }
    }

    #[test]
    fn contact_details_are_checked_and_never_echoed() {
        let s = services();
        let ok = |kind, d: &str| Target::contact(kind, d, &s).unwrap();
        assert_eq!(
            ok(Kind::Sms, " +15550100 ").to.as_deref(),
            Some("+15550100")
        );
        assert_eq!(
            ok(Kind::Ntfy, "https://ntfy.sh/ops-alerts").url,
            "https://ntfy.sh/ops-alerts"
        );
        assert!(Target::contact(Kind::Ntfy, "http://127.0.0.1:8080/alice", &s).is_ok());
        assert!(Target::contact(Kind::Ntfy, "http://[::1]/alice", &s).is_ok());
        let p = ok(Kind::Pushover, USER);
        assert_eq!(p.url, "https://api.pushover.net/1/messages.json");
        assert_eq!(p.token.as_ref().map(Secret::expose), Some(APP));
        let t = ok(Kind::Telegram, "-1001234567890");
        assert_eq!(
            t.url,
            format!("https://api.telegram.org/bot{BOT}/sendMessage")
        );
        assert!(Target::contact(Kind::Telegram, "@ops_alerts", &s).is_ok());
        assert!(!format!("{t:?}{p:?}").contains(BOT) && !format!("{p:?}").contains(USER));

        for (kind, bad, want) in [
            (Kind::Sms, "4915550100", ContactError::Phone),
            (Kind::Sms, "+1 555 0100", ContactError::Phone),
            (Kind::Sms, "+05550100", ContactError::Phone),
            (Kind::Sms, "+1234567890123456", ContactError::Phone),
            (Kind::Sms, "+1555０100", ContactError::Phone),
            (Kind::Ntfy, "http://ntfy.example/alice", ContactError::Ntfy),
            (Kind::Ntfy, "https://ntfy.sh/", ContactError::Ntfy),
            (Kind::Ntfy, "https://u:pw@ntfy.sh/alice", ContactError::Ntfy),
            (Kind::Ntfy, "https://ntfy.sh/a%20b", ContactError::Ntfy),
            (Kind::Ntfy, "ftp://ntfy.sh/alice", ContactError::Ntfy),
            (
                Kind::Ntfy,
                "http://127.0.0.1.evil.example/alice",
                ContactError::Ntfy,
            ),
            (
                Kind::Pushover,
                "uQiRzpo4DXghDmr9QzzfQu27cmVRs",
                ContactError::PushoverKey,
            ),
            (
                Kind::Pushover,
                "uQiRzpo4DXghDmr9QzzfQu27cmVRs!",
                ContactError::PushoverKey,
            ),
            (Kind::Telegram, "@abc", ContactError::TelegramChat),
            (Kind::Telegram, "alice", ContactError::TelegramChat),
            (Kind::Telegram, "0", ContactError::TelegramChat),
            (
                Kind::Telegram,
                "99999999999999999999",
                ContactError::TelegramChat,
            ),
            (
                Kind::Slack,
                "https://hooks.slack.com/x",
                ContactError::NotAPager("slack"),
            ),
        ] {
            let e = Target::contact(kind, bad, &s).unwrap_err();
            assert_eq!(e, want, "{bad}");
            let said = e.to_string();
            assert!(bad.len() < 8 || !said.contains(bad), "{said}");
        }
        let none = Services::default();
        assert_eq!(
            Target::contact(Kind::Pushover, USER, &none)
                .unwrap_err()
                .to_string(),
            "PUSHOVER_TOKEN is not set, and pushover needs it"
        );
        assert!(matches!(
            Target::contact(Kind::Telegram, "1", &none),
            Err(ContactError::NoToken {
                variable: "TELEGRAM_BOT_TOKEN",
                ..
            })
        ));
    }

    #[test]
    fn the_services_settings_are_checked_without_echoing_a_token() {
        let read = |pairs: &[(&str, &str)]| {
            let c = Config::from_lookup(|k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            });
            c.and_then(|c| Services::from_config(&c))
        };
        let s = read(&[
            ("PUSHOVER_TOKEN", APP),
            ("TELEGRAM_BOT_TOKEN", BOT),
            ("TELEGRAM_API_URL", "http://127.0.0.1:9000/tg/"),
        ])
        .unwrap();
        assert_eq!(s.telegram_api, "http://127.0.0.1:9000/tg");
        assert_eq!(s.pushover_api, "https://api.pushover.net");
        for (name, value) in [
            ("PUSHOVER_TOKEN", "not-a-token-secret-value"),
            ("TELEGRAM_BOT_TOKEN", "nocolon-secret-value"),
            ("TELEGRAM_BOT_TOKEN", "12:short"),
            ("PUSHOVER_API_URL", "http://api.pushover.example"),
            ("TELEGRAM_API_URL", "https://api.telegram.org/?x=1"),
        ] {
            let e = read(&[(name, value)]).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
            assert!(!e.contains(value), "{e}");
        }
    }
}
