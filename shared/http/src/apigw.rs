//! API Gateway in front of the functions: an event (HTTP API, payload format 2.0, as
//! the template deploys; or a REST API's 1.0) to the domain's intake, to the alert
//! links (the notifier's `GET|POST /alerts/ack` and `/alerts/silence`) or to the
//! subscription routes (`/subscribe`, `/subscribe/confirm`, `/unsubscribe`,
//! `/subscriptions`, with the caller's address), and its reply back as the response
//! API Gateway wants. The intake routes are checked here as the local runner's router
//! checks them: `POST /gitlab`, `POST /alerts`, 405 for another method on them, 404
//! for anything else.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
#[cfg(feature = "links")]
use openmic::alerts::actions::{Actions, Page as LinkPage};
#[cfg(feature = "links")]
use openmic::alerts::links::LinkAction;
use openmic::intake::{Intake, Reply, Route, too_large};
use openmic::subscriptions::Subscriptions;
use openmic::subscriptions::web::{Page, Request};
use serde::Deserialize;
use serde_json::{Value, json};

/// An API Gateway event of either payload format: only what intake reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    /// `2.0` for an HTTP API; absent (or `1.0`) for a REST API.
    version: Option<String>,
    raw_path: Option<String>,
    raw_query_string: Option<String>,
    path: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    query_string_parameters: BTreeMap<String, Option<String>>,
    http_method: Option<String>,
    request_context: Context,
    #[serde(deserialize_with = "null_as_empty")]
    headers: BTreeMap<String, Option<String>>,
    #[serde(deserialize_with = "null_as_empty")]
    multi_value_headers: BTreeMap<String, Option<Vec<String>>>,
    body: Option<String>,
    is_base64_encoded: bool,
}

/// API Gateway writes `null` for an empty map.
fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Context {
    http: Option<HttpContext>,
    stage: Option<String>,
    http_method: Option<String>,
    /// A REST API's caller.
    identity: Option<Identity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HttpContext {
    method: Option<String>,
    path: Option<String>,
    #[serde(rename = "sourceIp")]
    source_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Identity {
    #[serde(rename = "sourceIp")]
    source_ip: Option<String>,
}

/// The webhook function's event: `POST /gitlab`.
pub async fn gitlab(intake: &Intake, event: Event) -> Value {
    let reply = match event.accept(intake, Route::Gitlab) {
        Ok((headers, body)) => intake.gitlab(&headers, &body).await,
        Err(reply) => reply,
    };
    response(reply)
}

/// The alerts function's event: `POST /alerts`.
pub async fn alerts(intake: &Intake, event: Event) -> Value {
    let reply = match event.accept(intake, Route::Alerts) {
        Ok((headers, body)) => intake.alerts(&headers, &body).await,
        Err(reply) => reply,
    };
    response(reply)
}

/// The subscriptions function's event: the subscription routes (GET, HEAD, POST),
/// answered as pages or JSON.
pub async fn subscriptions(subscriptions: &Subscriptions, event: Event) -> Value {
    let (method, path) = event.method_and_path();
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return response(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed"),
        ));
    };
    let body = match event.body() {
        Ok(b) => b,
        Err(reply) => return response(reply),
    };
    let headers = event.header_map();
    let query = event.raw_query();
    let ctx = &event.request_context;
    let source = ctx
        .http
        .as_ref()
        .and_then(|h| h.source_ip.as_deref())
        .or_else(|| ctx.identity.as_ref().and_then(|i| i.source_ip.as_deref()));
    let page = subscriptions
        .web(Request {
            method: &method,
            path: &path,
            query: query.as_deref(),
            headers: &headers,
            body: &body,
            source,
        })
        .await;
    page_response(page)
}

/// A subscription page as API Gateway's response.
fn page_response(page: Page) -> Value {
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), page.content_type.into());
    for (name, value) in page.headers {
        headers.insert(name.into(), value.into());
    }
    json!({
        "statusCode": page.status.as_u16(),
        "headers": headers,
        "body": page.body,
        "isBase64Encoded": false,
    })
}

#[cfg(feature = "links")]
/// The notifier's API Gateway events: `GET|POST /alerts/ack?token=` and
/// `GET|POST /alerts/silence?token=&for=`. A GET shows the page, a POST acts.
pub async fn alert_link(actions: &Actions, event: Event) -> Value {
    let (method, path) = event.method_and_path();
    let Some(action) = link_action(&path) else {
        return response(Reply::error(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {path}"),
        ));
    };
    let token = event.query("token");
    let length = event.query("for");
    let now = chrono::Utc::now();
    let page = match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => {
            actions
                .show(action, token.as_deref(), length.as_deref(), now)
                .await
        }
        "POST" => {
            actions
                .act(action, token.as_deref(), length.as_deref(), now)
                .await
        }
        _ => {
            return response(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed on {path}; use GET or POST"),
            ));
        }
    };
    link_response(page)
}

#[cfg(feature = "links")]
/// The link action a path names.
pub fn link_action(path: &str) -> Option<LinkAction> {
    [LinkAction::Ack, LinkAction::Silence]
        .into_iter()
        .find(|a| a.path() == path)
}

#[cfg(feature = "links")]
/// A page as the response API Gateway wants.
fn link_response(page: LinkPage) -> Value {
    let headers: serde_json::Map<String, Value> = LinkPage::HEADERS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    json!({
        "statusCode": page.status,
        "headers": headers,
        "body": page.html,
        "isBase64Encoded": false,
    })
}

#[cfg(feature = "links")]
/// The value of `name` in a query string (`a=1&b=2`), decoded as a form is (the
/// subscriptions' decoder: an escape that is not one stays as written).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    openmic::subscriptions::web::form_pairs(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl Event {
    /// A query parameter: API Gateway's decoded parameters, else the raw query.
    #[cfg(feature = "links")]
    fn query(&self, name: &str) -> Option<String> {
        if let Some(Some(v)) = self.query_string_parameters.get(name) {
            return Some(v.clone());
        }
        self.raw_query_string
            .as_deref()
            .and_then(|q| query_param(q, name))
    }

    /// The query string: HTTP API's raw one, or a REST API's parameters joined.
    fn raw_query(&self) -> Option<String> {
        match self.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
            Some(q) => Some(q.to_owned()),
            None if !self.query_string_parameters.is_empty() => Some(
                self.query_string_parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("&"),
            ),
            None => None,
        }
    }

    /// The headers and body of a `POST` to `route`, or the reply that refuses it: 404,
    /// 405; then what the headers alone decide ([`Intake::before_body`]: 401 for a
    /// stranger, 413 for a declared size over `MAX_BODY_BYTES`) before the body is
    /// looked at; then 413 for a body over the limit (measured before it is decoded
    /// where its encoded size already says so), or 400 for a body that is not the base64
    /// it claims.
    fn accept(&self, intake: &Intake, route: Route) -> Result<(HeaderMap, Vec<u8>), Reply> {
        let (method, path) = self.method_and_path();
        let want = match route {
            Route::Gitlab => "/gitlab",
            Route::Alerts => "/alerts",
        };
        if path != want {
            return Err(Reply::error(
                StatusCode::NOT_FOUND,
                format!("no route for {method} {path}"),
            ));
        }
        if !method.eq_ignore_ascii_case("POST") {
            return Err(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} is not allowed on {path}; use POST"),
            ));
        }
        let headers = self.header_map();
        intake.before_body(route, &headers)?;
        let max = intake.config.max_body_bytes;
        let raw = self.body.as_deref().unwrap_or_default().len();
        // Base64 of n bytes is at least 4n/3 - 2 characters long.
        let least = if self.is_base64_encoded {
            (raw / 4).saturating_mul(3).saturating_sub(2)
        } else {
            raw
        };
        if least > max {
            return Err(too_large(max));
        }
        let body = self.body()?;
        if body.len() > max {
            return Err(too_large(max));
        }
        Ok((headers, body))
    }

    /// The method, and the path without a REST API's stage.
    fn method_and_path(&self) -> (String, String) {
        let ctx = &self.request_context;
        let http = ctx.http.as_ref();
        let method = http
            .and_then(|h| h.method.clone())
            .or_else(|| self.http_method.clone())
            .or_else(|| ctx.http_method.clone())
            .unwrap_or_default();
        let mut path = self
            .raw_path
            .clone()
            .or_else(|| http.and_then(|h| h.path.clone()))
            .or_else(|| self.path.clone())
            .unwrap_or_default();
        if self.version.as_deref() != Some("2.0")
            && let Some(stage) = ctx
                .stage
                .as_deref()
                .filter(|s| !s.is_empty() && *s != "$default")
            && let Some(rest) = path.strip_prefix(&format!("/{stage}/"))
        {
            path = format!("/{rest}");
        }
        (method, path)
    }

    /// The headers, names in lower case (as API Gateway's HTTP API gives them; a REST
    /// API keeps the sender's case), single and multi-valued alike.
    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        let mut add = |name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(value),
            ) {
                map.append(n, v);
            }
        };
        for (name, values) in &self.multi_value_headers {
            if !self.headers.contains_key(name) {
                for v in values.iter().flatten() {
                    add(name, v);
                }
            }
        }
        for (name, value) in &self.headers {
            if let Some(v) = value {
                add(name, v);
            }
        }
        map
    }

    /// The event as an HTTP request, for a router (the local runner's `replay`).
    #[cfg(feature = "router")]
    pub fn into_request(self) -> Result<http::Request<axum::body::Body>, String> {
        let (method, path) = self.method_and_path();
        let query = self.raw_query();
        let uri = match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let body = self.body().map_err(|r| r.1["error"].to_string())?;
        let mut request = http::Request::builder()
            .method(method.as_str())
            .uri(uri.as_str())
            .body(axum::body::Body::from(body))
            .map_err(|e| format!("not a valid API Gateway event: {e}"))?;
        *request.headers_mut() = self.header_map();
        Ok(request)
    }

    fn body(&self) -> Result<Vec<u8>, Reply> {
        let body = self.body.as_deref().unwrap_or_default();
        if self.is_base64_encoded {
            B64.decode(body.as_bytes()).map_err(|_| {
                Reply::error(
                    StatusCode::BAD_REQUEST,
                    "body is marked base64 but is not base64",
                )
            })
        } else {
            Ok(body.as_bytes().to_vec())
        }
    }
}

/// The response API Gateway turns into the HTTP answer (both payload formats read it).
fn response(reply: Reply) -> Value {
    json!({
        "statusCode": reply.0.as_u16(),
        "headers": {"content-type": "application/json"},
        "body": reply.1.to_string(),
        "isBase64Encoded": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(v: Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn both_payload_formats_read_alike() {
        let v2 = event(
            json!({"version": "2.0", "routeKey": "$default", "rawPath": "/gitlab",
            "headers": {"content-type": "application/json", "x-gitlab-event": "Issue Hook"},
            "requestContext": {"http": {"method": "POST", "path": "/gitlab"}, "stage": "$default"},
            "body": "eyJhIjoxfQ==", "isBase64Encoded": true}),
        );
        assert_eq!(v2.method_and_path(), ("POST".into(), "/gitlab".into()));
        assert_eq!(v2.body().unwrap(), br#"{"a":1}"#);
        assert_eq!(v2.header_map()["x-gitlab-event"], "Issue Hook");
        let v1 = event(
            json!({"resource": "/{proxy+}", "path": "/prod/alerts", "httpMethod": "POST",
            "headers": {"Authorization": "Bearer x"}, "multiValueHeaders": {"X-Many": ["a", "b"]},
            "requestContext": {"stage": "prod", "httpMethod": "POST"},
            "body": "{}", "isBase64Encoded": false}),
        );
        assert_eq!(v1.method_and_path(), ("POST".into(), "/alerts".into()));
        let h = v1.header_map();
        assert_eq!(h["authorization"], "Bearer x");
        assert_eq!(h.get_all("x-many").iter().count(), 2);
        let bad = event(
            json!({"version": "2.0", "rawPath": "/gitlab", "body": "not base64!",
            "isBase64Encoded": true, "requestContext": {"http": {"method": "POST"}}}),
        );
        assert_eq!(bad.body().unwrap_err().0, StatusCode::BAD_REQUEST);
    }

    fn intake() -> Intake {
        use openmic::config::{Accepted, Config};
        use openmic::memory::MemoryQueue;
        use std::sync::Arc;
        let config = Config {
            gitlab_webhook_secret: Some(Accepted::new("hook-secret")),
            alert_token: Some(Accepted::new("alert-token")),
            max_body_bytes: 64,
            ..Config::default()
        };
        let queue: Arc<dyn openmic::ports::Queue> = Arc::new(MemoryQueue::default());
        Intake::new(Arc::new(config), Some(queue.clone()), Some(queue), None).unwrap()
    }

    fn post(path: &str, headers: Value, body: &str, base64: bool) -> Event {
        event(
            json!({"version": "2.0", "rawPath": path, "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": path}},
            "body": body, "isBase64Encoded": base64}),
        )
    }

    fn refusal(r: Result<(HeaderMap, Vec<u8>), Reply>) -> (u16, String) {
        let reply = r.unwrap_err();
        (
            reply.0.as_u16(),
            reply.1["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// The body of an event is whole in it, but a stranger's is never decoded nor
    /// measured, and a body whose size says it is too large is never decoded.
    #[test]
    fn the_headers_decide_before_the_body_is_decoded() {
        let intake = intake();
        // Not base64, and far over the limit: the token is what is refused.
        let junk = "!".repeat(10_000);
        for (path, route, wrong) in [
            (
                "/gitlab",
                Route::Gitlab,
                json!({"x-gitlab-token": "nope", "content-length": "10000000000"}),
            ),
            (
                "/alerts",
                Route::Alerts,
                json!({"authorization": "Bearer nope"}),
            ),
            ("/alerts", Route::Alerts, json!({})),
        ] {
            let (status, why) = refusal(post(path, wrong, &junk, true).accept(&intake, route));
            assert_eq!(status, 401, "{path}: {why}");
        }
        let token = json!({"x-gitlab-token": "hook-secret"});
        // The right token and a declared size over the limit: 413, body unread.
        let declared = json!({"x-gitlab-token": "hook-secret", "content-length": "65"});
        assert_eq!(
            refusal(post("/gitlab", declared, "!", true).accept(&intake, Route::Gitlab)).0,
            413
        );
        // Encoded size alone over the limit: 413 before decoding (else 400 for `!`).
        assert_eq!(
            refusal(post("/gitlab", token.clone(), &junk, true).accept(&intake, Route::Gitlab)).0,
            413
        );
        // At the limit it is decoded, and refused for what it is.
        let near = "!".repeat(88);
        assert_eq!(
            refusal(post("/gitlab", token.clone(), &near, true).accept(&intake, Route::Gitlab)).0,
            400
        );
        let at = B64.encode([b' '; 64]);
        let (_, body) = post("/gitlab", token.clone(), &at, true)
            .accept(&intake, Route::Gitlab)
            .unwrap();
        assert_eq!(body.len(), 64);
        let over = B64.encode([b' '; 65]);
        assert_eq!(
            refusal(post("/gitlab", token, &over, true).accept(&intake, Route::Gitlab)).0,
            413
        );
    }

    fn subscriptions() -> Subscriptions {
        use openmic::config::{Config, Secret};
        use openmic::memory::{MemoryMailer, MemoryQueue, MemoryStore};
        use std::sync::Arc;
        let config = Config {
            subscriptions: true,
            subscription_secret: Some(Secret::new("a-subscription-secret-of-32-characters")),
            public_api_url: Some("https://api.example.com".into()),
            mail_from: Some("status@example.com".into()),
            ..Config::default()
        };
        Subscriptions::new(
            Arc::new(config),
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryMailer::default()),
            Some(Arc::new(MemoryQueue::default())),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn subscription_routes_answer_pages_from_http_api_events() {
        let subs = subscriptions();
        let get = event(
            json!({"version": "2.0", "rawPath": "/subscribe", "rawQueryString": "",
            "headers": {"accept": "text/html"},
            "requestContext": {"http": {"method": "GET", "path": "/subscribe", "sourceIp": "192.0.2.7"}}}),
        );
        let r = super::subscriptions(&subs, get).await;
        assert_eq!(r["statusCode"], 200);
        assert!(
            r["headers"]["content-type"]
                .as_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            r["body"]
                .as_str()
                .unwrap()
                .contains("<form method=\"post\"")
        );
        // A form posted base64-encoded, as API Gateway hands form bodies over.
        let post = event(json!({"version": "2.0", "rawPath": "/subscribe",
            "headers": {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/subscribe", "sourceIp": "192.0.2.7"}},
            "body": B64.encode("email=reader%40example.com"), "isBase64Encoded": true}));
        let r = super::subscriptions(&subs, post).await;
        assert_eq!(r["statusCode"], 202, "{r}");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["status"], "check_mail");
        // The query reaches the route: a bad token is refused, and says so.
        let bad = event(
            json!({"version": "2.0", "rawPath": "/unsubscribe", "rawQueryString": "token=forged",
            "requestContext": {"http": {"method": "POST", "path": "/unsubscribe"}},
            "body": "List-Unsubscribe=One-Click"}),
        );
        let r = super::subscriptions(&subs, bad).await;
        assert_eq!(r["statusCode"], 400);
        assert!(
            r["body"]
                .as_str()
                .unwrap()
                .contains("This link is not valid")
        );
    }

    #[cfg(feature = "links")]
    #[test]
    fn query_parameters_from_either_format() {
        let v2 = event(json!({"version": "2.0", "rawPath": "/alerts/silence",
            "rawQueryString": "token=a.b-c_d&for=4h&x=%2Fy+z",
            "requestContext": {"http": {"method": "GET"}}}));
        assert_eq!(v2.query("token").as_deref(), Some("a.b-c_d"));
        assert_eq!(v2.query("for").as_deref(), Some("4h"));
        assert_eq!(v2.query("x").as_deref(), Some("/y z"));
        assert_eq!(v2.query("nothing"), None);
        let v1 = event(json!({"path": "/alerts/ack", "httpMethod": "POST",
            "queryStringParameters": {"token": "t1"}, "requestContext": {}}));
        assert_eq!(v1.query("token").as_deref(), Some("t1"));
        assert_eq!(link_action("/alerts/ack"), Some(LinkAction::Ack));
        assert_eq!(link_action("/alerts"), None);
        assert_eq!(query_param("a=%zz", "a").as_deref(), Some("%zz"));
    }
}
