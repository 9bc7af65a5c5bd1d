//! The settings of incidents run from chat (docs/chat.md): who may send commands
//! (`SLACK_SIGNING_SECRET`, `MATTERMOST_COMMAND_TOKEN`), who a chat user is
//! (`CHAT_USERS`, kept as given here and read by the chat capability, which names the
//! variable in any error), and where replies may follow a command
//! (`SLACK_RESPONSE_ORIGIN`, `MATTERMOST_URL`).

use url::Url;

use super::{Accepted, ConfigError, Secret};

/// Where Slack's `response_url`s live, unless `SLACK_RESPONSE_ORIGIN` says otherwise.
pub const SLACK_RESPONSE_ORIGIN: &str = "https://hooks.slack.com";

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
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            slack_signing_secret: None,
            mattermost_command_token: None,
            chat_users: None,
            slack_bot_token: None,
            mattermost_url: None,
            slack_response_origin: Url::parse(SLACK_RESPONSE_ORIGIN).expect("a URL"),
        }
    }
}

/// An http(s) URL with a host and no credentials, or why not.
pub(super) fn origin_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid {
        name,
        why: why.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("not an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("a URL with credentials"));
    }
    Ok(url)
}

impl ChatSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<ChatSettings, ConfigError> {
        let mut c = ChatSettings {
            slack_signing_secret: get("SLACK_SIGNING_SECRET").map(Secret::new),
            mattermost_command_token: get("MATTERMOST_COMMAND_TOKEN")
                .map(|v| Accepted::parse("MATTERMOST_COMMAND_TOKEN", &v))
                .transpose()?,
            chat_users: get("CHAT_USERS"),
            slack_bot_token: get("SLACK_BOT_TOKEN").map(Secret::new),
            ..ChatSettings::default()
        };
        if let Some(v) = get("MATTERMOST_URL") {
            c.mattermost_url = Some(origin_url("MATTERMOST_URL", &v)?);
        }
        if let Some(v) = get("SLACK_RESPONSE_ORIGIN") {
            let url = origin_url("SLACK_RESPONSE_ORIGIN", &v)?;
            let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if url.scheme() != "https" && !loopback {
                return Err(ConfigError::Invalid {
                    name: "SLACK_RESPONSE_ORIGIN",
                    why: "https, or http only on loopback".into(),
                });
            }
            c.slack_response_origin = url;
        }
        Ok(c)
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
