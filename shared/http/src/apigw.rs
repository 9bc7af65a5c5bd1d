//! API Gateway in front of the intake functions: an event (HTTP API, payload format
//! 2.0, as the template deploys; or a REST API's 1.0) to the domain's intake, and its
//! reply back as the response API Gateway wants. The route is checked here as the
//! local runner's router checks it: `POST /gitlab`, `POST /alerts`, 405 for another
//! method on them, 404 for anything else.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, StatusCode};
use openmic::intake::{Intake, Reply};
use serde_json::{Value, json};

/// A request as API Gateway hands it over.
struct Request {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Result<Vec<u8>, Reply>,
}

/// Handles one API Gateway event; the value is the response to return to Lambda.
pub async fn handle(intake: &Intake, event: Value) -> Value {
    let reply = match request(event) {
        Ok(r) => route(intake, r).await,
        Err(reply) => reply,
    };
    response(reply)
}

async fn route(intake: &Intake, r: Request) -> Reply {
    let post = r.method.eq_ignore_ascii_case("POST");
    let route = match r.path.as_str() {
        "/gitlab" if intake.publish_queue.is_some() => Some(true),
        "/alerts" if intake.alert_queue.is_some() => Some(false),
        _ => None,
    };
    let Some(gitlab) = route else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            format!("no route for {} {}", r.method, r.path),
        );
    };
    if !post {
        return Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {} is not allowed on {}; use POST", r.method, r.path),
        );
    }
    let body = match r.body {
        Ok(b) if b.len() > intake.config.max_body_bytes => {
            return Reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body is larger than MAX_BODY_BYTES ({} bytes)",
                    intake.config.max_body_bytes
                ),
            );
        }
        Ok(b) => b,
        Err(reply) => return reply,
    };
    if gitlab {
        intake.gitlab(&r.headers, &body).await
    } else {
        intake.alerts(&r.headers, &body).await
    }
}

fn body_of(body: Option<String>, base64: bool) -> Result<Vec<u8>, Reply> {
    let body = body.unwrap_or_default();
    if base64 {
        B64.decode(body.as_bytes()).map_err(|_| {
            Reply::error(
                StatusCode::BAD_REQUEST,
                "body is marked base64 but is not base64",
            )
        })
    } else {
        Ok(body.into_bytes())
    }
}

fn request(event: Value) -> Result<Request, Reply> {
    let bad = |e: serde_json::Error| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            format!("not an API Gateway event: {e}"),
        )
    };
    if event.get("version").and_then(Value::as_str) == Some("2.0") {
        let e: ApiGatewayV2httpRequest = serde_json::from_value(event).map_err(bad)?;
        return Ok(Request {
            method: e.request_context.http.method.to_string(),
            path: e
                .raw_path
                .or(e.request_context.http.path)
                .unwrap_or_default(),
            headers: e.headers,
            body: body_of(e.body, e.is_base64_encoded),
        });
    }
    let e: ApiGatewayProxyRequest = serde_json::from_value(event).map_err(bad)?;
    let mut headers = e.multi_value_headers;
    headers.extend(e.headers);
    // A REST API's path carries its stage: `/<stage>/gitlab`.
    let mut path = e.path.unwrap_or_default();
    if let Some(stage) = e
        .request_context
        .stage
        .filter(|s| !s.is_empty() && s != "$default")
        && let Some(rest) = path.strip_prefix(&format!("/{stage}/"))
    {
        path = format!("/{rest}");
    }
    Ok(Request {
        method: e.http_method.to_string(),
        path,
        headers,
        body: body_of(e.body, e.is_base64_encoded),
    })
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

    fn v2(method: &str, path: &str, body: &str, base64: bool) -> Value {
        json!({"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
               "headers": {"content-type": "application/json", "x-gitlab-event": "Issue Hook"},
               "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                            "sourceIp": "127.0.0.1", "userAgent": "t"},
                                  "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                                  "requestId": "r", "routeKey": "$default", "stage": "$default",
                                  "time": "t", "timeEpoch": 0},
               "body": body, "isBase64Encoded": base64})
    }

    #[test]
    fn both_payload_formats_read_alike() {
        let r = request(v2("POST", "/gitlab", "eyJhIjoxfQ==", true)).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/gitlab"));
        assert_eq!(r.body.unwrap(), br#"{"a":1}"#);
        assert_eq!(r.headers["x-gitlab-event"], "Issue Hook");
        let r = request(
            json!({"resource": "/{proxy+}", "path": "/prod/alerts", "httpMethod": "POST",
            "headers": {"Authorization": "Bearer x"}, "multiValueHeaders": {},
            "requestContext": {"stage": "prod", "httpMethod": "POST"},
            "body": "{}", "isBase64Encoded": false}),
        )
        .unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/alerts"));
        assert_eq!(r.headers["authorization"], "Bearer x");
        let r = request(v2("POST", "/gitlab", "not base64!", true)).unwrap();
        assert_eq!(r.body.unwrap_err().0, StatusCode::BAD_REQUEST);
    }
}
