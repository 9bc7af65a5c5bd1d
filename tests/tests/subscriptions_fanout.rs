//! The fan-out of one update to its subscribers, with the batch handler failing and
//! retrying midway: every subscriber mailed exactly once. On the in-memory backends
//! for 10,000 subscribers; on moto's SQS, S3 and SES for 1,000 (through a fault proxy
//! that plays SES's `GetAccount`, which moto lacks, and throttles `SendEmail`), driven
//! as Lambda's event source mapping drives the function (`handle_batch`, failed items
//! made visible again, `maxReceiveCount` to the dead-letter queue). The rate at scale
//! is measured by `cargo bench --bench fanout`, not here.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use openmic::config::Config;
use openmic::errors::BackendError;
use openmic::mail::Mail;
use openmic::memory::{MemoryMailer, MemoryQueue, MemoryStore};
use openmic::ports::Mailer;
use openmic::subscriptions::update::{Subject, Update, UpdateKind};
use openmic::subscriptions::{FanOut, Subscriptions, announce};
use openmic_tests::aws::{Fixture, MAX_RECEIVE_COUNT, endpoint, sent_mail};
use openmic_tests::confirmed_subscribers;
use openmic_tests::proxy::{Fault, FaultProxy, Rule};
use serde_json::json;

const SECRET: &str = "subscription-secret-for-the-tests-0123456789";

/// A mailer that fails the sends numbered in `failing` (1-based) for a passing
/// reason, as a function stopped midway or a mail service briefly away would.
struct FailingMidway<M> {
    inner: M,
    calls: AtomicUsize,
    failing: RangeInclusive<usize>,
}

#[async_trait]
impl<M: Mailer> Mailer for FailingMidway<M> {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.failing.contains(&n) {
            return Err(BackendError::Transient("connection reset midway".into()));
        }
        self.inner.send(mail).await
    }
    async fn max_send_rate(&self) -> Result<Option<f64>, BackendError> {
        self.inner.max_send_rate().await
    }
}

fn update(id: u64) -> Update {
    Update {
        id: format!("{id}.published"),
        kind: UpdateKind::Published,
        at: chrono::Utc::now(),
        incident: Subject {
            id,
            title: "Checkout failures".into(),
            status: "opened".into(),
            stage: "investigating".into(),
            components: vec!["payments".into()],
            severity: None,
            window: None,
        },
        html: "<p>Payments fail for some customers; we are looking into it.</p>".into(),
        previous_stage: None,
        audience: None,
    }
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut all = vec![
        ("SUBSCRIPTIONS", "on"),
        ("SUBSCRIPTION_SECRET", SECRET),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
    ];
    all.extend_from_slice(extra);
    openmic_tests::test_config(&all)
}

/// Each recipient with how many mails it got.
fn tally<'a>(to: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for t in to {
        *seen.entry(t.to_owned()).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn ten_thousand_subscribers_one_update_each_mailed_once_in_memory() {
    const N: usize = 10_000;
    let state = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::default());
    // SES's usual production rate: batches of 100; sends 4,321 to 4,330 fail.
    let mailer = Arc::new(FailingMidway {
        inner: MemoryMailer::with_rate(14.0),
        calls: AtomicUsize::new(0),
        failing: 4_321..=4_330,
    });
    let subs = Subscriptions::new(
        Arc::new(config(&[])),
        state.clone(),
        mailer.clone(),
        Some(queue.clone()),
    )
    .unwrap();
    let addresses = confirmed_subscribers(state.as_ref(), "example.com", N).await;
    announce(queue.as_ref(), None, &[update(1)]).await.unwrap();
    // The queue as FIFO delivers it: a failed message comes back before the rest.
    let mut pending = queue.take();
    let (mut planned, mut retries) = (None, 0);
    while !pending.is_empty() {
        let m = pending.remove(0);
        match subs.handle(&m.body).await {
            Ok(FanOut::Planned { batches, .. }) => planned = Some(batches),
            Ok(_) => {}
            Err(e) => {
                retries += 1;
                assert!(retries <= 3, "{e}");
                pending.insert(0, m);
            }
        }
        pending.extend(queue.take());
    }
    assert_eq!(planned, Some(100));
    assert_eq!(retries, 1, "the batch that failed midway came back once");
    let mails = mailer.inner.take();
    let seen = tally(mails.iter().map(|m| m.to[0].as_str()));
    assert_eq!(seen.len(), N, "everyone");
    assert!(seen.values().all(|n| *n == 1), "no one twice");
    assert_eq!(mails.len(), N);
    assert_eq!(mailer.calls.load(Ordering::SeqCst), N + 10);
    assert!(addresses.iter().all(|a| seen.contains_key(a)));
}

/// A FIFO queue with its dead-letter queue, as the template makes the updates queue.
async fn update_queues(f: &Fixture) -> (String, String) {
    let id = f.state_bucket.trim_start_matches("state-").to_owned();
    let dlq = f
        .sqs
        .create_queue()
        .queue_name(format!("updates-dlq-{id}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = f
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue = f
        .sqs
        .create_queue()
        .queue_name(format!("updates-{id}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#),
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    (queue, dlq)
}

/// SES v2 `GetAccount` as SES answers it (moto has none): 1000 mails a second.
fn get_account() -> Rule {
    Rule {
        method: Some("GET"),
        path: Some("/v2/email/account".into()),
        target: None,
        fault: Fault::Answer {
            status: 200,
            content_type: "application/json",
            body: json!({
                "DedicatedIpAutoWarmupEnabled": false,
                "EnforcementStatus": "HEALTHY",
                "ProductionAccessEnabled": true,
                "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 1000.0, "SentLast24Hours": 0.0},
                "SendingEnabled": true
            })
            .to_string(),
        },
        times: usize::MAX,
    }
}

#[tokio::test]
async fn a_thousand_on_moto_a_batch_failing_midway_and_ses_throttling_mail_everyone_once() {
    // A thousand subscribers on moto's S3, SQS and SES: ten batches of 100, the third
    // failing midway (moto answers some 3,000 requests; ten thousand took three
    // minutes of the suite for no behaviour the thousand lack).
    const N: usize = 1_000;
    let f = Fixture::new("fanout").await;
    let (queue_url, dlq_url) = update_queues(&f).await;
    let proxy = FaultProxy::start(&endpoint()).await;
    proxy.add(get_account());
    // SES says slow down, five times.
    proxy.add(Rule {
        method: Some("POST"),
        path: Some("/v2/email/outbound-emails".into()),
        target: None,
        fault: Fault::json(429, "TooManyRequestsException"),
        times: 5,
    });
    let aws = f.aws_via(&proxy.url).await;
    let domain = format!("{}.example.com", f.state_bucket);
    let config = Arc::new(f.config(&[
        ("SUBSCRIPTIONS", "on"),
        ("SUBSCRIPTION_SECRET", SECRET),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
        ("UPDATE_QUEUE_URL", &queue_url),
    ]));
    let state = Arc::new(aws.state_bucket(&config).unwrap());
    let queue = aws.update_queue(&config).unwrap();
    let ses = aws.subscription_mailer(&config).unwrap();
    assert_eq!(
        ses.max_send_rate().await.unwrap(),
        Some(1000.0),
        "GetAccount read"
    );
    // Sends 250 to 254 fail for a passing reason: the batch of 100 holding them
    // fails midway, comes back, and mails only who it had not.
    let mailer = Arc::new(FailingMidway {
        inner: ses,
        calls: AtomicUsize::new(0),
        failing: 250..=254,
    });
    let subs = Subscriptions::new(
        config.clone(),
        state.clone(),
        mailer.clone(),
        Some(Arc::new(queue.clone())),
    )
    .unwrap();
    confirmed_subscribers(state.as_ref(), &domain, N).await;
    announce(&queue, None, &[update(1)]).await.unwrap();

    // What the function does with what it gives up on (nothing is, here).
    let dead = aws.dead_letters(&config, "updates", None).unwrap();
    // Lambda's event source mapping: batches of one, failures visible again.
    let outcomes = std::sync::Mutex::new(Vec::new());
    let mut failed = 0;
    // One message plans the update, one per batch of 100, and the retried one.
    for _ in 0..(N / 100 + 10) {
        let received = queue.receive(1, 1).await.unwrap();
        let Some(m) = received.first() else { break };
        let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(json!({
            "Records": [{
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": {"MessageGroupId": "updates", "ApproximateReceiveCount": m.receive_count.to_string()},
                "eventSource": "aws:sqs"
            }]
        }))
        .unwrap();
        let response = openmic_aws::batch::handle_batch(event, &dead, |body| {
            let (subs, outcomes) = (&subs, &outcomes);
            async move {
                let o = subs.handle(&body).await;
                if let Ok(o) = &o {
                    outcomes.lock().unwrap().push(format!("{o:?}"));
                }
                o
            }
        })
        .await;
        if response.batch_item_failures.is_empty() {
            queue.delete(&m.receipt_handle).await.unwrap();
        } else {
            failed += 1;
            queue.retry_after(&m.receipt_handle, 0).await.unwrap();
        }
    }
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(failed, 1, "one batch failed midway: {outcomes:?}");
    assert_eq!(
        outcomes.len(),
        1 + N / 100,
        "planned, then every batch: {outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|o| o.contains("sent: 5, already: 95")),
        "the retry skipped who had it: {outcomes:?}"
    );
    let throttled = proxy
        .injected()
        .iter()
        .filter(|l| l.contains("outbound-emails"))
        .count();
    assert_eq!(
        throttled,
        5,
        "SES throttled five times: {:?}",
        proxy.injected()
    );
    assert_eq!(f.depth(&queue_url).await, 0);
    assert_eq!(
        f.depth(&dlq_url).await,
        0,
        "nothing to the dead-letter queue"
    );

    let raw = sent_mail().await;
    let parser = mail_parser::MessageParser::default();
    let ours: Vec<String> = raw
        .iter()
        .filter(|r| r.contains(&domain))
        .map(|r| {
            let m = parser.parse(r.as_bytes()).unwrap();
            assert!(m.header_raw("List-Unsubscribe-Post").is_some());
            m.to()
                .unwrap()
                .first()
                .unwrap()
                .address()
                .unwrap()
                .to_owned()
        })
        .collect();
    let seen = tally(ours.iter().map(String::as_str));
    assert_eq!(seen.len(), N, "everyone");
    assert!(seen.values().all(|n| *n == 1), "no one twice");
}
