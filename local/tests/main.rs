//! `openmic-local` as a user runs it, one module a file, built as one test binary
//! (tests/tests/main.rs checks that every file here is a module).

mod backup;
mod crash;
mod oncall;
mod poison;
mod prometheus;
mod start;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// `openmic-local serve` on `dir`, listening on `listen`, as a process.
fn serve(dir: &Path, listen: &str) -> Child {
    openmic_tests::serve::command(Path::new(env!("CARGO_BIN_EXE_openmic-local")), dir, listen)
        .spawn()
        .expect("openmic-local starts")
}

/// How many messages the server at `url` has queued, by its `/healthz`; `None` while
/// it does not answer.
async fn queued(client: &reqwest::Client, url: &str) -> Option<u64> {
    let r = client.get(format!("{url}/healthz")).send().await.ok()?;
    r.json::<serde_json::Value>().await.ok()?["queued"].as_u64()
}

/// Waits (30 s at most) until the server at `url` answers `/healthz`.
async fn until_up(client: &reqwest::Client, url: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while queued(client, url).await.is_none() {
        assert!(
            Instant::now() < until,
            "openmic-local did not answer /healthz"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
