//! The operators' channels (`UPDATE_CHANNELS`) with subscriptions off: an incident
//! published and a comment published reach each channel that takes them, once, in the
//! body its service documents, against a local catcher; replays post nothing again.

use std::path::PathBuf;

use openmic_tests::catcher::Catcher;
use openmic_tests::*;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn story(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| event_file("gitlab-story", &format!("{n}.json")))
        .collect()
}

#[tokio::test]
async fn public_updates_reach_the_operators_channels_once() {
    let c = Catcher::start().await;
    let channels = serde_json::json!([
        {"name": "status", "type": "slack", "url": format!("{}/ok/slack", c.base)},
        {"name": "comments", "type": "mattermost", "url": format!("{}/ok/mattermost", c.base),
         "match": "kind=\"comment\""},
        {"name": "database", "type": "teams", "url": format!("{}/ok/teams", c.base),
         "match": "component=\"Database\""},
        {"name": "audit", "type": "webhook", "url": format!("{}/ok/hook", c.base), "secret": WHSEC},
    ])
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("UPDATE_CHANNELS", &channels)]);
    let published = story(&[
        "001-issue-opened",
        "002-note-by-bob",
        "004-microphone-by-publisher",
        "007-label-by-publisher",
    ]);
    let commented = story(&["009-note-by-publisher", "010-microphone-award"]);
    for (name, status) in replay_all(&runner, &published).await {
        assert_eq!(status, 202, "{name}");
    }
    let slack = c.at("ok/slack");
    assert_eq!(slack.len(), 1, "the publication");
    assert!(
        slack[0].body["text"]
            .as_str()
            .unwrap()
            .starts_with("Service status: New incident: "),
        "{}",
        slack[0].body
    );
    assert!(slack[0].body["blocks"].is_array(), "{}", slack[0].body);
    let page = serde_json::to_string(&slack[0].body).unwrap();
    assert!(
        page.contains("https://status.example.com/incidents/1.html"),
        "{page}"
    );
    assert!(c.at("ok/mattermost").is_empty(), "comments only");

    for (name, status) in replay_all(&runner, &commented).await {
        assert_eq!(status, 202, "{name}");
    }
    assert_eq!(c.at("ok/slack").len(), 2);
    let mm = c.at("ok/mattermost");
    assert_eq!(mm.len(), 1, "the comment");
    assert!(
        mm[0].body["attachments"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Service status: Update: "),
        "{}",
        mm[0].body
    );
    assert!(mm[0].body["attachments"].is_array());
    assert!(c.at("ok/teams").is_empty(), "no Database component");

    // Replayed as new deliveries: nothing public changes, nothing is posted again.
    for f in published.iter().chain(&commented) {
        let again = with_new_delivery_id(f, "again");
        let (status, body) = send_text(&runner, &again).await;
        assert!(status < 300, "{status} {body}");
    }
    runner.drain().await;
    assert_eq!(c.at("ok/slack").len(), 2);
    assert_eq!(c.at("ok/mattermost").len(), 1);

    // The webhook: each update signed as Standard Webhooks sign, its kind in `type`.
    let hooks = c.at("ok/hook");
    let kinds: Vec<&str> = hooks
        .iter()
        .map(|h| h.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["status.published", "status.comment"]);
    for h in &hooks {
        h.assert_signed_with(WHSEC);
        assert_eq!(h.body["data"]["details"]["incident"], 1, "{}", h.body);
    }
    // The channels' URLs are the operators' secrets: nothing public holds one.
    for (key, body) in tree(&dir.path().join("status")) {
        assert!(
            !String::from_utf8_lossy(&body).contains(&c.base),
            "{key} names a channel"
        );
    }
}

#[tokio::test]
async fn an_email_channel_or_bad_json_is_refused_at_start() {
    for (channels, says) in [
        (
            r#"[{"name": "x", "type": "email", "to": "a@example.com"}]"#,
            "email channel",
        ),
        ("[{", "not valid JSON"),
        (
            r#"[{"name": "x", "type": "slack"}]"#,
            "url is required for slack",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(&[("UPDATE_CHANNELS", channels)]);
        let Err(e) = openmic_local::Runner::embedded(dir.path(), config) else {
            panic!("{channels} was taken");
        };
        let e = e.to_string();
        assert!(e.contains("UPDATE_CHANNELS") && e.contains(says), "{e}");
    }
}
