//! Who a chat user is: the GitLab user they act as, the first of
//!
//! 1. the on-call file's person whose `slack:` or `mattermost:` is their user id
//!    (their `gitlab:`);
//! 2. `CHAT_USERS`;
//! 3. for a Slack user neither names, where `SLACK_BOT_TOKEN` is set: their address
//!    from Slack's `users.info` (`user.profile.email`, only when
//!    `user.is_email_confirmed`), matched to an on-call person's `email`, or, with
//!    GitLab API access, to a GitLab user's public address.
//!
//! The first two are read when a request comes (the state bucket only); the third
//! asks Slack and GitLab, so it is done behind the queue, where Slack's three seconds
//! do not run. An address is never logged.

use bytes::Bytes;
use serde::Deserialize;
use tracing::warn;

use super::{Commands, Job};
use crate::chat::commands::Platform;
use crate::oncall::file::{ContactKind, OnCall};
use crate::oncall::keeper;

/// The GitLab user of the person whose `platform` id is `user_id`.
fn by_chat_id(file: &OnCall, platform: Platform, user_id: &str) -> Option<String> {
    file.people
        .iter()
        .find(|p| {
            let id = match platform {
                Platform::Slack => p.slack.as_deref(),
                Platform::Mattermost => p.mattermost.as_deref(),
            };
            id == Some(user_id)
        })
        .and_then(|p| p.gitlab.clone())
}

/// The GitLab user of the person with the address `email`.
fn by_email(file: &OnCall, email: &str) -> Option<String> {
    file.people
        .iter()
        .filter(|p| {
            p.contacts
                .iter()
                .any(|c| c.kind == ContactKind::Email && c.address.eq_ignore_ascii_case(email))
        })
        .find_map(|p| p.gitlab.clone())
}

/// Slack's `users.info` answer, as much as is read of it.
#[derive(Deserialize)]
struct UsersInfo {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    user: Option<SlackUser>,
}

#[derive(Deserialize)]
struct SlackUser {
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    is_email_confirmed: bool,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    email: Option<String>,
}

/// Why `users.info` gave no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackUserError {
    #[error("Slack's answer is not users.info's")]
    Unreadable,
    #[error("Slack refused: {0}")]
    Refused(String),
    #[error("the Slack user is deleted or a bot")]
    NotAPerson,
    #[error("the Slack user's address is not confirmed")]
    Unconfirmed,
    #[error("Slack shows no address (the bot token needs users:read.email)")]
    NoAddress,
}

/// The confirmed address in a `users.info` answer.
pub fn confirmed_email(body: &str) -> Result<String, SlackUserError> {
    let info: UsersInfo = serde_json::from_str(body).map_err(|_| SlackUserError::Unreadable)?;
    if !info.ok {
        let code: String = info
            .error
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(SlackUserError::Refused(code));
    }
    let user = info.user.ok_or(SlackUserError::Unreadable)?;
    if user.deleted || user.is_bot {
        return Err(SlackUserError::NotAPerson);
    }
    if !user.is_email_confirmed {
        return Err(SlackUserError::Unconfirmed);
    }
    user.profile
        .and_then(|p| p.email)
        .map(|e| e.trim().to_owned())
        .filter(|e| e.contains('@'))
        .ok_or(SlackUserError::NoAddress)
}

impl Commands {
    /// The GitLab user the on-call file or `CHAT_USERS` maps the chat user to.
    pub(super) async fn mapped_user(&self, platform: Platform, user_id: &str) -> Option<String> {
        if let Some(found) = self
            .on_call_file()
            .await
            .and_then(|f| by_chat_id(&f, platform, user_id))
        {
            return Some(found);
        }
        self.users.gitlab_user(platform, user_id).map(str::to_owned)
    }

    /// The job as its chat user acts on it: as they were mapped when it came, or as
    /// their address shows them now; `None` when nothing knows them (a command that
    /// only reads needs nobody).
    pub(super) async fn acting(&self, job: &Job, reads_only: bool) -> Option<Job> {
        if reads_only || job.gitlab_user.is_some() {
            return Some(job.clone());
        }
        let user = self.looked_up(job.platform, &job.user_id).await?;
        Some(Job {
            gitlab_user: Some(user),
            ..job.clone()
        })
    }

    /// The on-call file in use, where there is one.
    pub(super) async fn on_call_file(&self) -> Option<OnCall> {
        self.config.oncall.oncall_config.as_ref()?;
        match keeper::in_use(self.state.as_ref()).await {
            Ok(file) => file,
            Err(e) => {
                warn!(error = %e, "chat user: the on-call file could not be read");
                None
            }
        }
    }

    /// Whether a chat user nothing maps may still be known by their address (Slack,
    /// with a bot token).
    pub(super) fn may_look_up(&self, platform: Platform) -> bool {
        platform == Platform::Slack
            && self.config.chat.slack_bot_token.is_some()
            && self.outbound.is_some()
    }

    /// The GitLab user whose address is the Slack user's confirmed one.
    pub(super) async fn looked_up(&self, platform: Platform, user_id: &str) -> Option<String> {
        if !self.may_look_up(platform) {
            return None;
        }
        let email = match self.slack_email(user_id).await {
            Ok(email) => email,
            Err(why) => {
                warn!(why = %why, "chat user: Slack gave no address to know them by");
                return None;
            }
        };
        if let Some(found) = self.on_call_file().await.and_then(|f| by_email(&f, &email)) {
            return Some(found);
        }
        self.gitlab_by_email(&email).await
    }

    /// The Slack user's confirmed address, from `users.info`.
    async fn slack_email(&self, user_id: &str) -> Result<String, String> {
        let (Some(token), Some(outbound)) = (&self.config.chat.slack_bot_token, &self.outbound)
        else {
            return Err("no bot token or no outbound HTTP".into());
        };
        let base = self
            .config
            .chat
            .slack_api_url
            .as_str()
            .trim_end_matches('/');
        let url = format!("{base}/users.info");
        let headers = [
            ("authorization", format!("Bearer {}", token.expose())),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ];
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user", user_id)
            .finish();
        let answer = outbound
            .call(&url, &headers, Bytes::from(body))
            .await
            .map_err(|e| format!("users.info did not answer: {e}"))?;
        if !(200..300).contains(&answer.status) {
            return Err(format!("users.info answered {}", answer.status));
        }
        confirmed_email(&answer.body).map_err(|e| e.to_string())
    }

    /// The GitLab user whose public address is `email`, with API access.
    async fn gitlab_by_email(&self, email: &str) -> Option<String> {
        let api = &self.gitlab.as_ref()?.api;
        let found = match api.search_users(email).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "chat user: GitLab's users could not be searched");
                return None;
            }
        };
        // The search also matches names: each profile says whose address it is.
        for candidate in found.iter().take(5) {
            match api.user(candidate.id).await {
                Ok(Some(u))
                    if !u.bot
                        && u.public_email
                            .as_deref()
                            .is_some_and(|e| e.trim().eq_ignore_ascii_case(email)) =>
                {
                    return Some(u.username);
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "chat user: a GitLab profile could not be read"),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_confirmed_address_of_a_person() {
        let ok = r#"{"ok": true, "user": {"id": "W012A3CDE", "deleted": false, "is_bot": false,
            "is_email_confirmed": true, "profile": {"email": " spengler@ghostbusters.example.com ",
            "real_name": "Egon Spengler"}}}"#;
        assert_eq!(
            confirmed_email(ok).as_deref(),
            Ok("spengler@ghostbusters.example.com")
        );
        for (body, e) in [
            (
                ok.replace(
                    "\"is_email_confirmed\": true",
                    "\"is_email_confirmed\": false",
                ),
                SlackUserError::Unconfirmed,
            ),
            (
                ok.replace("\"deleted\": false", "\"deleted\": true"),
                SlackUserError::NotAPerson,
            ),
            (
                ok.replace("\"is_bot\": false", "\"is_bot\": true"),
                SlackUserError::NotAPerson,
            ),
            (
                ok.replace("\"email\": \" spengler@ghostbusters.example.com \",", ""),
                SlackUserError::NoAddress,
            ),
            (
                r#"{"ok": false, "error": "missing_scope\n<x>"}"#.to_owned(),
                SlackUserError::Refused("missing_scopex".into()),
            ),
            ("not json".to_owned(), SlackUserError::Unreadable),
            (r#"{"ok": true}"#.to_owned(), SlackUserError::Unreadable),
        ] {
            assert_eq!(confirmed_email(&body), Err(e), "{body}");
        }
    }

    #[test]
    fn the_file_maps_chat_ids_and_addresses_to_gitlab_users() {
        let file = OnCall::parse(
            "people:\n  a: {gitlab: alice, slack: U1, mattermost: m1, email: Alice@Example.com}\n  b: {slack: U2, email: b@example.com}\n",
        )
        .unwrap();
        assert_eq!(
            by_chat_id(&file, Platform::Slack, "U1").as_deref(),
            Some("alice")
        );
        assert_eq!(
            by_chat_id(&file, Platform::Mattermost, "m1").as_deref(),
            Some("alice")
        );
        assert_eq!(by_chat_id(&file, Platform::Mattermost, "U1"), None);
        assert_eq!(by_chat_id(&file, Platform::Slack, "U2"), None, "no gitlab:");
        assert_eq!(
            by_email(&file, "alice@example.COM").as_deref(),
            Some("alice")
        );
        assert_eq!(by_email(&file, "b@example.com"), None);
    }
}
