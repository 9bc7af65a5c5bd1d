//! Intake abuse: bodies at and over the limit, deep nesting, huge arrays, wrong
//! content types, invalid UTF-8, tokens of every wrong length. Each gets its
//! documented status and nothing is queued.

use base64::Engine;
use openmic_tests::*;
use serde_json::json;

fn story_body(n: usize) -> String {
    let raw = std::fs::read_to_string(event_file("gitlab-story", n_name(n))).unwrap();
    let event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    event["body"].as_str().unwrap().to_owned()
}

fn n_name(n: usize) -> &'static str {
    [
        "001-issue-opened.json",
        "015-second-incident-published.json",
    ][n]
}

#[tokio::test]
async fn bodies_at_and_over_the_limit() {
    let body = story_body(0);
    // Pad with whitespace (still valid JSON) to exactly the limit.
    let limit = body.len() + 100;
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("MAX_BODY_BYTES", &limit.to_string())]);
    let at = format!("{body}{}", " ".repeat(100));
    assert_eq!(at.len(), limit);
    let (status, reply) = send_text(&runner, &gitlab_event(&at, false, json!({}))).await;
    assert_eq!(
        (status, reply),
        (202, json!({"queued": 1})),
        "a body of exactly MAX_BODY_BYTES"
    );
    let over = format!("{at} ");
    let (status, reply) = send_text(
        &runner,
        &gitlab_event(&over, false, json!({"idempotency-key": "o"})),
    )
    .await;
    assert_eq!(status, 413, "{reply}");
    let (status, _) = send_text(
        &runner,
        &gitlab_event(&over, true, json!({"idempotency-key": "b"})),
    )
    .await;
    assert_eq!(status, 413, "the limit counts decoded bytes");
    let (status, _) = send_text(
        &runner,
        &alerts_event(
            &format!("{{\"title\":\"{}\"}}", "x".repeat(limit)),
            &format!("Bearer {ALERT_TOKEN}"),
        ),
    )
    .await;
    assert_eq!(status, 413);
    // A Content-Length above the limit is refused before the body is read.
    let (status, _) = send_text(
        &runner,
        &gitlab_event(
            "{}",
            false,
            json!({"content-length": (limit + 1).to_string()}),
        ),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(
        runner.pending().await,
        1,
        "only the body at the limit was queued"
    );
}

#[tokio::test]
async fn deep_nesting_huge_arrays_and_bad_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        "{{\"object_kind\":\"issue\",\"x\":{}1{}}}",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let cases: Vec<(String, bool, &str)> = vec![
        (deep.clone(), false, "body must be a JSON object"),
        // serde_json skips an unknown field without recursing: the body is read to its
        // end, and what it lacks is named.
        (deep_object, false, "missing field `object_attributes`"),
        (
            "{\"object_kind\":\"issue\",\"user\":".to_owned(),
            false,
            "EOF",
        ),
        ("\u{feff}{}".to_owned(), false, "body must be a JSON object"),
    ];
    for (body, b64, msg) in cases {
        let (status, reply) = send_text(&runner, &gitlab_event(&body, b64, json!({}))).await;
        assert_eq!(status, 400, "{reply}");
        assert!(reply["error"].as_str().unwrap().contains(msg), "{reply}");
    }
    // Invalid UTF-8 (base64 lets the bytes through API Gateway).
    let mut bytes = story_body(0).into_bytes();
    bytes[40] = 0xff;
    let event = json!({"version": "2.0", "rawPath": "/gitlab",
        "headers": {"x-gitlab-token": WEBHOOK_SECRET, "x-gitlab-event": "Issue Hook"},
        "requestContext": {"http": {"method": "POST", "path": "/gitlab"}},
        "body": base64::engine::general_purpose::STANDARD.encode(&bytes), "isBase64Encoded": true});
    let (status, reply) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap().contains("UTF-8"),
        "{reply}"
    );
    // A huge array inside the limit parses and is accepted.
    let mut hook: serde_json::Value = serde_json::from_str(&story_body(0)).unwrap();
    hook["labels"] = json!(
        (0..50_000)
            .map(|i| json!({"title": format!("l{i}")}))
            .collect::<Vec<_>>()
    );
    let (status, _) = send_text(
        &runner,
        &gitlab_event(&hook.to_string(), false, json!({"idempotency-key": "big"})),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(runner.pending().await, 1);
    // Too many alerts in one request: refused whole, naming the field.
    let alerts: Vec<_> = (0..1001)
        .map(|i| json!({"status": "firing", "labels": {"alertname": format!("a{i}")}, "annotations": {}, "startsAt": "2024-01-01T00:00:00Z"}))
        .collect();
    let body = json!({"version": "4", "status": "firing", "alerts": alerts}).to_string();
    let (status, reply) = send_text(
        &runner,
        &alerts_event(&body, &format!("Bearer {ALERT_TOKEN}")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("alerts: 1001 alerts in one request, at most 1000"),
        "{reply}"
    );
    let deep_alert = format!(
        "{{\"title\":\"t\",\"extra\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (status, _) = send_text(
        &runner,
        &alerts_event(&deep_alert, &format!("Bearer {ALERT_TOKEN}")),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(runner.pending().await, 1, "nothing refused was queued");
}

#[tokio::test]
async fn wrong_content_types() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let body = story_body(0);
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "json",
    ] {
        let (status, reply) = send_text(
            &runner,
            &gitlab_event(&body, false, json!({"content-type": ct})),
        )
        .await;
        assert_eq!(status, 400, "{ct}: {reply}");
        assert!(
            reply["error"]
                .as_str()
                .unwrap()
                .starts_with("Content-Type must be application/json"),
            "{reply}"
        );
    }
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        let (status, reply) = send_text(
            &runner,
            &gitlab_event(
                &body,
                false,
                json!({"content-type": ct, "idempotency-key": ct}),
            ),
        )
        .await;
        assert_eq!(status, 202, "{ct}: {reply}");
    }
}

#[tokio::test]
async fn tokens_of_every_wrong_length_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let body = story_body(0);
    let secret = WEBHOOK_SECRET.as_bytes();
    for len in 0..=secret.len() * 2 {
        // The right prefix, padded or cut: only the exact token passes.
        let token: String = (0..len)
            .map(|i| *secret.get(i).unwrap_or(&b'x') as char)
            .collect();
        if token == WEBHOOK_SECRET {
            continue;
        }
        let (status, reply) = send_text(
            &runner,
            &gitlab_event(&body, false, json!({"x-gitlab-token": token})),
        )
        .await;
        assert_eq!(status, 401, "length {len}: {reply}");
        let auth = format!(
            "Bearer {}",
            &ALERT_TOKEN.chars().cycle().take(len).collect::<String>()
        );
        if auth != format!("Bearer {ALERT_TOKEN}") {
            let (status, _) = send_text(&runner, &alerts_event("{\"title\":\"t\"}", &auth)).await;
            assert_eq!(status, 401, "alert token of length {len}");
        }
    }
    assert_eq!(runner.pending().await, 0);
}
