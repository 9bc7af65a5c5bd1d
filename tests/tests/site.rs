//! The status site: pages, feed, badge and summary after a replayed story, with the
//! right content types, and a real browser (Debian's chromium, headless, driven by
//! tests/browser/site.mjs) reading the pages with JavaScript off and on.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use openmic_tests::*;
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A 1x1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The story, the site events, and the upload copied from a GitLab stub.
async fn published_site(dir: &Path, status_page_url: &str) -> (openmic_local::Runner, MockServer) {
    let gitlab = MockServer::start().await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap();
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v4/projects/42/uploads/.*/errors\.png$"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(png, "image/png"))
        .mount(&gitlab)
        .await;
    let runner = embedded(
        dir,
        &[
            ("GITLAB_URL", &gitlab.uri()),
            ("GITLAB_TOKEN", "glpat-site"),
            ("STATUS_PAGE_URL", status_page_url),
        ],
    );
    let mut files = event_files("gitlab-story");
    files.extend(event_files("gitlab-site"));
    for (name, status) in replay_all(&runner, &files).await {
        assert_eq!(status, 202, "{name}");
    }
    (runner, gitlab)
}

#[tokio::test]
async fn site_objects_feed_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (_runner, _gitlab) = published_site(dir.path(), "https://status.example.com").await;
    let status = tree(&dir.path().join("status"));
    let page = openmic::site::Page::new(&test_config(&[]));
    let css = page.stylesheet_key();
    let mut keys: Vec<&str> = status
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with("data/incident/"))
        .collect();
    keys.sort();
    let mut want = vec![
        "404.html",
        "history/2024-03.html",
        page.script_key(),
        "badge.json",
        "badge.svg",
        "data/list.json",
        "data/summary.json",
        "feed.atom",
        "feed/payments.atom",
        "incidents/1.html",
        "incidents/4.html",
        "index.html",
        css,
    ];
    want.sort();
    assert_eq!(keys, want);

    let summary = json_of(&status, "data/summary.json");
    assert_eq!(summary["status"], json!("major_outage"));
    assert_eq!(summary["open_incidents"], json!([4]));
    let payments = &summary["components"][0];
    assert_eq!(summary["components"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &payments["name"],
            &payments["status"],
            &payments["incidents"]
        ),
        (&json!("payments"), &json!("major_outage"), &json!([4]))
    );
    // Its history: the days incident 4 touched, up to the rendering instant.
    assert_eq!(
        payments["days"],
        json!([
            {"date": "2024-03-06", "status": "major_outage", "incidents": [4]},
            {"date": "2024-03-07", "status": "major_outage", "incidents": [4]}
        ])
    );
    let (u30, u90) = (
        payments["uptime_30"].as_f64().unwrap(),
        payments["uptime_90"].as_f64().unwrap(),
    );
    assert!(u30 < u90 && u90 < 100.0, "{u30} {u90}");
    assert_eq!(
        json_of(&status, "badge.json"),
        json!({"schemaVersion": 1, "label": "status", "message": "major outage", "color": "red"})
    );
    let detail4 = json_of(&status, "data/incident/4.json");
    assert_eq!(
        (
            &detail4["stage"],
            &detail4["components"],
            &detail4["severity"]
        ),
        (
            &json!("identified"),
            &json!(["payments"]),
            &json!("critical")
        )
    );
    let detail1 = json_of(&status, "data/incident/1.json");
    assert_eq!(detail1["stage"], json!("resolved"), "closed means resolved");
    // GitLab's list keeps its own shape: our fields only on incident objects.
    let list = json_of(&status, "data/list.json");
    assert_eq!(
        list.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["incidents"]
    );

    // The feed parses as Atom, with absolute links and an entry per incident and update.
    let feed = atom_syndication::Feed::read_from(&status["feed.atom"][..]).expect("valid Atom");
    assert_eq!(feed.id(), "https://status.example.com/feed.atom");
    assert!(
        feed.links()
            .iter()
            .any(|l| l.rel() == "self" && l.href() == "https://status.example.com/feed.atom")
    );
    assert_eq!(
        feed.entries().len(),
        2 + 3,
        "two incidents and three published updates"
    );
    for e in feed.entries() {
        assert!(
            e.links().iter().all(|l| l
                .href()
                .starts_with("https://status.example.com/incidents/")),
            "{:?}",
            e.links()
        );
        assert!(e.id().starts_with("https://status.example.com/incidents/"));
        assert!(e.content().and_then(|c| c.value()).is_some());
    }
    let titles: Vec<&str> = feed.entries().iter().map(|e| e.title().as_str()).collect();
    assert_eq!(titles[0], "Checkout failures", "newest first");
    let raw = String::from_utf8_lossy(&status["feed.atom"]);
    for leak in ["carol", "alice", "<script"] {
        assert!(!raw.contains(leak), "{leak} in the feed");
    }
    // The component's feed: only the incident naming it, and its updates.
    let payments =
        atom_syndication::Feed::read_from(&status["feed/payments.atom"][..]).expect("valid Atom");
    assert_eq!(
        payments.id(),
        "https://status.example.com/feed/payments.atom"
    );
    assert_eq!(payments.title().as_str(), "Service status: payments");
    assert!(!payments.entries().is_empty());
    assert!(
        payments
            .entries()
            .iter()
            .all(|e| e.id().starts_with("https://status.example.com/incidents/4")),
        "{:?}",
        payments
            .entries()
            .iter()
            .map(|e| e.id())
            .collect::<Vec<_>>()
    );
    let index = String::from_utf8_lossy(&status["index.html"]);
    assert!(
        index.contains("href=\"feed/payments.atom\""),
        "the index links it"
    );
    assert!(
        !index.contains("<form"),
        "no subscribe form while SUBSCRIPTIONS is off"
    );

    let page = String::from_utf8_lossy(&status["incidents/1.html"]);
    assert!(
        page.contains(&format!("href=\"../{css}\"")),
        "the page links the versioned stylesheet"
    );
    assert!(
        page.contains("src=\"../data/incident/1/0123456789abcdef0123456789abcdef/errors.png\""),
        "{page}"
    );
}

#[tokio::test]
async fn content_types_and_cache_control() {
    let page = openmic::site::Page::new(&test_config(&[(
        "STATUS_PAGE_URL",
        "https://s.example.com",
    )]));
    let now = openmic::time::parse(SITE_NOW).unwrap();
    for o in openmic::site::render_site(&Default::default(), &page, now).unwrap() {
        let (ct, cache) = (
            o.options.content_type.as_str(),
            o.options.cache_control.as_deref().unwrap(),
        );
        let want_ct = match o.key.rsplit('.').next().unwrap() {
            "html" => "text/html; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "atom" => "application/atom+xml",
            "svg" => "image/svg+xml",
            "json" => "application/json",
            "js" => "text/javascript; charset=utf-8",
            other => panic!("unexpected object {other}"),
        };
        assert_eq!(ct, want_ct, "{}", o.key);
        if o.key.ends_with(".css") || o.key.ends_with(".js") {
            assert_eq!(cache, "public, max-age=31536000, immutable");
        } else {
            assert_eq!(cache, "public, max-age=30", "{}", o.key);
        }
    }
    // An empty index still makes a site.
    let empty = openmic::site::render_site(&Default::default(), &Default::default(), now).unwrap();
    let index = empty.iter().find(|o| o.key == "index.html").unwrap();
    assert!(String::from_utf8_lossy(&index.body).contains("All systems operational"));
}

#[tokio::test]
async fn the_site_in_a_real_browser() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test, which installs it and Debian's chromium"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (runner, _gitlab) = published_site(dir.path(), &format!("http://{addr}")).await;
    let runner = Arc::new(runner);
    let app = runner.app();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("site.mjs"))
        .arg(format!("http://{addr}"))
        .arg(&shots)
        .output()
        .await
        .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok - JavaScript off: incident page shows title, stage, comments in order")
    );
    for shot in ["index.png", "incident-1.png", "incident-1-phone-dark.png"] {
        assert!(shots.join(shot).exists(), "{shot}");
    }
}

/// The big site's clock: its incidents end here.
const BIG_NOW: &str = "2026-11-30T12:00:00Z";

fn big_config() -> Vec<(&'static str, String)> {
    vec![("COMPONENTS", BIG_COMPONENTS.join(","))]
}

/// A runner serving the first `n` of the big site's incidents, or in German the story's.
async fn serve(
    dir: &Path,
    extra: &[(&str, &str)],
    events: &[String],
) -> (
    Arc<openmic_local::Runner>,
    String,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = extra.to_vec();
    settings.push(("STATUS_PAGE_URL", &url));
    let mut runner = embedded(dir, &settings);
    runner.publisher.clock = ManualClock::at(BIG_NOW);
    let runner = Arc::new(runner);
    for e in events {
        let (status, body) = send_text(&runner, e).await;
        assert_eq!(status, 202, "{body}");
        runner.drain().await;
    }
    let app = runner.app();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (runner, url, server)
}

#[tokio::test]
async fn the_big_site_weighs_at_most_40_kb_compressed() {
    let now = openmic::time::parse(BIG_NOW).unwrap();
    let settings = big_config();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = openmic::site::Page::new(&test_config(&extra));
    let objects = openmic::site::render_site(&big_index(now), &page, now).unwrap();
    let mut total = 0;
    for key in ["index.html", page.stylesheet_key(), page.script_key()] {
        let body = &objects.iter().find(|o| o.key == key).unwrap().body;
        let mut gzip = std::process::Command::new("gzip")
            .args(["-9", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip runs");
        use std::io::Write;
        gzip.stdin.take().unwrap().write_all(body).unwrap();
        let out = gzip.wait_with_output().unwrap();
        println!("{key}: {} bytes, {} gzipped", body.len(), out.stdout.len());
        total += out.stdout.len();
    }
    let index =
        String::from_utf8_lossy(&objects.iter().find(|o| o.key == "index.html").unwrap().body)
            .into_owned();
    assert_eq!(
        index.matches("<ol class=\"days\"").count(),
        10,
        "ten strips"
    );
    let script = &objects
        .iter()
        .find(|o| o.key == page.script_key())
        .unwrap()
        .body;
    assert!(
        script.len() <= 4096,
        "the live script is {} bytes",
        script.len()
    );
    println!("index, stylesheet and script: {total} bytes gzipped");
    assert!(total <= 40 * 1024, "{total} bytes compressed");
}

#[tokio::test]
async fn the_big_site_in_a_real_browser() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/axe-core").exists(),
        "axe-core is not installed: run scripts/test, which installs tests/browser's packages"
    );
    let now = openmic::time::parse(BIG_NOW).unwrap();
    let events: Vec<String> = big_incidents(now)
        .iter()
        .flat_map(big_incident_events)
        .collect();
    // The newest incident, still open, is published while the page is open.
    let (last, first) = events.split_last().unwrap();
    let settings = big_config();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (en_dir, de_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (runner, url, server) = serve(en_dir.path(), &extra, first).await;
    let mut german = extra.clone();
    german.push(("PAGE_LANGUAGE", "de"));
    let (_de, de_url, de_server) = serve(de_dir.path(), &german, &events[..10]).await;

    // OPENMIC_SCREENSHOTS=docs/images (relative to the repository) asks for the docs'
    // pictures too.
    let pictures = std::env::var_os("OPENMIC_SCREENSHOTS")
        .filter(|v| !v.is_empty())
        .map(|v| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(v));
    let started = std::time::SystemTime::now();
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut node = tokio::process::Command::new("node");
    match &pictures {
        Some(dir) => node.env("OPENMIC_SCREENSHOTS", dir),
        None => node.env_remove("OPENMIC_SCREENSHOTS"),
    };
    let mut child = node
        .arg(browser_dir.join("big.mjs"))
        .arg(&url)
        .arg(&de_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    while let Some(line) = out.next_line().await.unwrap() {
        println!("{line}");
        if line == "publish" {
            let (status, body) = send_text(&runner, last).await;
            assert_eq!(status, 202, "{body}");
            runner.drain().await;
            stdin.write_all(b"published\n").await.unwrap();
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().await.unwrap();
    server.abort();
    de_server.abort();
    assert!(status.success(), "browser checks failed:\n{stdout}");
    for must in [
        "ok - JavaScript on: the strips are named per day in the accessibility tree",
        "ok - JavaScript on: a publish shows up without a reload",
        "ok - JavaScript off: the archive reaches all 45 incidents",
        "ok - JavaScript on: an unknown address answers the 404 page",
        "ok - German: the page, its dates and its strips in German",
        "ok - axe-core, dark: / has no violation",
    ] {
        assert!(stdout.contains(must), "{must}\n{stdout}");
    }
    if let Some(dir) = pictures {
        for name in [
            "status-page.png",
            "status-page-incident.png",
            "status-page-incident-dark.png",
            "incident.png",
        ] {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
            let written = std::fs::metadata(&path).unwrap().modified().unwrap();
            assert!(written >= started, "{name} was written by this run");
        }
    }
}
