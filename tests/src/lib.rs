//! Helpers shared by openmic's end-to-end tests: the sample events, a test
//! configuration, a runner on the embedded backends in a temporary directory, and
//! bucket snapshots to compare.

pub mod aws;
pub mod catcher;
pub mod proxy;
pub mod serve;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use axum::body::to_bytes;
use openmic::config::Config;
use openmic_local::{Runner, api_gateway_request};
use tower::ServiceExt;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";
pub const ALERT_TOKEN: &str = "test-alert-token-0123456789";

/// A client builder for the tests' own HTTP calls, with TLS on ring as openmic's.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A clock a test moves by hand.
pub struct ManualClock(std::sync::Mutex<openmic::time::Timestamp>);

impl ManualClock {
    pub fn at(t: &str) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock(std::sync::Mutex::new(
            openmic::time::parse(t).expect("a time"),
        )))
    }

    pub fn set(&self, t: &str) {
        *self.0.lock().unwrap() = openmic::time::parse(t).expect("a time");
    }
}

impl openmic::clock::Clock for ManualClock {
    fn now(&self) -> openmic::time::Timestamp {
        *self.0.lock().unwrap()
    }
}

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The JSON files of one folder of `events/`, in name order.
pub fn event_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir().join(folder))
        .unwrap_or_else(|e| panic!("events/{folder}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

pub fn event_file(folder: &str, name: &str) -> PathBuf {
    events_dir().join(folder).join(name)
}

/// The settings the sample events were written for, plus `extra`.
pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("GITLAB_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("ALERT_TOKEN", ALERT_TOKEN),
        ("GITLAB_PROJECT_ID", "42"),
        ("PUBLISHERS", "alice"),
        ("MAIL_FROM", "openmic@status.example.com"),
        ("MAINTAINER_EMAILS", "oncall@example.com, lead@example.com"),
        ("STATUS_PAGE_URL", "https://status.example.com"),
        ("GITLAB_URL", "https://gitlab.example.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid")
}

/// A runner on the embedded backends under `dir`.
pub fn embedded(dir: &Path, extra: &[(&str, &str)]) -> Runner {
    Runner::embedded(dir, test_config(extra)).expect("embedded runner starts")
}

/// Replays files in order; returns each file's name and status.
pub async fn replay_all(runner: &Runner, files: &[PathBuf]) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for f in files {
        let status = runner.replay(f).await.unwrap_or_else(|e| panic!("{e}"));
        out.push((
            f.file_name().unwrap().to_string_lossy().into_owned(),
            status,
        ));
    }
    out
}

/// Sends one event file through the intake router; returns status and JSON body.
pub async fn send(runner: &Runner, file: &Path) -> (u16, serde_json::Value) {
    let text = std::fs::read_to_string(file).unwrap();
    send_text(runner, &text).await
}

/// Sends an API Gateway event given as text.
pub async fn send_text(runner: &Runner, text: &str) -> (u16, serde_json::Value) {
    let request = api_gateway_request(text, &runner.config).expect("an API Gateway event");
    let response = runner
        .intake_router()
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {body:?}"));
    (status, json)
}

/// An API Gateway event posting `body` to `/gitlab` with the test secret, as an Issue
/// Hook unless `headers` say otherwise (they are added over the defaults).
pub fn gitlab_event(body: &str, base64: bool, headers: serde_json::Value) -> String {
    use base64::Engine;
    let mut h = serde_json::json!({"x-gitlab-token": WEBHOOK_SECRET, "x-gitlab-event": "Issue Hook", "content-type": "application/json"});
    for (k, v) in headers.as_object().into_iter().flatten() {
        h[k] = v.clone();
    }
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_owned()
    };
    serde_json::json!({"version": "2.0", "rawPath": "/gitlab", "headers": h,
        "requestContext": {"http": {"method": "POST", "path": "/gitlab"}}, "body": body, "isBase64Encoded": base64})
    .to_string()
}

/// An API Gateway event posting `body` to `/alerts` with `Authorization: auth`.
pub fn alerts_event(body: &str, auth: &str) -> String {
    serde_json::json!({"version": "2.0", "rawPath": "/alerts", "headers": {"authorization": auth, "content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false})
    .to_string()
}

/// Every file under `root`, by key.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(key, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A JSON file of a tree.
pub fn json_of(tree: &BTreeMap<String, Vec<u8>>, key: &str) -> serde_json::Value {
    let bytes = tree.get(key).unwrap_or_else(|| {
        panic!(
            "{key} is missing; keys: {:?}",
            tree.keys().collect::<Vec<_>>()
        )
    });
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// An event file with new delivery ids (as if GitLab sent it again as a new delivery),
/// so queue deduplication cannot hide a repeat.
pub fn with_new_delivery_id(file: &Path, suffix: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    if let Some(headers) = event["headers"].as_object_mut() {
        for h in ["idempotency-key", "x-gitlab-event-uuid"] {
            if let Some(v) = headers
                .get(h)
                .and_then(|v| v.as_str())
                .map(|v| format!("{v}-{suffix}"))
            {
                headers.insert(h.into(), serde_json::Value::String(v));
            }
        }
    }
    event.to_string()
}

/// Sends each file as a new delivery and handles it to the end.
pub async fn resend_all(runner: &Runner, files: &[PathBuf], suffix: &str) {
    for f in files {
        let (status, body) = send_text(runner, &with_new_delivery_id(f, suffix)).await;
        assert!(status < 500, "{}: {status} {body}", f.display());
        runner.drain().await;
    }
}

/// The keys of a status tree that hold published data (the JSON and the incident
/// pages), leaving out what is derived for the whole site.
pub fn data_keys(tree: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    tree.keys()
        .map(String::as_str)
        .filter(|k| {
            (k.starts_with("data/") && *k != "data/summary.json") || k.starts_with("incidents/")
        })
        .collect()
}
