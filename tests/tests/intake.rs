//! Intake: every reply docs/status-page.md and docs/alerts.md give, with its status and
//! a message that names the problem, and nothing queued for a refused request.

use openmic::signing::SigningKey;
use openmic_tests::*;
use serde_json::json;

async fn check(
    runner: &openmic_local::Runner,
    folder: &str,
    name: &str,
    status: u16,
    message: &str,
) {
    let (got, body) = send(runner, &event_file(folder, name)).await;
    assert_eq!(got, status, "{name}: {body}");
    let text = body.to_string();
    assert!(
        text.contains(message),
        "{name}: {body} should mention {message:?}"
    );
}

#[tokio::test]
async fn gitlab_replies() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let cases = [
        ("bad-token.json", 401, "invalid X-Gitlab-Token"),
        ("missing-token.json", 401, "missing X-Gitlab-Token"),
        ("other-project.json", 403, "project 7"),
        ("missing-project.json", 400, "missing field `project`"),
        ("invalid-json.json", 400, "EOF"),
        (
            "wrong-content-type.json",
            400,
            "Content-Type must be application/json",
        ),
        (
            "push-hook-ignored.json",
            200,
            "{\"ignored\":\"event \\\"Push Hook\\\" is not handled\"}",
        ),
        (
            "note-on-merge-request-ignored.json",
            200,
            "{\"ignored\":\"note on MergeRequest\"}",
        ),
        (
            "get-method.json",
            405,
            "method GET is not allowed on /gitlab; use POST",
        ),
        ("unknown-route.json", 404, "no route for POST /nope"),
    ];
    for (name, status, message) in cases {
        check(&runner, "gitlab-errors", name, status, message).await;
    }
    assert_eq!(runner.pending().await, 0, "nothing refused is queued");
    check(
        &runner,
        "gitlab-errors",
        "base64-body.json",
        202,
        "{\"queued\":1}",
    )
    .await;
    assert_eq!(runner.pending().await, 1);
    // A time the payload gets wrong is replaced, as GitLab does, and noted: not refused.
    check(
        &runner,
        "gitlab-errors",
        "bad-timestamp.json",
        202,
        "{\"queued\":1}",
    )
    .await;
    runner.drain().await;
    let state = json_of(&tree(&dir.path().join("state")), "incidents/42/5.json");
    let quirks = state["quirks"].to_string();
    for field in [
        "object_attributes.created_at",
        "object_attributes.updated_at",
    ] {
        assert!(quirks.contains(field), "{field} not noted: {quirks}");
    }
    assert!(state["issue"]["created_at"].is_string(), "{state}");
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("MAX_BODY_BYTES", "2048")]);
    check(
        &runner,
        "gitlab-story",
        "001-issue-opened.json",
        413,
        "MAX_BODY_BYTES (2048 bytes)",
    )
    .await;
    assert_eq!(runner.pending().await, 0);
    let small = json!({"version": "2.0", "rawPath": "/gitlab", "headers": {"x-gitlab-token": WEBHOOK_SECRET, "x-gitlab-event": "Push Hook"},
        "requestContext": {"http": {"method": "POST", "path": "/gitlab"}}, "body": "{\"object_kind\":\"push\"}", "isBase64Encoded": false});
    let (status, _) = send_text(&runner, &small.to_string()).await;
    assert_eq!(status, 200, "a body under the limit passes");
}

#[tokio::test]
async fn rest_api_payload_format_1_is_accepted_too() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let v2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap(),
    )
    .unwrap();
    let v1 = json!({
        "resource": "/gitlab", "path": "/gitlab", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": WEBHOOK_SECRET},
        "multiValueHeaders": {}, "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {"resourcePath": "/gitlab", "httpMethod": "POST", "path": "/gitlab", "stage": "prod", "accountId": "123456789012", "requestId": "r1", "identity": {"sourceIp": "192.0.2.1"}},
        "body": v2["body"], "isBase64Encoded": false
    });
    let (status, body) = send_text(&runner, &v1.to_string()).await;
    assert_eq!(status, 202, "{body}");
}

fn signed_event(
    key: &SigningKey,
    id: &str,
    ts: i64,
    body: &str,
    signature: Option<String>,
) -> String {
    let sig = signature.unwrap_or_else(|| key.sign(id, ts, body.as_bytes()));
    json!({"version": "2.0", "rawPath": "/gitlab",
        "headers": {"content-type": "application/json", "x-gitlab-event": "Issue Hook",
                    "webhook-id": id, "webhook-timestamp": ts.to_string(), "webhook-signature": sig},
        "requestContext": {"http": {"method": "POST", "path": "/gitlab"}}, "body": body, "isBase64Encoded": false})
    .to_string()
}

#[tokio::test]
async fn signed_webhooks() {
    let secret = "whsec_c2lnbmluZy1rZXktZm9yLW9wZW5taWMtdGVzdHM=";
    let key = SigningKey::from_secret(secret).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("GITLAB_SIGNING_TOKEN", secret)]);
    let v2: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap(),
    )
    .unwrap();
    let body = v2["body"].as_str().unwrap();
    let now = chrono_now();

    let (status, reply) = send_text(&runner, &signed_event(&key, "msg_1", now, body, None)).await;
    assert_eq!(status, 202, "{reply}");
    let tampered = body.replace("API errors", "API fine");
    let (status, reply) = send_text(
        &runner,
        &signed_event(
            &key,
            "msg_2",
            now,
            &tampered,
            Some(key.sign("msg_2", now, body.as_bytes())),
        ),
    )
    .await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("invalid webhook signature"))
    );
    let (status, reply) =
        send_text(&runner, &signed_event(&key, "msg_3", now - 600, body, None)).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("webhook-timestamp is too far from now"))
    );
    let other = SigningKey::from_secret("whsec_b3RoZXIta2V5").unwrap();
    let (status, _) = send_text(&runner, &signed_event(&other, "msg_4", now, body, None)).await;
    assert_eq!(status, 401, "a signature by another key");
    // The shared token alone is not enough once signing is on.
    let (status, reply) = send(&runner, &event_file("gitlab-story", "002-note-by-bob.json")).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("missing webhook-id header"))
    );
    assert_eq!(runner.pending().await, 1);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A rotation: with `new,previous` both the old and the new value are taken by
/// `/gitlab` and `/alerts`, anything else refused; once the previous value is dropped
/// from the setting, it is refused too.
#[tokio::test]
async fn secrets_rotate_without_a_refused_delivery() {
    let dir = tempfile::tempdir().unwrap();
    // GitLab's documented Issue Hook is of project 1.
    let rotating = [
        ("GITLAB_PROJECT_ID", "1"),
        (
            "GITLAB_WEBHOOK_SECRET",
            "hook-new-0123456789, hook-old-0123456789",
        ),
        ("ALERT_TOKEN", "alert-new-0123456789,alert-old-0123456789"),
    ];
    let body =
        std::fs::read_to_string(events_dir().join("payloads/gitlab-issue-hook.json")).unwrap();
    let alert =
        std::fs::read_to_string(events_dir().join("payloads/gitlab-generic-alert.json")).unwrap();
    let hook = |token: &str| gitlab_event(&body, false, json!({"x-gitlab-token": token}));
    let alerts = |token: &str| alerts_event(&alert, &format!("Bearer {token}"));

    let runner = embedded(dir.path(), &rotating);
    for token in ["hook-new-0123456789", "hook-old-0123456789"] {
        let (status, reply) = send_text(&runner, &hook(token)).await;
        assert_eq!(status, 202, "{token}: {reply}");
    }
    for token in ["alert-new-0123456789", "alert-old-0123456789"] {
        let (status, reply) = send_text(&runner, &alerts(token)).await;
        assert_eq!(status, 202, "{token}: {reply}");
    }
    for (event, what) in [
        (
            hook("hook-new-0123456789, hook-old-0123456789"),
            "the setting itself",
        ),
        (hook("hook-older"), "a value never set"),
        (
            alerts("alert-new-0123456789,alert-old-0123456789"),
            "the setting itself",
        ),
    ] {
        assert_eq!(send_text(&runner, &event).await.0, 401, "{what}");
    }

    // The rotation done: only the new value is set, and the old one is refused.
    let after = embedded(
        dir.path(),
        &[
            ("GITLAB_PROJECT_ID", "1"),
            ("GITLAB_WEBHOOK_SECRET", "hook-new-0123456789"),
            ("ALERT_TOKEN", "alert-new-0123456789"),
        ],
    );
    assert_eq!(send_text(&after, &hook("hook-new-0123456789")).await.0, 202);
    assert_eq!(send_text(&after, &hook("hook-old-0123456789")).await.0, 401);
    assert_eq!(
        send_text(&after, &alerts("alert-old-0123456789")).await.0,
        401
    );
}

/// One route table: the same requests through the Lambda event path (an API Gateway
/// event answered by `apigw::serve` with the function's part of the table) and
/// through the local server's router (the event as the HTTP request it stands for)
/// get identical replies: status, every header, body. Each side has its own data
/// directory, so each sees every delivery for the first time.
#[tokio::test]
async fn the_lambda_path_and_the_local_server_answer_alike() {
    use openmic_http::apigw;
    use tower::ServiceExt;
    let extra = [("PUBLIC_API_URL", "https://api.example.com")];
    let (lambda_dir, local_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lambda = embedded(lambda_dir.path(), &extra);
    let local = std::sync::Arc::new(embedded(local_dir.path(), &extra));
    let mut events: Vec<String> = ["gitlab-story", "gitlab-errors", "alerts"]
        .iter()
        .flat_map(|f| event_files(f))
        // An unknown path is the site's on the local server (its 404 page).
        .filter(|p| !p.ends_with("unknown-route.json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    // The alert links: shown, acted on with a forged token, another method.
    for (method, query) in [
        ("GET", "token=forged"),
        ("POST", "token=forged&for=4h"),
        ("PUT", "token=forged"),
        ("GET", ""),
    ] {
        for path in ["/alerts/ack", "/alerts/silence"] {
            events.push(
                json!({"version": "2.0", "rawPath": path, "rawQueryString": query,
                    "headers": {}, "requestContext": {"http": {"method": method, "path": path}}})
                .to_string(),
            );
        }
    }
    let secrets = |text: &str| {
        text.replace("${GITLAB_WEBHOOK_SECRET}", WEBHOOK_SECRET)
            .replace("${ALERT_TOKEN}", ALERT_TOKEN)
    };
    for text in &events {
        let event: apigw::Event = serde_json::from_str(&secrets(text)).unwrap();
        let router = match text.contains("\"/alerts/") {
            true => openmic_http::links_router(lambda.actions.clone(), lambda.commands.clone()),
            false => lambda.intake_router(),
        };
        let on_lambda = apigw::serve(router, event).await;
        let request = openmic_http::api_gateway_request(text, &local.config).unwrap();
        let response = local.app().oneshot(request).await.unwrap();
        let on_server = apigw::api_gateway_response(response).await;
        assert_eq!(on_lambda, on_server, "{text}");
        assert!(
            on_lambda["statusCode"].as_u64().is_some_and(|s| s < 500),
            "{on_lambda}"
        );
    }
    lambda.drain().await;
    local.drain().await;
    assert_eq!(
        tree(&lambda_dir.path().join("status")),
        tree(&local_dir.path().join("status")),
        "the same deliveries were queued and published"
    );
}
