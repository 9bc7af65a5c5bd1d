//! The private state of one incident, and how each GitLab event merges into it.
//!
//! Every merge is keyed by the event's own timestamps, so applying the same events in
//! any order, any number of times, gives the same state: a late or repeated delivery
//! never rolls anything back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gitlab::{ApiAward, ApiIssue, ApiLabelEvent, ApiNote};
use crate::ids::IncidentId;
use crate::intake::hooks::{Hook, Issue, Label, Note};
use crate::time::Timestamp;

/// The award that publishes a comment.
pub const MICROPHONE: &str = "microphone";
/// At most this many comments are published per incident (the most recent ones).
pub const MAX_COMMENTS: usize = 100;

/// The issue as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSnapshot {
    pub id: u64,
    pub title: String,
    pub description: String,
    /// `opened` or `closed`.
    pub state: String,
    pub confidential: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    pub labels: Vec<String>,
    #[serde(default)]
    pub severity: Option<String>,
}

impl IssueSnapshot {
    fn from_hook(issue: &Issue, top_labels: Option<&[Label]>) -> Self {
        let labels = issue
            .labels
            .as_deref()
            .or(top_labels)
            .map(|l| l.iter().map(|l| l.title.clone()).collect())
            .unwrap_or_default();
        IssueSnapshot {
            id: issue.id,
            title: issue.title.clone(),
            description: issue.description.clone(),
            state: match issue.state.as_deref() {
                Some("closed") => "closed".into(),
                _ => "opened".into(),
            },
            confidential: issue.confidential,
            created_at: issue.created_at,
            updated_at: issue.updated_at,
            closed_at: issue.closed_at,
            labels,
            severity: issue.severity.clone(),
        }
    }
}

/// One microphone award (or its revocation) by one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardState {
    pub awarded: bool,
    pub at: Timestamp,
    /// Whether the awarding user was trusted when the award was made.
    pub trusted: bool,
    /// Made from chat (`/incident update --public`): it has no award in GitLab, so a
    /// resync keeps it while its note exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub via_chat: bool,
    /// Whether the awarding user could publish when the award was made (a
    /// postmortem takes a publisher's; absent in an earlier release's state, and
    /// written only when true, so a state without postmortems reads back unchanged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub publisher: bool,
}

/// A comment on the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteState {
    pub id: u64,
    pub body: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub system: bool,
    pub internal: bool,
    /// Microphone awards by username.
    #[serde(default)]
    pub microphones: BTreeMap<String, AwardState>,
}

impl NoteState {
    fn from_hook(note: &Note, confidential_hook: bool) -> Self {
        NoteState {
            id: note.id,
            body: note.note.clone(),
            created_at: note.created_at,
            updated_at: note.updated_at,
            system: note.system,
            internal: note.is_internal() || confidential_hook,
            microphones: BTreeMap::new(),
        }
    }

    /// Whether a trusted user's microphone award stands on this note.
    pub fn has_trusted_microphone(&self) -> bool {
        self.microphones.values().any(|a| a.awarded && a.trusted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Order matters: at equal times an unpublish wins.
    Publish,
    Unpublish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Label,
    Command,
    Confidential,
    /// The issue no longer exists (found by a resync).
    Deleted,
}

/// One publish or unpublish request: the audit list. Refused requests are kept too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Decision {
    pub at: Timestamp,
    pub action: Action,
    pub via: Via,
    pub by: String,
    /// Whether the user was allowed to do it; refused requests change nothing.
    pub allowed: bool,
    /// The note that carried a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<u64>,
}

/// The private state document of one incident (`incidents/<iid>.json` in the state
/// bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentState {
    pub iid: u64,
    pub project_id: u64,
    /// The project's web URL: its host is the GitLab instance.
    #[serde(default)]
    pub project_url: Option<String>,
    pub issue: Option<IssueSnapshot>,
    #[serde(default)]
    pub notes: BTreeMap<u64, NoteState>,
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// What the senders left out or wrote unreadably, and what was used instead (the
    /// latest few).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<String>,
    /// What kept it from being shown (a maintenance's window that cannot be read), each
    /// with when it was found and whether the issue was told: the audit of problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// When the issue was given a note with its public URL (`LINK_BACK`), or when an
    /// upgrade found it published by a release that left no such notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_back: Option<Timestamp>,
    /// When each label of a scope read as exclusive (`status::…`) was last added, as
    /// the hooks' `changes.labels` and the API's label events tell: on GitLab Free
    /// several may stand at once, and the one added last is meant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels_added: BTreeMap<String, Timestamp>,
    /// What decides the issue's alerts (a maintenance's `Window:` and `Mute:` lines,
    /// its labels), as the last change by a publisher left it: alerts follow this, not
    /// the issue as anyone last edited it. None until a publisher's change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Effective>,
    /// The events openmic wrote on the incident's GitLab timeline
    /// ([`super::timeline`]), by name, so each is written once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline_written: Vec<String>,
    /// The postmortem written as a linked issue labelled `postmortem` (its
    /// description as a note, the 🎤 on that issue as the note's): kept across
    /// resyncs, which read the incident's own notes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_postmortem: Option<NoteState>,
}

/// What decides an issue's alerts as a publisher's change left it, and that change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effective {
    /// The description's lines that decide alert delivery then
    /// ([`crate::maintenance::delivery::lines_of`]).
    pub lines: String,
    /// The issue's labels then.
    pub labels: Vec<String>,
    /// The publisher.
    pub by: String,
    /// When: the issue's update time for an edit, the comment's for `/publish`.
    pub at: Timestamp,
    pub via: Taken,
}

/// How a publisher's change came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taken {
    /// The publisher opened the issue, or changed its description or labels (adding
    /// the publish label among them).
    Edit,
    /// The publisher's `/publish`: the issue as the comment's hook shows it.
    Publish,
    /// Written by a release before this rule: taken as it stood at the upgrade, as of
    /// its publication.
    Upgrade,
}

/// A problem that kept an incident from being shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub at: Timestamp,
    pub text: String,
    /// Whether a note on the issue said it.
    #[serde(default)]
    pub noted: bool,
}

/// How many problems a state remembers.
pub const MAX_PROBLEMS: usize = 20;

/// How many input quirks a state remembers.
pub const MAX_QUIRKS: usize = 20;

/// What the publisher learned about the user behind an event before merging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    pub may_publish: bool,
    pub trusted_microphone: bool,
}

/// The commands a note can carry, one per line.
pub fn commands(body: &str) -> (bool, bool) {
    let mut publish = false;
    let mut unpublish = false;
    let mut in_fence = false;
    for line in body.lines() {
        let line = line.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        match line {
            "/publish" => publish = true,
            "/unpublish" => unpublish = true,
            _ => {}
        }
    }
    (publish, unpublish)
}

/// The labels publishing reads: `PUBLISH_LABEL`, and `MAINTENANCE_LABEL`, which with
/// the `component::` labels decides what a maintenance mutes.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub publish: &'a str,
    pub maintenance: &'a str,
}

/// What decides alerts, read from a description (or its delivery lines) and labels.
fn delivery_of(
    description: &str,
    labels: &[String],
    maintenance_label: &str,
) -> crate::maintenance::Delivery {
    crate::maintenance::Delivery::new(
        labels.iter().any(|l| l == maintenance_label),
        description,
        crate::site::data::components_of(labels),
    )
}

impl IncidentState {
    pub fn new(iid: u64, project_id: u64) -> Self {
        IncidentState {
            iid,
            project_id,
            project_url: None,
            issue: None,
            notes: BTreeMap::new(),
            decisions: vec![],
            quirks: vec![],
            problems: vec![],
            linked_back: None,
            labels_added: BTreeMap::new(),
            effective: None,
            timeline_written: vec![],
            linked_postmortem: None,
        }
    }

    /// `label` was added at `at` (kept for the exclusive scopes only; the latest add
    /// wins, so events in any order give the same state).
    fn label_added(&mut self, label: &str, at: Timestamp) {
        if !crate::site::data::in_exclusive_scope(label) {
            return;
        }
        let slot = self.labels_added.entry(label.to_owned()).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// The stage the issue's labels give (see [`crate::site::data::stage_of`]).
    pub fn stage(&self) -> Option<&'static str> {
        let issue = self.issue.as_ref()?;
        Some(crate::site::data::stage_of(
            &issue.state,
            &issue.labels,
            &self.labels_added,
        ))
    }

    /// A publisher's change at `at` left the issue with `description` and `labels`:
    /// alerts follow them from now on, unless a later publisher's change is known
    /// already (so the order deliveries arrive in does not matter, and a repeat
    /// changes nothing).
    fn take_delivery(
        &mut self,
        description: &str,
        labels: &[String],
        by: &str,
        at: Timestamp,
        via: Taken,
    ) {
        let lines = crate::maintenance::delivery::lines_of(description);
        let mut labels = labels.to_vec();
        labels.sort();
        labels.dedup();
        if let Some(old) = &self.effective
            && (old.at, &old.lines, &old.labels) >= (at, &lines, &labels)
        {
            return;
        }
        self.effective = Some(Effective {
            lines,
            labels,
            by: by.to_owned(),
            at,
            via,
        });
    }

    /// A state written before publishers' changes were kept: what decides its alerts
    /// is taken as it stands, as of its latest publication, so an upgrade changes no
    /// maintenance's muting. Nothing for a state that has its own, or was never
    /// published.
    pub fn adopt_earlier_release(&mut self) {
        if self.effective.is_some() {
            return;
        }
        let Some(issue) = &self.issue else {
            return;
        };
        let Some(publication) = self
            .decisions
            .iter()
            .filter(|d| d.allowed && d.action == Action::Publish)
            .max()
        else {
            return;
        };
        let (by, at) = (publication.by.clone(), publication.at);
        let (description, labels) = (issue.description.clone(), issue.labels.clone());
        self.take_delivery(&description, &labels, &by, at, Taken::Upgrade);
    }

    /// What decides the issue's alerts as it reads now, whoever changed it last.
    pub fn current_delivery(&self, maintenance_label: &str) -> crate::maintenance::Delivery {
        match &self.issue {
            Some(i) => delivery_of(&i.description, &i.labels, maintenance_label),
            None => crate::maintenance::Delivery::default(),
        }
    }

    /// What decides the issue's alerts as a publisher's change last left it: nothing
    /// (no maintenance) before one.
    pub fn effective_delivery(&self, maintenance_label: &str) -> crate::maintenance::Delivery {
        match &self.effective {
            Some(e) => delivery_of(&e.lines, &e.labels, maintenance_label),
            None => crate::maintenance::Delivery::default(),
        }
    }

    /// The problem that a change waits for a publisher: the same for as long as the
    /// same publisher's change stands, so it is said once.
    pub fn held_problem(&self) -> String {
        let what = crate::maintenance::delivery::what_decides();
        match &self.effective {
            Some(e) => format!(
                "a change to {what} waits for a publisher; alerts follow them as `{}` left \
                 them at {}",
                e.by,
                crate::time::format(&e.at)
            ),
            None => format!(
                "a change to {what} waits for a publisher; openmic knows of no publisher's \
                 change to this issue, so it mutes no alert"
            ),
        }
    }

    /// What of the issue as it reads now waits for a publisher: how it differs from
    /// what alerts follow (empty when nothing does).
    pub fn held_delivery(&self, maintenance_label: &str) -> Vec<String> {
        self.effective_delivery(maintenance_label)
            .differences(&self.current_delivery(maintenance_label))
    }

    /// Records a problem unless it is the one last found.
    pub fn note_problem(&mut self, text: &str, at: Timestamp) {
        if self.problems.last().is_some_and(|p| p.text == text) {
            return;
        }
        self.problems.push(Problem {
            at,
            text: text.to_owned(),
            noted: false,
        });
        let excess = self.problems.len().saturating_sub(MAX_PROBLEMS);
        self.problems.drain(..excess);
    }

    /// The issue was told of the problem (its latest record).
    pub fn problem_noted(&mut self, text: &str) {
        if let Some(p) = self.problems.iter_mut().rev().find(|p| p.text == text) {
            p.noted = true;
        }
    }

    pub fn id(&self) -> IncidentId {
        IncidentId::new(self.project_id, self.iid)
    }

    /// The incident's public number: GitLab's iid with one project, the issue's global
    /// id with several. None before the issue itself is known.
    pub fn public_id(&self, ids: crate::config::PublicIds) -> Option<u64> {
        match ids {
            crate::config::PublicIds::Iid => Some(self.iid),
            crate::config::PublicIds::Global => self.issue.as_ref().map(|i| i.id),
        }
    }

    /// Remembers what a delivery's reading had to replace (the latest few, once each).
    pub fn note_quirks(&mut self, delivery: &str, quirks: &[String]) {
        for q in quirks {
            let line = format!("{delivery}: {q}");
            if !self.quirks.contains(&line) {
                self.quirks.push(line);
            }
        }
        let excess = self.quirks.len().saturating_sub(MAX_QUIRKS);
        self.quirks.drain(..excess);
    }

    /// Whether the incident is published now: the latest allowed decision is a publish
    /// and the issue is not confidential.
    pub fn published(&self) -> bool {
        let Some(issue) = &self.issue else {
            return false;
        };
        if issue.confidential {
            return false;
        }
        self.decisions
            .iter()
            .filter(|d| d.allowed)
            .max_by(|a, b| (a.at, a.action).cmp(&(b.at, b.action)))
            .is_some_and(|d| d.action == Action::Publish)
    }

    /// What the SLA watch list keeps of the incident: none for a maintenance or an
    /// issue without a severity.
    pub fn sla_seen(&self, maintenance_label: &str) -> Option<crate::sla::Seen> {
        let issue = self.issue.as_ref()?;
        if issue.labels.iter().any(|l| l == maintenance_label) {
            return None;
        }
        let severity = crate::sla::severity_of(issue.severity.as_deref(), &issue.labels)?;
        Some(crate::sla::Seen {
            id: self.id(),
            title: issue.title.clone(),
            severity,
            opened_at: issue.created_at,
            closed_at: (issue.state == "closed")
                .then(|| issue.closed_at.unwrap_or(issue.updated_at)),
            url: self
                .project_url
                .as_deref()
                .map(|u| format!("{}/-/issues/{}", u.trim_end_matches('/'), self.iid)),
        })
    }

    /// Whether the incident was ever published (so its public files may need removal).
    pub fn ever_published(&self) -> bool {
        self.decisions
            .iter()
            .any(|d| d.allowed && d.action == Action::Publish)
    }

    /// Comments to publish: not system, not internal, with a trusted microphone award,
    /// and not a postmortem (see [`super::postmortem`]); by created_at then id; the most
    /// recent [`MAX_COMMENTS`].
    pub fn published_notes(&self) -> Vec<&NoteState> {
        if self.issue.as_ref().is_none_or(|i| i.confidential) {
            return vec![];
        }
        let mut notes: Vec<&NoteState> = self
            .notes
            .values()
            .filter(|n| !n.system && !n.internal && n.has_trusted_microphone())
            .filter(|n| !super::postmortem::is_postmortem(&n.body))
            .collect();
        notes.sort_by_key(|n| (n.created_at, n.id));
        let skip = notes.len().saturating_sub(MAX_COMMENTS);
        notes.split_off(skip)
    }

    fn decide(&mut self, d: Decision) {
        if !self.decisions.contains(&d) {
            self.decisions.push(d);
            self.decisions.sort();
        }
    }

    fn merge_issue(
        &mut self,
        issue: &Issue,
        top_labels: Option<&[Label]>,
        confidential_hook: bool,
    ) {
        let mut snap = IssueSnapshot::from_hook(issue, top_labels);
        snap.confidential |= confidential_hook;
        let newer = match &self.issue {
            None => true,
            Some(old) => (snap.updated_at, snap.confidential) > (old.updated_at, old.confidential),
        };
        if newer {
            // A note or emoji hook may carry no labels; keep the ones known.
            if issue.labels.is_none()
                && top_labels.is_none()
                && let Some(old) = &self.issue
            {
                snap.labels = old.labels.clone();
            }
            self.issue = Some(snap);
        }
    }

    /// The labels an Issue Hook added: those in `changes.labels.current` and not in
    /// its `previous`, at the issue's update; at creation, every label given.
    fn merge_labels_added(
        &mut self,
        change: Option<&crate::intake::hooks::Change<Vec<Label>>>,
        issue: &Issue,
        top_labels: Option<&[Label]>,
    ) {
        match change {
            Some(ch) => {
                let before = ch.previous.as_deref().unwrap_or_default();
                for l in ch.current.as_deref().unwrap_or_default() {
                    if !before.iter().any(|b| b.title == l.title) {
                        self.label_added(&l.title, issue.updated_at);
                    }
                }
            }
            None if issue.action.as_deref() == Some("open") => {
                for l in issue.labels.as_deref().or(top_labels).unwrap_or_default() {
                    self.label_added(&l.title, issue.created_at);
                }
            }
            None => {}
        }
    }

    /// The issue became confidential at `at`: that unpublishes it, and it stays
    /// unpublished until a publisher publishes it again.
    fn became_confidential(&mut self, at: Timestamp) {
        self.decide(Decision {
            at,
            action: Action::Unpublish,
            via: Via::Confidential,
            by: String::new(),
            allowed: true,
            note_id: None,
        });
    }

    fn merge_note(&mut self, note: &Note, confidential_hook: bool) {
        let incoming = NoteState::from_hook(note, confidential_hook);
        match self.notes.get_mut(&note.id) {
            None => {
                self.notes.insert(note.id, incoming);
            }
            Some(old) => {
                if (incoming.updated_at, incoming.internal) > (old.updated_at, old.internal) {
                    old.body = incoming.body;
                    old.updated_at = incoming.updated_at;
                    old.system = incoming.system;
                    old.internal = incoming.internal;
                }
                // Once seen as internal or system, always treated so.
                old.internal |= note.is_internal() || confidential_hook;
                old.system |= note.system;
            }
        }
    }

    /// A publisher's `/publish` at `at` takes the issue as its comment's hook shows it
    /// (`issue`; a Note Hook on an issue always carries it), with the labels known
    /// when the hook carries none.
    fn take_published(&mut self, issue: Option<&Issue>, by: &str, at: Timestamp) {
        let Some(issue) = issue else {
            return;
        };
        let labels = match (&issue.labels, &self.issue) {
            (Some(l), _) => l.iter().map(|l| l.title.clone()).collect(),
            (None, Some(known)) => known.labels.clone(),
            (None, None) => vec![],
        };
        let description = issue.description.clone();
        self.take_delivery(&description, &labels, by, at, Taken::Publish);
    }

    /// Merges one event. `labels` are `PUBLISH_LABEL` and `MAINTENANCE_LABEL`;
    /// `confidential_hook` says the delivery came as a Confidential Issue or
    /// Confidential Note Hook.
    pub fn merge(&mut self, hook: &Hook, event: Option<&str>, labels: Labels, verdict: Verdict) {
        let publish_label = labels.publish;
        let confidential_hook = event.is_some_and(|e| e.starts_with("Confidential"));
        let project = hook.project();
        if self.project_url.is_none() {
            self.project_url = project.web_url.clone();
        }
        let username = hook.user().username.clone();
        match hook {
            Hook::Issue(h) => {
                let issue = &h.object_attributes;
                let confidential_issue_hook =
                    confidential_hook && event == Some("Confidential Issue Hook");
                self.merge_issue(issue, h.labels.as_deref(), confidential_issue_hook);
                // Only the moment it becomes confidential counts (a later edit of a
                // confidential issue is no new unpublish): the transition in
                // `changes`, or an issue opened confidential. Hooks that merely show
                // it confidential keep it private through `published()`.
                let turned = h
                    .changes
                    .confidential
                    .as_ref()
                    .is_some_and(|c| c.current == Some(true) && c.previous != Some(true));
                if turned {
                    self.became_confidential(issue.updated_at);
                } else if issue.action.as_deref() == Some("open")
                    && (issue.confidential || confidential_issue_hook)
                {
                    self.became_confidential(issue.created_at);
                }
                self.merge_labels_added(h.changes.labels.as_ref(), issue, h.labels.as_deref());
                // A publisher's change decides what alerts do from now on: the issue as
                // the publisher left it. Anyone else's waits for one (see
                // `held_delivery`). A change is the issue opened, its description
                // edited, or its labels changed where they publish or decide alerts;
                // another label, the title, closing or reopening is none.
                let relabelled = h.changes.labels.as_ref().is_some_and(|ch| {
                    let titles = |l: &Option<Vec<Label>>| -> Vec<String> {
                        l.iter().flatten().map(|l| l.title.clone()).collect()
                    };
                    let (before, after) = (titles(&ch.previous), titles(&ch.current));
                    let publishing = |l: &[String]| l.iter().any(|l| l == publish_label);
                    (publishing(&after) && !publishing(&before))
                        || !delivery_of("", &before, labels.maintenance)
                            .differences(&delivery_of("", &after, labels.maintenance))
                            .is_empty()
                });
                let changed = h.changes.description.is_some()
                    || relabelled
                    || issue.action.as_deref() == Some("open");
                if verdict.may_publish && changed {
                    let snap = IssueSnapshot::from_hook(issue, h.labels.as_deref());
                    let labels = match (&issue.labels, &h.labels, &self.issue) {
                        (None, None, Some(known)) => known.labels.clone(),
                        _ => snap.labels,
                    };
                    self.take_delivery(
                        &snap.description,
                        &labels,
                        &username,
                        issue.updated_at,
                        Taken::Edit,
                    );
                }
                let has = |labels: &[Label]| labels.iter().any(|l| l.title == publish_label);
                let change = match &h.changes.labels {
                    Some(ch) => {
                        let before = ch.previous.as_deref().is_some_and(has);
                        let after = ch.current.as_deref().is_some_and(has);
                        Some((before, after))
                    }
                    // At creation, the labels given are added by the author.
                    None if issue.action.as_deref() == Some("open") => {
                        let labels = issue
                            .labels
                            .as_deref()
                            .or(h.labels.as_deref())
                            .unwrap_or(&[]);
                        Some((false, has(labels)))
                    }
                    None => None,
                };
                match change {
                    Some((false, true)) => self.decide(Decision {
                        at: issue.updated_at,
                        action: Action::Publish,
                        via: Via::Label,
                        by: username,
                        allowed: verdict.may_publish,
                        note_id: None,
                    }),
                    Some((true, false)) => self.decide(Decision {
                        at: issue.updated_at,
                        action: Action::Unpublish,
                        via: Via::Label,
                        by: username,
                        // Whoever may change labels may take the incident down.
                        allowed: true,
                        note_id: None,
                    }),
                    _ => {}
                }
            }
            Hook::Note(h) => {
                if let Some(issue) = &h.issue {
                    self.merge_issue(issue, None, false);
                }
                let note = &h.object_attributes;
                self.merge_note(note, confidential_hook);
                if !note.system {
                    let (publish, unpublish) = commands(&note.note);
                    for (wanted, action) in
                        [(publish, Action::Publish), (unpublish, Action::Unpublish)]
                    {
                        if wanted {
                            self.decide(Decision {
                                at: note.created_at,
                                action,
                                via: Via::Command,
                                by: username.clone(),
                                allowed: verdict.may_publish,
                                note_id: Some(note.id),
                            });
                        }
                    }
                    if publish && verdict.may_publish {
                        self.take_published(h.issue.as_ref(), &username, note.created_at);
                    }
                }
            }
            Hook::Emoji(h) => {
                if let Some(issue) = &h.issue {
                    self.merge_issue(issue, None, false);
                }
                if let Some(note) = &h.note {
                    self.merge_note(note, false);
                }
                let award = &h.object_attributes;
                if award.awardable_type == "Note" && award.name == MICROPHONE {
                    let awarded = award.action.as_deref() != Some("revoke");
                    // A revoke carries the award's own created_at; take its update
                    // time if later, and let a revoke win a tie.
                    let at = award
                        .updated_at
                        .map_or(award.created_at, |u| u.max(award.created_at));
                    let incoming = AwardState {
                        awarded,
                        at,
                        trusted: verdict.trusted_microphone,
                        via_chat: h.openmic_via_chat,
                        publisher: verdict.may_publish,
                    };
                    if let Some(note) = self.notes.get_mut(&award.awardable_id) {
                        let slot = note
                            .microphones
                            .entry(username)
                            .or_insert_with(|| incoming.clone());
                        if (incoming.at, !incoming.awarded) > (slot.at, !slot.awarded) {
                            *slot = incoming;
                        }
                    }
                }
            }
        }
    }
}

/// The note that is an incident's postmortem ([`super::postmortem`]), and when it was
/// published: the later of the publisher's 🎤 and the issue's closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    pub note: &'a NoteState,
    pub published_at: Timestamp,
}

/// The latest standing 🎤 of a publisher on `note`.
fn publishers_award(note: &NoteState) -> Option<Timestamp> {
    note.microphones
        .values()
        .filter(|a| a.awarded && a.publisher)
        .map(|a| a.at)
        .max()
}

impl IncidentState {
    /// The incident's postmortem, if it has one now: the issue closed and not
    /// confidential, and of its notes that are not system or internal, begin with a
    /// `Postmortem` heading and carry a publisher's 🎤 (or the linked postmortem
    /// issue, as such a note), the latest.
    pub fn postmortem(&self) -> Option<Found<'_>> {
        let issue = self.issue.as_ref()?;
        if issue.state != "closed" || issue.confidential {
            return None;
        }
        let closed = issue.closed_at.unwrap_or(issue.updated_at);
        self.notes
            .values()
            .chain(&self.linked_postmortem)
            .filter(|n| !n.system && !n.internal && super::postmortem::is_postmortem(&n.body))
            .filter_map(|n| publishers_award(n).map(|at| (n, at)))
            .max_by_key(|(n, _)| (n.created_at, n.id))
            .map(|(note, at)| Found {
                note,
                published_at: at.max(closed),
            })
    }
}

/// What a resync read from GitLab's API about one incident.
pub struct ApiView<'a> {
    pub issue: &'a ApiIssue,
    pub notes: &'a [ApiNote],
    /// Award emoji of each note, by note id.
    pub awards: &'a BTreeMap<u64, Vec<ApiAward>>,
    pub label_events: &'a [ApiLabelEvent],
    /// What the rules say about each user involved, by username.
    pub verdicts: &'a BTreeMap<String, Verdict>,
}

impl IncidentState {
    /// Rebuilds the state from the API: the issue and its notes as GitLab has them now
    /// (deleted notes disappear), microphone awards as they stand, and every publish or
    /// unpublish the label events and commands show, judged by the same rules as the
    /// webhooks. Earlier decisions stay in the audit.
    pub fn resync(&mut self, view: &ApiView<'_>, publish_label: &str) {
        let issue = view.issue;
        let verdict = |u: &str| view.verdicts.get(u).copied().unwrap_or_default();
        self.issue = Some(IssueSnapshot {
            id: issue.id,
            title: issue.title.clone(),
            description: issue.description.clone().unwrap_or_default(),
            state: if issue.state == "closed" {
                "closed".into()
            } else {
                "opened".into()
            },
            confidential: issue.confidential,
            created_at: issue.created_at,
            updated_at: issue.updated_at,
            closed_at: issue.closed_at,
            labels: issue.labels.clone(),
            severity: issue.severity.clone(),
        });
        let mut notes = BTreeMap::new();
        for n in view.notes {
            let mut microphones = BTreeMap::new();
            for a in view
                .awards
                .get(&n.id)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if a.name == MICROPHONE {
                    let trusted = verdict(&a.user.username).trusted_microphone;
                    let publisher = verdict(&a.user.username).may_publish;
                    microphones.insert(
                        a.user.username.clone(),
                        AwardState {
                            awarded: true,
                            at: a.created_at,
                            trusted,
                            via_chat: false,
                            publisher,
                        },
                    );
                }
            }
            // A publication from chat has no award in GitLab to read back.
            if let Some(old) = self.notes.get(&n.id) {
                for (user, award) in &old.microphones {
                    if award.via_chat && !microphones.contains_key(user) {
                        microphones.insert(user.clone(), award.clone());
                    }
                }
            }
            notes.insert(
                n.id,
                NoteState {
                    id: n.id,
                    body: n.body.clone(),
                    created_at: n.created_at,
                    updated_at: n.updated_at,
                    system: n.system,
                    internal: n.is_internal(),
                    microphones,
                },
            );
            // GitLab's system note for the change: "made the issue confidential".
            if n.system
                && n.body
                    .trim_start()
                    .starts_with("made the issue confidential")
            {
                self.became_confidential(n.created_at);
            }
            if !n.system {
                let (publish, unpublish) = commands(&n.body);
                for (wanted, action) in [(publish, Action::Publish), (unpublish, Action::Unpublish)]
                {
                    if wanted {
                        self.decide(Decision {
                            at: n.created_at,
                            action,
                            via: Via::Command,
                            by: n.author.username.clone(),
                            allowed: verdict(&n.author.username).may_publish,
                            note_id: Some(n.id),
                        });
                    }
                }
            }
        }
        self.notes = notes;
        for e in view.label_events {
            if e.action == "add"
                && let Some(l) = &e.label
            {
                self.label_added(&l.name, e.created_at);
            }
            if e.label.as_ref().is_none_or(|l| l.name != publish_label) {
                continue;
            }
            let by = e
                .user
                .as_ref()
                .map(|u| u.username.clone())
                .unwrap_or_default();
            let (action, allowed) = match e.action.as_str() {
                "add" => (Action::Publish, verdict(&by).may_publish),
                "remove" => (Action::Unpublish, true),
                _ => continue,
            };
            self.decide(Decision {
                at: e.created_at,
                action,
                via: Via::Label,
                by,
                allowed,
                note_id: None,
            });
        }
    }

    /// The issue is gone from GitLab: unpublish.
    pub fn mark_deleted(&mut self, at: Timestamp) {
        if !self.decisions.iter().any(|d| d.via == Via::Deleted) {
            self.decide(Decision {
                at,
                action: Action::Unpublish,
                via: Via::Deleted,
                by: String::new(),
                allowed: true,
                note_id: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "maintenance";
    const LABELS: Labels = Labels {
        publish: "status-page",
        maintenance: LABEL,
    };
    const PUBLISHER: Verdict = Verdict {
        may_publish: true,
        trusted_microphone: true,
    };
    const REPORTER: Verdict = Verdict {
        may_publish: false,
        trusted_microphone: false,
    };

    /// An Issue Hook on issue 9 by `user` at `at`, with the description and labels it
    /// shows; `changed` says which of them the event changed.
    fn issue_hook(
        user: &str,
        at: &str,
        description: &str,
        labels: &[&str],
        changed: &[&str],
    ) -> Hook {
        let labels: Vec<serde_json::Value> = labels
            .iter()
            .map(|l| serde_json::json!({"title": l}))
            .collect();
        let mut changes = serde_json::json!({});
        if changed.contains(&"description") {
            changes["description"] = serde_json::json!({"previous": "", "current": description});
        }
        // The labels before: the maintenance's, without the publish label for a
        // publication.
        let before: Vec<serde_json::Value> = MAINTENANCE
            .iter()
            .filter(|l| !(changed.contains(&"publish") && **l == "status-page"))
            .map(|l| serde_json::json!({"title": l}))
            .collect();
        if changed.contains(&"labels") || changed.contains(&"publish") {
            changes["labels"] = serde_json::json!({"previous": before, "current": labels});
        }
        let action = if changed.contains(&"open") {
            "open"
        } else {
            "update"
        };
        let body = serde_json::json!({
            "object_kind": "issue", "user": {"id": 1, "username": user},
            "project": {"id": 42}, "labels": labels, "changes": changes,
            "object_attributes": {"id": 1009, "iid": 9, "title": "Database upgrade",
                "description": description, "state": "opened", "confidential": false,
                "created_at": "2026-11-29T02:00:00Z", "updated_at": at, "action": action,
                "labels": labels}});
        Hook::parse(Some("Issue Hook"), body.to_string().as_bytes()).unwrap()
    }

    fn note_hook(user: &str, at: &str, text: &str, description: &str) -> Hook {
        let body = serde_json::json!({
            "object_kind": "note", "user": {"id": 1, "username": user}, "project": {"id": 42},
            "object_attributes": {"id": 77, "note": text, "noteable_type": "Issue",
                "created_at": at, "updated_at": at, "system": false},
            "issue": {"id": 1009, "iid": 9, "title": "Database upgrade",
                "description": description, "state": "opened", "confidential": false,
                "created_at": "2026-11-29T02:00:00Z", "updated_at": "2026-11-29T02:00:00Z"}});
        Hook::parse(Some("Note Hook"), body.to_string().as_bytes()).unwrap()
    }

    const MAINTENANCE: [&str; 3] = ["maintenance", "status-page", "component::Database"];
    const NARROW: &str = "Window: 2026-12-01T02:00:00Z/PT2H\nMute: alertname=\"DiskFull\"";
    const WIDE: &str = "Window: 2026-12-01T02:00:00Z/P30D\nMute: alertname=~\".*\"";

    fn merged(events: &[(&Hook, Verdict)]) -> IncidentState {
        let mut s = IncidentState::new(9, 42);
        for (hook, verdict) in events {
            s.merge(hook, Some("Issue Hook"), LABELS, *verdict);
        }
        s
    }

    #[test]
    fn only_a_publishers_change_decides_what_alerts_do() {
        let opened = issue_hook(
            "alice",
            "2026-11-29T02:00:00Z",
            NARROW,
            &MAINTENANCE,
            &["open"],
        );
        let widened = issue_hook(
            "mallory",
            "2026-11-29T03:00:00Z",
            WIDE,
            &MAINTENANCE,
            &["description"],
        );
        let s = merged(&[(&opened, PUBLISHER), (&widened, REPORTER)]);
        let effective = s.effective.as_ref().unwrap();
        assert_eq!(
            (effective.by.as_str(), effective.via),
            ("alice", Taken::Edit)
        );
        assert_eq!(
            s.effective_delivery(LABEL).mute().as_deref(),
            Some("alertname=\"DiskFull\"")
        );
        assert_eq!(
            s.current_delivery(LABEL).mute().as_deref(),
            Some("alertname=~\".*\"")
        );
        assert_eq!(
            s.held_delivery(LABEL),
            ["the `Window:` line", "the `Mute:` line"]
        );
        assert!(
            s.held_problem().contains("as `alice` left them"),
            "{}",
            s.held_problem()
        );
        // In the other order, and twice over: the same.
        let again = merged(&[
            (&widened, REPORTER),
            (&opened, PUBLISHER),
            (&widened, REPORTER),
            (&opened, PUBLISHER),
        ]);
        assert_eq!(again, s);

        // A reporter's component label waits too; an unrelated label does not.
        let mut more: Vec<&str> = MAINTENANCE.to_vec();
        more.push("component::API");
        let labelled = issue_hook(
            "mallory",
            "2026-11-29T03:00:00Z",
            NARROW,
            &more,
            &["labels"],
        );
        let s = merged(&[(&opened, PUBLISHER), (&labelled, REPORTER)]);
        assert_eq!(s.held_delivery(LABEL), ["the `component::` labels"]);
        let mut other: Vec<&str> = MAINTENANCE.to_vec();
        other.push("severity::2");
        let unrelated = issue_hook(
            "mallory",
            "2026-11-29T03:00:00Z",
            NARROW,
            &other,
            &["labels"],
        );
        assert!(
            merged(&[(&opened, PUBLISHER), (&unrelated, REPORTER)])
                .held_delivery(LABEL)
                .is_empty()
        );

        // A publisher's edit of the title alone (no description or label change) takes
        // nothing; their description edit takes the issue as it then reads.
        let title = issue_hook("alice", "2026-11-29T04:00:00Z", WIDE, &MAINTENANCE, &[]);
        let s = merged(&[
            (&opened, PUBLISHER),
            (&widened, REPORTER),
            (&title, PUBLISHER),
        ]);
        assert!(!s.held_delivery(LABEL).is_empty());
        // Nor does a label that neither publishes nor decides alerts.
        let mut other: Vec<&str> = MAINTENANCE.to_vec();
        other.push("priority::1");
        let labelled = issue_hook("alice", "2026-11-29T04:00:00Z", WIDE, &other, &["labels"]);
        let s = merged(&[
            (&opened, PUBLISHER),
            (&widened, REPORTER),
            (&labelled, PUBLISHER),
        ]);
        assert!(!s.held_delivery(LABEL).is_empty());
        // A component label, or the publish label added again, does.
        let mut more: Vec<&str> = MAINTENANCE.to_vec();
        more.push("component::API");
        let component = issue_hook("alice", "2026-11-29T04:00:00Z", WIDE, &more, &["labels"]);
        let s = merged(&[
            (&opened, PUBLISHER),
            (&widened, REPORTER),
            (&component, PUBLISHER),
        ]);
        assert!(s.held_delivery(LABEL).is_empty());
        let republished = issue_hook(
            "alice",
            "2026-11-29T04:00:00Z",
            WIDE,
            &MAINTENANCE,
            &["publish"],
        );
        let s = merged(&[
            (&opened, PUBLISHER),
            (&widened, REPORTER),
            (&republished, PUBLISHER),
        ]);
        assert!(s.held_delivery(LABEL).is_empty(), "its publication again");
        let edit = issue_hook(
            "alice",
            "2026-11-29T04:00:00Z",
            WIDE,
            &MAINTENANCE,
            &["description"],
        );
        let s = merged(&[
            (&opened, PUBLISHER),
            (&widened, REPORTER),
            (&edit, PUBLISHER),
        ]);
        assert!(s.held_delivery(LABEL).is_empty());
        assert_eq!(
            s.effective.as_ref().unwrap().at,
            crate::time::parse("2026-11-29T04:00:00Z").unwrap()
        );
        // A publisher's change older than the one kept takes nothing, whenever it comes.
        let late = merged(&[
            (&edit, PUBLISHER),
            (&opened, PUBLISHER),
            (&widened, REPORTER),
        ]);
        assert_eq!(late.effective, s.effective);
    }

    #[test]
    fn a_publishers_publish_command_takes_the_issue_as_its_hook_shows_it() {
        let opened = issue_hook(
            "mallory",
            "2026-11-29T02:00:00Z",
            WIDE,
            &MAINTENANCE,
            &["open"],
        );
        let s = merged(&[(&opened, REPORTER)]);
        assert!(s.effective.is_none(), "nobody's change but a reporter's");
        assert!(s.held_problem().contains("mutes no alert"));
        let mut s = s;
        let refused = note_hook("mallory", "2026-11-29T03:00:00Z", "/publish", WIDE);
        s.merge(&refused, Some("Note Hook"), LABELS, REPORTER);
        assert!(s.effective.is_none());
        let publish = note_hook("alice", "2026-11-29T03:00:00Z", "/publish", WIDE);
        s.merge(&publish, Some("Note Hook"), LABELS, PUBLISHER);
        let e = s.effective.clone().unwrap();
        assert_eq!((e.by.as_str(), e.via), ("alice", Taken::Publish));
        assert!(s.held_delivery(LABEL).is_empty());
        assert_eq!(
            e.labels,
            ["component::Database", "maintenance", "status-page"],
            "the labels known"
        );
        // A later publisher's `/publish` takes the issue its hook shows; a comment
        // without the command takes nothing.
        s.merge(
            &note_hook("alice", "2026-11-29T04:00:00Z", "Looks good", NARROW),
            Some("Note Hook"),
            LABELS,
            PUBLISHER,
        );
        assert_eq!(s.effective.as_ref(), Some(&e));
        s.merge(
            &note_hook("alice", "2026-11-29T05:00:00Z", "/publish", NARROW),
            Some("Note Hook"),
            LABELS,
            PUBLISHER,
        );
        assert_eq!(
            s.effective_delivery(LABEL).mute().as_deref(),
            Some("alertname=\"DiskFull\"")
        );
    }

    #[test]
    fn an_earlier_releases_state_is_taken_as_of_its_publication() {
        let opened = issue_hook(
            "alice",
            "2026-11-29T02:00:00Z",
            NARROW,
            &MAINTENANCE,
            &["open"],
        );
        let mut s = merged(&[(&opened, PUBLISHER)]);
        let reporter = issue_hook(
            "mallory",
            "2026-11-29T03:00:00Z",
            WIDE,
            &MAINTENANCE,
            &["description"],
        );
        s.merge(&reporter, Some("Issue Hook"), LABELS, REPORTER);
        // As an earlier release wrote it: no such field.
        let mut json = serde_json::to_value(&s).unwrap();
        json.as_object_mut().unwrap().remove("effective");
        let mut old: IncidentState = serde_json::from_value(json).unwrap();
        assert!(old.effective.is_none());
        old.adopt_earlier_release();
        let e = old.effective.clone().unwrap();
        assert_eq!((e.by.as_str(), e.via), ("alice", Taken::Upgrade));
        assert_eq!(
            e.at,
            crate::time::parse("2026-11-29T02:00:00Z").unwrap(),
            "its publication"
        );
        assert!(
            old.held_delivery(LABEL).is_empty(),
            "as it stood at the upgrade"
        );
        // Once only; and never for what was never published.
        old.adopt_earlier_release();
        assert_eq!(old.effective, Some(e));
        let mut private = merged(&[(&reporter, REPORTER)]);
        private.adopt_earlier_release();
        assert!(private.effective.is_none());
    }

    #[test]
    fn commands_are_whole_lines_outside_code() {
        assert_eq!(commands("Update\n/publish\n"), (true, false));
        assert_eq!(commands("  /unpublish  "), (false, true));
        assert_eq!(commands("do not /publish this"), (false, false));
        assert_eq!(commands("```\n/publish\n```"), (false, false));
    }

    /// An Issue Hook as GitLab Free sends it when `to` is added to an issue labelled
    /// `from` (scoped labels are not exclusive there: both remain).
    fn relabel(at: &str, from: &[&str], to: &[&str]) -> Hook {
        let labels = |ls: &[&str]| {
            ls.iter()
                .map(|l| serde_json::json!({"title": l}))
                .collect::<Vec<_>>()
        };
        let body = serde_json::json!({
            "object_kind": "issue",
            "event_type": "issue",
            "user": {"username": "bob"},
            "project": {"id": 42},
            "object_attributes": {
                "id": 900, "iid": 7, "title": "API down", "state": "opened",
                "created_at": "2026-12-01T10:00:00Z", "updated_at": at,
                "action": "update", "labels": labels(to)
            },
            "labels": labels(to),
            "changes": {"labels": {"previous": labels(from), "current": labels(to)}}
        });
        Hook::parse(Some("Issue Hook"), body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_stage_is_the_status_label_added_last_whatever_remains() {
        let mut s = IncidentState::new(7, 42);
        let inv = "status::investigating";
        let mon = "status::monitoring";
        let ide = "status::identified";
        s.merge(
            &relabel("2026-12-01T10:05:00Z", &[inv], &[inv, mon]),
            Some("Issue Hook"),
            LABELS,
            Verdict::default(),
        );
        assert_eq!(s.stage(), Some("monitoring"));
        // Back from monitoring to identified: on Free both labels stay.
        let back = relabel("2026-12-01T10:09:00Z", &[inv, mon], &[inv, mon, ide]);
        s.merge(&back, Some("Issue Hook"), LABELS, Verdict::default());
        assert_eq!(s.stage(), Some("identified"));
        // A late delivery of the earlier change rolls nothing back.
        let late = relabel("2026-12-01T10:05:00Z", &[inv], &[inv, mon]);
        s.merge(&late, Some("Issue Hook"), LABELS, Verdict::default());
        assert_eq!(s.stage(), Some("identified"));
        // Labels never seen added (an earlier release's state): the later stage.
        s.labels_added.clear();
        assert_eq!(s.stage(), Some("monitoring"));
        // Added in one change: a tie, the later stage.
        let mut t = IncidentState::new(8, 42);
        let both = relabel("2026-12-01T10:05:00Z", &[], &[ide, mon]);
        t.merge(&both, Some("Issue Hook"), LABELS, Verdict::default());
        assert_eq!(t.stage(), Some("monitoring"));
    }

    #[test]
    fn label_events_of_a_resync_say_when_each_stage_was_added() {
        let mut s = IncidentState::new(7, 42);
        let event = |id, at: &str, name: &str| ApiLabelEvent {
            id,
            user: None,
            created_at: crate::time::parse(at).unwrap(),
            label: Some(crate::gitlab::ApiLabel { name: name.into() }),
            action: "add".into(),
        };
        let issue: ApiIssue = serde_json::from_value(serde_json::json!({
            "id": 900, "iid": 7, "title": "API down", "state": "opened",
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:09:00Z",
            "labels": ["status::monitoring", "status::identified"]
        }))
        .unwrap();
        let events = [
            event(1, "2026-12-01T10:05:00Z", "status::monitoring"),
            event(2, "2026-12-01T10:09:00Z", "status::identified"),
        ];
        let view = ApiView {
            issue: &issue,
            notes: &[],
            awards: &BTreeMap::new(),
            label_events: &events,
            verdicts: &BTreeMap::new(),
        };
        s.resync(&view, "status-page");
        assert_eq!(s.stage(), Some("identified"));
    }

    /// A 🎤 given from chat has no award in GitLab: a resync keeps it while its note
    /// stands, and drops it with the note; a GitLab award is read back as before.
    #[test]
    fn a_resync_keeps_a_microphone_given_from_chat_while_its_note_stands() {
        let award = |via_chat: bool| {
            serde_json::json!({"object_kind": "emoji", "user": {"username": "alice"},
                "project": {"id": 42}, "openmic_via_chat": via_chat,
                "object_attributes": {"id": 5, "name": MICROPHONE, "awardable_type": "Note",
                    "awardable_id": 77, "created_at": "2026-12-01T10:01:00Z", "action": "award"},
                "note": {"id": 77, "note": "Failover done", "noteable_type": "Issue",
                    "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z"},
                "issue": {"id": 900, "iid": 7, "title": "API down", "state": "opened",
                    "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z"}})
        };
        let issue: ApiIssue = serde_json::from_value(serde_json::json!({
            "id": 900, "iid": 7, "title": "API down", "state": "opened",
            "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T10:09:00Z"
        }))
        .unwrap();
        let note: ApiNote = serde_json::from_value(serde_json::json!({
            "id": 77, "body": "Failover done", "author": {"id": 9, "username": "openmic-bot"},
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z"
        }))
        .unwrap();
        for (via_chat, notes, kept) in [
            (true, vec![note.clone()], true),
            (true, vec![], false),
            (false, vec![note.clone()], false),
        ] {
            let mut s = IncidentState::new(7, 42);
            let hook =
                Hook::parse(Some("Emoji Hook"), award(via_chat).to_string().as_bytes()).unwrap();
            s.merge(&hook, Some("Emoji Hook"), LABELS, PUBLISHER);
            assert!(s.notes[&77].has_trusted_microphone());
            let view = ApiView {
                issue: &issue,
                notes: &notes,
                awards: &BTreeMap::new(),
                label_events: &[],
                verdicts: &BTreeMap::new(),
            };
            s.resync(&view, "status-page");
            let stands = s
                .notes
                .get(&77)
                .is_some_and(NoteState::has_trusted_microphone);
            assert_eq!(
                stands,
                kept,
                "via_chat {via_chat}, note kept {}",
                !notes.is_empty()
            );
        }
    }

    mod postmortem {
        use std::collections::BTreeMap;

        use super::super::*;

        fn at(s: &str) -> Timestamp {
            crate::time::parse(s).unwrap()
        }

        /// A note: its id, when, its text, and a 🎤 (by a publisher or not, when).
        type Written<'a> = (u64, &'a str, &'a str, Option<(bool, &'a str)>);

        fn state(closed: bool, notes: &[Written<'_>]) -> IncidentState {
            let mut s = IncidentState::new(1, 42);
            s.issue = Some(IssueSnapshot {
                id: 1001,
                title: "API errors".into(),
                description: String::new(),
                state: if closed { "closed" } else { "opened" }.into(),
                confidential: false,
                created_at: at("2026-12-01T09:00:00Z"),
                updated_at: at("2026-12-01T12:00:00Z"),
                closed_at: closed.then(|| at("2026-12-01T12:00:00Z")),
                labels: vec![],
                severity: None,
            });
            for (id, created, body, award) in notes {
                let mut microphones = BTreeMap::new();
                if let Some((publisher, when)) = award {
                    microphones.insert(
                        "alice".to_owned(),
                        AwardState {
                            awarded: true,
                            at: at(when),
                            trusted: true,
                            publisher: *publisher,
                            via_chat: false,
                        },
                    );
                }
                s.notes.insert(
                    *id,
                    NoteState {
                        id: *id,
                        body: (*body).into(),
                        created_at: at(created),
                        updated_at: at(created),
                        system: false,
                        internal: false,
                        microphones,
                    },
                );
            }
            s
        }

        const PM: &str = "# Postmortem\nThe cause.";

        #[test]
        fn only_after_close_and_only_by_a_publishers_microphone() {
            let award = Some((true, "2026-12-01T13:00:00Z"));
            // Open: held, and never an ordinary comment.
            let open = state(false, &[(5, "2026-12-01T11:00:00Z", PM, award)]);
            assert_eq!(open.postmortem(), None);
            assert!(open.published_notes().is_empty());
            // Closed: the postmortem, published at the award (after the close).
            let closed = state(true, &[(5, "2026-12-01T11:00:00Z", PM, award)]);
            let found = closed.postmortem().unwrap();
            assert_eq!(
                (found.note.id, found.published_at),
                (5, at("2026-12-01T13:00:00Z"))
            );
            assert!(closed.published_notes().is_empty());
            // Marked before the close: published at the close.
            let early = state(
                true,
                &[(
                    5,
                    "2026-12-01T11:00:00Z",
                    PM,
                    Some((true, "2026-12-01T11:30:00Z")),
                )],
            );
            assert_eq!(
                early.postmortem().unwrap().published_at,
                at("2026-12-01T12:00:00Z")
            );
            // A trusted microphone that is not a publisher's: nothing.
            let trusted = state(
                true,
                &[(
                    5,
                    "2026-12-01T11:00:00Z",
                    PM,
                    Some((false, "2026-12-01T13:00:00Z")),
                )],
            );
            assert_eq!(trusted.postmortem(), None);
            // No microphone: nothing.
            assert_eq!(
                state(true, &[(5, "2026-12-01T11:00:00Z", PM, None)]).postmortem(),
                None
            );
            // Several: the latest note.
            let two = state(
                true,
                &[
                    (5, "2026-12-01T11:00:00Z", PM, award),
                    (6, "2026-12-01T12:30:00Z", "## Postmortem\nRevised.", award),
                    (7, "2026-12-01T12:40:00Z", "A comment", award),
                ],
            );
            assert_eq!(two.postmortem().unwrap().note.id, 6);
            assert_eq!(
                two.published_notes()
                    .iter()
                    .map(|n| n.id)
                    .collect::<Vec<_>>(),
                [7]
            );
            // Confidential: nothing.
            let mut secret = closed.clone();
            secret.issue.as_mut().unwrap().confidential = true;
            assert_eq!(secret.postmortem(), None);
        }

        #[test]
        fn an_earlier_releases_award_is_no_publishers() {
            let json =
                serde_json::json!({"awarded": true, "at": "2026-12-01T13:00:00Z", "trusted": true});
            let a: AwardState = serde_json::from_value(json).unwrap();
            assert!(!a.publisher);
        }
    }
}
