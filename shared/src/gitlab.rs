//! Typed GitLab webhook payloads: Issue, Confidential Issue, Note, Confidential Note
//! and Emoji hooks. Unknown fields are ignored; only what openmic uses is typed.

use serde::{Deserialize, Serialize};

use crate::timefmt::{self, Timestamp};

/// The `X-Gitlab-Event` header values openmic takes.
pub const ACCEPTED_EVENTS: [&str; 5] = [
    "Issue Hook",
    "Confidential Issue Hook",
    "Note Hook",
    "Confidential Note Hook",
    "Emoji Hook",
];

/// Work item types that are not incidents or issues; their hooks are ignored.
const NON_ISSUE_WORK_ITEMS: [&str; 7] = [
    "Task",
    "Epic",
    "Objective",
    "Key Result",
    "Requirement",
    "Test Case",
    "Ticket",
];

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct User {
    #[serde(default)]
    pub id: Option<u64>,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Project {
    pub id: u64,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub path_with_namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Label {
    pub title: String,
}

/// `changes.<field>` of an Issue Hook.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Change<T> {
    #[serde(default = "Option::default")]
    pub previous: Option<T>,
    #[serde(default = "Option::default")]
    pub current: Option<T>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct IssueChanges {
    #[serde(default)]
    pub labels: Option<Change<Vec<Label>>>,
    #[serde(default)]
    pub confidential: Option<Change<bool>>,
}

/// The issue as the hooks carry it (`object_attributes` of an Issue Hook, `issue` of
/// Note and Emoji hooks).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Issue {
    pub id: u64,
    pub iid: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub description: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub confidential: bool,
    #[serde(deserialize_with = "timefmt::de")]
    pub created_at: Timestamp,
    #[serde(deserialize_with = "timefmt::de")]
    pub updated_at: Timestamp,
    #[serde(default, deserialize_with = "timefmt::de_opt")]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub labels: Option<Vec<Label>>,
    #[serde(default, rename = "type")]
    pub work_item_type: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// A comment, from a Note Hook's `object_attributes` or an Emoji Hook's `note`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Note {
    pub id: u64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub note: String,
    #[serde(default)]
    pub noteable_type: Option<String>,
    #[serde(default)]
    pub author_id: Option<u64>,
    #[serde(deserialize_with = "timefmt::de")]
    pub created_at: Timestamp,
    #[serde(deserialize_with = "timefmt::de")]
    pub updated_at: Timestamp,
    #[serde(default)]
    pub system: bool,
    /// Internal notes (GitLab 15+); older versions call it `confidential`.
    #[serde(default)]
    pub internal: Option<bool>,
    #[serde(default)]
    pub confidential: Option<bool>,
    #[serde(default)]
    pub action: Option<String>,
}

impl Note {
    pub fn is_internal(&self) -> bool {
        self.internal.unwrap_or(false) || self.confidential.unwrap_or(false)
    }
}

/// `object_attributes` of an Emoji Hook: one award or its revocation.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Award {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub user_id: Option<u64>,
    pub awardable_type: String,
    pub awardable_id: u64,
    #[serde(deserialize_with = "timefmt::de")]
    pub created_at: Timestamp,
    #[serde(default, deserialize_with = "timefmt::de_opt")]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssueHook {
    #[serde(default)]
    pub object_kind: Option<String>,
    pub user: User,
    pub project: Project,
    pub object_attributes: Issue,
    #[serde(default)]
    pub labels: Option<Vec<Label>>,
    #[serde(default)]
    pub changes: IssueChanges,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NoteHook {
    #[serde(default)]
    pub object_kind: Option<String>,
    pub user: User,
    pub project: Project,
    pub object_attributes: Note,
    #[serde(default)]
    pub issue: Option<Issue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmojiHook {
    #[serde(default)]
    pub object_kind: Option<String>,
    pub user: User,
    pub project: Project,
    pub object_attributes: Award,
    #[serde(default)]
    pub note: Option<Note>,
    #[serde(default)]
    pub issue: Option<Issue>,
}

/// One GitLab delivery that concerns an incident issue.
#[derive(Debug, Clone)]
pub enum Hook {
    Issue(IssueHook),
    Note(NoteHook),
    Emoji(EmojiHook),
}

/// Why a delivery needs no work, or why it cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    /// The delivery is valid but not for openmic (another kind, another noteable).
    #[error("{0}")]
    Ignored(String),
    /// The body cannot be read as the hook it claims to be.
    #[error("{0}")]
    Malformed(String),
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow, default)]
    object_kind: Option<std::borrow::Cow<'a, str>>,
}

impl Hook {
    /// Parses a delivery. `event` is the `X-Gitlab-Event` header, if any; the body's
    /// `object_kind` decides the shape.
    pub fn parse(event: Option<&str>, body: &[u8]) -> Result<Hook, HookError> {
        if let Some(event) = event
            && !ACCEPTED_EVENTS.contains(&event)
        {
            return Err(HookError::Ignored(format!(
                "event {event:?} is not handled"
            )));
        }
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(HookError::Malformed("body must be a JSON object".into()));
        }
        // The header names the shape: one typed pass, checked against the body's own
        // object_kind. Without a header, or if the two disagree, the body decides.
        if let Some(kind) = event.and_then(kind_of_event)
            && let Ok(hook) = Self::of_kind(kind, body)
            && hook
                .object_kind()
                .is_some_and(|k| kind_of_object(k) == Some(kind))
        {
            return Ok(hook);
        }
        let peek: Kind = serde_json::from_slice(body)
            .map_err(|e| HookError::Malformed(format!("body is not a JSON object: {e}")))?;
        let object_kind = peek
            .object_kind
            .ok_or_else(|| HookError::Malformed("missing field `object_kind`".into()))?;
        match kind_of_object(&object_kind) {
            Some(kind) => Self::of_kind(kind, body),
            None => Err(HookError::Ignored(format!(
                "object_kind {object_kind:?} is not handled"
            ))),
        }
    }

    /// Parses the body as the hook of `kind` (`issue`, `note` or `emoji`).
    fn of_kind(kind: &str, body: &[u8]) -> Result<Hook, HookError> {
        let hook = match kind {
            "issue" => {
                let hook: IssueHook = parse_shape(body, "issue")?;
                if let Some(t) = &hook.object_attributes.work_item_type
                    && NON_ISSUE_WORK_ITEMS.contains(&t.as_str())
                {
                    return Err(HookError::Ignored(format!("work item type {t:?}")));
                }
                Hook::Issue(hook)
            }
            "note" => {
                let hook: NoteHook = parse_shape(body, "note")?;
                match hook.object_attributes.noteable_type.as_deref() {
                    Some("Issue") => {}
                    other => {
                        return Err(HookError::Ignored(format!(
                            "note on {}",
                            other.unwrap_or("unknown noteable")
                        )));
                    }
                }
                if hook.issue.is_none() {
                    return Err(HookError::Malformed(
                        "note hook: missing field `issue`".into(),
                    ));
                }
                Hook::Note(hook)
            }
            "emoji" => {
                let hook: EmojiHook = parse_shape(body, "emoji")?;
                if hook.issue.is_none() {
                    return Err(HookError::Ignored(format!(
                        "award on {}",
                        hook.object_attributes.awardable_type
                    )));
                }
                match hook.object_attributes.awardable_type.as_str() {
                    "Issue" => {}
                    "Note" if hook.note.is_some() => {}
                    "Note" => {
                        return Err(HookError::Malformed(
                            "emoji hook: missing field `note`".into(),
                        ));
                    }
                    other => return Err(HookError::Ignored(format!("award on {other}"))),
                }
                Hook::Emoji(hook)
            }
            other => {
                return Err(HookError::Ignored(format!(
                    "object_kind {other:?} is not handled"
                )));
            }
        };
        Ok(hook)
    }

    /// The body's own `object_kind`.
    fn object_kind(&self) -> Option<&str> {
        match self {
            Hook::Issue(h) => h.object_kind.as_deref(),
            Hook::Note(h) => h.object_kind.as_deref(),
            Hook::Emoji(h) => h.object_kind.as_deref(),
        }
    }

    pub fn project(&self) -> &Project {
        match self {
            Hook::Issue(h) => &h.project,
            Hook::Note(h) => &h.project,
            Hook::Emoji(h) => &h.project,
        }
    }

    pub fn user(&self) -> &User {
        match self {
            Hook::Issue(h) => &h.user,
            Hook::Note(h) => &h.user,
            Hook::Emoji(h) => &h.user,
        }
    }

    /// The issue the delivery is about.
    pub fn issue(&self) -> &Issue {
        match self {
            Hook::Issue(h) => &h.object_attributes,
            // Both shapes are checked for an issue in `parse`.
            Hook::Note(h) => h.issue.as_ref().unwrap_or_else(|| unreachable!()),
            Hook::Emoji(h) => h.issue.as_ref().unwrap_or_else(|| unreachable!()),
        }
    }

    /// The incident's iid: the queue's message group.
    pub fn iid(&self) -> u64 {
        self.issue().iid
    }
}

/// The hook shape an `X-Gitlab-Event` header announces.
fn kind_of_event(event: &str) -> Option<&'static str> {
    match event {
        "Issue Hook" | "Confidential Issue Hook" => Some("issue"),
        "Note Hook" | "Confidential Note Hook" => Some("note"),
        "Emoji Hook" => Some("emoji"),
        _ => None,
    }
}

/// The hook shape of an `object_kind`.
fn kind_of_object(object_kind: &str) -> Option<&'static str> {
    match object_kind {
        "issue" | "work_item" => Some("issue"),
        "note" => Some("note"),
        "emoji" => Some("emoji"),
        _ => None,
    }
}

fn parse_shape<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| HookError::Malformed(format!("{what} hook: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> Vec<u8> {
        let path = format!("{}/../events/payloads/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn parses_gitlab_documentation_examples() {
        let issue = Hook::parse(Some("Issue Hook"), &reference("gitlab-issue-hook.json")).unwrap();
        assert_eq!(issue.iid(), 23);
        assert_eq!(issue.user().username, "root");
        let note = Hook::parse(Some("Note Hook"), &reference("gitlab-note-hook.json")).unwrap();
        assert_eq!(note.iid(), 17);
        let Hook::Note(n) = &note else {
            panic!("not a note")
        };
        assert_eq!(
            timefmt::format(&n.object_attributes.created_at),
            "2015-05-17T17:06:40.000Z"
        );
        let emoji = Hook::parse(Some("Emoji Hook"), &reference("gitlab-emoji-hook.json")).unwrap();
        assert_eq!(emoji.iid(), 42);
    }

    #[test]
    fn the_body_decides_when_the_header_disagrees() {
        let note = reference("gitlab-note-hook.json");
        let hook = Hook::parse(Some("Issue Hook"), &note).unwrap();
        assert!(matches!(hook, Hook::Note(_)), "{hook:?}");
        assert_eq!(hook.iid(), 17);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = Hook::parse(
            Some("Issue Hook"),
            br#"{"object_kind":"issue","user":{"username":"a"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, HookError::Malformed(m) if m.contains("project")),
            "{err:?}"
        );
        let err = Hook::parse(None, b"[1,2]").unwrap_err();
        assert!(matches!(err, HookError::Malformed(_)));
        let err = Hook::parse(Some("Push Hook"), b"{}").unwrap_err();
        assert!(matches!(err, HookError::Ignored(_)));
    }
}
