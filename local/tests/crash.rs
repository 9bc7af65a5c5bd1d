//! `openmic-local serve` killed (SIGKILL) while webhooks it accepted wait in its queue:
//! started again on the same data directory, it handles every one of them.

use std::time::{Duration, Instant};

use crate::{queued, serve, until_up};

use openmic_tests::WEBHOOK_SECRET;
use openmic_tests::serve::{NoteHooks, free_listen, notes_in_state};

const NOTES: u64 = 300;

/// The id of note `n`.
fn note_id(n: u64) -> u64 {
    500_000 + n
}

#[tokio::test]
async fn accepted_webhooks_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let url = format!("http://{listen}");
    let client = openmic_tests::http().build().unwrap();
    let hooks = NoteHooks::load();

    let mut first = serve(dir.path(), &listen);
    until_up(&client, &url).await;
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..NOTES {
        let body = hooks.body(200 + n % 5, note_id(n), &format!("Crash note {n}"));
        let (client, url) = (client.clone(), url.clone());
        sends.spawn(async move {
            client
                .post(format!("{url}/gitlab"))
                .header("content-type", "application/json")
                .header("x-gitlab-token", WEBHOOK_SECRET)
                .header("x-gitlab-event", "Note Hook")
                .header("idempotency-key", format!("crash-note-{n}"))
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
    }
    let statuses = sends.join_all().await;
    let waiting = queued(&client, &url).await.unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(202))),
        "every note accepted: {statuses:?}"
    );
    assert!(waiting > 0, "the kill came while accepted notes waited");
    let handled_before = notes_in_state(dir.path()).len();
    assert!(
        handled_before < NOTES as usize,
        "{handled_before} handled before the kill"
    );

    let mut second = serve(dir.path(), &listen);
    until_up(&client, &url).await;
    let until = Instant::now() + Duration::from_secs(60);
    while queued(&client, &url).await != Some(0) {
        assert!(
            Instant::now() < until,
            "the queue did not empty after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    let mut expected: Vec<String> = (0..NOTES).map(|n| note_id(n).to_string()).collect();
    expected.sort();
    assert_eq!(
        notes_in_state(dir.path()),
        expected,
        "every accepted note handled"
    );
    let dead = std::fs::read_dir(dir.path().join("queue/publish/dead"))
        .unwrap()
        .count();
    assert_eq!(dead, 0, "nothing dead-lettered");
}
