//! Who "the maintainers" are: `MAINTAINER_EMAILS`, and with `NOTIFY_ROLES` the
//! members of the projects (`GITLAB_PROJECT_ID`) holding that role or a higher one,
//! at the address GitLab lets the token see: the member's `email` where GitLab shows
//! it (a group's owners see their enterprise users'), else the user's public address
//! (`public_email`, empty unless they chose one), else `email` on the user (shown to
//! administrators). Each address once, whatever its case; `MAINTAINER_EMAILS` first.
//!
//! Members are read at most every 10 minutes. When GitLab cannot say (down, or the
//! token refused), the last list read stands, and without one `MAINTAINER_EMAILS`
//! alone: an alert is never held back for want of recipients.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::alerting::NotifyRoles;
use crate::config::gitlab::{GITLAB_TOKEN, GITLAB_URL};
use crate::config::intake::GITLAB_PROJECT_ID;
use crate::config::{Config, ConfigError, is_address};
use crate::gitlab::{ApiError, Gitlab};

/// How long a read of the members stands.
pub const MEMBERS_TTL: Duration = Duration::from_secs(600);

/// Someone mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    /// Their GitLab username, when they came from the members API.
    pub username: Option<String>,
}

/// Resolves the maintainers.
pub struct Recipients {
    configured: Vec<String>,
    roles: Option<(NotifyRoles, Arc<dyn Gitlab>, Vec<u64>)>,
    cache: Mutex<Option<(Vec<Recipient>, Instant)>>,
}

impl Recipients {
    /// With `NOTIFY_ROLES`, GitLab's API and `GITLAB_PROJECT_ID` are required.
    pub fn new(
        config: &Config,
        gitlab: Option<Arc<dyn Gitlab>>,
    ) -> Result<Recipients, ConfigError> {
        let roles = match config.alert_routing.notify_roles {
            None => None,
            Some(r) => {
                config.require(&[
                    GITLAB_URL.name(),
                    GITLAB_TOKEN.name(),
                    GITLAB_PROJECT_ID.name(),
                ])?;
                let api = gitlab.ok_or_else(|| GITLAB_TOKEN.missing())?;
                Some((r, api, config.intake.gitlab_projects.clone()))
            }
        };
        Ok(Recipients {
            configured: config.mail.maintainer_emails.clone(),
            roles,
            cache: Mutex::new(None),
        })
    }

    /// `MAINTAINER_EMAILS` and the members of the role, each address once.
    pub async fn maintainers(&self) -> Vec<Recipient> {
        let mut out: Vec<Recipient> = self
            .configured
            .iter()
            .map(|a| Recipient {
                address: a.clone(),
                username: None,
            })
            .collect();
        if self.roles.is_some() {
            out.extend(self.members().await);
        }
        dedup(out)
    }

    async fn members(&self) -> Vec<Recipient> {
        let cached = self.cache.lock().ok().and_then(|c| c.clone());
        if let Some((list, at)) = &cached
            && at.elapsed() < MEMBERS_TTL
        {
            return list.clone();
        }
        match self.read_members().await {
            Ok(list) => {
                if let Ok(mut c) = self.cache.lock() {
                    *c = Some((list.clone(), Instant::now()));
                }
                list
            }
            Err(e) => {
                warn!(error = %e, "NOTIFY_ROLES: GitLab could not list the members; mailing the last list known, or MAINTAINER_EMAILS alone");
                cached.map(|(l, _)| l).unwrap_or_default()
            }
        }
    }

    async fn read_members(&self) -> Result<Vec<Recipient>, ApiError> {
        let Some((roles, api, projects)) = &self.roles else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut without = 0usize;
        for project in projects {
            for m in api.members(*project).await? {
                let active = m.state.as_deref().is_none_or(|s| s == "active");
                if m.access_level < roles.min_access() || !active || !seen.insert(m.id) {
                    continue;
                }
                let mut address = m.email.clone().filter(|e| is_address(e));
                if address.is_none()
                    && let Some(u) = api.user(m.id).await?
                    && !u.bot
                {
                    address = [u.public_email, u.email]
                        .into_iter()
                        .flatten()
                        .find(|e| is_address(e));
                }
                match address {
                    Some(address) => out.push(Recipient {
                        address,
                        username: Some(m.username.clone()),
                    }),
                    None => without += 1,
                }
            }
        }
        if without > 0 {
            info!(
                members = without,
                "NOTIFY_ROLES: members whose address GitLab does not show this token are not mailed (they can set a public email in their profile)"
            );
        }
        Ok(out)
    }
}

/// Each address once (case aside), the first kept.
fn dedup(list: Vec<Recipient>) -> Vec<Recipient> {
    let mut seen = HashSet::new();
    list.into_iter()
        .filter(|r| seen.insert(r.address.to_ascii_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_once_whatever_their_case() {
        let r = |a: &str| Recipient {
            address: a.into(),
            username: None,
        };
        let list = dedup(vec![
            r("Ops@Example.com"),
            r("lead@example.com"),
            r("ops@example.com"),
        ]);
        assert_eq!(
            list.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(),
            vec!["Ops@Example.com", "lead@example.com"]
        );
    }
}
