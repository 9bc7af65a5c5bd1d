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
        "badge.json",
        "badge.svg",
        "data/list.json",
        "data/summary.json",
        "feed.atom",
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
    assert_eq!(
        summary["components"],
        json!([{"name": "payments", "status": "major_outage", "incidents": [4]}])
    );
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
