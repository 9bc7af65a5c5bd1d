//! Alert routing end to end: channels of every kind against a local catcher that
//! checks each service's documented body, a failing channel that holds back no mail,
//! acknowledge and silence from the mail (GitLab on a local stub), forged, altered and
//! expired links, a storm as one digest per channel, and recipients from GitLab's
//! members API.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request};
use mail_parser::MessageParser;
use openmic::alerts::links::{Grant, LinkAction, LinkKey};
use openmic::config::Secret;
use openmic_local::Runner;
use openmic_tests::catcher::Catcher;
use openmic_tests::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LINK_SECRET: &str = "test-link-secret-0123456789abcdef";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "glpat-stub-token-never-logged";
const API: &str = "http://openmic.test";

/// An Alertmanager delivery of one alert per `(name, labels)`, firing.
fn alertmanager(alerts: &[(&str, &[(&str, &str)])]) -> String {
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(fp, labels)| {
            let labels: serde_json::Map<String, Value> =
                labels.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
            json!({"status": "firing", "labels": labels,
                "annotations": {"summary": format!("{} ({fp})", labels["alertname"].as_str().unwrap()), "description": "Seen by the test."},
                "startsAt": "2024-03-05T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up", "fingerprint": fp})
        })
        .collect();
    json!({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "openmic",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager.example.com:9093",
        "alerts": alerts})
    .to_string()
}

/// Posts `body` to `/alerts` as delivery `key`, then processes everything queued.
async fn fire(runner: &Runner, body: &str, key: &str) {
    let event = json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": key},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
    let (status, reply) = send_text(runner, &event.to_string()).await;
    assert_eq!(status, 202, "{reply}");
    runner.drain().await;
}

fn links_env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PUBLIC_API_URL", API.to_owned()),
        ("ALERT_LINK_SECRET", LINK_SECRET.to_owned()),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn runner(dir: &std::path::Path, env: &[(&'static str, String)]) -> Arc<Runner> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Arc::new(embedded(dir, &env))
}

/// A mail as its reader sees it.
#[derive(Debug)]
struct Seen {
    to: Vec<String>,
    subject: String,
    text: String,
}

fn outbox(dir: &std::path::Path) -> Vec<Seen> {
    tree(&dir.join("outbox"))
        .values()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).expect("a message");
            Seen {
                to: m
                    .to()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.address().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                subject: m.subject().unwrap_or_default().to_owned(),
                text: m
                    .body_text(0)
                    .map(|t| t.replace("\r\n", "\n"))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The link on the line after `label` (the acknowledge link), or the one after
/// `label` on its own line (`for 1h: …`).
fn link_in(text: &str, label: &str) -> String {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in:\n{text}"));
    let rest = &text[at + label.len()..];
    let start = rest
        .find(API)
        .unwrap_or_else(|| panic!("a link after {label:?}"));
    rest[start..].split_whitespace().next().unwrap().to_owned()
}

/// A link's path and query, as the app takes them.
fn local(link: &str) -> &str {
    link.strip_prefix(API).unwrap()
}

async fn call(runner: &Arc<Runner>, method: &str, uri: &str) -> (u16, String, HeaderMap) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = runner.app().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

fn state_of(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    tree(&dir.join("state"))
}

fn record(dir: &std::path::Path, fingerprint: &str) -> Value {
    let key = openmic::alerts::record::record_key(fingerprint);
    json_of(&state_of(dir), &key)
}

#[tokio::test]
async fn each_channel_gets_the_alerts_its_matchers_take_in_its_documented_body() {
    let c = Catcher::start().await;
    let b = &c.base;
    let channels = json!([
        {"name": "mail-prod", "type": "email", "to": "maintainers", "match": "env=\"production\""},
        {"name": "slack", "type": "slack", "url": format!("{b}/ok/slack"), "match": "severity=\"critical\""},
        {"name": "teams", "type": "teams", "url": format!("{b}/ok/teams"), "match": "env=\"production\""},
        {"name": "mattermost", "type": "mattermost", "url": format!("{b}/ok/mattermost"), "match": "alertname=~\"Disk.*\""},
        {"name": "discord", "type": "discord", "url": format!("{b}/ok/discord"), "match": "env=\"staging\""},
        {"name": "gchat", "type": "googlechat", "url": format!("{b}/ok/gchat"), "match": "severity!=\"critical\""},
        {"name": "hook", "type": "webhook", "url": format!("{b}/ok/hook"), "secret": WHSEC},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(
        dir.path(),
        &links_env(&[("ALERT_CHANNELS", channels.to_string())]),
    );
    let body = alertmanager(&[
        (
            "fp-errors",
            &[
                ("alertname", "HighErrorRate"),
                ("env", "production"),
                ("severity", "critical"),
            ],
        ),
        (
            "fp-disk",
            &[
                ("alertname", "DiskFull"),
                ("env", "staging"),
                ("severity", "warning"),
            ],
        ),
    ]);
    fire(&runner, &body, "route-1").await;

    let titles = |path: &str| -> Vec<String> {
        let mut t: Vec<String> = c
            .at(path)
            .iter()
            .map(|x| {
                let raw = String::from_utf8_lossy(&x.raw).into_owned();
                if raw.contains("HighErrorRate") {
                    "errors"
                } else {
                    "disk"
                }
                .to_owned()
            })
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles("ok/slack"), ["errors"]);
    assert_eq!(titles("ok/teams"), ["errors"]);
    assert_eq!(titles("ok/mattermost"), ["disk"]);
    assert_eq!(titles("ok/discord"), ["disk"]);
    assert_eq!(titles("ok/hook"), ["disk", "errors"]);
    let gchat = c
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|x| x.uri.starts_with("/ok/gchat"))
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(gchat.len(), 1);
    assert!(String::from_utf8_lossy(&gchat[0].raw).contains("DiskFull"));
    let mails = outbox(dir.path());
    assert_eq!(mails.len(), 2, "one mail per maintainer, production only");
    for m in &mails {
        assert_eq!(m.to.len(), 1);
        assert!(m.subject.contains("HighErrorRate"), "{}", m.subject);
    }

    // Slack: text, Block Kit blocks, the links as buttons (acknowledge among them).
    let s = &c.at("ok/slack")[0];
    assert_eq!(s.headers["content-type"], "application/json");
    assert!(s.body["text"].as_str().unwrap().contains("HighErrorRate"));
    let blocks = s.body["blocks"].as_array().unwrap();
    let actions = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("an actions block");
    let buttons = actions["elements"].as_array().unwrap();
    assert!(
        buttons
            .iter()
            .all(|b| b["type"] == "button" && b["text"]["type"] == "plain_text")
    );
    let ack = buttons
        .iter()
        .find(|b| b["text"]["text"] == "Acknowledge")
        .expect("Acknowledge");
    assert!(
        ack["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{API}/alerts/ack?token="))
    );
    assert!(
        buttons.iter().any(|b| b["text"]["text"] == "Silence 1h"),
        "{buttons:?}"
    );

    // Teams: a message with one Adaptive Card.
    let t = &c.at("ok/teams")[0].body;
    assert_eq!(t["type"], "message");
    let a = &t["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["content"]["type"], "AdaptiveCard");
    // The facts, as every payload text, in runs that Teams never reads as Markdown.
    let body = a["content"]["body"].as_array().unwrap();
    assert!(
        body.iter().all(|b| b["type"] == "RichTextBlock"),
        "{body:?}"
    );
    assert!(
        body.iter()
            .flat_map(|b| b["inlines"].as_array().unwrap())
            .any(|r| r["type"] == "TextRun" && r["text"] == "Severity: ")
    );
    assert!(
        a["content"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["type"] == "Action.OpenUrl" && x["title"] == "Acknowledge")
    );

    // Mattermost: text and one attachment; links as markdown.
    let m = &c.at("ok/mattermost")[0].body;
    assert!(m["text"].as_str().unwrap().starts_with("#### "));
    let att = &m["attachments"][0];
    assert!(att["fallback"].is_string() && att["color"].is_string());
    assert!(
        att["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["short"].is_boolean())
    );
    assert!(
        att["text"]
            .as_str()
            .unwrap()
            .contains(&format!("]({API}/alerts/ack?token="))
    );

    // Discord: content, one embed, no mentions.
    let d = &c.at("ok/discord")[0].body;
    assert!(d["content"].as_str().unwrap().contains("DiskFull"));
    assert_eq!(d["allowed_mentions"], json!({"parse": []}));
    let e = &d["embeds"][0];
    assert!(e["title"].is_string() && e["color"].is_u64() && e["fields"].is_array());
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .contains("/alerts/silence?token=")
    );

    // Google Chat: text, a cardsV2 card, threaded by key with the reply option on the URL.
    let g = &gchat[0];
    assert!(
        g.uri
            .contains("messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"),
        "{}",
        g.uri
    );
    assert!(g.body["thread"]["threadKey"].is_string());
    let card = &g.body["cardsV2"][0]["card"];
    assert!(
        card["header"]["title"]
            .as_str()
            .unwrap()
            .contains("DiskFull")
    );
    assert!(
        card["sections"][0]["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["buttonList"]["buttons"].is_array())
    );

    // The webhook: a JSON event signed as Standard Webhooks sign.
    for h in c.at("ok/hook") {
        h.assert_signed_with(WHSEC);
        assert!(
            h.body["type"].as_str().unwrap().starts_with("alert."),
            "{}",
            h.body
        );
        assert!(h.body["timestamp"].is_string() && h.body["data"]["title"].is_string());
    }
}

#[tokio::test]
async fn a_failing_channel_holds_back_no_mail_and_is_reported_once() {
    let c = Catcher::start().await;
    let channels = json!([
        {"name": "mail", "type": "email", "to": "maintainers"},
        {"name": "stuck", "type": "slack", "url": format!("{}/hang/slack", c.base)},
        {"name": "ok", "type": "discord", "url": format!("{}/ok/discord", c.base)},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(dir.path(), &[("ALERT_CHANNELS", channels.to_string())]);
    let body = alertmanager(&[("fp-1", &[("alertname", "Down"), ("severity", "critical")])]);
    let event = json!({"version": "2.0", "rawPath": "/alerts",
        "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "idempotency-key": "fail-1"},
        "requestContext": {"http": {"method": "POST", "path": "/alerts"}}, "body": body, "isBase64Encoded": false});
    assert_eq!(send_text(&runner, &event.to_string()).await.0, 202);
    let worker = tokio::spawn({
        let r = runner.clone();
        async move { r.drain().await }
    });
    // While the stuck channel holds its request, the mail and the other channel are out.
    let mut waited = 0;
    while (outbox(dir.path()).is_empty() || c.at("ok/discord").is_empty()) && waited < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(
        c.at("hang/slack").len(),
        1,
        "the stuck channel's first attempt is still open"
    );
    assert!(!worker.is_finished());
    assert_eq!(
        outbox(dir.path()).len(),
        1,
        "the mail went while the chat channel hung"
    );
    assert_eq!(c.at("ok/discord").len(), 1);
    c.release();
    worker.await.unwrap();
    assert_eq!(
        c.at("hang/slack").len(),
        3,
        "retried with backoff, then given up"
    );
    let mails = outbox(dir.path());
    let failing: Vec<&Seen> = mails
        .iter()
        .filter(|m| m.subject.contains("the channel stuck is failing"))
        .collect();
    let mut told: Vec<&str> = failing
        .iter()
        .flat_map(|m| m.to.iter().map(String::as_str))
        .collect();
    told.sort();
    assert_eq!(
        told,
        ["lead@example.com", "oncall@example.com"],
        "one report to each maintainer"
    );
    assert!(
        failing.iter().all(|m| !m.text.contains(&c.base)),
        "the channel's URL is a secret"
    );

    // The next alert: the failing channel is tried once, and not reported again.
    let body = alertmanager(&[(
        "fp-2",
        &[("alertname", "AlsoDown"), ("severity", "critical")],
    )]);
    fire(&runner, &body, "fail-2").await;
    assert_eq!(c.at("hang/slack").len(), 4);
    assert_eq!(c.at("ok/discord").len(), 2);
    let mails = outbox(dir.path());
    assert_eq!(
        mails.len(),
        4,
        "two alerts (one mail to both maintainers each) and the reports"
    );
    assert_eq!(record(dir.path(), "fp-2")["pending"], json!([]));
}

/// A GitLab stub: members of project 42 (with their addresses as GitLab shows them),
/// users' public addresses, and alert incident issues with their notes.
async fn gitlab(issues: u64) -> MockServer {
    let server = MockServer::start().await;
    let member = |id: u64, user: &str, level: u32, state: &str, email: Option<&str>| {
        json!({"id": id, "username": user, "name": user, "state": state, "avatar_url": null,
               "web_url": format!("https://gitlab.example.com/{user}"), "access_level": level,
               "created_at": "2024-01-01T00:00:00.000Z", "expires_at": null, "email": email})
    };
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/members/all"))
        .and(header("authorization", format!("Bearer {TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            member(10, "alice", 50, "active", None),
            member(11, "bob", 40, "active", Some("Lead@Example.com")),
            member(12, "carol", 30, "active", Some("carol@example.com")),
            member(13, "dave", 40, "blocked", Some("dave@example.com")),
            member(14, "erin", 40, "active", None),
        ])))
        .mount(&server)
        .await;
    for (id, user, public) in [(10, "alice", "alice@example.com"), (14, "erin", "")] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v4/users/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"id": id, "username": user, "name": user, "state": "active", "public_email": public, "bot": false}),
            ))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 9077, "iid": 77, "project_id": 42, "title": "Down", "description": "", "state": "opened",
            "created_at": "2024-03-05T10:00:01.000Z", "updated_at": "2024-03-05T10:00:01.000Z",
            "labels": ["incident"], "confidential": false, "web_url": "https://gitlab.example.com/ops/api/-/issues/77"})))
        .expect(issues)
        .mount(&server)
        .await;
    server
}

fn note(id: u64) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"id": id, "body": "", "system": false,
        "author": {"id": 1, "username": "openmic-bot"}, "created_at": "2024-03-05T10:00:00.000Z",
        "updated_at": "2024-03-05T10:00:00.000Z", "noteable_iid": 77}))
}

#[tokio::test]
async fn recipients_from_the_members_api_join_maintainer_emails_once_each() {
    let server = gitlab(0).await;
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(
        dir.path(),
        &links_env(&[
            ("GITLAB_URL", server.uri()),
            ("GITLAB_TOKEN", TOKEN.into()),
            ("PUBLISHERS", String::new()),
            ("NOTIFY_ROLES", "maintainers".into()),
        ]),
    );
    let body = alertmanager(&[("fp-r", &[("alertname", "Down"), ("severity", "critical")])]);
    fire(&runner, &body, "rcpt-1").await;
    let mut to: Vec<String> = outbox(dir.path()).into_iter().flat_map(|m| m.to).collect();
    to.sort();
    // bob's address is lead@'s in another case; carol is a developer, dave blocked,
    // erin shows no address.
    assert_eq!(
        to,
        [
            "alice@example.com",
            "lead@example.com",
            "oncall@example.com"
        ]
    );
}

#[tokio::test]
async fn acknowledge_and_silence_from_the_mail() {
    let server = gitlab(1).await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/77/notes"))
        .and(body_string_contains("acknowledged+by+oncall%40example.com"))
        .respond_with(note(501))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/77/notes"))
        .and(body_string_contains("silenced+by+lead%40example.com"))
        .respond_with(note(502))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let runner = runner(
        dir.path(),
        &links_env(&[
            ("GITLAB_URL", server.uri()),
            ("GITLAB_TOKEN", TOKEN.into()),
            ("PUBLISHERS", String::new()),
            ("CREATE_INCIDENTS", "true".into()),
            ("RENOTIFY_AFTER", "0s".into()),
        ]),
    );
    let body = alertmanager(&[("fp-a", &[("alertname", "Down"), ("severity", "critical")])]);
    fire(&runner, &body, "ack-1").await;
    let mails = outbox(dir.path());
    assert_eq!(mails.len(), 2);
    let mine = |who: &str| mails.iter().find(|m| m.to == [who]).unwrap().text.clone();
    let (oncall, lead) = (mine("oncall@example.com"), mine("lead@example.com"));
    let ack = link_in(&oncall, "Acknowledge");
    assert_ne!(
        ack,
        link_in(&lead, "Acknowledge"),
        "each recipient's own link"
    );
    let silence = link_in(&lead, "for 1h:");
    assert!(silence.ends_with("&for=1h"), "{silence}");

    // A GET shows what the link will do and changes nothing.
    let before = state_of(dir.path());
    let (status, page, headers) = call(&runner, "GET", local(&ack)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Acknowledge this alert?") && page.contains("<form method=\"post\">"),
        "{page}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(state_of(dir.path()), before, "a GET acts on nothing");

    // Before the acknowledgement a repeat reminds; after it, none.
    fire(&runner, &body, "ack-2").await;
    assert_eq!(
        outbox(dir.path())
            .iter()
            .filter(|m| m.subject.contains("still firing"))
            .count(),
        2
    );
    let (status, page, _) = call(&runner, "POST", local(&ack)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Acknowledged")
            && page.contains("A note on its GitLab incident issue says so."),
        "{page}"
    );
    let r = record(dir.path(), "fp-a");
    assert_eq!(r["actions"][0]["action"], "ack");
    assert_eq!(r["actions"][0]["by"], "oncall@example.com");
    assert_eq!(r["actions"][0]["noted"], true);
    fire(&runner, &body, "ack-3").await;
    assert_eq!(
        outbox(dir.path())
            .iter()
            .filter(|m| m.subject.contains("still firing"))
            .count(),
        2,
        "no reminder once acknowledged"
    );
    let (status, page, _) = call(&runner, "POST", local(&ack)).await;
    assert_eq!((status, page.contains("Already acknowledged")), (200, true));

    // Silence for an hour: nothing is sent, the resolution included.
    let sent = outbox(dir.path()).len();
    let now = chrono::Utc::now();
    let (status, page, _) = call(&runner, "POST", local(&silence)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Silenced until"), "{page}");
    let r = record(dir.path(), "fp-a");
    let until =
        chrono::DateTime::parse_from_rfc3339(r["actions"][1]["until"].as_str().unwrap()).unwrap();
    let hour = (until.with_timezone(&chrono::Utc) - now).num_seconds();
    assert!((3590..=3610).contains(&hour), "silenced for {hour} s");
    let resolved = body.replace("\"firing\"", "\"resolved\"");
    fire(&runner, &resolved, "ack-4").await;
    assert_eq!(outbox(dir.path()).len(), sent, "silenced: nothing sent");
    let r = record(dir.path(), "fp-a");
    assert_eq!(
        (&r["status"], &r["muted"][0][0]),
        (&json!("resolved"), &json!("resolved"))
    );

    // Forged, altered, expired and misused links: a page that says why, 4xx, nothing done.
    let before = state_of(dir.path());
    let token = ack.split("token=").nth(1).unwrap().to_owned();
    let (payload, sig) = token.split_once('.').unwrap();
    let mut altered_payload = payload.to_owned();
    altered_payload.replace_range(3..4, if &payload[3..4] == "A" { "B" } else { "A" });
    let other_key = LinkKey::new(&Secret::new("not-the-secret-0123456789abcdef"));
    let key = LinkKey::new(&Secret::new(LINK_SECRET));
    let grant = |expires: i64| Grant {
        action: LinkAction::Ack,
        record: openmic::alerts::record::record_id("fp-a"),
        generation: 0,
        channel: "maintainers".into(),
        recipient: "mallory@example.com".into(),
        expires,
    };
    let expired = key.sign(&grant(now.timestamp() - 60));
    let forged = other_key.sign(&grant(now.timestamp() + 3600));
    let silence_token = silence
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    for (uri, want, says) in [
        (
            format!("/alerts/ack?token={forged}"),
            403,
            "it was not made by this openmic, or it was changed since",
        ),
        (
            format!("/alerts/ack?token={altered_payload}.{sig}"),
            403,
            "it was changed since",
        ),
        (
            format!("/alerts/ack?token={payload}.{}", &sig[1..]),
            403,
            "it was changed since",
        ),
        (
            format!("/alerts/ack?token={expired}"),
            410,
            "The link expired at",
        ),
        ("/alerts/ack".to_owned(), 400, "The link has no token"),
        (
            format!("/alerts/silence?token={silence_token}&for=2h"),
            400,
            "A silence lasts 1h, 4h or 24h",
        ),
        (
            format!("/alerts/silence?token={token}&for=1h"),
            403,
            "made for another action",
        ),
    ] {
        for m in ["GET", "POST"] {
            let (status, page, headers) = call(&runner, m, &uri).await;
            assert_eq!(status, want, "{m} {uri}: {page}");
            assert!(
                page.contains("This link cannot be used") && page.contains(says),
                "{m} {uri}: {page}"
            );
            assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        }
    }
    let (status, _, _) = call(&runner, "DELETE", local(&ack)).await;
    assert_eq!(status, 405);
    assert_eq!(
        state_of(dir.path()),
        before,
        "refused links changed nothing"
    );
    server.verify().await;
}

#[tokio::test]
async fn fifty_alerts_in_a_minute_become_one_digest_per_channel() {
    let c = Catcher::start().await;
    let channels = json!([
        {"name": "mail", "type": "email", "to": "oncall@example.com"},
        {"name": "slack", "type": "slack", "url": format!("{}/ok/slack", c.base)},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let env = links_env(&[("ALERT_CHANNELS", channels.to_string())]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clock = ManualClock::at("2026-11-30T10:00:00Z");
    let runner = Runner::embedded_at(dir.path(), test_config(&env), clock.clone()).unwrap();
    for i in 0..50 {
        clock.set(&format!("2026-11-30T10:00:{i:02}Z"));
        let fp = format!("storm-{i}");
        let body = alertmanager(&[(
            fp.as_str(),
            &[("alertname", "NodeDown"), ("severity", "critical")],
        )]);
        fire(&runner, &body, &format!("storm-{i}")).await;
    }
    // ALERT_DIGEST_AFTER's default, 10/5m: ten go one by one, the rest wait.
    assert_eq!(c.at("ok/slack").len(), 10);
    assert_eq!(outbox(dir.path()).len(), 10);
    clock.set("2026-11-30T10:01:20Z");
    assert_eq!(
        runner.notifier.tick().await.unwrap().digests,
        0,
        "not due while the storm is loud"
    );
    // A quiet minute: one digest per channel, once.
    clock.set("2026-11-30T10:02:00Z");
    assert_eq!(
        runner.notifier.tick().await.unwrap().digests,
        2,
        "one digest per channel"
    );
    assert_eq!(
        runner.notifier.tick().await.unwrap().digests,
        0,
        "sent once"
    );
    let slack = c.at("ok/slack");
    assert_eq!(slack.len(), 11);
    let digest = &slack[10].body;
    assert!(
        digest["text"]
            .as_str()
            .unwrap()
            .contains("Alert storm: 40 notices"),
        "{digest}"
    );
    let listed = serde_json::to_string(&digest["blocks"]).unwrap();
    assert!(
        listed.matches("NodeDown").count() >= 10,
        "the digest lists the alerts: {digest}"
    );
    let mails = outbox(dir.path());
    let digest_mails: Vec<&Seen> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Alert storm"))
        .collect();
    assert_eq!(digest_mails.len(), 1);
    assert!(
        digest_mails[0].subject.contains("40 notices"),
        "{}",
        digest_mails[0].subject
    );
    let listed = digest_mails[0].text.matches("NodeDown").count();
    assert!(
        listed >= 40,
        "the digest mail lists the alerts held: {listed}"
    );
}
