//! The public status data in GitLab's format: `data/incident/<iid>.json` and
//! `data/list.json` (GitLab's schemas: `basic_incident`, `incident_details`,
//! `incident_list`).

use serde::{Deserialize, Serialize};

use crate::config::PublicIds;
use crate::incident::{IncidentId, IncidentState};
use crate::render::{self, RenderContext, Upload};
use crate::timefmt::{self, Timestamp};

/// `Cache-Control` of public data: short, so a change shows within a minute.
pub const DATA_CACHE_CONTROL: &str = "public, max-age=30";
/// `Cache-Control` of copied uploads: their URL holds a secret and never changes.
pub const FILE_CACHE_CONTROL: &str = "public, max-age=86400";
/// The list holds this many incidents, newest first.
pub const LIST_LEN: usize = 20;
/// The largest detail document.
pub const MAX_DETAIL_BYTES: usize = 1024 * 1024;

pub const LIST_KEY: &str = "data/list.json";

/// `data/incident/<id>.json`, by the incident's public id.
pub fn detail_key(id: u64) -> String {
    format!("data/incident/{id}.json")
}

/// Everything published for an incident lives under this prefix (uploads).
pub fn files_prefix(id: u64) -> String {
    format!("data/incident/{id}/")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub note: String,
    #[serde(serialize_with = "timefmt::ser", deserialize_with = "timefmt::de")]
    pub created_at: Timestamp,
}

/// An incident as published. In the list, `comments` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: u64,
    pub status: String,
    pub title: String,
    pub description: String,
    #[serde(serialize_with = "timefmt::ser", deserialize_with = "timefmt::de")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "timefmt::ser", deserialize_with = "timefmt::de")]
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<Comment>>,
    pub links: Links,
    /// openmic's own: GitLab's severity when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// openmic's own: the lifecycle stage from `status::<stage>` labels (closed means
    /// resolved): investigating, identified, monitoring or resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// openmic's own: affected components from `component::<name>` labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
}

/// The lifecycle stages, in order.
pub const STAGES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

/// The stage of an issue: closed is resolved; else the latest stage among its
/// `status::` labels (GitLab allows one scoped label per scope); else investigating.
pub fn stage_of(state: &str, labels: &[String]) -> &'static str {
    if state == "closed" {
        return "resolved";
    }
    labels
        .iter()
        .filter_map(|l| l.strip_prefix("status::"))
        .filter_map(|s| STAGES.iter().position(|x| x.eq_ignore_ascii_case(s.trim())))
        .max()
        .map_or("investigating", |i| STAGES[i])
}

/// The components of `component::<name>` labels, sorted.
pub fn components_of(labels: &[String]) -> Vec<String> {
    let mut out: Vec<String> = labels
        .iter()
        .filter_map(|l| l.strip_prefix("component::"))
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Incident {
    /// The detail document's bytes, as the publisher writes them.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }

    /// The list entry: the detail without comments.
    pub fn summary(&self) -> Incident {
        Incident {
            comments: None,
            ..self.clone()
        }
    }
}

/// A rendered incident and the uploads its text points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedIncident {
    pub incident: Incident,
    pub uploads: Vec<Upload>,
}

/// Renders the public view of a published incident under its public `id`.
/// `gitlab_url` is `GITLAB_URL`.
pub fn render_incident(
    state: &IncidentState,
    id: u64,
    gitlab_url: Option<&str>,
) -> Option<RenderedIncident> {
    let issue = state.issue.as_ref()?;
    let mut urls: Vec<&str> = Vec::new();
    if let Some(u) = state.project_url.as_deref() {
        urls.push(u);
    }
    if let Some(u) = gitlab_url {
        urls.push(u);
    }
    let ctx = RenderContext::new(id, &urls);
    let description = render::markdown(&issue.description, &ctx);
    let mut uploads = description.uploads.clone();
    let mut comments = Vec::new();
    for note in state.published_notes() {
        let r = render::markdown(&note.body, &ctx);
        for u in r.uploads {
            if !uploads.contains(&u) {
                uploads.push(u);
            }
        }
        comments.push(Comment {
            note: r.html,
            created_at: note.created_at,
        });
    }
    uploads.truncate(render::MAX_UPLOADS);
    let severity = issue
        .severity
        .as_deref()
        .map(str::to_ascii_lowercase)
        .filter(|s| !s.is_empty() && s != "unknown");
    let mut incident = Incident {
        id,
        status: issue.state.clone(),
        title: render::title(&issue.title, &ctx),
        description: description.html,
        created_at: issue.created_at,
        updated_at: issue.updated_at,
        comments: Some(comments),
        links: Links {
            details: detail_key(id),
        },
        severity,
        stage: Some(stage_of(&issue.state, &issue.labels).to_owned()),
        components: components_of(&issue.labels),
    };
    fit_detail(&mut incident, &issue.description, &ctx);
    Some(RenderedIncident { incident, uploads })
}

/// Keeps the detail document under [`MAX_DETAIL_BYTES`]: the oldest comments go first,
/// then the description is cut.
fn fit_detail(incident: &mut Incident, description_src: &str, ctx: &RenderContext) {
    // JSON escaping makes a character at most six bytes (`\u001f`): text that small
    // cannot reach the limit, and needs no serialising to tell.
    let text: usize = incident.title.len()
        + incident.description.len()
        + incident
            .comments
            .iter()
            .flatten()
            .map(|c| c.note.len() + 64)
            .sum::<usize>();
    if text * 6 + 4096 < MAX_DETAIL_BYTES {
        return;
    }
    let size = |i: &Incident| i.to_json().map(|v| v.len()).unwrap_or(usize::MAX);
    let mut current = size(incident);
    while current > MAX_DETAIL_BYTES {
        let comments = incident.comments.get_or_insert_with(Vec::new);
        if comments.is_empty() {
            break;
        }
        let removed = comments.remove(0);
        current -= serde_json::to_vec(&removed)
            .map(|v| v.len() + 1)
            .unwrap_or(0);
    }
    let mut budget = description_src.len();
    while size(incident) > MAX_DETAIL_BYTES && budget > 0 {
        budget /= 2;
        let mut cut = budget;
        while !description_src.is_char_boundary(cut) {
            cut -= 1;
        }
        let r = render::markdown(&description_src[..cut], ctx);
        incident.description = format!("{}<p><em>(description shortened)</em></p>", r.html);
    }
}

/// `data/list.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
}

/// One published incident in the private index: its list entry and its latest
/// updates (for the feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub incident: Incident,
    #[serde(default)]
    pub updates: Vec<Comment>,
    /// The project and iid behind the public id (absent in the first release's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IncidentId>,
}

/// How many of an incident's latest updates the index keeps for the feed.
pub const FEED_UPDATES: usize = 10;

impl IndexEntry {
    pub fn of(detail: &Incident, source: IncidentId) -> IndexEntry {
        let comments = detail.comments.as_deref().unwrap_or_default();
        let skip = comments.len().saturating_sub(FEED_UPDATES);
        IndexEntry {
            incident: detail.summary(),
            updates: comments[skip..].to_vec(),
            source: Some(source),
        }
    }
}

/// The private index of every published incident (state bucket), from which the
/// public list and the site are derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PublishedIndex {
    /// By public id.
    pub incidents: std::collections::BTreeMap<u64, IndexEntry>,
    /// How the public ids were made.
    #[serde(default)]
    pub ids: PublicIds,
    /// The layout of the state bucket this index goes with: absent in the first
    /// release's, [`LAYOUT`] since incidents are keyed by project.
    #[serde(default)]
    pub layout: u32,
}

/// The state bucket's layout: incidents under `incidents/<project>/<iid>.json`.
pub const LAYOUT: u32 = 2;

pub const INDEX_KEY: &str = "index/published.json";

impl PublishedIndex {
    /// An empty index in this release's layout.
    pub fn new(ids: PublicIds) -> PublishedIndex {
        PublishedIndex {
            incidents: Default::default(),
            ids,
            layout: LAYOUT,
        }
    }

    /// Every entry, most recently created first.
    pub fn newest_first(&self) -> Vec<&IndexEntry> {
        let mut all: Vec<&IndexEntry> = self.incidents.values().collect();
        all.sort_by_key(|e| std::cmp::Reverse((e.incident.created_at, e.incident.id)));
        all
    }

    /// The 20 most recently created, newest first.
    pub fn list(&self) -> IncidentList {
        IncidentList {
            incidents: self
                .newest_first()
                .into_iter()
                .take(LIST_LEN)
                .map(|e| e.incident.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Action, AwardState, Decision, IssueSnapshot, NoteState, Via};

    fn state(description: String, comments: usize, comment_len: usize) -> IncidentState {
        let t = timefmt::parse("2024-03-01T09:00:00Z").unwrap();
        let mut s = IncidentState::new(1, 42);
        s.issue = Some(IssueSnapshot {
            id: 1,
            title: "Outage".into(),
            description,
            state: "opened".into(),
            confidential: false,
            created_at: t,
            updated_at: t,
            closed_at: None,
            labels: vec![],
            severity: None,
        });
        for n in 0..comments as u64 {
            let at = t + chrono::Duration::minutes(n as i64);
            let mut microphones = std::collections::BTreeMap::new();
            microphones.insert(
                "alice".into(),
                AwardState {
                    awarded: true,
                    at,
                    trusted: true,
                },
            );
            s.notes.insert(
                n,
                NoteState {
                    id: n,
                    body: format!("update {n} {}", "x".repeat(comment_len)),
                    created_at: at,
                    updated_at: at,
                    system: false,
                    internal: false,
                    microphones,
                },
            );
        }
        s.decisions.push(Decision {
            at: t,
            action: Action::Publish,
            via: Via::Label,
            by: "alice".into(),
            allowed: true,
            note_id: None,
        });
        s
    }

    fn size(i: &Incident) -> usize {
        serde_json::to_vec(i).unwrap().len()
    }

    #[test]
    fn the_detail_stays_under_one_mebibyte() {
        // Small: untouched.
        let r = render_incident(&state("short".into(), 3, 10), 1, None).unwrap();
        assert_eq!(r.incident.comments.as_ref().map(Vec::len), Some(3));
        // Comments too large together: the oldest go first.
        let r = render_incident(&state("short".into(), 100, 20_000), 1, None).unwrap();
        let comments = r.incident.comments.as_ref().unwrap();
        assert!(size(&r.incident) <= MAX_DETAIL_BYTES);
        assert!(
            comments.len() < 100 && comments.len() > 40,
            "{}",
            comments.len()
        );
        assert!(
            comments.last().unwrap().note.contains("update 99 "),
            "the newest stay"
        );
        // A description alone too large: shortened, and said so.
        let r = render_incident(&state("word ".repeat(400_000), 0, 0), 1, None).unwrap();
        assert!(size(&r.incident) <= MAX_DETAIL_BYTES);
        assert!(
            r.incident
                .description
                .ends_with("<p><em>(description shortened)</em></p>")
        );
    }
}
