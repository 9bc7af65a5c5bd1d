//! The subscription service end to end on in-memory backends: the routes, the
//! fan-out with its retries, and SES's feedback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::address::SubscriberId;
use super::fanout::{FanMessage, FanOut};
use super::subscriber::{self, Subscriber};
use super::token::{Purpose, Token, TokenKey};
use super::update::{Subject, Update, UpdateKind};
use super::web::{Page, Request};
use super::*;
use crate::config::{Config, Secret};
use crate::errors::BackendError;
use crate::mail::Mail;
use crate::memory::{MemoryMailer, MemoryQueue, MemoryStore};
use crate::ports::{Mailer, ObjectStore, OutMessage};

const SECRET: &str = "test-subscription-secret-0123456789abcdef";

fn config() -> Config {
    Config {
        subscriptions: true,
        subscription_secret: Some(Secret::new(SECRET)),
        public_api_url: Some("https://api.example.com".into()),
        status_page_url: Some("https://status.example.com".into()),
        mail_from: Some("status@example.com".into()),
        ..Config::default()
    }
}

/// A mailer that fails while `failing` says so, and counts its calls.
#[derive(Default)]
struct Flaky {
    inner: MemoryMailer,
    calls: AtomicUsize,
    /// Fail calls with these numbers (1-based).
    fail_from: usize,
    fail_to: usize,
    permanent: bool,
}

#[async_trait]
impl Mailer for Flaky {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if (self.fail_from..=self.fail_to).contains(&n) {
            let m = format!(
                "Throttling: Maximum sending rate exceeded for {}",
                mail.to[0]
            );
            return Err(if self.permanent {
                BackendError::Permanent(m)
            } else {
                BackendError::Transient(m)
            });
        }
        self.inner.send(mail).await
    }
    async fn max_send_rate(&self) -> Result<Option<f64>, BackendError> {
        Ok(Some(1.0))
    }
}

struct World {
    subs: Subscriptions,
    state: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
}

fn world(mailer: Arc<dyn Mailer>) -> World {
    let state = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::default());
    let subs = Subscriptions::new(
        Arc::new(config()),
        state.clone(),
        mailer,
        Some(queue.clone()),
    )
    .unwrap();
    World { subs, state, queue }
}

async fn call(
    subs: &Subscriptions,
    method: Method,
    uri: &str,
    body: &str,
    source: &str,
    json: bool,
) -> Page {
    let (path, query) = match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if json {
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    subs.web(Request {
        method: &method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
        source: Some(source),
    })
    .await
}

fn json(p: &Page) -> serde_json::Value {
    serde_json::from_str(&p.body).unwrap_or_else(|e| panic!("{e}: {}", p.body))
}

/// The link of `path` in a mail's text.
fn link_in(mail: &Mail, path: &str) -> String {
    let start = mail
        .text
        .find(&format!("https://api.example.com{path}?token="))
        .unwrap_or_else(|| panic!("{path} in {}", mail.text));
    let rest = &mail.text[start + "https://api.example.com".len()..];
    rest.split_whitespace().next().unwrap().to_owned()
}

/// `address` straight into the bucket as a confirmed subscriber of everything.
async fn seed(state: &MemoryStore, address: &str) {
    let s = Subscriber::confirmed(address, chrono::Utc::now());
    state
        .put(
            &subscriber::key(&SubscriberId::of(address)),
            serde_json::to_vec(&s).unwrap().into(),
            crate::ports::PutOptions::private_json(),
        )
        .await
        .unwrap();
}

async fn record(state: &MemoryStore, address: &str) -> Option<Subscriber> {
    let key = subscriber::key(&SubscriberId::of(address));
    crate::document::read(state, &key)
        .await
        .unwrap()
        .map(|(s, _)| s)
}

async fn subscribed(w: &World, mailer: &MemoryMailer, address: &str, components: &[&str]) {
    let mut body = format!("email={}", address.replace('@', "%40").replace('+', "%2B"));
    for c in components {
        body.push_str(&format!("&components={c}"));
    }
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        &body,
        "198.51.100.1",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED, "{}", p.body);
    let mail = mailer.take().pop().expect("a confirmation mail");
    let confirm = link_in(&mail, "/subscribe/confirm");
    let p = call(&w.subs, Method::POST, &confirm, "", "198.51.100.1", true).await;
    assert_eq!(json(&p)["status"], "confirmed", "{}", p.body);
}

#[tokio::test]
async fn subscribe_confirm_manage_and_leave() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    let p = call(&w.subs, Method::GET, "/subscribe", "", "192.0.2.1", false).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("name=\"website\"") && p.body.contains("type=\"email\""));
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=Reader%40Example.com&components=api&website=",
        "192.0.2.1",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    assert!(p.body.contains("Check your mail"), "{}", p.body);
    assert!(p.headers.contains(&("cache-control", "no-store".into())));
    let mails = mailer.take();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["Reader@Example.com".to_string()]);
    let confirm = link_in(&mails[0], "/subscribe/confirm");
    let s = record(&w.state, "reader@example.com").await.unwrap();
    assert!(!s.active(), "unconfirmed");
    // GET shows; it changes nothing, however often.
    for _ in 0..3 {
        let p = call(&w.subs, Method::GET, &confirm, "", "192.0.2.9", false).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(
            p.body.contains("<form method=\"post\">") && p.body.contains("R…@Example.com"),
            "{}",
            p.body
        );
        assert_eq!(record(&w.state, "reader@example.com").await.unwrap(), s);
    }
    let p = call(&w.subs, Method::POST, &confirm, "", "192.0.2.9", false).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("You are subscribed"), "{}", p.body);
    let s = record(&w.state, "reader@example.com").await.unwrap();
    assert!(s.active());
    assert_eq!(s.components, vec!["api".to_string()]);
    // Again: already.
    let p = call(&w.subs, Method::POST, &confirm, "", "192.0.2.9", true).await;
    assert_eq!(json(&p)["status"], "already");
    let manage = json(&p)["manage_url"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://api.example.com")
        .to_owned();
    let p = call(&w.subs, Method::GET, &manage, "", "192.0.2.9", true).await;
    assert_eq!(json(&p)["components"], serde_json::json!(["api"]));
    let p = call(
        &w.subs,
        Method::POST,
        &manage,
        "action=save&components=web&components=api",
        "192.0.2.9",
        true,
    )
    .await;
    assert_eq!(
        (json(&p)["status"].as_str(), &json(&p)["components"]),
        (Some("saved"), &serde_json::json!(["api", "web"]))
    );
    // Unsubscribe: GET asks, POST (one click, any body) does it.
    let key = TokenKey::new(&Secret::new(SECRET));
    let token = key.sign(&Token {
        purpose: Purpose::Unsubscribe,
        subscriber: SubscriberId::of("reader@example.com"),
        issued: chrono::Utc::now().timestamp(),
    });
    let unsubscribe = format!("/unsubscribe?token={token}");
    let p = call(&w.subs, Method::GET, &unsubscribe, "", "192.0.2.9", false).await;
    assert!(
        p.body
            .contains("<button type=\"submit\">Unsubscribe</button>"),
        "{}",
        p.body
    );
    assert!(record(&w.state, "reader@example.com").await.is_some());
    let p = call(
        &w.subs,
        Method::POST,
        &unsubscribe,
        "List-Unsubscribe=One-Click",
        "192.0.2.9",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        record(&w.state, "reader@example.com").await,
        None,
        "the address is not kept"
    );
    let p = call(
        &w.subs,
        Method::POST,
        &unsubscribe,
        "List-Unsubscribe=One-Click",
        "192.0.2.9",
        true,
    )
    .await;
    assert_eq!(json(&p)["status"], "unsubscribed", "done again, it is done");
    let p = call(&w.subs, Method::GET, &manage, "", "192.0.2.9", true).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn abuse_gets_nothing() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    // Fifty requests for one address (from many places): one mail.
    for i in 0..50 {
        let p = call(
            &w.subs,
            Method::POST,
            "/subscribe",
            "email=target%40example.com",
            &format!("203.0.113.{i}"),
            true,
        )
        .await;
        assert_eq!(
            (p.status, json(&p)["status"].as_str()),
            (StatusCode::ACCEPTED, Some("check_mail"))
        );
    }
    assert_eq!(mailer.take().len(), 1);
    // A filled honeypot: the same answer, no mail, no record.
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=bot%40example.com&website=http%3A%2F%2Fspam.example",
        "203.0.113.200",
        true,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    assert!(mailer.take().is_empty());
    assert_eq!(record(&w.state, "bot@example.com").await, None);
    // An invalid address: a page naming the problem, the form again.
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=not-an-address",
        "203.0.113.201",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body.contains("The address has no @") && p.body.contains("value=\"not-an-address\""),
        "{}",
        p.body
    );
    // One source: twenty requests an hour, then 429.
    for i in 0..limits::PER_SOURCE_PER_HOUR {
        let p = call(
            &w.subs,
            Method::POST,
            "/subscribe",
            &format!("email=r{i}%40example.com"),
            "198.51.100.77",
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::ACCEPTED);
    }
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=late%40example.com",
        "198.51.100.77",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.headers.contains(&("retry-after", "3600".into())));
    assert_eq!(record(&w.state, "late@example.com").await, None);
    // No source address is stored, only keyed hashes.
    for k in w.state.keys() {
        assert!(!k.contains("198.51.100") && !k.contains('@'), "{k}");
    }
}

#[tokio::test]
async fn bad_links_change_nothing() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=reader%40example.com",
        "192.0.2.1",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    let confirm = link_in(&mailer.take()[0], "/subscribe/confirm");
    let before = w.state.keys();
    let s = record(&w.state, "reader@example.com").await;
    let key = TokenKey::new(&Secret::new(SECRET));
    let id = SubscriberId::of("reader@example.com");
    let old = chrono::Utc::now() - chrono::TimeDelta::hours(49);
    let expired = key.sign(&Token {
        purpose: Purpose::Confirm,
        subscriber: id.clone(),
        issued: old.timestamp(),
    });
    let forged =
        TokenKey::new(&Secret::new("another-secret-of-at-least-32-characters")).sign(&Token {
            purpose: Purpose::Unsubscribe,
            subscriber: id.clone(),
            issued: 0,
        });
    let mut altered = confirm.clone().into_bytes();
    let last = altered.len() - 5;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let wrong_purpose = confirm.replace("/subscribe/confirm", "/unsubscribe");
    for (uri, status) in [
        (altered.as_str(), 400),
        (&format!("/subscribe/confirm?token={expired}"), 410),
        (&format!("/unsubscribe?token={forged}"), 400),
        (&wrong_purpose, 400),
        ("/subscriptions?token=", 400),
        ("/subscriptions", 400),
    ] {
        for method in [Method::GET, Method::POST] {
            let p = call(
                &w.subs,
                method.clone(),
                uri,
                "action=unsubscribe",
                "192.0.2.1",
                false,
            )
            .await;
            assert_eq!(p.status.as_u16(), status, "{method} {uri}");
            assert!(p.body.contains("<h1>This link"), "{}", p.body);
            let p = call(&w.subs, method, uri, "", "192.0.2.1", true).await;
            assert!(
                json(&p)["error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("this link")),
                "{}",
                p.body
            );
        }
    }
    assert_eq!(w.state.keys(), before);
    assert_eq!(record(&w.state, "reader@example.com").await, s);
}

fn update(id: u64, kind: UpdateKind, components: &[&str]) -> Update {
    Update {
        id: format!("{id}.{}", kind.as_str()),
        kind,
        at: crate::time::parse("2026-12-01T09:00:00Z").unwrap(),
        incident: Subject {
            id,
            title: "API errors".into(),
            status: "opened".into(),
            stage: "investigating".into(),
            components: components.iter().map(|c| c.to_string()).collect(),
            severity: None,
            window: None,
        },
        html: "<p>We are looking into it.</p>".into(),
        previous_stage: None,
    }
}

/// Handles every message queued, as the queue's consumer would, retrying failures
/// until `tries` runs out; returns the outcomes.
async fn drain(w: &World, mut pending: Vec<OutMessage>, tries: usize) -> Vec<FanOut> {
    let mut out = Vec::new();
    let mut attempts = 0;
    while !pending.is_empty() {
        let m = pending.remove(0);
        match w.subs.handle(&m.body).await {
            Ok(o) => {
                out.push(o);
                pending.extend(w.queue.take());
            }
            Err(e) => {
                attempts += 1;
                assert!(attempts <= tries, "{e}");
                // FIFO: the failed message comes back before the rest of its group.
                pending.insert(0, m);
            }
        }
    }
    out
}

#[tokio::test]
async fn one_update_reaches_everyone_who_wants_it_once() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    for i in 0..12 {
        subscribed(&w, &mailer, &format!("all{i}@example.com"), &[]).await;
    }
    for i in 0..5 {
        subscribed(&w, &mailer, &format!("api{i}@example.com"), &["API"]).await;
    }
    subscribed(&w, &mailer, "web@example.com", &["web"]).await;
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=unconfirmed%40example.com",
        "192.0.2.50",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    mailer.take();
    // Two updates in order: the publication, then a comment.
    let u1 = update(7, UpdateKind::Published, &["api"]);
    let mut u2 = update(7, UpdateKind::Comment, &["api"]);
    u2.id = "7.comment.1".into();
    announce(w.queue.as_ref(), None, &[u1.clone(), u2.clone()])
        .await
        .unwrap();
    let first = w.queue.take();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|m| m.group_id == fanout::GROUP));
    let outcomes = drain(&w, first.clone(), 0).await;
    // One mail a second: batches of 60; 19 records.
    assert!(
        matches!(
            &outcomes[0],
            FanOut::Planned {
                subscribers: 19,
                batches: 1,
                ..
            }
        ),
        "{outcomes:?}"
    );
    let mails = mailer.take();
    assert_eq!(
        mails.len(),
        2 * 17,
        "12 for everything, 5 for the API, not web, not unconfirmed"
    );
    // Each reader: the publication first, then the comment in its thread.
    let to = |m: &Mail| m.to[0].clone();
    let mut seen = std::collections::BTreeMap::<String, Vec<&Mail>>::new();
    for m in &mails {
        seen.entry(to(m)).or_default().push(m);
    }
    assert_eq!(seen.len(), 17);
    for (who, ms) in &seen {
        assert_eq!(ms.len(), 2, "{who}");
        assert!(
            ms[0].subject.contains("New incident"),
            "{who}: {}",
            ms[0].subject
        );
        assert_eq!(ms[1].in_reply_to.as_ref(), Some(&ms[0].message_id));
        assert!(
            ms[1]
                .headers
                .iter()
                .any(|(n, v)| n == "List-Unsubscribe" && v.contains("/unsubscribe?token="))
        );
    }
    // The same messages again (a redelivery): nobody mailed twice.
    let again = drain(&w, first, 0).await;
    assert!(mailer.take().is_empty(), "{again:?}");
    assert!(
        again.iter().any(|o| matches!(
            o,
            FanOut::Delivered {
                sent: 0,
                already: 17,
                ..
            }
        )),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_batch_failing_midway_is_retried_and_mails_each_once() {
    let flaky = Arc::new(Flaky {
        fail_from: 30,
        fail_to: 34,
        ..Flaky::default()
    });
    let w = world(flaky.clone());
    // Subscribers straight into the bucket, confirmed.
    for i in 0..150 {
        seed(&w.state, &format!("reader{i}@example.com")).await;
    }
    announce(
        w.queue.as_ref(),
        None,
        &[update(9, UpdateKind::Published, &[])],
    )
    .await
    .unwrap();
    let outcomes = drain(&w, w.queue.take(), 5).await;
    assert!(
        matches!(
            &outcomes[0],
            FanOut::Planned {
                subscribers: 150,
                batches: 3,
                ..
            }
        ),
        "{outcomes:?}"
    );
    let mails = flaky.inner.take();
    let mut to: Vec<String> = mails.iter().map(|m| m.to[0].clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!(
        (mails.len(), to.len()),
        (150, 150),
        "every reader exactly once"
    );
    let failures = flaky.calls.load(Ordering::SeqCst) - 150;
    assert_eq!(failures, 5, "five sends failed and were retried");
    // No delivery record of a failed send stays behind without its mail.
    let records = w
        .state
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(fanout::DELIVERIES_PREFIX))
        .count();
    assert_eq!(records, 150);
}

#[tokio::test]
async fn a_sender_refused_everywhere_fails_the_batch_and_keeps_no_record() {
    let flaky = Arc::new(Flaky {
        fail_from: 1,
        fail_to: usize::MAX,
        permanent: true,
        ..Flaky::default()
    });
    let w = world(flaky.clone());
    seed(&w.state, "reader@example.com").await;
    announce(
        w.queue.as_ref(),
        None,
        &[update(3, UpdateKind::Published, &[])],
    )
    .await
    .unwrap();
    let plan = w.queue.take();
    w.subs.handle(&plan[0].body).await.unwrap();
    let batch = w.queue.take();
    let e = w.subs.handle(&batch[0].body).await.unwrap_err();
    assert!(
        matches!(e, crate::errors::ProcessError::Permanent(_)),
        "{e}"
    );
    assert!(!e.to_string().contains('@'), "no address in errors: {e}");
    assert!(
        !w.state
            .keys()
            .iter()
            .any(|k| k.starts_with(fanout::DELIVERIES_PREFIX))
    );
}

#[tokio::test]
async fn bounces_and_complaints_stop_mail_for_good() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    subscribed(&w, &mailer, "recipient@example.com", &[]).await;
    let bounce = r#"{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"Recipient@example.com"}]},"mail":{}}"#;
    assert_eq!(w.subs.feedback(bounce).await.unwrap(), 1);
    let s = record(&w.state, "recipient@example.com").await.unwrap();
    assert!(!s.active() && s.address.is_none());
    announce(
        w.queue.as_ref(),
        None,
        &[update(4, UpdateKind::Published, &[])],
    )
    .await
    .unwrap();
    drain(&w, w.queue.take(), 0).await;
    assert!(mailer.take().is_empty());
    // The form cannot bring it back.
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=recipient%40example.com",
        "192.0.2.3",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    assert!(mailer.take().is_empty());
    assert_eq!(
        w.subs.feedback(bounce).await.unwrap(),
        1,
        "again: still stopped"
    );
    assert_eq!(
        w.subs
            .feedback(&bounce.replace("Recipient@", "nobody@"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn off_means_no_routes_and_no_mail() {
    let state = Arc::new(MemoryStore::new());
    let subs = Subscriptions::new(
        Arc::new(Config::default()),
        state,
        Arc::new(MemoryMailer::default()),
        None,
    )
    .unwrap();
    assert!(!subs.enabled());
    let p = call(
        &subs,
        Method::POST,
        "/subscribe",
        "email=r%40example.com",
        "192.0.2.1",
        true,
    )
    .await;
    assert_eq!(
        (p.status, json(&p)["status"].as_str()),
        (StatusCode::NOT_FOUND, Some("off"))
    );
    let body =
        serde_json::to_string(&FanMessage::Update(update(1, UpdateKind::Published, &[]))).unwrap();
    assert_eq!(subs.handle(&body).await.unwrap(), FanOut::Off);
    // On without its secret: refused at start, naming it.
    let c = Config {
        subscriptions: true,
        ..config()
    };
    let c = Config {
        subscription_secret: None,
        ..c
    };
    let e = Subscriptions::new(
        Arc::new(c),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryMailer::default()),
        Some(Arc::new(MemoryQueue::default())),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("SUBSCRIPTION_SECRET"), "{e}");
}

#[tokio::test]
async fn other_methods_and_bodies() {
    let w = world(Arc::new(MemoryMailer::default()));
    let p = call(&w.subs, Method::DELETE, "/subscribe", "", "192.0.2.1", true).await;
    assert_eq!(p.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(p.headers.contains(&("allow", "GET, HEAD, POST".into())));
    let p = call(&w.subs, Method::HEAD, "/subscribe", "", "192.0.2.1", false).await;
    assert_eq!((p.status, p.body.as_str()), (StatusCode::OK, ""));
    let big = "x".repeat(web::MAX_FORM_BYTES + 1);
    let p = call(&w.subs, Method::POST, "/subscribe", &big, "192.0.2.1", true).await;
    assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let p = w
        .subs
        .web(Request {
            method: &Method::POST,
            path: "/subscribe",
            query: None,
            headers: &headers,
            body: br#"{"email": "json@example.com", "components": ["api"]}"#,
            source: None,
        })
        .await;
    assert_eq!(
        (p.status, json(&p)["status"].as_str()),
        (StatusCode::ACCEPTED, Some("check_mail"))
    );
    assert_eq!(
        record(&w.state, "json@example.com")
            .await
            .unwrap()
            .pending
            .unwrap()
            .components,
        vec!["api".to_string()]
    );
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let p = w
        .subs
        .web(Request {
            method: &Method::POST,
            path: "/subscribe",
            query: None,
            headers: &headers,
            body: b"x",
            source: None,
        })
        .await;
    assert_eq!(p.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn forms_decode() {
    assert_eq!(
        web::form_pairs(b"email=a%40b.c&components=api+gateway&components=%E2%9C%93&x&bad=%zz"),
        vec![
            ("email".into(), "a@b.c".into()),
            ("components".into(), "api gateway".into()),
            ("components".into(), "✓".into()),
            ("x".into(), String::new()),
            ("bad".into(), "%zz".into()),
        ]
    );
    // An escape is `%` and two hex digits; anything else stays as written (a sign
    // is no digit), and bytes that are not UTF-8 are replaced.
    assert_eq!(
        web::form_pairs(b"a=%+1&b=%-f&c=%1&d=%&e=%C3%A9%C3&%=%%41"),
        vec![
            ("a".into(), "% 1".into()),
            ("b".into(), "%-f".into()),
            ("c".into(), "%1".into()),
            ("d".into(), "%".into()),
            ("e".into(), "é\u{fffd}".into()),
            ("%".into(), "%A".into()),
        ]
    );
}

#[tokio::test]
async fn a_german_page_language_gives_german_pages_and_mails() {
    let mailer = Arc::new(MemoryMailer::default());
    let state = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::default());
    let config = Config {
        page_language: crate::i18n::Language::De,
        ..config()
    };
    let w = World {
        subs: Subscriptions::new(
            Arc::new(config.clone()),
            state.clone(),
            mailer.clone(),
            Some(queue.clone()),
        )
        .unwrap(),
        state,
        queue,
    };

    // The form on the status page and the subscribe page.
    let site = crate::site::Page::new(&config);
    let detail = crate::site::data::Incident {
        id: 7,
        status: "opened".into(),
        title: "API-Fehler".into(),
        description: "<p>Fehler.</p>".into(),
        created_at: crate::time::parse("2026-12-01T09:00:00Z").unwrap(),
        updated_at: crate::time::parse("2026-12-01T09:00:00Z").unwrap(),
        comments: None,
        links: crate::site::data::Links {
            details: "data/incident/7.json".into(),
        },
        severity: None,
        stage: Some("investigating".into()),
        components: vec!["api".into()],
        kind: None,
        window: None,
        closed_at: None,
    };
    let html = String::from_utf8(
        crate::site::render_incident_page(&detail, &site)
            .unwrap()
            .body
            .to_vec(),
    )
    .unwrap();
    for want in [
        "<html lang=\"de\">",
        "<h2 id=\"follow-heading\">Aktualisierungen verfolgen</h2>",
        "<label for=\"subscribe-email\">Aktualisierungen per E-Mail erhalten</label>",
        "<button type=\"submit\">Abonnieren</button>",
        "Nur Aktualisierungen zu (nichts angekreuzt: alle Aktualisierungen)",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    let p = call(
        &w.subs,
        Method::GET,
        "/subscribe",
        "",
        "198.51.100.1",
        false,
    )
    .await;
    assert!(p.body.contains("<html lang=\"de\">"), "{}", p.body);
    assert!(
        p.body.contains("<title>Abonnieren · Dienststatus</title>")
            && p.body
                .contains("<h1>Aktualisierungen per E-Mail erhalten</h1>")
            && p.body
                .contains("<label for=\"email\">Ihre E-Mail-Adresse</label>"),
        "{}",
        p.body
    );
    // A wrong address: the page names the problem in German, JSON in English.
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=kein-at",
        "198.51.100.1",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body
            .contains("Die Adresse enthält kein @, wie in name@example.com."),
        "{}",
        p.body
    );
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=kein-at",
        "198.51.100.1",
        true,
    )
    .await;
    assert_eq!(
        json(&p)["error"],
        "the address has no @, as in name@example.com"
    );

    // Subscribing: the reply and the confirmation mail.
    let p = call(
        &w.subs,
        Method::POST,
        "/subscribe",
        "email=leser%40example.com&components=api",
        "198.51.100.1",
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    assert!(
        p.body.contains("<h1>Prüfen Sie Ihr Postfach</h1>")
            && p.body.contains("Der Link gilt 48 Stunden"),
        "{}",
        p.body
    );
    let confirmation = mailer.take().pop().expect("a confirmation mail");
    assert_eq!(
        confirmation.subject,
        "Bestätigen Sie Ihr Abonnement für Aktualisierungen von Dienststatus"
    );
    for body in [&confirmation.text, &confirmation.html] {
        for want in [
            "Jemand, wahrscheinlich Sie, hat darum gebeten, Aktualisierungen von Dienststatus an leser@example.com zu senden.",
            "Sie würden Aktualisierungen erhalten zu: api.",
            "Der Link gilt 48 Stunden.",
        ] {
            assert!(body.contains(want), "{want} in {body}");
        }
    }
    assert!(confirmation.html.contains("<html lang=\"de\">"));
    assert!(
        confirmation
            .html
            .contains(">Bestätigen</a> (die Seite, die sich öffnet,"),
        "{}",
        confirmation.html
    );
    let confirm = link_in(&confirmation, "/subscribe/confirm");
    let p = call(&w.subs, Method::GET, &confirm, "", "198.51.100.1", false).await;
    assert!(
        p.body.contains("<h1>Abonnement bestätigen</h1>")
            && p.body
                .contains("<button type=\"submit\">Bestätigen</button>"),
        "{}",
        p.body
    );
    let p = call(&w.subs, Method::POST, &confirm, "", "198.51.100.1", false).await;
    assert!(
        p.body.contains("<h1>Ihr Abonnement ist aktiv</h1>")
            && p.body.contains("Auswählen, was Sie erhalten"),
        "{}",
        p.body
    );

    // An update: subject and body in German, stage names from the catalogue.
    let mut u = update(7, UpdateKind::Stage, &["api"]);
    u.incident.stage = "identified".into();
    u.incident.severity = Some("high".into());
    u.previous_stage = Some("investigating".into());
    announce(w.queue.as_ref(), None, &[u]).await.unwrap();
    let first = w.queue.take();
    drain(&w, first, 0).await;
    let mails = mailer.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    assert_eq!(m.subject, "[Dienststatus] Ursache erkannt: API errors");
    for want in [
        "Der Vorfall wechselte von „Untersuchung“ zu „Ursache erkannt“.",
        "Schweregrad: hoch",
        "Betroffen: api",
        "Sie erhalten diese E-Mail, weil Sie Aktualisierungen von Dienststatus abonniert haben.",
    ] {
        assert!(m.text.contains(want), "{want} in {}", m.text);
        assert!(m.html.contains(want), "{want} in {}", m.html);
    }
    assert!(m.text.contains("Phase: Ursache erkannt"), "{}", m.text);
    assert!(
        m.html.contains("Phase: <strong>Ursache erkannt</strong>"),
        "{}",
        m.html
    );
    assert!(
        m.text
            .contains("Abbestellen: https://api.example.com/unsubscribe?token="),
        "{}",
        m.text
    );
    assert!(m.html.contains("<html lang=\"de\">"));
    assert!(!m.text.contains("Stage:") && !m.text.contains("You get this"));
}

/// Every page a route may answer, in every language: the template renders (no
/// fallback), with the language set and the view's title from the catalogue.
#[test]
fn every_view_renders_in_every_language() {
    for language in crate::i18n::Language::ALL {
        let config = Config {
            page_language: language,
            ..config()
        };
        let subs = Subscriptions::new(
            Arc::new(config),
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryMailer::default()),
            Some(Arc::new(MemoryQueue::default())),
        )
        .unwrap();
        let cat = crate::i18n::catalogue(language);
        for view in web::VIEWS {
            let body = subs.render_view(view);
            assert!(
                body.contains(&format!("<html lang=\"{}\">", language.code()))
                    && body.contains("<main id=\"main\">"),
                "{view} in {}: {body}",
                language.code()
            );
            let title =
                crate::site::render::escape_text(cat.text(&format!("subscriptions.title.{view}")));
            assert!(
                body.contains(&format!("<title>{title} · ")),
                "{view} in {}: {body}",
                language.code()
            );
        }
    }
}
