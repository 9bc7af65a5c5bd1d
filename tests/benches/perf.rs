//! openmic's performance budgets, each beside its floor in the same group:
//!
//! - intake of a 6 KB Issue Hook (API Gateway event in, queue message out, as the
//!   webhook function does it) against a bare `serde_json::Value` parse of the same
//!   body: at most 2x;
//! - an incident with a 10 KB description and 100 published comments rendered to its
//!   detail JSON against comrak alone on the same markdown: at most 1.5x;
//! - a 1000-alert Alertmanager batch split into queue messages against a Value parse
//!   of the batch: at most 3x;
//! - one update to 10,000 subscribers: planned into batches on the queue, and every
//!   mail composed (its own links, RFC 5322 bytes) and handed to the mailer, on the
//!   in-memory backends: at most 2 s of CPU (the time reported is the process's CPU
//!   time) and 64 MB of heap at its peak (written to target/perf/fanout.json).
//!
//! Fed from the events/ fixtures. `scripts/perf` prints the ratios.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use openmic::intake::Intake;
use openmic::mail::Mail;
use openmic::memory::{MemoryQueue, MemoryStore};
use openmic::ports::{BackendError, OutMessage, Queue};
use openmic::ports::{Mailer, ObjectStore, PutOptions};
use openmic::publishing::incident::{AwardState, IncidentState, IssueSnapshot, NoteState};
use openmic::subscriptions::address::SubscriberId;
use openmic::subscriptions::subscriber::{self, Subscriber};
use openmic::subscriptions::update::{Subject, Update, UpdateKind};
use openmic::subscriptions::{FanOut, Subscriptions};
use openmic_http::apigw;
use openmic_tests::{event_file, test_config};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // What the webhook function does with an event: read it, answer it.
    let handle = |text: &str| {
        let event: apigw::Event = serde_json::from_str(text).unwrap();
        rt.block_on(apigw::gitlab(&intake, event))
    };
    let secret = config.gitlab_webhook_secret.as_ref().unwrap().expose();
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
        iid: 1,
        project_id: 42,
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
        decisions: vec![],
        quirks: vec![],
        problems: vec![],
        linked_back: None,
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

/// The heap in use and its peak since the last reset, for the fan-out's memory.
struct Counting;

static HEAP: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HEAP.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The process's CPU time.
fn cpu_time() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A mailer that builds each mail's RFC 5322 bytes, as SES is handed them, and
/// counts them, at SES's usual production rate.
#[derive(Default)]
struct Handed(AtomicUsize);

#[async_trait]
impl Mailer for Handed {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        std::hint::black_box(mail.to_rfc5322()?);
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn max_send_rate(&self) -> Result<Option<f64>, BackendError> {
        Ok(Some(14.0))
    }
}

const SUBSCRIBERS: usize = 10_000;

/// The subscriptions service with 10,000 confirmed subscribers.
async fn subscribed() -> (Subscriptions, Arc<MemoryQueue>, Arc<Handed>) {
    let config = test_config(&[
        ("SUBSCRIPTIONS", "on"),
        (
            "SUBSCRIPTION_SECRET",
            "subscription-secret-for-the-bench-0123456789",
        ),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
    ]);
    let state = Arc::new(MemoryStore::new());
    for i in 0..SUBSCRIBERS {
        let address = format!("reader{i}@example.com");
        let s = Subscriber {
            address: Some(address.clone()),
            components: Vec::new(),
            confirmed_at: Some(chrono::Utc::now()),
            pending: None,
            confirmation_sent_at: None,
            suppressed: None,
        };
        state
            .put(
                &subscriber::key(&SubscriberId::of(&address)),
                serde_json::to_vec(&s).unwrap().into(),
                PutOptions::private_json(),
            )
            .await
            .unwrap();
    }
    let queue = Arc::new(MemoryQueue::default());
    let mailer = Arc::new(Handed::default());
    let subs =
        Subscriptions::new(Arc::new(config), state, mailer.clone(), Some(queue.clone())).unwrap();
    (subs, queue, mailer)
}

/// The update message the publisher queues.
fn update_message() -> String {
    let update = Update {
        id: "12.published".into(),
        kind: UpdateKind::Published,
        at: chrono::Utc::now(),
        incident: Subject {
            id: 12,
            title: "Checkout failures for some customers".into(),
            status: "opened".into(),
            stage: "investigating".into(),
            components: vec!["payments".into()],
            severity: Some("major".into()),
        },
        html: "<p>Payments fail for some customers in eu-west. We are looking into it and will post an update within 30 minutes.</p>".repeat(4),
        previous_stage: None,
    };
    serde_json::to_string(&openmic::subscriptions::fanout::FanMessage::Update(update)).unwrap()
}

/// Plans the update and mails every batch; returns the mails handed over.
async fn fan_out(subs: &Subscriptions, queue: &MemoryQueue, body: &str, mailer: &Handed) -> usize {
    assert!(matches!(
        subs.handle(body).await.unwrap(),
        FanOut::Planned { .. }
    ));
    for m in queue.take() {
        subs.handle(&m.body).await.unwrap();
    }
    mailer.0.load(Ordering::Relaxed)
}

fn subscriptions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = update_message();
    // The heap's peak over one fan-out, beyond the subscribers' records.
    let (subs, queue, mailer) = rt.block_on(subscribed());
    let before = HEAP.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    assert_eq!(
        rt.block_on(fan_out(&subs, &queue, &body, &mailer)),
        SUBSCRIBERS
    );
    let peak = PEAK.load(Ordering::Relaxed);
    drop((subs, queue, mailer));
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/perf");
    std::fs::create_dir_all(&out).unwrap();
    let figures = serde_json::json!({
        "subscribers": SUBSCRIBERS,
        "peak_heap_bytes": peak,
        "heap_before_bytes": before,
    });
    std::fs::write(out.join("fanout.json"), figures.to_string()).unwrap();
    println!(
        "subscriptions: fan-out peak heap {:.1} MB ({:.1} MB before it, with the records)",
        peak as f64 / 1e6,
        before as f64 / 1e6
    );

    let mut g = c.benchmark_group("subscriptions");
    g.sample_size(10);
    g.bench_function("fan-out: one update to 10,000 subscribers, CPU time", |b| {
        b.iter_custom(|iters| {
            let mut cpu = std::time::Duration::ZERO;
            for _ in 0..iters {
                // A fresh bucket each time: no delivery records from the last run.
                let (subs, queue, mailer) = rt.block_on(subscribed());
                let start = cpu_time();
                let sent = rt.block_on(fan_out(&subs, &queue, &body, &mailer));
                cpu += cpu_time() - start;
                assert_eq!(sent, SUBSCRIBERS);
            }
            cpu
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = intake, render, alerts, subscriptions
}
criterion_main!(benches);
