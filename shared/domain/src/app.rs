//! The one composition of every capability: what a process that runs them all (the
//! local runner, the tests) is made of. A Lambda function composes only its own
//! capabilities, through the same `compose` of each (`Intake::compose`,
//! `Publisher::compose`, `Notifier::compose`, `Actions::compose`,
//! `Subscriptions::compose`), so that this is where they are put together, and the
//! only place.

use std::sync::Arc;

use crate::alerts::actions::Actions;
use crate::alerts::lifecycle::Notifier;
use crate::chatops::Commands;
use crate::compose::Backends;
use crate::config::{Config, ConfigError};
use crate::intake::Intake;
use crate::publishing::Publisher;
use crate::subscriptions::Subscriptions;

/// Every capability, composed from one set of backends.
pub struct App {
    pub config: Arc<Config>,
    /// `POST /gitlab` and `POST /alerts`.
    pub intake: Arc<Intake>,
    /// The publish queue's consumer, the resync and the maintenances' tick.
    pub publisher: Publisher,
    /// The alerts queue's consumer, and the tick of held alerts and digests.
    pub notifier: Notifier,
    /// The alert links (`/alerts/ack`, `/alerts/silence`).
    pub actions: Arc<Actions>,
    /// The subscription routes and the updates queue's consumer.
    pub subscriptions: Arc<Subscriptions>,
    /// The chat routes (`/chat/…`) and their jobs behind the alerts queue.
    pub commands: Arc<Commands>,
}

impl App {
    /// Composes every capability from `backends`; fails naming the first setting or
    /// backend one of them lacks.
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<App, ConfigError> {
        Ok(App {
            intake: Arc::new(Intake::compose(config.clone(), backends)?),
            publisher: Publisher::compose(config.clone(), backends)?,
            notifier: Notifier::compose(config.clone(), backends)?,
            actions: Arc::new(Actions::compose(config.clone(), backends)?),
            subscriptions: Arc::new(Subscriptions::compose(config.clone(), backends)?),
            commands: Arc::new(Commands::compose(config.clone(), backends)?),
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryMailer, MemoryQueue, MemoryStore};

    fn everything() -> Backends {
        Backends {
            status: Some(Arc::new(MemoryStore::default())),
            state: Some(Arc::new(MemoryStore::default())),
            publish: Some(Arc::new(MemoryQueue::default())),
            alerts: Some(Arc::new(MemoryQueue::default())),
            mailer: Some(Arc::new(MemoryMailer::default())),
            subscription_mailer: Some(Arc::new(MemoryMailer::default())),
            ..Backends::default()
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Arc<Config> {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Arc::new(Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap())
    }

    #[test]
    fn every_capability_is_composed_from_one_set_of_backends() {
        let config = config(&[
            ("GITLAB_WEBHOOK_SECRET", "hook-secret"),
            ("ALERT_TOKEN", "alert-token"),
            ("MAIL_FROM", "openmic@example.com"),
            ("MAINTAINER_EMAILS", "ops@example.com"),
        ]);
        let app = App::compose(config, &everything()).unwrap();
        // Both intake routes are there, as the backends have both queues.
        assert!(app.intake.publish_queue.is_some() && app.intake.alert_queue.is_some());
        assert!(!app.subscriptions.enabled());
    }

    #[test]
    fn a_missing_backend_or_setting_is_named() {
        let config = config(&[
            ("GITLAB_WEBHOOK_SECRET", "hook-secret"),
            ("ALERT_TOKEN", "alert-token"),
            ("MAIL_FROM", "openmic@example.com"),
            ("MAINTAINER_EMAILS", "ops@example.com"),
        ]);
        let no_status = Backends {
            status: None,
            ..everything()
        };
        let e = App::compose(config.clone(), &no_status).err().unwrap();
        assert_eq!(e, ConfigError::Missing("STATUS_BUCKET"));
        let no_mailer = Backends {
            mailer: None,
            ..everything()
        };
        let e = App::compose(config, &no_mailer).err().unwrap();
        assert_eq!(e, ConfigError::Missing("MAIL_FROM"));
        // A route without its secret is refused, not left open.
        let e = App::compose(self::config(&[]), &everything())
            .err()
            .unwrap();
        assert_eq!(e, ConfigError::Missing("GITLAB_WEBHOOK_SECRET"));
    }

    #[test]
    fn update_channels_without_outbound_http_are_refused_not_dropped() {
        let config = config(&[
            ("GITLAB_WEBHOOK_SECRET", "hook-secret"),
            ("ALERT_TOKEN", "alert-token"),
            ("MAIL_FROM", "openmic@example.com"),
            ("MAINTAINER_EMAILS", "ops@example.com"),
            (
                "UPDATE_CHANNELS",
                r#"[{"name":"ops","type":"slack","url":"https://hooks.slack.com/services/T/B/X"}]"#,
            ),
        ]);
        let e = App::compose(config, &everything()).err().unwrap();
        assert!(e.to_string().contains("UPDATE_CHANNELS"), "{e}");
    }
}
