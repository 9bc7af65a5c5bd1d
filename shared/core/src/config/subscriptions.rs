//! The settings of subscriptions (docs/subscriptions.md): readers' mail, the
//! operators' channels, the signed links, and where the routes are served.

use super::setting::{Setting, boolean, http_url, number, secret};
use super::{ConfigError, Function as F, Rejected, Secret, Variable};

pub const SUBSCRIPTIONS: Setting<bool> = Setting {
    variable: Variable {
        name: "SUBSCRIPTIONS",
        default: "`off`",
        meaning: "`on`: readers subscribe to updates by mail (see [Subscriptions](subscriptions.md))",
        secret: false,
        read_by: &[F::Publisher, F::Subscriptions],
        required_by: &[],
    },
    parse: boolean,
};

/// As given (JSON; it holds webhook URLs, so it is a secret).
pub const UPDATE_CHANNELS: Setting<Secret> = Setting {
    variable: Variable {
        name: "UPDATE_CHANNELS",
        default: "none",
        meaning: "the operators' chat and webhook channels every public update goes to: a JSON list as `ALERT_CHANNELS`, without email (see [the operators' channels](subscriptions.md#the-operators-channels-update_channels))",
        secret: true,
        read_by: &[F::Subscriptions],
        required_by: &[],
    },
    parse: secret,
};

pub const SUBSCRIPTION_SECRET: Setting<Secret> = Setting {
    variable: Variable {
        name: "SUBSCRIPTION_SECRET",
        default: "required when `SUBSCRIPTIONS=on` (kept in the data directory locally)",
        meaning: "the key that signs the links in subscription mail, 32 characters or more",
        secret: true,
        read_by: &[F::Subscriptions],
        required_by: &[],
    },
    parse: subscription_secret,
};

pub const PUBLIC_API_URL: Setting<String> = Setting {
    variable: Variable {
        name: "PUBLIC_API_URL",
        default: "the HTTP API (locally the listen address)",
        meaning: "where the subscription routes and the alert links are served: the base of the links in mail and chat and of the subscribe form",
        secret: false,
        read_by: &[F::Publisher, F::Subscriptions, F::Notifier],
        required_by: &[],
    },
    parse: http_url,
};

pub const SUBSCRIBE_MAX_PER_HOUR: Setting<u32> = Setting {
    variable: Variable {
        name: "SUBSCRIBE_MAX_PER_HOUR",
        default: "`200`",
        meaning: "at most this many confirmation mails an hour, whoever asks; past it the subscribe form says to try later (see [Subscriptions](subscriptions.md))",
        secret: false,
        read_by: &[F::Subscriptions],
        required_by: &[],
    },
    parse: number,
};

/// What subscriptions read.
pub const VARIABLES: &[Variable] = &[
    SUBSCRIPTIONS.variable,
    UPDATE_CHANNELS.variable,
    SUBSCRIPTION_SECRET.variable,
    PUBLIC_API_URL.variable,
    SUBSCRIBE_MAX_PER_HOUR.variable,
];

/// The shortest `SUBSCRIPTION_SECRET` taken.
pub const MIN_SUBSCRIPTION_SECRET_LEN: usize = 32;

/// Subscriptions' settings.
#[derive(Debug, Clone)]
pub struct SubscriptionSettings {
    /// `SUBSCRIPTIONS=on`: readers subscribe to updates by mail.
    pub enabled: bool,
    /// `UPDATE_CHANNELS` as given (JSON; it holds webhook URLs, so it is a secret).
    pub update_channels: Option<Secret>,
    /// The HMAC key of the subscription links' tokens.
    pub subscription_secret: Option<Secret>,
    /// Where the subscription routes and the alert links are served: the base of the
    /// links in mail and chat and of the subscribe form (without a trailing `/`).
    pub public_api_url: Option<String>,
    /// Confirmation mails an hour, whoever asks.
    pub subscribe_max_per_hour: u32,
}

impl SubscriptionSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<SubscriptionSettings, ConfigError> {
        Ok(SubscriptionSettings {
            enabled: SUBSCRIPTIONS.value(&get)?,
            update_channels: UPDATE_CHANNELS.read(&get)?,
            subscription_secret: SUBSCRIPTION_SECRET.read(&get)?,
            public_api_url: PUBLIC_API_URL.read(&get)?,
            subscribe_max_per_hour: SUBSCRIBE_MAX_PER_HOUR.value(&get)?,
        })
    }
}

fn subscription_secret(v: &str) -> Result<Secret, Rejected> {
    if v.len() < MIN_SUBSCRIPTION_SECRET_LEN {
        return Err(Rejected(format!(
            "is shorter than {MIN_SUBSCRIPTION_SECRET_LEN} characters; use e.g. `openssl rand -hex 32`"
        )));
    }
    secret(v)
}
