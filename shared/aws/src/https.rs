//! The SDK clients' HTTP: hyper's HTTP/1.1 client on rustls with ring, pooled.
//!
//! Every AWS endpoint openmic talks to (S3, SQS, SES, SNS) speaks HTTP/1.1, and the SDK
//! sends one request per call; HTTP/2 would bring a second protocol stack into every
//! function for nothing. The SDK's own hyper client always compiles both, so this is
//! the SDK's `HttpClient` written on hyper with HTTP/1.1 alone.
//!
//! What the SDK expects of a client, kept here: the connect timeout of its settings
//! (a connection not made in time is a timeout error), the read timeout (no response
//! head in time is a timeout error), and errors classed as the SDK's retry strategy
//! reads them: a refused or reset connection is an I/O error (retried), a timeout a
//! timeout (retried), a request that cannot be sent a user error (not retried).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The certificates a client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The roots in this PEM text (Amazon's, compiled in).
    Pem(&'static str),
    /// The system's store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the distribution's).
    System,
}

/// An HTTP/1.1 client on rustls with ring for the SDK's clients; plain `http://`
/// endpoints (a local S3-compatible server) go without TLS.
pub fn client(trust: Trust) -> SharedHttpClient {
    SharedHttpClient::new(Https {
        tls: Arc::new(tls_config(&trust)),
        connectors: Arc::new(Mutex::new(HashMap::new())),
    })
}

/// The rustls configuration: ring, TLS 1.2 and 1.3, the roots `trust` names. A root
/// that does not parse is skipped (the system's store may hold a few odd ones); with
/// none at all every HTTPS call fails at the handshake, naming the certificate.
fn tls_config(trust: &Trust) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        Trust::Pem(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok);
            roots.add_parsable_certificates(certs);
        }
        Trust::System => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                tracing::warn!(
                    errors = found.errors.len(),
                    "no system certificates found: HTTPS calls to AWS will fail"
                );
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The client: one pooled connector per set of timeouts the SDK asks for (in practice
/// one per process, as every client shares the same settings).
#[derive(Clone)]
struct Https {
    tls: Arc<rustls::ClientConfig>,
    connectors: Arc<Mutex<HashMap<Timeouts, SharedHttpConnector>>>,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Https(hyper HTTP/1.1, rustls with ring)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

impl HttpClient for Https {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        };
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        connectors
            .entry(timeouts)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(&self.tls, timeouts)))
            .clone()
    }
}

/// A pool of HTTP/1.1 connections with the timeouts it was made for.
struct Connector {
    client: Client<HttpsConnector<TcpConnector>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    fn new(tls: &Arc<rustls::ClientConfig>, timeouts: Timeouts) -> Connector {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(timeouts.connect);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Connector {
            client: Client::builder(TokioExecutor::new()).build(https),
            read_timeout: timeouts.read,
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let sent = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answered = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, sent).await {
                    Ok(answered) => answered,
                    Err(_) => {
                        return Err(ConnectorError::timeout(
                            format!("no response within the read timeout of {limit:?}").into(),
                        ));
                    }
                },
                None => sent.await,
            };
            let response = answered.map_err(|e| classify(e.into()))?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's class of a failed call, from the causes of `err`.
fn classify(err: BoxError) -> ConnectorError {
    let mut timeout = false;
    let mut io = false;
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err.as_ref());
    while let Some(e) = cause {
        // hyper-util's connect timeout is an I/O error of kind `TimedOut`.
        if let Some(e) = e.downcast_ref::<std::io::Error>() {
            match e.kind() {
                std::io::ErrorKind::TimedOut => timeout = true,
                _ => io = true,
            }
        }
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            if e.is_timeout() {
                timeout = true;
            } else if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
                io = true;
            }
        }
        if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && e.is_connect()
        {
            io = true;
        }
        cause = e.source();
    }
    match (timeout, io) {
        (true, _) => ConnectorError::timeout(err),
        (false, true) => ConnectorError::io(err),
        (false, false) => ConnectorError::other(err, Some(ErrorKind::TransientError)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn connector(client: &SharedHttpClient, connect: u64, read: u64) -> SharedHttpConnector {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_millis(connect))
            .read_timeout(Duration::from_millis(read))
            .build();
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        client.http_connector(&settings, &components)
    }

    fn request(url: &str, body: &'static str) -> HttpRequest {
        let r = hyper::Request::put(url)
            .header("content-length", body.len())
            .body(SdkBody::from(body))
            .unwrap();
        HttpRequest::try_from(r).unwrap()
    }

    /// A server answering each request on a connection with its body, counting the
    /// connections it accepted (a pool reuses one).
    async fn echo() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() < end + 4 + length {
                            continue;
                        }
                        let body = buf[end + 4..end + 4 + length].to_vec();
                        buf.drain(..end + 4 + length);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-echo: yes\r\n\r\n",
                            body.len()
                        );
                        s.write_all(head.as_bytes()).await.unwrap();
                        s.write_all(&body).await.unwrap();
                    }
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn sends_the_request_reads_the_answer_and_reuses_the_connection() {
        let (url, accepted) = echo().await;
        let client = client(Trust::Pem(""));
        let c = connector(&client, 2000, 2000);
        for body in ["first", "second"] {
            let response = c.call(request(&format!("{url}/k"), body)).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(response.headers().get("x-echo"), Some("yes"));
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(bytes.as_ref(), body.as_bytes());
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = connector(&client(Trust::Pem("")), 2000, 2000);
        let err = c
            .call(request(&format!("http://127.0.0.1:{port}/"), ""))
            .await
            .unwrap_err();
        assert!(err.is_io(), "{err:?}");
    }

    #[tokio::test]
    async fn no_answer_within_the_read_timeout_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let c = connector(&client(Trust::Pem("")), 2000, 200);
        let err = c.call(request(&url, "")).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn https_to_a_server_no_root_vouches_for_fails_at_the_handshake() {
        // A TCP server that is no TLS server: the handshake fails, as it does against
        // a certificate none of the roots signed, and the error is not a panic.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
        });
        let c = connector(&client(Trust::Pem(crate::AMAZON_ROOTS)), 2000, 2000);
        let err = c.call(request(&url, "")).await.unwrap_err();
        assert!(!err.is_timeout(), "{err:?}");
    }
}
