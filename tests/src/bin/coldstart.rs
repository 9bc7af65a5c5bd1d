//! Cold start and memory of each Lambda function's release binary: a tiny Lambda
//! Runtime API on loopback, the binary started as Lambda would, the time from exec to
//! its first request for an event, then one real event handled against the
//! S3/SQS/SES-compatible server and the peak resident memory (VmHWM) after it.
//!
//! coldstart <binary dir> <server URL> [runs] [function,...]
//!
//! With a list of functions, only those (and the floor) are measured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use openmic_tests::aws::Fixture;
use openmic_tests::{ALERT_TOKEN, WEBHOOK_SECRET, event_file};
use serde_json::json;

#[derive(Default)]
struct Run {
    first_next: Option<Instant>,
    served: bool,
    response: Option<String>,
}

#[derive(Clone)]
struct Api {
    event: Arc<String>,
    run: Arc<Mutex<Run>>,
}

async fn next(State(api): State<Api>) -> axum::response::Response {
    let first = {
        let mut run = api.run.lock().unwrap();
        run.first_next.get_or_insert_with(Instant::now);
        let first = !run.served;
        run.served = true;
        first
    };
    if !first {
        // One event per cold start; the function then waits here until it is stopped.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        (now_ms() + 30_000).to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:openmic"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (headers, api.event.as_str().to_owned()).into_response()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

async fn response(State(api): State<Api>, Path(_id): Path<String>, body: String) -> &'static str {
    api.run.lock().unwrap().response = Some(body);
    "{}"
}

async fn error(State(api): State<Api>, body: String) -> &'static str {
    api.run.lock().unwrap().response = Some(format!("ERROR {body}"));
    "{}"
}

async fn serve(event: String) -> (SocketAddr, Api) {
    let api = Api {
        event: Arc::new(event),
        run: Arc::new(Mutex::new(Run::default())),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, api)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// An SQS batch of one message from the queue at `url` (its ARN names it, as Lambda's
/// event source mapping does).
fn sqs_event(url: &str, body: &str) -> String {
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    json!({"Records": [{
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1709283600000",
        "MessageGroupId": "issue:2", "MessageDeduplicationId": "d1", "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1709283600001"},
        "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{name}"), "awsRegion": "us-east-1"}]})
    .to_string()
}

fn event_text(folder: &str, name: &str) -> String {
    std::fs::read_to_string(event_file(folder, name))
        .unwrap()
        .replace("${GITLAB_WEBHOOK_SECRET}", WEBHOOK_SECRET)
        .replace("${ALERT_TOKEN}", ALERT_TOKEN)
}

fn envelope_of(folder: &str, name: &str) -> String {
    let event: serde_json::Value = serde_json::from_str(&event_text(folder, name)).unwrap();
    json!({"source": "gitlab", "event": event["headers"]["x-gitlab-event"], "delivery": "cold-1",
           "received_at": "2024-03-02T12:00:00.000Z",
           "payload": serde_json::from_str::<serde_json::Value>(event["body"].as_str().unwrap()).unwrap()})
    .to_string()
}

fn alert_envelope() -> String {
    let event: serde_json::Value =
        serde_json::from_str(&event_text("alerts", "002-one-repeats.json")).unwrap();
    let parsed = openmic::alerts::parse::parse(
        event["body"].as_str().unwrap().as_bytes(),
        chrono::Utc::now(),
    )
    .unwrap();
    openmic::intake::alerts::messages(parsed, "cold-1", "2024-03-05T10:00:00.000Z")
        .unwrap()
        .remove(0)
        .2
}

/// What Lambda sets for every function of a custom runtime, beside its own variables
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
const LAMBDA_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
    ("LANG", "en_US.UTF-8"),
    ("TZ", ":UTC"),
    ("LAMBDA_TASK_ROOT", "/var/task"),
    ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
    ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
    ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin_dir, server) = match (args.get(1), args.get(2)) {
        (Some(b), Some(s)) => (PathBuf::from(b), s.clone()),
        _ => {
            eprintln!("usage: coldstart <binary dir> <server URL> [runs]");
            std::process::exit(2)
        }
    };
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(5);
    let only: Option<Vec<String>> = args
        .get(4)
        .map(|l| l.split(',').map(str::to_owned).collect());
    // SAFETY of set_var: single-threaded at this point of start-up in effect; the
    // fixture reads it below.
    unsafe { std::env::set_var("OPENMIC_TEST_AWS_ENDPOINT", &server) };
    let fx = Fixture::new("cold").await;
    let mut env: Vec<(String, String)> = fx
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    // The subscriptions' updates queue, as the template makes it.
    let updates = fx
        .sqs
        .create_queue()
        .queue_name(format!("updates-{}.fifo", fx.state_bucket))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("the updates queue")
        .queue_url()
        .expect("its URL")
        .to_owned();
    env.push(("UPDATE_QUEUE_URL".to_owned(), updates));
    for (k, v) in [
        ("SUBSCRIPTIONS", "on"),
        (
            "SUBSCRIPTION_SECRET",
            "subscription-secret-for-the-cold-start-0123456789",
        ),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
        (
            "ALERT_LINK_SECRET",
            "alert-link-secret-for-the-cold-start-0123456789",
        ),
        ("GITLAB_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("ALERT_TOKEN", ALERT_TOKEN),
        ("GITLAB_PROJECT_ID", "42"),
        ("PUBLISHERS", "alice"),
        ("MAIL_FROM", "openmic@status.example.com"),
        ("MAINTAINER_EMAILS", "oncall@example.com"),
        ("STATUS_PAGE_URL", "https://status.example.com"),
        ("AWS_ENDPOINT_URL", &server),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("_HANDLER", "bootstrap"),
        ("RUST_LOG", "warn"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    // The sign-in function's own: audiences, the GitLab application, and its
    // CloudFront key in Secrets Manager (read at start, as on Lambda).
    let signin_env = signin_env(&fx).await;
    let none: Vec<(String, String)> = Vec::new();
    let cases = [
        // The floor: lambda_runtime alone, answering the webhook's event.
        (
            "floor-lambda",
            event_text("gitlab-story", "015-second-incident-published.json"),
            "\"statusCode\":202",
            &none,
        ),
        (
            "openmic-webhook",
            event_text("gitlab-story", "015-second-incident-published.json"),
            "\"statusCode\":202",
            &none,
        ),
        (
            "openmic-alerts",
            event_text("alerts", "001-two-alerts-fire.json"),
            "\"statusCode\":202",
            &none,
        ),
        (
            "openmic-publisher",
            sqs_event(&fx.publish_queue, &envelope_of(
                "gitlab-story",
                "015-second-incident-published.json",
            )),
            "\"batchItemFailures\":[]",
            &none,
        ),
        (
            "openmic-notifier",
            sqs_event(&fx.alert_queue, &alert_envelope()),
            "\"batchItemFailures\":[]",
            &none,
        ),
        (
            "openmic-subscriptions",
            json!({"version": "2.0", "rawPath": "/subscribe", "rawQueryString": "",
                "headers": {"accept": "text/html"},
                "requestContext": {"http": {"method": "GET", "path": "/subscribe", "sourceIp": "192.0.2.7"}}})
            .to_string(),
            "\"statusCode\":200",
            &none,
        ),
        (
            "openmic-signin",
            json!({"version": "2.0", "rawPath": "/logout", "rawQueryString": "",
                "headers": {"accept": "text/html"},
                "requestContext": {"http": {"method": "GET", "path": "/logout", "sourceIp": "192.0.2.7"}}})
            .to_string(),
            "\"statusCode\":302",
            &signin_env,
        ),
    ];
    println!("function\tcold_start_ms_median\tcold_start_ms_max\tpeak_rss_mb_max");
    for (name, event, want, extra) in cases {
        if name != "floor-lambda" && only.as_ref().is_some_and(|o| !o.iter().any(|f| f == name)) {
            continue;
        }
        let binary = bin_dir.join(name);
        assert!(
            binary.exists(),
            "{} is missing: build with cargo build --release",
            binary.display()
        );
        let mut starts = Vec::new();
        let mut peak_kb = 0;
        for run in 0..runs {
            let (addr, api) = serve(event.clone()).await;
            let t0 = Instant::now();
            // Lambda's environment, not this shell's (whose SSL_CERT_FILE, for one,
            // a function would honour).
            let mut child = tokio::process::Command::new(&binary)
                .env_clear()
                .envs(LAMBDA_ENV.iter().copied())
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", name)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("the function starts");
            let pid = child.id().unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let done = api.run.lock().unwrap().response.is_some();
                if done || Instant::now() > deadline {
                    break;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use tokio::io::AsyncReadExt;
                        let _ = e.read_to_string(&mut err).await;
                    }
                    panic!("{name} exited with {status}: {err}");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // Let it reach the next poll, then read its peak memory.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let hwm = vm_hwm_kb(pid).unwrap_or(0);
            let _ = child.kill().await;
            let run_state = api.run.lock().unwrap();
            let response = run_state
                .response
                .clone()
                .unwrap_or_else(|| panic!("{name}: no response (run {run})"));
            assert!(
                response.contains(want),
                "{name}: unexpected response {response}"
            );
            let first = run_state.first_next.expect("asked for an event");
            starts.push(first.duration_since(t0).as_secs_f64() * 1000.0);
            peak_kb = peak_kb.max(hwm);
        }
        starts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{name}\t{:.2}\t{:.2}\t{:.1}",
            starts[starts.len() / 2],
            starts[starts.len() - 1],
            peak_kb as f64 / 1024.0
        );
    }
}

/// The sign-in function's settings: a 2048-bit key made by openssl now, its private
/// half put in Secrets Manager as the template's secret would hold it.
async fn signin_env(fx: &Fixture) -> Vec<(String, String)> {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl makes the key");
    assert!(out.status.success(), "openssl genpkey failed");
    let pem = String::from_utf8(out.stdout).unwrap();
    let name = format!("cloudfront-key-{}", fx.state_bucket);
    aws_sdk_secretsmanager::Client::new(&fx.aws.sdk)
        .create_secret()
        .name(&name)
        .secret_string(pem)
        .send()
        .await
        .expect("the key's secret");
    [
        ("AUDIENCES", "staff=ops,eng; acme=customers/acme"),
        ("GITLAB_URL", "https://gitlab.example.com"),
        ("GITLAB_OIDC_CLIENT_ID", "openmic-cold-start"),
        ("GITLAB_OIDC_CLIENT_SECRET", "gloas-cold-start-secret"),
        ("CLOUDFRONT_KEY_PAIR_ID", "K2JCJMDEHXQW5F"),
        ("CLOUDFRONT_PRIVATE_KEY_SECRET", &name),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
