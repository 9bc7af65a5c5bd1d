//! The notifier's part of upstream components ([`crate::metrics::upstream`]): at a
//! tick, when [`EVERY`](crate::metrics::upstream::EVERY) has passed since the last
//! read, each page of `UPSTREAM_COMPONENTS` is read (one at a time, each within the
//! outbound client's timeout), and what they give goes to the publisher on its queue.
//! A page that cannot be read is unknown, its reason logged; the others go on.

use tracing::{info, warn};

use super::lifecycle::Notifier;
use crate::config::metrics::UpstreamSource;
use crate::errors::ProcessError;
use crate::metrics::upstream::{
    LastRead, Line, MAX_BYTES, Mirrored, READ_KEY, Upstream, UpstreamError, queue_upstream, read,
};
use crate::ports::ClaimsIn;
use crate::time::Timestamp;

impl Notifier {
    /// Reads the upstream pages if they are due at `now`; returns how many were read.
    pub(super) async fn upstream_tick(&self, now: Timestamp) -> Result<usize, ProcessError> {
        let sources = &self.config.metrics.upstream_components;
        if sources.is_empty() {
            return Ok(0);
        }
        let (Some(outbound), Some(queue)) = (&self.outbound, &self.publish) else {
            return Err(ProcessError::Permanent(
                "UPSTREAM_COMPONENTS needs outbound HTTP and PUBLISH_QUEUE_URL".into(),
            ));
        };
        // Claimed before the pages are read, so a second tick at the same time reads
        // none of them again.
        let mut due = false;
        let last = crate::document::update(self.state.as_ref(), READ_KEY, |old| {
            let mut last: LastRead = old.unwrap_or_default();
            due = last.due(now);
            if due {
                last.version += 1;
                last.at = Some(now);
            }
            Some(last)
        })
        .await?
        .unwrap_or_default();
        if !due {
            return Ok(0);
        }
        let mut components = Vec::with_capacity(sources.len());
        for source in sources {
            let state = match mirror(outbound.as_ref(), source).await {
                Ok(state) => state,
                Err(e) => {
                    warn!(upstream = %source.name, error = %crate::errors::Chain(&e), "upstream page not read");
                    Mirrored::Unknown
                }
            };
            components.push(Line {
                name: source.name.clone(),
                state,
            });
        }
        let upstream = Upstream {
            version: last.version,
            at: now,
            components,
        };
        let claims = ClaimsIn(self.state.clone());
        queue_upstream(queue.as_ref(), Some(&claims), &upstream).await?;
        info!(
            version = upstream.version,
            pages = sources.len(),
            "upstream components read"
        );
        Ok(sources.len())
    }
}

/// The state `source`'s page gives.
async fn mirror(
    outbound: &dyn crate::ports::Outbound,
    source: &UpstreamSource,
) -> Result<Mirrored, UpstreamError> {
    let answer = outbound
        .get(&source.url, MAX_BYTES)
        .await
        .map_err(UpstreamError::Fetch)?;
    read(&answer, source.component.as_deref())
}
