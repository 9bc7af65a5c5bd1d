//! GitLab's incident timeline, against a stub of GitLab's GraphQL API answering in the
//! shapes its documentation gives (`timelineEventCreate`, `project {
//! incidentManagementTimelineEvents }`): openmic writes one event when it publishes the
//! sample incident and one when it shows it resolved, never again on a replay; the
//! page shows the key times a publisher tagged, not those of someone who may not
//! publish, and never an event's note.

use openmic_local::Runner;
use openmic_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A node of `incidentManagementTimelineEvents`, as GitLab's GraphQL answers.
fn node(id: u64, at: &str, tag: &str, user: (u64, &str)) -> Value {
    json!({
        "id": format!("gid://gitlab/IncidentManagement::TimelineEvent/{id}"),
        "note": format!("internal words {id}"),
        "occurredAt": at,
        "author": {"id": format!("gid://gitlab/User/{}", user.0), "username": user.1},
        "timelineEventTags": {"nodes": [{"name": tag}]},
    })
}

#[tokio::test]
async fn openmic_writes_what_it_did_and_the_page_shows_a_publishers_key_times() {
    let gitlab = MockServer::start().await;
    let alice = (10, "alice");
    let mallory = (66, "mallory");
    Mock::given(method("POST"))
        .and(path("/api/graphql"))
        .and(body_string_contains("incidentManagementTimelineEvents"))
        .and(body_string_contains("\"fullPath\":\"ops/api\""))
        .and(body_string_contains("gid://gitlab/Issue/1001"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"project": {
            "incidentManagementTimelineEvents": {"nodes": [
                node(1, "2024-03-01T08:50:00Z", "Start time", alice),
                node(2, "2024-03-01T08:40:00Z", "Impact detected", mallory),
                node(3, "2024-03-01T08:55:00Z", "Impact detected", alice),
                node(4, "2024-03-01T09:40:00Z", "Impact mitigated", alice),
                node(5, "2024-03-01T09:10:00Z", "Something else", alice),
            ]}}}})),
        )
        .mount(&gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/graphql"))
        .and(body_string_contains("timelineEventCreate"))
        .and(body_string_contains("gid://gitlab/Issue/1001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "timelineEventCreate": {"timelineEvent": {
                "id": "gid://gitlab/IncidentManagement::TimelineEvent/99"}, "errors": []}}})))
        .expect(2)
        .mount(&gitlab)
        .await;
    let uri = gitlab.uri();
    let config = test_config(&[
        ("GITLAB_URL", &uri),
        ("GITLAB_TOKEN", "glpat-stub-token"),
        ("LINK_BACK", "false"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::embedded_at(dir.path(), config, site_clock()).unwrap();
    let story = event_files("gitlab-story");
    let story: Vec<_> = story
        .into_iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().as_ref() < "015")
        .collect();
    replay_all(&runner, &story).await;
    resend_all(&runner, &story, "again").await;

    let status = tree(&dir.path().join("status"));
    let detail = json_of(&status, "data/incident/1.json");
    assert_eq!(
        detail["key_times"],
        json!([
            {"tag": "start_time", "occurred_at": "2024-03-01T08:50:00.000Z"},
            {"tag": "impact_detected", "occurred_at": "2024-03-01T08:55:00.000Z"},
            {"tag": "impact_mitigated", "occurred_at": "2024-03-01T09:40:00.000Z"},
        ])
    );
    let page = String::from_utf8(status["incidents/1.html"].clone()).unwrap();
    for shown in ["Start time", "Impact detected", "Impact mitigated"] {
        assert!(
            page.contains(&format!("<dt>{shown}</dt>")),
            "{shown}: {page}"
        );
    }
    assert!(page.contains("datetime=\"2024-03-01T08:55:00.000Z\""));
    assert!(!page.contains("08:40"), "mallory's time is not shown");
    for (key, body) in &status {
        let text = String::from_utf8_lossy(body);
        assert!(
            !text.contains("internal words"),
            "{key} shows a timeline note"
        );
    }

    // What openmic wrote: its publication, then the resolution, once each.
    let created: Vec<Value> = gitlab
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("timelineEventCreate"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(created.len(), 2);
    let input = &created[0]["variables"]["input"];
    assert_eq!(input["incidentId"], "gid://gitlab/Issue/1001");
    assert!(input["note"].as_str().unwrap().contains("published"));
    assert_eq!(input["occurredAt"], "2024-03-01T09:12:00.000Z");
    let input = &created[1]["variables"]["input"];
    assert!(input["note"].as_str().unwrap().contains("resolved"));
    assert_eq!(input["occurredAt"], "2024-03-01T10:00:00.000Z");
    let state = json_of(&tree(&dir.path().join("state")), "incidents/42/1.json");
    assert_eq!(state["timeline_written"], json!(["published", "resolved"]));
    gitlab.verify().await;
}
