//! API Gateway envelopes (HTTP API payload 2.0 and REST 1.0): `api_gateway_request`,
//! then, if the envelope reads, the request through the intake router (`oneshot`) of an
//! embedded runner in a temporary directory. Every reply has a documented status
//! (200, 202, 400, 401, 403, 404, 405, 413, or 503 when the queue refuses) and a JSON
//! body; an accepted event is then handled to the end by the publisher or the notifier
//! (`drain`), which must not panic on anything intake let through.
//!
//! `${GITLAB_WEBHOOK_SECRET}` and `${ALERT_TOKEN}` in an input stand for the runner's
//! secrets, as in the files under `events/`, so the fuzzer gets past authentication.
//!
//! A panic that escapes `api_gateway_request` is a finding (one inside it that it
//! catches is not); `OPENMIC_FUZZ_SKIP=envelope-panic` takes an escaped one as "not an
//! envelope", so that a long run can go on exploring past a finding already reported.

#![no_main]

use std::panic::AssertUnwindSafe;
use std::sync::{LazyLock, Mutex};

use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use openmic::config::Config;
use openmic_local::{Runner, api_gateway_request};
use tower::ServiceExt;

/// Requests handled by one runner before it starts afresh in a new directory, so the
/// queue's deduplication files and the buckets stay small.
const RUNS_PER_DIR: u32 = 2000;

/// Statuses intake documents.
const DOCUMENTED: [u16; 9] = [200, 202, 400, 401, 403, 404, 405, 413, 503];

fn config() -> Config {
    Config::from_lookup(|k| {
        match k {
            "GITLAB_WEBHOOK_SECRET" => Some("fuzz-webhook-secret-0123456789"),
            "ALERT_TOKEN" => Some("fuzz-alert-token-0123456789"),
            "GITLAB_PROJECT_ID" => Some("42"),
            "PUBLISHERS" => Some("alice"),
            "MAIL_FROM" => Some("openmic@status.example.com"),
            "MAINTAINER_EMAILS" => Some("oncall@example.com"),
            "STATUS_PAGE_URL" => Some("https://status.example.com"),
            // Small enough that a fuzzed body can pass it.
            "MAX_BODY_BYTES" => Some("16384"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .expect("fuzz configuration is valid")
}

struct Embedded {
    runner: Runner,
    runs: u32,
    // Dropped after the runner: removes the directory.
    _dir: tempfile::TempDir,
}

impl Embedded {
    fn new() -> Embedded {
        let dir = tempfile::Builder::new()
            .prefix("openmic-fuzz-")
            .tempdir()
            .expect("a temporary directory");
        let runner = Runner::embedded(dir.path(), config()).expect("the embedded runner starts");
        Embedded {
            runner,
            runs: 0,
            _dir: dir,
        }
    }
}

static SKIP_ENVELOPE_PANIC: LazyLock<bool> = LazyLock::new(|| {
    std::env::var("OPENMIC_FUZZ_SKIP")
        .unwrap_or_default()
        .split(',')
        .any(|s| s.trim() == "envelope-panic")
});

/// The envelope as a request. libFuzzer's panic hook aborts on every panic, even one
/// the code would catch itself, so the hook is set aside for the call: a panic is a
/// finding (unless `envelope-panic` is skipped).
fn envelope(text: &str, config: &Config) -> Option<http::Request<axum::body::Body>> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| api_gateway_request(text, config)));
    std::panic::set_hook(hook);
    match result {
        Ok(request) => request.ok(),
        Err(_) if *SKIP_ENVELOPE_PANIC => None,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panic!("api_gateway_request panicked: {why}")
        }
    }
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

static EMBEDDED: LazyLock<Mutex<Option<Embedded>>> = LazyLock::new(|| Mutex::new(None));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut slot = EMBEDDED.lock().unwrap_or_else(|e| e.into_inner());
    if slot.as_ref().is_none_or(|e| e.runs >= RUNS_PER_DIR) {
        *slot = None; // the old directory goes before the new one is made
        *slot = Some(Embedded::new());
    }
    let embedded = slot.as_mut().expect("a runner");
    embedded.runs += 1;
    let runner = &embedded.runner;

    let Some(request) = envelope(text, &runner.config) else {
        return;
    };
    RUNTIME.block_on(async {
        let response = runner
            .intake_router()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the reply's body reads")
            .to_bytes();
        assert!(
            DOCUMENTED.contains(&status),
            "undocumented status {status}: {}",
            String::from_utf8_lossy(&body)
        );
        let reply: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "the {status} reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        match status {
            202 => assert!(reply["queued"].is_u64(), "{reply}"),
            200 => assert!(reply["ignored"].is_string(), "{reply}"),
            _ => assert!(reply["error"].is_string(), "{status} {reply}"),
        }
        if status == 202 {
            runner.drain().await;
        }
    });
});
