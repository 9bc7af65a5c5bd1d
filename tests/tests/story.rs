//! The walking skeleton's story, end to end on the embedded backends: GitLab events
//! through the router and the publisher, and the status bucket checked key by key.

use openmic_tests::*;
use serde_json::json;

const DETAIL_1: &str = "data/incident/1.json";

#[tokio::test]
async fn gitlab_story_publishes_exactly_what_was_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let files = event_files("gitlab-story");
    assert_eq!(files.len(), 17);
    for (name, status) in replay_all(&runner, &files).await {
        assert_eq!(status, 202, "{name}");
    }
    assert_eq!(runner.pending().await, 0);

    let status = tree(&dir.path().join("status"));
    assert_eq!(
        data_keys(&status),
        vec![DETAIL_1, "data/list.json", "incidents/1.html"],
        "only incident 1 is public: 2 turned confidential, 3 was labelled by a stranger"
    );

    let detail = json_of(&status, DETAIL_1);
    let description = detail["description"].as_str().unwrap().to_owned();
    assert_eq!(
        detail,
        json!({
            "id": 1,
            "status": "closed",
            "title": "API errors 🔥 for Incident Responder&#39;s customers",
            "description": description,
            "created_at": "2024-03-01T09:00:00.000Z",
            "updated_at": "2024-03-01T10:00:00.000Z",
            "comments": [
                {
                    "note": "<p>We are looking into elevated error rates. cc Incident Responder</p>\n",
                    "created_at": "2024-03-01T09:05:00.000Z"
                }
            ],
            "links": { "details": "data/incident/1.json" },
            "severity": "high",
            "stage": "resolved",
            "closed_at": "2024-03-01T10:00:00.000Z"
        }),
        "one comment: the publisher's microphone on bob's note; not the internal note, not the \
         stranger's microphone, not the revoked one"
    );
    // The description: rendered markdown, mentions replaced, the upload pointed at the
    // bucket, the later edit kept and the stale update ignored.
    for want in [
        "<p>Requests to the API fail for some users. Incident Responder is on it; escalated by Incident Responder.</p>",
        "<td>eu-west</td>",
        r#"<input type="checkbox" class="task-list-item-checkbox" checked="" disabled="" />"#,
        r#"<img src="data/incident/1/0123456789abcdef0123456789abcdef/errors.png" alt="error rate" class="gl-image" />"#,
        "📈",
        "<p>Update: error rates are back to normal in eu-west.</p>",
    ] {
        assert!(
            description.contains(want),
            "description lacks {want:?}:\n{description}"
        );
    }
    for leak in ["carol", "oncall", "@", "Stale", "password", "alice", "bob"] {
        assert!(
            !detail.to_string().contains(leak),
            "{leak:?} leaked: {detail}"
        );
    }

    let mut summary = detail.clone();
    summary.as_object_mut().unwrap().remove("comments");
    assert_eq!(
        json_of(&status, "data/list.json"),
        json!({ "incidents": [summary] })
    );

    // The private state keeps the audit: the stranger's label was refused; incident 2
    // was published and then unpublished by becoming confidential.
    let state = tree(&dir.path().join("state"));
    let s3 = json_of(&state, "incidents/42/3.json");
    assert_eq!(
        s3["decisions"],
        json!([{"at": "2024-03-03T08:00:00Z", "action": "publish", "via": "label", "by": "mallory", "allowed": false}])
    );
    let s2 = json_of(&state, "incidents/42/2.json");
    let actions: Vec<_> = s2["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["action"].clone(), d["via"].clone()))
        .collect();
    assert_eq!(
        actions,
        vec![
            (json!("publish"), json!("label")),
            (json!("unpublish"), json!("confidential"))
        ]
    );
    assert_eq!(s2["issue"]["confidential"], json!(true));
    let s1 = json_of(&state, "incidents/42/1.json");
    assert_eq!(s1["notes"]["102"]["internal"], json!(true));
    assert_eq!(
        s1["notes"]["104"]["microphones"]["alice"]["awarded"],
        json!(false)
    );
    assert_eq!(
        s1["notes"]["103"]["microphones"]["mallory"]["trusted"],
        json!(false)
    );
    assert_eq!(
        json_of(&state, "index/published.json")["incidents"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn replaying_the_story_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let files = event_files("gitlab-story");
    replay_all(&runner, &files).await;
    let first = (
        tree(&dir.path().join("status")),
        tree(&dir.path().join("state")),
    );
    // The same deliveries again (as SQS may redeliver), then in reverse order with new
    // delivery ids, so deduplication cannot hide anything: the merge rules must.
    replay_all(&runner, &files).await;
    assert_eq!(tree(&dir.path().join("status")), first.0);
    assert_eq!(tree(&dir.path().join("state")), first.1);
    resend_all(&runner, &files, "again").await;
    let mut reversed = files.clone();
    reversed.reverse();
    resend_all(&runner, &reversed, "reversed").await;
    assert_eq!(tree(&dir.path().join("status")), first.0);
    assert_eq!(tree(&dir.path().join("state")), first.1);
}

#[tokio::test]
async fn events_in_reverse_order_give_the_same_bucket() {
    let forward = tempfile::tempdir().unwrap();
    let runner = embedded(forward.path(), &[]);
    let files = event_files("gitlab-story");
    replay_all(&runner, &files).await;

    let backward = tempfile::tempdir().unwrap();
    let runner = embedded(backward.path(), &[]);
    let mut reversed = files.clone();
    reversed.reverse();
    replay_all(&runner, &reversed).await;
    assert_eq!(
        tree(&backward.path().join("status")),
        tree(&forward.path().join("status"))
    );
}

#[tokio::test]
async fn unpublish_by_label_removal_deletes_detail_files_and_list_entry() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    replay_all(&runner, &event_files("gitlab-story")[..7]).await;
    // A file under the incident's prefix (as the attachment copy will write).
    std::fs::create_dir_all(
        dir.path()
            .join("status/data/incident/1/0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    std::fs::write(
        dir.path()
            .join("status/data/incident/1/0123456789abcdef0123456789abcdef/errors.png"),
        b"png",
    )
    .unwrap();
    assert!(tree(&dir.path().join("status")).contains_key(DETAIL_1));

    let text =
        std::fs::read_to_string(event_file("gitlab-story", "007-label-by-publisher.json")).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut body: serde_json::Value =
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    // bob removes the label later: anyone who may change labels may take it down.
    body["user"] = json!({"id": 11, "username": "bob", "name": "Bob"});
    body["object_attributes"]["updated_at"] = json!("2024-03-01T11:00:00Z");
    let current = body["changes"]["labels"]["current"].clone();
    body["changes"]["labels"]["previous"] = current;
    body["changes"]["labels"]["current"] = json!([{"title": "incident"}]);
    body["object_attributes"]["labels"] = json!([{"title": "incident"}]);
    body["labels"] = json!([{"title": "incident"}]);
    event["body"] = json!(body.to_string());
    event["headers"]["idempotency-key"] = json!("label-removed");
    let (status, _) = send_text(&runner, &event.to_string()).await;
    assert_eq!(status, 202);
    runner.drain().await;
    let status = tree(&dir.path().join("status"));
    assert_eq!(data_keys(&status), vec!["data/list.json"]);
    assert_eq!(json_of(&status, "data/list.json"), json!({"incidents": []}));
}

#[tokio::test]
async fn publish_and_unpublish_commands() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    // Incident 1 opened without the label, then "/publish" by bob (refused), then by
    // alice, then "/unpublish" by alice.
    replay_all(&runner, &event_files("gitlab-story")[..1]).await;
    let note = |user: &str, uid: u64, id: u64, text: &str, at: &str| {
        let raw =
            std::fs::read_to_string(event_file("gitlab-story", "002-note-by-bob.json")).unwrap();
        let mut event: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let mut body: serde_json::Value =
            serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["user"] = json!({"id": uid, "username": user});
        body["object_attributes"]["id"] = json!(id);
        body["object_attributes"]["note"] = json!(text);
        body["object_attributes"]["created_at"] = json!(at);
        body["object_attributes"]["updated_at"] = json!(at);
        event["body"] = json!(body.to_string());
        event["headers"]["idempotency-key"] = json!(format!("note-{id}"));
        event.to_string()
    };
    let public = |dir: &std::path::Path| tree(&dir.join("status")).contains_key(DETAIL_1);
    send_text(
        &runner,
        &note(
            "bob",
            11,
            201,
            "Status update\n/publish",
            "2024-03-01T09:30:00Z",
        ),
    )
    .await;
    runner.drain().await;
    assert!(!public(dir.path()), "bob may not publish");
    send_text(
        &runner,
        &note("alice", 10, 202, "/publish", "2024-03-01T09:31:00Z"),
    )
    .await;
    runner.drain().await;
    assert!(public(dir.path()), "alice publishes with /publish");
    send_text(
        &runner,
        &note("bob", 11, 203, "/unpublish", "2024-03-01T09:32:00Z"),
    )
    .await;
    runner.drain().await;
    assert!(public(dir.path()), "bob may not unpublish by command");
    send_text(
        &runner,
        &note("alice", 10, 204, "/unpublish", "2024-03-01T09:33:00Z"),
    )
    .await;
    runner.drain().await;
    assert!(!public(dir.path()), "alice unpublishes with /unpublish");
}

/// GitLab Free: scoped labels do not replace each other. An incident goes from
/// investigating to monitoring, then back to identified; every earlier `status::`
/// label stays on the issue, and the page shows the one added last.
#[tokio::test]
async fn on_gitlab_free_the_page_shows_the_status_label_added_last() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let labels = |ls: &[&str]| ls.iter().map(|l| json!({"title": l})).collect::<Vec<_>>();
    let hook = |n: u32, at: &str, action: &str, from: &[&str], to: &[&str]| {
        let mut body = json!({
            "object_kind": "issue",
            "event_type": "issue",
            "user": {"id": 1, "name": "Alice", "username": "alice"},
            "project": {"id": 42, "path_with_namespace": "ops/api", "web_url": "https://gitlab.example.com/ops/api"},
            "object_attributes": {
                "id": 9001, "iid": 5, "title": "Checkout fails", "description": "Payments time out.",
                "state": "opened", "confidential": false, "action": action,
                "created_at": "2024-03-01T09:00:00Z", "updated_at": at, "labels": labels(to)
            },
            "labels": labels(to),
        });
        if action == "update" {
            body["changes"] = json!({"labels": {"previous": labels(from), "current": labels(to)}});
        }
        gitlab_event(
            &body.to_string(),
            false,
            json!({"idempotency-key": format!("free-{n}")}),
        )
    };
    let (pg, inv, mon, ide) = (
        "status-page",
        "status::investigating",
        "status::monitoring",
        "status::identified",
    );
    let story = [
        hook(1, "2024-03-01T09:00:00Z", "open", &[], &[pg, inv]),
        hook(
            2,
            "2024-03-01T09:10:00Z",
            "update",
            &[pg, inv],
            &[pg, inv, mon],
        ),
        // Back to identified: investigating and monitoring stay, as Free keeps them.
        hook(
            3,
            "2024-03-01T09:20:00Z",
            "update",
            &[pg, inv, mon],
            &[pg, inv, mon, ide],
        ),
    ];
    let mut stages = Vec::new();
    for event in &story {
        let path = dir.path().join("event.json");
        std::fs::write(&path, event).unwrap();
        assert_eq!(runner.replay(&path).await.unwrap(), 202);
        let status = tree(&dir.path().join("status"));
        stages.push(json_of(&status, "data/incident/5.json")["stage"].clone());
    }
    assert_eq!(
        stages,
        [
            json!("investigating"),
            json!("monitoring"),
            json!("identified")
        ]
    );
    // The same changes delivered again, in another order, change nothing.
    for (n, event) in story.iter().enumerate().rev() {
        let path = dir.path().join("event.json");
        std::fs::write(&path, event.replace("free-", &format!("again-{n}-"))).unwrap();
        assert_eq!(runner.replay(&path).await.unwrap(), 202);
    }
    let status = tree(&dir.path().join("status"));
    assert_eq!(
        json_of(&status, "data/incident/5.json")["stage"],
        "identified"
    );
}
