//! Typed GitLab webhook payloads: Issue, Confidential Issue, Note, Confidential Note
//! and Emoji hooks. Unknown fields are ignored; only what openmic uses is typed.

use serde::{Deserialize, Serialize};

use openmic_core::time::{self, Timestamp};

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

/// Who acted. Older GitLab sends no `id`; a hook without `user` at all acts for nobody
/// (whose actions are never allowed to publish).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct User {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub username: String,
}

/// The project. GitLab before 9 sends no `id` here; the hook's or the object's
/// `project_id` gives it then.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Project {
    #[serde(default)]
    pub id: Option<u64>,
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
    /// Present when the event changed the description (which may decide what alerts
    /// do: a maintenance's `Window:` and `Mute:` lines).
    #[serde(default)]
    pub description: Option<Changed>,
}

/// That a field changed, whatever the change says of its values (only its presence is
/// read, so no shape of them makes the hook unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed;

impl<'de> Deserialize<'de> for Changed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Changed, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Changed)
    }
}

/// The issue as the hooks carry it (`object_attributes` of an Issue Hook, `issue` of
/// Note and Emoji hooks).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Issue {
    pub id: u64,
    pub iid: u64,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub description: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub confidential: bool,
    #[serde(default = "time::unknown", deserialize_with = "time::de_or_unknown")]
    pub created_at: Timestamp,
    #[serde(default = "time::unknown", deserialize_with = "time::de_or_unknown")]
    pub updated_at: Timestamp,
    #[serde(default, deserialize_with = "time::de_opt_lenient")]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default, deserialize_with = "lenient_labels")]
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
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub note: String,
    #[serde(default)]
    pub noteable_type: Option<String>,
    #[serde(default)]
    pub author_id: Option<u64>,
    #[serde(default = "time::unknown", deserialize_with = "time::de_or_unknown")]
    pub created_at: Timestamp,
    #[serde(default = "time::unknown", deserialize_with = "time::de_or_unknown")]
    pub updated_at: Timestamp,
    #[serde(default, deserialize_with = "lenient_bool")]
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
    #[serde(default = "time::unknown", deserialize_with = "time::de_or_unknown")]
    pub created_at: Timestamp,
    #[serde(default, deserialize_with = "time::de_opt_lenient")]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IssueHook {
    #[serde(default)]
    pub object_kind: Option<String>,
    #[serde(default)]
    pub user: User,
    /// None for a group-level work item (an epic): never an incident of a project.
    #[serde(default)]
    pub project: Option<Project>,
    #[serde(default)]
    pub project_id: Option<u64>,
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
    #[serde(default)]
    pub user: User,
    /// None for a group-level work item (an epic): never an incident of a project.
    #[serde(default)]
    pub project: Option<Project>,
    #[serde(default)]
    pub project_id: Option<u64>,
    pub object_attributes: Note,
    #[serde(default)]
    pub issue: Option<Issue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmojiHook {
    #[serde(default)]
    pub object_kind: Option<String>,
    #[serde(default)]
    pub user: User,
    /// None for a group-level work item (an epic): never an incident of a project.
    #[serde(default)]
    pub project: Option<Project>,
    #[serde(default)]
    pub project_id: Option<u64>,
    pub object_attributes: Award,
    #[serde(default)]
    pub note: Option<Note>,
    #[serde(default)]
    pub issue: Option<Issue>,
    /// GitLab 17.9+: an award on an issue carries it here rather than under `issue`.
    #[serde(default)]
    pub work_item: Option<Box<Issue>>,
    /// GitLab 17.9+: `award` or `revoke`, where `object_attributes.action` is gone.
    #[serde(default)]
    pub event_type: Option<String>,
    /// openmic's own: a 🎤 given from chat (`/incident update --public`), which has no
    /// award in GitLab for a resync to read back.
    #[serde(default)]
    pub openmic_via_chat: bool,
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
        let mut hook = match kind {
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
                let hook: NoteHook =
                    parse_shape(body, "note").map_err(|e| ignore_foreign(body, e))?;
                match hook.object_attributes.noteable_type.as_deref() {
                    Some("Issue" | "WorkItem") => {}
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
                let mut hook: EmojiHook =
                    parse_shape(body, "emoji").map_err(|e| ignore_foreign(body, e))?;
                // Both shapes in one: the issue under `issue`, the action in the award.
                if hook.issue.is_none() {
                    hook.issue = hook.work_item.take().map(|i| *i);
                }
                if hook.object_attributes.action.is_none() {
                    hook.object_attributes.action = hook.event_type.clone();
                }
                match hook.object_attributes.awardable_type.as_str() {
                    "Issue" | "WorkItem" | "Note" if hook.issue.is_none() => {
                        return Err(HookError::Ignored(format!(
                            "award on {} of no issue",
                            hook.object_attributes.awardable_type
                        )));
                    }
                    "Issue" | "WorkItem" => {}
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
        hook.resolve_project()?;
        Ok(hook)
    }

    /// Makes `project.id` the delivery's project, wherever this GitLab version put it
    /// (before 9: the hook's or the object's `project_id`). A work item without a
    /// project is a group's (an epic): no incident.
    fn resolve_project(&mut self) -> Result<(), HookError> {
        let group_item = self.object_kind() == Some("work_item");
        let (project, top, issue, note) = match self {
            Hook::Issue(h) => (
                &mut h.project,
                h.project_id,
                Some(&h.object_attributes),
                None,
            ),
            Hook::Note(h) => (
                &mut h.project,
                h.project_id,
                h.issue.as_ref(),
                Some(&h.object_attributes),
            ),
            Hook::Emoji(h) => (
                &mut h.project,
                h.project_id,
                h.issue.as_ref(),
                h.note.as_ref(),
            ),
        };
        let Some(project) = project else {
            return Err(if group_item {
                HookError::Ignored("a work item of no project (a group's) is no incident".into())
            } else {
                HookError::Malformed("missing field `project`".into())
            });
        };
        project.id = project
            .id
            .or(top)
            .or(issue.and_then(|i| i.project_id))
            .or(note.and_then(|n| n.project_id));
        match project.id {
            Some(_) => Ok(()),
            None => Err(HookError::Malformed("missing field `project.id`".into())),
        }
    }

    /// The body's own `object_kind`.
    fn object_kind(&self) -> Option<&str> {
        match self {
            Hook::Issue(h) => h.object_kind.as_deref(),
            Hook::Note(h) => h.object_kind.as_deref(),
            Hook::Emoji(h) => h.object_kind.as_deref(),
        }
    }

    /// The project the delivery is about.
    pub fn project(&self) -> &Project {
        let project = match self {
            Hook::Issue(h) => h.project.as_ref(),
            Hook::Note(h) => h.project.as_ref(),
            Hook::Emoji(h) => h.project.as_ref(),
        };
        // `parse` refuses a hook whose project it cannot tell.
        project.unwrap_or_else(|| unreachable!())
    }

    /// The project's id.
    pub fn project_id(&self) -> u64 {
        self.project().id.unwrap_or_else(|| unreachable!())
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

    /// The incident's iid.
    pub fn iid(&self) -> u64 {
        self.issue().iid
    }

    /// Replaces the times the sender left out or wrote unreadably, as GitLab does with
    /// what it cannot read: with the time the delivery was received (or a time the same
    /// object gives). Returns what was replaced, for the record.
    pub fn fill_unknown_times(&mut self, received: Timestamp) -> Vec<String> {
        let mut quirks = Vec::new();
        let mut fill = |at: &mut Timestamp, or: Option<Timestamp>, field: &str| {
            if *at == time::UNKNOWN {
                *at = or.filter(|t| *t != time::UNKNOWN).unwrap_or(received);
                quirks.push(format!(
                    "{field} missing or unreadable; used {}",
                    time::format(at)
                ));
            }
        };
        let mut issue = |i: &mut Issue, path: &str| {
            fill(
                &mut i.updated_at,
                Some(i.created_at),
                &format!("{path}.updated_at"),
            );
            fill(
                &mut i.created_at,
                Some(i.updated_at),
                &format!("{path}.created_at"),
            );
        };
        match self {
            Hook::Issue(h) => issue(&mut h.object_attributes, "object_attributes"),
            Hook::Note(h) => {
                if let Some(i) = h.issue.as_mut() {
                    issue(i, "issue");
                }
                let n = &mut h.object_attributes;
                fill(
                    &mut n.created_at,
                    Some(n.updated_at),
                    "object_attributes.created_at",
                );
                fill(
                    &mut n.updated_at,
                    Some(n.created_at),
                    "object_attributes.updated_at",
                );
            }
            Hook::Emoji(h) => {
                if let Some(i) = h.issue.as_mut() {
                    issue(i, "issue");
                }
                if let Some(n) = h.note.as_mut() {
                    fill(&mut n.created_at, Some(n.updated_at), "note.created_at");
                    fill(&mut n.updated_at, Some(n.created_at), "note.updated_at");
                }
                let a = &mut h.object_attributes;
                fill(
                    &mut a.created_at,
                    a.updated_at,
                    "object_attributes.created_at",
                );
            }
        }
        quirks
    }
}

/// A note or award whose body does not read as openmic's shape, but which is about
/// something other than an issue, needs no work: ignored, not refused.
fn ignore_foreign(body: &[u8], e: HookError) -> HookError {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow, default)]
        object_attributes: Option<Attributes<'a>>,
    }
    #[derive(Deserialize)]
    struct Attributes<'a> {
        #[serde(borrow, default)]
        noteable_type: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        awardable_type: Option<std::borrow::Cow<'a, str>>,
    }
    let Ok(Peek {
        object_attributes: Some(a),
    }) = serde_json::from_slice::<Peek>(body)
    else {
        return e;
    };
    match a.noteable_type.or(a.awardable_type).as_deref() {
        Some(t @ ("MergeRequest" | "Commit" | "Snippet" | "Epic" | "DesignManagement::Design")) => {
            HookError::Ignored(format!("note or award on {t}"))
        }
        _ => e,
    }
}

/// A flag that some senders write as `null`, `"true"` or `1`.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl<'de> serde::de::Visitor<'de> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a flag")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(matches!(v, "true" | "1"))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Flag)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(false)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
            while a
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(false)
        }
    }
    d.deserialize_any(Flag)
}

/// One entry of a label list: an object with a `title` (every GitLab since 8) or a
/// bare name; anything else is no label.
struct LabelEntry(Option<Label>);

impl<'de> Deserialize<'de> for LabelEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = LabelEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a label")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LabelEntry, E> {
                Ok(LabelEntry(Some(Label {
                    title: v.to_owned(),
                })))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<LabelEntry, A::Error> {
                let mut title = None;
                while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "title" {
                        title = a.next_value::<Option<String>>().ok().flatten();
                    } else {
                        a.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(LabelEntry(title.map(|title| Label { title })))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<LabelEntry, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LabelEntry(None))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<LabelEntry, E> {
                Ok(LabelEntry(None))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<LabelEntry, E> {
                Ok(LabelEntry(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<LabelEntry, E> {
                Ok(LabelEntry(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<LabelEntry, E> {
                Ok(LabelEntry(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<LabelEntry, E> {
                Ok(LabelEntry(None))
            }
        }
        d.deserialize_any(Entry)
    }
}

/// Labels as objects with a `title`, or bare names; anything else in the list is
/// skipped.
fn lenient_labels<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<Label>>, D::Error> {
    Ok(Option::<Vec<LabelEntry>>::deserialize(d)?
        .map(|items| items.into_iter().filter_map(|LabelEntry(l)| l).collect()))
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
        let path = format!(
            "{}/../../events/payloads/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn a_description_change_is_seen_whatever_it_holds() {
        let at = |changes: &str| {
            let body = format!(
                r#"{{"object_kind":"issue","user":{{"username":"a"}},"project":{{"id":1}},"changes":{changes},"object_attributes":{{"id":1,"iid":1}}}}"#
            );
            match Hook::parse(Some("Issue Hook"), body.as_bytes()).unwrap() {
                Hook::Issue(h) => h.changes.description.is_some(),
                _ => unreachable!(),
            }
        };
        assert!(at(r#"{"description":{"previous":"a","current":"b"}}"#));
        assert!(at(r#"{"description":{"previous":null,"current":7}}"#));
        assert!(!at(r#"{"title":{"previous":"a","current":"b"}}"#));
        assert!(!at(r#"{"description":null}"#));
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
            time::format(&n.object_attributes.created_at),
            "2015-05-17T17:06:40.000Z"
        );
        let emoji = Hook::parse(Some("Emoji Hook"), &reference("gitlab-emoji-hook.json")).unwrap();
        assert_eq!(emoji.iid(), 42);
    }

    /// GitLab 17.9+ emoji hooks (no `object_attributes.action`, the award's kind in
    /// `event_type`, an issue under `work_item`) read as the older ones do.
    #[test]
    fn emoji_hooks_old_and_new_read_alike() {
        let old: serde_json::Value =
            serde_json::from_slice(&reference("gitlab-emoji-hook.json")).unwrap();
        for kind in ["award", "revoke"] {
            let mut older = old.clone();
            older["object_attributes"]["action"] = kind.into();
            let mut newer = old.clone();
            newer["object_attributes"]
                .as_object_mut()
                .unwrap()
                .remove("action");
            newer["event_type"] = kind.into();
            let issue = newer.as_object_mut().unwrap().remove("issue").unwrap();
            newer["work_item"] = issue;
            let parse = |v: &serde_json::Value| {
                let Hook::Emoji(h) =
                    Hook::parse(Some("Emoji Hook"), v.to_string().as_bytes()).unwrap()
                else {
                    panic!("not an emoji hook")
                };
                (h.object_attributes, h.issue, h.note)
            };
            let (a, b) = (parse(&older), parse(&newer));
            assert_eq!(a, b, "{kind}");
            assert_eq!(b.0.action.as_deref(), Some(kind));
            assert_eq!(b.1.map(|i| i.iid), Some(42));
        }
    }

    #[test]
    fn labels_and_flags_as_senders_write_them() {
        let body = br#"{"object_kind":"issue","project":{"id":1},"object_attributes":{"id":5,"iid":2,"confidential":"true","labels":["a",{"title":"b","id":3},{"id":4},null,7,[1]]}}"#;
        let hook = Hook::parse(Some("Issue Hook"), body).unwrap();
        let issue = hook.issue();
        assert!(issue.confidential);
        let titles: Vec<&str> = issue
            .labels
            .iter()
            .flatten()
            .map(|l| l.title.as_str())
            .collect();
        assert_eq!(titles, ["a", "b"]);
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
            br#"{"object_kind":"issue","user":{"username":"a"},"object_attributes":{"id":1,"iid":1}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, HookError::Malformed(m) if m.contains("project")),
            "{err:?}"
        );
        let err = Hook::parse(Some("Issue Hook"), br#"{"object_kind":"issue"}"#).unwrap_err();
        assert!(
            matches!(&err, HookError::Malformed(m) if m.contains("object_attributes")),
            "{err:?}"
        );
        let err = Hook::parse(None, b"[1,2]").unwrap_err();
        assert!(matches!(err, HookError::Malformed(_)));
        let err = Hook::parse(Some("Push Hook"), b"{}").unwrap_err();
        assert!(matches!(err, HookError::Ignored(_)));
    }
}

/// A Push Hook, as much of it as says whether a push touched the on-call file
/// (`ONCALL_CONFIG`): the project, the branch or tag, and each commit's files.
#[derive(Debug, Clone, Deserialize)]
pub struct PushHook {
    /// `refs/heads/main`.
    #[serde(rename = "ref", default)]
    pub git_ref: String,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub project: Option<PushProject>,
    #[serde(default)]
    pub commits: Vec<PushCommit>,
    /// More commits than `commits` lists (GitLab lists at most 20).
    #[serde(default)]
    pub total_commits_count: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushProject {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub path_with_namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushCommit {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
}

impl PushHook {
    pub fn parse(body: &[u8]) -> Result<PushHook, HookError> {
        parse_shape(body, "push")
    }

    /// Whether this push may have changed `file` of `project` (a path or an id) at
    /// `reference` (a branch or a tag): the same project and ref, and the file among a
    /// commit's, or more commits than the hook lists.
    pub fn touches(&self, project: &str, file: &str, reference: &str) -> bool {
        let id = self.project_id.or(self.project.as_ref().and_then(|p| p.id));
        let path = self
            .project
            .as_ref()
            .and_then(|p| p.path_with_namespace.as_deref());
        let same_project = id.is_some_and(|id| id.to_string() == project)
            || path.is_some_and(|p| p.eq_ignore_ascii_case(project));
        let short = self
            .git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| self.git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(&self.git_ref);
        let listed = self.commits.len();
        let unlisted = self.total_commits_count.is_some_and(|n| n > listed);
        let file = file.trim_matches('/');
        let named = self.commits.iter().any(|c| {
            c.added
                .iter()
                .chain(&c.modified)
                .chain(&c.removed)
                .any(|f| f.trim_matches('/') == file)
        });
        same_project && short == reference && (named || unlisted)
    }
}

#[cfg(test)]
mod push_tests {
    use super::*;

    #[test]
    fn a_push_touches_the_file_of_its_project_and_ref() {
        let body = br#"{"object_kind":"push","ref":"refs/heads/main","project_id":15,
            "project":{"id":15,"path_with_namespace":"ops/oncall"},
            "commits":[{"added":[],"modified":["oncall.yaml"],"removed":[]},{"added":["README.md"]}],
            "total_commits_count":2}"#;
        let push = PushHook::parse(body).unwrap();
        assert!(push.touches("ops/oncall", "oncall.yaml", "main"));
        assert!(push.touches("15", "oncall.yaml", "main"));
        assert!(!push.touches("ops/other", "oncall.yaml", "main"));
        assert!(!push.touches("ops/oncall", "oncall.yaml", "release"));
        assert!(!push.touches("ops/oncall", "other.yaml", "main"));
        // More commits than listed: it may have.
        let many =
            br#"{"ref":"refs/heads/main","project_id":15,"commits":[],"total_commits_count":40}"#;
        assert!(
            PushHook::parse(many)
                .unwrap()
                .touches("15", "x.yaml", "main")
        );
        assert!(PushHook::parse(b"[1]").is_err());
    }
}
