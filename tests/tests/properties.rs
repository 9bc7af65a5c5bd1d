//! Property tests (proptest) on the embedded backends, each case in its own temporary
//! directory:
//!
//! - any order of the 17 story events, with some of them sent again as new deliveries,
//!   gives the same status bucket as the story in order;
//! - any sequence of publish and unpublish requests (label added or removed, `/publish`
//!   and `/unpublish` notes, by a publisher or not) and confidential flips on one issue,
//!   with increasing timestamps, ends with the bucket the final state implies: the
//!   incident is public iff the latest allowed decision is a publish, the issue is not
//!   confidential, and it was not made confidential after that publish.
//!
//! The second property found that every hook of a confidential issue recorded a fresh
//! unpublish (fixed in 8259878); fuzz_regressions.rs keeps the minimal sequence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use openmic_local::Runner;
use openmic_tests::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};
use serde_json::{Value, json};

const DETAIL_1: &str = "data/incident/1.json";
const PAGE_1: &str = "incidents/1.html";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A case replays a whole story: keep shrinking short, and write no files.
        max_shrink_iters: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Sends an event and handles it to the end; the reply must be 202.
async fn deliver(runner: &Runner, event: &str, what: &str) -> Result<(), TestCaseError> {
    let (status, body) = send_text(runner, event).await;
    prop_assert_eq!(status, 202, "{}: {}", what, body);
    runner.drain().await;
    Ok(())
}

// ---- (a) any order of the story, with repeats ----------------------------------------

static STORY: LazyLock<Vec<PathBuf>> = LazyLock::new(|| event_files("gitlab-story"));

/// The status bucket of the story replayed in order.
static IN_ORDER: LazyLock<BTreeMap<String, Vec<u8>>> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let runner = embedded(dir.path(), &[]);
        for (name, status) in replay_all(&runner, &STORY).await {
            assert_eq!(status, 202, "{name}");
        }
    });
    tree(&dir.path().join("status"))
});

/// A permutation of the story's events, and repeats: (event, position to insert at).
fn shuffled_story() -> impl Strategy<Value = (Vec<usize>, Vec<(usize, usize)>)> {
    let n = STORY.len();
    (
        Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec((0..n, 0..=n), 0..6),
    )
}

#[test]
fn any_order_with_repeats_gives_the_same_bucket() {
    assert_eq!(STORY.len(), 17);
    let want = &*IN_ORDER;
    let rt = runtime();
    proptest!(config(24), |((order, repeats) in shuffled_story())| {
        let mut sequence: Vec<(usize, Option<usize>)> = order.iter().map(|&i| (i, None)).collect();
        for (k, &(event, at)) in repeats.iter().enumerate() {
            sequence.insert(at.min(sequence.len()), (event, Some(k)));
        }
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let runner = embedded(dir.path(), &[]);
            for &(i, repeat) in &sequence {
                let file = &STORY[i];
                let text = match repeat {
                    None => std::fs::read_to_string(file).unwrap(),
                    Some(k) => with_new_delivery_id(file, &format!("repeat-{k}")),
                };
                deliver(&runner, &text, &file.display().to_string()).await?;
            }
            Ok::<_, TestCaseError>(())
        })?;
        let got = tree(&dir.path().join("status"));
        let names: Vec<String> = sequence
            .iter()
            .map(|&(i, r)| {
                let name = STORY[i].file_name().unwrap().to_string_lossy()[..3].to_owned();
                if r.is_some() { format!("{name}*") } else { name }
            })
            .collect();
        prop_assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "keys differ for the order {:?}",
            names
        );
        for (key, bytes) in want {
            prop_assert!(
                got[key] == *bytes,
                "{} differs for the order {:?}:\n got: {}\nwant: {}",
                key,
                names,
                String::from_utf8_lossy(&got[key]),
                String::from_utf8_lossy(bytes)
            );
        }
    });
}

// ---- (b) publish, unpublish and confidential flips ------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// In PUBLISHERS.
    Alice,
    /// A developer, not a publisher.
    Bob,
}

impl Who {
    fn user(self) -> Value {
        match self {
            Who::Alice => json!({"id": 10, "name": "Alice Admin", "username": "alice"}),
            Who::Bob => json!({"id": 11, "name": "Bob Builder", "username": "bob"}),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// The publish label added.
    LabelAdded(Who),
    /// The publish label removed: an unpublish, whoever does it.
    LabelRemoved(Who),
    /// A note with a line `/publish`.
    PublishNote(Who),
    /// A note with a line `/unpublish`.
    UnpublishNote(Who),
    /// The issue turns confidential, or back.
    FlipConfidential,
}

fn op() -> impl Strategy<Value = Op> {
    let who = prop_oneof![3 => Just(Who::Alice), 1 => Just(Who::Bob)];
    prop_oneof![
        who.clone().prop_map(Op::LabelAdded),
        who.clone().prop_map(Op::LabelRemoved),
        who.clone().prop_map(Op::PublishNote),
        who.prop_map(Op::UnpublishNote),
        Just(Op::FlipConfidential),
    ]
}

/// What the rules say, kept alongside the events.
#[derive(Debug, Default)]
struct Model {
    confidential: bool,
    labelled: bool,
    /// The latest allowed decision: true for a publish. Becoming confidential is an
    /// unpublish.
    last_allowed_publish: Option<bool>,
    /// When the issue last changed (what note hooks carry as the issue's updated_at).
    issue_updated: String,
}

impl Model {
    fn public(&self) -> bool {
        !self.confidential && self.last_allowed_publish == Some(true)
    }
}

fn at(minute: usize) -> String {
    format!("2024-03-01T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60)
}

fn label(title: &str, id: u64) -> Value {
    json!({"id": id, "title": title, "color": "#dc143c", "project_id": 42, "type": "ProjectLabel"})
}

fn labels(with_publish_label: bool) -> Value {
    let mut l = vec![label("incident", 501)];
    if with_publish_label {
        l.push(label("status-page", 500));
    }
    Value::Array(l)
}

fn template(name: &str) -> (Value, Value) {
    let text = std::fs::read_to_string(event_file("gitlab-story", name)).unwrap();
    let event: Value = serde_json::from_str(&text).unwrap();
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    (event, body)
}

fn finish(mut event: Value, body: Value, hook: &str, key: &str) -> String {
    event["body"] = json!(body.to_string());
    event["headers"]["x-gitlab-event"] = json!(hook);
    event["headers"]["idempotency-key"] = json!(key);
    event["headers"]["x-gitlab-event-uuid"] = json!(key);
    event.to_string()
}

/// An Issue Hook for incident 1 as the model now stands, with `changes`.
fn issue_event(m: &Model, who: Who, when: &str, changes: Value, key: &str) -> String {
    let (event, mut body) = template("007-label-by-publisher.json");
    body["user"] = who.user();
    let attrs = &mut body["object_attributes"];
    attrs["updated_at"] = json!(when);
    attrs["confidential"] = json!(m.confidential);
    attrs["labels"] = labels(m.labelled);
    attrs["action"] = json!("update");
    body["labels"] = labels(m.labelled);
    body["event_type"] = json!(if m.confidential {
        "confidential_issue"
    } else {
        "issue"
    });
    body["changes"] = changes;
    let hook = if m.confidential {
        "Confidential Issue Hook"
    } else {
        "Issue Hook"
    };
    finish(event, body, hook, key)
}

/// A note on incident 1 by `who`, as GitLab sends it for the issue as it now stands.
fn note_event(m: &Model, who: Who, id: u64, text: &str, when: &str, key: &str) -> String {
    let (event, mut body) = template("002-note-by-bob.json");
    body["user"] = who.user();
    let note = &mut body["object_attributes"];
    note["id"] = json!(id);
    note["note"] = json!(text);
    note["author_id"] = who.user()["id"].clone();
    note["created_at"] = json!(when);
    note["updated_at"] = json!(when);
    let issue = &mut body["issue"];
    issue["confidential"] = json!(m.confidential);
    issue["updated_at"] = json!(m.issue_updated);
    issue["labels"] = labels(m.labelled);
    // Notes on a confidential issue come as Confidential Note Hooks.
    let hook = if m.confidential {
        "Confidential Note Hook"
    } else {
        "Note Hook"
    };
    finish(event, body, hook, key)
}

/// Applies one operation to the model and returns the event that carries it.
fn step(m: &mut Model, op: Op, minute: usize) -> String {
    let when = at(minute);
    let key = format!("op-{minute}");
    match op {
        Op::LabelAdded(who) | Op::LabelRemoved(who) => {
            let added = matches!(op, Op::LabelAdded(_));
            m.labelled = added;
            m.issue_updated = when.clone();
            if !added {
                m.last_allowed_publish = Some(false);
            } else if who == Who::Alice {
                m.last_allowed_publish = Some(true);
            }
            let changes = json!({
                "updated_at": {"previous": null, "current": when},
                "labels": {"previous": labels(!added), "current": labels(added)},
            });
            issue_event(m, who, &when, changes, &key)
        }
        Op::PublishNote(who) | Op::UnpublishNote(who) => {
            let publish = matches!(op, Op::PublishNote(_));
            if who == Who::Alice {
                m.last_allowed_publish = Some(publish);
            }
            let text = if publish {
                "Status update\n/publish"
            } else {
                "/unpublish"
            };
            note_event(m, who, 1000 + minute as u64, text, &when, &key)
        }
        Op::FlipConfidential => {
            m.confidential = !m.confidential;
            m.issue_updated = when.clone();
            if m.confidential {
                m.last_allowed_publish = Some(false);
            }
            let changes = json!({
                "updated_at": {"previous": null, "current": when},
                "confidential": {"previous": !m.confidential, "current": m.confidential},
            });
            issue_event(m, Who::Bob, &when, changes, &key)
        }
    }
}

fn public_keys(status: &Path) -> (bool, bool, bool) {
    let t = tree(status);
    let listed = t
        .get("data/list.json")
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .is_some_and(|l| {
            l["incidents"]
                .as_array()
                .is_some_and(|a| a.iter().any(|i| i["id"] == json!(1)))
        });
    (t.contains_key(DETAIL_1), t.contains_key(PAGE_1), listed)
}

#[test]
fn publish_unpublish_and_confidential_flips_end_as_the_state_implies() {
    let rt = runtime();
    proptest!(config(48), |(ops in prop::collection::vec(op(), 1..12))| {
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let runner = embedded(dir.path(), &[]);
            // Incident 1 opened by alice without the publish label.
            replay_all(&runner, &STORY[..1]).await;
            let mut model = Model {
                issue_updated: "2024-03-01T09:00:00Z".into(),
                ..Model::default()
            };
            for (i, &op) in ops.iter().enumerate() {
                let event = step(&mut model, op, i + 1);
                deliver(&runner, &event, &format!("{op:?}")).await?;
            }
            let public = model.public();
            let (detail, page, listed) = public_keys(&dir.path().join("status"));
            prop_assert_eq!(
                (detail, page, listed),
                (public, public, public),
                "after {:?} the model says public={} ({:?})",
                ops,
                public,
                model
            );
            Ok::<_, TestCaseError>(())
        })?;
    });
}
