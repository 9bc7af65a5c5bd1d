//! The one reply of every route (intake's JSON, the alert links' pages, the
//! subscription pages and their JSON): a status, a content type, a body and headers.
//! The HTTP edge (`openmic-http`) turns it into a response the same way for all, on
//! Lambda and in the local runner. A refusal carries a short message for the client;
//! what went wrong underneath is logged, never sent ([`Reply::failure`]).

use std::fmt::Display;

use http::StatusCode;
use serde_json::{Value, json};

/// A route's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    /// Headers beside the content type.
    pub headers: Vec<(&'static str, String)>,
    /// A refusal's short message to the client (logged with the status).
    pub error: Option<String>,
    /// A body that is not text (an image), sent in place of `body`.
    pub binary: Option<Vec<u8>>,
}

/// The content type of JSON replies.
pub const JSON: &str = "application/json";
/// The content type of pages.
pub const HTML: &str = "text/html; charset=utf-8";

impl Reply {
    /// `value` as JSON.
    pub fn json(status: StatusCode, value: Value) -> Reply {
        Reply {
            status,
            content_type: JSON,
            body: value.to_string(),
            headers: Vec::new(),
            error: None,
            binary: None,
        }
    }

    /// A refusal: `{"error": message}`, the message short and meant for the client.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
        let message = message.into();
        Reply {
            error: Some(message.clone()),
            ..Reply::json(status, json!({ "error": message }))
        }
    }

    /// A failure underneath (a backend, a template): `detail` is logged, the client
    /// gets `message` alone.
    pub fn failure(status: StatusCode, message: &str, detail: &dyn Display) -> Reply {
        tracing::warn!(status = status.as_u16(), error = %detail, "{message}");
        Reply::error(status, message)
    }

    /// A page.
    pub fn html(status: StatusCode, body: String) -> Reply {
        Reply {
            status,
            content_type: HTML,
            body,
            headers: Vec::new(),
            error: None,
            binary: None,
        }
    }

    /// Bytes of `content_type` (an image).
    pub fn binary(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            body: String::new(),
            headers: Vec::new(),
            error: None,
            binary: Some(body),
        }
    }

    /// With another header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The body as JSON, for a JSON reply.
    pub fn json_body(&self) -> Option<Value> {
        (self.content_type == JSON)
            .then(|| serde_json::from_str(&self.body).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_json_with_its_message_kept_for_the_log() {
        let r = Reply::error(StatusCode::UNAUTHORIZED, "missing token");
        assert_eq!(r.content_type, JSON);
        assert_eq!(r.json_body(), Some(json!({ "error": "missing token" })));
        assert_eq!(r.error.as_deref(), Some("missing token"));
        let ok = Reply::json(StatusCode::ACCEPTED, json!({ "queued": 1 }));
        assert_eq!(ok.error, None);
        assert_eq!(ok.json_body(), Some(json!({ "queued": 1 })));
    }

    #[test]
    fn a_failure_tells_the_client_the_message_and_not_the_detail() {
        let detail = "s3://secret-bucket/key: connection reset";
        let r = Reply::failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bucket is unavailable",
            &detail,
        );
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!r.body.contains("secret-bucket"), "{}", r.body);
        assert_eq!(r.error.as_deref(), Some("the bucket is unavailable"));
    }

    #[test]
    fn a_page_is_html_with_its_headers() {
        let p = Reply::html(StatusCode::OK, "<p>hi</p>".into())
            .with_header("cache-control", "no-store");
        assert_eq!(p.content_type, HTML);
        assert_eq!(p.headers, vec![("cache-control", "no-store".to_owned())]);
        assert_eq!(p.json_body(), None);
    }
}
