//! Subscriptions as readers live them, on `openmic-local`'s router with the embedded
//! backends: in Debian's chromium with JavaScript off (tests/browser/subscribe.mjs),
//! the mail read from the outbox, RFC 8058's one-click unsubscribe as a mail client
//! sends it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openmic::config::Secret;
use openmic::subscriptions::address::SubscriberId;
use openmic::subscriptions::token::TokenKey;
use openmic_tests::*;

const SECRET: &str = "subscription-secret-for-the-tests-0123456789";

/// A mail of the outbox, as a mail client reads it.
#[derive(Debug, Clone)]
struct Seen {
    file: String,
    to: String,
    subject: String,
    text: String,
    list_unsubscribe: Option<String>,
    list_unsubscribe_post: Option<String>,
}

fn outbox(dir: &Path) -> Vec<Seen> {
    tree(&dir.join("outbox"))
        .into_iter()
        .map(|(file, raw)| {
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("an RFC 5322 message");
            let header = |name: &str| {
                m.header_raw(name)
                    .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            };
            Seen {
                file,
                to: m
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned(),
                subject: m.subject().unwrap_or_default().to_owned(),
                text: m
                    .body_text(0)
                    .map(|t| t.replace("\r\n", "\n"))
                    .unwrap_or_default(),
                list_unsubscribe: header("List-Unsubscribe"),
                list_unsubscribe_post: header("List-Unsubscribe-Post"),
            }
        })
        .collect()
}

/// Mails that came since `before`.
fn new_mails(dir: &Path, before: &[Seen]) -> Vec<Seen> {
    outbox(dir)
        .into_iter()
        .filter(|m| !before.iter().any(|b| b.file == m.file))
        .collect()
}

/// The first link in `text` to `path` on `base`.
fn link(text: &str, base: &str, path: &str) -> String {
    let start = format!("{base}{path}?token=");
    let at = text
        .find(&start)
        .unwrap_or_else(|| panic!("no {start} in:\n{text}"));
    text[at..]
        .split(|c: char| c.is_whitespace() || c == '>' || c == '"')
        .next()
        .unwrap()
        .to_owned()
}

fn story(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| event_file("gitlab-story", &format!("{n}.json")))
        .collect()
}

async fn browser(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test, which installs it and Debian's chromium"
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let out = tokio::process::Command::new("node")
        .arg(dir.join("subscribe.mjs"))
        .args(args)
        .arg(&shots)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "browser step {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn subscribe_confirm_get_updates_and_unsubscribe_in_one_click() {
    // Every log line of the story (the runtime is this thread's): no address in any.
    let logs = Captured::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let runner = Arc::new(embedded(
        dir.path(),
        &[
            ("SUBSCRIPTIONS", "on"),
            ("SUBSCRIPTION_SECRET", SECRET),
            ("PUBLIC_API_URL", &base),
            ("STATUS_PAGE_URL", &base),
        ],
    ));
    runner.publisher.write_list().await.unwrap();
    let app = runner
        .app()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The form on the status page, in the browser.
    let out = browser(&["form", &format!("{base}/"), "reader@example.com"]).await;
    assert!(
        out.contains("ok - sending the form asks to check the mail"),
        "{out}"
    );
    // The answer mailed nothing: the confirmation leaves through the queue.
    assert!(outbox(dir.path()).is_empty());
    runner.drain().await;
    let mails = outbox(dir.path());
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, "reader@example.com");
    assert!(
        mails[0].list_unsubscribe.is_none(),
        "a confirmation is no list mail"
    );
    let confirm = link(&mails[0].text, &base, "/subscribe/confirm");

    // The link from the mail: a page with a button; the button confirms.
    let out = browser(&["confirm", &confirm]).await;
    assert!(out.contains("ok - the button confirms"), "{out}");

    // A second reader, through the JSON API, stays subscribed throughout.
    let http = http().build().unwrap();
    let r = http
        .post(format!("{base}/subscribe"))
        .header("accept", "application/json")
        .form(&[("email", "other@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    runner.drain().await;
    let m = new_mails(dir.path(), &mails);
    let other_confirm = link(&m[0].text, &base, "/subscribe/confirm");
    let r = http.post(&other_confirm).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let before = outbox(dir.path());

    // An incident published, then a comment: a mail each, to each reader.
    for (name, status) in replay_all(
        &runner,
        &story(&[
            "001-issue-opened",
            "002-note-by-bob",
            "004-microphone-by-publisher",
            "007-label-by-publisher",
        ]),
    )
    .await
    {
        assert_eq!(status, 202, "{name}");
    }
    let published = new_mails(dir.path(), &before);
    let before = outbox(dir.path());
    for (name, status) in replay_all(
        &runner,
        &story(&["009-note-by-publisher", "010-microphone-award"]),
    )
    .await
    {
        assert_eq!(status, 202, "{name}");
    }
    let commented = new_mails(dir.path(), &before);
    let mine = |ms: &[Seen]| -> Vec<Seen> {
        ms.iter()
            .filter(|m| m.to == "reader@example.com")
            .cloned()
            .collect()
    };
    let (p, c) = (mine(&published), mine(&commented));
    assert_eq!((p.len(), c.len()), (1, 1), "{published:?}\n{commented:?}");
    assert!(
        p[0].subject.starts_with("[Service status] New incident: "),
        "{}",
        p[0].subject
    );
    assert!(
        c[0].subject.starts_with("[Service status] Update: "),
        "{}",
        c[0].subject
    );
    assert!(c[0].text.contains("A fix is rolling out"), "{}", c[0].text);
    assert_eq!(published.len() + commented.len(), 4, "the other reader too");
    let mut one_click = Vec::new();
    for m in [&p[0], &c[0]] {
        assert_eq!(
            m.list_unsubscribe_post.as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let header = m.list_unsubscribe.clone().expect("List-Unsubscribe");
        let url = header
            .trim()
            .strip_prefix('<')
            .and_then(|u| u.strip_suffix('>'))
            .unwrap_or_else(|| panic!("List-Unsubscribe is <URL>: {header}"))
            .to_owned();
        assert!(
            url.starts_with(&format!("{base}/unsubscribe?token=")),
            "{url}"
        );
        assert!(m.text.contains(&url), "the body links the same: {}", m.text);
        one_click.push(url);
    }

    // A scanner following the link changes nothing.
    let r = http.get(&one_click[1]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<h1>Unsubscribe</h1>"));
    // RFC 8058: the mail client's one-click POST.
    let r = http
        .post(&one_click[1])
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    // The older mail's link: nothing left to do, in the browser too.
    let out = browser(&["unsubscribed", &one_click[0]]).await;
    assert!(out.contains("ok - after one click"), "{out}");

    // The incident closes: the other reader hears of it, the reader nothing.
    let before = outbox(dir.path());
    for (name, status) in replay_all(&runner, &story(&["014-issue-closed"])).await {
        assert_eq!(status, 202, "{name}");
    }
    let after = new_mails(dir.path(), &before);
    assert_eq!(
        after.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        ["other@example.com"],
        "{after:?}"
    );
    assert!(
        after[0].subject.starts_with("[Service status] Resolved: "),
        "{}",
        after[0].subject
    );
    // The subscriber's record is gone; no address is in the public bucket.
    let state = tree(&dir.path().join("state"));
    let id = sha256_hex("reader@example.com");
    assert!(!state.contains_key(&format!("subscribers/{id}.json")));
    for (key, body) in tree(&dir.path().join("status")) {
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("@example.com"), "{key} holds an address");
    }
    server.abort();
    let logs = logs.text();
    let pseudonym = TokenKey::new(&Secret::new(SECRET))
        .pseudonym(&SubscriberId::of("reader@example.com"))
        .to_string();
    assert!(
        logs.contains("subscription confirmed")
            && logs.contains(&format!("subscriber={pseudonym}")),
        "the story's log lines, subscribers by keyed hash: {logs}"
    );
    // Not the address, nor its plain hash (which anyone holding the address can
    // compute), whole or cut.
    assert!(!logs.contains("reader@"), "an address in the logs: {logs}");
    assert!(
        !logs.contains(&id[..12]),
        "sha256(address) in the logs: {logs}"
    );
}

fn sha256_hex(s: &str) -> String {
    SubscriberId::of(s).as_str().to_owned()
}

/// Copies a folder of files.
fn copy_tree(from: &Path, to: &Path) {
    for (key, body) in tree(from) {
        let path = to.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

#[tokio::test]
async fn subscribers_of_the_earlier_release_are_moved_and_their_links_keep_working() {
    let logs = Captured::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-2-subscriptions");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture.join("state"), &dir.path().join("state"));
    let links: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("links.json")).unwrap()).unwrap();
    let last = |name: &str| -> String {
        let all = links[name].as_array().unwrap();
        all[all.len() - 1]
            .as_str()
            .unwrap()
            .trim_start_matches("https://api.status.example.com")
            .to_owned()
    };
    let clock = ManualClock::at("2026-12-01T10:00:00Z");
    let config = test_config(&[
        ("SUBSCRIPTIONS", "on"),
        ("SUBSCRIPTION_SECRET", SECRET),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
        ("STATUS_PAGE_URL", "https://status.example.com"),
    ]);
    let runner =
        Arc::new(openmic_local::Runner::embedded_at(dir.path(), config, clock.clone()).unwrap());
    let app = runner.app();
    let call = |method: &'static str, uri: String, body: &'static str| {
        let app = app.clone();
        async move {
            let r = tower::ServiceExt::oneshot(
                app,
                http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("accept", "application/json")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(axum::body::Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
            let status = r.status().as_u16();
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    // Subscriber records (not the layout's marker).
    let subscribers = |dir: &Path| -> Vec<String> {
        tree(&dir.join("state/subscribers"))
            .into_iter()
            .filter(|(k, _)| k != "layout.json")
            .map(|(_, b)| String::from_utf8(b).unwrap())
            .collect()
    };
    assert_eq!(subscribers(dir.path()).len(), 5);

    // The subscriber's manage link of the earlier release works.
    let (status, page) = call("GET", last("confirmed_manage"), "").await;
    assert_eq!(
        (status, page["status"].as_str()),
        (200, Some("manage")),
        "{page}"
    );

    // The first update moves every record of the earlier release before it plans,
    // and plans over subscribers only.
    let update = openmic::subscriptions::update::Update {
        id: "2.published".into(),
        kind: openmic::subscriptions::UpdateKind::Published,
        at: openmic::time::parse("2026-12-01T10:00:00Z").unwrap(),
        incident: openmic::subscriptions::update::Subject {
            id: 2,
            title: "API errors".into(),
            status: "opened".into(),
            stage: "investigating".into(),
            components: vec!["api".into()],
            severity: None,
            window: None,
        },
        html: "<p>Errors.</p>".into(),
        previous_stage: None,
        audience: None,
    };
    let message = |u: &openmic::subscriptions::update::Update| {
        serde_json::to_string(&openmic::subscriptions::fanout::FanMessage::Update(
            u.clone(),
        ))
        .unwrap()
    };
    let planned = runner
        .subscriptions
        .handle(&message(&update))
        .await
        .unwrap();
    assert!(
        matches!(
            planned,
            openmic::subscriptions::FanOut::Planned { subscribers: 3, .. }
        ),
        "{planned:?}"
    );
    runner.drain().await;
    let mut to: Vec<String> = outbox(dir.path()).into_iter().map(|m| m.to).collect();
    to.sort();
    assert_eq!(to, ["changing@example.com", "confirmed@example.com"]);
    // The requests are out of the records; the expired one is gone.
    let records = subscribers(dir.path());
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(
        records.iter().all(|r| !r.contains("pending")),
        "{records:?}"
    );
    let waiting = tree(&dir.path().join("state/subscription-requests"));
    assert_eq!(waiting.len(), 2, "pending@ and changing@'s change");
    let mut next = update.clone();
    next.id = "2.comment.1".into();
    let planned = runner.subscriptions.handle(&message(&next)).await.unwrap();
    assert!(
        matches!(
            planned,
            openmic::subscriptions::FanOut::Planned { subscribers: 3, .. }
        ),
        "{planned:?}"
    );
    runner.drain().await;

    // Their mailed confirmation links work: the request, and the change (shown
    // beside the choice that stays until confirmed).
    let (status, page) = call("POST", last("pending_confirm"), "").await;
    assert_eq!(
        (status, page["status"].as_str()),
        (200, Some("confirmed")),
        "{page}"
    );
    assert_eq!(page["components"], serde_json::json!(["api"]));
    let (_, page) = call("GET", last("changing_confirm"), "").await;
    assert_eq!(page["status"], "confirm_change", "{page}");
    assert_eq!(page["current_components"], serde_json::json!(["api"]));
    let (_, page) = call("POST", last("changing_confirm"), "").await;
    assert_eq!(
        (page["status"].as_str(), &page["components"]),
        (Some("confirmed"), &serde_json::json!(["web"]))
    );
    let (status, _) = call("POST", last("expired_confirm"), "").await;
    assert_eq!(status, 410);
    assert!(tree(&dir.path().join("state/subscription-requests")).is_empty());

    // The unsubscribe link of the earlier release ends the subscription; then
    // neither of its links does anything, to a later subscription neither.
    let (status, page) = call(
        "POST",
        last("confirmed_unsubscribe"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(
        (status, page["status"].as_str()),
        (200, Some("unsubscribed"))
    );
    let (status, _) = call("GET", last("confirmed_manage"), "").await;
    assert_eq!(status, 404);
    clock.set("2026-12-01T12:00:00Z");
    let (status, _) = call("POST", "/subscribe".into(), "email=confirmed%40example.com").await;
    assert_eq!(status, 202);
    runner.drain().await;
    let mail = outbox(dir.path())
        .into_iter()
        .rfind(|m| m.to == "confirmed@example.com" && m.subject.starts_with("Confirm"))
        .expect("a new confirmation");
    let confirm = link(
        &mail.text,
        "https://api.status.example.com",
        "/subscribe/confirm",
    );
    clock.set("2026-12-01T12:05:00Z");
    let (status, _) = call(
        "POST",
        confirm
            .trim_start_matches("https://api.status.example.com")
            .to_owned(),
        "",
    )
    .await;
    assert_eq!(status, 200);
    for (method, uri) in [
        ("GET", last("confirmed_manage")),
        ("POST", last("confirmed_unsubscribe")),
    ] {
        let (status, page) = call(method, uri, "").await;
        assert_eq!(
            (status, page["status"].as_str()),
            (410, Some("link_stale")),
            "{method}"
        );
    }
    assert_eq!(
        subscribers(dir.path()).len(),
        4,
        "the new subscription stays"
    );

    // The tick sweeps what expired; nothing else.
    clock.set("2026-12-05T12:00:00Z");
    runner.tick().await.unwrap();
    assert!(tree(&dir.path().join("state/subscriber-limits")).is_empty());
    assert_eq!(subscribers(dir.path()).len(), 4);
    // The move was logged, by keyed pseudonyms only.
    let logs = logs.text();
    assert!(
        logs.contains("a waiting request of the earlier release moved out of its record"),
        "{logs}"
    );
    for address in [
        "pending@example.com",
        "changing@example.com",
        "confirmed@example.com",
    ] {
        assert!(!logs.contains(address), "{address} in the logs: {logs}");
        assert!(
            !logs.contains(&sha256_hex(address)[..12]),
            "sha256({address}) in the logs: {logs}"
        );
    }
}
