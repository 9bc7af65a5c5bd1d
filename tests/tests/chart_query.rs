//! The chart behind an alert asked of a Prometheus stand-in on loopback serving
//! `/api/v1/query_range` as Prometheus' HTTP API documents it, through openmic-web's
//! outbound client: the range and step asked, the auth sent, and every way it fails
//! named within the 5 s budget (slow, down, an HTTP error, `status: error`, empty,
//! NaN only, too large, garbage).

use std::time::{Duration, Instant};

use mail_parser::MimeHeaders;
use openmic::config::Secret;
use openmic::config::metrics::Prometheus;
use openmic::metrics::chart::{NoChart, query};
use openmic::ports::Outbound;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An alert that began at 10:00, asked about at 10:30.
fn times() -> (openmic::time::Timestamp, openmic::time::Timestamp) {
    (
        openmic::time::parse("2026-12-07T10:00:00Z").unwrap(),
        openmic::time::parse("2026-12-07T10:30:00Z").unwrap(),
    )
}

const GENERATOR: &str = "http://prometheus.internal:9090/graph?g0.expr=rate%28http_requests_total%5B5m%5D%29+%3E+0.5&g0.tab=1";

/// A matrix answer of two series over the alert's range, one NaN in it.
fn matrix(start: i64, end: i64, step: i64) -> serde_json::Value {
    let values = |k: f64| {
        (0..)
            .map(|i| start + i * step)
            .take_while(|t| *t <= end)
            .enumerate()
            .map(|(i, t)| {
                let v = if i == 7 {
                    "NaN".to_owned()
                } else {
                    format!("{}", k + (i as f64 / 50.0).sin() * 0.3)
                };
                serde_json::json!([t, v])
            })
            .collect::<Vec<_>>()
    };
    serde_json::json!({
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"__name__": "http_requests_total", "instance": "a:9100", "job": "api"}, "values": values(0.5)},
                {"metric": {"__name__": "http_requests_total", "instance": "b:9100", "job": "api"}, "values": values(0.3)},
            ]
        }
    })
}

fn web() -> openmic_web::Web {
    openmic_web::Web::new().unwrap()
}

fn prometheus(server: &MockServer, authorization: Option<&str>) -> Prometheus {
    Prometheus {
        base: server.uri(),
        authorization: authorization.map(Secret::new),
    }
}

async fn ask(
    server: &MockServer,
    authorization: Option<&str>,
) -> Result<openmic::metrics::chart::Chart, NoChart> {
    let (starts, now) = times();
    let web = web();
    let outbound: &dyn Outbound = &web;
    query::chart(
        Some(outbound),
        Some(&prometheus(server, authorization)),
        Some(GENERATOR),
        starts,
        None,
        now,
    )
    .await
}

#[tokio::test]
async fn the_range_from_an_hour_before_to_now_is_asked_with_its_auth_and_drawn() {
    let server = MockServer::start().await;
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param("query", "rate(http_requests_total[5m]) > 0.5"))
        .and(query_param("start", start.to_string()))
        .and(query_param("end", end.to_string()))
        .and(query_param("step", "8"))
        .and(header("authorization", "Bearer prom-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix(start, end, 8)))
        .expect(1)
        .mount(&server)
        .await;
    let chart = ask(&server, Some("Bearer prom-token")).await.unwrap();
    assert!(chart.png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(chart.svg().unwrap().contains("class=\"threshold\""));
    assert!(
        chart.text.contains("instance=\"a:9100\": now "),
        "{}",
        chart.text
    );
    // 676 samples of each series, NaN kept in the CSV.
    assert_eq!(chart.csv.lines().count(), 1 + 2 * 676);
    assert_eq!(chart.csv.matches(",NaN\r\n").count(), 2);
}

#[tokio::test]
async fn each_failure_is_named_and_none_outlasts_the_budget() {
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    let cases: Vec<(ResponseTemplate, &str)> = vec![
        (
            ResponseTemplate::new(200)
                .set_body_json(matrix(start, end, 8))
                .set_delay(Duration::from_secs(6)),
            "slow",
        ),
        (
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "status": "error", "errorType": "bad_data",
                "error": "invalid parameter \"query\": 1:6: parse error: unexpected <op:>>"
            })),
            "refused",
        ),
        (
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "status": "success", "data": {"resultType": "matrix", "result": []}
            })),
            "empty",
        ),
        (
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "status": "success", "data": {"resultType": "matrix", "result": [
                    {"metric": {}, "values": [[start, "NaN"], [start + 8, "+Inf"], [start + 16, "-Inf"]]}
                ]}
            })),
            "no_finite_values",
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html><body>Bad gateway</body></html>"),
            "garbage",
        ),
        (ResponseTemplate::new(502).set_body_string("upstream down"), "status"),
        (
            ResponseTemplate::new(200).set_body_string(" ".repeat(4 * 1024 * 1024 + 1)),
            "too_large",
        ),
    ];
    for (answer, code) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/query_range"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let began = Instant::now();
        let got = ask(&server, None).await;
        let took = began.elapsed();
        let err = got.err().unwrap_or_else(|| panic!("{code}: a chart"));
        assert_eq!(err.code(), code, "{err}");
        assert!(took < Duration::from_millis(5600), "{code} took {took:?}");
        if code == "slow" {
            assert!(took >= Duration::from_millis(4900), "{took:?}");
            assert_eq!(
                err.to_string(),
                "Prometheus did not answer within 5 seconds"
            );
        }
        if code == "refused" {
            assert!(err.to_string().contains("bad_data"), "{err}");
        }
    }
    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let web = web();
    let outbound: &dyn Outbound = &web;
    let nobody = Prometheus {
        base: format!("http://{closed}"),
        authorization: None,
    };
    let err = query::chart(
        Some(outbound),
        Some(&nobody),
        Some(GENERATOR),
        starts,
        None,
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(err, NoChart::Unreachable);
    // No expression, no Prometheus.
    let err = query::chart(
        Some(outbound),
        Some(&nobody),
        Some("https://grafana.example.com/alerting/x/view"),
        starts,
        None,
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(err, NoChart::NoExpression);
    let err = query::chart(Some(outbound), None, Some(GENERATOR), starts, None, now)
        .await
        .unwrap_err();
    assert_eq!(err, NoChart::NotConfigured);
}

#[tokio::test]
async fn basic_auth_from_the_url_is_sent_as_a_header() {
    let server = MockServer::start().await;
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    Mock::given(method("GET"))
        .and(path("/prefix/api/v1/query_range"))
        .and(header("authorization", "Basic b3BzOnBAc3M="))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix(start, end, 8)))
        .expect(1)
        .mount(&server)
        .await;
    let url = server.uri().replace("http://", "http://ops:p%40ss@") + "/prefix/";
    let settings = openmic::config::metrics::MetricsSettings::read(|k| {
        (k == "PROMETHEUS_URL").then(|| url.clone())
    })
    .unwrap();
    let p = settings.prometheus.unwrap();
    assert!(!p.base.contains("ops"), "no credentials left in the URL");
    let web = web();
    let outbound: &dyn Outbound = &web;
    query::chart(Some(outbound), Some(&p), Some(GENERATOR), starts, None, now)
        .await
        .unwrap();
}

/// An Alertmanager delivery of one firing alert whose rule is `expr`.
fn alertmanager(expr: &str) -> String {
    let generator = format!(
        "http://prometheus.internal:9090/graph?g0.expr={}&g0.tab=1",
        url::form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
    );
    serde_json::json!({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "openmic", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "severity": "critical"},
            "annotations": {"summary": "Errors above half a percent"},
            "startsAt": "2026-12-07T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": generator, "fingerprint": "fp-chart"}]})
    .to_string()
}

/// Fires `body` through the runner and processes everything queued; the first mail.
async fn first_mail(prometheus: &MockServer, body: &str) -> Vec<u8> {
    use openmic_tests::*;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-12-07T10:30:00Z");
    let runner = openmic_local::Runner::embedded_at(
        dir.path(),
        test_config(&[("PROMETHEUS_URL", &prometheus.uri())]),
        clock.clone(),
    )
    .unwrap();
    let event = serde_json::json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": "chart-1"},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
    let (status, reply) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    while runner.pending().await > 0 {
        runner.drain().await;
    }
    let outbox = tree(&dir.path().join("outbox"));
    assert_eq!(outbox.len(), 1, "one mail");
    outbox.into_values().next().unwrap()
}

#[tokio::test]
async fn the_first_alert_mail_holds_the_chart_inline_and_its_csv() {
    let server = MockServer::start().await;
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param("query", "rate(http_requests_total[5m]) > 0.5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix(start, end, 8)))
        .expect(1)
        .mount(&server)
        .await;
    let raw = first_mail(
        &server,
        &alertmanager("rate(http_requests_total[5m]) > 0.5"),
    )
    .await;
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let html = m.body_html(0).unwrap().into_owned();
    let text = m.body_text(0).unwrap().into_owned();
    assert!(html.contains("src=\"cid:chart@openmic\""), "{html}");
    assert!(
        text.contains("Chart of rate(http_requests_total[5m]) > 0.5"),
        "{text}"
    );
    assert!(text.contains("chart.csv"), "{text}");
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(
        raw_text.contains("multipart/related"),
        "the image is related to the HTML"
    );
    let png = m
        .attachments()
        .find(|a| a.content_id() == Some("chart@openmic"))
        .expect("the chart inline");
    assert!(png.contents().starts_with(b"\x89PNG\r\n\x1a\n"));
    let decoder = png::Decoder::new(std::io::Cursor::new(png.contents()));
    let info = decoder.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (800, 400));
    let csv = m
        .attachments()
        .find(|a| a.attachment_name() == Some("chart.csv"))
        .expect("the CSV attached");
    let csv = String::from_utf8(csv.contents().to_vec()).unwrap();
    assert!(csv.starts_with("timestamp,series,value\r\n"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 2 * 676);
}

#[tokio::test]
async fn without_a_chart_the_mail_goes_and_says_why() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>garbage</html>"))
        .mount(&server)
        .await;
    let raw = first_mail(&server, &alertmanager("up == 0")).await;
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = m.body_text(0).unwrap().into_owned();
    assert!(
        text.contains("No chart: Prometheus' answer could not be read"),
        "{text}"
    );
    assert!(m.body_html(0).unwrap().contains("<p>No chart: "));
    assert_eq!(m.attachments().count(), 0);
}

#[tokio::test]
async fn the_chart_and_its_csv_are_uploaded_to_the_incident_issue_once() {
    use openmic_tests::*;
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    let prometheus = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix(start, end, 8)))
        .mount(&prometheus)
        .await;
    let gitlab = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": 9077, "iid": 77, "project_id": 42, "title": "HighErrorRate", "description": "", "state": "opened",
            "created_at": "2026-12-07T10:30:01.000Z", "updated_at": "2026-12-07T10:30:01.000Z",
            "labels": ["incident"], "confidential": false, "web_url": "https://gitlab.example.com/ops/api/-/issues/77"})))
        .expect(1)
        .mount(&gitlab)
        .await;
    for (file, secret) in [("chart.png", "a1"), ("chart.csv", "b2")] {
        Mock::given(method("POST"))
            .and(path("/api/v4/projects/42/uploads"))
            .and(BodyHas(
                format!("name=\"file\"; filename=\"{file}\"").into_bytes(),
            ))
            .and(header("authorization", "Bearer glpat-chart-token"))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "alt": file, "url": format!("/uploads/{secret}/{file}"),
                "full_path": format!("/ops/api/uploads/{secret}/{file}"),
                "markdown": format!("![{file}](/uploads/{secret}/{file})")})))
            .expect(1)
            .mount(&gitlab)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/77/notes"))
        .and(wiremock::matchers::body_string_contains("chart.png"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": 5, "body": "chart", "author": {"id": 1, "username": "openmic"},
            "created_at": "2026-12-07T10:30:02.000Z", "updated_at": "2026-12-07T10:30:02.000Z",
            "system": false, "internal": true})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-12-07T10:30:00Z");
    let runner = openmic_local::Runner::embedded_at(
        dir.path(),
        test_config(&[
            ("PROMETHEUS_URL", &prometheus.uri()),
            ("GITLAB_URL", &gitlab.uri()),
            ("GITLAB_TOKEN", "glpat-chart-token"),
            ("PUBLISHERS", ""),
            ("CREATE_INCIDENTS", "true"),
        ]),
        clock.clone(),
    )
    .unwrap();
    let body = alertmanager("rate(http_requests_total[5m]) > 0.5");
    for key in ["up-1", "up-2"] {
        let event = serde_json::json!({"version": "2.0", "rawPath": "/alerts",
            "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": key},
            "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
        let (status, reply) = send_text(&runner, &event.to_string()).await;
        assert_eq!(status, 202, "{reply}");
        while runner.pending().await > 0 {
            runner.drain().await;
        }
    }
    let notes: Vec<_> = gitlab
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/api/v4/projects/42/issues/77/notes")
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "one note, however often the alert is delivered"
    );
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&notes[0].body)
            .into_owned()
            .collect();
    let note = &form["body"];
    assert!(
        note.contains("![chart.png](/uploads/a1/chart.png)"),
        "{note}"
    );
    assert!(note.contains("/uploads/b2/chart.csv"), "{note}");
    assert!(
        note.contains("instance=\"a:9100\": now "),
        "the text alternative: {note}"
    );
    assert_eq!(form["internal"], "true", "an internal note");
    // The mail has it too.
    assert_eq!(tree(&dir.path().join("outbox")).len(), 1);
}

/// A request whose body (bytes, a PNG's too) holds these bytes.
struct BodyHas(Vec<u8>);

impl wiremock::Match for BodyHas {
    fn matches(&self, request: &wiremock::Request) -> bool {
        request
            .body
            .windows(self.0.len())
            .any(|w| w == self.0.as_slice())
    }
}

/// GETs `uri` (a path and query) of the runner's routes: status, headers, body.
async fn get(
    runner: &std::sync::Arc<openmic_local::Runner>,
    uri: &str,
) -> (u16, http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt;
    let request = http::Request::builder()
        .uri(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = runner.app().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn slacks_message_shows_the_chart_through_a_signed_expiring_link() {
    use openmic_tests::*;
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    let prometheus = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix(start, end, 8)))
        .expect(1)
        .mount(&prometheus)
        .await;
    let chat = openmic_tests::catcher::Catcher::start().await;
    let channels = serde_json::json!([{"name": "ops", "type": "slack", "url": format!("{}/ok/slack", chat.base)}]);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-12-07T10:30:00Z");
    let runner = std::sync::Arc::new(
        openmic_local::Runner::embedded_at(
            dir.path(),
            test_config(&[
                ("PROMETHEUS_URL", &prometheus.uri()),
                ("PUBLIC_API_URL", "https://api.example.com"),
                ("ALERT_CHANNELS", &channels.to_string()),
            ]),
            clock.clone(),
        )
        .unwrap(),
    );
    let event = serde_json::json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": "chart-slack"},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}},
        "body": alertmanager("rate(http_requests_total[5m]) > 0.5"), "isBase64Encoded": false});
    let (status, reply) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    while runner.pending().await > 0 {
        runner.drain().await;
    }

    // Slack's body: an image block with the signed URL and the text alternative.
    let posted = chat.at("ok/slack");
    assert_eq!(posted.len(), 1);
    let image = posted[0].body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "image")
        .unwrap_or_else(|| panic!("an image block: {}", posted[0].body))
        .clone();
    let url = image["image_url"].as_str().unwrap();
    assert!(url.starts_with("https://api.example.com/charts/"), "{url}");
    assert!(url.contains("&sig="), "{url}");
    let alt = image["alt_text"].as_str().unwrap();
    assert!(
        alt.starts_with("Chart of rate(http_requests_total[5m]) > 0.5"),
        "{alt}"
    );
    assert!(alt.chars().count() <= 2000);

    // Kept in the state bucket, never in the status bucket.
    let record = openmic::alerts::record::record_id("fp-chart");
    let state = tree(&dir.path().join("state"));
    let kept: Vec<&String> = state.keys().filter(|k| k.starts_with("charts/")).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].starts_with(&format!("charts/{record}/")),
        "{kept:?}"
    );
    assert!(
        !tree(&dir.path().join("status"))
            .keys()
            .any(|k| k.contains("chart")),
        "nothing of the chart is public"
    );

    // Signed: the PNG, private.
    let signed = url.trim_start_matches("https://api.example.com");
    let (status, headers, body) = get(&runner, signed).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private"),
        "{headers:?}"
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(&body));
    let info = decoder.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (800, 400));

    // The same GET as the notifier function gets it from API Gateway: the PNG as
    // base64, the same bytes.
    let (p, q) = signed.split_once('?').unwrap();
    let event: openmic_http::apigw::Event = serde_json::from_value(serde_json::json!({
        "version": "2.0", "rawPath": p, "rawQueryString": q, "headers": {},
        "requestContext": {"http": {"method": "GET", "path": p}}}))
    .unwrap();
    let on_lambda = openmic_http::apigw::serve(
        openmic_http::links_router(runner.actions.clone(), runner.commands.clone()),
        event,
    )
    .await;
    assert_eq!(on_lambda["statusCode"], 200, "{on_lambda}");
    assert_eq!(on_lambda["isBase64Encoded"], true);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(on_lambda["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, body);

    // Unsigned, tampered (the signature, the expiry, another chart's path): 403.
    let (path_only, query) = signed.split_once('?').unwrap();
    let (status, _, body) = get(&runner, path_only).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("not signed"));
    let sig = query.split("sig=").nth(1).unwrap();
    let flipped = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        if sig.ends_with('A') { 'B' } else { 'A' }
    );
    let expires: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    for tampered in [
        format!("{path_only}?expires={expires}&sig={flipped}"),
        format!("{path_only}?expires={}&sig={sig}", expires + 86400),
        format!("{}?{query}", path_only.replace(".png", "0.png")),
    ] {
        let (status, _, body) = get(&runner, &tampered).await;
        assert_eq!(status, 403, "{tampered}");
        assert!(
            String::from_utf8_lossy(&body).contains("signature does not match"),
            "{tampered}"
        );
    }

    // Gone: a signed link to a chart not kept.
    let key = openmic::metrics::chart::image::ImageKey::new(&Secret::new(
        "alert-link-secret-for-the-tests-0123456789",
    ));
    let other = key.url("", &format!("/charts/{record}/9.png"), expires);
    assert_eq!(get(&runner, &other).await.0, 404);

    // A week later it still works; a moment after, it has expired.
    clock.set("2026-12-14T10:30:00Z");
    assert_eq!(get(&runner, signed).await.0, 200);
    clock.set("2026-12-14T10:30:01Z");
    let (status, _, body) = get(&runner, signed).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("expired"));
}

/// An Alertmanager delivery of one firing alert `name` (fingerprint `fp`) whose rule
/// is `expr`.
fn alertmanager_named(expr: &str, name: &str, fp: &str) -> String {
    alertmanager(expr)
        .replace("HighErrorRate", name)
        .replace("Errors above half a percent", name)
        .replace("fp-chart", fp)
}

#[tokio::test]
async fn a_storms_digest_mail_holds_each_alerts_chart_or_says_why_not() {
    use openmic_tests::*;
    let (starts, now) = times();
    let (start, end) = (starts.timestamp() - 3600, now.timestamp());
    let prometheus = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param("query", "up == 0"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>garbage</html>"))
        .mount(&prometheus)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .respond_with(ResponseTemplate::new(200).set_body_json(matrix(start, end, 8)))
        .mount(&prometheus)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-12-07T10:30:00Z");
    let runner = openmic_local::Runner::embedded_at(
        dir.path(),
        test_config(&[
            ("PROMETHEUS_URL", &prometheus.uri()),
            ("ALERT_DIGEST_AFTER", "1/5m"),
        ]),
        clock.clone(),
    )
    .unwrap();
    let alerts = [
        ("rate(http_requests_total[5m]) > 0.5", "First"),
        ("rate(http_requests_total[5m]) > 0.6", "Second"),
        ("rate(http_requests_total[5m]) > 0.7", "Third"),
        ("up == 0", "Fourth"),
    ];
    for (i, (expr, name)) in alerts.iter().enumerate() {
        clock.set(&format!("2026-12-07T10:30:0{i}Z"));
        let event = serde_json::json!({"version": "2.0", "rawPath": "/alerts",
            "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": format!("storm-{i}")},
            "requestContext": {"http": {"method": "POST", "path": "/alerts"}},
            "body": alertmanager_named(expr, name, &format!("fp-storm-{i}")), "isBase64Encoded": false});
        let (status, reply) = send_text(&runner, &event.to_string()).await;
        assert_eq!(status, 202, "{reply}");
        while runner.pending().await > 0 {
            runner.drain().await;
        }
    }
    clock.set("2026-12-07T10:32:00Z");
    assert_eq!(runner.notifier.tick().await.unwrap().digests, 1);
    let outbox = tree(&dir.path().join("outbox"));
    let digest = outbox
        .values()
        .map(|raw| mail_parser::MessageParser::default().parse(raw).unwrap())
        .find(|m| m.subject().unwrap_or("").starts_with("Alert storm"))
        .expect("a digest mail");
    let html = digest.body_html(0).unwrap().into_owned();
    let text = digest.body_text(0).unwrap().into_owned();
    for (n, name, at) in [(1, "Second", "0.6"), (2, "Third", "0.7")] {
        let cid = format!("chart-{n}@openmic");
        assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
        let png = digest
            .attachments()
            .find(|a| a.content_id() == Some(cid.as_str()))
            .unwrap_or_else(|| panic!("{name}'s chart inline"));
        let decoder = png::Decoder::new(std::io::Cursor::new(png.contents()));
        let info = decoder.read_info().unwrap();
        assert_eq!((info.info().width, info.info().height), (800, 400));
        assert!(text.contains(&format!("{name}:")), "{text}");
        let alt = format!("Chart of rate(http_requests_total[5m]) > {at}, ");
        assert!(text.contains(&alt), "{text}");
    }
    assert!(
        text.contains("Fourth: no chart: Prometheus' answer could not be read"),
        "{text}"
    );
    assert_eq!(
        digest
            .attachments()
            .filter(|a| a.content_id().is_some())
            .count(),
        2,
        "one chart each, none for the alert without"
    );
    let raw = outbox
        .values()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .find(|r| r.contains("Alert storm"))
        .unwrap();
    assert!(
        raw.contains("multipart/related"),
        "the images are related to the HTML"
    );
}

/// A 3×2 PNG, as Grafana's image renderer might serve.
fn small_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 3, 2);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[200u8; 18]).unwrap();
    }
    out
}

#[tokio::test]
async fn grafanas_image_is_the_chart_within_the_budget_and_size_or_named() {
    use openmic::metrics::chart::{ChartFrom, grafana};
    let web = web();
    let outbound: &dyn Outbound = &web;
    let server = MockServer::start().await;
    let png = small_png();
    Mock::given(method("GET"))
        .and(path("/render/ok.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(png.clone()))
        .mount(&server)
        .await;
    let chart = grafana::chart(
        Some(outbound),
        &format!("{}/render/ok.png", server.uri()),
        "CPU high",
    )
    .await
    .unwrap();
    assert_eq!(chart.from, ChartFrom::Grafana);
    assert_eq!(chart.png, png);
    assert!(chart.csv.is_empty(), "no data with Grafana's image");
    assert!(chart.text.contains("CPU high"), "{}", chart.text);

    let mut big = grafana::PNG_MAGIC.to_vec();
    big.resize(grafana::MAX_IMAGE_BYTES + 1, 0);
    let cases: Vec<(&str, ResponseTemplate, &str)> = vec![
        (
            "slow.png",
            ResponseTemplate::new(200)
                .set_body_bytes(png.clone())
                .set_delay(Duration::from_secs(6)),
            "image_slow",
        ),
        (
            "garbage.png",
            ResponseTemplate::new(200).set_body_string("<html>not an image</html>"),
            "not_a_png",
        ),
        (
            "gone.png",
            ResponseTemplate::new(404).set_body_bytes(png.clone()),
            "image_status",
        ),
        (
            "big.png",
            ResponseTemplate::new(200).set_body_bytes(big),
            "image_too_large",
        ),
    ];
    for (file, answer, code) in cases {
        Mock::given(method("GET"))
            .and(path(format!("/render/{file}")))
            .respond_with(answer)
            .mount(&server)
            .await;
        let began = Instant::now();
        let err = grafana::chart(
            Some(outbound),
            &format!("{}/render/{file}", server.uri()),
            "CPU high",
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{file}: a chart"));
        let took = began.elapsed();
        assert_eq!(err.code(), code, "{file}: {err}");
        assert!(took < Duration::from_millis(5600), "{file} took {took:?}");
    }
    let err = grafana::chart(Some(outbound), "file:///etc/passwd", "x")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "image_unreachable");
}

#[tokio::test]
async fn a_grafana_alerts_first_mail_shows_its_image_and_says_there_is_no_csv() {
    use openmic_tests::*;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/render/panel.png"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(small_png()))
        .expect(1)
        .mount(&server)
        .await;
    // No PROMETHEUS_URL: Grafana's image needs none.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2026-12-07T10:30:00Z");
    let runner =
        openmic_local::Runner::embedded_at(dir.path(), test_config(&[]), clock.clone()).unwrap();
    let body = serde_json::json!({"receiver": "openmic", "status": "firing", "orgId": 1, "alerts": [{
        "status": "firing",
        "labels": {"alertname": "CPU high", "grafana_folder": "ops", "severity": "critical", "instance": "db-1"},
        "annotations": {"summary": "CPU high on db-1"},
        "startsAt": "2026-12-07T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://grafana.example.com/alerting/grafana/x/view", "fingerprint": "fp-grafana",
        "silenceURL": "", "dashboardURL": "", "panelURL": "",
        "imageURL": format!("{}/render/panel.png", server.uri()),
        "values": {"B": 93.2}, "valueString": "[ var='B' labels={instance=db-1} value=93.2 ]"}],
        "groupLabels": {}, "commonLabels": {"alertname": "CPU high"}, "commonAnnotations": {},
        "externalURL": "https://grafana.example.com/", "version": "1", "groupKey": "{}:{}",
        "truncatedAlerts": 0, "title": "[FIRING:1] CPU high", "state": "alerting", "message": "**Firing**"});
    let event = serde_json::json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": "grafana-1"},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body.to_string(), "isBase64Encoded": false});
    let (status, reply) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    while runner.pending().await > 0 {
        runner.drain().await;
    }
    let outbox = tree(&dir.path().join("outbox"));
    assert_eq!(outbox.len(), 1);
    let raw = outbox.into_values().next().unwrap();
    let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = m.body_text(0).unwrap().into_owned();
    assert!(
        text.contains("Grafana's image of CPU high on db-1"),
        "{text}"
    );
    assert!(text.contains("No CSV"), "{text}");
    assert!(
        m.body_html(0)
            .unwrap()
            .contains("src=\"cid:chart@openmic\"")
    );
    let png = m
        .attachments()
        .find(|a| a.content_id() == Some("chart@openmic"))
        .expect("Grafana's image inline");
    assert_eq!(png.contents(), small_png().as_slice());
    assert!(
        m.attachments()
            .all(|a| a.attachment_name() != Some("chart.csv")),
        "no CSV"
    );
}
