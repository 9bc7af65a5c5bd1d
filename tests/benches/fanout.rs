//! The fan-out's budget (issue 15): one update to 10,000 subscribers, planned into
//! batches on the queue, and every mail composed (its own links, RFC 5322 bytes) and
//! handed to the mailer, on the in-memory backends: at most 2 s of CPU (the time
//! reported is the process's CPU time) and 64 MB of heap at its peak (written to
//! target/perf/fanout.json). A bench of its own: its counting allocator stays out of
//! the other benches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use openmic::mail::Mail;
use openmic::memory::{MemoryQueue, MemoryStore};
use openmic::ports::{BackendError, Mailer};
use openmic::subscriptions::update::{Subject, Update, UpdateKind};
use openmic::subscriptions::{FanOut, Subscriptions};
use openmic_tests::test_config;

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
    openmic_tests::confirmed_subscribers(state.as_ref(), "example.com", SUBSCRIBERS).await;
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
            window: None,
        },
        html: "<p>Payments fail for some customers in eu-west. We are looking into it and will post an update within 30 minutes.</p>".repeat(4),
        previous_stage: None,
        audience: None,
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
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = subscriptions
}
criterion_main!(benches);
