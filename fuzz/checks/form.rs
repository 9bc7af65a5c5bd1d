//! The `form` fuzz target's check, shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs: what a stranger sends to the subscription routes
//! and the alert links.
//!
//! - `form_pairs` (the subscribe form, every query string) decodes exactly as the
//!   WHATWG `application/x-www-form-urlencoded` parser does (the `url` crate), and
//!   `query_param` finds the first value of a name;
//! - every subscription route answers a POST form, a JSON body and a query made of
//!   the input with a page or JSON, never a panic and never a server error (the
//!   backends here do not fail), JSON parseable when JSON was asked for;
//! - the alert links (`/alerts/ack`, `/alerts/silence?for=`) answer any token and
//!   length with a page and a status below 500.

use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderValue, Method, header};
use openmic::alerts::actions::Actions;
use openmic::alerts::links::LinkAction;
use openmic::config::{Config, Secret};
use openmic::memory::{MemoryMailer, MemoryQueue, MemoryStore};
use openmic::subscriptions::Subscriptions;
use openmic::subscriptions::web::{ROUTES, Request, form_pairs};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

fn config() -> Config {
    let mut c = Config::default();
    c.subscriptions.enabled = true;
    c.subscriptions.subscription_secret =
        Some(Secret::new("fuzz-subscription-secret-0123456789abcdef"));
    c.subscriptions.public_api_url = Some("https://api.status.example.com".into());
    c.site.status_page_url = Some("https://status.example.com".into());
    c.mail.mail_from = Some("status@example.com".into());
    c.alert_routing.link_secret = Some(Secret::new("fuzz-alert-link-secret-0123456789"));
    c
}

pub fn check(data: &[u8]) {
    // The decoder against the standard's.
    let ours = form_pairs(data);
    let standard: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(ours, standard, "{:?}", String::from_utf8_lossy(data));
    let text = String::from_utf8_lossy(data);
    for name in ["token", "for", "email"] {
        assert_eq!(
            openmic_http::apigw::query_param(&text, name),
            url::form_urlencoded::parse(text.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            "{name} in {text:?}"
        );
    }

    let config = Arc::new(config());
    let state = Arc::new(MemoryStore::new());
    let subs = Subscriptions::new(
        config.clone(),
        state.clone(),
        Arc::new(MemoryMailer::default()),
        Some(Arc::new(MemoryQueue::default())),
    )
    .expect("the subscriptions service starts");
    let actions = Actions::new(config, state, None);
    RUNTIME.block_on(async {
        for (content_type, accept) in [
            ("application/x-www-form-urlencoded", "text/html"),
            ("application/json", "application/json"),
            ("text/plain", "application/json"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
            for (method, path) in [(Method::POST, "/subscribe")].into_iter().chain(
                ROUTES[1..]
                    .iter()
                    .flat_map(|p| [(Method::GET, *p), (Method::POST, *p)]),
            ) {
                let page = subs
                    .web(Request {
                        method: &method,
                        path,
                        query: Some(&text),
                        headers: &headers,
                        body: data,
                        source: Some("192.0.2.1"),
                    })
                    .await;
                assert!(
                    page.status.as_u16() < 500,
                    "{method} {path} ({content_type}): {} {}",
                    page.status,
                    page.body
                );
                if accept == "application/json" {
                    serde_json::from_str::<serde_json::Value>(&page.body).unwrap_or_else(|e| {
                        panic!("{method} {path}: not JSON ({e}): {}", page.body)
                    });
                }
            }
        }
        let token = openmic_http::apigw::query_param(&text, "token");
        let length = openmic_http::apigw::query_param(&text, "for");
        let now = chrono::DateTime::from_timestamp(1_764_547_200, 0).expect("a time");
        for action in [LinkAction::Ack, LinkAction::Silence] {
            for page in [
                actions
                    .show(action, token.as_deref(), length.as_deref(), now)
                    .await,
                actions
                    .act(action, token.as_deref(), length.as_deref(), now)
                    .await,
            ] {
                assert!(
                    page.status.as_u16() < 500,
                    "{action:?}: {} {}",
                    page.status,
                    page.body
                );
                assert!(!page.body.is_empty());
            }
        }
    });
}
