//! What GitLab, Alertmanager and Grafana really send: every body of
//! `tests/fixtures/real/` (captured by other public projects; `SOURCES.md` names each
//! one's origin) through intake and processing, with the outcome `expected.json` gives
//! it. Issue-shaped hooks are queued and merged, others ignored; firing alerts are
//! mailed; nothing is refused and nothing reaches a dead-letter folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use openmic_tests::*;
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real")
}

fn expected() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn body(file: &str) -> String {
    std::fs::read_to_string(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The project a corpus file came from, by its name (`NNN-<source>-...`).
fn source_of(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    let rest = name.split_once('-').map_or(name, |(_, r)| r);
    [
        "go-gitlab",
        "go-playground",
        "gitlab-docs",
        "grafana-docs",
        "prometheus-msteams",
        "prometheus_bot",
    ]
    .into_iter()
    .find(|s| rest.starts_with(s))
    .map_or_else(
        || rest.split('-').next().unwrap_or(rest).to_owned(),
        str::to_owned,
    )
}

fn dead_letters(dir: &Path) -> Vec<String> {
    tree(dir)
        .keys()
        .filter(|k| k.contains("/dead/"))
        .cloned()
        .collect()
}

#[test]
fn the_corpus_is_whole_and_every_file_has_an_expectation() {
    let listed: BTreeSet<String> = expected()
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_owned())
        .collect();
    let mut on_disk = BTreeSet::new();
    for folder in ["gitlab", "alerts"] {
        for e in std::fs::read_dir(corpus().join(folder)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            on_disk.insert(format!("{folder}/{name}"));
        }
    }
    assert_eq!(listed, on_disk);
    let sources = std::fs::read_to_string(corpus().join("SOURCES.md")).unwrap();
    for f in &on_disk {
        let name = f.rsplit('/').next().unwrap();
        assert!(sources.contains(name), "SOURCES.md does not name {f}");
    }
    let gitlab = on_disk.iter().filter(|f| f.starts_with("gitlab/")).count();
    let alerts = on_disk.len() - gitlab;
    assert!(
        gitlab >= 40 && alerts >= 20,
        "{gitlab} hooks, {alerts} alert bodies"
    );
}

/// A hook's project, wherever its GitLab version put it.
fn project_of(hook: &Value) -> u64 {
    [
        &hook["project"]["id"],
        &hook["project_id"],
        &hook["object_attributes"]["project_id"],
        &hook["issue"]["project_id"],
    ]
    .into_iter()
    .find_map(Value::as_u64)
    .unwrap_or_else(|| panic!("no project in {hook}"))
}

#[tokio::test]
async fn every_real_gitlab_hook_is_taken_or_ignored_as_expected() {
    let cases: Vec<Value> = expected()
        .into_iter()
        .filter(|e| e["file"].as_str().unwrap().starts_with("gitlab/"))
        .collect();
    let hook =
        |e: &Value| -> Value { serde_json::from_str(&body(e["file"].as_str().unwrap())).unwrap() };
    // Every project the queued hooks belong to: several projects on one page.
    let projects: BTreeSet<u64> = cases
        .iter()
        .filter(|e| e["expect"] == "queued")
        .map(|e| project_of(&hook(e)))
        .collect();
    let list = projects
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("GITLAB_PROJECT_ID", &list)]);
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (n, e) in cases.iter().enumerate() {
        let file = e["file"].as_str().unwrap();
        let headers = json!({
            "x-gitlab-event": e["event"],
            "idempotency-key": format!("real-{n}"),
        });
        let (status, reply) = send_text(&runner, &gitlab_event(&body(file), false, headers)).await;
        let want = match e["expect"].as_str().unwrap() {
            "queued" => (202, json!({"queued": 1})),
            _ => (200, reply.clone()),
        };
        assert_eq!((status, &reply), (want.0, &want.1), "{file}: {}", e["why"]);
        if status == 200 {
            assert!(reply["ignored"].is_string(), "{file}: {reply}");
        }
        runner.drain().await;
        let source = source_of(file);
        *counts
            .entry((source, e["expect"].as_str().unwrap().to_owned()))
            .or_default() += 1;
    }
    assert_eq!(dead_letters(dir.path()), Vec::<String>::new());
    // Every queued hook reached its incident's state, kept apart by project.
    let state = tree(&dir.path().join("state"));
    for e in cases.iter().filter(|e| e["expect"] == "queued") {
        let hook = hook(e);
        let issue = [
            &hook["object_attributes"],
            &hook["issue"],
            &hook["work_item"],
        ]
        .into_iter()
        .find(|i| i["iid"].is_u64())
        .unwrap();
        let key = format!("incidents/{}/{}.json", project_of(&hook), issue["iid"]);
        assert_eq!(
            json_of(&state, &key)["issue"]["id"],
            issue["id"],
            "{}",
            e["file"]
        );
    }
    println!("GitLab hooks by source and outcome: {counts:?}");
}

#[tokio::test]
async fn every_real_alert_body_is_read_and_every_firing_alert_mailed() {
    let cases: Vec<Value> = expected()
        .into_iter()
        .filter(|e| e["file"].as_str().unwrap().starts_with("alerts/"))
        .collect();
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in &cases {
        let file = e["file"].as_str().unwrap();
        let text = body(file);
        let dir = tempfile::tempdir().unwrap();
        // Every notice on its own: a batch of more than ten would be a storm's digest.
        let runner = embedded(dir.path(), &[("ALERT_DIGEST_AFTER", "off")]);
        let (status, reply) = send_text(
            &runner,
            &alerts_event(&text, &format!("Bearer {ALERT_TOKEN}")),
        )
        .await;
        let alerts = e["alerts"].as_u64().unwrap();
        if alerts == 0 {
            assert_eq!(status, 200, "{file}: {reply}");
            assert!(reply["ignored"].is_string(), "{file}: {reply}");
        } else {
            assert_eq!(
                (status, &reply),
                (202, &json!({"queued": alerts})),
                "{file}: {}",
                e["why"]
            );
        }
        runner.drain().await;
        assert_eq!(dead_letters(dir.path()), Vec::<String>::new(), "{file}");
        let firing = e["firing"].as_u64().unwrap() as usize;
        let outbox = tree(&dir.path().join("outbox"));
        assert_eq!(outbox.len(), firing, "{file}: one mail per firing alert");
        let state = tree(&dir.path().join("state"));
        let triggered = state
            .iter()
            .filter(|(k, _)| k.starts_with("alerts/"))
            .filter(|(k, _)| json_of(&state, k)["status"] == "triggered")
            .count();
        assert_eq!(triggered, firing, "{file}");
        // Grafana's links reach the mail.
        let sent: String = outbox
            .values()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        let raw: Value = serde_json::from_str(&text).unwrap();
        for a in raw["alerts"].as_array().into_iter().flatten() {
            if a["status"] == "firing"
                && let Some(url) = a["silenceURL"].as_str()
            {
                let host = url.split('/').nth(2).unwrap();
                assert!(
                    sent.contains("Silence:") && sent.contains(host),
                    "{file}: the silence link is not in the mail"
                );
            }
        }
        let entry = counts
            .entry(format!(
                "{} {}",
                source_of(file),
                e["format"].as_str().unwrap()
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += alerts as usize;
    }
    println!("alert bodies (files, alerts) by format: {counts:?}");
}
