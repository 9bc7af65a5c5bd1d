//! The notifier's part of components that follow their alerts
//! ([`crate::metrics::components`]): every notice of an alert that names a component
//! (or did) updates the list of firing alerts, and the states it gives go to the
//! publisher on its queue.

use tracing::info;

use super::lifecycle::Notifier;
use super::record::{AlertRecord, RecordStatus};
use crate::errors::ProcessError;
use crate::metrics::components::{FIRING_KEY, Firing, Impact, component_of, queue_states};
use crate::ports::ClaimsIn;

impl Notifier {
    /// With `COMPONENT_STATUS_FROM_ALERTS`, takes what alert `key` gives its component
    /// now and hands the publisher the states. They are sent again whenever the alert
    /// names a component, so a retry after a failed send sends them (the queue drops
    /// the same version twice).
    pub(super) async fn follow_component(
        &self,
        key: &str,
        record: &AlertRecord,
    ) -> Result<(), ProcessError> {
        if !self.config.metrics.component_status_from_alerts {
            return Ok(());
        }
        let component = component_of(&record.alert.labels);
        let firing = match record.status {
            RecordStatus::Triggered => component.map(|c| (c, Impact::of(record.alert.severity))),
            RecordStatus::Resolved => None,
        };
        let mut changed = false;
        let list = crate::document::update(self.state.as_ref(), FIRING_KEY, |old| {
            let mut list: Firing = old.unwrap_or_default();
            changed = list.observe(key, firing);
            Some(list)
        })
        .await?
        .unwrap_or_default();
        if component.is_none() && !changed {
            return Ok(());
        }
        let Some(queue) = &self.publish else {
            return Err(ProcessError::Permanent(
                "COMPONENT_STATUS_FROM_ALERTS needs PUBLISH_QUEUE_URL".into(),
            ));
        };
        let states = list.states(self.clock.now());
        let claims = ClaimsIn(self.state.clone());
        queue_states(queue.as_ref(), Some(&claims), &states).await?;
        info!(
            version = states.version,
            components = states.components.len(),
            "component states from alerts queued for the publisher"
        );
        Ok(())
    }
}
