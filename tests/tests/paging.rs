//! Paging where people are: SMS through Amazon SNS (on moto, which records each
//! message), ntfy, Pushover and Telegram (their documented bodies, checked against
//! the local catcher), as `ALERT_CHANNELS` channels and as contact methods tried in
//! order until one takes the page; a refusing or unreachable service falls through,
//! and no failure names a token, a key or a number.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::Request;
use openmic::chat::{self, Kind, Message, Retries, Senders, Services, Target};
use openmic::config::Secret;
use openmic_local::Runner;
use openmic_tests::catcher::Catcher;
use openmic_tests::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const API: &str = "http://openmic.test";
const LINK_SECRET: &str = "test-link-secret-0123456789abcdef";
const PUSHOVER_TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const PUSHOVER_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
const BOT_TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/// An Alertmanager delivery of one critical alert that started `ago` before now.
fn firing(ago: chrono::Duration) -> (String, chrono::DateTime<chrono::Utc>) {
    let start = chrono::Utc::now() - ago;
    let start = chrono::DateTime::from_timestamp(start.timestamp(), 0).unwrap();
    let body = json!({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "openmic", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": [{"status": "firing",
            "labels": {"alertname": "DiskFull", "env": "production", "severity": "critical"},
            "annotations": {"summary": "Disk full on <db-1> & @here", "description": "Disk /var at 97%.\n<b>not bold</b> @channel"},
            "startsAt": openmic::time::format(&start), "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up", "fingerprint": "fp-disk"}]})
    .to_string();
    (body, start)
}

async fn fire(runner: &Runner, body: &str) {
    let event = json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": "page-1"},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
    let (status, reply) = send_text(runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    runner.drain().await;
}

fn runner(dir: &std::path::Path, env: &[(&str, String)]) -> Arc<Runner> {
    let mut all: Vec<(&str, &str)> =
        vec![("PUBLIC_API_URL", API), ("ALERT_LINK_SECRET", LINK_SECRET)];
    all.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
    Arc::new(embedded(dir, &all))
}

/// POSTs a link (an acknowledge link) through the app; its status and page.
async fn post(runner: &Arc<Runner>, link: &str) -> (u16, String) {
    let uri = link.strip_prefix(API).expect("a link of the API");
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = runner.app().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn record(dir: &std::path::Path) -> Value {
    let key = openmic::alerts::record::record_key("fp-disk");
    json_of(&tree(&dir.join("state")), &key)
}

/// `7 Dec 2026, 09:48 UTC`, as the alert's facts write a time.
fn fact_time(t: chrono::DateTime<chrono::Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    use chrono::Datelike;
    format!(
        "{} {} {}, {} UTC",
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.format("%H:%M")
    )
}

#[tokio::test]
async fn each_pager_gets_the_body_its_service_documents() {
    let c = Catcher::start().await;
    let b = &c.base;
    let channels = json!([
        {"name": "phone-push", "type": "ntfy", "url": format!("{b}/ok/ntfy/oncall-alice"), "secret": "tk_ntfyaccesstoken0123"},
        {"name": "pushover", "type": "pushover", "to": PUSHOVER_USER},
        {"name": "telegram", "type": "telegram", "to": "-1001234567890"},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(
        dir.path(),
        &[
            ("ALERT_CHANNELS", channels.to_string()),
            ("PUSHOVER_TOKEN", PUSHOVER_TOKEN.into()),
            ("PUSHOVER_API_URL", format!("{b}/ok/pushover")),
            ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.into()),
            ("TELEGRAM_API_URL", format!("{b}/ok/telegram")),
        ],
    );
    let (body, start) = firing(chrono::Duration::minutes(12));
    fire(&runner, &body).await;

    let since = format!("Since {} (12m)", start.format("%Y-%m-%d %H:%M UTC"));
    let started = fact_time(start);
    let title = "New alert: production: Disk full on <db-1> & @here";
    let graph = "http://prometheus.example.com:9090/graph?g0.expr=up";

    // ntfy: JSON to the server's root, with the access token.
    let ntfy = c.at("ok/ntfy/");
    assert_eq!(ntfy.len(), 1, "one publish to the root");
    let n = &ntfy[0];
    assert_eq!(
        n.headers["authorization"].to_str().unwrap(),
        "Bearer tk_ntfyaccesstoken0123"
    );
    assert_eq!(n.headers["content-type"], "application/json");
    let ack = n.body["click"].as_str().expect("click").to_owned();
    assert!(
        ack.starts_with(&format!("{API}/alerts/ack?token=")),
        "{ack}"
    );
    let silence = |b: &Value, i: usize| b["actions"][i]["url"].as_str().unwrap().to_owned();
    let s1 = silence(&n.body, 1);
    let s4 = silence(&n.body, 2);
    assert!(
        s1.contains("/alerts/silence?token=") && s1.ends_with("&for=1h"),
        "{s1}"
    );
    let s24 = format!("{}24h", s4.strip_suffix("4h").unwrap());
    assert_eq!(
        n.body,
        json!({
            "topic": "oncall-alice",
            "title": title,
            "message": format!("{since}\nSeverity: critical\nEnvironment: production\nStarted: {started}\n\nDisk /var at 97%.\n<b>not bold</b> @channel\n\nAcknowledge: {ack}\nSilence 1h: {s1}\nSilence 4h: {s4}\nSilence 24h: {s24}\nGraph: {graph}"),
            "priority": 5,
            "tags": ["rotating_light"],
            "click": ack,
            "actions": [
                {"action": "view", "label": "Acknowledge", "url": ack},
                {"action": "view", "label": "Silence 1h", "url": s1},
                {"action": "view", "label": "Silence 4h", "url": s4},
            ],
        })
    );

    // Pushover: messages.json with the application's token and the user's key.
    let p = c.at("ok/pushover/1/messages.json");
    assert_eq!(p.len(), 1);
    let p_ack = p[0].body["url"].as_str().unwrap().to_owned();
    assert!(p_ack.starts_with(&format!("{API}/alerts/ack?token=")));
    let p_s1 = format!(
        "{API}/alerts/silence?token={}",
        token_of(&p[0].body["message"], "Silence 1h: ")
    );
    let at = p[0].body["timestamp"].as_i64().unwrap();
    assert!((at - chrono::Utc::now().timestamp()).abs() < 60, "{at}");
    assert_eq!(
        p[0].body,
        json!({
            "token": PUSHOVER_TOKEN,
            "user": PUSHOVER_USER,
            "title": title,
            "message": format!("{since}\nSeverity: critical\nEnvironment: production\nStarted: {started}\n\nDisk /var at 97%.\n<b>not bold</b> @channel\n\nSilence 1h: {p_s1}&for=1h\nSilence 4h: {p_s1}&for=4h\nSilence 24h: {p_s1}&for=24h\nGraph: {graph}"),
            "priority": 1,
            "timestamp": at,
            "url": p_ack,
            "url_title": "Acknowledge",
        })
    );

    // Telegram: sendMessage under the bot's token, HTML escaped as the Bot API says.
    let t = c.at(&format!("ok/telegram/bot{BOT_TOKEN}/sendMessage"));
    assert_eq!(t.len(), 1);
    let text = t[0].body["text"].as_str().unwrap();
    let t_ack = format!(
        "{API}/alerts/ack?token={}",
        token_between(text, "/alerts/ack?token=", "\"")
    );
    let t_s = format!(
        "{API}/alerts/silence?token={}",
        token_between(text, "/alerts/silence?token=", "&amp;")
    );
    let wj = '\u{2060}';
    assert_eq!(
        t[0].body,
        json!({
            "chat_id": -1001234567890i64,
            "text": format!("<b>New alert: production: Disk full on &lt;db-1&gt; &amp; @{wj}here</b>\n{since}\n\nDisk /var at 97%.\n&lt;b&gt;not bold&lt;/b&gt; @{wj}channel\n\n<b>Severity</b>: critical\n<b>Environment</b>: production\n<b>Started</b>: {started}\n\n<a href=\"{t_ack}\">Acknowledge</a> · <a href=\"{t_s}&amp;for=1h\">Silence 1h</a> · <a href=\"{t_s}&amp;for=4h\">Silence 4h</a> · <a href=\"{t_s}&amp;for=24h\">Silence 24h</a> · <a href=\"{graph}\">Graph</a>"),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        })
    );

    // Each page's acknowledge link acts (on POST), as the mail's does.
    let (status, page) = post(&runner, &t_ack).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        record(dir.path())["actions"][0]["by"],
        "someone in the telegram channel"
    );
    // Nothing of a token or a key in the state the notifier keeps.
    let state = format!("{:?}", tree(&dir.path().join("state")));
    for secret in [
        PUSHOVER_TOKEN,
        PUSHOVER_USER,
        BOT_TOKEN,
        "tk_ntfyaccesstoken0123",
    ] {
        assert!(!state.contains(secret), "{secret} in the state");
    }
}

/// What follows `after` in a message's text up to `&` (a silence link's token).
fn token_of(message: &Value, after: &str) -> String {
    let m = message.as_str().unwrap();
    let start = m.find(after).unwrap() + after.len();
    let link = &m[start..];
    let token = link.split("token=").nth(1).unwrap();
    token.split('&').next().unwrap().to_owned()
}

fn token_between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap() + start.len();
    text[from..].split(end).next().unwrap().to_owned()
}

async fn sns() -> openmic_aws::sms::SnsSms {
    openmic_aws::Aws::new(openmic_tests::aws::sdk_config().await).sms()
}

#[tokio::test]
async fn an_sms_channel_pages_through_sns_and_its_link_acknowledges() {
    // A number of this test's own, so other tests' messages on the server do not
    // count.
    let phone = format!("+1555{:07}", std::process::id() % 10_000_000);
    let channels = json!([{"name": "lead-phone", "type": "sms", "to": phone, "match": "severity=\"critical\""}]);
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::embedded(
        dir.path(),
        test_config(&[
            ("PUBLIC_API_URL", API),
            ("ALERT_LINK_SECRET", LINK_SECRET),
            ("ALERT_CHANNELS", &channels.to_string()),
        ]),
    )
    .unwrap();
    runner.notifier.sms = Some(Arc::new(sns().await));
    let runner = Arc::new(runner);
    let (body, _) = firing(chrono::Duration::minutes(90));
    fire(&runner, &body).await;

    let sent: Vec<String> = openmic_tests::aws::sms_to(&phone).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = &sent[0];
    let ack = text
        .strip_prefix("New alert: production: Disk full on <db-1> & @here\nfor 1h 30m\nDisk /var at 97%.\nAcknowledge: ")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        ack.starts_with(&format!("{API}/alerts/ack?token=")),
        "{text}"
    );
    let encoding = chat::sms::Encoding::of(text);
    assert_eq!(encoding, chat::sms::Encoding::Gsm7);
    assert!(encoding.segments(text) <= chat::sms::MAX_SEGMENTS, "{text}");
    let (status, page) = post(&runner, ack).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        record(dir.path())["actions"][0]["by"],
        "someone in the lead-phone channel"
    );
}

#[tokio::test]
async fn a_page_falls_through_a_refusing_and_an_unreachable_service_to_sms() {
    let c = Catcher::start().await;
    let services = Services {
        pushover_token: Some(Secret::new(PUSHOVER_TOKEN)),
        // Nothing listens on port 9 of loopback.
        pushover_api: "http://127.0.0.1:9".into(),
        telegram_bot_token: Some(Secret::new(BOT_TOKEN)),
        telegram_api: format!("{}/fail/telegram", c.base),
    };
    let phone = format!("+1666{:07}", std::process::id() % 10_000_000);
    let methods = [
        Target::contact(Kind::Telegram, "@oncall_alice", &services).unwrap(),
        Target::contact(Kind::Pushover, PUSHOVER_USER, &services).unwrap(),
        Target::contact(Kind::Sms, &phone, &services).unwrap(),
        Target::contact(Kind::Ntfy, &format!("{}/ok/ntfy/never", c.base), &services).unwrap(),
    ];
    let senders = Senders {
        outbound: Some(Arc::new(openmic_web::Web::new().unwrap())),
        sms: Some(Arc::new(sns().await)),
        retries: Retries::ONCE,
    };
    let now = chrono::Utc::now();
    let message = Message {
        event: "alert.firing".into(),
        id: "page-1".into(),
        title: "Page: production: API down".into(),
        text: "5xx on every request.".into(),
        link: None,
        facts: vec![],
        buttons: vec![chat::Link {
            label: "Acknowledge".into(),
            url: "https://api.example.com/alerts/ack?token=abc".into(),
        }],
        tone: chat::Tone::Danger,
        thread: None,
        timestamp: now,
        since: Some(now - chrono::Duration::minutes(10)),
        alert: None,
        details: None,
        image: None,
    };
    let paged = chat::first_delivered(&senders, &methods, &message).await;
    assert_eq!(
        paged.delivered.as_ref().map(|(i, _)| *i),
        Some(2),
        "{paged:?}"
    );
    let failures: Vec<(usize, &str, Option<u16>)> = paged
        .failures
        .iter()
        .map(|(i, f)| (*i, f.service, f.status))
        .collect();
    assert_eq!(
        failures,
        [(0, "telegram", Some(500)), (1, "pushover", None)]
    );
    for (_, f) in &paged.failures {
        let said = f.to_string();
        for secret in [
            BOT_TOKEN,
            PUSHOVER_TOKEN,
            PUSHOVER_USER,
            "oncall_alice",
            phone.as_str(),
        ] {
            assert!(!said.contains(secret), "{secret} in {said}");
        }
    }
    assert_eq!(format!("{}", paged.failures[0].1), "telegram: answered 500");
    // Telegram was asked once (no retry for a channel tried once), ntfy never.
    assert_eq!(
        c.at(&format!("fail/telegram/bot{BOT_TOKEN}/sendMessage"))
            .len(),
        1
    );
    assert!(c.at("ok/ntfy/").is_empty());
    let sent: Vec<String> = openmic_tests::aws::sms_to(&phone).await;
    assert_eq!(
        sent,
        [
            "Page: production: API down\nfor 10m\n5xx on every request.\nAcknowledge: https://api.example.com/alerts/ack?token=abc"
        ]
    );
}

#[tokio::test]
async fn pager_channels_are_checked_when_read_and_name_no_contact_detail() {
    for (channels, env, says, secret) in [
        (
            json!([{"name": "p", "type": "sms", "to": "5550100"}]),
            vec![],
            "[0] (p): to: an SMS number must be E.164",
            "5550100",
        ),
        (
            json!([{"name": "p", "type": "sms", "to": 15550100}]),
            vec![],
            "to must be a string, not a number",
            "15550100",
        ),
        (
            json!([{"name": "p", "type": "pushover", "to": PUSHOVER_USER}]),
            vec![],
            "PUSHOVER_TOKEN is not set, and pushover needs it",
            PUSHOVER_USER,
        ),
        (
            json!([{"name": "p", "type": "pushover", "to": "short-key"}]),
            vec![("PUSHOVER_TOKEN", PUSHOVER_TOKEN)],
            "a Pushover user or group key is 30 letters and digits",
            "short-key",
        ),
        (
            json!([{"name": "p", "type": "telegram", "to": "alice"}]),
            vec![("TELEGRAM_BOT_TOKEN", BOT_TOKEN)],
            "a Telegram chat is a chat's number",
            "alice",
        ),
        (
            json!([{"name": "p", "type": "ntfy", "url": "http://ntfy.example/secret-topic"}]),
            vec![],
            "an ntfy topic must be an https URL (http only on loopback)",
            "secret-topic",
        ),
        (
            json!([{"name": "p", "type": "telegram", "to": "123"}]),
            vec![("TELEGRAM_BOT_TOKEN", "not-a-bot-token-at-all")],
            "TELEGRAM_BOT_TOKEN is invalid",
            "not-a-bot-token-at-all",
        ),
    ] {
        let mut all = vec![("ALERT_CHANNELS", channels.to_string())];
        all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let config = test_config(
            &all.iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        let e = match openmic::routing::channels::Channels::from_config(&config) {
            Ok(_) => panic!("{channels} was taken"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(says), "{channels}: {e}");
        assert!(!e.contains(secret), "{secret} in {e}");
    }
}

#[tokio::test]
async fn failing_pagers_are_reported_with_no_token_key_or_number_in_logs_or_mail() {
    let logs = Captured::default();
    let _logging = tracing::subscriber::set_default(logs.subscriber());
    let c = Catcher::start().await;
    let channels = json!([
        {"name": "tg", "type": "telegram", "to": "-1009876543210"},
        {"name": "po", "type": "pushover", "to": PUSHOVER_USER},
        {"name": "sms", "type": "sms", "to": "+15550123"},
        {"name": "push", "type": "ntfy", "url": format!("{}/fail/ntfy/secret-topic-4711", c.base), "secret": "tk_ntfysecrettoken42"},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(
        dir.path(),
        &[
            ("ALERT_CHANNELS", channels.to_string()),
            ("PUSHOVER_TOKEN", PUSHOVER_TOKEN.into()),
            // Nothing listens on port 9 of loopback.
            ("PUSHOVER_API_URL", "http://127.0.0.1:9".into()),
            ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.into()),
            ("TELEGRAM_API_URL", format!("{}/fail/telegram", c.base)),
        ],
    );
    let (body, _) = firing(chrono::Duration::minutes(5));
    fire(&runner, &body).await;

    // Telegram and ntfy were tried (and refused); each failing channel is reported
    // once to the maintainers, by service.
    assert!(
        !c.at(&format!("fail/telegram/bot{BOT_TOKEN}/sendMessage"))
            .is_empty()
    );
    assert!(!c.at("fail/ntfy/").is_empty());
    let mail: Vec<String> = tree(&dir.path().join("outbox"))
        .values()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    let failing: Vec<&String> = mail.iter().filter(|m| m.contains("failing")).collect();
    assert!(failing.len() >= 4, "{mail:#?}");
    let logs = logs.text();
    for kind in ["telegram", "pushover", "sms", "ntfy"] {
        assert!(
            logs.contains(&format!("kind=\"{kind}\"")) || logs.contains(&format!("kind={kind}")),
            "{kind} failing not logged:\n{logs}"
        );
    }
    assert!(
        logs.contains("telegram: answered 500") || logs.contains("answered 500"),
        "{logs}"
    );
    for secret in [
        BOT_TOKEN,
        PUSHOVER_TOKEN,
        PUSHOVER_USER,
        "9876543210",
        "15550123",
        "secret-topic-4711",
        "tk_ntfysecrettoken42",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        for m in &mail {
            assert!(!m.contains(secret), "{secret} in a mail:\n{m}");
        }
    }
}
