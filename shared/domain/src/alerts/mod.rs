//! Alerts: the intake shapes (Alertmanager's webhook, Grafana's two, GitLab's generic
//! alert, any body through `ALERT_FIELD_MAP`), one normalised [`Alert`], the alert
//! lifecycle, and its notices: routed to channels by label matchers (mail, chat,
//! webhooks), held in digests during storms, with links to acknowledge and silence.
//!
//! - [`parse`], [`fieldmap`]: what `POST /alerts` takes (intake's payloads);
//! - [`record`]: the record per fingerprint and its rules; [`lifecycle`]: the
//!   [`lifecycle::Notifier`] that keeps records and sends their notices ([`notify`]);
//! - where notices go is [`crate::routing`]'s (channels, matchers, recipients);
//!   [`muting`]: maintenances that hold alerts; [`storm`]: each channel's storms and health;
//! - [`message`], [`mail`]: what notices say; [`links`], [`actions`]: acknowledge and
//!   silence from a message; [`issues`]: GitLab incident issues;
//! - [`escalating`]: on-call escalation driven by the notifier (pages, notes);
//!   [`shifts`]: shift starts and gaps told.

pub mod actions;
pub mod escalating;
pub mod issues;
pub mod lifecycle;
pub mod links;
pub mod mail;
pub mod message;
pub mod muting;
mod notify;
pub mod record;
pub mod shifts;
pub mod sla;
pub mod storm;
pub mod telling;

/// The payloads are intake's (`openmic-intake`), at the same paths.
pub use openmic_intake::payload::{Alert, AlertSource, AlertStatus, Severity, fieldmap, parse};

use crate::config::Function::{Alerts, Notifier};
use crate::config::Variable;

/// What the alerts' lifecycle reads.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "RENOTIFY_AFTER",
        default: "`4h`",
        meaning: "repeats of a firing alert mail again after this (`90s`, `30m`, `4h`, `1d`)",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "CREATE_INCIDENTS",
        default: "`false`",
        meaning: "with API access: a new alert opens a GitLab incident issue",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "INCIDENT_TEMPLATE",
        default: "none",
        meaning: "the issue template those issues start from",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "AUTO_CLOSE_INCIDENTS",
        default: "`false`",
        meaning: "the resolution closes the alert's incident issue",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "ALERT_CHANNELS",
        default: "mail to the maintainers",
        meaning: "where alerts go: a JSON list of email, Slack, Teams, Mattermost, Discord, Google Chat, signed webhook, SMS, ntfy, Pushover and Telegram channels, each with label matchers (see [Alert routing](alerts.md#alert-routing))",
        secret: true,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "PUSHOVER_TOKEN",
        default: "none",
        meaning: "the Pushover application's token (30 letters and digits), for `pushover` channels and contact methods",
        secret: true,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "PUSHOVER_API_URL",
        default: "`https://api.pushover.net`",
        meaning: "where Pushover's API is (https; http only on loopback)",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "TELEGRAM_BOT_TOKEN",
        default: "none",
        meaning: "the Telegram bot's token (from @BotFather), for `telegram` channels and contact methods",
        secret: true,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "TELEGRAM_API_URL",
        default: "`https://api.telegram.org`",
        meaning: "where the Telegram Bot API is (a Bot API server of your own; https, http only on loopback)",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "ALERT_LINK_SECRET",
        default: "required by the notifier (generated locally)",
        meaning: "the key that signs the acknowledge and silence links (`openssl rand -hex 32`)",
        secret: true,
        read_by: &[Notifier],
        required_by: &[Notifier],
    },
    Variable {
        name: "ALERT_DIGEST_AFTER",
        default: "`10/5m`",
        meaning: "more alert notices than this for one channel (count/window) become one digest; `off` sends each",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "NOTIFY_ROLES",
        default: "none",
        meaning: "with API access: also mail the projects' `owners`, `maintainers` or `developers` (and higher), at the address GitLab shows",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "ALERT_FIELD_MAP",
        default: "none",
        meaning: "JSON of dotted paths mapping any body's fields onto the generic alert (`{\"title\": \"summary\"}`)",
        secret: false,
        read_by: &[Alerts],
        required_by: &[],
    },
];
