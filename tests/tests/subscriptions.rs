//! Subscriptions as readers live them, on `openmic-local`'s router with the embedded
//! backends: in Debian's chromium with JavaScript off (tests/browser/subscribe.mjs),
//! the mail read from the outbox, RFC 8058's one-click unsubscribe as a mail client
//! sends it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    assert!(
        logs.contains("subscription confirmed") && logs.contains(&id[..12]),
        "the story's log lines, subscribers by hash: {logs}"
    );
    assert!(!logs.contains("reader@"), "an address in the logs: {logs}");
}

fn sha256_hex(s: &str) -> String {
    openmic::subscriptions::address::SubscriberId::of(s)
        .as_str()
        .to_owned()
}
