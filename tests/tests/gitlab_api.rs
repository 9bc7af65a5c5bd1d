//! GitLab's API against a local stub that serves the response shapes GitLab documents:
//! attachments copied and served, roles, resync, incident issues from alerts, and how
//! API failures are met.

use std::sync::Arc;

use axum::body::to_bytes;
use openmic_tests::*;
use serde_json::json;
use tower::ServiceExt;
use wiremock::matchers::{body_string_contains, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "glpat-stub-token-never-logged";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn member(id: u64, username: &str, level: u32) -> serde_json::Value {
    json!({"id": id, "username": username, "name": username, "state": "active",
           "avatar_url": "https://gitlab.example.com/a.png", "web_url": format!("https://gitlab.example.com/{username}"),
           "access_level": level, "created_at": "2024-01-01T00:00:00.000Z", "expires_at": null})
}

/// A stub GitLab: alice is an Owner (50), bob a Maintainer (40), mallory no member.
async fn stub() -> MockServer {
    let server = MockServer::start().await;
    for (id, name, level) in [(10, "alice", 50), (11, "bob", 40)] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v4/projects/42/members/all/{id}")))
            .and(header("authorization", format!("Bearer {TOKEN}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(member(id, name, level)))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/members/all/66"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not found"})))
        .mount(&server)
        .await;
    server
}

fn api_env(server: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("GITLAB_URL", server.uri()),
        ("GITLAB_TOKEN", TOKEN.to_owned()),
        ("PUBLISHERS", String::new()),
    ]
}

fn with<'a>(
    env: &'a [(&'static str, String)],
    more: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    v.extend_from_slice(more);
    v
}

async fn mount_upload(server: &MockServer, file: &str, body: &'static [u8], expect: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v4/projects/42/uploads/{SECRET}/{file}")))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "image/png"))
        .expect(expect)
        .mount(server)
        .await;
}

#[tokio::test]
async fn attachments_are_copied_once_and_served() {
    let server = stub().await;
    mount_upload(&server, "errors.png", b"\x89PNG fake image", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = Arc::new(embedded(dir.path(), &with(&env, &[])));
    let files = event_files("gitlab-story");
    replay_all(&runner, &files).await;
    // The same story again as new deliveries: the file is present, not fetched again.
    resend_all(&runner, &files[6..8], "again").await;
    let key = format!("data/incident/1/{SECRET}/errors.png");
    let status = tree(&dir.path().join("status"));
    assert_eq!(
        status.get(&key).map(Vec::as_slice),
        Some(&b"\x89PNG fake image"[..])
    );
    let response = runner
        .app()
        .oneshot(
            http::Request::get(format!("/{key}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(
        to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .as_ref(),
        b"\x89PNG fake image"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_missing_upload_does_not_hold_back_the_text() {
    let server = stub().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v4/projects/42/uploads/.*"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not found"})))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = embedded(dir.path(), &with(&env, &[]));
    replay_all(&runner, &event_files("gitlab-story")).await;
    let status = tree(&dir.path().join("status"));
    assert_eq!(
        data_keys(&status),
        vec!["data/incident/1.json", "data/list.json", "incidents/1.html"]
    );
    assert!(
        dir.path()
            .join("queue/publish/dead")
            .read_dir()
            .unwrap()
            .next()
            .is_none(),
        "nothing dead-lettered"
    );
}

#[tokio::test]
async fn a_failing_stub_is_retried_until_it_recovers() {
    let server = stub().await;
    // Five 503s: the client's four attempts fail, the message is retried, and the next
    // handling gets the file.
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v4/projects/42/uploads/{SECRET}/errors.png"
        )))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(5)
        .with_priority(1)
        .expect(5)
        .mount(&server)
        .await;
    mount_upload(&server, "errors.png", b"png", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = embedded(dir.path(), &with(&env, &[]));
    replay_all(&runner, &event_files("gitlab-story")[..7]).await;
    let status = tree(&dir.path().join("status"));
    assert!(status.contains_key("data/incident/1.json"));
    assert_eq!(
        status
            .get(&format!("data/incident/1/{SECRET}/errors.png"))
            .map(Vec::as_slice),
        Some(&b"png"[..])
    );
    server.verify().await;
}

#[tokio::test]
async fn at_most_5000_uploads_per_incident() {
    let server = stub().await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/api/v4/projects/42/uploads/[0-9a-f]{32}/f\d+\.txt$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(&b"x"[..], "text/plain"))
        .expect(5000)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = embedded(dir.path(), &with(&env, &[]));
    let description: String = (0..5001)
        .map(|i| format!("[f{i}](/uploads/{SECRET}/f{i}.txt)\n"))
        .collect();
    let raw = std::fs::read_to_string(event_file(
        "gitlab-story",
        "015-second-incident-published.json",
    ))
    .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["object_attributes"]["description"] = description.into();
    event["body"] = body.to_string().into();
    let (status, _) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 202);
    runner.drain().await;
    let files = tree(&dir.path().join("status"))
        .keys()
        .filter(|k| k.starts_with("data/incident/2/"))
        .count();
    assert_eq!(files, 5000);
    assert!(
        !dir.path()
            .join(format!("status/data/incident/2/{SECRET}/f5000.txt"))
            .exists(),
        "the 5001st is refused"
    );
    server.verify().await;
}

#[tokio::test]
async fn publishing_needs_the_owner_role_by_default() {
    let server = stub().await;
    let env = api_env(&server);
    let label_by = |user: &str, uid: u64| {
        let raw =
            std::fs::read_to_string(event_file("gitlab-story", "007-label-by-publisher.json"))
                .unwrap();
        let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let mut body: serde_json::Value =
            serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["user"] = json!({"id": uid, "username": user});
        event["body"] = body.to_string().into();
        event["headers"]["idempotency-key"] = format!("label-{user}").into();
        event.to_string()
    };
    for (user, uid, public) in [
        ("bob", 11, false),
        ("mallory", 66, false),
        ("alice", 10, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let runner = embedded(dir.path(), &with(&env, &[]));
        replay_all(&runner, &event_files("gitlab-story")[..1]).await;
        send_text(&runner, &label_by(user, uid)).await;
        runner.drain().await;
        assert_eq!(
            dir.path().join("status/data/incident/1.json").exists(),
            public,
            "{user}"
        );
    }
    // PUBLISHERS wins when set: bob, a Maintainer, is named.
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &with(&env, &[("PUBLISHERS", "bob")]));
    replay_all(&runner, &event_files("gitlab-story")[..1]).await;
    send_text(&runner, &label_by("bob", 11)).await;
    runner.drain().await;
    assert!(dir.path().join("status/data/incident/1.json").exists());
    // MICROPHONE_TRUST=developers trusts bob's microphone (Maintainer).
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(
        dir.path(),
        &with(&env, &[("MICROPHONE_TRUST", "developers")]),
    );
    replay_all(&runner, &event_files("gitlab-story")).await;
    let state = tree(&dir.path().join("state"));
    let s1 = json_of(&state, "incidents/42/1.json");
    assert_eq!(
        s1["notes"]["103"]["microphones"]["mallory"]["trusted"],
        json!(false)
    );
    assert_eq!(
        s1["notes"]["101"]["microphones"]["alice"]["trusted"],
        json!(true)
    );
}

fn api_issue(iid: u64, labels: &[&str], updated: &str) -> serde_json::Value {
    json!({"id": 1000 + iid, "iid": iid, "project_id": 42, "title": "API errors :fire: for @carol's customers",
           "description": "Requests to the API fail. Update: fixed.", "state": "closed",
           "created_at": "2024-03-01T09:00:00.000Z", "updated_at": updated, "closed_at": updated,
           "labels": labels, "confidential": false, "issue_type": "incident", "severity": "HIGH",
           "author": {"id": 10, "username": "alice"}, "web_url": format!("https://gitlab.example.com/ops/api/-/issues/{iid}")})
}

fn api_note(id: u64, author: (u64, &str), body: &str, at: &str) -> serde_json::Value {
    json!({"id": id, "type": null, "body": body, "author": {"id": author.0, "username": author.1, "name": author.1},
           "created_at": at, "updated_at": at, "system": false, "noteable_id": 1001, "noteable_type": "Issue",
           "project_id": 42, "resolvable": false, "confidential": false, "internal": false, "noteable_iid": 1})
}

#[tokio::test]
async fn resync_removes_a_deleted_note_and_a_deleted_issue() {
    let server = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v4/projects/42/uploads/.*"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(&b"png"[..], "image/png"))
        .mount(&server)
        .await;
    let runner = embedded(dir.path(), &with(&env, &[]));
    replay_all(&runner, &event_files("gitlab-story")[..14]).await;
    let before = json_of(&tree(&dir.path().join("status")), "data/incident/1.json");
    assert_eq!(before["comments"].as_array().unwrap().len(), 1);

    // In GitLab, note 101 (the published one) was deleted; a new note 105 got alice's
    // microphone while the webhook was lost.
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(api_issue(
            1,
            &["incident", "status-page"],
            "2024-03-01T11:00:00.000Z",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/1/notes"))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([
                    api_note(
                        103,
                        (11, "bob"),
                        "Root cause: see #12.",
                        "2024-03-01T09:10:00.000Z"
                    ),
                    api_note(
                        105,
                        (10, "alice"),
                        "Resolved, thanks @bob.",
                        "2024-03-01T10:30:00.000Z"
                    ),
                ]))
                .insert_header("x-next-page", ""),
        )
        .mount(&server)
        .await;
    let award = |id: u64, user: (u64, &str), at: &str| {
        json!([{"id": id, "name": "microphone", "user": {"id": user.0, "username": user.1, "name": user.1},
                "created_at": at, "updated_at": at, "awardable_id": 105, "awardable_type": "Note"}])
    };
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/1/notes/103/award_emoji"))
        .respond_with(ResponseTemplate::new(200).set_body_json(award(
            1,
            (66, "mallory"),
            "2024-03-01T09:11:00.000Z",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/1/notes/105/award_emoji"))
        .respond_with(ResponseTemplate::new(200).set_body_json(award(
            2,
            (10, "alice"),
            "2024-03-01T10:31:00.000Z",
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/1/resource_label_events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "user": {"id": 10, "username": "alice", "name": "alice"}, "created_at": "2024-03-01T09:12:00.000Z",
             "resource_type": "Issue", "resource_id": 1001, "label": {"id": 500, "name": "status-page", "color": "#dc143c", "description": null},
             "action": "add"}
        ])))
        .mount(&server)
        .await;
    let outcome = runner.publisher.resync_published().await.unwrap();
    assert_eq!(outcome.len(), 1);
    assert!(outcome[0].1.is_ok(), "{outcome:?}");
    let after = json_of(&tree(&dir.path().join("status")), "data/incident/1.json");
    assert_eq!(
        after["comments"],
        json!([{"note": "<p>Resolved, thanks Incident Responder.</p>\n", "created_at": "2024-03-01T10:30:00.000Z"}]),
        "the deleted note is gone, the stranger's microphone still counts for nothing"
    );
    assert_eq!(
        after["description"],
        json!("<p>Requests to the API fail. Update: fixed.</p>\n")
    );
    let uploads = tree(&dir.path().join("status"))
        .keys()
        .filter(|k| k.starts_with("data/incident/1/"))
        .count();
    assert_eq!(
        uploads, 0,
        "the upload no published text points at is removed"
    );

    // The issue is deleted in GitLab: the next resync unpublishes it.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/1"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "404 Issue Not Found"})),
        )
        .mount(&server)
        .await;
    runner
        .publisher
        .resync(openmic::ids::IncidentId::new(42, 1))
        .await
        .unwrap();
    let status = tree(&dir.path().join("status"));
    assert_eq!(data_keys(&status), vec!["data/list.json"]);
    assert_eq!(json_of(&status, "data/list.json"), json!({"incidents": []}));
}

#[tokio::test]
async fn resync_never_publishes_what_the_rules_forbid() {
    let server = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = embedded(dir.path(), &with(&env, &[]));
    // In GitLab the label was added by bob (a Maintainer); later alice writes /publish,
    // but on an issue made confidential.
    let mut issue = api_issue(7, &["status-page"], "2024-03-02T00:00:00.000Z");
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue.clone()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/7/notes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/7/resource_label_events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 9, "user": {"id": 11, "username": "bob", "name": "bob"}, "created_at": "2024-03-01T09:12:00.000Z",
             "resource_type": "Issue", "resource_id": 1007, "label": {"id": 500, "name": "status-page"}, "action": "add"}
        ])))
        .mount(&server)
        .await;
    runner
        .publisher
        .resync(openmic::ids::IncidentId::new(42, 7))
        .await
        .unwrap();
    assert!(
        !dir.path().join("status/data/incident/7.json").exists(),
        "a Maintainer's label publishes nothing"
    );
    // alice publishes by command, but the issue is confidential.
    issue["confidential"] = json!(true);
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/7/notes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([api_note(
            700,
            (10, "alice"),
            "/publish",
            "2024-03-02T01:00:00.000Z"
        )])))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/7/notes/700/award_emoji"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    runner
        .publisher
        .resync(openmic::ids::IncidentId::new(42, 7))
        .await
        .unwrap();
    assert!(
        !dir.path().join("status/data/incident/7.json").exists(),
        "a confidential issue is never published"
    );
}

#[tokio::test]
async fn an_alert_opens_exactly_one_issue_and_closes_it_on_resolution() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/templates/issues/incident"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"name": "incident", "content": "## Summary\n\n(fill in)\n\n/label ~oncall"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .and(query_param("in", "description"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .and(body_string_contains("issue_type=incident"))
        .and(body_string_contains("labels=incident%2Cseverity%3A%3Acritical"))
        .and(body_string_contains("%23%23+Summary"))
        .and(body_string_contains("openmic-alert%3Aalert-"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 9077, "iid": 77, "project_id": 42, "title": "production: High error rate on api-1:9100",
            "description": "", "state": "opened", "created_at": "2024-03-05T10:00:01.000Z", "updated_at": "2024-03-05T10:00:01.000Z",
            "labels": ["incident", "severity::critical"], "confidential": false,
            "web_url": "https://gitlab.example.com/ops/api/-/issues/77"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v4/projects/42/issues/77"))
        .and(body_string_contains("state_event=close"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 9077, "iid": 77, "state": "closed"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = embedded(
        dir.path(),
        &with(
            &env,
            &[
                ("CREATE_INCIDENTS", "true"),
                ("AUTO_CLOSE_INCIDENTS", "true"),
                ("INCIDENT_TEMPLATE", "incident"),
            ],
        ),
    );
    let fire = event_file("alerts", "002-one-repeats.json");
    replay_all(&runner, std::slice::from_ref(&fire)).await;
    resend_all(&runner, std::slice::from_ref(&fire), "repeat").await;
    replay_all(&runner, &[event_file("alerts", "003-one-resolves.json")]).await;
    server.verify().await;
    let mails: Vec<String> = tree(&dir.path().join("outbox"))
        .values()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert!(
            m.contains("Incident:    https://gitlab.example.com/ops/api/-/issues/77"),
            "{m}"
        );
    }
}

#[test]
fn a_401_is_a_configuration_error_logged_once_and_the_token_never_logged() {
    let captured = Captured::default();
    tracing::subscriber::with_default(captured.subscriber(), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = MockServer::start().await;
            Mock::given(path_regex(".*"))
                .respond_with(
                    ResponseTemplate::new(401)
                        .set_body_json(json!({"message": "401 Unauthorized"})),
                )
                .mount(&server)
                .await;
            let dir = tempfile::tempdir().unwrap();
            let env = api_env(&server);
            let runner = embedded(dir.path(), &with(&env, &[]));
            replay_all(&runner, &event_files("gitlab-story")).await;
            assert!(
                !dir.path().join("status/data/incident/1.json").exists(),
                "no role could be checked: nothing published"
            );
            assert!(
                dir.path()
                    .join("queue/publish/dead")
                    .read_dir()
                    .unwrap()
                    .next()
                    .is_none(),
                "nothing dead-lettered"
            );
            let err = runner
                .publisher
                .resync(openmic::ids::IncidentId::new(42, 1))
                .await
                .unwrap_err();
            assert!(
                err.to_string()
                    .contains("GITLAB_TOKEN is invalid or expired"),
                "{err}"
            );
        });
    });
    let logs = captured.text();
    assert!(!logs.contains(TOKEN), "the token leaked into the logs");
    let errors = logs
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("GITLAB_TOKEN is invalid or expired"))
        .count();
    assert_eq!(errors, 1, "{logs}");
}

#[tokio::test]
async fn the_scheduled_resync_goes_round_and_stops_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let mut files = event_files("gitlab-story");
    files.extend(event_files("gitlab-site"));
    replay_all(&runner, &files).await;
    let order = |r: &[(
        u64,
        Result<openmic::publishing::Outcome, openmic::errors::ProcessError>,
    )]| { r.iter().map(|(i, _)| *i).collect::<Vec<_>>() };
    // No time left: nothing is resynced, the site is still written.
    let none = runner
        .publisher
        .resync_published_until(Some(std::time::Instant::now()))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(dir.path().join("status/index.html").exists());
    // Without the API each resync fails, but the order shows the cursor at work.
    let first = runner.publisher.resync_published_until(None).await.unwrap();
    assert_eq!(order(&first), vec![1, 4]);
    let cursor = json_of(&tree(&dir.path().join("state")), "index/resync-cursor.json");
    assert_eq!(cursor, json!({"after": 4}));
    std::fs::write(
        dir.path().join("state/index/resync-cursor.json"),
        r#"{"after": 1}"#,
    )
    .unwrap();
    let second = runner.publisher.resync_published_until(None).await.unwrap();
    assert_eq!(
        order(&second),
        vec![4, 1],
        "goes on after the last one reached"
    );
    assert!(
        second[0]
            .1
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("resync needs GITLAB_URL and GITLAB_TOKEN")
    );
}

/// The note a first publication leaves: once, never on a later change, never where the
/// issue already has it (a retry after a lost state write), never with LINK_BACK=false.
#[tokio::test]
async fn the_first_publication_notes_the_public_url_on_the_issue_once() {
    let notes_path = "/api/v4/projects/42/issues/1/notes";
    for (link_back, existing, posts) in [
        ("true", json!([]), 1),
        ("true", json!("noted"), 0),
        ("false", json!([]), 0),
    ] {
        let server = stub().await;
        let existing = if existing == "noted" {
            json!([api_note(
                900,
                (99, "openmic-bot"),
                "Published on the status page: https://status.example.com/incidents/1.html",
                "2024-03-01T09:12:01.000Z"
            )])
        } else {
            existing
        };
        Mock::given(method("GET"))
            .and(path(notes_path))
            .respond_with(ResponseTemplate::new(200).set_body_json(existing))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(notes_path))
            .and(header("authorization", format!("Bearer {TOKEN}")))
            .and(body_string_contains(
                "Published+on+the+status+page%3A+https%3A%2F%2Fstatus.example.com%2Fincidents%2F1.html",
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 901})))
            .expect(posts)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let env = api_env(&server);
        let runner = embedded(dir.path(), &with(&env, &[("LINK_BACK", link_back)]));
        let files = event_files("gitlab-story");
        replay_all(&runner, &files).await;
        // Later changes and a republication note nothing more.
        resend_all(&runner, &files[6..14], "again").await;
        assert!(dir.path().join("status/data/incident/1.json").exists());
        let state = json_of(&tree(&dir.path().join("state")), "incidents/42/1.json");
        assert_eq!(
            state["linked_back"].is_string(),
            link_back == "true",
            "LINK_BACK={link_back}: {state}"
        );
        server.verify().await;
    }
}

/// A maintenance whose window cannot be read is said back on its issue, once.
#[tokio::test]
async fn a_maintenance_window_that_cannot_be_read_is_noted_on_the_issue_once() {
    let server = stub().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/1/notes"))
        .and(body_string_contains("cannot+show+this+maintenance"))
        .and(body_string_contains("before+it+starts"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 950})))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = api_env(&server);
    let runner = embedded(dir.path(), &with(&env, &[("PUBLISHERS", "alice")]));
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["object_attributes"]["description"] =
        json!("Planned.\n\nWindow: 2026-12-01T04:00:00Z/2026-12-01T02:00:00Z");
    let labels = json!([{"title": "status-page"}, {"title": "maintenance"}]);
    body["object_attributes"]["labels"] = labels.clone();
    body["labels"] = labels;
    event["body"] = json!(body.to_string());
    let text = event.to_string();
    assert_eq!(send_text(&runner, &text).await.0, 202);
    runner.drain().await;
    // The same delivery again, as a new one: the problem is known, no second note.
    let again = text.replace("d0000001", "e0000001");
    assert_eq!(send_text(&runner, &again).await.0, 202);
    runner.drain().await;
    assert!(!dir.path().join("status/data/incident/1.json").exists());
    let state = json_of(&tree(&dir.path().join("state")), "incidents/42/1.json");
    assert_eq!(state["problems"].as_array().map(Vec::len), Some(1));
    assert_eq!(state["problems"][0]["noted"], true);
    server.verify().await;
}
