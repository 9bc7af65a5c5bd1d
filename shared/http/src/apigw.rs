//! API Gateway in front of the functions: an event (HTTP API, payload format 2.0, as
//! the template deploys; or a REST API's 1.0) as an HTTP request for the one router
//! (`crate::router`, the same the local runner serves), and the router's response
//! back as the JSON API Gateway wants ([`serve`]). The body of an event is decoded
//! only when a route reads it, after the route has judged the headers (intake's
//! `before_body`): a stranger's body is never decoded, and a body whose encoded size
//! already says it is too large is refused before it is.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use openmic_intake::Reply;
use serde::Deserialize;
#[cfg(feature = "intake")]
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
    /// HTTP API 2.0 gives the request's cookies here, not in `headers`.
    #[serde(deserialize_with = "null_as_empty")]
    cookies: Vec<String>,
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

/// A request made from an event: the caller's address API Gateway saw (HTTP API's
/// `requestContext.http.sourceIp`, a REST API's `requestContext.identity.sourceIp`),
/// as an extension, where the local server has the socket's peer.
#[derive(Debug, Clone)]
pub struct SourceIp(pub String);

/// An event's body, decoded from base64 (when it is marked so) only when it is read.
/// Its size hint is the least the decoded body can be, so a reader with a limit
/// refuses a body too large by its encoded size before decoding it.
pub struct EventBody {
    text: Option<String>,
    base64: bool,
}

/// The body is marked base64 but is not.
#[derive(Debug, thiserror::Error)]
#[error("body is marked base64 but is not base64")]
pub struct NotBase64;

impl http_body::Body for EventBody {
    type Data = bytes::Bytes;
    type Error = NotBase64;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, NotBase64>>> {
        let base64 = self.base64;
        std::task::Poll::Ready(self.text.take().map(|text| {
            let bytes = match base64 {
                true => B64.decode(text.as_bytes()).map_err(|_| NotBase64)?,
                false => text.into_bytes(),
            };
            Ok(http_body::Frame::data(bytes.into()))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.text.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = self.text.as_deref().map_or(0, str::len) as u64;
        match self.base64 {
            // Base64 of n bytes is at least 4n/3 - 2 characters long.
            true => {
                let mut hint = http_body::SizeHint::new();
                hint.set_lower((len / 4).saturating_mul(3).saturating_sub(2));
                hint
            }
            false => http_body::SizeHint::with_exact(len),
        }
    }
}

/// Answers an API Gateway event with `router` (the function's part of the one route
/// table): the event as a request, the response as API Gateway's JSON.
#[cfg(feature = "intake")]
pub async fn serve(router: axum::Router, event: Event) -> Value {
    use tower::ServiceExt;
    let response = match event.into_lambda_request() {
        Ok(request) => match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(reply) => crate::response(reply),
    };
    api_gateway_response(response).await
}

/// A response as the JSON API Gateway turns into the HTTP answer (both payload formats
/// read it): a header given more than once is one line, its values joined by commas;
/// a body that is not UTF-8 goes as base64. `Set-Cookie` cannot be joined (a cookie's
/// `Expires` has a comma): its values go as HTTP API 2.0's `cookies` and as REST's
/// `multiValueHeaders`, each format reading its own, and never in `headers`.
#[cfg(feature = "intake")]
pub async fn api_gateway_response(response: axum::response::Response) -> Value {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        if name == http::header::SET_COOKIE {
            cookies.push(Value::from(value));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(v)) => {
                v.push_str(", ");
                v.push_str(value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), value.into());
            }
        }
    }
    let (body, base64) = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => (text, false),
        Err(e) => (B64.encode(e.into_bytes()), true),
    };
    let mut answer = json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": base64,
    });
    if !cookies.is_empty() {
        answer["multiValueHeaders"] = json!({ "set-cookie": cookies.clone() });
        answer["cookies"] = Value::Array(cookies);
    }
    answer
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

// Without `intake` (the publisher's invocations) only the event's shape is used.
#[cfg_attr(not(feature = "intake"), allow(dead_code))]
impl Event {
    /// The query string: HTTP API's raw one, or a REST API's parameters joined.
    fn raw_query(&self) -> Option<String> {
        match self.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
            Some(q) => Some(q.to_owned()),
            None if !self.query_string_parameters.is_empty() => Some(
                self.query_string_parameters
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            form_encode(k),
                            form_encode(v.as_deref().unwrap_or_default())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            ),
            None => None,
        }
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
        let cookie_header = self
            .headers
            .keys()
            .chain(self.multi_value_headers.keys())
            .any(|k| k.eq_ignore_ascii_case("cookie"));
        if !self.cookies.is_empty() && !cookie_header {
            add("cookie", &self.cookies.join("; "));
        }
        map
    }

    /// The event as an HTTP request, its body decoded now: the local runner's
    /// `replay`, where a body that is not the base64 it claims is the file's error.
    #[cfg(feature = "intake")]
    pub fn into_request(self) -> Result<http::Request<axum::body::Body>, String> {
        let body = self
            .body()
            .map_err(|r| serde_json::Value::from(r.error.unwrap_or_default()).to_string())?;
        self.request(axum::body::Body::from(body))
            .map_err(|r| serde_json::Value::from(r.error.unwrap_or_default()).to_string())
    }

    /// The event as an HTTP request as a function answers it: its body decoded when
    /// a route reads it ([`EventBody`]), the caller's address as [`SourceIp`].
    #[cfg(feature = "intake")]
    pub fn into_lambda_request(mut self) -> Result<http::Request<axum::body::Body>, Reply> {
        let body = EventBody {
            text: self.body.take(),
            base64: self.is_base64_encoded,
        };
        let mut request = self.request(axum::body::Body::new(body))?;
        let ctx = &self.request_context;
        let source = ctx
            .http
            .as_ref()
            .and_then(|h| h.source_ip.clone())
            .or_else(|| ctx.identity.as_ref().and_then(|i| i.source_ip.clone()));
        if let Some(ip) = source {
            request.extensions_mut().insert(SourceIp(ip));
        }
        Ok(request)
    }

    /// The request line and headers of the event, with `body`. A method or path that
    /// is no HTTP's is a 400 naming it.
    #[cfg(feature = "intake")]
    fn request(&self, body: axum::body::Body) -> Result<http::Request<axum::body::Body>, Reply> {
        let (method, path) = self.method_and_path();
        let uri = match self.raw_query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut request = http::Request::builder()
            .method(method.as_str())
            .uri(uri.as_str())
            .body(body)
            .map_err(|e| {
                Reply::error(
                    StatusCode::BAD_REQUEST,
                    format!("not a valid API Gateway event: {e}"),
                )
            })?;
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

/// A query string's name or value as a form writes it (`application/x-www-form-urlencoded`).
#[cfg_attr(not(feature = "intake"), allow(dead_code))]
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn event(v: Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn http_api_cookies_are_the_requests_cookie_header() {
        let v2 = event(json!({"version": "2.0", "rawPath": "/callback",
            "cookies": ["openmic_signin=x.y", "other=1"], "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/callback"}}}));
        let r = v2.into_request().unwrap();
        assert_eq!(r.headers()["cookie"], "openmic_signin=x.y; other=1");
        let none = event(
            json!({"version": "2.0", "rawPath": "/callback", "cookies": null,
            "requestContext": {"http": {"method": "GET", "path": "/callback"}}}),
        );
        assert!(
            none.into_request()
                .unwrap()
                .headers()
                .get("cookie")
                .is_none()
        );
    }

    #[tokio::test]
    async fn several_cookies_go_apart_never_joined() {
        let response = http::Response::builder()
            .status(302)
            .header("location", "/staff/")
            .header(
                "set-cookie",
                "a=1; Path=/staff/; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
            )
            .header("set-cookie", "b=2; Path=/")
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = api_gateway_response(response).await;
        let both = json!([
            "a=1; Path=/staff/; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
            "b=2; Path=/"
        ]);
        assert_eq!(answer["cookies"], both);
        assert_eq!(answer["multiValueHeaders"]["set-cookie"], both);
        assert_eq!(answer["headers"]["location"], "/staff/");
        assert!(answer["headers"].get("set-cookie").is_none(), "{answer}");
        // Without cookies, the answer is as it always was.
        let plain = api_gateway_response(http::Response::new(axum::body::Body::empty())).await;
        assert!(plain.get("cookies").is_none() && plain.get("multiValueHeaders").is_none());
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
            "queryStringParameters": {"token": "a b&c"},
            "requestContext": {"stage": "prod", "httpMethod": "POST"},
            "body": "{}", "isBase64Encoded": false}),
        );
        assert_eq!(v1.method_and_path(), ("POST".into(), "/alerts".into()));
        let h = v1.header_map();
        assert_eq!(h["authorization"], "Bearer x");
        assert_eq!(h.get_all("x-many").iter().count(), 2);
        // A REST API's decoded parameters, encoded again for the query string.
        assert_eq!(v1.raw_query().as_deref(), Some("token=a+b%26c"));
        let bad = event(
            json!({"version": "2.0", "rawPath": "/gitlab", "body": "not base64!",
            "isBase64Encoded": true, "requestContext": {"http": {"method": "POST"}}}),
        );
        assert_eq!(bad.body().unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[cfg(feature = "intake")]
    fn intake() -> std::sync::Arc<openmic_intake::Intake> {
        use openmic_core::config::{Accepted, Config};
        use openmic_core::memory::MemoryQueue;
        use std::sync::Arc;
        let config = {
            let mut c = Config::default();
            c.intake.gitlab_webhook_secret = Some(Accepted::new("hook-secret"));
            c.intake.alert_token = Some(Accepted::new("alert-token"));
            c.intake.max_body_bytes = 64;
            c
        };
        let queue: Arc<dyn openmic_core::ports::Queue> = Arc::new(MemoryQueue::default());
        Arc::new(
            openmic_intake::Intake::new(Arc::new(config), Some(queue.clone()), Some(queue), None)
                .unwrap(),
        )
    }

    #[cfg(feature = "intake")]
    fn post(path: &str, headers: Value, body: &str, base64: bool) -> Event {
        event(
            json!({"version": "2.0", "rawPath": path, "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": path}},
            "body": body, "isBase64Encoded": base64}),
        )
    }

    /// The status and error of an event answered by the intake router on Lambda's
    /// path.
    #[cfg(feature = "intake")]
    async fn answer(event: Event) -> (u16, String) {
        let reply = serve(crate::router(intake()), event).await;
        assert_eq!(reply["headers"]["content-type"], "application/json");
        let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
        (
            reply["statusCode"].as_u64().unwrap() as u16,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// The body of an event is whole in it, but a stranger's is never decoded nor
    /// measured, and a body whose size says it is too large is never decoded.
    #[cfg(feature = "intake")]
    #[tokio::test]
    async fn the_headers_decide_before_the_body_is_decoded() {
        // Not base64, and far over the limit: the token is what is refused.
        let junk = "!".repeat(10_000);
        for (path, wrong) in [
            (
                "/gitlab",
                json!({"x-gitlab-token": "nope", "content-length": "10000000000"}),
            ),
            ("/alerts", json!({"authorization": "Bearer nope"})),
            ("/alerts", json!({})),
        ] {
            let (status, why) = answer(post(path, wrong, &junk, true)).await;
            assert_eq!(status, 401, "{path}: {why}");
        }
        let token = json!({"x-gitlab-token": "hook-secret", "x-gitlab-event": "Issue Hook"});
        // The right token and a declared size over the limit: 413, body unread.
        let declared = json!({"x-gitlab-token": "hook-secret", "content-length": "65"});
        assert_eq!(answer(post("/gitlab", declared, "!", true)).await.0, 413);
        // Encoded size alone over the limit: 413 before decoding (else 400 for `!`).
        assert_eq!(
            answer(post("/gitlab", token.clone(), &junk, true)).await.0,
            413
        );
        // At the limit it is decoded, and refused for what it is.
        let near = "!".repeat(88);
        let (status, why) = answer(post("/gitlab", token.clone(), &near, true)).await;
        assert_eq!(
            (status, why.as_str()),
            (400, "body is marked base64 but is not base64")
        );
        let at = B64.encode([b' '; 64]);
        let (status, why) = answer(post("/gitlab", token.clone(), &at, true)).await;
        assert!(status != 413 && status != 401, "{status} {why}");
        let over = B64.encode([b' '; 65]);
        assert_eq!(answer(post("/gitlab", token, &over, true)).await.0, 413);
        // No route, and a method the route does not take.
        let mut get = post("/gitlab", json!({}), "", false);
        get.request_context.http.as_mut().unwrap().method = Some("GET".into());
        assert_eq!(
            answer(get).await,
            (405, "method GET is not allowed on /gitlab; use POST".into())
        );
        assert_eq!(
            answer(post("/elsewhere", json!({}), "", false)).await,
            (404, "no route for POST /elsewhere".into())
        );
    }

    #[cfg(feature = "subscriptions")]
    fn subscriptions() -> std::sync::Arc<openmic::subscriptions::Subscriptions> {
        use openmic_core::config::{Config, Secret};
        use openmic_core::memory::{MemoryMailer, MemoryQueue, MemoryStore};
        use std::sync::Arc;
        let config = {
            let mut c = Config::default();
            c.subscriptions.enabled = true;
            c.subscriptions.subscription_secret =
                Some(Secret::new("a-subscription-secret-of-32-characters"));
            c.subscriptions.public_api_url = Some("https://api.example.com".into());
            c.mail.mail_from = Some("status@example.com".into());
            c
        };
        Arc::new(
            openmic::subscriptions::Subscriptions::new(
                Arc::new(config),
                Arc::new(MemoryStore::new()),
                Arc::new(MemoryMailer::default()),
                Some(Arc::new(MemoryQueue::default())),
            )
            .unwrap(),
        )
    }

    #[cfg(feature = "subscriptions")]
    #[tokio::test]
    async fn subscription_routes_answer_pages_from_http_api_events() {
        let router = crate::subscriptions_router(subscriptions());
        let get = event(
            json!({"version": "2.0", "rawPath": "/subscribe", "rawQueryString": "",
            "headers": {"accept": "text/html"},
            "requestContext": {"http": {"method": "GET", "path": "/subscribe", "sourceIp": "192.0.2.7"}}}),
        );
        let r = serve(router.clone(), get).await;
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
        let r = serve(router.clone(), post).await;
        assert_eq!(r["statusCode"], 202, "{r}");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["status"], "check_mail");
        // The query reaches the route: a bad token is refused, and says so.
        let bad = event(
            json!({"version": "2.0", "rawPath": "/unsubscribe", "rawQueryString": "token=forged",
            "requestContext": {"http": {"method": "POST", "path": "/unsubscribe"}},
            "body": "List-Unsubscribe=One-Click"}),
        );
        let r = serve(router, bad).await;
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
        let q = |e: &Event, name: &str| query_param(&e.raw_query().unwrap_or_default(), name);
        let v2 = event(json!({"version": "2.0", "rawPath": "/alerts/silence",
            "rawQueryString": "token=a.b-c_d&for=4h&x=%2Fy+z",
            "requestContext": {"http": {"method": "GET"}}}));
        assert_eq!(q(&v2, "token").as_deref(), Some("a.b-c_d"));
        assert_eq!(q(&v2, "for").as_deref(), Some("4h"));
        assert_eq!(q(&v2, "x").as_deref(), Some("/y z"));
        assert_eq!(q(&v2, "nothing"), None);
        let v1 = event(json!({"path": "/alerts/ack", "httpMethod": "POST",
            "queryStringParameters": {"token": "t1"}, "requestContext": {}}));
        assert_eq!(q(&v1, "token").as_deref(), Some("t1"));
        assert_eq!(query_param("a=%zz", "a").as_deref(), Some("%zz"));
    }
}
