//! Authenticate before reading: `openmic-local serve`'s intake routes answer a stranger
//! 401, and a declared size over `MAX_BODY_BYTES` 413, from the headers alone. The
//! client here sends headers announcing a gigabyte and no body at all: a server that
//! waited for the body would never answer. A chunked body without a length is cut at
//! the limit while it is read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openmic::signing::SigningKey;
use openmic_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: &str = "4096";
const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `openmic-local serve`'s app on a loopback port.
async fn serve(runner: Arc<openmic_local::Runner>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = runner.app();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// Sends `head` (request line and headers, no body) and then `body`, and reads the
/// answer's status line and headers; panics if none comes within ten seconds.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}Host: openmic\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream.write_all(body).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer to {head:?}: the server waits for the body"
    );
    String::from_utf8_lossy(&got).into_owned()
}

fn status_of(answer: &str) -> &str {
    answer
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

const GIGABYTE: &str = "Content-Length: 1000000000\r\nContent-Type: application/json\r\n";

#[tokio::test]
async fn strangers_and_oversized_bodies_are_answered_from_the_headers() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Arc::new(embedded(dir.path(), &[("MAX_BODY_BYTES", LIMIT)]));
    let addr = serve(runner.clone()).await;
    for (head, status) in [
        (
            format!("POST /gitlab HTTP/1.1\r\nX-Gitlab-Token: wrong\r\n{GIGABYTE}"),
            "401",
        ),
        (format!("POST /gitlab HTTP/1.1\r\n{GIGABYTE}"), "401"),
        (
            format!("POST /alerts HTTP/1.1\r\nAuthorization: Bearer wrong\r\n{GIGABYTE}"),
            "401",
        ),
        (format!("POST /alerts HTTP/1.1\r\n{GIGABYTE}"), "401"),
        // The right token, but a size over the limit: 413 before the body.
        (
            format!("POST /gitlab HTTP/1.1\r\nX-Gitlab-Token: {WEBHOOK_SECRET}\r\n{GIGABYTE}"),
            "413",
        ),
        (
            format!("POST /alerts HTTP/1.1\r\nAuthorization: Bearer {ALERT_TOKEN}\r\n{GIGABYTE}"),
            "413",
        ),
        (
            format!(
                "POST /alerts HTTP/1.1\r\nAuthorization: Bearer {ALERT_TOKEN}\r\nContent-Length: 4097\r\n"
            ),
            "413",
        ),
    ] {
        let answer = exchange(addr, &head, b"").await;
        assert_eq!(status_of(&answer), status, "{head:?}: {answer}");
    }
    // Chunked, no length: read until the limit is passed, then cut (the last chunk is
    // never sent).
    let chunk = format!("400\r\n{}\r\n", " ".repeat(0x400));
    let answer = exchange(
        addr,
        &format!(
            "POST /alerts HTTP/1.1\r\nAuthorization: Bearer {ALERT_TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        ),
        chunk.repeat(5).as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), "413", "{answer}");
    assert_eq!(runner.pending().await, 0, "nothing queued");
    // And a delivery as GitLab sends it still goes through.
    let body = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json"))
        .map(|raw| {
            let event: serde_json::Value = serde_json::from_str(&raw).unwrap();
            event["body"].as_str().unwrap().to_owned()
        })
        .unwrap();
    let answer = exchange(
        addr,
        &format!(
            "POST /gitlab HTTP/1.1\r\nX-Gitlab-Token: {WEBHOOK_SECRET}\r\nX-Gitlab-Event: Issue Hook\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ),
        body.as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), "202", "{answer}");
    assert_eq!(runner.pending().await, 1);
}

/// With signed deliveries the signature covers the body, so it is checked after
/// reading; but missing or malformed signature headers, a stale timestamp or a wrong
/// token are refused before.
#[tokio::test]
async fn signed_deliveries_are_refused_from_their_headers_when_they_can_be() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Arc::new(embedded(
        dir.path(),
        &[("MAX_BODY_BYTES", LIMIT), ("GITLAB_SIGNING_TOKEN", SIGNING)],
    ));
    let addr = serve(runner.clone()).await;
    let now = chrono::Utc::now().timestamp();
    let key = SigningKey::from_secret(SIGNING).unwrap();
    let sig = key.sign("msg_1", now, b"{}");
    let signed = |ts: i64, sig: &str| {
        format!("webhook-id: msg_1\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {sig}\r\n")
    };
    for (head, status) in [
        (format!("POST /gitlab HTTP/1.1\r\n{GIGABYTE}"), "401"),
        (
            format!(
                "POST /gitlab HTTP/1.1\r\n{}{GIGABYTE}",
                signed(now - 3600, &sig)
            ),
            "401",
        ),
        (
            format!(
                "POST /gitlab HTTP/1.1\r\n{}{GIGABYTE}",
                signed(now, "v1,bm90IGEgbWFj")
            ),
            "401",
        ),
        (
            format!(
                "POST /gitlab HTTP/1.1\r\nX-Gitlab-Token: wrong\r\n{}{GIGABYTE}",
                signed(now, &sig)
            ),
            "401",
        ),
        // Well-formed and fresh: the size is what is refused.
        (
            format!("POST /gitlab HTTP/1.1\r\n{}{GIGABYTE}", signed(now, &sig)),
            "413",
        ),
    ] {
        let answer = exchange(addr, &head, b"").await;
        assert_eq!(status_of(&answer), status, "{head:?}: {answer}");
    }
    // Well-formed headers, a body the signature is not over: 401 once it is read.
    let answer = exchange(
        addr,
        &format!(
            "POST /gitlab HTTP/1.1\r\n{}Content-Type: application/json\r\nContent-Length: 3\r\n",
            signed(now, &sig)
        ),
        b"{ }",
    )
    .await;
    assert_eq!(status_of(&answer), "401", "{answer}");
    assert_eq!(runner.pending().await, 0, "nothing queued");
}
