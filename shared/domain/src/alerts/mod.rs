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
//!   [`declared`]: incidents declared from chat, escalated as alerts are;
//!   [`shifts`]: shift starts and gaps told.

pub mod actions;
mod components;
pub mod declared;
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
pub mod timeline;
mod upstream;

/// The payloads are intake's (`openmic-intake`), at the same paths.
pub use openmic_intake::payload::{Alert, AlertSource, AlertStatus, Severity, fieldmap, parse};

/// What the alerts' lifecycle reads.
pub use crate::config::alerting::VARIABLES;
