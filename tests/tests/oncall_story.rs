//! On call end to end, on a clock the test moves: an alert fires; alice (on call in
//! `primary`) is paged by mail and by SMS (moto's SNS records each message) at once;
//! nobody answers; at 10 minutes bob (`secondary`) is paged; alice acknowledges from
//! her mail's link at 12 minutes; nothing more is sent, however often the tick runs,
//! and the GitLab stub's incident issue holds one note per page and one for the
//! acknowledgement, and its GitLab timeline (GraphQL's `timelineEventCreate`) one event
//! for each thing openmic did: the alert fired, each step, each page, the
//! acknowledgement, the resolution; a timeline write GitLab fails for a passing reason
//! is written at the next tick, nothing written twice. Replaying the alert or the tick
//! sends nothing more and writes nothing more. The on-call
//! file comes from a GitLab repository (the stub serves it): a bad one pushed changes
//! nothing and is told to the maintainers once; a good one after it takes effect. And
//! each person's calendar feed, through a signed link, parses as iCalendar and holds
//! exactly their shifts. The call link of the alert's incident reaches every page
//! (mail on SES, SMS on SNS, push, chat) and never the status bucket.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::http::Request;
use mail_parser::MessageParser;
use openmic::oncall::OnCall;
use openmic_local::Runner;
use openmic_tests::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{body_string_contains, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "glpat-stub-token-never-logged";
const API: &str = "http://openmic.test";
const SOURCE: &str = "ops/oncall:oncall.yaml@main";

/// The on-call file: alice then bob, a critical alert pages `primary` at once and
/// `secondary` after 10 minutes, and the steps run once more after that.
fn oncall_file(phone: &str) -> String {
    format!(
        r#"people:
  alice: {{gitlab: alice, email: alice@example.com, sms: "{phone}", calendar: first}}
  bob: {{gitlab: bob, email: bob@example.com}}
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - {{participants: [alice], rotation: 1w, handoff: "2026-01-05T09:00"}}
  secondary:
    time_zone: America/New_York
    layers:
      - {{participants: [bob], rotation: 1w, handoff: "2026-01-05T09:00"}}
policies:
  critical:
    match: 'severity="critical"'
    repeat: 1
    steps:
      - {{after: 0m, notify: ["schedule:primary"]}}
      - {{after: 10m, notify: ["schedule:secondary"]}}
"#
    )
}

/// The GitLab stub: the alert's incident issue (77 of project 42, global id 9077), its
/// notes and its timeline (the first event about bob answered with what is no
/// GraphQL answer, a passing failure), and the repository file `oncall.yaml` of
/// `ops/oncall` at `main`, whatever `file` holds.
async fn gitlab(file: Arc<Mutex<String>>) -> MockServer {
    gitlab_with(file, "").await
}

/// The same, the incident issue's description `description`.
async fn gitlab_with(file: Arc<Mutex<String>>, description: &str) -> MockServer {
    let server = MockServer::start().await;
    let failed_once = AtomicBool::new(false);
    Mock::given(method("POST"))
        .and(path("/api/graphql"))
        .and(body_string_contains("timelineEventCreate"))
        .respond_with(move |r: &wiremock::Request| {
            let about_bob = String::from_utf8_lossy(&r.body).contains("`bob`");
            if about_bob && !failed_once.swap(true, Ordering::SeqCst) {
                return ResponseTemplate::new(200).set_body_string("<html>busy</html>");
            }
            ResponseTemplate::new(200).set_body_json(json!({"data": {"timelineEventCreate": {
                "timelineEvent": {"id": "gid://gitlab/IncidentManagement::TimelineEvent/1"},
                "errors": []}}}))
        })
        .mount(&server)
        .await;
    let issue = json!({"id": 9077, "iid": 77, "project_id": 42, "title": "Down", "description": description,
        "state": "opened", "created_at": "2026-12-07T10:00:01.000Z", "updated_at": "2026-12-07T10:00:01.000Z",
        "labels": ["incident"], "confidential": false, "web_url": "https://gitlab.example.com/ops/api/-/issues/77"});
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/77/notes"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 1, "body": "",
            "system": false, "author": {"id": 1, "username": "openmic-bot"},
            "created_at": "2026-12-07T10:00:00.000Z", "updated_at": "2026-12-07T10:00:00.000Z"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/api/v4/projects/ops%2Foncall/repository/files/oncall\.yaml/raw$",
        ))
        .and(query_param("ref", "main"))
        .respond_with(move |_: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_string(file.lock().unwrap().clone())
        })
        .mount(&server)
        .await;
    server
}

/// The notes added to issue 77, in order.
async fn notes(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.method.as_str() == "POST" && r.url.path() == "/api/v4/projects/42/issues/77/notes"
        })
        .map(|r| {
            url::form_urlencoded::parse(&r.body)
                .find(|(k, _)| k == "body")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// The timeline events asked of the stub, in order: (issue, minutes after `t0`,
/// note), and whether GitLab took each (the failed one is marked).
async fn timeline(
    server: &MockServer,
    t0: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, i64, String)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("timelineEventCreate"))
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let input = &body["variables"]["input"];
            let at = openmic::time::parse(input["occurredAt"].as_str().unwrap()).unwrap();
            (
                input["incidentId"].as_str().unwrap().to_owned(),
                (at - t0).num_minutes(),
                input["note"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// How often the stub served the on-call file.
async fn file_reads(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().contains("/repository/files/"))
        .count()
}

/// A mail as its reader sees it.
#[derive(Debug, Clone)]
struct Seen {
    to: String,
    subject: String,
    text: String,
}

fn outbox(dir: &std::path::Path) -> Vec<Seen> {
    tree(&dir.join("outbox"))
        .values()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).expect("a message");
            Seen {
                to: m
                    .to()
                    .and_then(|a| a.first().and_then(|x| x.address().map(str::to_owned)))
                    .unwrap_or_default(),
                subject: m.subject().unwrap_or_default().to_owned(),
                text: m
                    .body_text(0)
                    .map(|t| t.replace("\r\n", "\n"))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The pages mailed so far: (to, subject).
fn pages(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = outbox(dir)
        .into_iter()
        .filter(|m| m.subject.starts_with("Page, "))
        .map(|m| (m.to, m.subject))
        .collect();
    all.sort();
    all
}

/// A Critical alert from Alertmanager that started at `start`.
fn alert(fingerprint: &str, start: &str) -> String {
    alert_at(fingerprint, start, None)
}

/// The alert, resolved at `end` if given.
fn alert_at(fingerprint: &str, start: &str, end: Option<&str>) -> String {
    let status = if end.is_some() { "resolved" } else { "firing" };
    json!({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status,
        "receiver": "openmic", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": [{"status": status,
            "labels": {"alertname": "ApiDown", "severity": "critical"},
            "annotations": {"summary": "API down", "description": "The API answers 503."},
            "startsAt": start, "endsAt": end.unwrap_or("0001-01-01T00:00:00Z"),
            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up", "fingerprint": fingerprint}]})
    .to_string()
}

async fn fire(runner: &Runner, body: &str, delivery: &str) {
    let event = json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": delivery},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
    let (status, reply) = send_text(runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    runner.drain().await;
}

/// A Push Hook of `ops/oncall` at `main` that changed `file`.
async fn push(runner: &Runner, file: &str, uuid: &str) -> (u16, Value) {
    let body = json!({"object_kind": "push", "event_name": "push", "ref": "refs/heads/main",
        "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "project_id": 7,
        "project": {"id": 7, "path_with_namespace": "ops/oncall"},
        "commits": [{"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "added": [], "modified": [file], "removed": []}],
        "total_commits_count": 1})
    .to_string();
    let event = gitlab_event(
        &body,
        false,
        json!({"x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": uuid}),
    );
    let reply = send_text(runner, &event).await;
    runner.drain().await;
    reply
}

/// A method and a path through the runner's app: status, content type, body.
async fn call(runner: &Arc<Runner>, method: &str, uri: &str) -> (u16, String, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = runner.app().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The link on the line after `label` in a mail's text.
fn link_in(text: &str, label: &str) -> String {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in:\n{text}"));
    let rest = &text[at + label.len()..];
    let start = rest
        .find(API)
        .unwrap_or_else(|| panic!("a link after {label:?}"));
    rest[start..].split_whitespace().next().unwrap().to_owned()
}

/// The time now, to the second: the links' own clock is the system's, so the story's
/// clock starts there.
fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap()
}

fn at(t0: chrono::DateTime<chrono::Utc>, minutes: i64, seconds: i64) -> String {
    openmic::time::format(
        &(t0 + chrono::Duration::minutes(minutes) + chrono::Duration::seconds(seconds)),
    )
}

struct Story {
    runner: Arc<Runner>,
    dir: tempfile::TempDir,
    server: MockServer,
    clock: Arc<ManualClock>,
    file: Arc<Mutex<String>>,
}

async fn story(text: String, t0: &str) -> Story {
    let file = Arc::new(Mutex::new(text));
    let server = gitlab(file.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(t0);
    let config = test_config(&[
        ("GITLAB_URL", &server.uri()),
        ("GITLAB_TOKEN", TOKEN),
        ("PUBLISHERS", ""),
        ("CREATE_INCIDENTS", "true"),
        ("PUBLIC_API_URL", API),
        ("ONCALL_CONFIG", SOURCE),
    ]);
    let mut runner = Runner::embedded_at(dir.path(), config, clock.clone()).unwrap();
    runner.notifier.sms = Some(Arc::new(
        openmic_aws::Aws::new(openmic_tests::aws::sdk_config().await).sms(),
    ));
    Story {
        runner: Arc::new(runner),
        dir,
        server,
        clock,
        file,
    }
}

#[tokio::test]
async fn paged_escalated_acknowledged_and_told_on_the_issue_once() {
    // A number of this test's own: other tests' messages on the server do not count.
    let phone = format!("+1555{:07}", (std::process::id() % 10_000_000) ^ 0x2a);
    let t0 = start();
    let s = story(oncall_file(&phone), &at(t0, 0, 0)).await;
    let (runner, dir) = (&s.runner, s.dir.path());
    let body = alert("fp-story", &at(t0, 0, 0));
    fire(runner, &body, "story-1").await;

    // At once: alice, by mail and by SMS, each carrying the acknowledge link.
    assert_eq!(
        pages(dir),
        [(
            "alice@example.com".to_owned(),
            "Page, step 1: Alert: API down".to_owned()
        )]
    );
    let sms = openmic_tests::aws::sms_to(&phone).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(
        sms[0].starts_with("Page, step 1: New alert: API down"),
        "{}",
        sms[0]
    );
    assert!(
        sms[0].contains(&format!("{API}/alerts/ack?token=")),
        "{}",
        sms[0]
    );
    let mail = outbox(dir)
        .into_iter()
        .find(|m| m.subject.starts_with("Page, step 1"))
        .unwrap();
    assert!(
        mail.text.starts_with(
            "Firing for 0 min. On-call page, step 1 (alice, on call in primary). Paged before: nobody."
        ),
        "{}",
        mail.text
    );
    assert_eq!(notes(&s.server).await.len(), 1);

    // Nobody answers; the tick runs every minute, twice some minutes (a delivery
    // repeated), and the step is not early. At 10 minutes GitLab fails the timeline
    // event of bob's page for a passing reason: that tick fails, the next writes it.
    for m in 1..=10 {
        s.clock.set(&at(t0, m, 0));
        if m == 10 {
            assert!(
                runner.tick().await.is_err(),
                "the timeline's passing failure"
            );
        } else {
            runner.tick().await.unwrap();
        }
        runner.tick().await.unwrap();
        if m < 10 {
            assert_eq!(pages(dir).len(), 1, "minute {m}");
        }
    }
    let paged = pages(dir);
    assert_eq!(paged.len(), 2, "{paged:?}");
    assert_eq!(
        paged[1],
        (
            "bob@example.com".to_owned(),
            "Page, step 2: Alert: API down".to_owned()
        )
    );
    let bob = outbox(dir)
        .into_iter()
        .find(|m| m.to == "bob@example.com")
        .unwrap();
    assert!(
        bob.text.starts_with(
            "Firing for 10 min. On-call page, step 2 (bob, on call in secondary). Paged before: alice."
        ),
        "{}",
        bob.text
    );
    assert_eq!(
        openmic_tests::aws::sms_to(&phone).await.len(),
        1,
        "bob has no phone"
    );

    // alice acknowledges from her mail at 12 minutes (a GET only shows the page).
    s.clock.set(&at(t0, 12, 0));
    let ack = link_in(&mail.text, "Acknowledge");
    let uri = ack.strip_prefix(API).unwrap();
    let (status, _, _) = call(runner, "GET", uri).await;
    assert_eq!(status, 200);
    let (status, _, page) = call(runner, "POST", uri).await;
    assert_eq!(status, 200, "{page}");
    let record = json_of(
        &tree(&dir.join("state")),
        &openmic::alerts::record::record_key("fp-story"),
    );
    assert_eq!(record["actions"][0]["by"], "alice");

    // Nothing more, though the steps would run again at 20 and 30 minutes.
    for m in 12..=45 {
        s.clock.set(&at(t0, m, 0));
        runner.tick().await.unwrap();
    }
    // The alert replayed (the same delivery, and a repeat of it) and the tick again.
    fire(runner, &body, "story-1").await;
    fire(runner, &body, "story-2").await;
    runner.tick().await.unwrap();
    assert_eq!(pages(dir).len(), 2);
    assert_eq!(openmic_tests::aws::sms_to(&phone).await.len(), 1);
    let record = json_of(
        &tree(&dir.join("state")),
        &openmic::alerts::record::record_key("fp-story"),
    );
    assert_eq!(record["escalation"]["record"]["stopped"][0], "acknowledged");

    // The issue tells the story: one note per page, and the acknowledgement.
    let notes = notes(&s.server).await;
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert_eq!(
        notes[0],
        "On-call page, step 1: `alice` (on call in primary) paged by email, sms."
    );
    assert_eq!(
        notes[1],
        "Escalated to step 2: `bob` (on call in secondary) paged by email. Paged before: `alice`."
    );
    assert!(notes[2].contains("acknowledged by alice"), "{}", notes[2]);

    // And so does its timeline: once each, bob's page asked twice (GitLab failed the
    // first time), nothing written again on the replays.
    let gid = "gid://gitlab/Issue/9077".to_owned();
    let event = |m: i64, note: &str| (gid.clone(), m, note.to_owned());
    let bobs_page = event(10, "`bob` (on call in secondary) paged by email, step 2.");
    let mut want = vec![
        event(0, "Alert fired: `API down` (critical)."),
        event(0, "Escalation began under policy `critical`: step 1."),
        event(
            0,
            "`alice` (on call in primary) paged by email, sms, step 1.",
        ),
        event(10, "Escalated to step 2 of policy `critical`."),
        bobs_page.clone(),
        bobs_page,
        // The links' clock is the system's, which the story's starts at.
        event(
            0,
            "Acknowledged by `alice` from the link in its on-call page by mail message.",
        ),
    ];
    assert_eq!(timeline(&s.server, t0).await, want);
    let record = json_of(
        &tree(&dir.join("state")),
        &openmic::alerts::record::record_key("fp-story"),
    );
    assert_eq!(
        record["timeline_written"],
        json!([
            "fired",
            "step/0/1",
            "page/0/1/alice",
            "step/0/2",
            "page/0/2/bob",
            "acknowledged"
        ])
    );

    // The alert resolves at 50 minutes: one event more, however often it is told.
    s.clock.set(&at(t0, 50, 0));
    let resolved = alert_at("fp-story", &at(t0, 0, 0), Some(&at(t0, 49, 0)));
    fire(runner, &resolved, "story-3").await;
    fire(runner, &resolved, "story-3").await;
    fire(runner, &resolved, "story-4").await;
    runner.tick().await.unwrap();
    want.push(event(49, "Alert resolved."));
    assert_eq!(timeline(&s.server, t0).await, want);
    // No contact detail in the notes, nor in what escalation keeps.
    let in_escalation = record["escalation"].to_string();
    for secret in [&phone[1..], "alice@example.com"] {
        assert!(notes.iter().all(|n| !n.contains(secret)), "{secret}");
        assert!(
            !in_escalation.contains(secret),
            "{secret} in {in_escalation}"
        );
    }
}

#[tokio::test]
async fn a_bad_file_pushed_changes_nothing_and_is_told_once_and_a_good_one_takes_effect() {
    let t0 = start();
    let phone = format!("+1555{:07}", (std::process::id() % 10_000_000) ^ 0x15);
    let good = oncall_file(&phone);
    let s = story(good.clone(), &at(t0, 0, 0)).await;
    let (runner, dir) = (&s.runner, s.dir.path());
    runner.tick().await.unwrap();
    assert_eq!(file_reads(&s.server).await, 1, "read once at first");
    runner.tick().await.unwrap();
    assert_eq!(
        file_reads(&s.server).await,
        1,
        "and not again without a push"
    );

    // A push elsewhere is no reason to read it.
    let (status, reply) = push(runner, "README.md", "push-0").await;
    assert_eq!(
        (status, &reply["ignored"]),
        (200, &json!("a push that does not touch the on-call file"))
    );

    // A bad file: bob's schedule names nobody in the file.
    let bad = good.replace("participants: [bob]", "participants: [mallory]");
    *s.file.lock().unwrap() = bad.clone();
    let (status, _) = push(runner, "oncall.yaml", "push-1").await;
    assert_eq!(status, 202);
    runner.tick().await.unwrap();
    let told: Vec<Seen> = outbox(dir)
        .into_iter()
        .filter(|m| m.subject.contains("does not validate"))
        .collect();
    assert_eq!(told.len(), 2, "each maintainer once: {told:?}");
    assert_eq!(
        told[0].subject,
        format!("openmic: the on-call file {SOURCE} does not validate")
    );
    assert!(
        told[0]
            .text
            .contains("line 12: \"mallory\" is not a person of the file's people"),
        "{}",
        told[0].text
    );
    // Pushed again, read again, told no more; the good file is still the one in use.
    push(runner, "oncall.yaml", "push-2").await;
    runner.tick().await.unwrap();
    assert_eq!(file_reads(&s.server).await, 3);
    let told_again = outbox(dir)
        .iter()
        .filter(|m| m.subject.contains("does not validate"))
        .count();
    assert_eq!(told_again, 2);
    s.clock.set(&at(t0, 1, 0));
    fire(runner, &alert("fp-bad", &at(t0, 1, 0)), "bad-1").await;
    assert_eq!(
        pages(dir),
        [(
            "alice@example.com".to_owned(),
            "Page, step 1: Alert: API down".to_owned()
        )]
    );

    // A good file after it: primary is bob's now.
    *s.file.lock().unwrap() = good.replace("participants: [alice]", "participants: [bob]");
    push(runner, "oncall.yaml", "push-3").await;
    runner.tick().await.unwrap();
    fire(runner, &alert("fp-good", &at(t0, 1, 0)), "good-1").await;
    let paged: Vec<String> = pages(dir).into_iter().map(|(to, _)| to).collect();
    assert_eq!(paged, ["alice@example.com", "bob@example.com"]);
}

#[tokio::test]
async fn the_calendar_link_gives_the_persons_shifts_for_90_days() {
    use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime};
    let t0 = start();
    let text =
        oncall_file("+15550100").replace("participants: [alice]", "participants: [alice, bob]");
    let s = story(text.clone(), &at(t0, 0, 0)).await;
    let runner = &s.runner;
    runner.tick().await.unwrap();
    let file = OnCall::parse(&text).unwrap();
    let alice = file.person("alice").unwrap();
    let token = runner.actions.calendar.token(alice).unwrap();
    let uri = format!("/oncall/alice.ics?token={token}");
    let before = chrono::Utc::now();
    let (status, content_type, body) = call(runner, "GET", &uri).await;
    let after = chrono::Utc::now();
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/calendar; charset=utf-8");
    let parsed: Calendar = body.parse().unwrap();
    let utc = |d: Option<DatePerhapsTime>| match d {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(t))) => t,
        other => panic!("{other:?}"),
    };
    let got: Vec<(String, String, String)> = parsed
        .events()
        .map(|e| {
            (
                e.get_summary().unwrap_or_default().to_owned(),
                openmic::time::format(&utc(e.get_start())),
                openmic::time::format(&utc(e.get_end())),
            )
        })
        .collect();
    // The feed's "now" is the request's (the system's clock), between `before` and
    // `after`: a shift running past the 90 days ends at the horizon, then.
    let horizon = |end: &str| {
        let end = openmic::time::parse(end).unwrap();
        let days = chrono::Duration::days(90);
        let cut = end >= before + days - chrono::Duration::seconds(1) && end <= after + days;
        if cut {
            "the horizon".to_owned()
        } else {
            openmic::time::format(&end)
        }
    };
    let got: Vec<(String, String, String)> = got
        .into_iter()
        .map(|(s, a, b)| (s, a, horizon(&b)))
        .collect();
    let want: Vec<(String, String, String)> =
        openmic::oncall::shifts(&file, "alice", before, before + chrono::Duration::days(90))
            .into_iter()
            .map(|s| {
                (
                    format!("On call: {}", s.schedule),
                    openmic::time::format(&s.start),
                    horizon(&openmic::time::format(&s.end)),
                )
            })
            .collect();
    assert!(got.len() >= 2, "{got:?}");
    assert_eq!(got, want);
    // Bob's link is not alice's; a GET only reads, a POST is refused.
    let (status, _, _) = call(runner, "GET", "/oncall/bob.ics?token=").await;
    assert_eq!(status, 403);
    let (status, _, _) = call(runner, "GET", &format!("/oncall/bob.ics?token={token}")).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(runner, "POST", &uri).await;
    assert_eq!(status, 405);
}

/// README's sample on-call file ("From nothing to being paged") is one that validates.
#[test]
fn the_readmes_sample_file_validates() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## From nothing to being paged")
        .nth(1)
        .expect("README has the section");
    let start = section.find("```yaml").expect("a sample file") + "```yaml".len();
    let body: String = section[start..]
        .split("```")
        .next()
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix("   ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let file = OnCall::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(file.people.len(), 2);
    assert_eq!(file.policies[0].steps.len(), 2);
}

/// The messages a catcher took at `path`, as text.
fn caught(catcher: &openmic_tests::catcher::Catcher, path: &str) -> Vec<String> {
    catcher
        .at(path)
        .iter()
        .map(|c| String::from_utf8_lossy(&c.raw).into_owned())
        .collect()
}

#[tokio::test]
async fn the_call_link_appears_in_the_mail_and_chat_of_a_paged_alert_and_never_in_the_status_bucket()
 {
    const ROOM: &str = "https://call.example/page-room-7";
    let fx = openmic_tests::aws::Fixture::new("oncall-call").await;
    let chat = openmic_tests::catcher::Catcher::start().await;
    // Addresses and a number of this test's own: other tests' mail on the server do
    // not count.
    let tag = std::process::id() % 10_000_000;
    let alice = format!("alice-{tag}@example.com");
    let bob = format!("bob-{tag}@example.com");
    let phone = format!("+1556{:07}", tag ^ 0x3b);
    let file = format!(
        r#"people:
  alice: {{gitlab: alice, email: {alice}, sms: "{phone}"}}
  bob: {{gitlab: bob, email: {bob}, ntfy: "{}/ok/ntfy/bob"}}
schedules:
  primary:
    time_zone: UTC
    layers:
      - {{participants: [alice], rotation: 1w, handoff: "2026-01-05T09:00"}}
policies:
  critical:
    match: 'severity="critical"'
    steps:
      - {{after: 0m, notify: ["schedule:primary", "person:bob", "channel:ops"]}}
"#,
        chat.base
    );
    let description = format!("Users see 503.\n\nBridge: <{ROOM}>");
    let server = gitlab_with(Arc::new(Mutex::new(file)), &description).await;
    let channels =
        json!([{"name": "ops", "type": "slack", "url": format!("{}/ok/ops", chat.base)}]);
    let config = fx.config(&[
        ("GITLAB_URL", &server.uri()),
        ("GITLAB_TOKEN", TOKEN),
        ("CREATE_INCIDENTS", "true"),
        ("PUBLIC_API_URL", API),
        ("ONCALL_CONFIG", SOURCE),
        ("ALERT_CHANNELS", &channels.to_string()),
        ("LINK_BACK", "false"),
    ]);
    let runner = Runner::aws_with(config, fx.aws.clone())
        .await
        .expect("runner on the server");

    // The same call link in a published incident's description: never public.
    for (n, name) in ["001-issue-opened.json", "007-label-by-publisher.json"]
        .iter()
        .enumerate()
    {
        let text = std::fs::read_to_string(event_file("gitlab-story", name)).unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["object_attributes"]["description"] = json!(description);
        event["body"] = json!(body.to_string());
        event["headers"]["idempotency-key"] = json!(format!("call-story-{n}-{tag}"));
        event["headers"]["x-gitlab-event-uuid"] = json!(format!("call-story-{n}-{tag}"));
        let (status, reply) = send_text(&runner, &event.to_string()).await;
        assert_eq!(status, 202, "{reply}");
        runner.drain().await;
    }

    let t0 = start();
    fire(
        &runner,
        &alert(&format!("fp-call-{tag}"), &at(t0, 0, 0)),
        "call-1",
    )
    .await;
    runner.drain().await;

    // The mail of each person paged (on SES) carries the call link.
    let mails: Vec<String> = openmic_tests::aws::sent_mail()
        .await
        .into_iter()
        .filter(|raw| raw.contains(&alice) || raw.contains(&bob))
        .collect();
    let pages: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("Page, step 1"))
        .collect();
    assert_eq!(pages.len(), 2, "alice and bob: {mails:#?}");
    for m in &pages {
        let parsed = MessageParser::default().parse(m.as_bytes()).unwrap();
        let text = parsed.body_text(0).unwrap_or_default();
        assert!(text.contains(ROOM), "{text}");
    }
    // alice's SMS (SNS) and bob's push (ntfy), after the acknowledge link.
    let sms = openmic_tests::aws::sms_to(&phone).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0].contains(&format!("Call: {ROOM}")), "{}", sms[0]);
    assert!(
        sms[0].contains(&format!("{API}/alerts/ack?token=")),
        "{}",
        sms[0]
    );
    let push = caught(&chat, "ok/ntfy/");
    assert_eq!(push.len(), 1, "{push:?}");
    assert!(push[0].contains(ROOM), "{}", push[0]);
    // The channel's page (and the alert's own message there) in chat.
    let ops = caught(&chat, "ok/ops");
    assert!(ops.iter().any(|m| m.contains("Page, step 1")), "{ops:#?}");
    for m in &ops {
        assert!(m.contains(ROOM), "{m}");
    }
    // Never public.
    let status = fx.objects(&fx.status_bucket).await;
    assert!(
        status.keys().any(|k| k.starts_with("data/incident/")),
        "published"
    );
    for (key, body) in &status {
        assert!(
            !String::from_utf8_lossy(body).contains("page-room-7"),
            "the call link in {key}"
        );
    }
}
