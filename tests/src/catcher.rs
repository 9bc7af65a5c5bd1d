//! A local HTTP server standing in for chat services and webhook endpoints: it keeps
//! every request (path and query, headers, body) and answers as its path says.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use tokio::sync::Semaphore;

/// One request the catcher took.
#[derive(Debug, Clone)]
pub struct Caught {
    /// The path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
}

impl Caught {
    /// Checks the request's Standard Webhooks signature against `secret` (`whsec_…`),
    /// computed here from the spec (HMAC-SHA256 over `id.timestamp.body`, base64).
    pub fn assert_signed_with(&self, secret: &str) {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD as B64;
        use hmac::{Hmac, Mac};
        let header = |name: &str| {
            self.headers[name]
                .to_str()
                .unwrap_or_else(|_| panic!("{name} is text"))
        };
        let (id, ts, sig) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        );
        let key = B64
            .decode(secret.trim_start_matches("whsec_"))
            .expect("a whsec_ secret");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(&self.raw);
        let want = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
        assert!(sig.split(' ').any(|s| s == want), "{sig} != {want}");
    }
}

/// A local HTTP server standing in for the chat services: `/ok/…` answers 200,
/// `/fail/…` 500, `/hang/…` waits until released, then 500.
#[derive(Clone)]
pub struct Catcher {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub seen: Arc<Mutex<Vec<Caught>>>,
    gate: Arc<Semaphore>,
}

impl Catcher {
    pub async fn start() -> Catcher {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = Catcher {
            base: format!("http://{}", listener.local_addr().unwrap()),
            seen: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
        };
        let app = axum::Router::new().fallback(catch).with_state(c.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        c
    }

    /// The requests to `path` (without its leading slash), oldest first.
    pub fn at(&self, path: &str) -> Vec<Caught> {
        let prefix = format!("/{path}");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.uri == prefix || c.uri.starts_with(&format!("{prefix}?")))
            .cloned()
            .collect()
    }

    /// Lets every `/hang/…` request answer.
    pub fn release(&self) {
        self.gate.add_permits(1000);
    }
}

async fn catch(State(c): State<Catcher>, uri: Uri, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let path = uri.path().to_owned();
    c.seen.lock().unwrap().push(Caught {
        uri: uri.to_string(),
        headers,
        raw,
        body,
    });
    if path.starts_with("/fail") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if path.starts_with("/hang") {
        let _ = c.gate.acquire().await;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}
