//! The routes' side: `POST /chat/slack/commands`, `POST /chat/slack/actions`,
//! `POST /chat/mattermost/commands`. Who sent the request is checked before anything
//! else is read; then it is answered at once (Slack waits three seconds): help, what
//! is wrong with a command, why a user may not act, or an acknowledgement with the
//! work queued. Every answer is 200 with a reply only whoever typed it sees, but for
//! a request not from the service (401) or not a form the service sends (400).

use http::{HeaderMap, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{info, warn};
use url::Url;

use super::{ACK_BUTTON, Commands, Job, RESOLVE_BUTTON, SILENCE_BUTTON, Work};
use crate::chat::commands::reply::{self, Visibility};
use crate::chat::commands::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::chat::commands::{
    BlockActions, Command, Platform, SlashCommand, authorize, verify_mattermost, verify_slack,
};
use crate::message::{self, Source};
use crate::reply::Reply;

/// The largest body a chat route reads (a command's form is at most a few KB; a
/// button press's payload carries the message it was on).
pub const MAX_CHAT_BODY: usize = 64 * 1024;

/// Which chat route a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRoute {
    SlackCommands,
    SlackActions,
    MattermostCommands,
}

impl ChatRoute {
    pub const ALL: [ChatRoute; 3] = [
        ChatRoute::SlackCommands,
        ChatRoute::SlackActions,
        ChatRoute::MattermostCommands,
    ];

    pub fn path(self) -> &'static str {
        match self {
            ChatRoute::SlackCommands => "/chat/slack/commands",
            ChatRoute::SlackActions => "/chat/slack/actions",
            ChatRoute::MattermostCommands => "/chat/mattermost/commands",
        }
    }

    fn platform(self) -> Platform {
        match self {
            ChatRoute::MattermostCommands => Platform::Mattermost,
            _ => Platform::Slack,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// 200 with a reply whoever typed the command alone sees.
fn ephemeral(platform: Platform, text: &str) -> Reply {
    Reply::json(
        StatusCode::OK,
        reply::reply(platform, Visibility::Ephemeral, text),
    )
}

fn answer(value: Value) -> Reply {
    Reply::json(StatusCode::OK, value)
}

/// Whether `url` is on the origin `platform`'s replies come from: Slack's
/// (`SLACK_RESPONSE_ORIGIN`), or the configured `MATTERMOST_URL`'s; never another
/// host a request names.
pub fn may_answer_at(config: &crate::config::Config, platform: Platform, url: &str) -> bool {
    let origin = match platform {
        Platform::Slack => Some(&config.chat.slack_response_origin),
        Platform::Mattermost => config.chat.mattermost_url.as_ref(),
    };
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    origin.is_some_and(|o| o.origin() == url.origin())
}

impl Commands {
    /// A request to a chat route, its headers and body read (within
    /// [`MAX_CHAT_BODY`]).
    pub async fn accept(&self, route: ChatRoute, headers: &HeaderMap, body: &[u8]) -> Reply {
        let platform = route.platform();
        if let Err(reply) = self.check_sender(route, headers, body) {
            return reply;
        }
        let job = match route {
            ChatRoute::SlackActions => self.read_button(body).await,
            _ => self.read_command(platform, body).await,
        };
        let job = match job {
            Ok(job) => job,
            Err(reply) => return reply,
        };
        match self.enqueue(route, headers, body, &job).await {
            Ok(()) => ephemeral(platform, &working(&job)),
            Err(reply) => reply,
        }
    }

    /// Slack's signature (within five minutes), before the body is read; Mattermost's
    /// token (in the form).
    fn check_sender(
        &self,
        route: ChatRoute,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Reply> {
        let refused = |why: String| {
            info!(route = route.path(), why, "chat request refused");
            Reply::error(StatusCode::UNAUTHORIZED, why)
        };
        match route.platform() {
            Platform::Slack => {
                let Some(secret) = &self.config.chat.slack_signing_secret else {
                    return Err(refused(
                        "Slack commands are off: SLACK_SIGNING_SECRET is not set".into(),
                    ));
                };
                let now = self.clock.now().timestamp();
                verify_slack(
                    secret,
                    header(headers, TIMESTAMP_HEADER),
                    header(headers, SIGNATURE_HEADER),
                    body,
                    now,
                )
                .map_err(|e| refused(format!("not a request from Slack: {e}")))
            }
            Platform::Mattermost => {
                let Some(token) = &self.config.chat.mattermost_command_token else {
                    return Err(refused(
                        "Mattermost commands are off: MATTERMOST_COMMAND_TOKEN is not set".into(),
                    ));
                };
                let presented = url::form_urlencoded::parse(body)
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned());
                verify_mattermost(token, presented.as_deref())
                    .map_err(|e| refused(format!("not a request from Mattermost: {e}")))
            }
        }
    }

    /// A slash command: answered here, or a job.
    async fn read_command(&self, platform: Platform, body: &[u8]) -> Result<Job, Reply> {
        let c = SlashCommand::parse(platform, body)
            .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, e.to_string()))?;
        let parsed = match platform {
            Platform::Slack => Command::parse_slack(&c.text),
            Platform::Mattermost => Command::parse(&c.text),
        };
        let command = match parsed {
            Ok(command) => command,
            Err(problem) => return Err(answer(reply::problem(platform, &problem))),
        };
        let gitlab_user = self.mapped_user(platform, &c.user_id).await;
        // A user nothing maps may still be known by their address, behind the queue.
        if let Err(refusal) = authorize(&command, gitlab_user.as_deref())
            && !self.may_look_up(platform)
        {
            return Err(ephemeral(platform, &refusal.to_string()));
        }
        match command {
            Command::Help => return Err(answer(reply::help(platform))),
            Command::Page { .. } if self.config.oncall.oncall_config.is_none() => {
                return Err(ephemeral(
                    platform,
                    "Paging from chat needs on call (ONCALL_CONFIG), which is not set up here; nobody was paged.",
                ));
            }
            _ => {}
        }
        let response_url = self.response_url(platform, c.response_url)?;
        Ok(Job {
            platform,
            user_id: c.user_id,
            user_name: c.user_name,
            channel_id: c.channel_id,
            gitlab_user,
            response_url: Some(response_url),
            work: Work::Command { text: c.text },
        })
    }

    /// A button press on an alert message: a job, or why not.
    async fn read_button(&self, body: &[u8]) -> Result<Job, Reply> {
        let platform = Platform::Slack;
        let press = BlockActions::parse(body)
            .map_err(|e| Reply::error(StatusCode::BAD_REQUEST, e.to_string()))?;
        let Some(action) = press
            .actions
            .iter()
            .find(|a| [ACK_BUTTON, SILENCE_BUTTON, RESOLVE_BUTTON].contains(&a.action_id.as_str()))
        else {
            return Err(ephemeral(platform, "That button is not one of openmic's."));
        };
        let alert = action.value.clone().unwrap_or_default();
        let gitlab_user = self.mapped_user(platform, &press.user_id).await;
        if gitlab_user.is_none() && !self.may_look_up(platform) {
            return Err(ephemeral(
                platform,
                &crate::chat::commands::Refusal::Unmapped.to_string(),
            ));
        }
        let response_url = self.response_url(platform, press.response_url)?;
        Ok(Job {
            platform,
            user_id: press.user_id,
            user_name: press.user_name,
            channel_id: press.channel_id.unwrap_or_default(),
            gitlab_user,
            response_url: Some(response_url),
            work: Work::Button {
                action: action.action_id.clone(),
                alert,
            },
        })
    }

    /// The request's `response_url`, if results may be posted there.
    fn response_url(&self, platform: Platform, url: Option<String>) -> Result<String, Reply> {
        match url {
            Some(u) if may_answer_at(&self.config, platform, &u) => Ok(u),
            _ if platform == Platform::Mattermost && self.config.chat.mattermost_url.is_none() => {
                Err(ephemeral(
                    platform,
                    "openmic cannot answer Mattermost commands here (MATTERMOST_URL is not set); nothing was done.",
                ))
            }
            _ => Err(ephemeral(
                platform,
                &format!(
                    "The request's response_url is not {}'s, so no result could be sent back; nothing was done.",
                    platform.title()
                ),
            )),
        }
    }

    /// Queues the job on the alerts queue, grouped by channel so one channel's
    /// commands are worked in order.
    async fn enqueue(
        &self,
        route: ChatRoute,
        headers: &HeaderMap,
        body: &[u8],
        job: &Job,
    ) -> Result<(), Reply> {
        let unavailable = |what: &str| {
            warn!(route = route.path(), what, "chat job not queued");
            ephemeral(
                job.platform,
                "openmic could not take the command just now; try again.",
            )
        };
        let Some(queue) = &self.queue else {
            return Err(unavailable("no queue"));
        };
        let received_at = crate::time::format(&self.clock.now());
        let mut hash = Sha256::new();
        hash.update(route.path());
        hash.update(header(headers, TIMESTAMP_HEADER).unwrap_or(received_at.as_str()));
        hash.update(body);
        let dedup = hex::encode(hash.finalize());
        let Ok(text) =
            message::compose_value(Source::Chat, Some(route.path()), &dedup, &received_at, job)
        else {
            return Err(unavailable("unserialisable"));
        };
        let group = format!("chat:{}:{}", job.platform.as_str(), job.channel_id);
        let out = message::outgoing(group, dedup, text, self.claims.as_deref())
            .await
            .map_err(|_| unavailable("claim"))?;
        queue.send(out).await.map_err(|e| {
            warn!(error = %e, "the queue refused a chat job");
            unavailable("queue")
        })
    }
}

/// The acknowledgement of a queued job.
fn working(job: &Job) -> String {
    match &job.work {
        Work::Command { text } => {
            let name = text.split_whitespace().next().unwrap_or("command");
            format!("Working on `{name}`; the result follows here.")
        }
        Work::Button { .. } => "Working on it; the result follows here.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap()
    }

    #[test]
    fn results_go_only_to_the_services_own_origin() {
        let c = config(&[]);
        let slack = "https://hooks.slack.com/commands/T1/2/abc";
        assert!(may_answer_at(&c, Platform::Slack, slack));
        for other in [
            "https://hooks.slack.com.evil.example/commands/T1",
            "http://hooks.slack.com/commands/T1",
            "https://evil.example/?https://hooks.slack.com/",
            "https://hooks.slack.com:8443/commands/T1",
            "not a url",
        ] {
            assert!(!may_answer_at(&c, Platform::Slack, other), "{other}");
        }
        assert!(
            !may_answer_at(&c, Platform::Mattermost, slack),
            "no MATTERMOST_URL: nowhere"
        );
        let c = config(&[("MATTERMOST_URL", "https://chat.example.com/")]);
        assert!(may_answer_at(
            &c,
            Platform::Mattermost,
            "https://chat.example.com/hooks/commands/x"
        ));
        assert!(!may_answer_at(&c, Platform::Mattermost, slack));
    }
}
