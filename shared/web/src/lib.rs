//! Outbound HTTP behind openmic-core's [`Outbound`] port: one POST, its status and the
//! start of its answer, on reqwest with rustls and ring (as the GitLab client). The
//! domain decides what to retry. URLs may hold secrets (a chat webhook's token): no
//! error this crate makes names one.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use openmic_core::errors::BackendError;
use openmic_core::ports::{Answer, Outbound};

/// How much of an answer's body is kept, for the log of a refusal.
const BODY_EXCERPT: usize = 300;

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The client: one per process, connections kept alive between requests.
#[derive(Clone)]
pub struct Web {
    http: reqwest::Client,
}

impl Web {
    pub fn new() -> Result<Web, String> {
        Web::with_timeout(REQUEST_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Result<Web, String> {
        // TLS on ring: installed once for the process (a second install finds it
        // there, which is as good).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .user_agent(concat!("openmic/", env!("CARGO_PKG_VERSION")))
            // A webhook answers where it is; a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("outbound HTTP client: {}", e.without_url()))?;
        Ok(Web { http })
    }
}

#[async_trait]
impl Outbound for Web {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, BackendError> {
        let mut req = self.http.post(url).body(body);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| BackendError::Transient(describe(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // The body only matters for a refusal's reason; a slow or broken one is
        // not the request's failure.
        let text = resp.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: excerpt(&text),
            retry_after,
        })
    }
}

/// What went wrong, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_builder() {
        "the request could not be made (is the URL valid?)"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() || detail.contains("://") {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_EXCERPT)
        .collect();
    one_line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn posts_with_headers_and_reads_the_answer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hook/secret-token"))
            .and(header("content-type", "application/json"))
            .and(body_string("{\"text\":\"hi\"}"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "3")
                    .set_body_string("rate_limited\n"),
            )
            .mount(&server)
            .await;
        let web = Web::new().unwrap();
        let url = format!("{}/hook/secret-token", server.uri());
        let answer = web
            .post(
                &url,
                &[("content-type", "application/json".into())],
                Bytes::from_static(b"{\"text\":\"hi\"}"),
            )
            .await
            .unwrap();
        assert_eq!(
            answer,
            Answer {
                status: 429,
                body: "rate_limited".into(),
                retry_after: Some(3)
            }
        );
    }

    #[tokio::test]
    async fn a_failure_never_names_the_url() {
        // Nothing listens on port 9 of loopback.
        let web = Web::with_timeout(Duration::from_millis(500)).unwrap();
        let err = web
            .post(
                "http://127.0.0.1:9/services/T000/B000/very-secret",
                &[],
                Bytes::new(),
            )
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(!err.to_string().contains("very-secret"), "{err}");
    }
}
