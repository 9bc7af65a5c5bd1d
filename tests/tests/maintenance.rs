//! Scheduled maintenance, on a clock the test moves: announced two days ahead, started
//! and completed by the tick, an alert of its component held through the window and
//! mailed once at its end, an alert of another component mailed at once. Replayed
//! again, or out of order, the story leaves the same result.

use std::collections::BTreeMap;
use std::path::Path;

use openmic_local::Runner;
use openmic_tests::*;
use serde_json::{Value, json};

const WINDOW: &str = "2026-12-01T02:00:00Z/PT2H";

/// A GitLab event for the maintenance issue (iid 9, project 42), built from the story's
/// first event: `n` orders the deliveries, `at` is GitLab's updated_at.
fn maintenance_event(n: u32, action: &str, description: &str, labels: &[&str], at: &str) -> String {
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let labels: Vec<Value> = labels
        .iter()
        .map(|l| json!({"id": 600, "title": l, "project_id": 42, "type": "ProjectLabel"}))
        .collect();
    let a = &mut body["object_attributes"];
    a["id"] = json!(1009);
    a["iid"] = json!(9);
    a["title"] = json!("Database upgrade");
    a["description"] = json!(description);
    a["action"] = json!(action);
    a["created_at"] = json!("2026-11-29T02:00:00Z");
    a["updated_at"] = json!(at);
    a["labels"] = json!(labels);
    a["severity"] = json!("unknown");
    body["labels"] = json!(labels);
    event["body"] = json!(body.to_string());
    event["headers"]["idempotency-key"] = json!(format!("maintenance-{n}"));
    event["headers"]["x-gitlab-event-uuid"] = json!(format!("maintenance-{n}"));
    event.to_string()
}

/// An Alertmanager alert of `component` firing.
fn alert(component: &str, n: u32) -> String {
    let body = json!({"version": "4", "status": "firing", "receiver": "openmic", "groupKey": "{}",
        "alerts": [{"status": "firing", "labels": {"alertname": format!("{component} latency"),
            "component": component, "severity": "critical"},
            "annotations": {"summary": format!("{component} is slow")},
            "startsAt": "2026-12-01T02:10:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": format!("fp-{component}")}]});
    let mut event: Value = serde_json::from_str(&alerts_event(
        &body.to_string(),
        &format!("Bearer {ALERT_TOKEN}"),
    ))
    .unwrap();
    event["headers"]["idempotency-key"] = json!(format!("alert-{component}-{n}"));
    event.to_string()
}

fn opened() -> String {
    maintenance_event(
        1,
        "open",
        &format!("We upgrade the database to 17.\n\nWindow: {WINDOW}"),
        &["maintenance", "status-page", "component::Database"],
        "2026-11-29T02:00:00Z",
    )
}

fn edited() -> String {
    maintenance_event(
        2,
        "update",
        &format!("We upgrade the database to 17; writes pause for a minute.\n\nWindow: {WINDOW}"),
        &["maintenance", "status-page", "component::Database"],
        "2026-11-30T09:00:00Z",
    )
}

async fn send(runner: &Runner, event: &str) -> u16 {
    let (status, body) = send_text(runner, event).await;
    assert!(status < 300, "{status} {body}");
    runner.drain().await;
    status
}

fn outbox(dir: &Path) -> Vec<String> {
    tree(&dir.join("outbox"))
        .into_values()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .collect()
}

/// The index page, the feed and the database component's state in the summary.
fn page(dir: &Path) -> (String, String, Value) {
    let status = tree(&dir.join("status"));
    let text = |k: &str| String::from_utf8_lossy(&status[k]).into_owned();
    let summary = json_of(&status, "data/summary.json");
    let db = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Database")
        .cloned()
        .unwrap_or(Value::Null);
    (text("index.html"), text("feed.atom"), db["status"].clone())
}

fn detail(dir: &Path) -> Value {
    json_of(&tree(&dir.join("status")), "data/incident/9.json")
}

/// The story up to the end of the window; returns the data directory's public files and
/// the mails, for comparison.
async fn story(dir: &Path, gitlab_order: &[String]) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let clock = ManualClock::at("2026-11-29T02:05:00Z");
    let runner = Runner::embedded_at(dir, test_config(&[]), clock.clone()).unwrap();
    for e in gitlab_order {
        send(&runner, e).await;
    }
    runner.tick().await.unwrap();
    // Announced two days ahead.
    let d = detail(dir);
    assert_eq!(d["kind"], "maintenance");
    assert_eq!(d["stage"], "scheduled");
    assert_eq!(
        d["window"],
        json!({"starts_at": "2026-12-01T02:00:00.000Z", "ends_at": "2026-12-01T04:00:00.000Z"})
    );
    assert_eq!(d["components"], json!(["Database"]));
    let list = json_of(&tree(&dir.join("status")), "data/list.json");
    assert_eq!(
        list["incidents"][0]["stage"], "scheduled",
        "listed like any incident"
    );
    let (index, feed, db) = page(dir);
    let upcoming = &index[index.find("id=\"maintenance\"").unwrap()..];
    assert!(upcoming.contains("Scheduled maintenance"), "{index}");
    assert!(upcoming.contains("Database upgrade"), "{index}");
    assert!(!index.contains("Maintenance in progress"), "{index}");
    assert!(feed.contains("<title type=\"html\">Database upgrade</title>"));
    assert!(!feed.contains("Maintenance started"), "{feed}");
    assert_eq!(db, "operational", "not under maintenance ahead of time");

    // The window starts: the tick moves it on.
    clock.set("2026-12-01T02:00:30Z");
    runner.tick().await.unwrap();
    assert_eq!(detail(dir)["stage"], "in_progress");
    let (index, feed, db) = page(dir);
    assert!(
        index
            .contains("Maintenance in progress: <a href=\"incidents/9.html\">Database upgrade</a>"),
        "{index}"
    );
    assert!(
        feed.contains("Maintenance started: Database upgrade"),
        "{feed}"
    );
    assert_eq!(db, "maintenance", "under maintenance, not an outage");
    // An alert of its component: held, no mail.
    clock.set("2026-12-01T02:10:00Z");
    send(&runner, &alert("database", 1)).await;
    assert_eq!(outbox(dir).len(), 0, "held by the maintenance");
    let state = tree(&dir.join("state"));
    let muted = json_of(&state, "index/muted-alerts.json");
    assert_eq!(muted["alerts"].as_array().map(Vec::len), Some(1));
    // An alert of another component: mailed at once.
    send(&runner, &alert("web", 1)).await;
    let mails = outbox(dir);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("web is slow"));
    // The held alert repeats in the window: still nothing.
    clock.set("2026-12-01T03:10:00Z");
    send(&runner, &alert("database", 2)).await;
    assert_eq!(outbox(dir).len(), 1);

    // The window ends with the alert still firing: mailed once, saying so.
    clock.set("2026-12-01T04:00:30Z");
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    assert_eq!(detail(dir)["stage"], "completed");
    let (index, feed, db) = page(dir);
    assert!(!index.contains("Maintenance in progress"), "{index}");
    assert!(
        feed.contains("Maintenance completed: Database upgrade"),
        "{feed}"
    );
    assert_eq!(db, "operational");
    let mails = outbox(dir);
    assert_eq!(mails.len(), 2, "the held alert, once");
    let held = mails
        .iter()
        .find(|m| m.contains("database is slow"))
        .unwrap();
    assert!(held.contains("fired during the maintenance"), "{held}");
    assert!(held.contains("Database upgrade"), "{held}");
    let state = tree(&dir.join("state"));
    assert_eq!(
        json_of(&state, "index/muted-alerts.json")["alerts"],
        json!([])
    );
    (tree(&dir.join("status")), mails)
}

#[tokio::test]
async fn a_maintenance_from_announcement_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let (status, mails) = story(dir.path(), &[opened(), edited()]).await;
    let d = json_of(&status, "data/incident/9.json");
    assert!(d["description"].as_str().unwrap().contains("writes pause"));
    // Replayed as new deliveries: nothing changes, nobody is mailed again.
    let clock = ManualClock::at("2026-12-01T04:05:00Z");
    let runner = Runner::embedded_at(dir.path(), test_config(&[]), clock).unwrap();
    for (n, e) in [opened(), edited()].iter().enumerate() {
        let again = e.replace("maintenance-", &format!("again-{n}-"));
        send(&runner, &again).await;
    }
    runner.tick().await.unwrap();
    assert_eq!(
        json_of(&tree(&dir.path().join("status")), "data/incident/9.json"),
        d
    );
    assert_eq!(outbox(dir.path()).len(), mails.len());

    // Out of order (the edit before the opening): the same public data.
    let other = tempfile::tempdir().unwrap();
    let (status2, mails2) = story(other.path(), &[edited(), opened()]).await;
    assert_eq!(json_of(&status2, "data/incident/9.json"), d);
    assert_eq!(
        json_of(&status2, "data/list.json"),
        json_of(&status, "data/list.json")
    );
    assert_eq!(mails2.len(), mails.len());
}

#[tokio::test]
async fn closing_early_completes_and_reopening_restores() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-12-01T02:30:00Z");
    let runner = Runner::embedded_at(dir.path(), test_config(&[]), clock.clone()).unwrap();
    send(&runner, &opened()).await;
    assert_eq!(detail(dir.path())["stage"], "in_progress");
    let labels = ["maintenance", "status-page", "component::Database"];
    let body = format!("We upgrade the database to 17.\n\nWindow: {WINDOW}");
    let closed = maintenance_event(3, "close", &body, &labels, "2026-12-01T02:40:00Z");
    let closed: Value = {
        let mut e: Value = serde_json::from_str(&closed).unwrap();
        let mut b: Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
        b["object_attributes"]["state"] = json!("closed");
        e["body"] = json!(b.to_string());
        e
    };
    send(&runner, &closed.to_string()).await;
    assert_eq!(detail(dir.path())["stage"], "completed", "closed early");
    let reopened = maintenance_event(4, "reopen", &body, &labels, "2026-12-01T02:50:00Z");
    send(&runner, &reopened).await;
    assert_eq!(
        detail(dir.path())["stage"],
        "in_progress",
        "its window again"
    );
}

#[tokio::test]
async fn a_window_or_mute_line_that_cannot_be_read_is_shown_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-29T02:05:00Z");
    let runner = Runner::embedded_at(dir.path(), test_config(&[]), clock).unwrap();
    let labels = ["maintenance", "status-page", "component::Database"];
    let bad_mute = format!("{WINDOW}\nMute: alertname=~\"(Disk\"");
    for (n, (window, says)) in [
        (
            "2026-12-01T04:00:00Z/2026-12-01T02:00:00Z",
            "before it starts",
        ),
        ("2026-12-01T02:00:00Z", "has no end"),
        ("2026-12-01T02:00:00Z/P400D", "400 days"),
        ("next tuesday/PT2H", "not a date"),
        (bad_mute.as_str(), "not a list of Alertmanager matchers"),
    ]
    .iter()
    .enumerate()
    {
        // The first one opens the issue, published; the others edit it.
        let (action, at) = match n {
            0 => ("open", "2026-11-29T02:00:00Z".to_owned()),
            _ => ("update", format!("2026-11-29T03:0{n}:00Z")),
        };
        let e = maintenance_event(
            10 + n as u32,
            action,
            &format!("Planned.\n\nWindow: {window}"),
            &labels,
            &at,
        );
        send(&runner, &e).await;
        let status = tree(&dir.path().join("status"));
        assert!(!status.contains_key("data/incident/9.json"), "{window}");
        let list = json_of(&status, "data/list.json");
        assert_eq!(list["incidents"], json!([]), "{window}");
        let state = json_of(&tree(&dir.path().join("state")), "incidents/42/9.json");
        let last = state["problems"].as_array().unwrap().last().unwrap()["text"].to_string();
        assert!(last.contains(says), "{window}: {last}");
    }
    // Fixed: shown.
    let fixed = maintenance_event(
        20,
        "update",
        &format!("Planned.\n\nWindow: {WINDOW}"),
        &labels,
        "2026-11-29T04:00:00Z",
    );
    send(&runner, &fixed).await;
    assert_eq!(detail(dir.path())["stage"], "scheduled");
}

#[tokio::test]
async fn a_held_alert_reaches_no_channel_in_the_window_and_each_once_at_its_end() {
    let chat = openmic_tests::catcher::Catcher::start().await;
    let channels = json!([
        {"name": "mail", "type": "email", "to": "maintainers"},
        {"name": "ops", "type": "slack", "url": format!("{}/ok/slack", chat.base)},
    ])
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-29T02:05:00Z");
    let config = test_config(&[("ALERT_CHANNELS", channels.as_str())]);
    let runner = Runner::embedded_at(dir.path(), config, clock.clone()).unwrap();
    send(&runner, &opened()).await;
    clock.set("2026-12-01T02:00:30Z");
    runner.tick().await.unwrap();
    clock.set("2026-12-01T02:10:00Z");
    send(&runner, &alert("database", 1)).await;
    clock.set("2026-12-01T03:10:00Z");
    send(&runner, &alert("database", 2)).await;
    assert_eq!(chat.at("ok/slack").len(), 0, "held: no chat message");
    assert_eq!(outbox(dir.path()).len(), 0, "held: no mail");

    clock.set("2026-12-01T04:00:30Z");
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    let slack = chat.at("ok/slack");
    assert_eq!(slack.len(), 1, "the held alert, once, to the chat channel");
    let said = slack[0].body.to_string();
    assert!(
        said.contains("Fired during maintenance") && said.contains("Database upgrade"),
        "{said}"
    );
    let mails = outbox(dir.path());
    assert_eq!(mails.len(), 1, "and once by mail");
    assert!(mails[0].contains("fired during the maintenance"));
}

/// Runs tests/browser/maintenance.mjs against the site at one stage.
async fn in_the_browser(runner: &std::sync::Arc<Runner>, stage: &str) {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = runner.app();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("maintenance.mjs"))
        .arg(&url)
        .arg(stage)
        .output()
        .await
        .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{stage}: browser checks failed:\n{stdout}"
    );
    assert_eq!(stdout.matches("ok - ").count(), 6, "{stdout}");
}

#[tokio::test]
async fn upcoming_in_progress_and_completed_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-29T02:05:00Z");
    let runner = std::sync::Arc::new(
        Runner::embedded_at(dir.path(), test_config(&[]), clock.clone()).unwrap(),
    );
    send(&runner, &opened()).await;
    in_the_browser(&runner, "scheduled").await;
    clock.set("2026-12-01T02:00:30Z");
    runner.tick().await.unwrap();
    in_the_browser(&runner, "in_progress").await;
    clock.set("2026-12-01T04:00:30Z");
    runner.tick().await.unwrap();
    in_the_browser(&runner, "completed").await;
}

/// The subjects and texts of the mails to `to` in the outbox, oldest first.
fn mails_to(dir: &Path, to: &str) -> Vec<(String, String)> {
    tree(&dir.join("outbox"))
        .into_values()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            let addressee = m.to()?.first()?.address()?.to_owned();
            (addressee == to).then(|| {
                (
                    m.subject().unwrap_or_default().to_owned(),
                    m.body_text(0).unwrap_or_default().replace("\r\n", "\n"),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn subscribers_are_told_of_the_announcement_the_start_and_the_completion() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-29T01:00:00Z");
    let config = test_config(&[
        ("SUBSCRIPTIONS", "on"),
        (
            "SUBSCRIPTION_SECRET",
            "subscription-secret-for-the-tests-0123456789",
        ),
        ("PUBLIC_API_URL", &base),
        ("STATUS_PAGE_URL", &base),
    ]);
    let runner =
        std::sync::Arc::new(Runner::embedded_at(dir.path(), config, clock.clone()).unwrap());
    let app = runner
        .app()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = http().build().unwrap();
    let r = http
        .post(format!("{base}/subscribe"))
        .header("accept", "application/json")
        .form(&[("email", "reader@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The confirmation leaves through the updates queue.
    runner.drain().await;
    let reader = "reader@example.com";
    let confirmation = &mails_to(dir.path(), reader)[0].1;
    let at = confirmation
        .find(&format!("{base}/subscribe/confirm?token="))
        .unwrap();
    let confirm: String = confirmation[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert_eq!(http.post(&confirm).send().await.unwrap().status(), 200);
    let confirmed = mails_to(dir.path(), reader).len();

    clock.set("2026-11-29T02:05:00Z");
    send(&runner, &opened()).await;
    clock.set("2026-12-01T02:00:30Z");
    runner.tick().await.unwrap();
    runner.drain().await;
    clock.set("2026-12-01T04:00:30Z");
    runner.tick().await.unwrap();
    runner.drain().await;
    // Ticks and the same events again tell no one twice.
    runner.tick().await.unwrap();
    send(&runner, &opened().replace("maintenance-1", "again-1")).await;
    server.abort();
    let mails = mails_to(dir.path(), reader);
    let subjects: Vec<&str> = mails[confirmed..].iter().map(|(s, _)| s.as_str()).collect();
    // The outbox's names sort by time sent.
    assert_eq!(
        subjects,
        [
            "[Service status] Scheduled maintenance: Database upgrade",
            "[Service status] Maintenance started: Database upgrade",
            "[Service status] Maintenance completed: Database upgrade",
        ],
    );
    assert!(
        mails[confirmed]
            .1
            .contains("Planned from 1 Dec 2026, 02:00 UTC to 1 Dec 2026, 04:00 UTC"),
        "{}",
        mails[confirmed].1
    );
}

/// With `CREATE_INCIDENTS`, an alert the maintenance holds opens no GitLab incident issue
/// in the window, while an alert of another component opens one at once; the held alert,
/// still firing when the window ends, opens its issue then, once.
#[tokio::test]
async fn a_held_alert_opens_no_incident_issue_until_the_window_ends() {
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-29T02:05:00Z");
    let runner = Runner::embedded_at(dir.path(), test_config(&[]), clock.clone()).unwrap();
    send(&runner, &opened()).await;
    runner.tick().await.unwrap();

    // From here on the runner has GitLab's API and opens incident issues for alerts.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    for (component, iid) in [("web", 81), ("database", 82)] {
        Mock::given(method("POST"))
            .and(path("/api/v4/projects/42/issues"))
            .and(body_string_contains(format!("{component}+is+slow")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": 9000 + iid, "iid": iid, "project_id": 42, "title": format!("{component} is slow"),
                "description": "", "state": "opened", "created_at": "2026-12-01T02:10:00.000Z",
                "updated_at": "2026-12-01T02:10:00.000Z", "labels": ["incident"], "confidential": false,
                "web_url": format!("https://gitlab.example.com/ops/api/-/issues/{iid}")})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let uri = server.uri();
    let config = test_config(&[
        ("GITLAB_URL", &uri),
        ("GITLAB_TOKEN", "glpat-stub-token"),
        ("CREATE_INCIDENTS", "true"),
        ("LINK_BACK", "false"),
    ]);
    clock.set("2026-12-01T02:10:00Z");
    let runner = Runner::embedded_at(dir.path(), config, clock.clone()).unwrap();
    runner.tick().await.unwrap();
    assert_eq!(detail(dir.path())["stage"], "in_progress");
    let opened_issues = || async {
        server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            // Issues opened (the timeline events of each are not issues).
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/issues"))
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    };
    send(&runner, &alert("database", 1)).await;
    assert_eq!(
        opened_issues().await,
        Vec::<String>::new(),
        "held: no issue"
    );
    send(&runner, &alert("web", 1)).await;
    let posted = opened_issues().await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(posted[0].contains("web+is+slow"), "{posted:?}");

    clock.set("2026-12-01T04:00:30Z");
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    let posted = opened_issues().await;
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert!(posted[1].contains("database+is+slow"), "{posted:?}");
    server.verify().await;
}

/// `event` (a [`maintenance_event`]) made by `user` (`id`), changing the description.
fn edited_by(event: &str, user: &str, id: u64) -> String {
    let mut event: Value = serde_json::from_str(event).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["user"] = json!({"id": id, "name": user, "username": user, "email": "[REDACTED]"});
    let description = body["object_attributes"]["description"].clone();
    body["changes"]["description"] = json!({"previous": "", "current": description});
    event["body"] = json!(body.to_string());
    event.to_string()
}

/// Only publishers decide what alerts do. alice (in `PUBLISHERS`) publishes a maintenance
/// of the database for two hours; mallory, who may edit the issue but not publish,
/// widens it to every alert for 30 days. A critical alert of another component fires in
/// the window and is mailed; the issue gets one note saying the change waits for a
/// publisher, however often mallory edits and GitLab redelivers. alice's own edit then
/// takes effect (the maintainers are told once that it mutes more), and holds a new
/// alert it names; her narrowing lets that alert go at the next tick, mailed once.
/// Every hook again, as new deliveries, changes nothing more.
#[tokio::test]
async fn only_a_publishers_change_decides_what_alerts_do() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let notes = "/api/v4/projects/42/issues/9/notes";
    Mock::given(method("POST"))
        .and(path(notes))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 500, "body": "noted"})))
        .mount(&server)
        .await;
    let uri = server.uri();
    let config = test_config(&[
        ("GITLAB_URL", &uri),
        ("GITLAB_TOKEN", "glpat-stub-token"),
        ("PUBLISHERS", "alice"),
        ("LINK_BACK", "false"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-29T02:05:00Z");
    let runner = Runner::embedded_at(dir.path(), config, clock.clone()).unwrap();
    let labels = ["maintenance", "status-page", "component::Database"];
    let state = |key: &str| json_of(&tree(&dir.path().join("state")), key);
    let posted = || async {
        server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == notes)
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    };
    let mails = || outbox(dir.path());

    // alice publishes: the database, two hours.
    let published = opened();
    send(&runner, &published).await;
    // mallory widens it: every alert, 30 days; then adds a component; GitLab
    // redelivers the first edit.
    let wide = "Window: 2026-12-01T02:00:00Z/P30D\nMute: alertname=~\".*\"";
    let widened = edited_by(
        &maintenance_event(21, "update", wide, &labels, "2026-11-29T03:00:00Z"),
        "mallory",
        66,
    );
    let more_labels = [
        "maintenance",
        "status-page",
        "component::Database",
        "component::Web",
    ];
    let relabelled = maintenance_event(22, "update", wide, &more_labels, "2026-11-29T03:10:00Z");
    let relabelled = edited_by(&relabelled, "mallory", 66);
    let mut hooks = vec![published, widened.clone(), relabelled];
    for e in &hooks[1..] {
        send(&runner, e).await;
    }
    send(
        &runner,
        &widened.replace("maintenance-21", "redelivered-21"),
    )
    .await;
    let muting = &state("index/maintenance.json")["maintenances"][0];
    assert_eq!(muting["window"]["ends_at"], "2026-12-01T04:00:00.000Z");
    assert_eq!(muting["components"], json!(["Database"]));
    assert!(muting.get("mute").is_none(), "{muting}");
    assert_eq!(muting["set_by"]["by"], "alice");
    let problems = state("incidents/42/9.json")["problems"].clone();
    assert_eq!(problems.as_array().map(Vec::len), Some(1), "{problems}");
    assert!(
        problems[0]["text"]
            .as_str()
            .unwrap()
            .contains("waits for a publisher")
    );
    assert_eq!(problems[0]["noted"], true);
    let said = posted().await;
    assert_eq!(said.len(), 1, "one note: {said:?}");
    assert!(said[0].contains("waits+for+a+publisher"), "{said:?}");

    // In the window, a critical alert of another component: mailed, as if mallory had
    // changed nothing.
    clock.set("2026-12-01T02:00:30Z");
    runner.tick().await.unwrap();
    clock.set("2026-12-01T02:10:00Z");
    send(&runner, &alert("web", 1)).await;
    let sent = mails();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("web is slow") && sent[0].contains("critical"));

    // alice edits: a longer window and a Mute line naming the cache. It takes effect,
    // and the maintainers are told once that it mutes more.
    clock.set("2026-12-01T02:15:00Z");
    let hers = "We upgrade the database to 17.\n\nWindow: 2026-12-01T02:00:00Z/PT4H\nMute: alertname=~\"cache.*\"";
    let taken = edited_by(
        &maintenance_event(23, "update", hers, &labels, "2026-12-01T02:15:00Z"),
        "alice",
        10,
    );
    send(&runner, &taken).await;
    hooks.push(taken);
    let muting = &state("index/maintenance.json")["maintenances"][0];
    assert_eq!(muting["window"]["ends_at"], "2026-12-01T06:00:00.000Z");
    assert_eq!(muting["mute"], "alertname=~\"cache.*\"");
    assert_eq!(muting["widened"], json!(["the window", "the `Mute:` line"]));
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    let told: Vec<String> = mails()
        .into_iter()
        .filter(|m| m.contains("now mutes more alerts"))
        .collect();
    assert_eq!(told.len(), 2, "once to each maintainer");
    assert!(
        told[0].contains("alice changed the maintenance"),
        "{}",
        told[0]
    );
    assert_eq!(mails().len(), 3);
    // An alert it names is held now.
    clock.set("2026-12-01T02:20:00Z");
    send(&runner, &alert("cache", 1)).await;
    assert_eq!(mails().len(), 3, "held");
    assert_eq!(
        state("index/muted-alerts.json")["alerts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // alice narrows the Mute line: the held alert goes at the next tick, not at 06:00,
    // mailed once.
    clock.set("2026-12-01T02:30:00Z");
    let narrower = "We upgrade the database to 17.\n\nWindow: 2026-12-01T02:00:00Z/PT4H\nMute: alertname=~\"cache.*\", env=\"prod\"";
    let narrowed = edited_by(
        &maintenance_event(24, "update", narrower, &labels, "2026-12-01T02:30:00Z"),
        "alice",
        10,
    );
    send(&runner, &narrowed).await;
    hooks.push(narrowed);
    runner.tick().await.unwrap();
    let sent = mails();
    assert_eq!(sent.len(), 4, "the held alert, at once");
    let released = sent
        .iter()
        .filter(|m| m.contains("cache is slow"))
        .collect::<Vec<_>>();
    assert_eq!(released.len(), 1);
    assert!(
        released[0].contains("fired during the maintenance"),
        "{}",
        released[0]
    );
    assert_eq!(state("index/muted-alerts.json")["alerts"], json!([]));
    assert_eq!(
        state("index/maintenance.json")["maintenances"][0]["widened"],
        Value::Null,
        "a narrowing widens nothing"
    );

    // Every hook again, as new deliveries, and more ticks: nothing more.
    let before = state("index/maintenance.json");
    for (n, e) in hooks.iter().enumerate() {
        let again = e
            .replace("\"maintenance-", &format!("\"again-{n}-"))
            .replace("\"redelivered-", &format!("\"again-r{n}-"));
        send(&runner, &again).await;
    }
    clock.set("2026-12-01T02:40:00Z");
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    assert_eq!(state("index/maintenance.json"), before);
    assert_eq!(mails().len(), 4);
    assert_eq!(posted().await.len(), 1, "still one note");
}
