//! The publisher's part of components that follow their alerts
//! ([`crate::metrics::components`]) and of upstream components
//! ([`crate::metrics::upstream`]): the notifier's message of their states is kept in
//! the index, the newest version only, and the site is written again from it. The
//! states reach the public bucket only as the page shows them: a state for each
//! component the page has (each upstream one `UPSTREAM_COMPONENTS` still names),
//! nothing of the alerts.

use tracing::info;

use super::{Apply, Outcome, Publisher};
use crate::errors::ProcessError;
use crate::message::{Envelope, Source};
use crate::metrics::components::{EVENT, States};
use crate::metrics::upstream::{self, Upstream};

/// Whether a message is the notifier's component states.
pub(super) fn is_states(envelope: &Envelope) -> bool {
    envelope.source == Source::Alert && envelope.event.as_deref() == Some(EVENT)
}

/// Whether a message is the notifier's upstream components.
pub(super) fn is_upstream(envelope: &Envelope) -> bool {
    envelope.source == Source::Alert && envelope.event.as_deref() == Some(upstream::EVENT)
}

/// Writes the site again; subscribers hear of component states only through
/// [`crate::subscriptions::component_updates`] (`COMPONENT_ALERTS_NOTIFY`).
const SITE_ONLY: Apply = Apply {
    announce: false,
    site: true,
};

impl Publisher {
    /// Takes the components' states from their alerts, unless the index has a newer
    /// version; the site follows. Off without `COMPONENT_STATUS_FROM_ALERTS`.
    pub(super) async fn component_states(
        &self,
        envelope: &Envelope,
    ) -> Result<Outcome, ProcessError> {
        if !self.config.metrics.component_status_from_alerts {
            return Ok(Outcome::Ignored(
                "component states from alerts, but COMPONENT_STATUS_FROM_ALERTS is off".into(),
            ));
        }
        let states: States = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("component states: {e}")))?;
        self.check_layout().await?;
        let (index, _) = self.read_index().await?;
        let taken = states.newer_than(index.alert_states.as_ref());
        if taken
            && self.config.metrics.component_alerts_notify
            && self.audience.is_none()
            && let Some(queue) = &self.updates
        {
            // Queued before the page changes, so a retry finds them again (the same
            // change has the same id, and is mailed once).
            let now = self.clock.now();
            let shown = |index: &crate::site::data::PublishedIndex| {
                crate::site::summary::status(index, &self.page, now)
                    .components
                    .into_iter()
                    .map(|l| (l.name, l.state))
                    .collect::<Vec<_>>()
            };
            let before = shown(&index);
            let mut next = index.clone();
            next.alert_states = Some(states.clone());
            let updates = crate::subscriptions::component_updates(
                &before,
                &shown(&next),
                states.version,
                states.at,
            );
            if !updates.is_empty() {
                let claims = crate::ports::ClaimsIn(self.state.clone());
                crate::subscriptions::announce(queue.as_ref(), Some(&claims), &updates).await?;
                for u in &updates {
                    info!(update = %u.id, "component state queued for subscribers");
                }
            }
        }
        if taken {
            let change = |index: &mut crate::site::data::PublishedIndex| {
                if states.newer_than(index.alert_states.as_ref()) {
                    index.alert_states = Some(states.clone());
                }
            };
            self.update_index(SITE_ONLY, change).await?;
            // Every audience's page shows its components' states too.
            for a in &self.audiences {
                self.audience_view(a)
                    .update_index(SITE_ONLY, change)
                    .await?;
            }
        }
        info!(
            version = states.version,
            taken, "component states from alerts"
        );
        Ok(Outcome::Components {
            version: states.version,
            taken,
        })
    }

    /// Takes the upstream components' states, unless the index has a newer version;
    /// the site follows.
    pub(super) async fn upstream_states(
        &self,
        envelope: &Envelope,
    ) -> Result<Outcome, ProcessError> {
        let read: Upstream = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("upstream components: {e}")))?;
        self.check_layout().await?;
        let (index, _) = self.read_index().await?;
        let taken = read.newer_than(index.upstream.as_ref());
        if taken {
            let change = |index: &mut crate::site::data::PublishedIndex| {
                if read.newer_than(index.upstream.as_ref()) {
                    index.upstream = Some(read.clone());
                }
            };
            self.update_index(SITE_ONLY, change).await?;
            for a in &self.audiences {
                self.audience_view(a)
                    .update_index(SITE_ONLY, change)
                    .await?;
            }
        }
        info!(version = read.version, taken, "upstream components");
        Ok(Outcome::Upstream {
            version: read.version,
            taken,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::memory::MemoryStore;
    use crate::metrics::components::Impact;
    use crate::ports::ObjectStore;
    use crate::site::data::{INDEX_KEY, PublishedIndex};

    fn publisher(on: bool, status: Arc<MemoryStore>) -> Publisher {
        let config = Config::from_lookup(|k| match k {
            "COMPONENT_STATUS_FROM_ALERTS" => Some(on.to_string()),
            "COMPONENTS" => Some("API".into()),
            "PUBLISHERS" => Some("alice".into()),
            _ => None,
        })
        .unwrap();
        Publisher::new(
            Arc::new(config),
            Arc::new(MemoryStore::default()),
            status,
            None,
        )
    }

    fn message(version: u64, impact: Option<Impact>) -> String {
        let states = States {
            version,
            at: crate::time::parse("2024-03-05T10:00:00Z").unwrap(),
            components: impact
                .map(|i| BTreeMap::from([("api".to_owned(), i)]))
                .unwrap_or_default(),
        };
        crate::message::compose_value(
            Source::Alert,
            Some(EVENT),
            &format!("d{version}"),
            "2024-03-05T10:00:00Z",
            &states,
        )
        .unwrap()
    }

    async fn api_state(status: &MemoryStore) -> String {
        let summary = status.get("data/summary.json").await.unwrap().unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&summary.body).unwrap();
        summary["components"][0]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn the_newest_states_are_kept_and_an_older_message_changes_nothing() {
        let status = Arc::new(MemoryStore::default());
        let p = publisher(true, status.clone());
        let out = p.handle(&message(2, Some(Impact::MajorOutage))).await;
        assert_eq!(
            out.unwrap(),
            Outcome::Components {
                version: 2,
                taken: true
            }
        );
        assert_eq!(api_state(&status).await, "major_outage");
        // Late, out of order: dropped.
        let out = p.handle(&message(1, None)).await.unwrap();
        assert_eq!(
            out,
            Outcome::Components {
                version: 1,
                taken: false
            }
        );
        assert_eq!(api_state(&status).await, "major_outage");
        p.handle(&message(3, None)).await.unwrap();
        assert_eq!(api_state(&status).await, "operational");
        let (index, _) = crate::document::read::<PublishedIndex>(p.state.as_ref(), INDEX_KEY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(index.alert_states.map(|s| s.version), Some(3));
    }

    #[tokio::test]
    async fn off_the_states_are_ignored_and_a_malformed_message_is_named() {
        let status = Arc::new(MemoryStore::default());
        let off = publisher(false, status.clone());
        let out = off
            .handle(&message(1, Some(Impact::Degraded)))
            .await
            .unwrap();
        assert!(
            matches!(out, Outcome::Ignored(why) if why.contains("COMPONENT_STATUS_FROM_ALERTS"))
        );
        assert!(status.get("data/summary.json").await.unwrap().is_none());
        let on = publisher(true, status);
        let bad = crate::message::compose_value(
            Source::Alert,
            Some(EVENT),
            "bad",
            "2024-03-05T10:00:00Z",
            &serde_json::json!({"version": "two"}),
        )
        .unwrap();
        match on.handle(&bad).await {
            Err(ProcessError::Permanent(why)) => {
                assert!(why.starts_with("component states:"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }
}
