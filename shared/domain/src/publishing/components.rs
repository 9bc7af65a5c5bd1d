//! The publisher's part of components that follow their alerts
//! ([`crate::metrics::components`]): the notifier's message of the components' states
//! is kept in the index, the newest version only, and the site is written again from
//! it. The states reach the public bucket only as the page shows them: a state for
//! each component the page has, nothing of the alerts.

use tracing::info;

use super::{Apply, Outcome, Publisher};
use crate::errors::ProcessError;
use crate::message::{Envelope, Source};
use crate::metrics::components::{EVENT, States};

/// Whether a message is the notifier's component states.
pub(super) fn is_states(envelope: &Envelope) -> bool {
    envelope.source == Source::Alert && envelope.event.as_deref() == Some(EVENT)
}

/// Writes the site again; no update for subscribers.
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
        if taken {
            self.update_index(SITE_ONLY, |index| {
                if states.newer_than(index.alert_states.as_ref()) {
                    index.alert_states = Some(states.clone());
                }
            })
            .await?;
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
}
