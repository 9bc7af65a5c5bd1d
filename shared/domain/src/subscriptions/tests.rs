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
use super::web::Request;
use super::*;
use crate::config::{Config, Secret};
use crate::errors::BackendError;
use crate::mail::Mail;
use crate::memory::{MemoryMailer, MemoryQueue, MemoryStore};
use crate::ports::{Mailer, ObjectStore, OutMessage};
use crate::reply::Reply;

const SECRET: &str = "test-subscription-secret-0123456789abcdef";

fn config() -> Config {
    let mut c = Config::default();
    c.subscriptions.enabled = true;
    c.subscriptions.subscription_secret = Some(Secret::new(SECRET));
    c.subscriptions.public_api_url = Some("https://api.example.com".into());
    c.site.status_page_url = Some("https://status.example.com".into());
    c.mail.mail_from = Some("status@example.com".into());
    c.site.components = vec!["api".into(), "web".into()];
    c
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
) -> Reply {
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

/// Handles every message the form queued (the subscriptions function consuming its
/// queue); returns the outcomes.
async fn handle_queued(w: &World) -> Vec<FanOut> {
    let mut out = Vec::new();
    loop {
        let messages = w.queue.take();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(w.subs.handle(&m.body).await.unwrap());
        }
    }
}

fn json(p: &Reply) -> serde_json::Value {
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
    handle_queued(w).await;
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
    // The reply sent no mail: its one message is queued, apart from the updates.
    assert!(
        mailer.take().is_empty(),
        "no mail while the form is answered"
    );
    let queued = w.queue.take();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].group_id, request::GROUP);
    assert!(matches!(
        w.subs.handle(&queued[0].body).await.unwrap(),
        FanOut::Confirmation(request::Mailed::Sent)
    ));
    let mails = mailer.take();
    assert_eq!(mails.len(), 1, "the queued message makes exactly one mail");
    assert_eq!(mails[0].to, vec!["Reader@Example.com".to_string()]);
    let confirm = link_in(&mails[0], "/subscribe/confirm");
    // Handled again (a redelivery): no second mail.
    assert!(matches!(
        w.subs.handle(&queued[0].body).await.unwrap(),
        FanOut::Confirmation(request::Mailed::Already)
    ));
    assert!(mailer.take().is_empty());
    assert_eq!(
        record(&w.state, "reader@example.com").await,
        None,
        "nothing until confirmed"
    );
    let before = w.state.keys();
    // GET shows; it changes nothing, however often.
    for _ in 0..3 {
        let p = call(&w.subs, Method::GET, &confirm, "", "192.0.2.9", false).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(
            p.body.contains("<form method=\"post\">")
                && p.body
                    .contains("R…@Example.com will get Service status updates about api."),
            "{}",
            p.body
        );
        assert_eq!(w.state.keys(), before);
    }
    let p = call(&w.subs, Method::POST, &confirm, "", "192.0.2.9", false).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("You are subscribed"), "{}", p.body);
    let s = record(&w.state, "reader@example.com").await.unwrap();
    assert!(s.active());
    assert_eq!(s.components, vec!["api".to_string()]);
    assert!(
        !w.state
            .keys()
            .iter()
            .any(|k| k.starts_with(request::PREFIX)),
        "the request is done"
    );
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
        subscription: s.subscription(),
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
    assert!(mailer.take().is_empty(), "nothing mailed while answering");
    handle_queued(&w).await;
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
    handle_queued(&w).await;
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
    handle_queued(&w).await;
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
        subscription: None,
    });
    let forged =
        TokenKey::new(&Secret::new("another-secret-of-at-least-32-characters")).sign(&Token {
            purpose: Purpose::Unsubscribe,
            subscriber: id.clone(),
            issued: 0,
            subscription: None,
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
        audience: None,
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
    handle_queued(&w).await;
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
    // One mail a second: batches of 60; 18 subscribers (the unconfirmed request is
    // no subscriber).
    assert!(
        matches!(
            &outcomes[0],
            FanOut::Planned {
                subscribers: 18,
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
    assert!(matches!(
        handle_queued(&w).await[..],
        [FanOut::Confirmation(request::Mailed::Suppressed)]
    ));
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
    let mut c = config();
    c.subscriptions.enabled = true;
    c.subscriptions.subscription_secret = None;
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
    handle_queued(&w).await;
    let waiting = w
        .subs
        .waiting(&SubscriberId::of("json@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.components, vec!["api".to_string()]);
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
    let config = {
        let mut c = config();
        c.site.page_language = crate::i18n::Language::De;
        c
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
        postmortem: None,
        key_times: vec![],
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
    handle_queued(&w).await;
    let confirmation = mailer.take().pop().expect("a confirmation mail");
    assert_eq!(
        confirmation.subject,
        "Bestätigen Sie Ihr Abonnement für Aktualisierungen von Dienststatus"
    );
    for body in [&confirmation.text, &confirmation.html] {
        for want in [
            "Jemand, wahrscheinlich Sie, hat darum gebeten, Aktualisierungen von Dienststatus an leser@example.com zu senden.",
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
    // No component named: "api" only in the links' host.
    assert_eq!(
        confirmation.text.matches("api").count(),
        confirmation.text.matches("https://api.example.com").count(),
        "{}",
        confirmation.text
    );
    let p = call(&w.subs, Method::GET, &confirm, "", "198.51.100.1", false).await;
    assert!(
        p.body
            .contains("l…@example.com erhält Aktualisierungen von Dienststatus zu api."),
        "{}",
        p.body
    );
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
        let config = {
            let mut c = config();
            c.site.page_language = language;
            c
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

/// A clock a test moves by hand.
struct Hand(std::sync::Mutex<crate::time::Timestamp>);

impl Hand {
    fn at(t: &str) -> Arc<Hand> {
        Arc::new(Hand(std::sync::Mutex::new(crate::time::parse(t).unwrap())))
    }
    fn advance(&self, by: chrono::TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

impl crate::clock::Clock for Hand {
    fn now(&self) -> crate::time::Timestamp {
        *self.0.lock().unwrap()
    }
}

/// Subscriptions on `config` and a hand-moved clock.
fn world_at(mailer: Arc<dyn Mailer>, config: Config, clock: Arc<Hand>) -> World {
    let state = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::default());
    let subs = Subscriptions::new(Arc::new(config), state.clone(), mailer, Some(queue.clone()))
        .unwrap()
        .with_clock(clock);
    World { subs, state, queue }
}

/// `POST /subscribe` with `body` and these extra headers.
async fn post_form(
    w: &World,
    body: &str,
    source: &str,
    headers: &[(&str, &str)],
    json: bool,
) -> Reply {
    let mut map = HeaderMap::new();
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if json {
        map.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    for (name, value) in headers {
        map.append(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    w.subs
        .web(Request {
            method: &Method::POST,
            path: "/subscribe",
            query: None,
            headers: &map,
            body: body.as_bytes(),
            source: Some(source),
        })
        .await
}

fn form_email(address: &str) -> String {
    format!("email={}", address.replace('+', "%2B").replace('@', "%40"))
}

#[tokio::test]
async fn a_mailbox_gets_one_confirmation_however_its_address_is_written() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Hand::at("2026-12-01T10:00:00Z");
    let w = world_at(mailer.clone(), config(), clock.clone());
    let variants = [
        "victim+1@example.com",
        "victim+2@example.com",
        "Victim@example.com",
        "VICTIM+news@Example.COM",
        "victim@example.com",
        "v.i.c.t.i.m@gmail.com",
        "victim@googlemail.com",
        "Vic.Tim+x@gmail.com",
    ];
    for (i, address) in variants.iter().enumerate() {
        let p = post_form(
            &w,
            &form_email(address),
            &format!("203.0.113.{i}"),
            &[],
            true,
        )
        .await;
        assert_eq!(
            (p.status, json(&p)["status"].as_str()),
            (StatusCode::ACCEPTED, Some("check_mail")),
            "{address}: the same answer for every address"
        );
        clock.advance(chrono::TimeDelta::minutes(5));
    }
    let outcomes = handle_queued(&w).await;
    let mails = mailer.take();
    let to: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(
        to,
        ["victim+1@example.com", "v.i.c.t.i.m@gmail.com"],
        "one mail per mailbox: {outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, FanOut::Confirmation(request::Mailed::TooSoon)))
            .count(),
        6
    );
    // An hour after its last confirmation, a mailbox may get another.
    clock.advance(chrono::TimeDelta::minutes(61));
    post_form(
        &w,
        &form_email("victim+3@example.com"),
        "203.0.113.99",
        &[],
        true,
    )
    .await;
    handle_queued(&w).await;
    assert_eq!(mailer.take().len(), 1);
    // The limits keep no address, only keyed hashes.
    for k in w
        .state
        .keys()
        .iter()
        .filter(|k| k.starts_with(limits::PREFIX))
    {
        assert!(!k.contains("victim") && !k.contains('@'), "{k}");
    }
}

#[tokio::test]
async fn one_ipv6_64_is_one_source() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    for i in 0..limits::PER_SOURCE_PER_HOUR {
        let source = format!("2001:db8:42:7:{:x}::{:x}", (i * 7919) % 0x10000, i + 1);
        let p = post_form(
            &w,
            &form_email(&format!("r{i}@example.com")),
            &source,
            &[],
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::ACCEPTED, "{source}");
    }
    for source in ["2001:db8:42:7:ffff:ffff:ffff:fffe", "2001:db8:42:7::1"] {
        let p = post_form(&w, &form_email("late@example.com"), source, &[], false).await;
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{source}");
        assert!(p.headers.contains(&("retry-after", "3600".into())));
    }
    let p = post_form(
        &w,
        &form_email("next@example.com"),
        "2001:db8:42:8::1",
        &[],
        true,
    )
    .await;
    assert_eq!(
        p.status,
        StatusCode::ACCEPTED,
        "another /64 is another source"
    );
    // An IPv4-mapped address is its IPv4 address.
    for i in 0..limits::PER_SOURCE_PER_HOUR {
        let source = if i % 2 == 0 {
            "198.51.100.7"
        } else {
            "::ffff:198.51.100.7"
        };
        let p = post_form(
            &w,
            &form_email(&format!("v{i}@example.com")),
            source,
            &[],
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::ACCEPTED);
    }
    let p = post_form(
        &w,
        &form_email("w@example.com"),
        "::ffff:198.51.100.7",
        &[],
        true,
    )
    .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_form_from_another_site_is_refused() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    let body = form_email("reader@example.com");
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "https://status.example.com.evil.example")],
        vec![("origin", "http://status.example.com")],
        vec![("origin", "https://status.example.com:8443")],
        vec![("origin", "null")],
        vec![("referer", "https://evil.example/subscribe.html")],
        vec![
            ("origin", "https://evil.example"),
            ("referer", "https://status.example.com/"),
        ],
    ] {
        let p = post_form(&w, &body, "192.0.2.1", &headers, true).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(json(&p)["status"], "wrong_origin");
        assert!(
            json(&p)["error"]
                .as_str()
                .unwrap()
                .starts_with("the form was sent from "),
            "{}",
            p.body
        );
    }
    assert!(
        w.queue.take().is_empty(),
        "nothing queued for a foreign form"
    );
    // The refused origin is named, escaped.
    let p = post_form(
        &w,
        &body,
        "192.0.2.1",
        &[("origin", "https://x.example\"><script>")],
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        !p.body.contains("<script>")
            && p.body.contains("The form was sent from https://x.example&quot;&gt;&lt;script&gt;, not from this status page"),
        "{}",
        p.body
    );
    // The status page's own form, the API's, and clients with neither header.
    for headers in [
        vec![("origin", "https://status.example.com")],
        vec![("origin", "HTTPS://Status.Example.com:443")],
        vec![("origin", "https://api.example.com")],
        vec![("referer", "https://status.example.com/incidents/7.html")],
        vec![],
    ] {
        let p = post_form(&w, &body, "192.0.2.2", &headers, true).await;
        assert_eq!(p.status, StatusCode::ACCEPTED, "{headers:?}: {}", p.body);
    }
    assert_eq!(w.queue.take().len(), 5);
    // A page of its own for an audience is added to the list.
    let w = World {
        subs: w.subs.with_origin("https://customers.example.org/status/"),
        ..w
    };
    let p = post_form(
        &w,
        &body,
        "192.0.2.3",
        &[("origin", "https://customers.example.org")],
        true,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn components_the_page_does_not_have_are_refused_and_never_mailed() {
    let mailer = Arc::new(MemoryMailer::default());
    let w = world(mailer.clone());
    let foreign = "Your account is locked, sign in at https://evil.example/sso";
    for (components, shown) in [
        (
            "components=Your+account+is+locked%2C+sign+in+at+https%3A%2F%2Fevil.example%2Fsso",
            "“Your account is locked, sign in at https…”",
        ),
        (
            "components=api&components=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E",
            "&lt;img src=x onerror=alert(1)&gt;",
        ),
    ] {
        let p = post_form(
            &w,
            &format!("{}&{components}", form_email("reader@example.com")),
            "192.0.2.1",
            &[],
            false,
        )
        .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST);
        assert!(
            p.body.contains("This status page has no component called") && p.body.contains(shown),
            "{}",
            p.body
        );
        assert!(
            !p.body.contains("<img src=x") && !p.body.contains("https://evil"),
            "{}",
            p.body
        );
        // The form again, offering the page's components.
        assert!(p.body.contains("value=\"web\""), "{}", p.body);
    }
    assert!(w.queue.take().is_empty());
    handle_queued(&w).await;
    assert!(mailer.take().is_empty(), "nothing mailed");
    // A component a published incident names is the page's too.
    let index: crate::site::data::PublishedIndex = serde_json::from_value(serde_json::json!({
        "incidents": {"1": {"incident": {
            "id": 1, "status": "opened", "title": "Payments", "description": "",
            "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z",
            "links": {"details": "data/incident/1.json"}, "components": ["Payments"]
        }}}
    }))
    .unwrap();
    w.state
        .put(
            crate::site::data::INDEX_KEY,
            serde_json::to_vec(&index).unwrap().into(),
            crate::ports::PutOptions::private_json(),
        )
        .await
        .unwrap();
    let p = post_form(
        &w,
        &format!(
            "{}&components=payments&components=API",
            form_email("reader@example.com")
        ),
        "192.0.2.1",
        &[],
        true,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED, "{}", p.body);
    handle_queued(&w).await;
    let mail = mailer.take().pop().expect("a confirmation");
    for body in [&mail.text, &mail.html, &mail.subject] {
        assert!(
            !body.contains(foreign) && !body.contains("Payments"),
            "no request text in mail: {body}"
        );
    }
    let p = call(
        &w.subs,
        Method::GET,
        &link_in(&mail, "/subscribe/confirm"),
        "",
        "192.0.2.1",
        true,
    )
    .await;
    assert_eq!(
        json(&p)["components"],
        serde_json::json!(["Payments", "api"])
    );
}

#[tokio::test]
async fn past_the_hours_cap_the_form_says_to_try_later() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Hand::at("2026-12-01T10:15:00Z");
    let w = world_at(mailer.clone(), config(), clock.clone());
    assert_eq!(
        w.subs.config.subscriptions.subscribe_max_per_hour, 200,
        "the default"
    );
    for i in 0..200u32 {
        let source = format!("198.51.{}.{}", i / 20, i % 20);
        let p = post_form(
            &w,
            &form_email(&format!("reader{i}@example.com")),
            &source,
            &[],
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::ACCEPTED, "{i}");
        handle_queued(&w).await;
    }
    assert_eq!(mailer.take().len(), 200);
    // The 201st: try later, in a page and in JSON, until the next hour.
    let p = post_form(
        &w,
        &form_email("late@example.com"),
        "192.0.2.201",
        &[],
        false,
    )
    .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        p.headers.contains(&("retry-after", "2700".into())),
        "{:?}",
        p.headers
    );
    assert!(
        p.body.contains("<h1>Please try again later</h1>"),
        "{}",
        p.body
    );
    let p = post_form(
        &w,
        &form_email("late@example.com"),
        "192.0.2.201",
        &[],
        true,
    )
    .await;
    assert_eq!(json(&p)["status"], "try_later");
    assert!(w.queue.take().is_empty());
    clock.advance(chrono::TimeDelta::minutes(45));
    let p = post_form(
        &w,
        &form_email("late@example.com"),
        "192.0.2.201",
        &[],
        true,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    handle_queued(&w).await;
    assert_eq!(mailer.take().len(), 1);
}

#[tokio::test]
async fn requests_accepted_together_never_mail_past_the_cap() {
    let mailer = Arc::new(MemoryMailer::default());
    let config = {
        let mut c = config();
        c.subscriptions.subscribe_max_per_hour = 3;
        c
    };
    let w = world_at(mailer.clone(), config, Hand::at("2026-12-01T10:00:00Z"));
    for i in 0..5 {
        let p = post_form(
            &w,
            &form_email(&format!("r{i}@example.com")),
            "192.0.2.1",
            &[],
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::ACCEPTED);
    }
    let outcomes = handle_queued(&w).await;
    assert_eq!(mailer.take().len(), 3, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, FanOut::Confirmation(request::Mailed::OverCap)))
            .count(),
        2
    );
    // The mailboxes the cap refused are not counted as mailed.
    let claimed = w
        .state
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("subscriber-limits/mailboxes/"))
        .count();
    assert_eq!(claimed, 3);
    // And the form now says to try later.
    let p = post_form(&w, &form_email("r5@example.com"), "192.0.2.1", &[], true).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "spent");
    assert_eq!(json(&p)["status"], "try_later");
}

#[tokio::test]
async fn a_subscriber_keeps_their_choice_until_they_confirm_a_change() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Hand::at("2026-12-01T10:00:00Z");
    let w = world_at(mailer.clone(), config(), clock.clone());
    subscribed(&w, &mailer, "reader@example.com", &["api"]).await;
    // Someone else asks for another choice in the reader's name.
    clock.advance(chrono::TimeDelta::hours(2));
    let p = post_form(
        &w,
        &format!("{}&components=web", form_email("reader@example.com")),
        "203.0.113.9",
        &[],
        true,
    )
    .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    handle_queued(&w).await;
    let mail = mailer.take().pop().expect("a confirmation of the change");
    assert_eq!(
        mail.subject,
        "Confirm your new choice of Service status updates"
    );
    assert!(!mail.text.contains("web"), "{}", mail.text);
    let confirm = link_in(&mail, "/subscribe/confirm");
    // The link's page says what would change, and that nothing has.
    let p = call(&w.subs, Method::GET, &confirm, "", "192.0.2.9", false).await;
    assert!(
        p.body.contains("<h1>Confirm your new choice</h1>")
            && p.body.contains("r…@example.com will get Service status updates about web.")
            && p.body.contains("Until you confirm, nothing changes: r…@example.com gets Service status updates about api now."),
        "{}",
        p.body
    );
    let p = call(&w.subs, Method::GET, &confirm, "", "192.0.2.9", true).await;
    assert_eq!(
        (
            json(&p)["status"].as_str(),
            &json(&p)["components"],
            &json(&p)["current_components"]
        ),
        (
            Some("confirm_change"),
            &serde_json::json!(["web"]),
            &serde_json::json!(["api"])
        )
    );
    // Not confirmed: the reader still gets what they chose.
    assert_eq!(
        record(&w.state, "reader@example.com")
            .await
            .unwrap()
            .components,
        vec!["api".to_string()]
    );
    announce(
        w.queue.as_ref(),
        None,
        &[update(5, UpdateKind::Published, &["api"])],
    )
    .await
    .unwrap();
    drain(&w, w.queue.take(), 0).await;
    assert_eq!(mailer.take().len(), 1, "still subscribed to api");
    // Confirmed, the change is made.
    let p = call(&w.subs, Method::POST, &confirm, "", "192.0.2.9", true).await;
    assert_eq!(json(&p)["status"], "confirmed");
    assert_eq!(
        record(&w.state, "reader@example.com")
            .await
            .unwrap()
            .components,
        vec!["web".to_string()]
    );
}

#[tokio::test]
async fn links_end_with_their_subscription() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Hand::at("2026-12-01T10:00:00Z");
    let w = world_at(mailer.clone(), config(), clock.clone());
    subscribed(&w, &mailer, "reader@example.com", &[]).await;
    clock.advance(chrono::TimeDelta::minutes(10));
    announce(
        w.queue.as_ref(),
        None,
        &[update(5, UpdateKind::Published, &[])],
    )
    .await
    .unwrap();
    drain(&w, w.queue.take(), 0).await;
    let mail = mailer.take().pop().expect("an update");
    let (unsubscribe, manage) = (
        link_in(&mail, "/unsubscribe"),
        link_in(&mail, "/subscriptions"),
    );
    let p = call(&w.subs, Method::GET, &manage, "", "192.0.2.9", true).await;
    assert_eq!(json(&p)["status"], "manage");
    // A link mailed by the earlier release names no subscription: it acts on the
    // one it was mailed during.
    let key = TokenKey::new(&Secret::new(SECRET));
    let id = SubscriberId::of("reader@example.com");
    let earlier = |issued: chrono::DateTime<chrono::Utc>| {
        format!(
            "/subscriptions?token={}",
            key.sign(&Token {
                purpose: Purpose::Manage,
                subscriber: id.clone(),
                issued: issued.timestamp(),
                subscription: None,
            })
        )
    };
    let mailed_before = earlier(clock.now());
    let p = call(&w.subs, Method::GET, &mailed_before, "", "192.0.2.9", true).await;
    assert_eq!(json(&p)["status"], "manage");
    // Unsubscribed: every link of that subscription stops working.
    let p = call(
        &w.subs,
        Method::POST,
        &unsubscribe,
        "List-Unsubscribe=One-Click",
        "192.0.2.9",
        true,
    )
    .await;
    assert_eq!(json(&p)["status"], "unsubscribed");
    for link in [&manage, &mailed_before] {
        let p = call(&w.subs, Method::GET, link, "", "192.0.2.9", true).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{link}");
        let p = call(
            &w.subs,
            Method::POST,
            link,
            "action=save&components=web",
            "192.0.2.9",
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{link}");
    }
    // Subscribed again: the old links do nothing to the new subscription.
    clock.advance(chrono::TimeDelta::hours(2));
    subscribed(&w, &mailer, "reader@example.com", &["api"]).await;
    let now_subscribed = record(&w.state, "reader@example.com").await.unwrap();
    for link in [&manage, &mailed_before] {
        for (method, body) in [
            (Method::GET, ""),
            (Method::POST, "action=save&components=web"),
            (Method::POST, "action=unsubscribe"),
        ] {
            let p = call(&w.subs, method.clone(), link, body, "192.0.2.9", true).await;
            assert_eq!(p.status, StatusCode::GONE, "{method} {link}: {}", p.body);
            assert_eq!(json(&p)["status"], "link_stale");
        }
    }
    for method in [Method::GET, Method::POST] {
        let p = call(
            &w.subs,
            method.clone(),
            &unsubscribe,
            "List-Unsubscribe=One-Click",
            "192.0.2.9",
            true,
        )
        .await;
        assert_eq!(p.status, StatusCode::GONE, "{method}");
    }
    assert_eq!(
        record(&w.state, "reader@example.com").await,
        Some(now_subscribed)
    );
    // The new subscription's own links work, an earlier release's link issued since too.
    let p = call(
        &w.subs,
        Method::GET,
        &earlier(clock.now()),
        "",
        "192.0.2.9",
        true,
    )
    .await;
    assert_eq!(json(&p)["status"], "manage");
}

#[tokio::test]
async fn waiting_requests_expire_and_are_swept() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Hand::at("2026-12-01T10:00:00Z");
    let w = world_at(mailer.clone(), config(), clock.clone());
    post_form(
        &w,
        &form_email("reader@example.com"),
        "192.0.2.1",
        &[],
        true,
    )
    .await;
    handle_queued(&w).await;
    let confirm = link_in(&mailer.take()[0], "/subscribe/confirm");
    let waiting = |w: &World| {
        w.state
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(request::PREFIX))
            .count()
    };
    assert_eq!(waiting(&w), 1);
    let limits_kept = |w: &World| {
        w.state
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(limits::PREFIX))
            .count()
    };
    assert_eq!(limits_kept(&w), 3, "source, mailbox, hour");
    clock.advance(chrono::TimeDelta::hours(23));
    assert_eq!(w.subs.sweep().await.unwrap(), 0, "nothing old yet");
    clock.advance(chrono::TimeDelta::hours(24));
    w.subs.sweep().await.unwrap();
    assert_eq!(waiting(&w), 1, "still within its 48 hours");
    assert_eq!(limits_kept(&w), 0, "the limits' documents go after a day");
    clock.advance(chrono::TimeDelta::hours(2));
    w.subs.sweep().await.unwrap();
    assert_eq!(waiting(&w), 0, "removed after 48 hours");
    assert!(
        !w.state.keys().iter().any(|k| k.starts_with(limits::PREFIX)),
        "{:?}",
        w.state.keys()
    );
    let p = call(&w.subs, Method::POST, &confirm, "", "192.0.2.1", true).await;
    assert_eq!(p.status, StatusCode::GONE);
    assert_eq!(record(&w.state, "reader@example.com").await, None);
}

#[tokio::test]
async fn a_record_of_the_earlier_release_with_a_request_inside_is_moved() {
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Hand::at("2026-12-01T10:00:00Z");
    let w = world_at(mailer.clone(), config(), clock.clone());
    // As that release wrote them: a request alone, and a subscriber with a change.
    let requested = crate::time::parse("2026-12-01T09:00:00Z").unwrap();
    for (address, legacy) in [
        (
            "new@example.com",
            serde_json::json!({"address": "new@example.com", "pending": {"components": ["api"], "requested_at": "2026-12-01T09:00:00Z"}, "confirmation_sent_at": "2026-12-01T09:00:00Z"}),
        ),
        (
            "old@example.com",
            serde_json::json!({"address": "old@example.com", "components": ["api"], "confirmed_at": "2026-11-01T09:00:00Z", "pending": {"components": ["web"], "requested_at": "2026-12-01T09:00:00Z"}, "confirmation_sent_at": "2026-12-01T09:00:00Z"}),
        ),
    ] {
        w.state
            .put(
                &subscriber::key(&SubscriberId::of(address)),
                serde_json::to_vec(&legacy).unwrap().into(),
                crate::ports::PutOptions::private_json(),
            )
            .await
            .unwrap();
    }
    // Their mailed confirmation links still work.
    let key = TokenKey::new(&Secret::new(SECRET));
    let link = |address: &str| {
        format!(
            "/subscribe/confirm?token={}",
            key.sign(&Token {
                purpose: Purpose::Confirm,
                subscriber: SubscriberId::of(address),
                issued: requested.timestamp(),
                subscription: None,
            })
        )
    };
    let p = call(
        &w.subs,
        Method::GET,
        &link("old@example.com"),
        "",
        "192.0.2.1",
        true,
    )
    .await;
    assert_eq!(json(&p)["status"], "confirm_change");
    let old = record(&w.state, "old@example.com").await.unwrap();
    assert!(old.pending.is_none() && old.active() && old.components == vec!["api".to_string()]);
    // The first update moves every such record before it plans, over the
    // subscriber only; once.
    announce(
        w.queue.as_ref(),
        None,
        &[update(5, UpdateKind::Published, &[])],
    )
    .await
    .unwrap();
    let outcomes = drain(&w, w.queue.take(), 0).await;
    assert!(
        matches!(outcomes[0], FanOut::Planned { subscribers: 1, .. }),
        "{outcomes:?}"
    );
    assert_eq!(mailer.take().len(), 1, "only the subscriber");
    assert_eq!(record(&w.state, "new@example.com").await, None);
    assert!(w.state.keys().contains(&request::LAYOUT_KEY.to_string()));
    assert_eq!(w.subs.migrate().await.unwrap(), 0, "nothing left to move");
    for address in ["new@example.com", "old@example.com"] {
        let p = call(&w.subs, Method::POST, &link(address), "", "192.0.2.1", true).await;
        assert_eq!(json(&p)["status"], "confirmed", "{address}: {}", p.body);
    }
    assert_eq!(
        record(&w.state, "new@example.com")
            .await
            .unwrap()
            .components,
        vec!["api".to_string()]
    );
    assert_eq!(
        record(&w.state, "old@example.com")
            .await
            .unwrap()
            .components,
        vec!["web".to_string()]
    );
}

#[tokio::test]
async fn the_answer_does_no_mail_io_whatever_the_address() {
    let mailer = Arc::new(Flaky::default());
    let w = world(mailer.clone());
    // An address whose mail stopped for good.
    seed(&w.state, "bounced@example.com").await;
    w.subs
        .feedback(r#"{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"bounced@example.com"}]},"mail":{}}"#)
        .await
        .unwrap();
    let mut answers = Vec::new();
    for (i, address) in [
        "new@example.com",
        "new+again@example.com",
        "bounced@example.com",
    ]
    .iter()
    .enumerate()
    {
        let p = post_form(
            &w,
            &form_email(address),
            &format!("192.0.2.{i}"),
            &[],
            false,
        )
        .await;
        assert_eq!(
            mailer.calls.load(Ordering::SeqCst),
            0,
            "{address}: no mail while answering"
        );
        assert_eq!(
            w.queue.take().len(),
            1,
            "{address}: one message, whatever comes of it"
        );
        answers.push((p.status, p.body));
        // Its message, handled later.
    }
    assert!(
        answers.windows(2).all(|a| a[0] == a[1]),
        "the same answer for each"
    );
    // Handled: one mail for the new mailbox, none for the same mailbox again or the
    // stopped address.
    for (address, want) in [
        ("new@example.com", request::Mailed::Sent),
        ("new+again@example.com", request::Mailed::TooSoon),
        ("bounced@example.com", request::Mailed::Suppressed),
    ] {
        post_form(&w, &form_email(address), "192.0.2.9", &[], false).await;
        let m = w.queue.take();
        assert_eq!(
            w.subs.handle(&m[0].body).await.unwrap(),
            FanOut::Confirmation(want),
            "{address}"
        );
    }
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 1);
    assert_eq!(mailer.inner.take().len(), 1);
}
