//! Metrics in incidents end to end: the "View logs" link of every alert mail, chat
//! message and incident issue (`LOGS_URL_TEMPLATE`, GitLab on a local stub, chat on
//! the catcher), and components whose state on the page follows their alerts
//! (`COMPONENT_STATUS_FROM_ALERTS`): the notifier hands the states to the publisher
//! through its queue, and nothing of the alert but the state reaches the status
//! bucket.

use std::sync::Arc;

use mail_parser::MessageParser;
use openmic_local::Runner;
use openmic_tests::catcher::Catcher;
use openmic_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "glpat-stub-token-never-logged";

const LOGS: &str = "https://logs.example.com/explore?q={job=\"node\"}&host={labels.instance}&from={starts_at}&to={ends_at}";

/// An Alertmanager delivery of one alert, firing or resolved.
fn alertmanager(status: &str, fingerprint: &str, labels: Value) -> String {
    let ends = match status {
        "resolved" => "2024-03-05T10:30:00Z",
        _ => "0001-01-01T00:00:00Z",
    };
    json!({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status,
        "receiver": "openmic", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": [{"status": status, "labels": labels,
            "annotations": {"summary": "Disk full on the primary", "description": "Seen by the test."},
            "startsAt": "2024-03-05T10:00:00Z", "endsAt": ends,
            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up",
            "fingerprint": fingerprint}]})
    .to_string()
}

/// Posts `body` to `/alerts` as delivery `key`, then processes everything queued
/// (the notifier's messages to the publisher too).
async fn fire(runner: &Runner, body: &str, key: &str) {
    let event = json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": key},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
    let (status, reply) = send_text(runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    while runner.pending().await > 0 {
        runner.drain().await;
    }
}

/// Each mail's subject, text and HTML.
fn mails(dir: &std::path::Path) -> Vec<(String, String, String)> {
    tree(&dir.join("outbox"))
        .values()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).expect("a message");
            let part = |t: Option<std::borrow::Cow<str>>| {
                t.map(|t| t.replace("\r\n", "\n")).unwrap_or_default()
            };
            (
                m.subject().unwrap_or_default().to_owned(),
                part(m.body_text(0)),
                part(m.body_html(0)),
            )
        })
        .collect()
}

async fn gitlab() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 9077, "iid": 77, "project_id": 42, "title": "Disk", "description": "", "state": "opened",
            "created_at": "2024-03-05T10:00:01.000Z", "updated_at": "2024-03-05T10:00:01.000Z",
            "labels": ["incident"], "confidential": false, "web_url": "https://gitlab.example.com/ops/api/-/issues/77"})))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn every_notice_and_the_issue_link_the_alerts_logs_for_its_span() {
    let server = gitlab().await;
    let c = Catcher::start().await;
    let channels = json!([
        {"name": "mail", "type": "email", "to": "maintainers"},
        {"name": "slack", "type": "slack", "url": format!("{}/ok/slack", c.base)},
        {"name": "teams", "type": "teams", "url": format!("{}/ok/teams", c.base)},
        {"name": "discord", "type": "discord", "url": format!("{}/ok/discord", c.base)},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(
        dir.path(),
        &[
            ("LOGS_URL_TEMPLATE", LOGS),
            ("ALERT_CHANNELS", &channels.to_string()),
            ("GITLAB_URL", &server.uri()),
            ("GITLAB_TOKEN", TOKEN),
            ("PUBLISHERS", ""),
            ("CREATE_INCIDENTS", "true"),
        ],
    );
    // A label that would end the parameter, add one, or open a fragment if written
    // as it is.
    let labels = json!({"alertname": "DiskFull", "severity": "critical",
        "instance": "db-1:9100&to=now#top <b>"});
    fire(
        &runner,
        &alertmanager("firing", "fp-logs", labels.clone()),
        "l-1",
    )
    .await;
    fire(&runner, &alertmanager("resolved", "fp-logs", labels), "l-2").await;

    let host = "db-1%3A9100%26to%3Dnow%23top%20%3Cb%3E";
    let base = format!(
        "https://logs.example.com/explore?q={{job=%22node%22}}&host={host}&from=2024-03-05T10%3A00%3A00.000Z&to="
    );
    let mails = mails(dir.path());
    assert_eq!(
        mails.len(),
        2,
        "firing and resolved, to both maintainers at once"
    );
    for (subject, text, html) in &mails {
        let line = text
            .lines()
            .find(|l| l.starts_with("View logs:"))
            .unwrap_or_else(|| panic!("a logs line in {subject}:\n{text}"));
        let url = line.trim_start_matches("View logs:").trim();
        assert!(url.starts_with(&base), "{url}");
        if subject.ends_with("(resolved)") {
            // The resolved alert's span ends at its resolution.
            assert!(url.ends_with("&to=2024-03-05T10%3A30%3A00.000Z"), "{url}");
        }
        let href = format!("<a href=\"{}\">View logs</a>", url.replace('&', "&amp;"));
        assert!(html.contains(&href), "{href} in\n{html}");
        let parsed = url::Url::parse(url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs.len(), 4, "{pairs:?}");
        assert_eq!(pairs[1].1, "db-1:9100&to=now#top <b>");
        assert_eq!(parsed.fragment(), None);
    }

    // Chat: a "View logs" button or link in each service's own syntax.
    let slack = &c.at("ok/slack")[0].body;
    let buttons = slack["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("an actions block")["elements"]
        .as_array()
        .unwrap()
        .clone();
    let logs = buttons
        .iter()
        .find(|b| b["text"]["text"] == "View logs")
        .expect("a View logs button");
    assert!(logs["url"].as_str().unwrap().starts_with(&base), "{logs}");
    let teams = c.at("ok/teams")[0].body.to_string();
    assert!(
        teams.contains("\"title\":\"View logs\"") && teams.contains(host),
        "{teams}"
    );
    let discord = c.at("ok/discord")[0].body.to_string();
    assert!(
        discord.contains(&format!("[View logs]({base}")),
        "{discord}"
    );

    // The incident issue: a markdown link after the alert's details.
    let requests = server.received_requests().await.unwrap();
    let created = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/api/v4/projects/42/issues")
        .expect("the issue was opened");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&created.body)
        .into_owned()
        .collect();
    let description = &form
        .iter()
        .find(|(k, _)| k == "description")
        .expect("a description")
        .1;
    assert!(
        description.contains(&format!("\n\n[View logs]({base}")),
        "{description}"
    );
}

/// Every object of the status bucket, as text.
fn public(dir: &std::path::Path) -> Vec<(String, String)> {
    tree(&dir.join("status"))
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

fn component_states(dir: &std::path::Path) -> Vec<(String, String)> {
    let summary = json_of(&tree(&dir.join("status")), "data/summary.json");
    let mut out = vec![(
        String::new(),
        summary["status"].as_str().unwrap().to_owned(),
    )];
    for c in summary["components"].as_array().unwrap() {
        out.push((
            c["name"].as_str().unwrap().to_owned(),
            c["status"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_component_follows_its_alerts_and_only_its_state_is_public() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Arc::new(embedded(
        dir.path(),
        &[
            ("COMPONENT_STATUS_FROM_ALERTS", "true"),
            ("COMPONENTS", "API, Database"),
        ],
    ));
    let secret = [
        "SecretDiskAlert",
        "db-internal-7.corp",
        "fp-secret-1",
        "fp-secret-2",
        "Disk full on the primary",
        "Seen by the test.",
        "payments-db",
    ];
    let critical = json!({"alertname": "SecretDiskAlert", "severity": "critical",
        "component": "Database", "instance": "db-internal-7.corp", "team": "payments-db"});
    let high = json!({"alertname": "SecretDiskAlert", "severity": "high",
        "component": "database", "instance": "db-internal-7.corp"});
    fire(
        &runner,
        &alertmanager("firing", "fp-secret-2", high.clone()),
        "c-1",
    )
    .await;
    assert_eq!(
        component_states(dir.path()),
        pairs(&[
            ("", "partial_outage"),
            ("API", "operational"),
            ("Database", "partial_outage")
        ])
    );
    // The worst firing alert wins.
    fire(
        &runner,
        &alertmanager("firing", "fp-secret-1", critical.clone()),
        "c-2",
    )
    .await;
    assert_eq!(
        component_states(dir.path()),
        pairs(&[
            ("", "major_outage"),
            ("API", "operational"),
            ("Database", "major_outage")
        ])
    );
    for (key, body) in public(dir.path()) {
        for s in secret {
            assert!(!body.contains(s), "{s:?} is public in {key}");
        }
    }
    fire(
        &runner,
        &alertmanager("resolved", "fp-secret-1", critical),
        "c-3",
    )
    .await;
    assert_eq!(
        component_states(dir.path()),
        pairs(&[
            ("", "partial_outage"),
            ("API", "operational"),
            ("Database", "partial_outage")
        ])
    );
    fire(
        &runner,
        &alertmanager("resolved", "fp-secret-2", high),
        "c-4",
    )
    .await;
    assert_eq!(
        component_states(dir.path()),
        pairs(&[
            ("", "operational"),
            ("API", "operational"),
            ("Database", "operational")
        ])
    );
    // The maintainers' alert mail, and nothing else: no subscriber is told.
    let subjects: Vec<String> = mails(dir.path()).into_iter().map(|m| m.0).collect();
    assert!(
        subjects
            .iter()
            .all(|s| s.starts_with("Alert: SecretDiskAlert") || s.starts_with("Alert: Disk full")),
        "{subjects:?}"
    );
    for (key, body) in public(dir.path()) {
        for s in secret {
            assert!(!body.contains(s), "{s:?} is public in {key}");
        }
    }
}

#[tokio::test]
async fn without_the_setting_alerts_leave_the_page_alone() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("COMPONENTS", "API, Database")]);
    let labels = json!({"alertname": "X", "severity": "critical", "component": "Database"});
    fire(&runner, &alertmanager("firing", "fp-off", labels), "o-1").await;
    assert!(
        !tree(&dir.path().join("state")).contains_key("index/component-alerts.json"),
        "the notifier keeps no list"
    );
    assert!(
        !tree(&dir.path().join("status")).contains_key("data/summary.json"),
        "nothing was published"
    );
}

/// A stand-in for other companies' status pages: GitHub's `summary.json` (a real
/// capture, tests/fixtures/statuspage/) and a page that answers garbage, each
/// request counted.
async fn upstream_pages() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::get;
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/statuspage/github-summary.json"),
    )
    .unwrap();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c1, c2) = (count.clone(), count.clone());
    let app = axum::Router::new()
        .route(
            "/github/api/v2/summary.json",
            get(move || {
                c1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = fixture.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        )
        .route(
            "/garbage/api/v2/summary.json",
            get(move || {
                c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { "<html>We'll be right back</html>" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, count)
}

fn upstream_of(dir: &std::path::Path) -> Vec<(String, String)> {
    let summary = json_of(&tree(&dir.join("status")), "data/summary.json");
    summary["upstream"]
        .as_array()
        .unwrap_or_else(|| panic!("no upstream in {summary}"))
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_owned(),
                u["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn upstream_components_are_read_every_five_minutes_and_never_mailed() {
    let (base, count) = upstream_pages().await;
    let sources = format!(
        "GitHub git={base}/github/api/v2/summary.json#Git Operations,\
         GitHub={base}/github/api/v2/summary.json,\
         Gone={base}/garbage/api/v2/summary.json,\
         Down=http://127.0.0.1:9/api/v2/summary.json"
    );
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(SITE_NOW);
    let runner = Runner::embedded_at(
        dir.path(),
        test_config(&[("UPSTREAM_COMPONENTS", &sources), ("COMPONENTS", "API")]),
        clock.clone(),
    )
    .unwrap();
    runner.tick().await.unwrap();
    runner.drain().await;
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(
        upstream_of(dir.path()),
        pairs(&[
            ("GitHub git", "major_outage"),
            ("GitHub", "partial_outage"),
            ("Gone", "unknown"),
            // Nothing listens there: no answer holds up no other page.
            ("Down", "unknown"),
        ])
    );
    // Other companies' trouble is not the service's.
    assert_eq!(
        component_states(dir.path()),
        pairs(&[("", "operational"), ("API", "operational")])
    );
    let index = String::from_utf8(tree(&dir.path().join("status"))["index.html"].clone()).unwrap();
    assert!(
        index.contains("<h2 id=\"upstream-heading\">Upstream services</h2>")
            && index
                .contains("<h3>GitHub git</h3><p class=\"state major_outage\">Major outage</p>"),
        "{index}"
    );
    // Within five minutes no page is read again; after them, every one.
    clock.set("2024-03-07T12:04:59Z");
    runner.tick().await.unwrap();
    runner.drain().await;
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    clock.set("2024-03-07T12:05:00Z");
    runner.tick().await.unwrap();
    runner.drain().await;
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 6);
    assert!(
        tree(&dir.path().join("outbox")).is_empty(),
        "nothing about upstream components is mailed"
    );
}

#[tokio::test]
async fn a_storms_digest_links_each_alerts_logs() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-11-30T10:00:00Z");
    let runner = Runner::embedded_at(
        dir.path(),
        test_config(&[("LOGS_URL_TEMPLATE", LOGS), ("ALERT_DIGEST_AFTER", "1/5m")]),
        clock.clone(),
    )
    .unwrap();
    for i in 0..3 {
        clock.set(&format!("2026-11-30T10:00:0{i}Z"));
        let labels = json!({"alertname": "NodeDown", "severity": "critical",
            "instance": format!("node-{i}:9100")});
        fire(
            &runner,
            &alertmanager("firing", &format!("fp-storm-{i}"), labels),
            &format!("s-{i}"),
        )
        .await;
    }
    clock.set("2026-11-30T10:02:00Z");
    assert_eq!(runner.notifier.tick().await.unwrap().digests, 1);
    let digest = mails(dir.path())
        .into_iter()
        .find(|m| m.0.starts_with("Alert storm"))
        .expect("a digest mail");
    for i in 1..3 {
        let host = format!("host=node-{i}%3A9100&from=");
        let line = digest
            .1
            .lines()
            .find(|l| l.trim_start().starts_with("View logs:") && l.contains(&host))
            .unwrap_or_else(|| panic!("node-{i}'s logs in:\n{}", digest.1));
        let url = line.trim_start().trim_start_matches("View logs:").trim();
        assert!(
            digest.2.contains(&format!(
                "<a href=\"{}\">View logs</a>",
                url.replace('&', "&amp;")
            )),
            "{}",
            digest.2
        );
    }
}

/// A runner with components following their alerts and one confirmed subscriber,
/// with `COMPONENT_ALERTS_NOTIFY` as `notify` says.
async fn subscribed(dir: &std::path::Path, notify: &str) -> Arc<Runner> {
    let runner = Runner::embedded_at(
        dir,
        test_config(&[
            ("COMPONENT_STATUS_FROM_ALERTS", "true"),
            ("COMPONENT_ALERTS_NOTIFY", notify),
            ("COMPONENTS", "API, Database"),
            ("SUBSCRIPTIONS", "on"),
            (
                "SUBSCRIPTION_SECRET",
                "subscription-secret-for-the-tests-0123456789",
            ),
            ("PUBLIC_API_URL", "https://api.status.example.com"),
        ]),
        ManualClock::at("2024-03-05T10:05:00Z"),
    )
    .unwrap();
    confirmed_subscribers(runner.state.as_ref(), "example.com", 1).await;
    Arc::new(runner)
}

/// Fires and resolves a critical alert on the Database component.
async fn fire_and_resolve(runner: &Runner) {
    let labels = json!({"alertname": "SecretDiskAlert", "severity": "critical",
        "component": "Database", "instance": "db-internal-7.corp"});
    fire(
        runner,
        &alertmanager("firing", "fp-notify", labels.clone()),
        "n-1",
    )
    .await;
    fire(
        runner,
        &alertmanager("resolved", "fp-notify", labels),
        "n-2",
    )
    .await;
    while runner.pending().await > 0 {
        runner.drain().await;
    }
}

#[tokio::test]
async fn with_component_alerts_notify_subscribers_are_mailed_the_state_only() {
    let dir = tempfile::tempdir().unwrap();
    let runner = subscribed(dir.path(), "true").await;
    fire_and_resolve(&runner).await;
    let to_reader: Vec<(String, String, String)> = tree(&dir.path().join("outbox"))
        .values()
        .filter_map(|raw| {
            let m = MessageParser::default().parse(raw)?;
            let to = m.to()?.first()?.address()?.to_owned();
            (to == "reader0@example.com").then(|| {
                (
                    m.subject().unwrap_or_default().to_owned(),
                    m.body_text(0).unwrap_or_default().replace("\r\n", "\n"),
                    m.body_html(0).unwrap_or_default().into_owned(),
                )
            })
        })
        .collect();
    assert_eq!(
        to_reader.len(),
        2,
        "the outage and the recovery: {to_reader:?}"
    );
    let subjects: Vec<&str> = to_reader.iter().map(|m| m.0.as_str()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.ends_with("Database: Major outage")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.ends_with("Database: Operational")),
        "{subjects:?}"
    );
    assert!(
        to_reader
            .iter()
            .any(|m| m.1.contains("moved from Operational to Major outage")),
        "{to_reader:?}"
    );
    for (subject, text, html) in &to_reader {
        for s in [
            "SecretDiskAlert",
            "db-internal-7.corp",
            "critical",
            "Disk full on the primary",
            "fp-notify",
        ] {
            assert!(
                !subject.contains(s) && !text.contains(s) && !html.contains(s),
                "{s:?} told to a subscriber"
            );
        }
    }
}

#[tokio::test]
async fn without_component_alerts_notify_no_subscriber_is_mailed() {
    let dir = tempfile::tempdir().unwrap();
    let runner = subscribed(dir.path(), "false").await;
    fire_and_resolve(&runner).await;
    let to_reader = tree(&dir.path().join("outbox"))
        .values()
        .filter(|raw| String::from_utf8_lossy(raw).contains("reader0@example.com"))
        .count();
    assert_eq!(to_reader, 0);
    // The page followed all the same.
    assert_eq!(
        component_states(dir.path()),
        pairs(&[
            ("", "operational"),
            ("API", "operational"),
            ("Database", "operational")
        ])
    );
}
