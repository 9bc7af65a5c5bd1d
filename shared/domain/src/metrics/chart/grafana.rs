//! A Grafana alert's own image: where the alert carries `imageURL` (Grafana's image
//! renderer), that image is the chart, in place of one drawn from Prometheus. It is
//! fetched once through the outbound port within the chart's [`BUDGET`] and at most
//! [`MAX_IMAGE_BYTES`], with no credentials, and must be a PNG (by its magic bytes);
//! each way it fails is a named [`NoChart`]. It comes with no data: no CSV, and the
//! mail says so.

use super::query::BUDGET;
use super::{Chart, ChartFrom, NoChart};
use crate::errors::BackendError;
use crate::ports::{Outbound, is_too_large};

/// The largest image taken.
pub const MAX_IMAGE_BYTES: usize = 4 * 1024 * 1024;

/// A PNG's first eight bytes.
pub const PNG_MAGIC: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The text alternative of Grafana's image of the alert `title`.
pub fn text(title: &str) -> String {
    format!(
        "Grafana's image of {}, from its alert (no data with it).",
        title.trim()
    )
}

/// Grafana's image at `url` as the chart of the alert `title`.
pub async fn chart(
    outbound: Option<&dyn Outbound>,
    url: &str,
    title: &str,
) -> Result<Chart, NoChart> {
    let outbound = outbound.ok_or(NoChart::ImageUnreachable)?;
    let parsed = url::Url::parse(url.trim()).map_err(|_| NoChart::ImageUnreachable)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(NoChart::ImageUnreachable);
    }
    let fetched = tokio::time::timeout(BUDGET, outbound.get(parsed.as_str(), MAX_IMAGE_BYTES))
        .await
        .map_err(|_| NoChart::ImageSlow(BUDGET.as_secs()))?
        .map_err(|e| match e {
            e if is_too_large(&e) => NoChart::ImageTooLarge(MAX_IMAGE_BYTES),
            BackendError::Transient(m) if m.starts_with("timed out") => {
                NoChart::ImageSlow(BUDGET.as_secs())
            }
            _ => NoChart::ImageUnreachable,
        })?;
    if !(200..300).contains(&fetched.status) {
        return Err(NoChart::ImageStatus(fetched.status));
    }
    if !fetched.body.starts_with(PNG_MAGIC) {
        return Err(NoChart::NotAPng);
    }
    Ok(Chart {
        png: fetched.body.to_vec(),
        figure: None,
        text: text(title),
        csv: String::new(),
        from: ChartFrom::Grafana,
    })
}
