//! The "View logs" link of an alert (`LOGS_URL_TEMPLATE`): the template's placeholders
//! filled from the alert, each value percent-encoded (only `A-Z a-z 0-9 - . _ ~` stay
//! as they are), so no label can end the parameter it stands in or add another. The
//! result is kept only if it is an http(s) URL with a host ([`crate::chat::safe_url`]
//! decides, as for every link a message shows); otherwise there is no link.

use std::collections::BTreeMap;

use crate::config::metrics::{LogsTemplate, Piece};
use crate::time::{self, Timestamp};

/// What the placeholders are filled with.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// When the alert ended, or the time of the notice while it fires.
    pub ends_at: Timestamp,
}

/// `value` percent-encoded but for RFC 3986's unreserved characters.
fn encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The link for `span`, or none when the filled template is not a safe http(s) URL.
pub fn link(template: &LogsTemplate, span: Span<'_>) -> Option<String> {
    let mut url = String::new();
    for piece in &template.pieces {
        match piece {
            Piece::Text(t) => url.push_str(t),
            Piece::Label(name) => {
                url.push_str(&encoded(span.labels.get(name).map_or("", String::as_str)))
            }
            Piece::StartsAt => url.push_str(&encoded(&time::format(&span.starts_at))),
            Piece::EndsAt => url.push_str(&encoded(&time::format(&span.ends_at))),
        }
    }
    let kept = crate::chat::safe_url(&url);
    if kept.is_none() {
        tracing::warn!("LOGS_URL_TEMPLATE made no http(s) URL for this alert: no logs link");
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(labels: &BTreeMap<String, String>) -> Span<'_> {
        Span {
            labels,
            starts_at: time::parse("2024-03-05T10:00:00Z").unwrap(),
            ends_at: time::parse("2024-03-05T10:30:00Z").unwrap(),
        }
    }

    #[test]
    fn each_value_is_encoded_so_no_label_adds_a_parameter() {
        let t = LogsTemplate::parse(
            "https://grafana.example.com/explore?host={labels.instance}&from={starts_at}&to={ends_at}&job={labels.job}",
        )
        .unwrap();
        let labels = BTreeMap::from([(
            "instance".to_owned(),
            "db-1:9100&to=now#x <script>".to_owned(),
        )]);
        let url = link(&t, span(&labels)).unwrap();
        assert_eq!(
            url,
            "https://grafana.example.com/explore?host=db-1%3A9100%26to%3Dnow%23x%20%3Cscript%3E\
             &from=2024-03-05T10%3A00%3A00.000Z&to=2024-03-05T10%3A30%3A00.000Z&job="
        );
        let parsed = url::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[0].1, "db-1:9100&to=now#x <script>");
        assert_eq!(pairs[2].1, "2024-03-05T10:30:00.000Z");
        assert_eq!(parsed.fragment(), None);
    }

    #[test]
    fn a_result_that_is_no_http_url_gives_no_link() {
        // The host itself from a label: a value that makes no host is dropped.
        let t = LogsTemplate::parse("https://{labels.host}/logs").unwrap();
        let spaced = BTreeMap::from([("host".to_owned(), "logs example".to_owned())]);
        assert_eq!(link(&t, span(&spaced)), None);
        let labels = BTreeMap::from([("host".to_owned(), "logs.example.com".to_owned())]);
        assert_eq!(
            link(&t, span(&labels)).as_deref(),
            Some("https://logs.example.com/logs")
        );
        let credentials = BTreeMap::from([("host".to_owned(), "u:p@evil".to_owned())]);
        // `@` and `:` are encoded, so the value cannot become credentials: no host.
        assert_eq!(link(&t, span(&credentials)), None);
    }
}
