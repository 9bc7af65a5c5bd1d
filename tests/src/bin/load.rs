//! Load on `openmic-local serve` over loopback, bounded in count and time.
//!
//! load burst <openmic-local binary> [count] [concurrency]
//! load floor <floor-serve binary> [count] [concurrency]   (the same burst, replies only)
//!     `count` GitLab note hooks (distinct deliveries, over 20 incidents) sent with
//!     `concurrency` connections (opened, each with one delivery handled, before the
//!     clock starts); prints reply
//!     p50/p99/max, the CPU time the server's threads and the driver spent on the
//!     burst, and, once the queue is empty, how many were processed (every note must be
//!     in its incident's state). `LOAD_TRACE=1` writes each reply time to stderr, in the
//!     order sent.
//! load sustained <openmic-local binary> [seconds] [concurrency]
//!     note hooks and generic alerts for `seconds`; the server's memory is sampled every
//!     second; every accepted event must be processed exactly once in effect (each note
//!     once in the state, each alert one record with one event and one mail).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openmic_tests::serve::{NoteHooks, command, free_listen, notes_in_state};
use openmic_tests::{ALERT_TOKEN, WEBHOOK_SECRET};
use serde_json::json;
use tokio::sync::Semaphore;

struct Server {
    child: tokio::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

async fn start(binary: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_listen();
    let child = tokio::process::Command::from(command(binary, dir.path(), &listen))
        .kill_on_drop(true)
        .spawn()
        .expect("openmic-local starts");
    let url = format!("http://{listen}");
    let client = openmic_tests::http().build().unwrap();
    for _ in 0..200 {
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            return Server { child, url, dir };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("openmic-local did not answer /healthz");
}

/// Note `n` of the load, on one of 20 incidents.
fn note_body(hooks: &NoteHooks, n: usize) -> String {
    hooks.body(
        100 + (n % 20) as u64,
        100_000 + n as u64,
        &format!("Load note {n}"),
    )
}

async fn send_note(
    client: &reqwest::Client,
    url: &str,
    body: String,
    n: usize,
) -> (bool, Duration) {
    let t = Instant::now();
    let r = client
        .post(format!("{url}/gitlab"))
        .header("content-type", "application/json")
        .header("x-gitlab-token", WEBHOOK_SECRET)
        .header("x-gitlab-event", "Note Hook")
        .header("idempotency-key", format!("load-note-{n}"))
        .body(body)
        .send()
        .await;
    (r.is_ok_and(|r| r.status().as_u16() == 202), t.elapsed())
}

async fn send_alert(client: &reqwest::Client, url: &str, n: usize) -> (bool, Duration) {
    let t = Instant::now();
    let body = json!({"title": format!("Load alert {n}"), "fingerprint": format!("load-{n}"), "severity": "low"});
    let r = client
        .post(format!("{url}/alerts"))
        .bearer_auth(ALERT_TOKEN)
        .json(&body)
        .header("idempotency-key", format!("load-alert-{n}"))
        .send()
        .await;
    (r.is_ok_and(|r| r.status().as_u16() == 202), t.elapsed())
}

async fn wait_empty(url: &str, limit: Duration) -> bool {
    let client = openmic_tests::http().build().unwrap();
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["queued"] == 0
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// CPU time (ms, from the scheduler's own accounting) of a process's threads, by
/// thread name.
fn cpu_by_thread(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut by = std::collections::BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let (Ok(name), Ok(sched)) = (
                std::fs::read_to_string(t.path().join("comm")),
                std::fs::read_to_string(t.path().join("schedstat")),
            ) else {
                continue;
            };
            let ns: f64 = sched
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *by.entry(name.trim().to_string()).or_insert(0.0) += ns / 1e6;
        }
    }
    by
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// A burst of `count` note hooks over `concurrency` connections. `floor`: the server is
/// `floor-serve`, which answers and keeps nothing, so only the replies are measured.
async fn burst(binary: PathBuf, count: usize, concurrency: usize, floor: bool) {
    let server = start(&binary).await;
    let template = NoteHooks::load();
    let bodies: Vec<String> = (0..count).map(|n| note_body(&template, n)).collect();
    let client = openmic_tests::http()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    // Before the clock: open the connections (the clock is for replies, not for TCP
    // handshakes), each with one delivery of its own, and let the server handle them,
    // so the burst lands on a server that has taken webhooks before. The very first
    // delivery to a new data directory records which project it serves (a synced
    // write, once), and sixteen replies waiting on it would be the p99 of a thousand.
    let mut warm = tokio::task::JoinSet::new();
    for n in count..count + concurrency {
        let (client, url) = (client.clone(), server.url.clone());
        let body = note_body(&template, n);
        warm.spawn(async move { send_note(&client, &url, body, n).await.0 });
    }
    let warmed = warm.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(warmed, concurrency, "the warm-up deliveries were refused");
    if !floor {
        assert!(
            wait_empty(&server.url, Duration::from_secs(60)).await,
            "the warm-up deliveries were not handled"
        );
    }
    let sem = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let pid = server.child.id().unwrap_or(0);
    let cpu_before = cpu_by_thread(pid);
    let own_before = cpu_by_thread(std::process::id());
    let start = Instant::now();
    for (n, body) in bodies.into_iter().enumerate() {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (client, url) = (client.clone(), server.url.clone());
        tasks.spawn(async move {
            let r = send_note(&client, &url, body, n).await;
            drop(permit);
            r
        });
    }
    let results = tasks.join_all().await;
    let sent_in = start.elapsed();
    if std::env::var_os("LOAD_TRACE").is_some() {
        for (i, r) in results.iter().enumerate() {
            eprintln!("{i}\t{:.3}", r.1.as_secs_f64() * 1000.0);
        }
    }
    let cpu_after = cpu_by_thread(pid);
    let own_after = cpu_by_thread(std::process::id());
    for (name, ms) in &cpu_after {
        println!(
            "burst\tserver_cpu_ms[{name}]\t{:.0}",
            ms - cpu_before.get(name).unwrap_or(&0.0)
        );
    }
    let own: f64 = own_after.values().sum::<f64>() - own_before.values().sum::<f64>();
    println!("burst\tdriver_cpu_ms\t{own:.0}");
    let accepted = results.iter().filter(|r| r.0).count();
    let mut lat: Vec<Duration> = results.iter().map(|r| r.1).collect();
    lat.sort();
    let (empty, processed) = if floor {
        (true, count)
    } else {
        (
            wait_empty(&server.url, Duration::from_secs(120)).await,
            // The burst's notes (ids below the warm-up's).
            notes_in_state(server.dir.path())
                .iter()
                .filter(|id| {
                    id.parse::<u64>()
                        .is_ok_and(|id| id < 100_000 + count as u64)
                })
                .count(),
        )
    };
    println!("burst\tcount\t{count}");
    println!("burst\tconcurrency\t{concurrency}");
    println!("burst\taccepted\t{accepted}");
    println!("burst\tp50_ms\t{:.2}", percentile(&lat, 0.50));
    println!("burst\tp99_ms\t{:.2}", percentile(&lat, 0.99));
    println!("burst\tmax_ms\t{:.2}", percentile(&lat, 1.0));
    println!("burst\tsent_in_ms\t{:.0}", sent_in.as_secs_f64() * 1000.0);
    println!("burst\tprocessed\t{processed}");
    println!("burst\tqueue_empty\t{empty}");
    drop(server);
    if accepted != count || processed != count || !empty {
        eprintln!("load burst: {accepted} accepted, {processed} processed of {count}");
        std::process::exit(1);
    }
}

async fn sustained(binary: PathBuf, seconds: u64, concurrency: usize) {
    let server = start(&binary).await;
    let pid = server.child.id().unwrap();
    let template = Arc::new(NoteHooks::load());
    let client = openmic_tests::http()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let (notes_ok, alerts_ok) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, template, stop, next) = (
            client.clone(),
            server.url.clone(),
            template.clone(),
            stop.clone(),
            next.clone(),
        );
        let (notes_ok, alerts_ok) = (notes_ok.clone(), alerts_ok.clone());
        workers.spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (ok, d) = if n % 4 == 3 {
                    let r = send_alert(&client, &url, n).await;
                    if r.0 {
                        alerts_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    r
                } else {
                    let r = send_note(&client, &url, note_body(&template, n), n).await;
                    if r.0 {
                        notes_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    r
                };
                let _ = ok;
                lat.push(d);
            }
            lat
        });
    }
    let mut rss = Vec::new();
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(rss_mb(pid));
    }
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<Duration> = workers.join_all().await.into_iter().flatten().collect();
    lat.sort();
    let drain = Instant::now();
    let empty = wait_empty(&server.url, Duration::from_secs(300)).await;
    let drained_in = drain.elapsed();
    rss.push(rss_mb(pid));
    let dir = server.dir.path();
    let notes = notes_in_state(dir).len();
    let mut records = 0;
    let mut doubled = 0;
    if let Ok(entries) = std::fs::read_dir(dir.join("state/alerts")) {
        for e in entries.flatten() {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            records += 1;
            if v["event_count"] != 1 {
                doubled += 1;
            }
        }
    }
    let mails = std::fs::read_dir(dir.join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0);
    let (notes_sent, alerts_sent) = (
        notes_ok.load(Ordering::Relaxed),
        alerts_ok.load(Ordering::Relaxed),
    );
    println!("sustained\tseconds\t{seconds}");
    println!("sustained\trequests\t{}", lat.len());
    println!(
        "sustained\trequests_per_s\t{:.0}",
        lat.len() as f64 / seconds as f64
    );
    println!("sustained\tp50_ms\t{:.2}", percentile(&lat, 0.50));
    println!("sustained\tp99_ms\t{:.2}", percentile(&lat, 0.99));
    println!("sustained\tqueue_empty\t{empty}");
    println!("sustained\tdrained_in_s\t{:.1}", drained_in.as_secs_f64());
    println!("sustained\tnotes_accepted\t{notes_sent}");
    println!("sustained\tnotes_processed\t{notes}");
    println!("sustained\talerts_accepted\t{alerts_sent}");
    println!("sustained\talert_records\t{records}");
    println!("sustained\talert_mails\t{mails}");
    println!("sustained\talerts_doubled\t{doubled}");
    println!(
        "sustained\trss_mb_first\t{:.1}",
        rss.first().copied().unwrap_or(0.0)
    );
    println!(
        "sustained\trss_mb_last\t{:.1}",
        rss.last().copied().unwrap_or(0.0)
    );
    println!(
        "sustained\trss_mb_max\t{:.1}",
        rss.iter().copied().fold(0.0, f64::max)
    );
    drop(server);
    if !empty
        || notes != notes_sent
        || records != alerts_sent
        || mails != alerts_sent
        || doubled != 0
    {
        eprintln!(
            "load sustained: {}",
            if empty {
                "events lost or doubled"
            } else {
                "the queues were not empty 300 s after the load stopped"
            }
        );
        std::process::exit(1);
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str);
    let binary = args.get(2).map(PathBuf::from);
    let num =
        |i: usize, default: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    match (mode, binary) {
        (Some("burst"), Some(b)) => burst(b, num(3, 1000), num(4, 64), false).await,
        (Some("floor"), Some(b)) => burst(b, num(3, 1000), num(4, 64), true).await,
        (Some("sustained"), Some(b)) => sustained(b, num(3, 20) as u64, num(4, 8)).await,
        _ => {
            eprintln!(
                "usage: load burst|floor|sustained <openmic-local or floor-serve binary> [count|seconds] [concurrency]"
            );
            std::process::exit(2);
        }
    }
}
