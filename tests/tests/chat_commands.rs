//! Incidents run from chat, end to end: a Slack stand-in that signs its requests as
//! Slack documents them ("Verifying requests from Slack": HMAC-SHA256 of
//! `v0:<timestamp>:<body>` with the signing secret, computed here), a catcher for the
//! `response_url`s, and GitLab on a local stub answering in two seconds. `declare`
//! opens the issue and posts it; `update --public` by a publisher reaches the page and
//! by anyone else stays internal; a button on an alert message acknowledges it; a
//! replay, a forgery, an unknown command, an iid of another project and a call link
//! that is not http(s) each get a clear reply and do nothing; every reply comes
//! within Slack's three seconds; the call link never reaches the status bucket.
//! `page` pages a person of the on-call file, or whoever is on call in a schedule, by
//! their contact methods, telling the caller alone; a Slack user the on-call file
//! names by their Slack id acts as that person, and one nothing maps is known by
//! their confirmed address from a stand-in for Slack's `users.info`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::Request;
use hmac::{Hmac, Mac};
use openmic_local::Runner;
use openmic_tests::catcher::Catcher;
use openmic_tests::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5-test";
const TOKEN: &str = "glpat-chat-stub-token";
/// GitLab's answers take this long: the routes must not wait for them.
const SLOW: Duration = Duration::from_secs(2);
/// Slack's limit on the answer to a slash command.
const SLACK_LIMIT: Duration = Duration::from_secs(3);

/// The story's incident (events/gitlab-story): iid 1 of project 42.
const STORY_IID: u64 = 1;

/// The local stand-ins and the runner under test.
struct Stand {
    dir: tempfile::TempDir,
    runner: Arc<Runner>,
    gitlab: MockServer,
    catcher: Catcher,
    clock: Arc<ManualClock>,
}

fn now_text(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn issue_json(iid: u64, title: &str, description: &str) -> Value {
    json!({"id": 5000 + iid, "iid": iid, "project_id": 42, "title": title, "description": description,
        "state": "opened", "confidential": false, "labels": ["incident"],
        "created_at": "2024-03-06T10:00:00.000Z", "updated_at": "2024-03-06T10:05:00.000Z",
        "web_url": format!("https://gitlab.example.com/ops/api/-/issues/{iid}")})
}

fn note_json(id: u64, body: &str, internal: bool) -> Value {
    json!({"id": id, "body": body, "system": false, "internal": internal, "confidential": internal,
        "author": {"id": 99, "username": "openmic-bot"}, "noteable_iid": STORY_IID,
        "created_at": "2024-03-06T11:00:00.000Z", "updated_at": "2024-03-06T11:00:00.000Z"})
}

async fn stand(extra: &[(&str, String)]) -> Stand {
    stand_paging(extra, None).await
}

/// A stand whose pages go by text message through `sms` too.
async fn stand_paging(
    extra: &[(&str, String)],
    sms: Option<Arc<dyn openmic::ports::Sms>>,
) -> Stand {
    let gitlab = MockServer::start().await;
    let catcher = Catcher::start().await;
    // Anything not answered otherwise: GitLab's 404, after the same delay.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(404).set_delay(SLOW))
        .with_priority(100)
        .mount(&gitlab)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, String)> = vec![
        ("GITLAB_URL", gitlab.uri()),
        ("GITLAB_TOKEN", TOKEN.into()),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.into()),
        ("SLACK_RESPONSE_ORIGIN", catcher.base.clone()),
        ("CHAT_USERS", "slack:UALICE=alice,slack:UBOB=bob".into()),
        ("LINK_BACK", "false".into()),
    ];
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clock = ManualClock::at(&now_text(0));
    let mut runner = Runner::embedded_at(dir.path(), test_config(&env), clock.clone())
        .expect("the runner starts");
    runner.publisher.clock = site_clock();
    if sms.is_some() {
        runner.notifier.sms = sms;
    }
    Stand {
        dir,
        runner: Arc::new(runner),
        gitlab,
        catcher,
        clock,
    }
}

/// Slack's slash command form, as "Verifying requests from Slack" shows one, from
/// `user` in channel C0CHAN, its `response_url` at the catcher's `/ok/<reply>`.
fn slash(s: &Stand, user: &str, text: &str, reply: &str) -> String {
    let name = user.to_ascii_lowercase()[1..].to_owned();
    let response_url = format!("{}/ok/{reply}", s.catcher.base);
    let fields = [
        ("token", "deprecated-verification-token"),
        ("team_id", "T0TEAM"),
        ("team_domain", "ops"),
        ("channel_id", "C0CHAN"),
        ("channel_name", "incidents"),
        ("user_id", user),
        ("user_name", name.as_str()),
        ("command", "/incident"),
        ("text", text),
        ("response_url", response_url.as_str()),
        (
            "trigger_id",
            "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        ),
    ];
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// `v0=<hex>`: HMAC-SHA256 of `v0:<timestamp>:<body>` with `secret`, as Slack signs.
fn slack_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let tag: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v0={tag}")
}

/// What a route answered, and how long it took.
struct Answer {
    status: u16,
    body: Value,
    took: Duration,
}

impl Answer {
    fn text(&self) -> String {
        self.body["text"]
            .as_str()
            .or(self.body["error"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// POSTs `body` to `route` signed with `secret` at `timestamp`.
async fn post(s: &Stand, route: &str, body: &str, secret: &str, timestamp: i64) -> Answer {
    let request = Request::builder()
        .method("POST")
        .uri(route)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header(
            "x-slack-signature",
            slack_signature(secret, timestamp, body),
        )
        .body(Body::from(body.to_owned()))
        .unwrap();
    let started = Instant::now();
    let response = s.runner.app().oneshot(request).await.unwrap();
    let took = started.elapsed();
    let status = response.status().as_u16();
    let raw = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer { status, body, took }
}

/// A command from `user`, signed now; its answer checked to come within three seconds.
async fn command(s: &Stand, user: &str, text: &str, reply: &str) -> Answer {
    let ts = s.clock_now();
    let a = post(
        s,
        "/chat/slack/commands",
        &slash(s, user, text, reply),
        SIGNING_SECRET,
        ts,
    )
    .await;
    assert!(a.took < SLACK_LIMIT, "{text}: answered in {:?}", a.took);
    a
}

impl Stand {
    /// Works every queue until nothing is left (a chat job may queue a publication).
    async fn settle(&self) {
        for _ in 0..5 {
            self.runner.drain().await;
            if self.runner.pending().await == 0 {
                return;
            }
        }
        panic!("the queues do not empty");
    }

    fn clock_now(&self) -> i64 {
        openmic::clock::Clock::now(self.clock.as_ref()).timestamp()
    }

    /// The one result posted to the catcher's `/ok/<reply>`.
    fn result(&self, reply: &str) -> Value {
        let caught = self.catcher.at(&format!("ok/{reply}"));
        assert_eq!(caught.len(), 1, "{reply}: {caught:?}");
        caught[0].body.clone()
    }

    fn status_tree(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        tree(&self.dir.path().join("status"))
    }
}

/// Publishes the story's incident (opened, then labelled by alice), its description
/// with `extra` appended.
async fn publish_story(s: &Stand, extra: &str) {
    for (n, file) in ["001-issue-opened.json", "007-label-by-publisher.json"]
        .iter()
        .enumerate()
    {
        let text = std::fs::read_to_string(event_file("gitlab-story", file)).unwrap();
        let mut event: Value = serde_json::from_str(&text).unwrap();
        let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        let d = body["object_attributes"]["description"]
            .as_str()
            .unwrap()
            .to_owned();
        body["object_attributes"]["description"] = json!(format!("{d}{extra}"));
        event["body"] = json!(body.to_string());
        event["headers"]["idempotency-key"] = json!(format!("chat-story-{n}"));
        event["headers"]["x-gitlab-event-uuid"] = json!(format!("chat-story-{n}"));
        let (status, reply) = send_text(&s.runner, &event.to_string()).await;
        assert_eq!(status, 202, "{reply}");
        s.settle().await;
    }
}

#[tokio::test]
async fn declare_opens_the_incident_and_posts_it_to_the_channel_within_three_seconds() {
    let s = stand(&[("INCIDENT_TEMPLATE", "incident".into())]).await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/templates/issues/incident"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"name": "incident", "content": "## Summary\n\n## Timeline\n"}),
                )
                .set_delay(SLOW),
        )
        .mount(&s.gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .and(body_string_contains("issue_type=incident"))
        .and(body_string_contains("title=DB+down"))
        .and(body_string_contains(
            "labels=severity%3A%3Ahigh%2Ccomponent%3A%3AAPI%2Ccomponent%3A%3ADatabase",
        ))
        .and(body_string_contains("%23%23+Summary"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(issue_json(12, "DB down", "## Summary"))
                .set_delay(SLOW),
        )
        .expect(1)
        .mount(&s.gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/12/notes"))
        .and(body_string_contains("internal=true"))
        .and(body_string_contains("Declared+by+%40alice+from+Slack"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(note_json(700, "Declared", true))
                .set_delay(SLOW),
        )
        .expect(1)
        .mount(&s.gitlab)
        .await;

    let a = command(
        &s,
        "UALICE",
        "declare \"DB down\" sev2 API Database",
        "declare",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["response_type"], "ephemeral");
    assert!(a.text().contains("Working on `declare`"), "{}", a.text());
    assert!(
        s.catcher.at("ok/declare").is_empty(),
        "the work is behind the queue"
    );

    s.settle().await;
    let posted = s.result("declare");
    assert_eq!(posted["response_type"], "in_channel", "{posted}");
    let text = posted["text"].as_str().unwrap();
    for want in [
        "Incident #12 declared by @\u{2060}alice: DB down",
        "Severity: high",
        "Components: API, Database",
        "https://gitlab.example.com/ops/api/-/issues/12",
        "Nobody was paged: openmic has no on-call file (ONCALL_CONFIG).",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    s.gitlab.verify().await;
}

#[tokio::test]
async fn update_public_by_a_publisher_reaches_the_page_and_by_anyone_else_stays_internal() {
    let s = stand(&[]).await;
    publish_story(&s, "").await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v4/projects/42/issues/{STORY_IID}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(issue_json(STORY_IID, "API errors", "Requests fail."))
                .set_delay(SLOW),
        )
        .mount(&s.gitlab)
        .await;
    let notes = format!("/api/v4/projects/42/issues/{STORY_IID}/notes");
    // alice's update, public.
    Mock::given(method("POST"))
        .and(path(notes.clone()))
        .and(body_string_contains("internal=false"))
        .and(body_string_contains("Failover+done"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(note_json(801, "Failover done; errors are falling.", false))
                .set_delay(SLOW),
        )
        .expect(1)
        .mount(&s.gitlab)
        .await;
    // bob's, asked public, kept internal and signed.
    Mock::given(method("POST"))
        .and(path(notes.clone()))
        .and(body_string_contains("internal=true"))
        .and(body_string_contains("Bob%27s+theory"))
        .and(body_string_contains("%40bob+from+Slack"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(note_json(802, "Bob's theory", true))
                .set_delay(SLOW),
        )
        .expect(1)
        .mount(&s.gitlab)
        .await;
    // The notes naming who acted.
    Mock::given(method("POST"))
        .and(path(notes.clone()))
        .and(body_string_contains("internal=true"))
        .respond_with(ResponseTemplate::new(201).set_body_json(note_json(803, "by", true)))
        .with_priority(50)
        .mount(&s.gitlab)
        .await;

    let a = command(
        &s,
        "UALICE",
        "update #1 --public Failover done; errors are falling.",
        "alice",
    )
    .await;
    assert_eq!(
        (a.status, a.body["response_type"].as_str()),
        (200, Some("ephemeral"))
    );
    let b = command(&s, "UBOB", "update 1 --public Bob's theory", "bob").await;
    assert_eq!(b.status, 200);
    s.settle().await;

    let alice = s.result("alice");
    assert_eq!(alice["response_type"], "in_channel", "{alice}");
    let bob = s.result("bob");
    assert_eq!(bob["response_type"], "ephemeral", "{bob}");
    let bob_text = bob["text"].as_str().unwrap();
    assert!(
        bob_text.contains("may not publish, so the note stays internal"),
        "{bob_text}"
    );

    let detail = json_of(&s.status_tree(), "data/incident/1.json");
    let comments = detail["comments"].to_string();
    assert!(comments.contains("Failover done"), "{comments}");
    let everything =
        String::from_utf8_lossy(&s.status_tree().into_values().flatten().collect::<Vec<u8>>())
            .into_owned();
    assert!(!everything.contains("Bob"), "bob's note stays off the page");
    s.gitlab.verify().await;
}

#[tokio::test]
async fn a_button_on_a_slack_alert_message_acknowledges_the_alert() {
    let s0 = Catcher::start().await;
    let channels =
        json!([{"name": "ops", "type": "slack", "url": format!("{}/ok/channel", s0.base)}]);
    let s = stand(&[("ALERT_CHANNELS", channels.to_string())]).await;
    let alert = json!({"version": "4", "status": "firing", "receiver": "openmic", "groupKey": "{}:{}",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example.com",
        "alerts": [{"status": "firing", "labels": {"alertname": "Down", "severity": "critical"},
            "annotations": {"summary": "API down"}, "startsAt": "2024-03-05T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "fp-button"}]});
    let (status, reply) = send_text(
        &s.runner,
        &alerts_event(&alert.to_string(), &format!("Bearer {ALERT_TOKEN}")),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    s.settle().await;

    // The message Slack got carries the three buttons, each naming the alert.
    let message = &s0.at("ok/channel")[0].body;
    let buttons: Vec<&Value> = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["block_id"] == "openmic_alert")
        .flat_map(|b| b["elements"].as_array().unwrap())
        .collect();
    let ids: Vec<&str> = buttons
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["openmic_ack", "openmic_silence_1h", "openmic_resolve"]
    );
    let record_id = openmic::alerts::record::record_id("fp-button");
    assert!(buttons.iter().all(|b| b["value"] == record_id.as_str()));

    // The press, as Slack's interactivity sends it.
    let press = json!({"type": "block_actions", "user": {"id": "UALICE", "username": "alice", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "container": {"type": "message", "channel_id": "C0CHAN"},
        "trigger_id": "1.2.3", "team": {"id": "T0TEAM", "domain": "ops"}, "channel": {"id": "C0CHAN", "name": "ops"},
        "response_url": format!("{}/ok/press", s.catcher.base),
        "actions": [{"action_id": "openmic_ack", "block_id": "openmic_alert", "value": record_id,
            "type": "button", "action_ts": "1600857126.868122"}]});
    let body = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(press.to_string().as_bytes()).collect::<String>()
    );
    let a = post(
        &s,
        "/chat/slack/actions",
        &body,
        SIGNING_SECRET,
        s.clock_now(),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.took < SLACK_LIMIT);
    s.settle().await;

    let posted = s.result("press");
    let text = posted["text"].as_str().unwrap();
    assert!(text.contains("acknowledged by @\u{2060}alice"), "{text}");
    let key = openmic::alerts::record::record_key("fp-button");
    let record = json_of(&tree(&s.dir.path().join("state")), &key);
    assert_eq!(record["actions"][0]["action"], "ack", "{record}");
    assert_eq!(record["actions"][0]["by"], "@alice");
    assert_eq!(record["actions"][0]["channel"], "slack");
}

#[tokio::test]
async fn bad_requests_get_a_clear_reply_and_nothing_is_done() {
    let s = stand(&[]).await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/99"))
        .respond_with(ResponseTemplate::new(404).set_delay(SLOW))
        .mount(&s.gitlab)
        .await;
    for verb in ["POST", "PUT"] {
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&s.gitlab)
            .await;
    }

    // A replay: accepted when sent, refused six minutes later, signature and all.
    let body = slash(&s, "UALICE", "list", "replay");
    let sent_at = s.clock_now();
    let first = post(&s, "/chat/slack/commands", &body, SIGNING_SECRET, sent_at).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    s.settle().await;
    assert_eq!(s.catcher.at("ok/replay").len(), 1);
    s.clock.set(&now_text(6 * 60));
    let replayed = post(&s, "/chat/slack/commands", &body, SIGNING_SECRET, sent_at).await;
    assert_eq!(replayed.status, 401);
    assert!(
        replayed.text().contains("more than five minutes"),
        "{}",
        replayed.text()
    );
    s.clock.set(&now_text(0));

    // A forgery: signed with another secret.
    let forged = post(
        &s,
        "/chat/slack/commands",
        &slash(&s, "UALICE", "resolve 1", "forged"),
        "not-the-signing-secret",
        s.clock_now(),
    )
    .await;
    assert_eq!(forged.status, 401);
    assert!(forged.text().contains("signature"), "{}", forged.text());

    // Each a clear reply, to whoever typed it alone.
    for (user, text, want) in [
        ("UALICE", "launch rockets", "`launch` is not a command"),
        (
            "UALICE",
            "update ops/api#3 hello",
            "`ops/api#3` is not an incident number",
        ),
        (
            "UALICE",
            "bridge 1 ftp://call.example/room",
            "must be an http(s) URL",
        ),
        (
            "UALICE",
            "bridge 1 javascript:alert(1)",
            "must be an http(s) URL",
        ),
        ("UCAROL", "resolve 1", "not mapped to a GitLab user"),
        (
            "UALICE",
            "page alice the database",
            "Paging from chat needs on call",
        ),
    ] {
        let a = command(&s, user, text, "never").await;
        assert_eq!(a.status, 200, "{text}");
        assert_eq!(a.body["response_type"], "ephemeral", "{text}");
        assert!(a.text().contains(want), "{text}: {}", a.text());
    }
    assert_eq!(s.runner.pending().await, 0, "nothing was queued");

    // An incident of no such number in this project: looked up, said, nothing done.
    let a = command(&s, "UALICE", "resolve 99", "missing").await;
    assert!(a.text().contains("Working on `resolve`"), "{}", a.text());
    s.settle().await;
    let missing = s.result("missing");
    assert!(
        missing["text"]
            .as_str()
            .unwrap()
            .contains("There is no incident #99 in this project"),
        "{missing}"
    );
    assert!(s.catcher.at("ok/never").is_empty() && s.catcher.at("ok/forged").is_empty());
    s.gitlab.verify().await;
}

#[tokio::test]
async fn results_go_only_to_the_services_own_origin() {
    let s = stand(&[("MATTERMOST_COMMAND_TOKEN", "mm-command-token".into())]).await;
    // A response_url elsewhere: refused at once.
    let body = slash(&s, "UALICE", "list", "x").replace(
        &url::form_urlencoded::byte_serialize(s.catcher.base.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.example",
    );
    let a = post(
        &s,
        "/chat/slack/commands",
        &body,
        SIGNING_SECRET,
        s.clock_now(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.text().contains("not Slack's"), "{}", a.text());
    assert_eq!(s.runner.pending().await, 0);

    // Mattermost: its token is checked; without MATTERMOST_URL nothing is taken.
    let form = |token: &str| {
        format!(
            "channel_id=c1&user_id=u1&user_name=alice&command=%2Fincident&text=list&token={token}&response_url=https%3A%2F%2Fchat.example.com%2Fhooks%2Fcommands%2F1"
        )
    };
    let mm = |body: String| {
        Request::builder()
            .method("POST")
            .uri("/chat/mattermost/commands")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let wrong = s.runner.app().oneshot(mm(form("nope"))).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = s
        .runner
        .app()
        .oneshot(mm(form("mm-command-token")))
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let reply: Value =
        serde_json::from_slice(&to_bytes(right.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("MATTERMOST\\_URL is not set"),
        "{reply}"
    );

    // A body over the limit is refused by its declared length.
    let big = Request::builder()
        .method("POST")
        .uri("/chat/slack/commands")
        .header("content-length", "10000000")
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(s.runner.app().oneshot(big).await.unwrap().status(), 413);
    assert_eq!(s.runner.pending().await, 0);
}

#[tokio::test]
async fn the_call_link_goes_to_the_channel_and_never_to_the_status_bucket() {
    let s = stand(&[]).await;
    publish_story(&s, "\n\nBridge: https://call.example/secret-room").await;
    let status = s.status_tree();
    let everything =
        String::from_utf8_lossy(&status.values().flatten().copied().collect::<Vec<u8>>())
            .into_owned();
    assert!(status.contains_key("data/incident/1.json"), "published");
    assert!(
        everything.contains("Requests to the API fail"),
        "the description is there"
    );
    assert!(!everything.contains("secret-room"), "the call link is not");

    Mock::given(method("GET"))
        .and(path(format!("/api/v4/projects/42/issues/{STORY_IID}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(issue_json(
                    STORY_IID,
                    "API errors",
                    "Requests fail.\n\nBridge: https://old.example/1",
                ))
                .set_delay(SLOW),
        )
        .mount(&s.gitlab)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/api/v4/projects/42/issues/{STORY_IID}")))
        .and(body_string_contains(
            "description=Requests+fail.%0A%0ABridge%3A+https%3A%2F%2Fmeet.example%2Froom-7",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json(
            STORY_IID,
            "API errors",
            "",
        )))
        .expect(1)
        .mount(&s.gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/v4/projects/42/issues/{STORY_IID}/notes"
        )))
        .and(body_string_contains("internal=true"))
        .and(body_string_contains("Call+link+set"))
        .respond_with(ResponseTemplate::new(201).set_body_json(note_json(
            900,
            "Call link set",
            true,
        )))
        .expect(1)
        .mount(&s.gitlab)
        .await;
    let a = command(
        &s,
        "UALICE",
        "bridge 1 <https://meet.example/room-7>",
        "bridge",
    )
    .await;
    assert_eq!(a.status, 200);
    s.settle().await;
    let posted = s.result("bridge");
    assert_eq!(posted["response_type"], "in_channel");
    assert!(
        posted["text"]
            .as_str()
            .unwrap()
            .contains("https://meet.example/room-7"),
        "{posted}"
    );
    s.gitlab.verify().await;
}

#[tokio::test]
async fn the_call_link_is_in_the_mail_and_chat_of_an_alert_and_not_in_the_status_bucket() {
    let chat = Catcher::start().await;
    let channels = json!([
        {"name": "mail", "type": "email", "to": "maintainers"},
        {"name": "ops", "type": "slack", "url": format!("{}/ok/channel", chat.base)},
    ]);
    let s = stand(&[
        ("ALERT_CHANNELS", channels.to_string()),
        ("CREATE_INCIDENTS", "true".into()),
    ])
    .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&s.gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(issue_json(77, "API down", "## Alert")),
        )
        .expect(1)
        .mount(&s.gitlab)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue_json(
            77,
            "API down",
            "## Alert\n\n- **Bridge:** <https://call.example/alert-room>",
        )))
        .mount(&s.gitlab)
        .await;
    let alert = json!({"version": "4", "status": "firing", "receiver": "openmic", "groupKey": "{}:{}",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example.com",
        "alerts": [{"status": "firing", "labels": {"alertname": "Down", "severity": "critical"},
            "annotations": {"summary": "API down"}, "startsAt": "2024-03-05T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "fp-call"}]});
    let (status, reply) = send_text(
        &s.runner,
        &alerts_event(&alert.to_string(), &format!("Bearer {ALERT_TOKEN}")),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    s.settle().await;

    let mails: Vec<String> = tree(&s.dir.path().join("outbox"))
        .values()
        .map(|raw| {
            let m = mail_parser::MessageParser::default()
                .parse(raw)
                .expect("a mail");
            m.body_text(0).unwrap_or_default().into_owned()
        })
        .collect();
    assert!(!mails.is_empty());
    for text in &mails {
        assert!(text.contains("https://call.example/alert-room"), "{text}");
    }
    let message = chat.at("ok/channel")[0].raw.clone();
    assert!(
        String::from_utf8_lossy(&message).contains("https://call.example/alert-room"),
        "{}",
        String::from_utf8_lossy(&message)
    );
    let status = s.status_tree();
    assert!(
        !status
            .values()
            .any(|v| String::from_utf8_lossy(v).contains("alert-room")),
        "never in the status bucket"
    );
    s.gitlab.verify().await;
}

/// The on-call file of the page tests: bob on call in `primary`, paged by mail and by
/// ntfy (the catcher's `/ok/ntfy/bob`); alice by mail; carol known by her Slack id
/// alone; dave by his address.
fn pages_file(catcher: &str) -> String {
    format!(
        r#"people:
  alice: {{gitlab: alice, email: alice@example.com}}
  bob: {{gitlab: bob, email: bob@example.com, ntfy: "{catcher}/ok/ntfy/bob"}}
  carol: {{gitlab: carol, slack: UCAROL, email: carol@example.com}}
  dave: {{gitlab: dave, email: dave@example.com}}
schedules:
  primary:
    time_zone: UTC
    layers:
      - {{participants: [bob], rotation: 1w, handoff: "2026-01-05T09:00"}}
"#
    )
}

/// A stand with the on-call file as a local path, read by a tick.
async fn on_call_stand(extra: &[(&str, String)]) -> (Stand, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("oncall.yaml");
    let mut env = vec![("ONCALL_CONFIG", file.display().to_string())];
    env.extend(extra.iter().cloned());
    let s = stand(&env).await;
    std::fs::write(&file, pages_file(&s.catcher.base)).unwrap();
    s.runner.tick().await.unwrap();
    (s, files)
}

/// The text of each mail to `to`.
fn mails_to(s: &Stand, to: &str) -> Vec<String> {
    tree(&s.dir.path().join("outbox"))
        .values()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(raw)?;
            let addressed = m
                .to()
                .and_then(|a| a.first().and_then(|x| x.address().map(str::to_owned)));
            (addressed.as_deref() == Some(to))
                .then(|| m.body_text(0).unwrap_or_default().into_owned())
        })
        .collect()
}

#[tokio::test]
async fn page_reaches_the_person_or_whoever_is_on_call_and_tells_the_caller_alone() {
    let (s, _files) = on_call_stand(&[]).await;
    // As Slack sends it: `<`, `>` and `&` escaped.
    let a = command(
        &s,
        "UALICE",
        "page primary The &lt;db&gt; is on fire &amp; @here",
        "page-1",
    )
    .await;
    assert_eq!(
        (a.status, a.body["response_type"].as_str()),
        (200, Some("ephemeral"))
    );
    s.settle().await;
    let r = s.result("page-1");
    assert_eq!(r["response_type"], "ephemeral", "{r}");
    let text = r["text"].as_str().unwrap();
    assert!(
        text.contains("Paged bob (on call in primary) by email, ntfy."),
        "{text}"
    );
    let mail = mails_to(&s, "bob@example.com");
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(
        mail[0].contains("The <db> is on fire & @here"),
        "{}",
        mail[0]
    );
    assert!(
        mail[0].contains(
            "@alice pages bob (on call in primary) from Slack (user UALICE, channel C0CHAN)."
        ),
        "{}",
        mail[0]
    );
    let push = s.catcher.at("ok/ntfy/");
    assert_eq!(push.len(), 1, "{push:?}");
    assert!(
        push[0].body["message"]
            .as_str()
            .unwrap()
            .contains("The <db> is on fire"),
        "{}",
        push[0].body
    );

    // carol is mapped by the on-call file's `slack:` alone, and pages a person.
    command(&s, "UCAROL", "page @alice Call me", "page-2").await;
    s.settle().await;
    let text = s.result("page-2")["text"].as_str().unwrap().to_owned();
    assert!(text.contains("Paged alice by email."), "{text}");
    let mail = mails_to(&s, "alice@example.com");
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("@carol pages alice from Slack (user UCAROL, channel C0CHAN)."),
        "{}",
        mail[0]
    );

    // No such person or schedule: said to the caller, nothing sent.
    command(&s, "UALICE", "page nobody hello", "page-3").await;
    s.settle().await;
    let r = s.result("page-3");
    assert_eq!(r["response_type"], "ephemeral");
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .contains("no person or schedule `nobody`"),
        "{r}"
    );
    // An unmapped caller: refused at once, nothing queued.
    let a = command(&s, "UNOBODY", "page bob hello", "page-4").await;
    assert_eq!(a.body["response_type"], "ephemeral");
    assert!(
        a.text().contains("not mapped to a GitLab user"),
        "{}",
        a.text()
    );
    assert_eq!(s.runner.pending().await, 0);
    assert_eq!(
        mails_to(&s, "bob@example.com").len(),
        1,
        "nothing more sent"
    );
    assert_eq!(s.catcher.at("ok/ntfy/").len(), 1);

    // `list` says who is on call.
    command(&s, "UALICE", "list", "list").await;
    s.settle().await;
    let text = s.result("list")["text"].as_str().unwrap().to_owned();
    assert!(text.contains("On call:\n  primary: bob"), "{text}");

    // Without an on-call file: refused at once.
    let bare = stand(&[]).await;
    let a = command(&bare, "UALICE", "page bob hello", "page-5").await;
    assert_eq!(a.body["response_type"], "ephemeral");
    assert!(a.text().contains("needs on call"), "{}", a.text());
    assert_eq!(bare.runner.pending().await, 0);
}

#[tokio::test]
async fn a_slack_user_nothing_maps_is_known_by_their_confirmed_address() {
    const BOT: &str = "xoxb-test-bot-token";
    let slack = MockServer::start().await;
    let (s, _files) = on_call_stand(&[
        ("SLACK_BOT_TOKEN", BOT.into()),
        ("SLACK_API_URL", format!("{}/api", slack.uri())),
    ])
    .await;
    let info = |user: &str, email: &str, confirmed: bool| {
        json!({"ok": true, "user": {"id": user, "team_id": "T0TEAM", "name": user, "deleted": false,
            "is_bot": false, "is_email_confirmed": confirmed,
            "profile": {"real_name": user, "display_name": user, "email": email}}})
    };
    for (user, email, confirmed) in [
        ("UDAVE", "Dave@Example.com", true),
        ("UERIN", "erin@example.com", false),
        ("UFRANK", "frank@example.com", true),
    ] {
        Mock::given(method("POST"))
            .and(path("/api/users.info"))
            .and(header("authorization", format!("Bearer {BOT}").as_str()))
            .and(body_string_contains(format!("user={user}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(info(user, email, confirmed)))
            .mount(&slack)
            .await;
    }
    // frank is a GitLab user whose public address it is (the search also finds a
    // namesake whose it is not).
    Mock::given(method("GET"))
        .and(path("/api/v4/users"))
        .and(query_param("search", "frank@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 6, "username": "frankly"}, {"id": 5, "username": "frank"}])))
        .mount(&s.gitlab)
        .await;
    for (id, name, public) in [(5, "frank", "frank@example.com"), (6, "frankly", "")] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v4/users/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"id": id, "username": name, "public_email": public, "bot": false}),
            ))
            .mount(&s.gitlab)
            .await;
    }

    // dave: the on-call person with his address; frank: the GitLab user.
    for (user, who) in [("UDAVE", "dave"), ("UFRANK", "frank")] {
        let a = command(&s, user, "page bob hello", user).await;
        assert!(a.text().contains("Working on `page`"), "{}", a.text());
        s.settle().await;
        let text = s.result(user)["text"].as_str().unwrap().to_owned();
        assert!(text.contains("Paged bob"), "{user}: {text}");
        let mail = mails_to(&s, "bob@example.com");
        assert!(
            mail.iter()
                .any(|m| m.contains(&format!("@{who} pages bob from Slack (user {user},"))),
            "{mail:?}"
        );
    }
    // erin's address is not confirmed: nobody knows her, nothing is sent.
    command(&s, "UERIN", "page bob hello", "UERIN").await;
    s.settle().await;
    let r = s.result("UERIN");
    assert_eq!(r["response_type"], "ephemeral");
    assert!(
        r["text"]
            .as_str()
            .unwrap()
            .contains("not mapped to a GitLab user"),
        "{r}"
    );
    assert_eq!(mails_to(&s, "bob@example.com").len(), 2);
    // The bot token went to Slack's API only.
    for r in s.gitlab.received_requests().await.unwrap_or_default() {
        assert!(!format!("{:?}", r.headers).contains(BOT));
    }
}

/// The on-call file of the declare tests: alice (mail and SMS) on call in `primary`,
/// bob (mail) in `secondary`; a critical incident pages `primary` at once and
/// `secondary` after 10 minutes, and the steps run once more after that.
fn declare_file(phone: &str) -> String {
    format!(
        r#"people:
  alice: {{gitlab: alice, slack: UALICE, email: alice@example.com, sms: "{phone}"}}
  bob: {{gitlab: bob, slack: UBOB, email: bob@example.com}}
schedules:
  primary:
    time_zone: UTC
    layers:
      - {{participants: [alice], rotation: 1w, handoff: "2026-01-05T09:00"}}
  secondary:
    time_zone: UTC
    layers:
      - {{participants: [bob], rotation: 1w, handoff: "2026-01-05T09:00"}}
policies:
  critical:
    match: 'severity="critical"'
    repeat: 1
    steps:
      - {{after: 0m, notify: ["schedule:primary"]}}
      - {{after: 10m, notify: ["schedule:secondary"]}}
"#
    )
}

const API: &str = "http://openmic.test";

/// A stand for declaring with on call: the on-call file read (alice's SMS through
/// moto's SNS), the alert links on, and GitLab's incident #12 (open until `closed`
/// is set, or until `/incident resolve` closes it), its notes and its timeline.
struct Declaring {
    s: Stand,
    _files: tempfile::TempDir,
    phone: String,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

async fn declaring(tag: u32) -> Declaring {
    use std::sync::atomic::{AtomicBool, Ordering};
    // A number of this test's own: other tests' messages on moto do not count.
    let phone = format!("+1557{:07}", (std::process::id() % 10_000_000) ^ tag);
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("oncall.yaml");
    std::fs::write(&file, declare_file(&phone)).unwrap();
    let sms = openmic_aws::Aws::new(openmic_tests::aws::sdk_config().await).sms();
    let s = stand_paging(
        &[
            ("ONCALL_CONFIG", file.display().to_string()),
            ("PUBLIC_API_URL", API.into()),
        ],
        Some(Arc::new(sms)),
    )
    .await;
    s.runner.tick().await.unwrap();
    let closed = Arc::new(AtomicBool::new(false));
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .and(body_string_contains("issue_type=incident"))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue_json(12, "DB down", "")))
        .mount(&s.gitlab)
        .await;
    let state = closed.clone();
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues/12"))
        .respond_with(move |_: &wiremock::Request| {
            let mut issue = issue_json(12, "DB down", "Bridge: https://meet.example/db-room");
            if state.load(Ordering::SeqCst) {
                issue["state"] = json!("closed");
                issue["closed_at"] = json!("2024-03-06T10:06:00.000Z");
            }
            ResponseTemplate::new(200).set_body_json(issue)
        })
        .mount(&s.gitlab)
        .await;
    let state = closed.clone();
    Mock::given(method("PUT"))
        .and(path("/api/v4/projects/42/issues/12"))
        .and(body_string_contains("state_event=close"))
        .respond_with(move |_: &wiremock::Request| {
            state.store(true, Ordering::SeqCst);
            ResponseTemplate::new(200).set_body_json(issue_json(12, "DB down", ""))
        })
        .mount(&s.gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/12/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(note_json(700, "noted", true)))
        .mount(&s.gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"timelineEventCreate": {
            "timelineEvent": {"id": "gid://gitlab/IncidentManagement::TimelineEvent/1"}, "errors": []}}})))
        .mount(&s.gitlab)
        .await;
    Declaring {
        s,
        _files: files,
        phone,
        closed,
    }
}

impl Declaring {
    /// The pages mailed so far: (to, subject), in order of recipient.
    fn pages(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = tree(&self.s.dir.path().join("outbox"))
            .values()
            .filter_map(|raw| {
                let m = mail_parser::MessageParser::default().parse(raw)?;
                let to = m
                    .to()
                    .and_then(|a| a.first().and_then(|x| x.address().map(str::to_owned)))?;
                let subject = m.subject()?.to_owned();
                subject.starts_with("Page, ").then_some((to, subject))
            })
            .collect();
        out.sort();
        out
    }

    /// The notes added to incident #12, in order.
    async fn notes(&self) -> Vec<String> {
        self.s
            .gitlab
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                r.method.as_str() == "POST" && r.url.path() == "/api/v4/projects/42/issues/12/notes"
            })
            .map(|r| {
                url::form_urlencoded::parse(&r.body)
                    .find(|(k, _)| k == "body")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// How many incident issues GitLab was asked to open.
    async fn issues_opened(&self) -> usize {
        self.s
            .gitlab
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/api/v4/projects/42/issues")
            .count()
    }

    /// The record of the one incident declared.
    fn record(&self) -> Value {
        let state = tree(&self.s.dir.path().join("state"));
        let mut records = state.iter().filter(|(k, v)| {
            k.starts_with("alerts/")
                && String::from_utf8_lossy(v).contains("\"fingerprint\":\"chat-declare:")
        });
        let (_, raw) = records.next().expect("a declared incident's record");
        assert!(records.next().is_none(), "one record");
        serde_json::from_slice(raw).unwrap()
    }

    /// Moves the clock to `minutes` after `t0` and ticks.
    async fn at(&self, t0: i64, minutes: i64) {
        self.s.clock.set(&now_text(t0 + minutes * 60));
        self.s.runner.tick().await.unwrap();
    }
}

/// The link on the line after `label` in a mail's text.
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

#[tokio::test]
async fn declare_pages_the_policy_it_routes_to_escalates_and_stops_when_acknowledged() {
    let d = declaring(0x5a).await;
    let s = &d.s;
    let a = command(s, "UALICE", "declare \"DB down\" sev1 API", "declare").await;
    assert!(a.text().contains("Working on `declare`"), "{}", a.text());
    s.settle().await;

    // The channel is told who was paged, and how to acknowledge.
    let posted = s.result("declare");
    assert_eq!(posted["response_type"], "in_channel", "{posted}");
    let text = posted["text"].as_str().unwrap();
    let record = d.record();
    let id = openmic::alerts::record::record_id(record["fingerprint"].as_str().unwrap());
    for want in [
        "Incident #12 declared by @\u{2060}alice: DB down",
        "Severity: critical",
        "On call: policy `critical`, paged alice (on call in primary) by email, sms",
        &format!("`/incident ack {id}`"),
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    // alice at once: by mail and by SMS, each with the acknowledge link and the call
    // link; no alert mail or chat message besides the pages.
    assert_eq!(
        d.pages(),
        [(
            "alice@example.com".to_owned(),
            "Page, step 1: Incident declared: DB down".to_owned()
        )]
    );
    assert_eq!(
        tree(&s.dir.path().join("outbox")).len(),
        1,
        "the page alone"
    );
    let mail = mails_to(s, "alice@example.com").remove(0);
    assert!(mail.contains("https://meet.example/db-room"), "{mail}");
    let sms = openmic_tests::aws::sms_to(&d.phone).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(
        sms[0].starts_with("Page, step 1: Incident declared: DB down"),
        "{}",
        sms[0]
    );
    assert!(
        sms[0].contains(&format!("{API}/alerts/ack?token=")),
        "{}",
        sms[0]
    );
    assert!(
        sms[0].contains("Call: https://meet.example/db-room"),
        "{}",
        sms[0]
    );
    assert_eq!(d.issues_opened().await, 1);
    let labels = &record["alert"]["labels"];
    assert_eq!(
        labels,
        &json!({"alertname": "DB down", "chat": "slack", "component": "API",
            "severity": "critical", "source": "chat"})
    );

    // The job delivered again (as SQS may, or tried again after a crash): no second
    // issue, nobody paged again, and whoever typed it is told so alone.
    let fingerprint = record["fingerprint"].as_str().unwrap();
    let delivery = fingerprint.strip_prefix("chat-declare:").unwrap();
    let job = json!({"platform": "slack", "user_id": "UALICE", "user_name": "alice",
        "channel_id": "C0CHAN", "gitlab_user": "alice",
        "response_url": format!("{}/ok/again", s.catcher.base),
        "work": {"kind": "command", "text": "declare \"DB down\" sev1 API"}});
    let body = openmic::message::compose_value(
        openmic::message::Source::Chat,
        Some("/chat/slack/commands"),
        delivery,
        &now_text(0),
        &job,
    )
    .unwrap();
    let openmic_local::Queues::Embedded { alerts, .. } = &s.runner.queues else {
        panic!("the stand's queues are on disk");
    };
    openmic::ports::Queue::send(
        alerts.as_ref(),
        openmic::ports::OutMessage {
            group_id: "chat:slack:C0CHAN".into(),
            dedup_id: "redelivered".into(),
            body,
        },
    )
    .await
    .unwrap();
    s.settle().await;
    let again = s.result("again");
    assert_eq!(again["response_type"], "ephemeral", "{again}");
    assert!(
        again["text"]
            .as_str()
            .unwrap()
            .contains("Incident #12 was declared by this request already"),
        "{again}"
    );
    assert_eq!(d.issues_opened().await, 1, "no second issue");
    assert_eq!(d.pages().len(), 1, "nobody paged twice");
    assert_eq!(openmic_tests::aws::sms_to(&d.phone).await.len(), 1);

    // Nobody answers: bob is paged at 10 minutes, not before.
    let t0 = 0;
    for m in 1..=9 {
        d.at(t0, m).await;
    }
    assert_eq!(d.pages().len(), 1);
    d.at(t0, 10).await;
    assert_eq!(
        d.pages(),
        [
            (
                "alice@example.com".to_owned(),
                "Page, step 1: Incident declared: DB down".to_owned()
            ),
            (
                "bob@example.com".to_owned(),
                "Page, step 2: Incident declared: DB down".to_owned()
            ),
        ]
    );

    // alice acknowledges from her page's link at 12 minutes: nothing more is sent,
    // though the steps would run again at 20 and 30 minutes.
    d.at(t0, 12).await;
    let ack = link_in(&mail, "Acknowledge");
    let request = Request::builder()
        .method("POST")
        .uri(ack.strip_prefix(API).unwrap())
        .body(Body::empty())
        .unwrap();
    let response = s.runner.app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    for m in 13..=45 {
        d.at(t0, m).await;
    }
    assert_eq!(d.pages().len(), 2);
    assert_eq!(openmic_tests::aws::sms_to(&d.phone).await.len(), 1);
    let record = d.record();
    assert_eq!(record["escalation"]["record"]["stopped"][0], "acknowledged");
    // `/incident ack` says so too.
    command(s, "UBOB", &format!("ack {id}"), "ack").await;
    s.settle().await;
    let acked = s.result("ack");
    assert!(
        acked["text"]
            .as_str()
            .unwrap()
            .contains("was already acknowledged by alice"),
        "{acked}"
    );

    // Each page is a note on the issue, and so is the acknowledgement.
    let notes = d.notes().await;
    assert_eq!(notes.len(), 4, "{notes:#?}");
    assert!(
        notes[0].starts_with("Declared by @alice from Slack"),
        "{}",
        notes[0]
    );
    assert_eq!(
        notes[1],
        "On-call page, step 1: `alice` (on call in primary) paged by email, sms."
    );
    assert_eq!(
        notes[2],
        "Escalated to step 2: `bob` (on call in secondary) paged by email. Paged before: `alice`."
    );
    assert!(notes[3].contains("acknowledged by alice"), "{}", notes[3]);
}

#[tokio::test]
async fn a_declare_no_policy_takes_pages_nobody_and_says_why() {
    let d = declaring(0x6b).await;
    let s = &d.s;
    command(s, "UALICE", "declare \"Slow pages\" sev3 Web", "declare").await;
    s.settle().await;
    let posted = s.result("declare");
    assert_eq!(posted["response_type"], "in_channel", "{posted}");
    let text = posted["text"].as_str().unwrap();
    assert!(text.contains("Incident #12 declared"), "{text}");
    assert!(
        text.contains(
            "Nobody was paged: no policy of the on-call file matches alertname=\"Slow pages\", chat=\"slack\", component=\"Web\", severity=\"medium\", source=\"chat\"."
        ),
        "{text}"
    );
    for m in [1, 10, 30] {
        d.at(0, m).await;
    }
    assert!(d.pages().is_empty(), "{:?}", d.pages());
    assert!(openmic_tests::aws::sms_to(&d.phone).await.is_empty());
    assert_eq!(d.notes().await.len(), 1, "the declaration alone");
}

#[tokio::test]
async fn closing_a_declared_incident_stops_its_escalation() {
    let d = declaring(0x7c).await;
    let s = &d.s;
    command(s, "UALICE", "declare \"DB down\" sev1", "declare").await;
    s.settle().await;
    assert_eq!(d.pages().len(), 1);
    // Resolved from chat at 5 minutes: the issue is closed, and bob is never paged.
    d.at(0, 5).await;
    command(s, "UALICE", "resolve 12", "resolve").await;
    s.settle().await;
    assert!(d.closed.load(std::sync::atomic::Ordering::SeqCst));
    for m in [10, 20, 30, 45] {
        d.at(0, m).await;
    }
    assert_eq!(
        d.pages(),
        [(
            "alice@example.com".to_owned(),
            "Page, step 1: Incident declared: DB down".to_owned()
        )]
    );
    assert_eq!(d.record()["escalation"]["record"]["stopped"][0], "closed");
    let notes = d.notes().await;
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert!(notes[2].starts_with("Resolved by @alice"), "{}", notes[2]);
}
