//! The settings of incidents run from chat (docs/chat.md): who may send commands
//! (`SLACK_SIGNING_SECRET`, `MATTERMOST_COMMAND_TOKEN`), who a chat user is
//! (`CHAT_USERS`, kept as given here and read by the chat capability, which names the
//! variable in any error), and where replies may follow a command
//! (`SLACK_RESPONSE_ORIGIN`, `MATTERMOST_URL`); Slack's Web API (`SLACK_BOT_TOKEN`,
//! `SLACK_API_URL`).

use url::Url;

use super::setting::{Setting, accepted, secret, text};
use super::{Accepted, ConfigError, Function as F, Rejected, Secret, Variable};

/// Without it, `/chat/slack/*` refuse every request.
pub const SLACK_SIGNING_SECRET: Setting<Secret> = Setting {
    variable: Variable {
        name: "SLACK_SIGNING_SECRET",
        default: "none",
        meaning: "the Slack app's signing secret: `POST /chat/slack/commands` and `/chat/slack/actions` take requests it signed (v0, within five minutes); without it they refuse every request (see [Chat commands](chat.md))",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

pub const MATTERMOST_COMMAND_TOKEN: Setting<Accepted> = Setting {
    variable: Variable {
        name: "MATTERMOST_COMMAND_TOKEN",
        default: "none",
        meaning: "the Mattermost slash command's token: `POST /chat/mattermost/commands` takes requests carrying it; during a rotation `new,previous`",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: accepted,
};

pub const MATTERMOST_URL: Setting<Url> = Setting {
    variable: Variable {
        name: "MATTERMOST_URL",
        default: "none",
        meaning: "your Mattermost server (`https://chat.example.com`): the results of commands are posted only to `response_url`s on its origin; without it Mattermost commands are refused",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: origin_url,
};

pub const CHAT_USERS: Setting<String> = Setting {
    variable: Variable {
        name: "CHAT_USERS",
        default: "none",
        meaning: "which GitLab user each chat user acts as: `slack:U0123=alice,mattermost:8xk9qz=alice`; a chat user mapped to nobody may only `list`",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: text,
};

pub const SLACK_BOT_TOKEN: Setting<Secret> = Setting {
    variable: Variable {
        name: "SLACK_BOT_TOKEN",
        default: "none",
        meaning: "the Slack app's bot token (`xoxb-…`, scopes `users:read` and `users:read.email`), for Slack's Web API: a Slack user neither the on-call file nor `CHAT_USERS` maps acts as the on-call person, or the GitLab user, whose address is their confirmed Slack address (`users.info`)",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

pub const SLACK_API_URL: Setting<Url> = Setting {
    variable: Variable {
        name: "SLACK_API_URL",
        default: "`https://slack.com/api`",
        meaning: "where Slack's Web API methods are (`<url>/users.info`): a proxy's, a test's (https, http only on loopback)",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: response_origin,
};

pub const SLACK_RESPONSE_ORIGIN: Setting<Url> = Setting {
    variable: Variable {
        name: "SLACK_RESPONSE_ORIGIN",
        default: "`https://hooks.slack.com`",
        meaning: "the origin Slack's `response_url`s must have for a command's result to be posted there (a proxy's, a test's; https, http only on loopback)",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: response_origin,
};

/// What chat commands read.
pub const VARIABLES: &[Variable] = &[
    SLACK_SIGNING_SECRET.variable,
    MATTERMOST_COMMAND_TOKEN.variable,
    MATTERMOST_URL.variable,
    CHAT_USERS.variable,
    SLACK_BOT_TOKEN.variable,
    SLACK_API_URL.variable,
    SLACK_RESPONSE_ORIGIN.variable,
];

/// The chat command settings.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// `SLACK_SIGNING_SECRET`: without it, `/chat/slack/*` refuse every request.
    pub slack_signing_secret: Option<Secret>,
    /// `MATTERMOST_COMMAND_TOKEN` (`current[,previous]`).
    pub mattermost_command_token: Option<Accepted>,
    /// `CHAT_USERS` as given.
    pub chat_users: Option<String>,
    /// `SLACK_BOT_TOKEN`: kept for Slack's Web API.
    pub slack_bot_token: Option<Secret>,
    /// `MATTERMOST_URL`: the origin Mattermost's `response_url`s must have.
    pub mattermost_url: Option<Url>,
    /// `SLACK_RESPONSE_ORIGIN`: the origin Slack's `response_url`s must have.
    pub slack_response_origin: Url,
    /// `SLACK_API_URL`: where Slack's Web API methods are (`<url>/users.info`).
    pub slack_api_url: Url,
}

impl Default for ChatSettings {
    /// As nothing set: the declared defaults.
    fn default() -> Self {
        ChatSettings::read(|_| None).expect("the declared defaults are read (tested)")
    }
}

/// An http(s) URL with a host and no credentials.
fn origin_url(value: &str) -> Result<Url, Rejected> {
    let url = Url::parse(value).map_err(|_| Rejected::new("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Rejected::new("not an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Rejected::new("a URL with credentials"));
    }
    Ok(url)
}

/// An origin URL on https, or http only on loopback.
pub(super) fn response_origin(value: &str) -> Result<Url, Rejected> {
    let url = origin_url(value)?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !loopback {
        return Err(Rejected::new("https, or http only on loopback"));
    }
    Ok(url)
}

impl ChatSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<ChatSettings, ConfigError> {
        Ok(ChatSettings {
            slack_signing_secret: SLACK_SIGNING_SECRET.read(&get)?,
            mattermost_command_token: MATTERMOST_COMMAND_TOKEN.read(&get)?,
            mattermost_url: MATTERMOST_URL.read(&get)?,
            chat_users: CHAT_USERS.read(&get)?,
            slack_bot_token: SLACK_BOT_TOKEN.read(&get)?,
            slack_response_origin: SLACK_RESPONSE_ORIGIN.value(&get)?,
            slack_api_url: SLACK_API_URL.value(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ChatSettings, ConfigError> {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        ChatSettings::read(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn origins_must_be_http_urls_without_credentials() {
        let c = read(&[]).unwrap();
        assert_eq!(c.slack_response_origin.as_str(), "https://hooks.slack.com/");
        assert!(c.mattermost_url.is_none());
        let c = read(&[("MATTERMOST_URL", "https://chat.example.com")]).unwrap();
        assert_eq!(
            c.mattermost_url.unwrap().origin(),
            Url::parse("https://chat.example.com/x").unwrap().origin()
        );
        assert!(read(&[("SLACK_RESPONSE_ORIGIN", "http://127.0.0.1:9")]).is_ok());
        assert!(read(&[("SLACK_RESPONSE_ORIGIN", "http://hooks.example.com")]).is_err());
        assert_eq!(c.slack_api_url.as_str(), "https://slack.com/api");
        let c = read(&[("SLACK_API_URL", "http://127.0.0.1:9/api")]).unwrap();
        assert_eq!(c.slack_api_url.as_str(), "http://127.0.0.1:9/api");
        assert!(read(&[("SLACK_API_URL", "http://slack.example.com/api")]).is_err());
        for bad in [
            "chat.example.com",
            "ftp://a.example",
            "https://u:p@a.example",
        ] {
            assert!(
                matches!(
                    read(&[("MATTERMOST_URL", bad)]),
                    Err(ConfigError::Invalid {
                        name: "MATTERMOST_URL",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
