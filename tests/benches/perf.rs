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
//!   paged by mail, recorded): at most 20 ms.
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = intake, render, alerts, site, routing, oncall
}
criterion_main!(benches);
