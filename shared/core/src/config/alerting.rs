//! The settings of alerts (docs/alerts.md): repeats, incident issues, where alerts go
//! (`ALERT_CHANNELS`), the pagers' services, the signed links in their messages,
//! storms (`ALERT_DIGEST_AFTER`), recipients from GitLab (`NOTIFY_ROLES`), and
//! generic bodies mapped at intake (`ALERT_FIELD_MAP`). The JSON settings are kept as
//! given here and read by the alerts capability, which names the variable in any
//! error.

use std::time::Duration;

use super::setting::{Setting, boolean, duration, secret, text};
use super::{ConfigError, Function as F, Rejected, Secret, Variable, parse_duration};

/// Where the on-call file is: on call's setting (`ONCALL_CONFIG`), which alerts receive.
pub use super::oncall::OnCallSource;

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
    /// `ALERT_DIGEST_AFTER`'s declared default.
    fn default() -> Self {
        let declared = ALERT_DIGEST_AFTER.value(&|_: &str| None);
        declared
            .ok()
            .flatten()
            .expect("the declared default is a count and a window (tested)")
    }
}

pub const RENOTIFY_AFTER: Setting<Duration> = Setting {
    variable: Variable {
        name: "RENOTIFY_AFTER",
        default: "`4h`",
        meaning: "repeats of a firing alert mail again after this (`90s`, `30m`, `4h`, `1d`)",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: duration,
};

pub const CREATE_INCIDENTS: Setting<bool> = Setting {
    variable: Variable {
        name: "CREATE_INCIDENTS",
        default: "`false`",
        meaning: "with API access: a new alert opens a GitLab incident issue",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: boolean,
};

pub const INCIDENT_TEMPLATE: Setting<String> = Setting {
    variable: Variable {
        name: "INCIDENT_TEMPLATE",
        default: "none",
        meaning: "the issue template those issues start from",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: text,
};

pub const AUTO_CLOSE_INCIDENTS: Setting<bool> = Setting {
    variable: Variable {
        name: "AUTO_CLOSE_INCIDENTS",
        default: "`false`",
        meaning: "the resolution closes the alert's incident issue",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: boolean,
};

/// As given (JSON; it holds webhook URLs, so it is a secret).
pub const ALERT_CHANNELS: Setting<Secret> = Setting {
    variable: Variable {
        name: "ALERT_CHANNELS",
        default: "mail to the maintainers",
        meaning: "where alerts go: a JSON list of email, Slack, Teams, Mattermost, Discord, Google Chat, signed webhook, SMS, ntfy, Pushover and Telegram channels, each with label matchers (see [Alert routing](alerts.md#alert-routing))",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

/// Its shape is checked by the pagers' settings (`openmic::chat::Services`).
pub const PUSHOVER_TOKEN: Setting<Secret> = Setting {
    variable: Variable {
        name: "PUSHOVER_TOKEN",
        default: "none",
        meaning: "the Pushover application's token (30 letters and digits), for `pushover` channels and contact methods",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

pub const PUSHOVER_API_URL: Setting<String> = Setting {
    variable: Variable {
        name: "PUSHOVER_API_URL",
        default: "`https://api.pushover.net`",
        meaning: "where Pushover's API is (https; http only on loopback)",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: text,
};

pub const TELEGRAM_BOT_TOKEN: Setting<Secret> = Setting {
    variable: Variable {
        name: "TELEGRAM_BOT_TOKEN",
        default: "none",
        meaning: "the Telegram bot's token (from @BotFather), for `telegram` channels and contact methods",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

pub const TELEGRAM_API_URL: Setting<String> = Setting {
    variable: Variable {
        name: "TELEGRAM_API_URL",
        default: "`https://api.telegram.org`",
        meaning: "where the Telegram Bot API is (a Bot API server of your own; https, http only on loopback)",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: text,
};

pub const ALERT_LINK_SECRET: Setting<Secret> = Setting {
    variable: Variable {
        name: "ALERT_LINK_SECRET",
        default: "required by the notifier (generated locally)",
        meaning: "the key that signs the acknowledge and silence links (`openssl rand -hex 32`)",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[F::Notifier],
    },
    parse: link_secret,
};

/// `None`: digests are off (`off`).
pub const ALERT_DIGEST_AFTER: Setting<Option<DigestAfter>> = Setting {
    variable: Variable {
        name: "ALERT_DIGEST_AFTER",
        default: "`10/5m`",
        meaning: "more alert notices than this for one channel (count/window) become one digest; `off` sends each",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: digest_after,
};

pub const NOTIFY_ROLES: Setting<NotifyRoles> = Setting {
    variable: Variable {
        name: "NOTIFY_ROLES",
        default: "none",
        meaning: "with API access: also mail the projects' `owners`, `maintainers` or `developers` (and higher), at the address GitLab shows",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: notify_roles,
};

/// As given (JSON of dotted paths), read by intake's field map.
pub const ALERT_FIELD_MAP: Setting<String> = Setting {
    variable: Variable {
        name: "ALERT_FIELD_MAP",
        default: "none",
        meaning: "JSON of dotted paths mapping any body's fields onto the generic alert (`{\"title\": \"summary\"}`)",
        secret: false,
        read_by: &[F::Alerts],
        required_by: &[],
    },
    parse: text,
};

/// What alerts read.
pub const VARIABLES: &[Variable] = &[
    RENOTIFY_AFTER.variable,
    CREATE_INCIDENTS.variable,
    INCIDENT_TEMPLATE.variable,
    AUTO_CLOSE_INCIDENTS.variable,
    ALERT_CHANNELS.variable,
    PUSHOVER_TOKEN.variable,
    PUSHOVER_API_URL.variable,
    TELEGRAM_BOT_TOKEN.variable,
    TELEGRAM_API_URL.variable,
    ALERT_LINK_SECRET.variable,
    ALERT_DIGEST_AFTER.variable,
    NOTIFY_ROLES.variable,
    ALERT_FIELD_MAP.variable,
];

/// The alerts' settings.
#[derive(Debug, Clone)]
pub struct AlertRouting {
    /// A firing alert is mailed again after this.
    pub renotify_after: Duration,
    /// A new alert opens a GitLab incident issue (with API access).
    pub create_incidents: bool,
    /// The issue template those issues start from.
    pub incident_template: Option<String>,
    /// The resolution closes the alert's incident issue.
    pub auto_close_incidents: bool,
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
    /// `PUSHOVER_API_URL`: Pushover's API (its own unless a proxy's, a test's).
    pub pushover_api_url: String,
    /// `TELEGRAM_API_URL`: the Telegram Bot API (its own unless a server of your
    /// own, or a test's).
    pub telegram_api_url: String,
}

/// The least length of `ALERT_LINK_SECRET`.
pub const MIN_LINK_SECRET_LEN: usize = 16;

impl AlertRouting {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<AlertRouting, ConfigError> {
        Ok(AlertRouting {
            renotify_after: RENOTIFY_AFTER.value(&get)?,
            create_incidents: CREATE_INCIDENTS.value(&get)?,
            incident_template: INCIDENT_TEMPLATE.read(&get)?,
            auto_close_incidents: AUTO_CLOSE_INCIDENTS.value(&get)?,
            channels: ALERT_CHANNELS.read(&get)?,
            pushover_token: PUSHOVER_TOKEN.read(&get)?,
            pushover_api_url: PUSHOVER_API_URL.value(&get)?,
            telegram_bot_token: TELEGRAM_BOT_TOKEN.read(&get)?,
            telegram_api_url: TELEGRAM_API_URL.value(&get)?,
            link_secret: ALERT_LINK_SECRET.read(&get)?,
            digest_after: ALERT_DIGEST_AFTER.value(&get)?,
            notify_roles: NOTIFY_ROLES.read(&get)?,
            field_map: ALERT_FIELD_MAP.read(&get)?,
        })
    }
}

impl Default for AlertRouting {
    /// As nothing set: the declared defaults.
    fn default() -> Self {
        AlertRouting::read(|_| None).expect("the declared defaults are read (tested)")
    }
}

fn link_secret(v: &str) -> Result<Secret, Rejected> {
    if v.len() < MIN_LINK_SECRET_LEN {
        return Err(Rejected(format!(
            "must be at least {MIN_LINK_SECRET_LEN} characters (openssl rand -hex 32)"
        )));
    }
    secret(v)
}

fn notify_roles(v: &str) -> Result<NotifyRoles, Rejected> {
    match v.to_ascii_lowercase().trim_end_matches('s') {
        "owner" => Ok(NotifyRoles::Owners),
        "maintainer" => Ok(NotifyRoles::Maintainers),
        "developer" => Ok(NotifyRoles::Developers),
        _ => Err(Rejected(format!(
            "{v:?} is not one of owners, maintainers, developers"
        ))),
    }
}

/// `10/5m` (more than 10 in 5 minutes), or `off`.
fn digest_after(v: &str) -> Result<Option<DigestAfter>, Rejected> {
    let rejected = || {
        Rejected(format!(
            "{v:?} is not a count and a window such as 10/5m, or off"
        ))
    };
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (count, window) = v.split_once('/').ok_or_else(rejected)?;
    let count: usize = count.trim().parse().map_err(|_| rejected())?;
    let window = parse_duration(window).ok_or_else(rejected)?;
    if count == 0 || window.is_zero() {
        return Err(rejected());
    }
    Ok(Some(DigestAfter { count, window }))
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
        assert_eq!(
            r.digest_after,
            Some(DigestAfter {
                count: 10,
                window: Duration::from_secs(300)
            })
        );
        assert!(r.channels.is_none() && r.notify_roles.is_none());
        assert_eq!(r.renotify_after, Duration::from_secs(4 * 3600));
        assert_eq!(r.pushover_api_url, "https://api.pushover.net");
        assert_eq!(r.telegram_api_url, "https://api.telegram.org");
        assert!(!r.create_incidents && !r.auto_close_incidents);
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
