//! Who acts: a chat user as the GitLab user `CHAT_USERS` names
//! (`slack:U0123=alice,mattermost:8xk…=alice`), and what a user may do.
//!
//! A chat user mapped to no GitLab user may read (`list`, `help`) and nothing else;
//! the reply says why, to them alone ([`authorize`]).

use std::collections::BTreeMap;

use super::Platform;
use super::grammar::Command;

/// Why `CHAT_USERS` cannot be read. Entries are counted from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatUsersError {
    #[error("entry {0} is not `platform:user id=gitlab username`")]
    NotAPair(usize),
    #[error("entry {0} names no platform: give slack: or mattermost: before the user id")]
    UnknownPlatform(usize),
    #[error("entry {0} has an empty user id")]
    EmptyUser(usize),
    #[error("entry {0}: the GitLab username may hold letters, digits, `_`, `.` and `-` only")]
    BadUsername(usize),
    #[error("entry {0} maps a chat user already mapped to another GitLab user")]
    Conflict(usize),
}

/// Chat users and the GitLab users they act as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatUsers(BTreeMap<(Platform, String), String>);

/// A GitLab username as GitLab allows it: ASCII letters, digits, `_`, `.`, `-`,
/// starting with a letter, digit or `_`.
fn gitlab_username(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl ChatUsers {
    /// Parses `CHAT_USERS`: comma-separated `slack:<id>=<username>` and
    /// `mattermost:<id>=<username>` (blanks around each part and a leading `@` on the
    /// username are ignored; an empty value maps nobody).
    pub fn parse(value: &str) -> Result<ChatUsers, ChatUsersError> {
        let mut map = BTreeMap::new();
        for (i, entry) in value.split(',').map(str::trim).enumerate() {
            let n = i + 1;
            if entry.is_empty() {
                continue;
            }
            let (who, gitlab) = entry.split_once('=').ok_or(ChatUsersError::NotAPair(n))?;
            let (platform, id) = who
                .split_once(':')
                .ok_or(ChatUsersError::UnknownPlatform(n))?;
            let platform =
                Platform::parse(platform.trim()).ok_or(ChatUsersError::UnknownPlatform(n))?;
            let id = id.trim();
            if id.is_empty() {
                return Err(ChatUsersError::EmptyUser(n));
            }
            let gitlab = gitlab.trim();
            let gitlab = gitlab.strip_prefix('@').unwrap_or(gitlab);
            if !gitlab_username(gitlab) {
                return Err(ChatUsersError::BadUsername(n));
            }
            match map.insert((platform, id.to_owned()), gitlab.to_owned()) {
                Some(before) if before != gitlab => return Err(ChatUsersError::Conflict(n)),
                _ => {}
            }
        }
        Ok(ChatUsers(map))
    }

    /// The GitLab username `user_id` of `platform` acts as.
    pub fn gitlab_user(&self, platform: Platform, user_id: &str) -> Option<&str> {
        self.0
            .get(&(platform, user_id.to_owned()))
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a chat user may not run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "you are not mapped to a GitLab user, so you may only use `list` and `help`: ask an \
         operator to add your chat user id to the on-call file or CHAT_USERS"
    )]
    Unmapped,
}

/// Whether the chat user acting as `gitlab_user` (none: mapped to nobody) may run
/// `command`. Reading is open to every verified chat user; anything else needs a
/// GitLab user, whose own rights (who may publish, resolve) are checked where the
/// action happens.
pub fn authorize(command: &Command, gitlab_user: Option<&str>) -> Result<(), Refusal> {
    if command.reads_only() || gitlab_user.is_some() {
        Ok(())
    } else {
        Err(Refusal::Unmapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_users_map_both_platforms() {
        let users =
            ChatUsers::parse(" slack:U0123=alice , mattermost:8xk9qz=@alice,slack:U9=bob.s-2,")
                .unwrap();
        assert_eq!(users.gitlab_user(Platform::Slack, "U0123"), Some("alice"));
        assert_eq!(
            users.gitlab_user(Platform::Mattermost, "8xk9qz"),
            Some("alice")
        );
        assert_eq!(users.gitlab_user(Platform::Slack, "U9"), Some("bob.s-2"));
        assert_eq!(
            users.gitlab_user(Platform::Mattermost, "U0123"),
            None,
            "ids are per platform"
        );
        assert_eq!(users.gitlab_user(Platform::Slack, "u0123"), None);
        assert!(ChatUsers::parse("").unwrap().is_empty());
        // The same mapping twice is one.
        assert!(ChatUsers::parse("slack:U1=a,slack:U1=a").is_ok());
    }

    #[test]
    fn chat_users_errors_name_the_entry() {
        for (value, e) in [
            ("slack:U1", ChatUsersError::NotAPair(1)),
            ("slack:U1=a,U2=b", ChatUsersError::UnknownPlatform(2)),
            ("teams:U1=a", ChatUsersError::UnknownPlatform(1)),
            ("slack:=a", ChatUsersError::EmptyUser(1)),
            ("slack:U1=", ChatUsersError::BadUsername(1)),
            ("slack:U1=a b", ChatUsersError::BadUsername(1)),
            ("slack:U1=-a", ChatUsersError::BadUsername(1)),
            ("slack:U1=ä", ChatUsersError::BadUsername(1)),
            ("slack:U1=a,slack:U1=b", ChatUsersError::Conflict(2)),
        ] {
            assert_eq!(ChatUsers::parse(value), Err(e), "{value}");
        }
    }

    #[test]
    fn an_unmapped_user_may_only_read() {
        assert_eq!(authorize(&Command::List, None), Ok(()));
        assert_eq!(authorize(&Command::Help, None), Ok(()));
        for c in [
            Command::Resolve { iid: 1 },
            Command::Ack { alert: "a".into() },
            Command::Declare {
                title: "t".into(),
                severity: None,
                components: vec![],
            },
            Command::Update {
                iid: 1,
                public: false,
                text: "x".into(),
            },
            Command::Page {
                target: "p".into(),
                text: "x".into(),
            },
            Command::Bridge {
                iid: 1,
                url: "https://a.example/".into(),
            },
        ] {
            assert_eq!(authorize(&c, None), Err(Refusal::Unmapped), "{c:?}");
            assert_eq!(authorize(&c, Some("alice")), Ok(()), "{c:?}");
        }
    }
}
