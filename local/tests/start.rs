//! `openmic-local` refuses to start when it could do nothing of its work, naming why,
//! as it does for a missing or invalid variable.

use std::path::Path;
use std::time::Duration;

use openmic_tests::serve::{command, free_listen};

fn start(env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut c = command(
        Path::new(env!("CARGO_BIN_EXE_openmic-local")),
        dir.path(),
        &free_listen(),
    );
    c.env_remove("GITLAB_URL").env_remove("GITLAB_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openmic-local runs");
    // A refusal ends the process at once; one that starts is stopped here.
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn nobody_to_publish_stops_it_at_start_naming_why() {
    let out = start(&[("PUBLISHERS", "")]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it must not start: {text}");
    assert!(
        text.contains("nobody may publish") && text.contains("PUBLISHERS"),
        "{text}"
    );
    // The same settings with a publisher named start and serve.
    let out = start(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listening on"), "{text}");
}

#[test]
fn a_bad_rotation_value_stops_it_naming_the_variable() {
    let out = start(&[("ALERT_TOKEN", "one,two,three")]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("ALERT_TOKEN"), "{text}");
    assert!(!text.contains("three"), "the value is not echoed: {text}");
}

/// [`start`] on a thread of its own, so the stand-in's server goes on answering.
async fn start_apart(env: &[(&str, &str)]) -> std::process::Output {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        start(&pairs)
    })
    .await
    .unwrap()
}

/// A GitLab stand-in that describes the token as GitLab documents it.
async fn gitlab_with_token(scopes: &[&str]) -> wiremock::MockServer {
    use wiremock::matchers::{header, method, path};
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path("/api/v4/personal_access_tokens/self"))
        .and(header("authorization", "Bearer glpat-test-token"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "id": 4, "name": "openmic", "revoked": false, "active": true,
                "scopes": scopes, "user_id": 3, "expires_at": null,
                "created_at": "2026-11-01T10:00:00.000Z"
            })),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_token_is_checked_at_start_and_what_it_cannot_do_is_named() {
    let gitlab = gitlab_with_token(&["read_api"]).await;
    let url = gitlab.uri();
    let env = [
        ("GITLAB_URL", url.as_str()),
        ("GITLAB_TOKEN", "glpat-test-token"),
    ];
    let out = start_apart(&env).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listening on"), "{text}");
    assert!(
        text.contains("lacks the api scope") && text.contains("LINK_BACK"),
        "{text}"
    );
    assert!(
        !text.contains("glpat-test-token"),
        "the token is never shown"
    );

    // Publishing by role with a token that cannot read members: nobody could publish.
    let gitlab = gitlab_with_token(&["read_repository"]).await;
    let url = gitlab.uri();
    let env = [
        ("GITLAB_URL", url.as_str()),
        ("GITLAB_TOKEN", "glpat-test-token"),
        ("PUBLISHERS", ""),
    ];
    let out = start_apart(&env).await;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("cannot read the project's members"), "{text}");
}
