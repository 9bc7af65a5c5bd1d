//! The bodies Slack and Mattermost send: a slash command's form
//! (`application/x-www-form-urlencoded`) and Slack's interactivity `payload=` (the
//! JSON of a button press, `block_actions`).
//!
//! A field given twice counts once, as first given; fields we do not read are left
//! alone. A `response_url` is kept only if it is an http(s) URL (Mattermost sends
//! `not supported yet` where it has none): the reply then goes in the response.

use serde::Deserialize;
use url::Url;

use super::Platform;

/// Why a body is not a command or an action we read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request has no `{0}` field")]
    MissingField(&'static str),
    #[error("the interaction payload is not JSON of the form Slack documents")]
    Payload(#[source] serde_json::Error),
    #[error("the interaction is not a button press (block_actions)")]
    NotBlockActions,
    #[error("the button press names no action")]
    NoAction,
}

/// A slash command as Slack or Mattermost sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    pub platform: Platform,
    /// `/incident`, as the service names the command.
    pub command: String,
    /// What follows the command, as typed (Slack escapes `&`, `<`, `>` in it).
    pub text: String,
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    pub team_id: String,
    pub response_url: Option<String>,
    pub trigger_id: Option<String>,
    /// Mattermost's command token (Slack's is deprecated and not read).
    pub token: Option<String>,
}

/// The first value of each name in a form, decoded as browsers decode forms.
fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// `raw` if it is an http(s) URL with a host.
fn http_url(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| raw.to_owned())
}

impl SlashCommand {
    /// Reads a slash command's form. `user_id` and `channel_id` are required (without
    /// them nobody could be answered or checked); the rest may be absent or empty.
    pub fn parse(platform: Platform, body: &[u8]) -> Result<SlashCommand, RequestError> {
        let form = pairs(body);
        let required = |name: &'static str| {
            first(&form, name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(RequestError::MissingField(name))
        };
        let optional = |name: &str| first(&form, name).unwrap_or_default().to_owned();
        Ok(SlashCommand {
            platform,
            command: optional("command"),
            text: optional("text"),
            user_id: required("user_id")?,
            user_name: optional("user_name"),
            channel_id: required("channel_id")?,
            team_id: optional("team_id"),
            response_url: first(&form, "response_url").and_then(http_url),
            trigger_id: first(&form, "trigger_id")
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            token: first(&form, "token")
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }
}

/// One button pressed, as `actions[]` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub action_id: String,
    pub value: Option<String>,
}

/// A button press on one of openmic's Slack messages (`block_actions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockActions {
    pub user_id: String,
    pub user_name: String,
    pub channel_id: Option<String>,
    pub actions: Vec<Action>,
    pub response_url: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct RawId {
    id: String,
}

#[derive(Deserialize)]
struct RawPayload {
    #[serde(rename = "type")]
    kind: String,
    user: RawUser,
    #[serde(default)]
    actions: Vec<RawAction>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    channel: Option<RawId>,
}

impl BlockActions {
    /// Reads Slack's interactivity body: a form whose `payload` is the JSON of the
    /// interaction. Only button presses (`block_actions`) with at least one action
    /// are ours.
    pub fn parse(body: &[u8]) -> Result<BlockActions, RequestError> {
        let form = pairs(body);
        let payload = first(&form, "payload").ok_or(RequestError::MissingField("payload"))?;
        let raw: RawPayload = serde_json::from_str(payload).map_err(RequestError::Payload)?;
        if raw.kind != "block_actions" {
            return Err(RequestError::NotBlockActions);
        }
        if raw.actions.is_empty() {
            return Err(RequestError::NoAction);
        }
        if raw.user.id.is_empty() {
            return Err(RequestError::MissingField("user.id"));
        }
        Ok(BlockActions {
            user_name: raw.user.username.or(raw.user.name).unwrap_or_default(),
            user_id: raw.user.id,
            channel_id: raw.channel.map(|c| c.id),
            actions: raw
                .actions
                .into_iter()
                .map(|a| Action {
                    action_id: a.action_id,
                    value: a.value,
                })
                .collect(),
            response_url: raw.response_url.as_deref().and_then(http_url),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own example body, from "Verifying requests from Slack".
    const SLACK_FORM: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    /// A request with the fields Mattermost's developer documentation ("Custom slash
    /// commands") lists for a custom command's POST; the values are illustrative, not a
    /// capture from a live server (`response_url` as older servers sent it).
    const MATTERMOST_FORM: &str = "channel_id=cniah6qa73bjjjan6mzn11f4ie&channel_name=town-square&command=/incident&response_url=not+supported+yet&team_domain=someteam&team_id=rdc9bgriktyx9p4kowh3dmgqyc&text=declare+%22DB+down%22+sev2&token=xr3j5x3p4pfk7kk6ck7b4e6ghh&user_id=c3a4cqe3dfy6dgopqt8ai3hydh&user_name=somename";

    /// A button press as Slack sent it, captured in TotoroSyd/heybot's payload.py
    /// (its first example, trimmed to the fields Slack always sends and ours).
    const BLOCK_ACTIONS: &str = r#"{"type":"block_actions","user":{"id":"U01AZ88AQQ4","username":"phoebe.ngsyd","name":"phoebe.ngsyd","team_id":"T01B5M3VC1X"},"api_app_id":"A01BGTV24LQ","token":"RFEwDETALFMJkphCasIfOUZT","container":{"type":"message","message_ts":"1600857119.015400","channel_id":"D01ACC2E8S3","is_ephemeral":false},"trigger_id":"1388105719492.1379717998065.9bc163894734c1f415a2c504e81dec91","team":{"id":"T01B5M3VC1X","domain":"heybot-workspace"},"channel":{"id":"D01ACC2E8S3","name":"directmessage"},"response_url":"https:\/\/hooks.slack.com\/actions\/T01B5M3VC1X\/1394543744577\/NIyyQSrf1FF0R7KPv7VbbjrC","actions":[{"action_id":"time_off_balance","block_id":"request_timeoff","text":{"type":"plain_text","text":"Check time off balance","emoji":true},"value":"Check time off balance","type":"button","action_ts":"1600857126.868122"}]}"#;

    #[test]
    fn slacks_form_reads_every_field() {
        let c = SlashCommand::parse(Platform::Slack, SLACK_FORM.as_bytes()).unwrap();
        assert_eq!(c.command, "/webhook-collect");
        assert_eq!(c.text, "");
        assert_eq!(c.user_id, "U2CERLKJA");
        assert_eq!(c.user_name, "roadrunner");
        assert_eq!(c.channel_id, "G8PSS9T3V");
        assert_eq!(c.team_id, "T1DC2JH3J");
        assert_eq!(
            c.response_url.as_deref(),
            Some(
                "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"
            )
        );
        assert_eq!(
            c.trigger_id.as_deref(),
            Some("398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
        );
    }

    #[test]
    fn mattermosts_form_reads_text_token_and_no_response_url() {
        let c = SlashCommand::parse(Platform::Mattermost, MATTERMOST_FORM.as_bytes()).unwrap();
        assert_eq!(c.platform, Platform::Mattermost);
        assert_eq!(c.text, "declare \"DB down\" sev2");
        assert_eq!(c.token.as_deref(), Some("xr3j5x3p4pfk7kk6ck7b4e6ghh"));
        assert_eq!(c.user_id, "c3a4cqe3dfy6dgopqt8ai3hydh");
        assert_eq!(c.response_url, None, "`not supported yet` is no URL");
    }

    #[test]
    fn a_form_without_user_or_channel_names_the_field_and_first_value_wins() {
        for (body, field) in [
            ("channel_id=C1&text=list", "user_id"),
            ("user_id=U1&text=list", "channel_id"),
            ("user_id=&channel_id=C1", "user_id"),
            ("", "user_id"),
        ] {
            match SlashCommand::parse(Platform::Slack, body.as_bytes()) {
                Err(RequestError::MissingField(f)) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let c = SlashCommand::parse(
            Platform::Slack,
            b"user_id=U1&user_id=U2&channel_id=C1&response_url=javascript:alert(1)&text=%FF",
        )
        .unwrap();
        assert_eq!(c.user_id, "U1");
        assert_eq!(c.response_url, None);
        assert_eq!(c.text, "\u{fffd}", "invalid UTF-8 is replaced, not a panic");
    }

    #[test]
    fn a_button_press_reads_user_actions_and_response_url() {
        let body = format!(
            "payload={}",
            url::form_urlencoded::byte_serialize(BLOCK_ACTIONS.as_bytes()).collect::<String>()
        );
        let a = BlockActions::parse(body.as_bytes()).unwrap();
        assert_eq!(a.user_id, "U01AZ88AQQ4");
        assert_eq!(a.user_name, "phoebe.ngsyd");
        assert_eq!(a.channel_id.as_deref(), Some("D01ACC2E8S3"));
        assert_eq!(
            a.actions,
            vec![Action {
                action_id: "time_off_balance".into(),
                value: Some("Check time off balance".into())
            }]
        );
        assert_eq!(
            a.response_url.as_deref(),
            Some(
                "https://hooks.slack.com/actions/T01B5M3VC1X/1394543744577/NIyyQSrf1FF0R7KPv7VbbjrC"
            )
        );
    }

    #[test]
    fn other_interactions_and_broken_payloads_are_named() {
        let enc = |json: &str| {
            format!(
                "payload={}",
                url::form_urlencoded::byte_serialize(json.as_bytes()).collect::<String>()
            )
        };
        assert!(matches!(
            BlockActions::parse(b"text=x"),
            Err(RequestError::MissingField("payload"))
        ));
        assert!(matches!(
            BlockActions::parse(enc("{not json").as_bytes()),
            Err(RequestError::Payload(_))
        ));
        assert!(matches!(
            BlockActions::parse(enc(r#"{"type":"view_submission","user":{"id":"U1"}}"#).as_bytes()),
            Err(RequestError::NotBlockActions)
        ));
        assert!(matches!(
            BlockActions::parse(
                enc(r#"{"type":"block_actions","user":{"id":"U1"},"actions":[]}"#).as_bytes()
            ),
            Err(RequestError::NoAction)
        ));
        assert!(matches!(
            BlockActions::parse(
                enc(r#"{"type":"block_actions","user":{"id":""},"actions":[{"action_id":"ack"}]}"#)
                    .as_bytes()
            ),
            Err(RequestError::MissingField("user.id"))
        ));
    }
}
