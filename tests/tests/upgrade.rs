//! Upgrades lose nothing: a data directory written by the first release
//! (`tests/fixtures/release-1/`, incidents keyed by iid alone) is moved to the current
//! layout, served and updated; changing from one project to several republishes under
//! the new ids and leaves no key pointing at a missing file; a maintenance the second
//! release published (`tests/fixtures/release-2/`) mutes what it muted, and only a
//! publisher's change changes that.

use std::collections::BTreeMap;
use std::path::Path;

use openmic_tests::*;
use serde_json::{Value, json};

/// Where the first release, given API access, copied incident 1's image.
const UPLOAD: &str = "data/incident/1/0123456789abcdef0123456789abcdef/errors.png";

/// A copy of the first release's data directory, with the upload a release with API
/// access would have copied for incident 1's image.
fn release_1() -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-1");
    let dir = tempfile::tempdir().unwrap();
    for (key, bytes) in tree(&from) {
        if key == "README.md" {
            continue;
        }
        let to = dir.path().join(&key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    let upload = dir.path().join("status").join(UPLOAD);
    std::fs::create_dir_all(upload.parent().unwrap()).unwrap();
    std::fs::write(upload, b"\x89PNG\r\n\x1a\n").unwrap();
    dir
}

fn fixture_state() -> BTreeMap<String, Vec<u8>> {
    tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-1/state"))
}

/// Every link of the site (`href`, `src` in pages, `links.details` in the data) that
/// points into the bucket names a key that exists.
fn assert_no_dangling_link(status: &BTreeMap<String, Vec<u8>>) {
    for (key, bytes) in status {
        let text = String::from_utf8_lossy(bytes);
        let base = key.rsplit_once('/').map_or("", |(d, _)| d);
        let mut targets = Vec::new();
        if key.ends_with(".html") {
            for attr in ["href=\"", "src=\""] {
                for part in text.split(attr).skip(1) {
                    let target = part.split('"').next().unwrap();
                    if target.starts_with('#')
                        || target.contains("://")
                        || target.starts_with("mailto:")
                    {
                        continue;
                    }
                    let mut path: Vec<&str> = if base.is_empty() {
                        vec![]
                    } else {
                        base.split('/').collect()
                    };
                    for seg in target.split('#').next().unwrap().split('/') {
                        match seg {
                            ".." => {
                                path.pop();
                            }
                            "" | "." => {}
                            s => path.push(s),
                        }
                    }
                    targets.push(path.join("/"));
                }
            }
        }
        if key.starts_with("data/") && key.ends_with(".json") {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            let mut items = vec![&v];
            if let Some(list) = v["incidents"].as_array() {
                items.extend(list);
            }
            for i in items {
                if let Some(d) = i["links"]["details"].as_str() {
                    targets.push(d.to_owned());
                }
            }
        }
        for t in targets {
            let t = if t.is_empty() {
                "index.html".to_owned()
            } else {
                t
            };
            assert!(
                status.contains_key(&t),
                "{key} points at {t}, which does not exist"
            );
        }
    }
}

/// The story's incident 4 closed later, as a new delivery.
fn close_incident_4() -> String {
    let raw = std::fs::read_to_string(event_file(
        "gitlab-site",
        "003-open-incident-with-stage.json",
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let a = &mut body["object_attributes"];
    a["action"] = json!("close");
    a["state"] = json!("closed");
    a["updated_at"] = json!("2024-03-06T09:30:00Z");
    a["closed_at"] = json!("2024-03-06T09:30:00Z");
    event["body"] = json!(body.to_string());
    event["headers"]["idempotency-key"] = json!("upgrade-close-4");
    event["headers"]["x-gitlab-event-uuid"] = json!("upgrade-close-4");
    event.to_string()
}

#[tokio::test]
async fn the_first_release_data_is_moved_served_and_updated() {
    let dir = release_1();
    let before_status = tree(&dir.path().join("status"));
    let runner = embedded(dir.path(), &[]);
    let m = runner.publisher.migrate().await.unwrap();
    assert_eq!(m.states_moved, 4);
    assert!(m.renumbered.is_empty(), "one project keeps GitLab's iids");
    // Every state moved under its project, whole.
    let state = tree(&dir.path().join("state"));
    let old = fixture_state();
    for iid in 1..=4 {
        assert!(!state.contains_key(&format!("incidents/{iid}.json")));
        let mut moved = json_of(&state, &format!("incidents/42/{iid}.json"));
        let was = json_of(&old, &format!("incidents/{iid}.json"));
        let linked = moved.as_object_mut().unwrap().remove("linked_back");
        let effective = moved.as_object_mut().unwrap().remove("effective");
        assert_eq!(moved, was, "incident {iid} lost nothing");
        // Published ones: alerts follow the issue as it stood, as of its publication.
        assert_eq!(effective.is_some(), iid == 1 || iid == 4, "incident {iid}");
        if let Some(e) = effective {
            assert_eq!(
                (e["by"].as_str(), e["via"].as_str()),
                (Some("alice"), Some("upgrade"))
            );
        }
        // Published by the first release (2 until it turned confidential): no note
        // back for it now.
        assert_eq!(linked.is_some(), iid != 3, "incident {iid}");
    }
    let index = json_of(&state, "index/published.json");
    assert_eq!(
        (index["layout"].clone(), index["ids"].clone()),
        (json!(openmic::site::data::LAYOUT), json!("iid"))
    );
    assert_eq!(
        index["incidents"]["4"]["source"],
        json!({"project": 42, "iid": 4})
    );
    // The notifier's list of maintenances exists from the first run on: none here.
    assert_eq!(
        json_of(&state, "index/maintenance.json")["maintenances"],
        json!([])
    );
    // The alert records are read as they are.
    for (k, v) in old.iter().filter(|(k, _)| k.starts_with("alerts/")) {
        assert_eq!(state[k], *v, "{k}");
    }
    // The public data is the same, with when the closed incident ended (from its
    // state) for the page's history.
    let status = tree(&dir.path().join("status"));
    let closed = json!("2024-03-01T10:00:00.000Z");
    for key in [
        "data/incident/1.json",
        "data/incident/4.json",
        "data/list.json",
    ] {
        let mut was = json_of(&before_status, key);
        if let Some(list) = was.get_mut("incidents").and_then(|l| l.as_array_mut()) {
            for i in list.iter_mut().filter(|i| i["id"] == 1) {
                i["closed_at"] = closed.clone();
            }
        } else if was["id"] == 1 {
            was["closed_at"] = closed.clone();
        }
        assert_eq!(json_of(&status, key), was, "{key}");
    }
    // The first release's pages are rendered again in this release's look: the
    // archive and the 404 page are there, and every incident page links its month.
    for key in ["404.html", "history/2024-03.html"] {
        assert!(status.contains_key(key), "{key}");
    }
    let page = String::from_utf8_lossy(&status["incidents/1.html"]);
    assert!(
        page.contains("href=\"../history/2024-03.html#incident-1\""),
        "{page}"
    );
    let summary = json_of(&status, "data/summary.json");
    assert_eq!(summary["days"][0]["date"], json!("2024-03-01"), "{summary}");
    assert_no_dangling_link(&status);
    // A second run has nothing to do.
    assert_eq!(
        runner.publisher.migrate().await.unwrap(),
        Default::default()
    );

    // Updated as ever: incident 4 closes; an alert repeats.
    let (code, _) = send_text(&runner, &close_incident_4()).await;
    assert_eq!(code, 202);
    let repeat = with_new_delivery_id(&event_file("alerts", "001-two-alerts-fire.json"), "upgrade");
    assert_eq!(send_text(&runner, &repeat).await.0, 202);
    runner.drain().await;
    let status = tree(&dir.path().join("status"));
    let detail = json_of(&status, "data/incident/4.json");
    assert_eq!(
        (detail["status"].clone(), detail["stage"].clone()),
        (json!("closed"), json!("resolved"))
    );
    let list = json_of(&status, "data/list.json");
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2);
    assert_eq!(list["incidents"][0]["status"], "closed");
    let state = tree(&dir.path().join("state"));
    let s4 = json_of(&state, "incidents/42/4.json");
    assert_eq!(
        s4["decisions"],
        json_of(&old, "incidents/4.json")["decisions"],
        "the audit kept"
    );
    assert_eq!(runner.pending().await, 0);
    assert!(tree(dir.path()).keys().all(|k| !k.contains("/dead/")));
}

#[tokio::test]
async fn without_gitlab_project_id_the_earlier_project_is_kept() {
    let dir = release_1();
    let runner = embedded(dir.path(), &[("GITLAB_PROJECT_ID", "")]);
    // Before anything moved, an event of another project with the same iid is
    // refused...
    let raw = std::fs::read_to_string(event_file("gitlab-story", "001-issue-opened.json")).unwrap();
    let other = raw.replace("\\\"id\\\": 42", "\\\"id\\\": 77");
    assert_ne!(other, raw);
    let (code, reply) = send_text(&runner, &with_ids(&other, "other")).await;
    assert_eq!(code, 403, "{reply}");
    // ...and the earlier project's events are taken.
    let (code, _) = send_text(&runner, &close_incident_4()).await;
    assert_eq!(code, 202);
    runner.drain().await;
    let detail = json_of(&tree(&dir.path().join("status")), "data/incident/4.json");
    assert_eq!(detail["status"], "closed");
}

fn with_ids(event: &str, suffix: &str) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["headers"]["idempotency-key"] = json!(format!("upgrade-{suffix}"));
    v["headers"]["x-gitlab-event-uuid"] = json!(format!("upgrade-{suffix}"));
    v.to_string()
}

#[tokio::test]
async fn one_project_to_several_republishes_under_global_ids() {
    let dir = release_1();
    let runner = embedded(dir.path(), &[("GITLAB_PROJECT_ID", "42,77")]);
    let m = runner.publisher.migrate().await.unwrap();
    let mut renumbered = m.renumbered.clone();
    renumbered.sort();
    assert_eq!(renumbered, vec![(1, 1001), (4, 1004)]);
    let status = tree(&dir.path().join("status"));
    for gone in [
        "data/incident/1.json",
        "data/incident/4.json",
        "incidents/1.html",
        "incidents/4.html",
    ] {
        assert!(!status.contains_key(gone), "{gone} is still there");
    }
    let list = json_of(&status, "data/list.json");
    let ids: Vec<u64> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1004, 1001]);
    let detail = json_of(&status, "data/incident/1001.json");
    assert_eq!(detail["links"]["details"], "data/incident/1001.json");
    assert!(detail["title"].as_str().unwrap().starts_with("API errors"));
    assert_eq!(
        status[&UPLOAD.replace("/1/", "/1001/")],
        b"\x89PNG\r\n\x1a\n",
        "the upload moved with its incident"
    );
    let feed = String::from_utf8_lossy(&status["feed.atom"]).into_owned();
    assert!(feed.contains("/incidents/1001.html") && !feed.contains("/incidents/1.html"));
    assert_no_dangling_link(&status);
    // The next event goes to the new id.
    let (code, _) = send_text(&runner, &close_incident_4()).await;
    assert_eq!(code, 202);
    runner.drain().await;
    let status = tree(&dir.path().join("status"));
    assert_eq!(
        json_of(&status, "data/incident/1004.json")["status"],
        "closed"
    );
    assert!(!status.contains_key("data/incident/4.json"));
    assert_no_dangling_link(&status);
}

/// A copy of `tests/fixtures/<name>`'s `state/` and `status/`.
fn copy_of(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    for (key, bytes) in tree(&from) {
        if !(key.starts_with("state/") || key.starts_with("status/")) {
            continue;
        }
        let to = dir.path().join(&key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    dir
}

/// The second release's maintenance (its own fixture event) edited by `user` at `at`
/// to `description`, as a new delivery.
fn release_2_edit(user: &str, id: u64, description: &str, at: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/release-2/events/001-maintenance-published.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["user"] = json!({"id": id, "name": user, "username": user});
    body["changes"] = json!({"description": {"previous": "", "current": description},
        "updated_at": {"previous": "2026-12-06T21:00:00Z", "current": at}});
    let a = &mut body["object_attributes"];
    a["action"] = json!("update");
    a["description"] = json!(description);
    a["updated_at"] = json!(at);
    event["body"] = json!(body.to_string());
    let key = format!("upgrade-edit-{user}-{at}");
    event["headers"]["idempotency-key"] = json!(key);
    event["headers"]["x-gitlab-event-uuid"] = json!(key);
    event.to_string()
}

/// An Alertmanager alert of the second release's fixture (`002-…`) renamed.
fn release_2_alert(name: &str, component: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/release-2/events/002-disk-alert-held-by-mute.json");
    let raw = std::fs::read_to_string(file).unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let a = &mut body["alerts"][0];
    a["labels"]["alertname"] = json!(name);
    a["labels"]["component"] = json!(component);
    a["annotations"]["summary"] = json!(format!("{name} on {component}"));
    a["fingerprint"] = json!(format!("upgrade-{name}"));
    event["body"] = json!(body.to_string());
    event["headers"]["idempotency-key"] = json!(format!("upgrade-{name}"));
    event.to_string()
}

#[tokio::test]
async fn a_maintenance_of_the_second_release_mutes_as_before_and_only_a_publisher_changes_it() {
    let dir = copy_of("release-2");
    let old_state = tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-2/state"));
    let clock = ManualClock::at("2026-12-08T12:00:00Z");
    let runner =
        openmic_local::Runner::embedded_at(dir.path(), test_config(&[]), clock.clone()).unwrap();
    let state = |key: &str| json_of(&tree(&dir.path().join("state")), key);
    let mails = || tree(&dir.path().join("outbox")).len();
    // The first tick moves the buckets: nothing held is let go, nobody is mailed.
    runner.tick().await.unwrap();
    let mut moved = state("incidents/42/9.json");
    let effective = moved.as_object_mut().unwrap().remove("effective").unwrap();
    assert_eq!(
        moved,
        json_of(&old_state, "incidents/42/9.json"),
        "lost nothing"
    );
    assert_eq!(
        (&effective["by"], &effective["via"], &effective["at"]),
        (
            &json!("alice"),
            &json!("upgrade"),
            &json!("2026-12-06T21:00:00Z")
        ),
        "taken as of its publication"
    );
    assert_eq!(
        state("index/published.json")["layout"],
        json!(openmic::site::data::LAYOUT)
    );
    let was = json_of(&old_state, "index/maintenance.json")["maintenances"][0].clone();
    let now = state("index/maintenance.json")["maintenances"][0].clone();
    for field in ["id", "title", "window", "components", "mute"] {
        assert_eq!(now[field], was[field], "{field}");
    }
    assert_eq!(
        now["set_by"],
        json!({"by": "alice", "at": "2026-12-06T21:00:00Z"})
    );
    assert_eq!(now.get("widened"), None, "an upgrade widens nothing");
    assert_eq!(
        state("index/muted-alerts.json"),
        json_of(&old_state, "index/muted-alerts.json"),
        "both alerts still held"
    );
    assert_eq!(mails(), 0);

    // Someone who may not publish widens it to everything: a new critical alert of
    // another component is mailed all the same.
    let wide = "We upgrade the database to 17.\n\nWindow: 2026-12-06T20:00:00Z/P30D\nMute: alertname=~\".*\"";
    let (status, _) = send_text(
        &runner,
        &release_2_edit("mallory", 66, wide, "2026-12-08T12:00:00Z"),
    )
    .await;
    assert_eq!(status, 202);
    runner.drain().await;
    assert_eq!(state("index/maintenance.json")["maintenances"][0], now);
    let problems = state("incidents/42/9.json")["problems"].to_string();
    assert!(problems.contains("waits for a publisher"), "{problems}");
    send_text(&runner, &release_2_alert("HighLatency", "api")).await;
    runner.drain().await;
    assert_eq!(mails(), 1, "not held");

    // alice drops the Mute line: the alert it held goes at the next tick, once; the one
    // its component holds stays.
    clock.set("2026-12-08T12:10:00Z");
    let narrow = "We upgrade the database to 17.\n\nWindow: 2026-12-06T20:00:00Z/P7D";
    send_text(
        &runner,
        &release_2_edit("alice", 10, narrow, "2026-12-08T12:10:00Z"),
    )
    .await;
    runner.drain().await;
    runner.tick().await.unwrap();
    runner.tick().await.unwrap();
    let outbox: Vec<String> = tree(&dir.path().join("outbox"))
        .into_values()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .collect();
    assert_eq!(outbox.len(), 2, "the alert the Mute line held, once");
    assert!(
        outbox
            .iter()
            .any(|m| m.contains("DiskFull on web") && m.contains("fired during the maintenance"))
    );
    assert_eq!(
        state("index/muted-alerts.json")["alerts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
