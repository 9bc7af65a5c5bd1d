//! `openmic-local serve` killed (SIGKILL) while webhooks it accepted wait in its queue:
//! started again on the same data directory, it handles every one of them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "crash-test-webhook-secret-0123456789";
const NOTES: usize = 300;

fn serve(dir: &Path, listen: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_openmic-local"))
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(dir)
        .env("GITLAB_WEBHOOK_SECRET", SECRET)
        .env("ALERT_TOKEN", "crash-test-alert-token-0123456789")
        .env("PUBLISHERS", "alice")
        .env("GITLAB_PROJECT_ID", "42")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("openmic-local starts")
}

async fn queued(client: &reqwest::Client, url: &str) -> Option<u64> {
    let r = client.get(format!("{url}/healthz")).send().await.ok()?;
    r.json::<serde_json::Value>().await.ok()?["queued"].as_u64()
}

async fn until_up(client: &reqwest::Client, url: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while queued(client, url).await.is_none() {
        assert!(
            Instant::now() < until,
            "openmic-local did not answer /healthz"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The story's note hook, as note `n` on one of five incidents.
fn note(n: usize) -> String {
    let event = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/gitlab-story/002-note-by-bob.json"),
    )
    .unwrap();
    let event: serde_json::Value = serde_json::from_str(&event).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let iid = 200 + (n % 5) as u64;
    body["issue"]["iid"] = iid.into();
    body["issue"]["id"] = (9000 + iid).into();
    body["object_attributes"]["id"] = (500_000 + n as u64).into();
    body["object_attributes"]["note"] = format!("Crash note {n}").into();
    body.to_string()
}

/// Note ids in the incidents' state, each as often as it appears.
fn notes_in_state(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir.join("state/incidents"))
        .unwrap()
        .flatten()
    {
        // A write the kill cut short leaves its temporary file (`.tmp-…`), never read
        // (the store removes it at an open a minute later).
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        ids.extend(
            v["notes"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys().cloned()),
        );
    }
    ids.sort();
    ids
}

#[tokio::test]
async fn accepted_webhooks_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");
    let client = reqwest::Client::new();

    let mut first = serve(dir.path(), &listen);
    until_up(&client, &url).await;
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..NOTES {
        let (client, url, body) = (client.clone(), url.clone(), note(n));
        sends.spawn(async move {
            client
                .post(format!("{url}/gitlab"))
                .header("content-type", "application/json")
                .header("x-gitlab-token", SECRET)
                .header("x-gitlab-event", "Note Hook")
                .header("idempotency-key", format!("crash-note-{n}"))
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
    }
    let statuses = sends.join_all().await;
    let waiting = queued(&client, &url).await.unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(202))),
        "every note accepted: {statuses:?}"
    );
    assert!(waiting > 0, "the kill came while accepted notes waited");
    let handled_before = notes_in_state(dir.path()).len();
    assert!(
        handled_before < NOTES,
        "{handled_before} handled before the kill"
    );

    let mut second = serve(dir.path(), &listen);
    until_up(&client, &url).await;
    let until = Instant::now() + Duration::from_secs(60);
    while queued(&client, &url).await != Some(0) {
        assert!(
            Instant::now() < until,
            "the queue did not empty after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    let ids = notes_in_state(dir.path());
    let mut expected: Vec<String> = (0..NOTES).map(|n| (500_000 + n).to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected, "every accepted note handled");
    let dead = std::fs::read_dir(dir.path().join("queue/publish/dead"))
        .unwrap()
        .count();
    assert_eq!(dead, 0, "nothing dead-lettered");
}
