//! Metrics in incidents: what an alert's notices and the page show beside the alert.
//!
//! - [`logs`]: the "View logs" link of every alert mail, chat message and incident
//!   issue (`LOGS_URL_TEMPLATE`);
//! - [`components`]: components whose state on the page follows their firing alerts
//!   (`COMPONENT_STATUS_FROM_ALERTS`): the notifier keeps each component's firing
//!   alerts and hands the publisher, through its queue, the state they give; the
//!   publisher owns the page;
//! - [`upstream`]: other companies' components mirrored from their Statuspage
//!   `summary.json` (`UPSTREAM_COMPONENTS`), read by the notifier's tick and shown by
//!   the publisher as upstream.

pub mod components;
pub mod logs;
pub mod upstream;

use crate::config::Function::{Notifier, Publisher};
use crate::config::Variable;

/// What metrics in incidents read.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "LOGS_URL_TEMPLATE",
        default: "none",
        meaning: "the \"View logs\" link of every alert mail, chat message and incident issue: an http(s) URL with `{labels.<name>}`, `{starts_at}` and `{ends_at}` placeholders, each value URL-encoded (see [Metrics in incidents](alerts.md#metrics-in-incidents))",
        secret: false,
        read_by: &[Notifier],
        required_by: &[],
    },
    Variable {
        name: "COMPONENT_STATUS_FROM_ALERTS",
        default: "`false`",
        meaning: "a firing alert labelled `component` sets that component's state on the page (critical: major outage, high: partial outage, otherwise degraded) until it resolves; only the state is published",
        secret: false,
        read_by: &[Notifier, Publisher],
        required_by: &[],
    },
    Variable {
        name: "UPSTREAM_COMPONENTS",
        default: "none",
        meaning: "other companies' components shown as upstream on the page, never mailed: `name=https://…/api/v2/summary.json[#component]`, comma-separated (a Statuspage page's summary, read every 5 minutes; without `#component`, the page's overall status)",
        secret: false,
        read_by: &[Notifier, Publisher],
        required_by: &[],
    },
];
