//! Helpers shared by openmic's end-to-end tests: the sample events, a test
//! configuration, a runner on the embedded backends in a temporary directory, and
//! bucket snapshots to compare.

pub mod aws;
pub mod catcher;
pub mod oidc;
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
        // Used once PUBLIC_API_URL turns the alert links on.
        (
            "ALERT_LINK_SECRET",
            "alert-link-secret-for-the-tests-0123456789",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid")
}

/// The time the tests' sites are rendered at: the day after the sample events' last,
/// so their incidents sit at the end of the 90-day history.
pub const SITE_NOW: &str = "2024-03-07T12:00:00Z";

/// A clock at [`SITE_NOW`].
pub fn site_clock() -> std::sync::Arc<ManualClock> {
    ManualClock::at(SITE_NOW)
}

/// A runner on the embedded backends under `dir`, rendering the site as of
/// [`SITE_NOW`], so the same events make the same bytes whenever the tests run.
pub fn embedded(dir: &Path, extra: &[(&str, &str)]) -> Runner {
    let mut runner = Runner::embedded(dir, test_config(extra)).expect("embedded runner starts");
    runner.publisher.clock = site_clock();
    runner
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

/// The ten components of the big site (tests/tests/site.rs, tests/benches/perf.rs).
pub const BIG_COMPONENTS: [&str; 10] = [
    "API", "Web app", "Payments", "Search", "Login", "Mail", "Webhooks", "Uploads", "Reports",
    "Mobile",
];

/// One of the big site's incidents.
pub struct BigIncident {
    pub iid: u64,
    pub title: String,
    pub component: &'static str,
    pub severity: &'static str,
    pub created_at: openmic::time::Timestamp,
    pub closed_at: Option<openmic::time::Timestamp>,
}

/// 45 incidents over the 90 days before `now`, about two days apart, spread over the
/// ten components and the four severities; the newest is still open.
pub fn big_incidents(now: openmic::time::Timestamp) -> Vec<BigIncident> {
    const SEVERITIES: [&str; 4] = ["critical", "high", "medium", "low"];
    (0..45u64)
        .map(|n| {
            let created_at = now - chrono::Duration::hours(2 * 24 * (44 - n as i64) + 5)
                + chrono::Duration::minutes(7 * n as i64);
            BigIncident {
                iid: 100 + n,
                title: format!("Incident {} on {}", n + 1, BIG_COMPONENTS[n as usize % 10]),
                component: BIG_COMPONENTS[n as usize % 10],
                severity: SEVERITIES[n as usize % 4],
                created_at,
                closed_at: (n < 44)
                    .then(|| created_at + chrono::Duration::minutes(40 + 13 * n as i64)),
            }
        })
        .collect()
}

/// The GitLab Issue Hook events (project 42, by alice, a publisher) publishing `i`: its
/// opening, labelled for the page and its component, then its closing if it is closed;
/// built from the story's first event.
pub fn big_incident_events(i: &BigIncident) -> Vec<String> {
    let mut events = vec![big_incident_event(i, None)];
    if let Some(closed) = i.closed_at {
        events.push(big_incident_event(i, Some(closed)));
    }
    events
}

fn big_incident_event(i: &BigIncident, closed_at: Option<openmic::time::Timestamp>) -> String {
    use serde_json::{Value, json};
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let labels: Vec<Value> = [
        "incident".to_owned(),
        "status-page".to_owned(),
        format!("component::{}", i.component),
    ]
    .iter()
    .map(|l| json!({"id": 600, "title": l, "project_id": 42, "type": "ProjectLabel"}))
    .collect();
    let at = |t: &openmic::time::Timestamp| openmic::time::format(t);
    let updated = closed_at.unwrap_or(i.created_at);
    let a = &mut body["object_attributes"];
    a["id"] = json!(1000 + i.iid);
    a["iid"] = json!(i.iid);
    a["title"] = json!(i.title);
    a["description"] = json!(format!("{} is affected.", i.component));
    a["action"] = json!(if closed_at.is_some() { "close" } else { "open" });
    a["state"] = json!(if closed_at.is_some() {
        "closed"
    } else {
        "opened"
    });
    a["created_at"] = json!(at(&i.created_at));
    a["updated_at"] = json!(at(&updated));
    a["closed_at"] = closed_at.as_ref().map_or(Value::Null, |t| json!(at(t)));
    a["labels"] = json!(labels);
    a["severity"] = json!(i.severity);
    body["labels"] = json!(labels);
    event["body"] = json!(body.to_string());
    let key = format!("big-{}-{}", i.iid, updated.timestamp());
    event["headers"]["idempotency-key"] = json!(key);
    event["headers"]["x-gitlab-event-uuid"] = json!(key);
    event.to_string()
}

/// The big site's published index, as the publisher keeps it (for the bench and the
/// weight check, without the runner).
pub fn big_index(now: openmic::time::Timestamp) -> openmic::site::data::PublishedIndex {
    use serde_json::json;
    let mut index = openmic::site::data::PublishedIndex::default();
    for i in big_incidents(now) {
        let at = |t: &openmic::time::Timestamp| openmic::time::format(t);
        let detail = json!({
            "id": i.iid, "status": if i.closed_at.is_some() { "closed" } else { "opened" },
            "title": i.title, "description": format!("<p>{} is affected.</p>", i.component),
            "created_at": at(&i.created_at), "updated_at": at(&i.closed_at.unwrap_or(i.created_at)),
            "closed_at": i.closed_at.as_ref().map(at),
            "links": {"details": format!("data/incident/{}.json", i.iid)},
            "severity": i.severity, "components": [i.component],
            "stage": if i.closed_at.is_some() { "resolved" } else { "identified" },
        });
        let mut detail = detail;
        if i.closed_at.is_none() {
            detail.as_object_mut().unwrap().remove("closed_at");
        }
        let entry = json!({"incident": detail, "updates": [
            {"note": "<p>We are looking into it.</p>", "created_at": at(&i.created_at)}]});
        index.incidents.insert(
            i.iid,
            serde_json::from_value(entry).expect("an index entry"),
        );
    }
    index
}

/// Log lines written while its subscriber is the default, at DEBUG and up.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// A subscriber that writes here (set it with `tracing::subscriber::set_default`
    /// or `with_default`).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .finish()
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("the log buffer")).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the log buffer")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `count` confirmed subscribers `reader<i>@<domain>` (of every component), written
/// straight into the state bucket as this release keeps them (its layout marked, so
/// nothing of an earlier release is looked for); their addresses.
pub async fn confirmed_subscribers(
    state: &dyn openmic::ports::ObjectStore,
    domain: &str,
    count: usize,
) -> Vec<String> {
    use futures_util::StreamExt;
    use openmic::subscriptions::{address::SubscriberId, subscriber};
    let addresses: Vec<String> = (0..count).map(|i| format!("reader{i}@{domain}")).collect();
    futures_util::stream::iter(addresses.clone())
        .for_each_concurrent(32, |address| async move {
            let s = subscriber::Subscriber::confirmed(&address, chrono::Utc::now());
            state
                .put(
                    &subscriber::key(&SubscriberId::of(&address)),
                    serde_json::to_vec(&s).expect("a subscriber as JSON").into(),
                    openmic::ports::PutOptions::private_json(),
                )
                .await
                .expect("the subscriber stored");
        })
        .await;
    openmic::subscriptions::request::mark_layout(state)
        .await
        .expect("the layout marked");
    addresses
}
