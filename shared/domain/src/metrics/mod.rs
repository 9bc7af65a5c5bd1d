//! Metrics in incidents: what an alert's notices and the page show beside the alert.
//!
//! - [`chart`]: the chart behind an alert (its expression's series from Prometheus,
//!   drawn as PNG and SVG with the firing span and the threshold), its text
//!   alternative and its data as CSV, and each reason there is none; a Grafana
//!   alert's own image in its place (`chart::grafana`); the PNG kept for chat and
//!   digests and served through a signed, expiring link (`chart::image`);
//! - [`logs`]: the "View logs" link of every alert mail, chat message and incident
//!   issue (`LOGS_URL_TEMPLATE`);
//! - [`components`]: components whose state on the page follows their firing alerts
//!   (`COMPONENT_STATUS_FROM_ALERTS`): the notifier keeps each component's firing
//!   alerts and hands the publisher, through its queue, the state they give; the
//!   publisher owns the page;
//! - [`upstream`]: other companies' components mirrored from their Statuspage
//!   `summary.json` (`UPSTREAM_COMPONENTS`), read by the notifier's tick and shown by
//!   the publisher as upstream.

pub mod chart;
pub mod components;
pub mod logs;
pub mod upstream;

/// What metrics in incidents read.
pub use crate::config::metrics::VARIABLES;
