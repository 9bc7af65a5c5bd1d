//! The settings of alert routing (docs/alerts.md, "Alert routing"), read with the rest of
//! the configuration: where alerts go (`ALERT_CHANNELS`), the signed links in their
//! messages (`PUBLIC_API_URL`, `ALERT_LINK_SECRET`), storms (`ALERT_DIGEST_AFTER`),
//! recipients from GitLab (`NOTIFY_ROLES`), generic bodies mapped at intake
//! (`ALERT_FIELD_MAP`), and the pagers' services (`PUSHOVER_TOKEN`,
//! `TELEGRAM_BOT_TOKEN`, `PUSHOVER_API_URL`, `TELEGRAM_API_URL`). The JSON settings are kept as given here and read by the
//! alerts capability, which names the variable in any error.

use std::time::Duration;

use super::{ConfigError, Secret, parse_duration};

/// GitLab's access levels that `NOTIFY_ROLES` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyRoles {
    /// Owners (50).
    Owners,
    /// Maintainers and owners (40 and up).
    Maintainers,
    /// Developers and up (30).
    Developers,
}

impl NotifyRoles {
    /// The least access level mailed.
    pub fn min_access(self) -> u32 {
        match self {
            NotifyRoles::Owners => 50,
            NotifyRoles::Maintainers => 40,
            NotifyRoles::Developers => 30,
        }
    }
}

/// `ALERT_DIGEST_AFTER`: more notices than `count` for one channel within `window`
/// become one digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestAfter {
    pub count: usize,
    pub window: Duration,
}

impl Default for DigestAfter {
    fn default() -> Self {
        DigestAfter {
            count: 10,
            window: Duration::from_secs(5 * 60),
        }
    }
}

/// The alert routing settings.
#[derive(Debug, Clone, Default)]
pub struct AlertRouting {
    /// `ALERT_CHANNELS` as given (JSON; it holds webhook URLs, so it is a secret).
    pub channels: Option<Secret>,
    /// `ALERT_LINK_SECRET`: the HMAC key of acknowledge and silence links.
    pub link_secret: Option<Secret>,
    /// `None`: digests are off (`ALERT_DIGEST_AFTER=off`).
    pub digest_after: Option<DigestAfter>,
    pub notify_roles: Option<NotifyRoles>,
    /// `ALERT_FIELD_MAP` as given (JSON of dotted paths).
    pub field_map: Option<String>,
    /// `PUSHOVER_TOKEN`: the Pushover application's token (checked by the pagers'
    /// settings, `openmic::chat::Services`).
    pub pushover_token: Option<Secret>,
    /// `TELEGRAM_BOT_TOKEN`: the Telegram bot's token.
    pub telegram_bot_token: Option<Secret>,
    /// `PUSHOVER_API_URL`: Pushover's API ([`PUSHOVER_API`] unless a proxy's, a test's).
    pub pushover_api_url: String,
    /// `TELEGRAM_API_URL`: the Telegram Bot API ([`TELEGRAM_API`] unless a server of
    /// your own, or a test's).
    pub telegram_api_url: String,
    /// `ONCALL_CONFIG`: where the on-call file is (docs/oncall.md).
    pub oncall_config: Option<OnCallSource>,
}

/// Where the on-call file is (`ONCALL_CONFIG`): a file in a GitLab repository,
/// `<project path or id>:<file path>@<ref>` (`ops/oncall:oncall.yaml@main`), or a
/// local path (`openmic-local` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnCallSource {
    Path(String),
    Gitlab {
        /// A project's path (`ops/oncall`) or id (`42`).
        project: String,
        file: String,
        reference: String,
    },
}

impl OnCallSource {
    /// The GitLab form when the value has it (a project, `:`, a file, `@`, a ref, none
    /// of them empty, not starting with `/` or `.`), else a path.
    pub fn parse(value: &str) -> OnCallSource {
        let value = value.trim();
        let gitlab = value.split_once(':').and_then(|(project, rest)| {
            let (file, reference) = rest.rsplit_once('@')?;
            let ok = !project.is_empty()
                && !project.starts_with(['/', '.'])
                && !project.contains('\\')
                && !file.trim_matches('/').is_empty()
                && !reference.is_empty()
                && !reference.contains(':');
            ok.then(|| OnCallSource::Gitlab {
                project: project.trim_matches('/').to_owned(),
                file: file.trim_matches('/').to_owned(),
                reference: reference.to_owned(),
            })
        });
        gitlab.unwrap_or_else(|| OnCallSource::Path(value.to_owned()))
    }

    /// How the file is named to the maintainers: `ops/oncall:oncall.yaml@main`, or
    /// the path.
    pub fn name(&self) -> String {
        match self {
            OnCallSource::Path(p) => p.clone(),
            OnCallSource::Gitlab {
                project,
                file,
                reference,
            } => format!("{project}:{file}@{reference}"),
        }
    }
}

/// Pushover's API, when `PUSHOVER_API_URL` is unset.
pub const PUSHOVER_API: &str = "https://api.pushover.net";
/// Telegram's Bot API, when `TELEGRAM_API_URL` is unset.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// The least length of `ALERT_LINK_SECRET`.
pub const MIN_LINK_SECRET_LEN: usize = 16;

impl AlertRouting {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<AlertRouting, ConfigError> {
        let invalid = |name: &'static str, why: String| ConfigError::Invalid { name, why };
        let mut r = AlertRouting {
            channels: get("ALERT_CHANNELS").map(Secret::new),
            field_map: get("ALERT_FIELD_MAP"),
            pushover_token: get("PUSHOVER_TOKEN").map(Secret::new),
            telegram_bot_token: get("TELEGRAM_BOT_TOKEN").map(Secret::new),
            pushover_api_url: get("PUSHOVER_API_URL").unwrap_or_else(|| PUSHOVER_API.into()),
            telegram_api_url: get("TELEGRAM_API_URL").unwrap_or_else(|| TELEGRAM_API.into()),
            digest_after: Some(DigestAfter::default()),
            oncall_config: get("ONCALL_CONFIG").map(|v| OnCallSource::parse(&v)),
            ..AlertRouting::default()
        };
        if let Some(s) = get("ALERT_LINK_SECRET") {
            if s.len() < MIN_LINK_SECRET_LEN {
                return Err(invalid(
                    "ALERT_LINK_SECRET",
                    format!(
                        "must be at least {MIN_LINK_SECRET_LEN} characters (openssl rand -hex 32)"
                    ),
                ));
            }
            r.link_secret = Some(Secret::new(s));
        }
        if let Some(v) = get("ALERT_DIGEST_AFTER") {
            r.digest_after = parse_digest_after(&v).ok_or_else(|| {
                invalid(
                    "ALERT_DIGEST_AFTER",
                    format!("{v:?} is not a count and a window such as 10/5m, or off"),
                )
            })?;
        }
        if let Some(v) = get("NOTIFY_ROLES") {
            r.notify_roles = Some(match v.to_ascii_lowercase().trim_end_matches('s') {
                "owner" => NotifyRoles::Owners,
                "maintainer" => NotifyRoles::Maintainers,
                "developer" => NotifyRoles::Developers,
                _ => {
                    return Err(invalid(
                        "NOTIFY_ROLES",
                        format!("{v:?} is not one of owners, maintainers, developers"),
                    ));
                }
            });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod oncall_source_tests {
    use super::OnCallSource;

    #[test]
    fn the_gitlab_form_or_a_path() {
        assert_eq!(
            OnCallSource::parse("ops/oncall:oncall.yaml@main"),
            OnCallSource::Gitlab {
                project: "ops/oncall".into(),
                file: "oncall.yaml".into(),
                reference: "main".into()
            }
        );
        assert_eq!(
            OnCallSource::parse("42:team/oncall.yaml@release/1").name(),
            "42:team/oncall.yaml@release/1"
        );
        for path in [
            "oncall.yaml",
            "/etc/openmic/oncall.yaml",
            "./a:b@c",
            "x:@main",
            "x:f@",
        ] {
            assert_eq!(
                OnCallSource::parse(path),
                OnCallSource::Path(path.into()),
                "{path}"
            );
        }
    }
}

/// `10/5m` (more than 10 in 5 minutes), or `off`.
fn parse_digest_after(v: &str) -> Option<Option<DigestAfter>> {
    if v.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    let (count, window) = v.split_once('/')?;
    let count: usize = count.trim().parse().ok()?;
    let window = parse_duration(window)?;
    (count > 0 && !window.is_zero()).then_some(Some(DigestAfter { count, window }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<AlertRouting, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        AlertRouting::read(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn defaults_and_forms() {
        let r = read(&[]).unwrap();
        assert_eq!(r.digest_after, Some(DigestAfter::default()));
        assert!(r.channels.is_none() && r.notify_roles.is_none());
        let r = read(&[
            ("ALERT_DIGEST_AFTER", "3/90s"),
            ("NOTIFY_ROLES", "Maintainers"),
            ("PUBLIC_API_URL", "https://api.example.com/"),
        ])
        .unwrap();
        assert_eq!(
            r.digest_after,
            Some(DigestAfter {
                count: 3,
                window: Duration::from_secs(90)
            })
        );
        assert_eq!(r.notify_roles.map(NotifyRoles::min_access), Some(40));
        assert_eq!(
            read(&[("ALERT_DIGEST_AFTER", "off")]).unwrap().digest_after,
            None
        );
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("ALERT_DIGEST_AFTER", "10 in 5m"),
            ("ALERT_DIGEST_AFTER", "0/5m"),
            ("NOTIFY_ROLES", "everyone"),
            ("ALERT_LINK_SECRET", "short"),
        ] {
            let e = read(&[(name, value)]).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
