//! The AWS adapters against a real S3/SQS/SES-compatible server (moto's, started by
//! scripts/test): the story on `--backend aws` matches the embedded run key by key;
//! content types, prefix deletes and pagination; conditional writes under concurrent
//! publishers; FIFO deduplication and claim checks; partial batch failures and the
//! dead-letter queue; SES; resource checks at start.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use openmic::errors::ProcessError;
use openmic::ports::{BackendError, Object, ObjectStore, PutOptions, Queue};
use openmic::publishing::Publisher;
use openmic_aws::batch::handle_batch;
use openmic_aws::s3::S3Store;
use openmic_aws::sqs::SqsQueue;
use openmic_local::Runner;
use openmic_tests::aws::{Fixture, sent_mail};
use openmic_tests::*;

#[tokio::test]
async fn story_on_aws_matches_the_embedded_run_key_by_key() {
    let fx = Fixture::new("story").await;
    let mut runner = Runner::aws_with(fx.config(&[]), fx.aws.clone())
        .await
        .expect("runner on the server");
    runner.publisher.clock = site_clock();
    let files = event_files("gitlab-story");
    for (name, status) in replay_all(&runner, &files).await {
        assert_eq!(status, 202, "{name}");
    }
    assert_eq!(
        fx.depth(&fx.publish_queue).await,
        0,
        "every message handled and deleted"
    );

    let dir = tempfile::tempdir().unwrap();
    let local = embedded(dir.path(), &[]);
    replay_all(&local, &files).await;
    let embedded_status = tree(&dir.path().join("status"));
    let s3_status = fx.objects(&fx.status_bucket).await;
    assert_eq!(
        s3_status.keys().collect::<Vec<_>>(),
        embedded_status.keys().collect::<Vec<_>>()
    );
    for (key, body) in &embedded_status {
        assert!(
            s3_status[key] == *body,
            "{key} differs:\n{}\n---\n{}",
            String::from_utf8_lossy(&s3_status[key]),
            String::from_utf8_lossy(body)
        );
    }
    for (key, ct) in [
        ("index.html", "text/html; charset=utf-8"),
        ("feed.atom", "application/atom+xml"),
        ("badge.svg", "image/svg+xml"),
    ] {
        let head = fx
            .s3
            .head_object()
            .bucket(&fx.status_bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some(ct), "{key}");
    }
    let head = fx
        .s3
        .head_object()
        .bucket(&fx.status_bucket)
        .key("data/incident/1.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.cache_control(), Some("public, max-age=30"));
}

#[tokio::test]
async fn s3_store_lists_pages_and_deletes_prefixes_in_batches() {
    let fx = Fixture::new("s3").await;
    let store = Arc::new(S3Store::new(
        openmic_aws::s3_client(&fx.aws.sdk),
        fx.status_bucket.clone(),
    ));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1005 {
        let store = store.clone();
        set.spawn(async move {
            store
                .put(
                    &format!("data/incident/9/{i:04}.txt"),
                    Bytes::from_static(b"x"),
                    PutOptions::json(),
                )
                .await
                .unwrap();
        });
        if set.len() >= 32 {
            set.join_next().await;
        }
    }
    set.join_all().await;
    store
        .put(
            "data/incident/90.json",
            Bytes::from_static(b"{}"),
            PutOptions::json(),
        )
        .await
        .unwrap();
    let keys = store.list("data/incident/9/").await.unwrap();
    assert_eq!(keys.len(), 1005, "listing follows pagination past 1000");
    assert_eq!(store.delete_prefix("data/incident/9/").await.unwrap(), 1005);
    assert_eq!(
        store.list("data/incident/").await.unwrap(),
        vec!["data/incident/90.json"]
    );
    assert_eq!(store.get("data/incident/9/0001.txt").await.unwrap(), None);
    // Conditional writes.
    let etag = store
        .put(
            "c.json",
            Bytes::from_static(b"1"),
            PutOptions::json().with_condition(openmic::ports::Condition::IfNoneMatch),
        )
        .await
        .unwrap();
    let again = store
        .put(
            "c.json",
            Bytes::from_static(b"2"),
            PutOptions::json().with_condition(openmic::ports::Condition::IfNoneMatch),
        )
        .await;
    assert!(
        matches!(again, Err(BackendError::PreconditionFailed(_))),
        "{again:?}"
    );
    store
        .put(
            "c.json",
            Bytes::from_static(b"2"),
            PutOptions::json().with_condition(openmic::ports::Condition::IfMatch(etag.clone())),
        )
        .await
        .unwrap();
    let stale = store
        .put(
            "c.json",
            Bytes::from_static(b"3"),
            PutOptions::json().with_condition(openmic::ports::Condition::IfMatch(etag)),
        )
        .await;
    assert!(
        matches!(stale, Err(BackendError::PreconditionFailed(_))),
        "{stale:?}"
    );
    // A missing bucket is not a passing failure.
    let missing = S3Store::new(
        openmic_aws::s3_client(&fx.aws.sdk),
        "no-such-bucket-openmic",
    );
    assert!(matches!(
        missing.get("x").await,
        Err(BackendError::Permanent(_))
    ));
}

/// An incident hook for iid `iid`, published by alice at creation.
fn published_issue(iid: u64) -> String {
    let raw = std::fs::read_to_string(event_file(
        "gitlab-story",
        "015-second-incident-published.json",
    ))
    .unwrap();
    let event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["object_attributes"]["iid"] = iid.into();
    body["object_attributes"]["id"] = (5000 + iid).into();
    body["object_attributes"]["title"] = format!("Incident {iid}").into();
    body["object_attributes"]["created_at"] =
        format!("2024-04-01T00:{:02}:{:02}Z", iid / 60, iid % 60).into();
    let envelope = serde_json::json!({
        "source": "gitlab", "event": "Issue Hook", "delivery": format!("d{iid}"),
        "received_at": "2024-04-01T00:00:00Z", "payload": body,
    });
    envelope.to_string()
}

#[tokio::test]
async fn concurrent_publishers_never_drop_a_list_entry() {
    let fx = Fixture::new("race").await;
    let config = Arc::new(fx.config(&[]));
    let n = 24u64;
    let mut set = tokio::task::JoinSet::new();
    for iid in 1..=n {
        // Each task is a publisher of its own, as concurrent Lambda instances are.
        let publisher = Publisher::new(
            config.clone(),
            Arc::new(fx.aws.state_bucket(&config).unwrap()),
            Arc::new(fx.aws.status_bucket(&config).unwrap()),
            None,
        );
        // A message that loses the race too often is handed out again by the queue
        // (`Retryable`); so here, a few times, as SQS would redeliver it.
        set.spawn(async move {
            let mut r = publisher.handle(&published_issue(iid)).await;
            for _ in 0..3 {
                if !matches!(r, Err(ProcessError::Retryable(_))) {
                    break;
                }
                r = publisher.handle(&published_issue(iid)).await;
            }
            r
        });
    }
    for r in set.join_all().await {
        assert!(r.is_ok(), "{r:?}");
    }
    let state = fx.objects(&fx.state_bucket).await;
    let index: serde_json::Value = serde_json::from_slice(&state["index/published.json"]).unwrap();
    assert_eq!(
        index["incidents"].as_object().unwrap().len(),
        n as usize,
        "every incident is in the index"
    );
    let status = fx.objects(&fx.status_bucket).await;
    let list: serde_json::Value = serde_json::from_slice(&status["data/list.json"]).unwrap();
    let ids: Vec<u64> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (n - 19..=n).rev().collect();
    assert_eq!(ids, want, "the 20 newest, newest first, none lost");
    assert_eq!(
        status
            .keys()
            .filter(|k| k.starts_with("data/incident/"))
            .count(),
        n as usize
    );
}

#[tokio::test]
async fn fifo_dedup_and_claim_checks() {
    let fx = Fixture::new("sqs").await;
    let config = fx.config(&[]);
    let runner = Runner::aws_with(config, fx.aws.clone()).await.unwrap();
    let file = event_file("gitlab-story", "001-issue-opened.json");
    // The same delivery twice is one message.
    let (a, _) = send(&runner, &file).await;
    let (b, _) = send(&runner, &file).await;
    assert_eq!((a, b), (202, 202));
    assert_eq!(fx.depth(&fx.publish_queue).await, 1);
    runner.drain().await;
    assert_eq!(fx.depth(&fx.publish_queue).await, 0);

    // A body over the queue's limit travels by claim check through the state bucket.
    let raw = std::fs::read_to_string(event_file("gitlab-story", "012-description-updated.json"))
        .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let big = format!(
        "{}\n\nFull log:\n\n```\n{}\n```",
        body["object_attributes"]["description"].as_str().unwrap(),
        "line of log\n".repeat(30_000)
    );
    body["object_attributes"]["description"] = big.clone().into();
    event["body"] = body.to_string().into();
    event["headers"]["idempotency-key"] = "big-one".into();
    let (status, reply) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    let received = SqsQueue::new(fx.sqs.clone(), fx.publish_queue.clone())
        .receive(10, 1)
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].body.len() < 1024 && received[0].body.contains("\"claim\":\"claims/"),
        "{}",
        received[0].body
    );
    let claims = fx
        .objects(&fx.state_bucket)
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("claims/"))
        .count();
    assert_eq!(claims, 1);
    // The consumer reads the claimed body back and publishes it.
    runner.publisher.handle(&received[0].body).await.unwrap();
    let status = fx.objects(&fx.status_bucket).await;
    assert!(
        !status.contains_key("data/incident/1.json"),
        "incident 1 was never labelled, so nothing is public"
    );
    let state = fx.objects(&fx.state_bucket).await;
    let s1: serde_json::Value = serde_json::from_slice(&state["incidents/42/1.json"]).unwrap();
    assert_eq!(
        s1["issue"]["description"].as_str().unwrap().len(),
        big.len()
    );
}

/// A store that fails its first `fail` writes with a passing error.
struct Flaky {
    inner: Arc<dyn ObjectStore>,
    fail: AtomicUsize,
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError> {
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(BackendError::Transient(format!(
                "put {key}: 503 SlowDown (injected)"
            )));
        }
        self.inner.put(key, body, opts).await
    }
    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.inner.list(prefix).await
    }
    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        opts: PutOptions,
    ) -> Result<String, BackendError> {
        self.inner.put_file(key, path, opts).await
    }
}

fn sqs_event(messages: &[openmic_aws::sqs::Received]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(|m| m.record()).collect();
    event
}

#[tokio::test]
async fn partial_batch_failures_retry_only_their_message_and_bad_bodies_reach_the_dlq() {
    let fx = Fixture::new("batch").await;
    let config = Arc::new(fx.config(&[("PUBLISH_DEAD_LETTER_QUEUE_URL", fx.publish_dlq.as_str())]));
    // The maintainers' mail through SES on the server; the dead-letter queue's client
    // made by the consumer itself, as a function makes it.
    let dead = fx.aws.dead_letters(&config, "publish", None).unwrap();
    let queue = SqsQueue::new(fx.sqs.clone(), fx.publish_queue.clone());
    let status: Arc<dyn ObjectStore> = Arc::new(fx.aws.status_bucket(&config).unwrap());
    // Three messages in three groups: one good, one whose status write is throttled
    // twice, one that can never be read.
    for (group, body) in [
        ("issue:31", published_issue(31)),
        ("issue:32", published_issue(32)),
        ("issue:99", "not json".to_owned()),
    ] {
        queue
            .send(openmic::ports::OutMessage {
                group_id: group.into(),
                dedup_id: group.replace(':', "-"),
                body,
            })
            .await
            .unwrap();
    }
    let flaky = Arc::new(Flaky {
        inner: status.clone(),
        fail: AtomicUsize::new(0),
    });
    let publisher = Publisher::new(
        config.clone(),
        Arc::new(fx.aws.state_bucket(&config).unwrap()),
        flaky.clone(),
        None,
    );
    let mut published = std::collections::BTreeSet::new();
    let mut retries_of_32 = 0;
    let attempts_of_32 = AtomicUsize::new(0);
    let mut rounds = 0;
    // Receive, handle as Lambda does, delete what succeeded; repeat.
    while rounds < 12 {
        rounds += 1;
        let messages = queue.receive(10, 1).await.unwrap();
        if messages.is_empty() {
            if fx.depth(&fx.publish_queue).await == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            continue;
        }
        let handles: Vec<_> = messages
            .iter()
            .map(|m| {
                (
                    m.message_id.clone(),
                    m.receipt_handle.clone(),
                    m.body.clone(),
                )
            })
            .collect();
        let response = handle_batch(sqs_event(&messages), &dead, |body| {
            let publisher = &publisher;
            let flaky = flaky.clone();
            let attempts_of_32 = &attempts_of_32;
            async move {
                // Message 32's status write is throttled on its first two attempts.
                if body.contains("Incident 32") && attempts_of_32.fetch_add(1, Ordering::SeqCst) < 2
                {
                    flaky.fail.store(1, Ordering::SeqCst);
                }
                let r = publisher.handle(&body).await;
                flaky.fail.store(0, Ordering::SeqCst);
                r
            }
        })
        .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for (id, receipt, body) in &handles {
            if !failed.contains(&id.as_str()) {
                queue.delete(receipt).await.unwrap();
                if body.contains("Incident 31") {
                    published.insert(31);
                }
                if body.contains("Incident 32") {
                    published.insert(32);
                }
            } else if body.contains("Incident 31") {
                panic!("message 31 never fails");
            } else if body.contains("Incident 32") {
                retries_of_32 += 1;
            }
        }
    }
    assert_eq!(
        published,
        [31, 32].into_iter().collect(),
        "the throttled message succeeded on a retry"
    );
    assert_eq!(
        retries_of_32, 2,
        "message 32 was reported failed twice, alone"
    );
    let keys = fx.objects(&fx.status_bucket).await;
    assert!(
        keys.contains_key("data/incident/31.json") && keys.contains_key("data/incident/32.json")
    );
    // The unreadable body can never succeed: the handler sent it to the dead-letter
    // queue on its first receive, with the reason as an attribute, and deleted it;
    // the maintainers were mailed once, without its body.
    let out = fx
        .sqs
        .receive_message()
        .queue_url(&fx.publish_dlq)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let dead = out.messages();
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    assert_eq!(dead[0].body(), Some("not json"));
    let attribute = |name: &str| {
        dead[0]
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        attribute("reason").contains("message body: expected ident"),
        "{}",
        attribute("reason")
    );
    assert_eq!(attribute("queue"), "publish");
    assert_eq!(attribute("receive-count"), "1");
    assert!(!attribute("source-message-id").is_empty());
    assert_eq!(
        fx.depth(&fx.publish_queue).await,
        0,
        "and it left the queue"
    );
    let id = attribute("source-message-id");
    let notices: Vec<String> = sent_mail()
        .await
        .iter()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
            let text = m.body_text(0)?.into_owned();
            text.contains(&id).then_some(text)
        })
        .collect();
    assert_eq!(notices.len(), 1, "the maintainers are told once");
    assert!(
        notices[0].contains("Queue: publish") && notices[0].contains("message body: expected"),
        "{}",
        notices[0]
    );
    assert!(
        !notices[0].contains("not json"),
        "never the body: {}",
        notices[0]
    );
    assert_eq!(
        publisher.handle("not json").await,
        Err(ProcessError::Permanent(
            "message body: expected ident at line 1 column 2".into()
        ))
    );
}

#[tokio::test]
async fn ses_sends_both_parts() {
    let fx = Fixture::new("ses").await;
    let mailer = fx.aws.mailer(&fx.config(&[])).unwrap();
    let subject = format!("Alert: production: ses test {}", fx.status_bucket);
    let mail = openmic::mail::Mail {
        parts: Vec::new(),
        from: "openmic@status.example.com".into(),
        to: vec!["oncall@example.com".into()],
        subject: subject.clone(),
        text: "plain part".into(),
        html: "<p>html part</p>".into(),
        date: openmic::time::parse("2024-03-05T10:00:00Z").unwrap(),
        message_id: "<ses-test@openmic>".into(),
        in_reply_to: None,
        headers: vec![(
            "List-Unsubscribe-Post".into(),
            "List-Unsubscribe=One-Click".into(),
        )],
    };
    use openmic::ports::Mailer;
    mailer.send(&mail).await.unwrap();
    let sent = sent_mail().await;
    let ours: Vec<_> = sent.iter().filter(|m| m.contains(&subject)).collect();
    assert_eq!(ours.len(), 1);
    assert!(
        ours[0].contains("plain part") && ours[0].contains("<p>html part</p>"),
        "{}",
        ours[0]
    );
    assert!(ours[0].contains("To: oncall@example.com"));
    assert!(ours[0].contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
}

#[tokio::test]
async fn a_missing_resource_fails_at_start_naming_it() {
    let fx = Fixture::new("missing").await;
    let cases = [
        ("STATUS_BUCKET", "no-such-bucket-openmic"),
        ("STATE_BUCKET", "no-such-state-openmic"),
        (
            "PUBLISH_QUEUE_URL",
            "http://127.0.0.1:1/000000000000/missing.fifo",
        ),
    ];
    for (name, value) in cases {
        let config = fx.config(&[(name, value)]);
        let err = Runner::aws_with(config, fx.aws.clone())
            .await
            .err()
            .expect("refused");
        assert!(err.starts_with(name), "{err}");
    }
    let config = fx.config(&[("ALERT_QUEUE_URL", "http://127.0.0.1/000000000000/standard")]);
    let err = Runner::aws_with(config, fx.aws.clone())
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("ALERT_QUEUE_URL") && err.contains("FIFO"),
        "{err}"
    );
    let config = fx.config(&[("STATUS_BUCKET", "Bad_Name")]);
    let err = Runner::aws_with(config, fx.aws.clone())
        .await
        .err()
        .unwrap();
    assert!(
        err.contains("STATUS_BUCKET") && err.contains("not a valid S3 bucket name"),
        "{err}"
    );
}

/// The ordering case on the local runner's SQS worker (`--backend aws`, which hands
/// each receive to `SqsQueue::consume`, the one consumer): message 2 of a group is
/// never handled after message 1 of that group failed in the same receive; the other
/// group goes on; once message 1 succeeds, message 2 follows it.
#[tokio::test]
async fn the_sqs_worker_never_handles_a_group_past_its_failure() {
    let fx = Fixture::new("order").await;
    let queue = SqsQueue::new(fx.sqs.clone(), fx.publish_queue.clone());
    let message = |group: &str, body: &str| openmic::ports::OutMessage {
        group_id: group.into(),
        dedup_id: body.into(),
        body: body.into(),
    };
    queue
        .send_batch(vec![
            message("a", "a1"),
            message("b", "b1"),
            message("a", "a2"),
        ])
        .await
        .unwrap();
    let dead = openmic_aws::batch::DeadLetters {
        queue: "publish",
        max_receive_count: 10,
        dlq: None,
        mailer: None,
        config: Arc::new(fx.config(&[])),
    };
    let seen = std::sync::Mutex::new(Vec::<String>::new());
    let handle = |fail: bool| {
        let seen = &seen;
        move |body: String| async move {
            seen.lock().unwrap().push(body.clone());
            match (fail, body.as_str()) {
                (true, "a1") => Err(ProcessError::Retryable("GitLab answered 503".into())),
                _ => Ok(()),
            }
        }
    };
    // a1 fails on each receive until b1 has gone by: a2 is never handled meanwhile.
    for _ in 0..6 {
        queue.consume(1, 0, &dead, handle(true)).await.unwrap();
        if seen.lock().unwrap().iter().any(|b| b == "b1") {
            break;
        }
    }
    let before: Vec<String> = seen.lock().unwrap().drain(..).collect();
    assert!(before.iter().any(|b| b == "a1"), "{before:?}");
    assert!(before.iter().any(|b| b == "b1"), "{before:?}");
    assert!(
        !before.iter().any(|b| b == "a2"),
        "a2 was handled after a1 failed: {before:?}"
    );
    assert_eq!(fx.depth(&fx.publish_queue).await, 2, "a1 and a2 stay");
    for _ in 0..6 {
        queue.consume(1, 0, &dead, handle(false)).await.unwrap();
        if fx.depth(&fx.publish_queue).await == 0 {
            break;
        }
    }
    let after: Vec<String> = seen.lock().unwrap().clone();
    assert_eq!(after, ["a1", "a2"], "in order once a1 succeeds");
}
