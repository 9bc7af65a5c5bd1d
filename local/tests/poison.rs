//! Issue 23, finding 1: a one-line `Window:` stopped the publisher, and the local
//! runner stopped again at every start. Here the attack goes through `openmic-local
//! serve` as a process and the process stays up and its queue drains; a message that
//! stops the process every time (a crash, simulated by dropping the queue mid-handle)
//! ends in `dead/` with its reason; and a handler that panics fails its own message
//! only.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openmic::errors::ProcessError;
use openmic::memory::MemoryMailer;
use openmic_aws::batch::DeadLetters;
use openmic_files::FsQueue;
use openmic_local::Runner;
use openmic_tests::serve::free_listen;

use crate::{queued, serve, until_up};
use openmic_tests::{WEBHOOK_SECRET, event_file, send_text, test_config, tree};
use serde_json::{Value, json};

/// Windows a Reporter can write that used to panic in `maintenance/window.rs`.
const HOSTILE: [&str; 4] = [
    // The date is cut at the tenth byte, inside `é`.
    "2026-12-1é 02:00 UTC/PT2H",
    // Hours past what a chrono Duration holds.
    "2026-12-01T02:00:00Z/PT9999999999999999H",
    // The last date chrono knows, plus an hour.
    "+262142-12-31 23:59:59 +0000/PT1H",
    // Repeated units (and more of them below).
    "2026-12-01T02:00:00Z/PT1000000H1000000H1000000H",
];

/// An Issue Hook body for maintenance issue `iid` of project 42, by alice (a
/// publisher), labelled to be published, whose description holds `window`.
fn maintenance_hook(iid: u64, window: &str) -> String {
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let event: Value = serde_json::from_str(&raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let labels: Vec<Value> = ["maintenance", "status-page", "component::Database"]
        .iter()
        .map(|l| json!({"id": 600, "title": l, "project_id": 42, "type": "ProjectLabel"}))
        .collect();
    let a = &mut body["object_attributes"];
    a["id"] = json!(1000 + iid);
    a["iid"] = json!(iid);
    a["title"] = json!(format!("Maintenance {iid}"));
    a["description"] = json!(format!(
        "We move the database.\n\nWindow: {window}\nMute: job=\"db\""
    ));
    a["labels"] = json!(labels);
    body["labels"] = json!(labels);
    body.to_string()
}

/// The same hook as an API Gateway event, for a runner in this process.
fn maintenance_event(iid: u64, window: &str) -> String {
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    event["body"] = json!(maintenance_hook(iid, window));
    event["headers"]["idempotency-key"] = json!(format!("maintenance-{iid}"));
    event["headers"]["x-gitlab-event-uuid"] = json!(format!("maintenance-{iid}"));
    event.to_string()
}

/// The problems the publisher noted on incident `iid`, as text.
fn problems(dir: &Path, iid: u64) -> String {
    let state = tree(&dir.join("state"));
    let v: Value = serde_json::from_slice(&state[&format!("incidents/42/{iid}.json")]).unwrap();
    v["problems"].to_string()
}

#[tokio::test]
async fn a_hostile_window_goes_through_the_publisher_and_the_process_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let url = format!("http://{listen}");
    let client = openmic_tests::http().build().unwrap();
    let mut child = serve(dir.path(), &listen);
    until_up(&client, &url).await;
    let many = format!("2026-12-01T02:00:00Z/PT{}", "1H".repeat(50_000));
    let windows: Vec<&str> = HOSTILE.iter().copied().chain([many.as_str()]).collect();
    // The hostile maintenances, then a good one behind them in the same queue.
    let hooks = windows
        .iter()
        .enumerate()
        .map(|(n, w)| (10 + n as u64, maintenance_hook(10 + n as u64, w)))
        .chain([(30, maintenance_hook(30, "2026-12-01T02:00:00Z/PT2H"))]);
    for (iid, body) in hooks {
        let r = client
            .post(format!("{url}/gitlab"))
            .header("content-type", "application/json")
            .header("x-gitlab-token", WEBHOOK_SECRET)
            .header("x-gitlab-event", "Issue Hook")
            .header("idempotency-key", format!("hostile-{iid}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "maintenance {iid}");
    }
    let until = Instant::now() + Duration::from_secs(60);
    while queued(&client, &url).await != Some(0) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "openmic-local stopped on a Window line"
        );
        assert!(Instant::now() < until, "the publish queue did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "openmic-local is up");
    child.kill().unwrap();
    child.wait().unwrap();

    // Each hostile maintenance was read, withheld and said why; the good one is out.
    for (n, says) in [
        "not a date and time",
        "more than the 31 days",
        "ends after the last date",
        "more than the 31 days",
        "twice or out of order",
    ]
    .iter()
    .enumerate()
    {
        let p = problems(dir.path(), 10 + n as u64);
        assert!(
            p.contains(says),
            "{}: {p}",
            windows[n].chars().take(60).collect::<String>()
        );
    }
    let status = tree(&dir.path().join("status"));
    assert!(status.contains_key("data/incident/30.json"));
    assert!(!status.keys().any(|k| k.starts_with("data/incident/1")));
    let dead: Vec<_> = std::fs::read_dir(dir.path().join("queue/publish/dead"))
        .unwrap()
        .collect();
    assert!(
        dead.is_empty(),
        "every hostile event was handled, none given up on"
    );
}

/// A message whose handling stops the process every time: each start receives it
/// once more (the count is on disk), and the start after its last allowed receive
/// gives up on it before handling it, into `dead/` with the reason, and mails the
/// maintainers once; the queue then goes on.
#[tokio::test]
async fn a_crash_loop_ends_in_dead_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = || test_config(&[("MAX_RECEIVE_COUNT", "3")]);
    {
        let runner = Runner::embedded(dir.path(), config()).unwrap();
        let (status, body) =
            send_text(&runner, &maintenance_event(9, "2026-12-01T02:00:00Z/PT2H")).await;
        assert_eq!(status, 202, "{body}");
    }
    // Three starts that each stop while handling it: received, and never finished.
    let queue_dir = dir.path().join("queue/publish");
    for n in 1..=3 {
        let q = FsQueue::open(&queue_dir).unwrap();
        let d = q.next().await.unwrap().expect("the message waits");
        assert_eq!(d.receive_count, n);
        drop(q);
    }
    let runner = Runner::embedded(dir.path(), config()).unwrap();
    let (status, _) = send_text(&runner, &maintenance_event(30, "2026-12-01T02:00:00Z/PT2H")).await;
    assert_eq!(status, 202);
    runner.drain().await;
    assert_eq!(runner.pending().await, 0, "the queue drained");
    let dead = tree(&queue_dir.join("dead"));
    let reasons: Vec<String> = dead
        .iter()
        .filter(|(k, _)| k.ends_with(".reason"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(reasons.len(), 1, "{dead:?}");
    assert!(
        reasons[0].contains("received 3 times without an outcome"),
        "{}",
        reasons[0]
    );
    let status = tree(&dir.path().join("status"));
    assert!(
        !status.contains_key("data/incident/9.json"),
        "given up on, not handled"
    );
    assert!(
        status.contains_key("data/incident/30.json"),
        "the next message was handled"
    );
    let mails: Vec<String> = tree(&dir.path().join("outbox"))
        .into_values()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| m.contains("gave up on a message"))
        .collect();
    assert_eq!(mails.len(), 1, "the maintainers are told once");
    assert!(mails[0].contains("Queue: publish") && mails[0].contains("received 3 times"));
    assert!(!mails[0].contains("We move the database"), "never the body");
}

/// A handler that panics on a message fails that message alone: it goes to `dead/`
/// with the panic as its reason, the maintainers are mailed, and the next message is
/// handled by the same worker.
#[tokio::test]
async fn a_panicking_handler_fails_its_own_message_only() {
    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(FsQueue::open(dir.path()).unwrap());
    use openmic::ports::Queue;
    for (group, body) in [
        ("issue:1", "Window: 2026-12-1é 02:00 UTC/PT2H"),
        ("issue:2", "fine"),
    ] {
        q.send(openmic::ports::OutMessage {
            group_id: group.into(),
            dedup_id: group.into(),
            body: body.into(),
        })
        .await
        .unwrap();
    }
    let config = test_config(&[]);
    let mailer = Arc::new(MemoryMailer::default());
    let handle = |body: String| async move {
        if let Some(line) = body.strip_prefix("Window: ") {
            let (date, _) = line.split_at(10);
            return Ok::<_, ProcessError>(date.to_owned());
        }
        Ok(body)
    };
    let dead = DeadLetters {
        queue: "publish",
        max_receive_count: config.aws.max_receive_count,
        dlq: Some(q.clone()),
        mailer: Some(mailer.clone()),
        config: Arc::new(config),
    };
    let (came, failed) = q.consume(10, &dead, handle).await.unwrap();
    assert_eq!((came, failed), (2, 0), "neither stays for a retry");
    assert_eq!(q.pending(), 0);
    let dead = q.dead();
    assert_eq!(dead.len(), 1);
    let reason = std::fs::read_to_string(q.dead_dir().join(format!("{}.reason", dead[0]))).unwrap();
    assert!(
        reason.contains("the handler panicked at ") && !reason.contains("2026-12-1é"),
        "{reason}"
    );
    let mails = mailer.take();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text.contains("the handler panicked"));
    assert!(!mails[0].text.contains("2026-12-1é"), "never the body");
}
