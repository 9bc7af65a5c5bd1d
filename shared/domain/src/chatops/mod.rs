//! Incidents run from chat: `/incident` from Slack and Mattermost, and the buttons on
//! openmic's Slack alert messages. The pure rules are [`crate::chat::commands`]'s;
//! this is the capability that uses them:
//!
//! - [`accept`]: a route's request verified (Slack's v0 signature within five
//!   minutes, Mattermost's token), read, and either answered at once (help, a command
//!   that cannot be read, a user who may not act) or queued as a [`Job`] behind the
//!   alerts queue, with an acknowledgement only whoever typed it sees;
//! - [`work`]: a job done against GitLab and the alert records, every action noted on
//!   the issue naming who did it from where, and the result posted to the request's
//!   `response_url`, only on the origin its service's replies come from.

pub mod accept;
mod identity;
mod page;
mod publish;
pub mod work;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alerts::escalating::Pager;
use crate::chat::commands::{ChatUsers, Platform};
use crate::chat::{Retries, Senders};
use crate::clock::Clock;
use crate::compose::Backends;
use crate::config::{Config, ConfigError};
use crate::errors::Chain;
use crate::gitlab::GitlabAccess;
use crate::message::Source;
use crate::ports::{ClaimStore, ClaimsIn, ObjectStore, Outbound, Queue};

/// What incidents run from chat read.
pub use crate::config::chat::VARIABLES;

/// One piece of work from chat, as it goes on the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub platform: Platform,
    pub user_id: String,
    pub user_name: String,
    pub channel_id: String,
    /// The GitLab user the chat user acts as, when the request came.
    pub gitlab_user: Option<String>,
    /// Where the result goes (checked again before anything is posted).
    pub response_url: Option<String>,
    pub work: Work,
}

/// What the job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// A slash command's text, as the service sent it.
    Command { text: String },
    /// A button pressed on an alert message: its action and the alert record's id.
    Button { action: String, alert: String },
}

/// Whether a queue message is a chat job (the alerts queue carries alerts and them).
pub fn is_chat_job(body: &str) -> bool {
    #[derive(Deserialize)]
    struct Head {
        source: Source,
    }
    serde_json::from_str::<Head>(body).is_ok_and(|h| h.source == Source::Chat)
}

pub use crate::chat::commands::{ACK_BUTTON, RESOLVE_BUTTON, SILENCE_BUTTON};

/// Incidents run from chat: the routes' side and the queue's.
pub struct Commands {
    pub config: Arc<Config>,
    /// `CHAT_USERS` (the on-call file's `slack:` and `mattermost:` come first).
    users: ChatUsers,
    /// Where jobs are queued (the alerts queue).
    queue: Option<Arc<dyn Queue>>,
    claims: Option<Arc<dyn ClaimStore>>,
    state: Arc<dyn ObjectStore>,
    /// Where a note published from chat is queued for the status page.
    publish: Option<Arc<dyn Queue>>,
    gitlab: Option<GitlabAccess>,
    outbound: Option<Arc<dyn Outbound>>,
    /// What `page` pages with (escalation's own), where this process can send mail.
    pager: Option<Pager>,
    pub clock: Arc<dyn Clock>,
}

impl Commands {
    /// Incidents run from chat, composed from a process's backends: the alerts queue
    /// for jobs, the state bucket for alert records, GitLab's API, outbound HTTPS for
    /// the results, and the publish queue where notes are published from chat.
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<Commands, ConfigError> {
        let users = ChatUsers::parse(config.chat.chat_users.as_deref().unwrap_or_default())
            .map_err(|e| crate::config::chat::CHAT_USERS.invalid(Chain(&e).to_string()))?;
        let state = backends.state()?;
        let pager = backends.mailer.clone().map(|mailer| Pager {
            config: config.clone(),
            mailer,
            senders: Senders {
                outbound: backends.outbound.clone(),
                sms: backends.sms.clone(),
                retries: Retries::STANDARD,
            },
        });
        Ok(Commands {
            pager,
            users,
            queue: backends.alerts.clone(),
            claims: Some(Arc::new(ClaimsIn(state.clone()))),
            state,
            publish: backends.publish.clone(),
            gitlab: backends.gitlab.clone(),
            outbound: backends.outbound.clone(),
            clock: backends.clock.clone(),
            config,
        })
    }

    /// The same with another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Commands {
        self.clock = clock;
        self
    }

    /// Whether any chat service may send commands (a secret or token is set).
    pub fn enabled(&self) -> bool {
        self.config.chat.slack_signing_secret.is_some()
            || self.config.chat.mattermost_command_token.is_some()
    }
}
