//! The chart behind an alert asked of a Prometheus stand-in on loopback serving
//! `/api/v1/query_range` as Prometheus' HTTP API documents it, through openmic-web's
//! outbound client: the range and step asked, the auth sent, and every way it fails
//! named within the 5 s budget (slow, down, an HTTP error, `status: error`, empty,
//! NaN only, too large, garbage).

use std::time::{Duration, Instant};

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
    assert!(chart.svg.contains("class=\"threshold\""));
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
