//! Outbound HTTP behind openmic-core's [`Outbound`] port: one POST, its status and the
//! start of its answer (or one GET and its whole answer, up to a size), on reqwest with rustls and ring (as the GitLab client). The
//! domain decides what to retry. URLs may hold secrets (a chat webhook's token): no
//! error this crate makes names one.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use openmic_core::errors::BackendError;
use openmic_core::ports::{Answer, Fetched, MAX_API_ANSWER, Outbound};

/// How much of an answer's body is kept, for the log of a refusal.
const BODY_EXCERPT: usize = 300;

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The certificates openmic's outbound HTTPS (chat services, operators' endpoints,
/// GitLab's API) trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Mozilla's list of roots, compiled in (`webpki-roots`): nothing is read from
    /// disk when a function starts. A Lambda function's choice, since its system store
    /// holds the same list.
    Mozilla,
    /// The system's store (`SSL_CERT_FILE` and `SSL_CERT_DIR` honoured): on a
    /// workstation, where an organisation's own authority may be installed, and in a
    /// function told to use other certificates.
    System,
}

impl Trust {
    /// Mozilla's roots in a Lambda function (`AWS_LAMBDA_RUNTIME_API` set, as Lambda
    /// sets it for every custom runtime) unless `SSL_CERT_FILE` or `SSL_CERT_DIR` names
    /// other certificates (a self-managed GitLab behind a private authority); the
    /// system's store everywhere else.
    pub fn from_env() -> Trust {
        Trust::choose(
            std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty()),
            openmic_core::config::certificates_named(),
        )
    }

    fn choose(on_lambda: bool, certificates_named: bool) -> Trust {
        match on_lambda && !certificates_named {
            true => Trust::Mozilla,
            false => Trust::System,
        }
    }
}

/// A reqwest client builder on rustls with ring, trusting `trust`, naming openmic in
/// its `User-Agent`; the caller adds its timeouts.
pub fn client_builder(trust: Trust) -> reqwest::ClientBuilder {
    // TLS on ring: installed once for the process (a second install finds it there,
    // which is as good).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder =
        reqwest::Client::builder().user_agent(concat!("openmic/", env!("CARGO_PKG_VERSION")));
    if trust == Trust::System {
        return builder;
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    match rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(config) => builder
            .tls_backend_preconfigured(config.with_root_certificates(roots).with_no_client_auth()),
        Err(_) => builder,
    }
}

/// The client: one per process, connections kept alive between requests.
#[derive(Clone)]
pub struct Web {
    http: reqwest::Client,
}

/// The outbound HTTP client could not be built (its TLS settings, above all).
#[derive(Debug, thiserror::Error)]
#[error("outbound HTTP client")]
pub struct ClientError(#[source] reqwest::Error);

impl Web {
    pub fn new() -> Result<Web, ClientError> {
        Web::with_timeout(REQUEST_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Result<Web, ClientError> {
        let http = client_builder(Trust::from_env())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            // A webhook answers where it is; a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError(e.without_url()))?;
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
        self.send(url, headers, body, false).await
    }

    async fn call(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, BackendError> {
        self.send(url, headers, body, true).await
    }

    async fn get(&self, url: &str, max_bytes: usize) -> Result<Fetched, BackendError> {
        self.get_with(url, &[], max_bytes).await
    }

    async fn get_with(
        &self,
        url: &str,
        headers: &[(&str, String)],
        max_bytes: usize,
    ) -> Result<Fetched, BackendError> {
        let mut req = self.http.get(url);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| BackendError::Transient(describe(&e)))?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(too_large(max_bytes));
        }
        Ok(Fetched {
            status,
            body: Bytes::from(read_capped(resp, max_bytes).await?),
        })
    }
}

impl Web {
    /// POSTs once; the answer's body whole (`whole`, within [`MAX_API_ANSWER`]) or
    /// an excerpt of it.
    async fn send(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        whole: bool,
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
        if whole {
            return Ok(Answer {
                status,
                body: read_whole(resp).await?,
                retry_after,
            });
        }
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

/// An API's answer, whole, within [`MAX_API_ANSWER`] bytes.
async fn read_whole(resp: reqwest::Response) -> Result<String, BackendError> {
    let body = read_capped(resp, MAX_API_ANSWER).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A body read whole, at most `max_bytes` of it (`Err` past it).
async fn read_capped(
    mut resp: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, BackendError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BackendError::Transient(describe(&e)))?
    {
        if out.len() + chunk.len() > max_bytes {
            return Err(too_large(max_bytes));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn too_large(max_bytes: usize) -> BackendError {
    openmic_core::ports::too_large(max_bytes)
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

    #[test]
    fn a_function_trusts_mozillas_roots_unless_told_of_other_certificates() {
        assert_eq!(Trust::choose(true, false), Trust::Mozilla);
        assert_eq!(Trust::choose(true, true), Trust::System);
        assert_eq!(Trust::choose(false, false), Trust::System);
        assert_eq!(Trust::choose(false, true), Trust::System);
    }

    #[tokio::test]
    async fn a_client_on_mozillas_roots_builds_and_names_openmic() {
        // reqwest takes a rustls configuration only of the version it links; a
        // mismatch would fail the build of every function's client.
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(header(
                "user-agent",
                concat!("openmic/", env!("CARGO_PKG_VERSION")),
            ))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        for trust in [Trust::Mozilla, Trust::System] {
            let client = client_builder(trust).build().expect("the client builds");
            if trust == Trust::Mozilla {
                let answer = client.get(server.uri()).send().await.expect("answered");
                assert_eq!(answer.status(), 204);
            }
        }
    }

    #[tokio::test]
    async fn an_apis_answer_is_read_whole_within_its_limit() {
        let server = MockServer::start().await;
        let long = format!("{{\"ok\": true, \"pad\": \"{}\"}}", "x".repeat(2_000));
        Mock::given(method("POST"))
            .and(path("/api/users.info"))
            .respond_with(ResponseTemplate::new(200).set_body_string(long.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/huge"))
            .respond_with(
                ResponseTemplate::new(200).set_body_string("x".repeat(MAX_API_ANSWER + 1)),
            )
            .mount(&server)
            .await;
        let web = Web::new().unwrap();
        let url = format!("{}/api/users.info", server.uri());
        let whole = web.call(&url, &[], Bytes::new()).await.unwrap();
        assert_eq!((whole.status, whole.body.as_str()), (200, long.as_str()));
        let excerpt = web.post(&url, &[], Bytes::new()).await.unwrap();
        assert_eq!(excerpt.body.len(), BODY_EXCERPT);
        let huge = format!("{}/api/huge", server.uri());
        assert!(matches!(
            web.call(&huge, &[], Bytes::new()).await,
            Err(BackendError::Permanent(_))
        ));
    }

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
    async fn gets_the_whole_answer_up_to_a_size_and_refuses_a_larger_one() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v2/summary.json"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"status\":{}}"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
            .mount(&server)
            .await;
        let web = Web::new().unwrap();
        let got = web
            .get(&format!("{}/api/v2/summary.json", server.uri()), 1024)
            .await
            .unwrap();
        assert_eq!(
            got,
            Fetched {
                status: 200,
                body: Bytes::from_static(b"{\"status\":{}}")
            }
        );
        let err = web
            .get(&format!("{}/big", server.uri()), 1024)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the answer is larger than 1024 bytes");
        assert!(!err.is_transient());
        let missing = web
            .get(&format!("{}/nothing", server.uri()), 1024)
            .await
            .unwrap();
        assert_eq!(missing.status, 404);
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
