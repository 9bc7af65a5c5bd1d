//! GitLab's incident timeline, with API access (`GITLAB_URL`, `GITLAB_TOKEN` with the
//! `api` scope): openmic writes an event for what it did to a published incident (its
//! publication, its resolution on the page), once each, a maintenance none; and the
//! public detail shows the key times a publisher tagged on the timeline (`Start time`,
//! `Impact detected`, `Impact mitigated`, `End time`), the latest of each tag, never the
//! events' notes.
//!
//! Its events are written by the one writer of timeline events,
//! [`crate::timeline::write_events`].

use tracing::warn;

use super::Publisher;
use super::incident::IncidentState;
use crate::errors::ProcessError;
use crate::gitlab::ApiTimelineEvent;
use crate::site::data::{self, KEY_TIME_TAGS, KeyTime};
use crate::timeline::{Event, write_events};

/// What openmic writes on an incident's timeline, by the name its state remembers it
/// by: the event's note and when it happened.
pub fn due_events(state: &IncidentState, detail: &data::Incident) -> Vec<Event> {
    let mut out = Vec::new();
    let written = |name: &str| state.timeline_written.iter().any(|w| w == name);
    if !written(PUBLISHED) {
        let at = state
            .decisions
            .iter()
            .filter(|d| d.allowed && d.action == super::incident::Action::Publish)
            .map(|d| d.at)
            .max()
            .unwrap_or(detail.created_at);
        out.push(Event::new(
            PUBLISHED,
            "openmic published this incident on the status page.",
            at,
        ));
    }
    if let Some(closed) = detail.closed_at.filter(|_| !detail.is_maintenance())
        && !written(RESOLVED)
    {
        out.push(Event::new(
            RESOLVED,
            "openmic showed this incident as resolved on the status page.",
            closed,
        ));
    }
    out
}

/// The state's name of the publication's event.
pub const PUBLISHED: &str = "published";
/// The state's name of the resolution's event.
pub const RESOLVED: &str = "resolved";

/// The project's path (`group/project`) from its web URL, the instance's address
/// (`GITLAB_URL`, which may have a path of its own) taken off.
pub fn project_path(project_url: &str, gitlab_url: Option<&str>) -> Option<String> {
    let rest = match gitlab_url.map(|g| g.trim_end_matches('/')) {
        Some(base) if project_url.starts_with(base) => &project_url[base.len()..],
        _ => {
            let (_, after_scheme) = project_url.split_once("://")?;
            &after_scheme[after_scheme.find('/')?..]
        }
    };
    let path = rest.trim_matches('/');
    (!path.is_empty()).then(|| path.to_owned())
}

/// The key times among `events` whose authors `may_publish` says are publishers: the
/// latest event of each key tag, in the order of [`KEY_TIME_TAGS`].
pub fn key_times(
    events: &[ApiTimelineEvent],
    publisher: impl Fn(&ApiTimelineEvent) -> bool,
) -> Vec<KeyTime> {
    KEY_TIME_TAGS
        .iter()
        .filter_map(|(gitlab, ours)| {
            events
                .iter()
                .filter(|e| e.tags.iter().any(|t| t.eq_ignore_ascii_case(gitlab)))
                .filter(|e| publisher(e))
                .map(|e| e.occurred_at)
                .max()
                .map(|occurred_at| KeyTime {
                    tag: (*ours).to_owned(),
                    occurred_at,
                })
        })
        .collect()
}

impl Publisher {
    /// The key times of a published incident's GitLab timeline. Without API access,
    /// or for a maintenance, none; when GitLab cannot be asked now, those published
    /// before stand.
    pub(super) async fn key_times(
        &self,
        state: &IncidentState,
        id: u64,
        detail: &data::Incident,
    ) -> Result<Vec<KeyTime>, ProcessError> {
        let (Some(api), Some(issue)) = (&self.gitlab, &state.issue) else {
            return Ok(Vec::new());
        };
        if detail.is_maintenance() {
            return Ok(Vec::new());
        }
        let Some(path) = state
            .project_url
            .as_deref()
            .and_then(|u| project_path(u, self.config.gitlab.gitlab_url.as_deref()))
        else {
            return Ok(Vec::new());
        };
        let events = match api.timeline_events(&path, issue.id).await {
            Ok(events) => events,
            Err(e) => {
                warn!(incident = %state.id(), error = %e, "the incident's timeline could not be read; its key times stay as published");
                return self.published_key_times(id).await;
            }
        };
        let mut publishers = std::collections::BTreeMap::new();
        for e in &events {
            let Some(author) = &e.author else { continue };
            if publishers.contains_key(&author.username) {
                continue;
            }
            let may = self
                .authorizer
                .may_publish(state.project_id, &author.username, Some(author.id))
                .await?;
            publishers.insert(author.username.clone(), may);
        }
        Ok(key_times(&events, |e| {
            e.author
                .as_ref()
                .is_some_and(|a| publishers.get(&a.username).copied().unwrap_or(false))
        }))
    }

    /// The key times of the detail now public.
    async fn published_key_times(&self, id: u64) -> Result<Vec<KeyTime>, ProcessError> {
        Ok(match self.status.get(&data::detail_key(id)).await? {
            Some(o) => serde_json::from_slice::<data::Incident>(&o.body)
                .map(|d| d.key_times)
                .unwrap_or_default(),
            None => Vec::new(),
        })
    }

    /// Writes on the incident's GitLab timeline what openmic did that is not there yet
    /// (with API access), and remembers it in the state. A passing failure fails the
    /// message for a retry; GitLab refusing (no `api` scope, an old GitLab) is logged
    /// and not tried again.
    pub(super) async fn write_timeline(
        &self,
        state: &IncidentState,
        detail: &data::Incident,
    ) -> Result<(), ProcessError> {
        let (Some(api), Some(issue)) = (&self.gitlab, &state.issue) else {
            return Ok(());
        };
        // A maintenance is no incident: GitLab keeps no timeline of it.
        if detail.is_maintenance() {
            return Ok(());
        }
        let events = due_events(state, detail);
        if events.is_empty() {
            return Ok(());
        }
        let written = write_events(api.as_ref(), issue.id, &events, &state.id().to_string()).await;
        if !written.done.is_empty() {
            self.update_state(state.id(), |s| {
                for name in &written.done {
                    if !s.timeline_written.contains(name) {
                        s.timeline_written.push(name.clone());
                    }
                }
            })
            .await?;
        }
        match written.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitlab::ApiUser;

    fn event(tag: &str, at: &str, by: &str) -> ApiTimelineEvent {
        ApiTimelineEvent {
            id: format!("gid://gitlab/IncidentManagement::TimelineEvent/{at}"),
            note: "internal words".into(),
            occurred_at: crate::time::parse(at).unwrap(),
            tags: vec![tag.to_owned()],
            author: Some(ApiUser {
                id: 1,
                username: by.to_owned(),
            }),
        }
    }

    #[test]
    fn a_publishers_latest_time_of_each_key_tag() {
        let events = [
            event("End time", "2026-12-07T12:00:00Z", "alice"),
            event("Start time", "2026-12-07T09:00:00Z", "alice"),
            event("Start time", "2026-12-07T09:30:00Z", "alice"),
            event("Impact detected", "2026-12-07T09:10:00Z", "mallory"),
            event("Something else", "2026-12-07T09:20:00Z", "alice"),
        ];
        let times = key_times(&events, |e| e.author.as_ref().unwrap().username == "alice");
        let got: Vec<(&str, String)> = times
            .iter()
            .map(|k| (k.tag.as_str(), crate::time::format(&k.occurred_at)))
            .collect();
        assert_eq!(
            got,
            [
                ("start_time", "2026-12-07T09:30:00.000Z".to_owned()),
                ("end_time", "2026-12-07T12:00:00.000Z".to_owned()),
            ]
        );
    }

    #[test]
    fn the_projects_path_from_its_address() {
        assert_eq!(
            project_path(
                "https://gitlab.example.com/ops/api",
                Some("https://gitlab.example.com/")
            ),
            Some("ops/api".into())
        );
        assert_eq!(
            project_path(
                "https://example.com/gitlab/ops/api",
                Some("https://example.com/gitlab")
            ),
            Some("ops/api".into())
        );
        assert_eq!(
            project_path(
                "https://other.example/g/sub/p",
                Some("https://gitlab.example.com")
            ),
            Some("g/sub/p".into())
        );
        assert_eq!(project_path("https://gitlab.example.com", None), None);
        assert_eq!(project_path("nonsense", None), None);
    }
}
