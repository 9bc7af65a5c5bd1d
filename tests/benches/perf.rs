//! openmic's performance budgets, each beside its floor in the same group:
//!
//! - intake of a 6 KB Issue Hook (API Gateway event in, queue message out, as the
//!   webhook function does it) against a bare `serde_json::Value` parse of the same
//!   body: at most 2x;
//! - an incident with a 10 KB description and 100 published comments rendered to its
//!   detail JSON against comrak alone on the same markdown: at most 1.5x;
//! - a 1000-alert Alertmanager batch split into queue messages against a Value parse
//!   of the batch: at most 3x.
//!
//! - routing 1000 alerts against 20 channels' label matchers (Alertmanager syntax,
//!   equality, negation and regular expressions): at most 2 ms.
//!
//! - on call (issue 25): who is on call now in 20 schedules of 5 layers (mixed zones,
//!   rotations and restrictions) with 100 overrides each: at most 50 µs; escalation's
//!   step for 1,000 open alerts under a three-step policy (each with its record, at
//!   every stage): at most 20 ms; and the notifier's whole tick with those 1,000
//!   alerts under escalation, on in-memory ports (records read, due steps claimed,
//!   paged by mail and SMS, recorded): at most 20 ms.
//!
//! - metrics in incidents (issue 27): an alert's chart of 10 series of 720 points
//!   each (threshold, firing span, legend, text alternative) drawn to PNG: at most
//!   15 ms.
//!
//! - audiences (issue 28): one incident's event published into the big site (45
//!   incidents) on in-memory buckets: without audiences; with two audiences, one for
//!   everyone (three sites change) and one labelled `audience::staff` (only the staff
//!   site changes, so about the cost of the public site alone).
//!
//! Fed from the events/ fixtures. `scripts/perf` prints the ratios.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use openmic::intake::Intake;
use openmic::ports::{BackendError, OutMessage, Queue};
use openmic::publishing::incident::{AwardState, IncidentState, IssueSnapshot, NoteState};
use openmic_http::apigw;
use openmic_tests::{event_file, test_config};

/// A queue that keeps what it is sent.
#[derive(Default)]
struct Collect(Mutex<Vec<OutMessage>>);

#[async_trait]
impl Queue for Collect {
    async fn send_batch(&self, ms: Vec<OutMessage>) -> Result<(), BackendError> {
        let mut v = self.0.lock().unwrap();
        if v.len() > 1000 {
            v.clear();
        }
        v.extend(ms);
        Ok(())
    }
}

/// The 6 KB Issue Hook: the story's label event, its description grown to 6 KB.
fn issue_hook_event() -> (String, String) {
    let raw =
        std::fs::read_to_string(event_file("gitlab-story", "007-label-by-publisher.json")).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let base = body.to_string().len();
    let desc = body["object_attributes"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    let pad = "Investigating elevated error rates in eu-west. ".repeat((6 * 1024 - base) / 48 + 1);
    body["object_attributes"]["description"] = format!("{desc}\n\n{pad}").into();
    let text = body.to_string();
    event["body"] = text.clone().into();
    event["headers"]["x-gitlab-token"] = openmic_tests::WEBHOOK_SECRET.into();
    (event.to_string(), text)
}

fn intake(c: &mut Criterion) {
    let (event, body) = issue_hook_event();
    assert!((6000..7200).contains(&body.len()), "{}", body.len());
    let config = Arc::new(test_config(&[]));
    let queue = Arc::new(Collect::default());
    let intake = Intake::new(config.clone(), Some(queue.clone()), None, None).unwrap();
    let router = openmic_http::router(Arc::new(intake));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // What the webhook function does with an event: read it, answer it.
    let handle = |text: &str| {
        let event: apigw::Event = serde_json::from_str(text).unwrap();
        rt.block_on(apigw::serve(router.clone(), event))
    };
    let secret = config
        .intake
        .gitlab_webhook_secret
        .as_ref()
        .unwrap()
        .expose();
    let event = event.replace("${GITLAB_WEBHOOK_SECRET}", secret);
    // Check once that the path works end to end.
    assert_eq!(handle(&event)["statusCode"], 202);
    let mut g = c.benchmark_group("intake");
    g.bench_function("floor: serde_json Value parse of the body", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(std::hint::black_box(&body)).unwrap())
    });
    g.bench_function("intake: API Gateway event to queue message", |b| {
        b.iter(|| handle(std::hint::black_box(&event)))
    });
    g.finish();
}

/// Markdown for the render bench: the story's pieces, to 10 KB with 20 images.
fn incident() -> (IncidentState, Vec<String>) {
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let body: serde_json::Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let story = body["object_attributes"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut description = String::new();
    let mut i = 0;
    while description.len() < 10 * 1024 {
        description.push_str(&story.replace("errors.png", &format!("graph-{i}.png")));
        description.push_str(
            "\n\nSee #12 and https://gitlab.example.com/ops/api/-/issues/9, thanks @bob :tada:\n\n",
        );
        i += 1;
    }
    assert!(description.matches("/uploads/").count() >= 20);
    let t = openmic::time::parse("2024-03-01T09:00:00Z").unwrap();
    let mut notes = BTreeMap::new();
    let mut comments = Vec::new();
    for n in 0..100u64 {
        let text = format!(
            "Update {n}: error rate down to {}%. cc @alice, see !{n} and ~\"incident\" :rocket:\n\n- [x] mitigate\n- [ ] root cause",
            100 - n
        );
        comments.push(text.clone());
        let at = t + chrono::Duration::minutes(n as i64);
        let mut microphones = BTreeMap::new();
        microphones.insert(
            "alice".to_owned(),
            AwardState {
                awarded: true,
                at,
                trusted: true,
                via_chat: false,
                publisher: true,
            },
        );
        notes.insert(
            n,
            NoteState {
                id: n,
                body: text,
                created_at: at,
                updated_at: at,
                system: false,
                internal: false,
                microphones,
            },
        );
    }
    let state = IncidentState {
        project_url: Some("https://gitlab.example.com/ops/api".into()),
        issue: Some(IssueSnapshot {
            id: 1001,
            title: "API errors :fire: for @carol's customers".into(),
            description: description.clone(),
            state: "opened".into(),
            confidential: false,
            created_at: t,
            updated_at: t,
            closed_at: None,
            labels: vec!["status::identified".into(), "component::api".into()],
            severity: Some("high".into()),
        }),
        notes,
        ..IncidentState::new(1, 42)
    };
    let mut markdown = vec![description];
    markdown.extend(comments);
    (state, markdown)
}

fn render(c: &mut Criterion) {
    let (state, markdown) = incident();
    let rendered = openmic::publishing::public::render_incident(&state, 1, None, None).unwrap();
    assert_eq!(rendered.incident.comments.as_ref().map(Vec::len), Some(100));
    let mut options = comrak::Options::default();
    options.extension.strikethrough = true;
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    options.extension.shortcodes = true;
    options.render.tasklist_classes = true;
    options.render.r#unsafe = true;
    let mut g = c.benchmark_group("render");
    g.bench_function("floor: comrak alone on the same markdown", |b| {
        b.iter(|| {
            markdown
                .iter()
                .map(|m| comrak::markdown_to_html(std::hint::black_box(m), &options).len())
                .sum::<usize>()
        })
    });
    g.bench_function("render: incident to detail JSON", |b| {
        b.iter(|| {
            let r = openmic::publishing::public::render_incident(
                std::hint::black_box(&state),
                1,
                None,
                None,
            )
            .unwrap();
            r.incident.to_json().unwrap()
        })
    });
    g.finish();
}

/// A 1000-alert Alertmanager batch from the story's first alert event.
fn alert_batch() -> String {
    let raw = std::fs::read_to_string(event_file("alerts", "001-two-alerts-fire.json")).unwrap();
    let event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let one = body["alerts"][0].clone();
    body["alerts"] = (0..1000)
        .map(|i| {
            let mut a = one.clone();
            a["labels"]["instance"] = format!("api-{i}:9100").into();
            a["fingerprint"] = format!("{i:016x}").into();
            a
        })
        .collect();
    body.to_string()
}

fn alerts(c: &mut Criterion) {
    let body = alert_batch();
    let received = chrono::Utc::now();
    let mut g = c.benchmark_group("alerts");
    g.bench_function("floor: serde_json Value parse of the batch", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(std::hint::black_box(&body)).unwrap())
    });
    g.bench_function("split: 1000-alert batch into queue messages", |b| {
        b.iter(|| {
            let parsed =
                openmic::alerts::parse::parse(std::hint::black_box(body.as_bytes()), received)
                    .unwrap();
            let messages =
                openmic::intake::alerts::messages(parsed, "delivery", "2024-03-05T10:00:00.000Z")
                    .unwrap();
            assert_eq!(messages.len(), 1000);
            messages
        })
    });
    g.finish();
}

/// 20 channels, each with two or three matchers of every kind.
fn channels() -> openmic::routing::channels::Channels {
    let envs = ["production", "staging", "canary", "dev"];
    let list: Vec<serde_json::Value> = (0..20)
        .map(|i| {
            let matchers = match i % 4 {
                0 => format!(r#"env="{}", severity=~"critical|high""#, envs[i % 4]),
                1 => format!(r#"alertname=~"Disk.*|Node.*", env!="{}""#, envs[i % 4]),
                2 => format!(
                    r#"team="team-{}", severity!~"info|low", instance=~"api-.*""#,
                    i % 7
                ),
                _ => format!(r#"service!="", job="job-{}""#, i % 5),
            };
            serde_json::json!({"name": format!("c{i}"), "type": "slack",
                "url": format!("https://hooks.slack.com/services/T/B/{i}"), "match": matchers})
        })
        .collect();
    openmic::routing::channels::Channels::parse(&serde_json::Value::from(list).to_string()).unwrap()
}

/// 1000 alerts with varied labels.
fn routed_alerts() -> Vec<openmic::alerts::Alert> {
    let names = [
        "DiskFull",
        "NodeDown",
        "HighErrorRate",
        "Latency",
        "CertExpiry",
    ];
    let severities = ["critical", "high", "medium", "low", "info"];
    let envs = ["production", "staging", "canary", "dev"];
    (0..1000)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "source": "prometheus", "fingerprint": format!("{i:016x}"), "status": "firing",
                "title": names[i % 5], "severity": severities[i % 5],
                "environment": envs[i % 4], "service": if i % 3 == 0 { "api" } else { "" },
                "labels": {"alertname": names[i % 5], "env": envs[i % 4], "severity": severities[i % 5],
                    "team": format!("team-{}", i % 7), "instance": format!("api-{i}:9100"), "job": format!("job-{}", i % 5)},
            }))
            .unwrap()
        })
        .collect()
}

fn routing(c: &mut Criterion) {
    let channels = channels();
    let alerts = routed_alerts();
    let mut g = c.benchmark_group("routing");
    g.bench_function("route: 1000 alerts against 20 channels' matchers", |b| {
        b.iter(|| {
            std::hint::black_box(&alerts)
                .iter()
                .map(|a| channels.route(a).count())
                .sum::<usize>()
        })
    });
    g.finish();
}

/// The whole site for the big site: the index with ten 90-day strips, the archive
/// months, feed, summary, badge and 404 page, and the 45 incident pages (the publisher
/// renders those one at a time, as each is published); the target is 5 ms.
fn site(c: &mut Criterion) {
    let now = openmic::time::parse("2026-11-30T12:00:00Z").unwrap();
    let index = openmic_tests::big_index(now);
    let components = openmic_tests::BIG_COMPONENTS.join(",");
    let page =
        openmic::site::Page::new(&openmic_tests::test_config(&[("COMPONENTS", &components)]));
    let objects = openmic::site::render_site(&index, &page, now).unwrap();
    assert!(objects.iter().any(|o| o.key.starts_with("history/")));
    let mut g = c.benchmark_group("site");
    g.bench_function(
        "render: the whole site, 10 components, 90 days, 45 incidents",
        |b| {
            b.iter(|| {
                let mut objects =
                    openmic::site::render_site(std::hint::black_box(&index), &page, now).unwrap();
                for e in index.incidents.values() {
                    objects.push(openmic::site::render_incident_page(&e.incident, &page).unwrap());
                }
                objects
            })
        },
    );
    g.finish();
}

/// `event` (an API Gateway Issue Hook event) with `labels` added to its issue.
fn labelled(event: &str, labels: &[&str]) -> String {
    use serde_json::{Value, json};
    let mut event: Value = serde_json::from_str(event).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    for l in labels {
        let label = json!({"id": 700, "title": l, "project_id": 42, "type": "ProjectLabel"});
        body["object_attributes"]["labels"]
            .as_array_mut()
            .unwrap()
            .push(label.clone());
        body["labels"].as_array_mut().unwrap().push(label);
    }
    event["body"] = json!(body.to_string());
    event.to_string()
}

/// A publisher on in-memory buckets with the big site published (45 incidents), and
/// the queue message of one more incident (labelled `labels`).
fn published(
    rt: &tokio::runtime::Runtime,
    extra: &[(&str, &str)],
    labels: &[&str],
) -> (openmic::publishing::Publisher, String) {
    let now = openmic::time::parse("2026-11-30T12:00:00Z").unwrap();
    let components = openmic_tests::BIG_COMPONENTS.join(",");
    let mut settings = vec![("COMPONENTS", components.as_str())];
    settings.extend_from_slice(extra);
    let config = Arc::new(test_config(&settings));
    let queue = Arc::new(Collect::default());
    let intake = Intake::new(config.clone(), Some(queue.clone()), None, None).unwrap();
    let router = openmic_http::router(Arc::new(intake));
    let secret = config
        .intake
        .gitlab_webhook_secret
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    let message = |event: String| {
        let mut event: serde_json::Value = serde_json::from_str(&event).unwrap();
        event["headers"]["x-gitlab-token"] = secret.clone().into();
        let event: apigw::Event = serde_json::from_value(event).unwrap();
        let reply = rt.block_on(apigw::serve(router.clone(), event));
        assert_eq!(reply["statusCode"], 202, "{reply}");
        queue.0.lock().unwrap().pop().unwrap().body
    };
    let publisher = openmic::publishing::Publisher::new(
        config.clone(),
        Arc::new(openmic::memory::MemoryStore::new()),
        Arc::new(openmic::memory::MemoryStore::new()),
        None,
    )
    .with_clock(openmic_tests::ManualClock::at("2026-11-30T12:00:00Z"));
    for i in openmic_tests::big_incidents(now) {
        for event in openmic_tests::big_incident_events(&i) {
            rt.block_on(publisher.handle(&message(event))).unwrap();
        }
    }
    let one = openmic_tests::BigIncident {
        iid: 900,
        title: "Exports delayed".into(),
        component: "Reports",
        severity: "high",
        created_at: now - chrono::Duration::hours(1),
        closed_at: None,
    };
    let event = openmic_tests::big_incident_events(&one).remove(0);
    let body = message(labelled(&event, labels));
    (publisher, body)
}

/// Publishing one incident's event into the big site (45 incidents): the public site
/// alone, and with two audiences (`AUDIENCES`) an incident for everyone (three sites
/// change) and one labelled `audience::staff` (only the staff site changes).
fn publish(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let audiences = [("AUDIENCES", "staff=ops; acme=customers/acme")];
    let cases = [
        ("publish: one incident, no audiences", &[][..], &[][..]),
        (
            "publish: one incident for everyone, two audiences",
            &audiences[..],
            &[][..],
        ),
        (
            "publish: one incident labelled audience::staff, two audiences",
            &audiences[..],
            &["audience::staff"][..],
        ),
    ];
    let mut g = c.benchmark_group("publish");
    for (name, extra, labels) in cases {
        let (publisher, body) = published(&rt, extra, labels);
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(publisher.handle(std::hint::black_box(&body)))
                    .unwrap()
            })
        });
    }
    g.finish();
}

/// An on-call file of 20 schedules, each of 5 layers and 100 overrides, and a policy
/// of three steps naming them.
fn oncall_file() -> openmic::oncall::OnCall {
    openmic::oncall::OnCall::parse(&oncall_text()).unwrap_or_else(|e| panic!("{e}"))
}

/// The text of [`oncall_file`].
fn oncall_text() -> String {
    use std::fmt::Write;
    let zones = [
        "Europe/Berlin",
        "America/New_York",
        "Asia/Tokyo",
        "UTC",
        "Australia/Sydney",
    ];
    let rotations = ["1w", "1d", "12h", "2w", "8h"];
    let restricts = [
        "",
        "[\"Mon-Fri 09:00-18:00\"]",
        "[\"Sat,Sun\"]",
        "[\"22:00-06:00\"]",
        "",
    ];
    let mut y = String::from("people:\n");
    for p in 0..50 {
        writeln!(
            y,
            "  p{p}: {{email: p{p}@example.com, sms: \"+1555010{p:02}\"}}"
        )
        .unwrap();
    }
    y.push_str("schedules:\n");
    for s in 0..20 {
        writeln!(y, "  s{s}:\n    time_zone: {}\n    layers:", zones[s % 5]).unwrap();
        for l in 0..5 {
            let who: Vec<String> = (0..4)
                .map(|i| format!("p{}", (s + l * 3 + i) % 50))
                .collect();
            write!(
                y,
                "      - {{participants: [{}], rotation: {}, handoff: \"2026-0{}-0{}T09:00\"",
                who.join(", "),
                rotations[l],
                1 + l,
                1 + s % 7
            )
            .unwrap();
            if !restricts[l].is_empty() {
                write!(y, ", restrict: {}", restricts[l]).unwrap();
            }
            y.push_str("}\n");
        }
        y.push_str("    overrides:\n");
        for o in 0..100 {
            // Six-hour overrides every two days around now (2026-12-07).
            let day = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap()
                + chrono::Duration::days(2 * o);
            writeln!(
                y,
                "      - {{who: p{}, from: \"{day}T{:02}:00\", to: \"{day}T{:02}:00\"}}",
                (s + o as usize) % 50,
                s % 12,
                s % 12 + 6
            )
            .unwrap();
        }
    }
    y.push_str("policies:\n  default:\n    repeat: 2\n    steps:\n");
    y.push_str("      - {after: 0m, notify: [\"schedule:s0\", \"schedule:s1\"]}\n");
    y.push_str("      - {after: 10m, notify: [\"schedule:s2\", \"person:p3\", \"channel:ops\"]}\n");
    y.push_str("      - {after: 30m, notify: [\"schedule:s3\", \"schedule:s4\"]}\n");
    y
}

fn oncall(c: &mut Criterion) {
    use openmic::oncall::{AlertState, EscalationRecord, escalate, on_call_now};
    let file = oncall_file();
    assert_eq!(file.schedules.len(), 20);
    assert!(
        file.schedules
            .iter()
            .all(|s| s.layers.len() == 5 && s.overrides.len() == 100)
    );
    let now = openmic::time::parse("2026-12-07T10:17:00Z").unwrap();
    let answers = on_call_now(&file, now);
    assert!(
        answers.iter().filter(|(_, who)| who.is_some()).count() >= 15,
        "{answers:?}"
    );
    let mut g = c.benchmark_group("oncall");
    g.bench_function("now: 20 schedules of 5 layers and 100 overrides", |b| {
        b.iter(|| on_call_now(&file, std::hint::black_box(now)))
    });
    // 1,000 open alerts, started over the last 100 minutes, each with the record the
    // previous tick left.
    let policy = &file.policies[0];
    let alerts: Vec<(AlertState, EscalationRecord)> = (0..1000)
        .map(|i| {
            let alert = AlertState {
                id: format!("fp{i}/0"),
                started: now - chrono::Duration::seconds(6 * i),
                acknowledged: None,
                resolved: None,
                closed: None,
            };
            let before = escalate(
                &file,
                policy,
                &alert,
                &EscalationRecord::default(),
                now - chrono::Duration::minutes(1),
            );
            (alert, before.record)
        })
        .collect();
    let pages: usize = alerts
        .iter()
        .map(|(a, r)| escalate(&file, policy, a, r, now).pages.len())
        .sum();
    assert!(pages > 0);
    g.bench_function("escalate: 1000 open alerts", |b| {
        b.iter(|| {
            std::hint::black_box(&alerts)
                .iter()
                .map(|(a, r)| escalate(&file, policy, a, r, now).pages.len())
                .sum::<usize>()
        })
    });
    tick(&mut g, &file, now);
    g.finish();
}

/// Text messages kept nowhere: an in-memory SMS port.
struct Texts;

#[async_trait]
impl openmic::ports::Sms for Texts {
    async fn send_sms(&self, _: &str, text: &str) -> Result<(), BackendError> {
        std::hint::black_box(text);
        Ok(())
    }
}

/// The on-call file as a repository's, read once: the tick does not read it again.
struct Pushed(String);

#[async_trait]
impl openmic::ports::FileSource for Pushed {
    fn on_push(&self) -> bool {
        true
    }
    async fn fetch(&self) -> Result<Option<String>, BackendError> {
        Ok(Some(self.0.clone()))
    }
}

/// The state bucket of 1,000 alerts under escalation, started over the last 100
/// minutes and each as the previous tick (a minute ago) left it, listed as
/// escalating; and the on-call file in use.
fn escalating_state(
    file: &openmic::oncall::OnCall,
    text: &str,
    now: openmic::time::Timestamp,
) -> Vec<(String, bytes::Bytes)> {
    use openmic::alerts::escalating::{ESCALATING_KEY, Open};
    use openmic::alerts::record::{apply, record_key};
    use openmic::oncall::escalation::{AlertState, Escalating, next_due};
    use openmic::oncall::keeper::{FILE_KEY, Kept, LOADING_KEY, Loading};
    let policy = &file.policies[0];
    let mut objects = Vec::new();
    let mut open = Open::default();
    for i in 0..1000 {
        let started = now - chrono::Duration::seconds(6 * i);
        let fp = format!("fp{i}");
        let alert: openmic::alerts::Alert = serde_json::from_value(serde_json::json!({
            "source": "prometheus", "fingerprint": fp, "status": "firing",
            "title": format!("Disk full on db-{i}"), "severity": "critical",
            "starts_at": openmic::time::format(&started),
            "labels": {"alertname": "DiskFull", "severity": "critical", "instance": format!("db-{i}")}}))
        .unwrap();
        let renotify = std::time::Duration::from_secs(3600);
        let (record, _) = apply(None, &fp, &alert, &format!("d{i}"), started, renotify);
        let mut record = record.unwrap();
        record.pending.clear();
        let state = AlertState {
            id: format!("{}/0", record.id()),
            started,
            acknowledged: None,
            resolved: None,
            closed: None,
        };
        let before = openmic::oncall::escalate(
            file,
            policy,
            &state,
            &Default::default(),
            now - chrono::Duration::minutes(1),
        );
        if let Some(due) = next_due(policy, started, &before.record) {
            open.alerts.insert(record_key(&fp), due);
        }
        record.escalation = Some(Escalating {
            generation: 0,
            started,
            record: before.record,
            failures: Vec::new(),
            paged: Vec::new(),
        });
        objects.push((record_key(&fp), serde_json::to_vec(&record).unwrap().into()));
    }
    assert_eq!(open.alerts.len(), 1000);
    objects.push((
        ESCALATING_KEY.to_owned(),
        serde_json::to_vec(&open).unwrap().into(),
    ));
    let kept = Kept {
        source: "ops/oncall:oncall.yaml@main".into(),
        text: text.to_owned(),
        at: now,
    };
    objects.push((
        FILE_KEY.to_owned(),
        serde_json::to_vec(&kept).unwrap().into(),
    ));
    let loading = Loading {
        handled: Some("start".into()),
        ..Loading::default()
    };
    objects.push((
        LOADING_KEY.to_owned(),
        serde_json::to_vec(&loading).unwrap().into(),
    ));
    objects
}

/// The notifier's tick with 1,000 alerts under escalation: each iteration on a fresh
/// copy of the same state (made outside the measure: the state the tick a minute
/// before left), on one thread.
fn tick(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    file: &openmic::oncall::OnCall,
    now: openmic::time::Timestamp,
) {
    use openmic::alerts::lifecycle::Notifier;
    use openmic::memory::{MemoryMailer, MemoryStore};
    use openmic::ports::{ObjectStore, PutOptions};
    let text = oncall_text();
    let objects = escalating_state(file, &text, now);
    let config = Arc::new(test_config(&[]));
    let keeper = Arc::new(openmic::oncall::keeper::Keeper::new(
        "ops/oncall:oncall.yaml@main",
        Arc::new(Pushed(text)),
    ));
    let clock = openmic_tests::ManualClock::at(&openmic::time::format(&now));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let notifier = |objects: &[(String, bytes::Bytes)], mailer: Arc<MemoryMailer>| {
        let state = Arc::new(MemoryStore::new());
        rt.block_on(async {
            for (key, body) in objects {
                state
                    .put(key, body.clone(), PutOptions::private_json())
                    .await
                    .unwrap();
            }
        });
        let mut n = Notifier::new(config.clone(), state.clone(), mailer, None, None)
            .unwrap()
            .with_clock(clock.clone())
            .with_sms(Arc::new(Texts));
        n.oncall = Some(keeper.clone());
        (n, state)
    };
    // The tick a minute before (shifts and gaps told, nothing due), and its state kept.
    clock.set(&openmic::time::format(
        &(now - chrono::Duration::minutes(1)),
    ));
    let (before, state) = notifier(&objects, Arc::new(MemoryMailer::default()));
    let ticked = rt.block_on(before.tick()).unwrap();
    assert_eq!(ticked.pages, 0, "{ticked:?}");
    let objects: Vec<(String, bytes::Bytes)> = rt.block_on(async {
        let mut all = Vec::new();
        for key in state.list("").await.unwrap() {
            all.push((key.clone(), state.get(&key).await.unwrap().unwrap().body));
        }
        all
    });
    clock.set(&openmic::time::format(&now));
    let mailer = Arc::new(MemoryMailer::default());
    let ticked = rt
        .block_on(notifier(&objects, mailer.clone()).0.tick())
        .unwrap();
    let mails = mailer.take().len();
    assert!(ticked.pages > 0 && mails > 0, "{ticked:?}, {mails} mails");
    eprintln!("the tick pages {} times, {mails} mails", ticked.pages);
    g.bench_function("tick: 1000 open alerts under escalation", |b| {
        b.iter_batched(
            || notifier(&objects, Arc::new(MemoryMailer::default())),
            |(n, state)| {
                let ticked = rt.block_on(n.tick()).unwrap();
                (n, state, ticked)
            },
            criterion::BatchSize::PerIteration,
        )
    });
}

fn chart(c: &mut Criterion) {
    use openmic::metrics::chart::{self, Alert, Point, Range, Series};
    let starts_at = openmic::time::parse("2026-12-07T10:00:00Z").unwrap();
    let now = openmic::time::parse("2026-12-07T11:00:00Z").unwrap();
    let range = Range::for_alert(starts_at, now);
    assert_eq!(range.step, 10, "two hours in 720 steps");
    let series: Vec<Series> = (0..10)
        .map(|s| Series {
            labels: BTreeMap::from([
                (
                    "__name__".to_owned(),
                    "http_request_duration_seconds".to_owned(),
                ),
                ("instance".to_owned(), format!("api-{s}.example.com:9100")),
            ]),
            points: (0..720)
                .map(|i| Point {
                    at_ms: (range.start + i * range.step) * 1000,
                    value: 0.2 + 0.05 * s as f64 + 0.1 * (i as f64 / 37.0 + s as f64).sin(),
                })
                .collect(),
        })
        .collect();
    let alert = Alert {
        expr: "histogram_quantile(0.99, sum by (le, instance) (rate(http_request_duration_seconds_bucket[5m]))) > 0.5",
        starts_at,
        ends_at: None,
        range,
    };
    let drawn = chart::chart(&alert, &series).unwrap();
    eprintln!(
        "chart: PNG {} bytes, SVG {} bytes, CSV {} bytes",
        drawn.png.len(),
        drawn.svg().map_or(0, |s| s.len()),
        drawn.csv.len()
    );
    let mut g = c.benchmark_group("chart");
    g.bench_function("chart: 720 points x 10 series to PNG", |b| {
        b.iter(|| chart::chart(&alert, &series).unwrap().png.len())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = intake, render, alerts, site, publish, routing, oncall, chart
}
criterion_main!(benches);
