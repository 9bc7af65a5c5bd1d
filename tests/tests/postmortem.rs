//! The postmortem story on the embedded backends, with one confirmed subscriber: the
//! sample incident closed, then a publisher's 🎤 on a note headed `Postmortem` makes it
//! the incident's postmortem: in the detail JSON, its own section on the page (read in
//! Debian's chromium, tests/browser/postmortem.mjs), marked on the index and the
//! month's archive, one feed entry, one mail to the subscriber, whatever is replayed.
//! Before the close the same note and 🎤 make nothing public. The postmortem may also
//! be an issue of its own, labelled `postmortem` and linked to the incident (GitLab's
//! API on a stub): a publisher's 🎤 on it publishes its description the same way.

use std::path::Path;
use std::sync::Arc;

use openmic_local::Runner;
use openmic_tests::*;
use serde_json::{Value, json};

const SUBSCRIBER: &str = "reader0@example.com";

fn config() -> openmic::config::Config {
    test_config(&[
        ("SUBSCRIPTIONS", "on"),
        (
            "SUBSCRIPTION_SECRET",
            "subscription-secret-for-the-tests-0123456789",
        ),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
    ])
}

/// A runner with one confirmed subscriber, on the sites' clock.
async fn runner(dir: &Path) -> Arc<Runner> {
    let runner = Runner::embedded_at(dir, config(), site_clock()).unwrap();
    confirmed_subscribers(runner.state.as_ref(), "example.com", 1).await;
    Arc::new(runner)
}

/// The story's event `file` with its delivery ids made `key`, changed by `edit`.
fn story_event(file: &str, key: &str, edit: impl FnOnce(&mut Value)) -> String {
    let raw = std::fs::read_to_string(event_file("gitlab-story", file)).unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    edit(&mut body);
    event["body"] = json!(body.to_string());
    event["headers"]["idempotency-key"] = json!(key);
    event["headers"]["x-gitlab-event-uuid"] = json!(key);
    event.to_string()
}

const POSTMORTEM: &str = "## Postmortem\n\nA configuration change sent **all** traffic to one region. We now roll changes out region by region.";

/// Alice's note `id` headed `Postmortem`, written at `at` on the issue as `state`.
fn postmortem_note(id: u64, at: &str, state: &str) -> String {
    story_event(
        "009-note-by-publisher.json",
        &format!("postmortem-note-{id}"),
        |b| {
            let a = &mut b["object_attributes"];
            a["id"] = json!(id);
            a["note"] = json!(POSTMORTEM);
            a["created_at"] = json!(at);
            a["updated_at"] = json!(at);
            a["url"] = json!(format!(
                "https://gitlab.example.com/ops/api/-/issues/1#note_{id}"
            ));
            b["issue"]["state"] = json!(state);
        },
    )
}

/// Alice's 🎤 on note `id` at `at`.
fn microphone(id: u64, at: &str) -> String {
    story_event(
        "010-microphone-award.json",
        &format!("postmortem-award-{id}"),
        |b| {
            let a = &mut b["object_attributes"];
            a["id"] = json!(9000 + id);
            a["awardable_id"] = json!(id);
            a["created_at"] = json!(at);
            a["updated_at"] = json!(at);
            b["note"]["id"] = json!(id);
            b["note"]["note"] = json!(POSTMORTEM);
            b["note"]["created_at"] = json!(at);
        },
    )
}

async fn deliver(runner: &Runner, event: &str) {
    let (status, body) = send_text(runner, event).await;
    assert_eq!(status, 202, "{body}");
    runner.drain().await;
}

/// The story up to (`close` false) or with the close.
fn story(close: bool) -> Vec<std::path::PathBuf> {
    event_files("gitlab-story")
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            name.as_str() < "014" || (close && name.starts_with("014"))
        })
        .collect()
}

/// The subjects of the mails to `to`.
fn subjects_to(dir: &Path, to: &str) -> Vec<String> {
    tree(&dir.join("outbox"))
        .into_values()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            let addressee = m.to()?.first()?.address()?.to_owned();
            (addressee == to).then(|| m.subject().unwrap_or_default().to_owned())
        })
        .collect()
}

fn postmortem_mails(dir: &Path) -> Vec<String> {
    subjects_to(dir, SUBSCRIBER)
        .into_iter()
        .filter(|s| s.contains("Postmortem"))
        .collect()
}

fn status_text(dir: &Path, key: &str) -> String {
    String::from_utf8(tree(&dir.join("status"))[key].clone()).unwrap()
}

fn detail(dir: &Path) -> Value {
    json_of(&tree(&dir.join("status")), "data/incident/1.json")
}

#[tokio::test]
async fn after_the_close_a_publishers_microphone_publishes_the_postmortem() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path()).await;
    replay_all(&runner, &story(true)).await;
    assert_eq!(detail(dir.path())["status"], "closed");
    assert!(postmortem_mails(dir.path()).is_empty());

    // The note alone: nothing.
    deliver(
        &runner,
        &postmortem_note(301, "2024-03-02T09:00:00Z", "closed"),
    )
    .await;
    assert!(detail(dir.path()).get("postmortem").is_none());
    // Alice's 🎤: the postmortem.
    deliver(&runner, &microphone(301, "2024-03-02T09:05:00Z")).await;
    let d = detail(dir.path());
    let p = &d["postmortem"];
    assert_eq!(p["published_at"], "2024-03-02T09:05:00.000Z");
    let text = p["text"].as_str().unwrap();
    assert!(
        text.contains("<strong>all</strong>") && text.contains("region by region"),
        "{text}"
    );
    assert!(
        !text.contains("Postmortem"),
        "the heading is the page's: {text}"
    );
    let comments = d["comments"].to_string();
    assert!(!comments.contains("region by region"), "not a comment");
    // The list says that there is one, without its text.
    let list = json_of(&tree(&dir.path().join("status")), "data/list.json");
    let entry = &list["incidents"][0]["postmortem"];
    assert_eq!(entry["published_at"], "2024-03-02T09:05:00.000Z");
    assert!(entry.get("text").is_none(), "{entry}");
    // One feed entry.
    let feed = status_text(dir.path(), "feed.atom");
    assert_eq!(
        feed.matches("<id>https://status.example.com/incidents/1.html#postmortem</id>")
            .count(),
        1,
        "{feed}"
    );
    assert!(feed.contains("Postmortem: API errors"), "{feed}");
    // One mail.
    let mails = postmortem_mails(dir.path());
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].starts_with("[Service status] Postmortem: API errors"),
        "{mails:?}"
    );

    // Everything again, with new delivery ids: nothing new.
    resend_all(&runner, &story(true), "again").await;
    deliver(
        &runner,
        &postmortem_note(301, "2024-03-02T09:00:00Z", "closed")
            .replace("postmortem-note", "again-note"),
    )
    .await;
    deliver(
        &runner,
        &microphone(301, "2024-03-02T09:05:00Z").replace("postmortem-award", "again-award"),
    )
    .await;
    runner.drain().await;
    assert_eq!(
        postmortem_mails(dir.path()).len(),
        1,
        "one mail, whatever is replayed"
    );
    assert_eq!(detail(dir.path())["postmortem"], d["postmortem"]);

    in_the_browser(&runner).await;
}

#[tokio::test]
async fn before_the_close_a_postmortem_note_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path()).await;
    replay_all(&runner, &story(false)).await;
    deliver(
        &runner,
        &postmortem_note(302, "2024-03-01T09:50:00Z", "opened"),
    )
    .await;
    deliver(&runner, &microphone(302, "2024-03-01T09:55:00Z")).await;
    let d = detail(dir.path());
    assert_eq!(d["status"], "opened");
    assert!(d.get("postmortem").is_none(), "{d}");
    assert!(
        !d.to_string().contains("region by region"),
        "neither postmortem nor comment"
    );
    assert!(!status_text(dir.path(), "incidents/1.html").contains("id=\"postmortem\""));
    assert!(!status_text(dir.path(), "feed.atom").contains("#postmortem"));
    assert!(postmortem_mails(dir.path()).is_empty());

    // Closed: the held note is the postmortem, published at the close.
    replay_all(&runner, &story(true)[story(false).len()..]).await;
    let d = detail(dir.path());
    assert_eq!(d["postmortem"]["published_at"], "2024-03-01T10:00:00.000Z");
    assert!(status_text(dir.path(), "incidents/1.html").contains("id=\"postmortem\""));
    assert_eq!(postmortem_mails(dir.path()).len(), 1);
}

/// Runs tests/browser/postmortem.mjs against the runner's site.
async fn in_the_browser(runner: &Arc<Runner>) {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/test"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = runner
        .app()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let out = tokio::process::Command::new("node")
        .arg(browser_dir.join("postmortem.mjs"))
        .arg(&url)
        .output()
        .await
        .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser checks failed:\n{stdout}");
    assert_eq!(stdout.matches("ok - ").count(), 8, "{stdout}");
}

/// The postmortem issue (#5 of project 42, labelled `postmortem`), as the API shows it.
fn postmortem_issue() -> Value {
    json!({"id": 9005, "iid": 5, "project_id": 42, "title": "Postmortem: API errors",
        "description": "A configuration change sent **all** traffic to one region. We now roll changes out region by region.",
        "state": "opened", "confidential": false, "labels": ["postmortem"],
        "created_at": "2024-03-02T08:00:00.000Z", "updated_at": "2024-03-02T08:00:00.000Z",
        "web_url": "https://gitlab.example.com/ops/api/-/issues/5"})
}

/// `user`'s 🎤 on the postmortem issue at `at`.
fn microphone_on_issue(user: &str, at: &str) -> String {
    story_event(
        "010-microphone-award.json",
        &format!("postmortem-issue-award-{user}"),
        |b| {
            b["user"]["username"] = json!(user);
            b["user"]["id"] = json!(if user == "alice" { 10 } else { 77 });
            let a = &mut b["object_attributes"];
            a["awardable_type"] = json!("Issue");
            a["awardable_id"] = json!(9005);
            a["created_at"] = json!(at);
            a["updated_at"] = json!(at);
            a["awarded_on_url"] = json!("https://gitlab.example.com/ops/api/-/issues/5");
            b.as_object_mut().unwrap().remove("note");
            let issue = postmortem_issue();
            b["issue"]["id"] = issue["id"].clone();
            b["issue"]["iid"] = issue["iid"].clone();
            b["issue"]["title"] = issue["title"].clone();
            b["issue"]["description"] = issue["description"].clone();
        },
    )
}

#[tokio::test]
async fn a_linked_issue_labelled_postmortem_with_a_publishers_microphone_is_the_postmortem() {
    use wiremock::matchers::{any, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let gitlab = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(postmortem_issue()))
        .mount(&gitlab)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/5/links"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1001, "iid": 1, "project_id": 42, "title": "API errors", "state": "closed",
             "issue_link_id": 7, "link_type": "relates_to"}])))
        .mount(&gitlab)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .with_priority(100)
        .mount(&gitlab)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let uri = gitlab.uri();
    let with_api = test_config(&[
        ("SUBSCRIPTIONS", "on"),
        (
            "SUBSCRIPTION_SECRET",
            "subscription-secret-for-the-tests-0123456789",
        ),
        ("PUBLIC_API_URL", "https://api.status.example.com"),
        ("GITLAB_URL", &uri),
        ("GITLAB_TOKEN", "glpat-postmortem-stub"),
        ("LINK_BACK", "false"),
    ]);
    let runner = Arc::new(Runner::embedded_at(dir.path(), with_api, site_clock()).unwrap());
    confirmed_subscribers(runner.state.as_ref(), "example.com", 1).await;
    replay_all(&runner, &story(true)).await;
    assert_eq!(detail(dir.path())["status"], "closed");

    // Someone who may not publish: nothing.
    deliver(
        &runner,
        &microphone_on_issue("mallory", "2024-03-02T09:00:00Z"),
    )
    .await;
    assert!(detail(dir.path()).get("postmortem").is_none());
    // Alice's 🎤: the issue's description is the postmortem.
    deliver(
        &runner,
        &microphone_on_issue("alice", "2024-03-02T09:05:00Z"),
    )
    .await;
    let d = detail(dir.path());
    assert_eq!(d["postmortem"]["published_at"], "2024-03-02T09:05:00.000Z");
    let text = d["postmortem"]["text"].as_str().unwrap();
    assert!(
        text.contains("<strong>all</strong>") && text.contains("region by region"),
        "{text}"
    );
    assert_eq!(postmortem_mails(dir.path()).len(), 1);
    // The postmortem issue itself is not published.
    assert!(!tree(&dir.path().join("status")).contains_key("data/incident/5.json"));
}
