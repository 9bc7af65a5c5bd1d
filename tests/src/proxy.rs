//! A fault-injecting proxy on loopback in front of the S3/SQS/SES-compatible server:
//! requests that match a rule get a throttling or 5xx answer, or hang, a set number of
//! times; everything else goes through unchanged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;

/// What a matching request gets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An answer with this status and body (and `Content-Type`).
    Answer {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// No answer for this long (the client's timeout cuts it first).
    Hang(Duration),
}

impl Fault {
    /// S3 `SlowDown` (503).
    pub fn s3_slow_down() -> Fault {
        Fault::Answer {
            status: 503,
            content_type: "application/xml",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
        }
    }
    /// S3 `InternalError` (500).
    pub fn s3_internal() -> Fault {
        Fault::Answer {
            status: 500,
            content_type: "application/xml",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>".into(),
        }
    }
    /// S3 `PreconditionFailed` (412), as a lost conditional write gets.
    pub fn s3_precondition_failed() -> Fault {
        Fault::Answer {
            status: 412,
            content_type: "application/xml",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>".into(),
        }
    }
    /// A JSON-protocol service error (SQS, SES v2).
    pub fn json(status: u16, kind: &str) -> Fault {
        Fault::Answer {
            status,
            content_type: "application/x-amz-json-1.0",
            body: format!("{{\"__type\":\"{kind}\",\"message\":\"injected fault\"}}"),
        }
    }
}

/// Which requests a rule hits.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Option<&'static str>,
    /// A substring of the path (S3 `bucket/key`, SES `/v2/email/outbound-emails`).
    pub path: Option<String>,
    /// A substring of `X-Amz-Target` (SQS: `AmazonSQS.SendMessage`).
    pub target: Option<&'static str>,
    pub fault: Fault,
    /// How many more requests it hits.
    pub times: usize,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    /// Every fault given, as "METHOD path".
    injected: Vec<String>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    inner: Arc<Mutex<Inner>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: crate::http().build().unwrap(),
            inner: inner.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FaultProxy { url, inner }
    }

    pub fn add(&self, rule: Rule) {
        self.inner.lock().unwrap().rules.push(rule);
    }

    /// The faults given so far.
    pub fn injected(&self) -> Vec<String> {
        self.inner.lock().unwrap().injected.clone()
    }

    /// Rules that still have faults to give.
    pub fn pending(&self) -> usize {
        self.inner
            .lock()
            .unwrap()
            .rules
            .iter()
            .map(|r| r.times)
            .sum()
    }
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let fault = {
        let mut inner = state.inner.lock().unwrap();
        let hit = inner.rules.iter_mut().find(|r| {
            r.times > 0
                && r.method.is_none_or(|m| m == parts.method.as_str())
                && r.path.as_deref().is_none_or(|p| path.contains(p))
                && r.target.is_none_or(|t| target.contains(t))
        });
        let fault = hit.map(|r| {
            r.times -= 1;
            r.fault.clone()
        });
        if fault.is_some() {
            let line = format!(
                "{} {}{}",
                parts.method,
                path,
                if target.is_empty() {
                    String::new()
                } else {
                    format!(" {target}")
                }
            );
            inner.injected.push(line);
        }
        fault
    };
    match fault {
        Some(Fault::Answer {
            status,
            content_type,
            body,
        }) => Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("x-amzn-requestid", "fault-proxy")
            .body(Body::from(body))
            .unwrap(),
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            Response::builder().status(504).body(Body::empty()).unwrap()
        }
        None => {
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let mut req = state
                .client
                .request(parts.method.clone(), format!("{}{}", state.upstream, path));
            for (k, v) in &parts.headers {
                if k != "host" && k != "content-length" {
                    req = req.header(k, v);
                }
            }
            match req.body(bytes).send().await {
                Ok(resp) => {
                    let mut out = Response::builder().status(resp.status().as_u16());
                    for (k, v) in resp.headers() {
                        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                            out = out.header(k, v);
                        }
                    }
                    out.body(Body::from(resp.bytes().await.unwrap_or_default()))
                        .unwrap()
                }
                Err(e) => Response::builder()
                    .status(502)
                    .body(Body::from(e.to_string()))
                    .unwrap(),
            }
        }
    }
}
