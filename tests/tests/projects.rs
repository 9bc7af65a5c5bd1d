//! Several projects, whose issues share iids, never mixed: without GITLAB_PROJECT_ID
//! the runner takes the first project and refuses the others; with both listed they
//! share one page under GitLab's global issue ids, each with its own text, and nothing
//! of an unpublished project's incident is ever public.

use openmic_tests::*;
use serde_json::{Value, json};

/// The story's events for incident 1 of project 42: opened (1), bob's note (2), the
/// publisher's microphone on it (4), the publish label (7).
fn story(n: usize) -> Value {
    let name = match n {
        1 => "001-issue-opened.json",
        2 => "002-note-by-bob.json",
        4 => "004-microphone-by-publisher.json",
        7 => "007-label-by-publisher.json",
        _ => unreachable!(),
    };
    let raw = std::fs::read_to_string(event_file("gitlab-story", name)).unwrap();
    serde_json::from_str(&raw).unwrap()
}

/// The same event in project 77, whose issue 1 (global id 7701) is about a secret.
fn in_project_77(mut event: Value) -> Value {
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let set = |v: &mut Value, key: &str, to: Value| {
        if v.get(key).is_some() {
            v[key] = to;
        }
    };
    set(&mut body, "project_id", json!(77));
    body["project"]["id"] = json!(77);
    body["project"]["web_url"] = json!("https://gitlab.example.com/ops/secret");
    for part in ["object_attributes", "issue", "note"] {
        if let Some(o) = body.get_mut(part).filter(|o| o.is_object()) {
            set(o, "project_id", json!(77));
            set(o, "noteable_id", json!(7701));
            if o.get("iid").is_some() {
                o["id"] = json!(7701);
                o["title"] = json!("Secret migration of the billing database");
            }
            if let Some(note) = o.get("note").and_then(Value::as_str) {
                o["note"] = json!(format!("secret-77: {note}"));
            }
        }
    }
    event["body"] = json!(body.to_string());
    for h in ["idempotency-key", "x-gitlab-event-uuid"] {
        if let Some(v) = event["headers"][h].as_str() {
            event["headers"][h] = json!(format!("{v}-77"));
        }
    }
    event
}

async fn send_event(runner: &openmic_local::Runner, event: &Value) -> (u16, Value) {
    let r = send_text(runner, &event.to_string()).await;
    runner.drain().await;
    r
}

fn assert_nothing_secret(dir: &std::path::Path) {
    for (key, bytes) in tree(&dir.join("status")) {
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["Secret migration", "secret-77", "ops/secret", "7701"] {
            assert!(!text.contains(secret), "{secret:?} is public in {key}");
        }
    }
}

#[tokio::test]
async fn without_gitlab_project_id_the_first_project_is_kept_and_others_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("GITLAB_PROJECT_ID", "")]);
    for n in [1, 2, 4, 7] {
        assert_eq!(send_event(&runner, &story(n)).await.0, 202);
    }
    for n in [1, 2, 4, 7] {
        let (status, reply) = send_event(&runner, &in_project_77(story(n))).await;
        assert_eq!(status, 403, "{reply}");
        let why = reply["error"].as_str().unwrap();
        assert!(
            why.contains("project 77")
                && why.contains("took project 42")
                && why.contains("GITLAB_PROJECT_ID"),
            "{why}"
        );
    }
    assert_nothing_secret(dir.path());
    let status = tree(&dir.path().join("status"));
    let detail = json_of(&status, "data/incident/1.json");
    assert_eq!(detail["id"], 1, "one project keeps GitLab's iids");
    assert!(detail["title"].as_str().unwrap().starts_with("API errors"));
    assert_eq!(detail["comments"].as_array().unwrap().len(), 1);
    // The choice survives a restart.
    drop(runner);
    let runner = embedded(dir.path(), &[("GITLAB_PROJECT_ID", "")]);
    assert_eq!(send_event(&runner, &in_project_77(story(1))).await.0, 403);
    let state = tree(&dir.path().join("state"));
    assert!(
        state.keys().all(|k| !k.starts_with("incidents/77/")),
        "nothing of project 77 was kept: {:?}",
        state.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn two_listed_projects_share_the_page_and_an_unpublished_one_stays_private() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("GITLAB_PROJECT_ID", "42,77")]);
    // Interleaved: project 77's issue 1 is never published, though a publisher awards
    // a microphone to its note.
    for n in [1, 2, 4] {
        assert_eq!(send_event(&runner, &story(n)).await.0, 202);
        assert_eq!(send_event(&runner, &in_project_77(story(n))).await.0, 202);
    }
    assert_eq!(send_event(&runner, &story(7)).await.0, 202);
    assert_nothing_secret(dir.path());
    let status = tree(&dir.path().join("status"));
    let list = json_of(&status, "data/list.json");
    let ids: Vec<&Value> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(
        ids,
        vec![&json!(1001)],
        "several projects: GitLab's global ids"
    );
    let detail = json_of(&status, "data/incident/1001.json");
    assert_eq!(detail["links"]["details"], "data/incident/1001.json");
    assert!(detail["title"].as_str().unwrap().starts_with("API errors"));
    assert_eq!(
        detail["comments"][0]["note"],
        "<p>We are looking into elevated error rates. cc Incident Responder</p>\n"
    );
    assert!(status.contains_key("incidents/1001.html"));
    assert!(!status.contains_key("data/incident/1.json"));
    // Each project's state apart.
    let state = tree(&dir.path().join("state"));
    assert!(
        json_of(&state, "incidents/77/1.json")["issue"]["title"]
            .as_str()
            .unwrap()
            .starts_with("Secret")
    );
    assert!(
        json_of(&state, "incidents/42/1.json")["issue"]["title"]
            .as_str()
            .unwrap()
            .starts_with("API errors")
    );

    // Now project 77 publishes too: both listed, distinct ids, their own text.
    assert_eq!(send_event(&runner, &in_project_77(story(7))).await.0, 202);
    let status = tree(&dir.path().join("status"));
    let list = json_of(&status, "data/list.json");
    let mut ids: Vec<u64> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![1001, 7701]);
    let secret = json_of(&status, "data/incident/7701.json");
    assert_eq!(secret["title"], "Secret migration of the billing database");
    assert_eq!(
        secret["comments"][0]["note"],
        "<p>secret-77: We are looking into elevated error rates. cc Incident Responder</p>\n"
    );
    assert!(
        json_of(&status, "data/incident/1001.json")["title"]
            .as_str()
            .unwrap()
            .starts_with("API errors")
    );
    for (key, bytes) in &status {
        assert!(
            !String::from_utf8_lossy(bytes).contains("ops/secret"),
            "the project is not named in {key}"
        );
    }
}
