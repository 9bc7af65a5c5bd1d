//! SLA timers on a clock the test moves: the sample incident (severity high, opened
//! 2024-03-01 09:00) with `INCIDENT_SLA=high=30m`. Before 09:30 the tick does nothing;
//! after, GitLab's stub gets the `missed::SLA` label once, the Slack channel one
//! reminder and each maintainer one mail, however often the tick runs and whatever is
//! replayed. Closed at 10:00, the month's archive shows its time to resolve past the
//! target and the share within target.

use std::path::Path;

use openmic_local::Runner;
use openmic_tests::*;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn story(close: bool) -> Vec<std::path::PathBuf> {
    event_files("gitlab-story")
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            name.as_str() < "014" || (close && name.starts_with("014"))
        })
        .collect()
}

/// The subjects of the mails in the outbox that mention the missed target.
fn reminders(dir: &Path) -> Vec<(String, String)> {
    tree(&dir.join("outbox"))
        .into_values()
        .filter_map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw)?;
            let to = m.to()?.first()?.address()?.to_owned();
            let subject = m.subject().unwrap_or_default().to_owned();
            subject.starts_with("SLA missed").then_some((to, subject))
        })
        .collect()
}

#[tokio::test]
async fn past_its_target_an_incident_is_labelled_and_reminded_once() {
    let gitlab = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v4/projects/42/issues/1"))
        .and(body_string_contains("add_labels=missed%3A%3ASLA"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1001, "iid": 1, "title": "API errors", "state": "opened",
            "created_at": "2024-03-01T09:00:00Z", "updated_at": "2024-03-01T09:31:00Z",
            "labels": ["incident", "status-page", "missed::SLA"]})))
        .expect(1)
        .mount(&gitlab)
        .await;
    let chat = openmic_tests::catcher::Catcher::start().await;
    let channels = json!([
        {"name": "ops", "type": "slack", "url": format!("{}/ok/slack", chat.base)},
        {"name": "mail", "type": "email", "to": "maintainers"},
    ])
    .to_string();
    let uri = gitlab.uri();
    let config = test_config(&[
        ("INCIDENT_SLA", "critical=10m,high=30m"),
        ("ALERT_CHANNELS", &channels),
        ("GITLAB_URL", &uri),
        ("GITLAB_TOKEN", "glpat-stub-token"),
        ("LINK_BACK", "false"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2024-03-01T09:26:00Z");
    let runner = Runner::embedded_at(dir.path(), config, clock.clone()).unwrap();
    replay_all(&runner, &story(false)).await;

    // Within the target: nothing.
    runner.tick().await.unwrap();
    assert_eq!(chat.at("ok/slack").len(), 0);
    assert!(reminders(dir.path()).is_empty());

    // Past it: the label, one message, one mail to each maintainer.
    clock.set("2024-03-01T09:31:00Z");
    runner.tick().await.unwrap();
    let slack = chat.at("ok/slack");
    assert_eq!(slack.len(), 1);
    let said = slack[0].body.to_string();
    assert!(said.contains("SLA missed"), "{said}");
    assert!(said.contains("30m"), "{said}");
    let mut mails = reminders(dir.path());
    mails.sort();
    assert_eq!(
        mails.iter().map(|(to, _)| to.as_str()).collect::<Vec<_>>(),
        ["lead@example.com", "oncall@example.com"]
    );

    // Ticks, later ticks and every event again: nothing more.
    runner.tick().await.unwrap();
    clock.set("2024-03-01T09:45:00Z");
    runner.tick().await.unwrap();
    resend_all(&runner, &story(false), "again").await;
    runner.tick().await.unwrap();
    assert_eq!(chat.at("ok/slack").len(), 1);
    assert_eq!(reminders(dir.path()).len(), 2);

    // Closed at 10:00: an hour to resolve, past the 30-minute target.
    clock.set("2024-03-01T10:05:00Z");
    replay_all(&runner, &story(true)[story(false).len()..]).await;
    runner.tick().await.unwrap();
    assert_eq!(chat.at("ok/slack").len(), 1, "no reminder for the close");
    let archive =
        String::from_utf8(tree(&dir.path().join("status"))["history/2024-03.html"].clone())
            .unwrap();
    assert!(
        archive.contains("Resolved in 1 h 0 min, past the 30 min target"),
        "{archive}"
    );
    assert!(
        archive.contains("0.00% of incidents with a target were resolved within it (0 of 1)."),
        "{archive}"
    );
    gitlab.verify().await;
}

#[tokio::test]
async fn without_api_access_the_reminder_still_goes_once_and_a_bad_target_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at("2024-03-01T09:00:00Z");
    let config = test_config(&[("INCIDENT_SLA", "high=30m")]);
    let runner = Runner::embedded_at(dir.path(), config, clock.clone()).unwrap();
    replay_all(&runner, &story(false)).await;
    clock.set("2024-03-01T10:00:00Z");
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    assert_eq!(reminders(dir.path()).len(), 2, "each maintainer, once");
    let watch = json_of(&tree(&dir.path().join("state")), "index/sla.json");
    let entry = &watch["incidents"]["42/1"];
    assert_eq!(entry["severity"], "high");
    assert_eq!(entry["missed"]["reminded"], true);
    assert_eq!(
        entry["missed"]["labelled"], true,
        "nothing to wait for without the API"
    );

    let other = tempfile::tempdir().unwrap();
    let bad = test_config(&[("INCIDENT_SLA", "sev1=1h")]);
    let err = Runner::embedded_at(other.path(), bad, clock)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("INCIDENT_SLA"), "{err}");
}
