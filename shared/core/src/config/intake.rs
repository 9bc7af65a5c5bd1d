//! The settings of intake (`POST /gitlab`, `POST /alerts`): who may deliver, which
//! projects are taken, how large a body may be.

use super::setting::{Setting, accepted, number, secret, split_list};
use super::{Accepted, ConfigError, Function as F, Rejected, Secret, Variable};

pub const GITLAB_WEBHOOK_SECRET: Setting<Accepted> = Setting {
    variable: Variable {
        name: "GITLAB_WEBHOOK_SECRET",
        default: "required (generated locally)",
        meaning: "the webhook's secret token (`X-Gitlab-Token`); during a rotation `new,previous`, both taken (see [Rotating a secret](operations.md#rotating-a-secret)); optional with `GITLAB_SIGNING_TOKEN`",
        secret: true,
        read_by: &[F::Webhook],
        required_by: &[F::Webhook],
    },
    parse: accepted,
};

pub const GITLAB_SIGNING_TOKEN: Setting<Secret> = Setting {
    variable: Variable {
        name: "GITLAB_SIGNING_TOKEN",
        default: "none",
        meaning: "`whsec_…`: require signed deliveries (recommended, see below)",
        secret: true,
        read_by: &[F::Webhook],
        required_by: &[],
    },
    parse: signing_token,
};

pub const GITLAB_PROJECT_ID: Setting<Vec<u64>> = Setting {
    variable: Variable {
        name: "GITLAB_PROJECT_ID",
        default: "required on Lambda",
        meaning: "the numeric id of the project whose events are taken, or several comma-separated (403 otherwise); see [Several projects](#several-projects)",
        secret: false,
        read_by: &[F::Webhook, F::Publisher, F::Notifier],
        required_by: &[F::Webhook, F::Publisher],
    },
    parse: project_ids,
};

pub const ALERT_TOKEN: Setting<Accepted> = Setting {
    variable: Variable {
        name: "ALERT_TOKEN",
        default: "required (generated locally)",
        meaning: "the token of `POST /alerts` (`Authorization: Bearer <token>`, or Basic with it as the password); during a rotation `new,previous`, both taken (see [Rotating a secret](operations.md#rotating-a-secret))",
        secret: true,
        read_by: &[F::Alerts],
        required_by: &[F::Alerts],
    },
    parse: accepted,
};

pub const MAX_BODY_BYTES: Setting<usize> = Setting {
    variable: Variable {
        name: "MAX_BODY_BYTES",
        default: "`6291456`",
        meaning: "a number of bytes: larger bodies get 413",
        secret: false,
        read_by: &[F::Webhook, F::Alerts],
        required_by: &[],
    },
    parse: number,
};

/// What intake reads.
pub const VARIABLES: &[Variable] = &[
    GITLAB_WEBHOOK_SECRET.variable,
    GITLAB_SIGNING_TOKEN.variable,
    GITLAB_PROJECT_ID.variable,
    ALERT_TOKEN.variable,
    MAX_BODY_BYTES.variable,
];

/// Intake's settings.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    /// `current[,previous]`.
    pub gitlab_webhook_secret: Option<Accepted>,
    pub gitlab_signing_token: Option<Secret>,
    /// One project, or several sharing one page; empty (local runner only) takes the
    /// first project seen.
    pub gitlab_projects: Vec<u64>,
    /// `current[,previous]`.
    pub alert_token: Option<Accepted>,
    pub max_body_bytes: usize,
}

impl IntakeSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<IntakeSettings, ConfigError> {
        Ok(IntakeSettings {
            gitlab_webhook_secret: GITLAB_WEBHOOK_SECRET.read(&get)?,
            gitlab_signing_token: GITLAB_SIGNING_TOKEN.read(&get)?,
            gitlab_projects: GITLAB_PROJECT_ID.or_empty(&get)?,
            alert_token: ALERT_TOKEN.read(&get)?,
            max_body_bytes: MAX_BODY_BYTES.value(&get)?,
        })
    }
}

/// A signing token GitLab's signatures can be checked with (`whsec_…`).
fn signing_token(v: &str) -> Result<Secret, Rejected> {
    crate::signing::SigningKey::from_secret(v).map_err(|e| Rejected(e.to_string()))?;
    secret(v)
}

/// Project ids, each once, in the order given.
fn project_ids(v: &str) -> Result<Vec<u64>, Rejected> {
    let mut ids = Vec::new();
    for id in split_list(v) {
        let id = number(id)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
