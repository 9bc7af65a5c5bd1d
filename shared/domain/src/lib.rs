//! openmic's domain, with no I/O: what becomes of a GitLab delivery or an alert, by
//! capability, each a module with its own types, rules and tests:
//!
//! - [`intake`]: a delivery to `POST /gitlab` or `POST /alerts` checked and queued (its
//!   own crate, `openmic-intake`, re-exported here);
//! - [`publishing`]: an incident's private state merged from GitLab's events, and the
//!   public status bucket brought in line with it;
//! - [`site`]: markdown made safe to publish, the public data in GitLab's format, and
//!   the pages, feed and badge derived from it;
//! - [`alerts`]: an alert's record, its notices (mail, chat, webhooks), digests in
//!   storms, acknowledge and silence links, its GitLab issue;
//! - [`routing`]: where a notice goes: channels, their label matchers, the
//!   maintainers;
//! - [`oncall`]: the on-call file, who is on call when, escalation's due pages and
//!   the iCalendar feed of a person's shifts;
//! - [`chat`]: messages in the bodies chat services' incoming webhooks take, and
//!   their delivery (any capability with news for operators may use it).
//! - [`subscriptions`]: readers subscribed by mail, and each public update sent to
//!   those who want it (and to the operators' channels).
//! - [`chatops`]: incidents run from chat (`/incident` from Slack and Mattermost,
//!   buttons on alert messages), against GitLab and the alert records.
//! - [`sla`]: `INCIDENT_SLA`'s targets, and the watch list of incidents that have one.
//! - [`metrics`]: metrics in incidents: the alerts' logs link, and components whose
//!   state follows their alerts.
//! - [`timeline`]: the one writer of GitLab incident timeline events, for
//!   `publishing` and `alerts`.
//!
//! Beside them, [`i18n`]: the language catalogues every capability's pages and mail
//! read their strings from, and [`templates`]: the template environment they share.
//!
//! Below them, the vocabulary of `openmic-core` (time, ids, configuration, errors,
//! messages) and its ports, re-exported here: the domain talks to buckets, queues,
//! mail and GitLab only through them. Features import downwards only, and no module at
//! any depth is in an import cycle (the test in `layers.rs`): `publishing` uses
//! `intake`'s hooks, the `site` and `subscriptions`' updates; `subscriptions` uses the
//! `site`'s data and `routing`; `alerts` uses `intake`'s payloads and `routing`.

#[cfg(any(test, feature = "memory"))]
pub use openmic_core::memory;
pub use openmic_core::{
    clock, compose, config, consumer, document, errors, gitlab, ids, mail, message, ports, reply,
    signing, time,
};
/// Intake is its own crate (`openmic-intake`, on `openmic-core` only), at the same path.
pub use openmic_intake as intake;

pub use app::App;

pub mod alerts;
pub mod app;
pub mod chat;
pub mod chatops;
pub mod i18n;
pub mod maintenance;
pub mod metrics;
pub mod oncall;
pub mod publishing;
pub mod routing;
pub mod site;
pub mod sla;
pub mod subscriptions;
pub mod templates;
pub mod timeline;

#[cfg(test)]
mod layers;

/// Every setting the domain's capabilities read (the adapters declare their own).
pub fn variables() -> impl Iterator<Item = &'static config::Variable> {
    [
        intake::VARIABLES,
        publishing::VARIABLES,
        site::VARIABLES,
        mail::VARIABLES,
        alerts::VARIABLES,
        oncall::VARIABLES,
        subscriptions::VARIABLES,
        maintenance::VARIABLES,
        chatops::VARIABLES,
        sla::VARIABLES,
        metrics::VARIABLES,
        config::audiences::VARIABLES,
    ]
    .into_iter()
    .flatten()
}
