//! Faults against the S3/SQS/SES-compatible server (through a fault-injecting proxy)
//! and inside the publisher: throttling, 5xx, timeouts, lost conditional writes, a
//! crash between the detail and the list, an unpublish cut halfway. After recovery
//! the bucket is right, and no event or alert was lost or doubled.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use openmic::errors::ProcessError;
use openmic::ports::{BackendError, Object, ObjectStore, PutOptions};
use openmic::publishing::Publisher;
use openmic_files::FsStore;
use openmic_local::Runner;
use openmic_tests::aws::{Fixture, endpoint, sent_mail};
use openmic_tests::proxy::{Fault, FaultProxy, Rule};
use openmic_tests::*;

fn rule(method: &'static str, path: String, fault: Fault, times: usize) -> Rule {
    Rule {
        method: Some(method),
        path: Some(path),
        target: None,
        fault,
        times,
    }
}

/// Handles every queued message, retrying until the queues are empty (bounded).
async fn drain_until_empty(runner: &Runner) {
    for _ in 0..60 {
        runner.drain().await;
        if runner.pending().await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("messages left in the queues: {}", runner.pending().await);
}

#[tokio::test]
async fn the_story_survives_throttling_5xx_timeouts_and_lost_races() {
    let fx = Fixture::new("faults").await;
    let proxy = FaultProxy::start(&endpoint()).await;
    let (status, state) = (fx.status_bucket.clone(), fx.state_bucket.clone());
    // More faults than the SDK's three attempts, so some reach openmic's own retry.
    proxy.add(rule(
        "PUT",
        format!("/{status}/data/incident/1.json"),
        Fault::s3_slow_down(),
        4,
    ));
    proxy.add(rule(
        "GET",
        format!("/{state}/incidents/42/2.json"),
        Fault::s3_internal(),
        3,
    ));
    proxy.add(rule(
        "PUT",
        format!("/{state}/index/published.json"),
        Fault::Hang(std::time::Duration::from_secs(6)),
        1,
    ));
    proxy.add(rule(
        "PUT",
        format!("/{state}/index/published.json"),
        Fault::s3_precondition_failed(),
        2,
    ));
    proxy.add(rule(
        "PUT",
        format!("/{status}/data/list.json"),
        Fault::s3_internal(),
        4,
    ));
    proxy.add(Rule {
        method: Some("POST"),
        path: None,
        target: Some("AmazonSQS.SendMessage"),
        fault: Fault::json(500, "InternalError"),
        times: 2,
    });
    let aws = fx.aws_via(&proxy.url).await;
    let mut runner = Runner::aws_with(fx.config(&[]), aws)
        .await
        .expect("runner through the proxy");
    runner.publisher.clock = site_clock();
    let files = event_files("gitlab-story");
    for (name, code) in replay_all(&runner, &files).await {
        assert_eq!(code, 202, "{name}");
    }
    drain_until_empty(&runner).await;
    assert_eq!(
        proxy.pending(),
        0,
        "every fault was given: {:?}",
        proxy.injected()
    );

    let dir = tempfile::tempdir().unwrap();
    let clean = embedded(dir.path(), &[]);
    replay_all(&clean, &files).await;
    let want = tree(&dir.path().join("status"));
    let got = fx.objects(&fx.status_bucket).await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert!(got[k] == *v, "{k} differs after the faults");
    }
    // Nothing doubled: the state matches the clean run's too.
    let state_got = fx.objects(&fx.state_bucket).await;
    let state_want = tree(&dir.path().join("state"));
    for k in [
        "incidents/42/1.json",
        "incidents/42/2.json",
        "incidents/42/3.json",
        "index/published.json",
    ] {
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&state_got[k]).unwrap(),
            serde_json::from_slice::<serde_json::Value>(&state_want[k]).unwrap(),
            "{k}"
        );
    }
}

#[tokio::test]
async fn ses_throttling_mails_once_after_recovery() {
    let fx = Fixture::new("sesfault").await;
    let proxy = FaultProxy::start(&endpoint()).await;
    proxy.add(rule(
        "POST",
        "/v2/email/outbound-emails".into(),
        Fault::json(429, "TooManyRequestsException"),
        4,
    ));
    let tag = fx.state_bucket.trim_start_matches("state-").to_owned();
    let to = format!("oncall+{tag}@example.com");
    let runner = Runner::aws_with(
        fx.config(&[("MAINTAINER_EMAILS", &to)]),
        fx.aws_via(&proxy.url).await,
    )
    .await
    .unwrap();
    let files = event_files("alerts");
    replay_all(&runner, &files[..3]).await;
    drain_until_empty(&runner).await;
    assert_eq!(proxy.pending(), 0);
    let mut subjects: Vec<String> = sent_mail()
        .await
        .into_iter()
        .filter(|m| m.contains(&to))
        .map(|m| {
            m.lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "Subject: Alert: production: High error rate on api-1:9100",
            "Subject: Alert: production: High error rate on api-1:9100 (resolved)",
            "Subject: Alert: production: High error rate on api-2:9100",
        ],
        "each mail once: none lost to throttling, none doubled by the retry"
    );
}

/// A store that fails the `n`th write or delete (counting from 0) with a passing
/// error, as if the process had died there.
struct CrashAt {
    inner: Arc<dyn ObjectStore>,
    count: AtomicUsize,
    at: usize,
}

impl CrashAt {
    fn step(&self, what: &str) -> Result<(), BackendError> {
        if self.count.fetch_add(1, Ordering::SeqCst) == self.at {
            return Err(BackendError::Transient(format!("crash at {what}")));
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for CrashAt {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError> {
        self.step(key)?;
        self.inner.put(key, body, opts).await
    }
    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.step(key)?;
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
        self.step(key)?;
        self.inner.put_file(key, path, opts).await
    }
}

/// The queue message for an event file, as intake writes it.
fn message_of(file: &std::path::Path) -> String {
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    serde_json::json!({
        "source": "gitlab",
        "event": event["headers"]["x-gitlab-event"],
        "delivery": event["headers"]["idempotency-key"],
        "received_at": "2024-03-01T09:00:00.000Z",
        "payload": serde_json::from_str::<serde_json::Value>(event["body"].as_str().unwrap()).unwrap(),
    })
    .to_string()
}

fn publisher(dir: &std::path::Path, status: Arc<dyn ObjectStore>) -> Publisher {
    publisher_with(dir, status, &[])
}

fn publisher_with(
    dir: &std::path::Path,
    status: Arc<dyn ObjectStore>,
    settings: &[(&str, &str)],
) -> Publisher {
    let config = Arc::new(test_config(settings));
    let state: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.join("state")).unwrap());
    Publisher::new(config, state, status, None)
}

#[tokio::test]
async fn a_crash_at_any_write_of_a_publish_is_repaired_by_the_redelivery() {
    let files = event_files("gitlab-story");
    let label = message_of(&files[6]);
    // The clean result of the first seven events.
    let clean = tempfile::tempdir().unwrap();
    let p = publisher(
        clean.path(),
        Arc::new(FsStore::open(clean.path().join("status")).unwrap()),
    );
    for f in &files[..7] {
        p.handle(&message_of(f)).await.unwrap();
    }
    let want = tree(&clean.path().join("status"));
    // The publish writes the detail, the page, the index, the list and the site: crash
    // at each in turn; the message is redelivered and handled again.
    for at in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("status")).unwrap());
        let p = publisher(dir.path(), fs.clone());
        for f in &files[..6] {
            p.handle(&message_of(f)).await.unwrap();
        }
        let crashing = publisher(
            dir.path(),
            Arc::new(CrashAt {
                inner: fs.clone(),
                count: AtomicUsize::new(0),
                at,
            }),
        );
        let first = crashing.handle(&label).await;
        // Nine writes: the detail, its page, the list and six site objects.
        if at < 9 {
            assert!(
                matches!(first, Err(ProcessError::Retryable(_))),
                "crash at write {at}: {first:?}"
            );
        }
        p.handle(&label).await.unwrap();
        assert_eq!(
            tree(&dir.path().join("status")),
            want,
            "after a crash at write {at}"
        );
    }
}

#[tokio::test]
async fn an_unpublish_cut_halfway_never_leaves_the_detail_up() {
    let files = event_files("gitlab-story");
    let confidential = message_of(&files[15]);
    for at in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("status")).unwrap());
        let p = publisher(dir.path(), fs.clone());
        p.handle(&message_of(&files[14])).await.unwrap();
        assert!(dir.path().join("status/data/incident/2.json").exists());
        let crashing = publisher(
            dir.path(),
            Arc::new(CrashAt {
                inner: fs.clone(),
                count: AtomicUsize::new(0),
                at,
            }),
        );
        let first = crashing.handle(&confidential).await;
        if at == 0 {
            // The state was saved but the very first delete failed: the message fails
            // and is retried; the detail is still up until then.
            assert!(first.is_err());
        } else {
            assert!(
                !dir.path().join("status/data/incident/2.json").exists(),
                "crash at step {at} left the detail up"
            );
        }
        p.handle(&confidential).await.unwrap();
        let status = tree(&dir.path().join("status"));
        assert_eq!(
            data_keys(&status),
            vec!["data/list.json"],
            "after a crash at step {at}"
        );
        assert_eq!(
            json_of(&status, "data/list.json"),
            serde_json::json!({"incidents": []})
        );
    }
}

#[tokio::test]
async fn with_audiences_an_unpublish_cut_anywhere_is_finished_by_the_redelivery() {
    // With audiences a page skips a take-down of an incident it never showed; a
    // take-down cut after any write must still be finished when the message comes
    // again: nothing of the incident stays on the public page.
    let files = event_files("gitlab-story");
    let confidential = message_of(&files[15]);
    let audiences = [("AUDIENCES", "staff=ops")];
    for at in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("status")).unwrap());
        let p = publisher_with(dir.path(), fs.clone(), &audiences);
        p.handle(&message_of(&files[14])).await.unwrap();
        assert!(dir.path().join("status/data/incident/2.json").exists());
        let crashing = publisher_with(
            dir.path(),
            Arc::new(CrashAt {
                inner: fs.clone(),
                count: AtomicUsize::new(0),
                at,
            }),
            &audiences,
        );
        let _ = crashing.handle(&confidential).await;
        p.handle(&confidential).await.unwrap();
        let status = tree(&dir.path().join("status"));
        assert_eq!(
            json_of(&status, "data/list.json"),
            serde_json::json!({"incidents": []}),
            "after a crash at write {at}"
        );
        for (key, body) in &status {
            assert!(
                !String::from_utf8_lossy(body).contains("Login page slow"),
                "after a crash at write {at}, {key} still shows the incident"
            );
        }
    }
}
