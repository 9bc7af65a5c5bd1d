//! Incidents run from chat: the pure part of `/incident` for Slack and Mattermost.
//!
//! - [`verify`]: a request is Slack's (its v0 signature, a five-minute window) or
//!   Mattermost's (its command token);
//! - [`request`]: the forms they send for a slash command, and Slack's button presses;
//! - [`grammar`]: the command set, parsed into a [`Command`] or a named [`Problem`];
//! - [`users`]: which GitLab user a chat user acts as (`CHAT_USERS`), and that a user
//!   mapped to nobody may only read;
//! - [`bridge`]: an incident's call link (`Bridge: <url>` in its description);
//! - [`reply`]: the replies, escaped for each service.
//!
//! No I/O here: the routes, the queue and GitLab's API use these rules.

pub mod bridge;
pub mod grammar;
pub mod reply;
pub mod request;
pub mod users;
pub mod verify;

/// `INCIDENT_SLA` is its own capability's ([`crate::sla`]).
pub use crate::sla::{SlaError, SlaTargets};
pub use grammar::{Command, Problem};
pub use reply::Visibility;
pub use request::{BlockActions, RequestError, SlashCommand};
pub use users::{ChatUsers, ChatUsersError, Refusal, authorize};
pub use verify::{
    MattermostTokenError, SlackVerifyError, sign_slack, verify_mattermost, verify_slack,
};

use super::Kind;

/// The buttons on openmic's Slack alert messages, by `action_id`; each button's
/// `value` is the alert record's id.
pub const ACK_BUTTON: &str = "openmic_ack";
pub const SILENCE_BUTTON: &str = "openmic_silence_1h";
pub const RESOLVE_BUTTON: &str = "openmic_resolve";

/// A chat service that sends commands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Slack,
    Mattermost,
}

impl Platform {
    /// By its name in configuration (`slack`, `mattermost`, any case).
    pub fn parse(name: &str) -> Option<Platform> {
        match Kind::parse(name)? {
            Kind::Slack => Some(Platform::Slack),
            Kind::Mattermost => Some(Platform::Mattermost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Kind::from(self).as_str()
    }

    /// Its name for people (`Slack`, `Mattermost`).
    pub fn title(self) -> &'static str {
        match self {
            Platform::Slack => "Slack",
            Platform::Mattermost => "Mattermost",
        }
    }
}

impl From<Platform> for Kind {
    fn from(p: Platform) -> Kind {
        match p {
            Platform::Slack => Kind::Slack,
            Platform::Mattermost => Kind::Mattermost,
        }
    }
}
