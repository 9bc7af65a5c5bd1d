//! A note published from chat: `update <iid> --public <text>` by a user whose 🎤
//! publishes (the publishing rules' own [`crate::ports::Authorizer`]) is published as
//! a 🎤 comment is: the publisher is handed the award as GitLab's Emoji Hook tells of
//! one, by the GitLab user the chat user acts as, on the note just made. The publisher
//! judges that user again by its own rules before anything reaches the page.

use serde_json::{Value, json};

use crate::errors::BackendError;
use crate::gitlab::{ApiIssue, ApiNote};
use crate::ids::IncidentId;
use crate::message::{self, Source};
use crate::ports::{ClaimStore, Queue};
use crate::publishing::incident::MICROPHONE;
use crate::time::{self, Timestamp};

/// The Emoji Hook of `by`'s 🎤 on `note` of `issue`, at `at`.
fn award_hook(project: u64, issue: &ApiIssue, note: &ApiNote, by: &str, at: Timestamp) -> Value {
    let at = time::format(&at);
    json!({
        "object_kind": "emoji",
        "event_type": "award",
        "openmic_via_chat": true,
        "user": {"username": by},
        "project_id": project,
        "project": {"id": project},
        "object_attributes": {
            "id": note.id,
            "name": MICROPHONE,
            "awardable_type": "Note",
            "awardable_id": note.id,
            "created_at": at,
            "updated_at": at,
            "action": "award",
        },
        "note": {
            "id": note.id,
            "project_id": project,
            "note": note.body,
            "noteable_type": "Issue",
            "created_at": time::format(&note.created_at),
            "updated_at": time::format(&note.updated_at),
            "system": false,
            "internal": note.is_internal(),
        },
        "issue": {
            "id": issue.id,
            "iid": issue.iid,
            "project_id": project,
            "title": issue.title,
            "description": issue.description.clone().unwrap_or_default(),
            "state": issue.state,
            "confidential": issue.confidential,
            "created_at": time::format(&issue.created_at),
            "updated_at": time::format(&issue.updated_at),
        },
    })
}

/// Queues `by`'s 🎤 on `note` for the publisher.
pub async fn queue_award(
    queue: &dyn Queue,
    claims: Option<&dyn ClaimStore>,
    id: IncidentId,
    issue: &ApiIssue,
    note: &ApiNote,
    by: &str,
    at: Timestamp,
) -> Result<(), BackendError> {
    let hook = award_hook(id.project, issue, note, by, at);
    let dedup = format!("chat-microphone-{}-{}", id.project, note.id);
    let text = message::compose_value(
        Source::Gitlab,
        Some("Emoji Hook"),
        &dedup,
        &time::format(&at),
        &hook,
    )
    .map_err(|e| BackendError::Permanent(e.to_string()))?;
    let out = message::outgoing(id.group(), dedup, text, claims).await?;
    queue.send(out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::hooks::Hook;

    #[test]
    fn the_award_reads_as_an_emoji_hook_on_the_note() {
        let t = time::parse("2024-03-05T10:00:00Z").unwrap();
        let issue = ApiIssue {
            id: 5012,
            iid: 12,
            title: "DB down".into(),
            description: Some("Bridge: https://call.example/1".into()),
            state: "opened".into(),
            confidential: false,
            created_at: t,
            updated_at: t,
            closed_at: None,
            labels: vec![],
            severity: None,
            web_url: None,
        };
        let note = ApiNote {
            id: 77,
            body: "Failover done".into(),
            author: crate::gitlab::ApiUser {
                id: 9,
                username: "openmic-bot".into(),
            },
            created_at: t,
            updated_at: t,
            system: false,
            internal: Some(false),
            confidential: None,
        };
        let body = award_hook(42, &issue, &note, "alice", t).to_string();
        let Hook::Emoji(h) = Hook::parse(Some("Emoji Hook"), body.as_bytes()).unwrap() else {
            panic!("not an emoji hook");
        };
        assert_eq!(h.user.username, "alice");
        assert!(h.openmic_via_chat);
        assert_eq!(h.object_attributes.awardable_id, 77);
        assert_eq!(h.object_attributes.name, MICROPHONE);
        assert_eq!(h.note.unwrap().note, "Failover done");
        assert_eq!(h.issue.unwrap().iid, 12);
    }
}
