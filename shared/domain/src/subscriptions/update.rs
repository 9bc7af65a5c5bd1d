//! What subscribers are told: an [`Update`] of a published incident, found by
//! comparing what was public before a change with what is public after it. Nothing
//! that is not public is ever an update.

use serde::{Deserialize, Serialize};

use crate::maintenance::Window;
use crate::site::data::Incident;
use crate::time::{self, Timestamp};

/// The kinds of update. Each has its headline in the mail templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// An incident became public.
    Published,
    /// A comment became public.
    Comment,
    /// The stage changed (investigating, identified, monitoring, resolved).
    Stage,
    Closed,
    Reopened,
    /// A scheduled maintenance became public.
    Announced,
    /// A maintenance's window began.
    Started,
    /// A maintenance's window ended, or its issue was closed.
    Completed,
    /// A closed incident's postmortem became public.
    Postmortem,
    /// A component's state on the page changed by its alerts
    /// (`COMPONENT_ALERTS_NOTIFY`): its name and states, nothing of the alerts.
    Component,
}

impl UpdateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateKind::Published => "published",
            UpdateKind::Comment => "comment",
            UpdateKind::Stage => "stage",
            UpdateKind::Closed => "closed",
            UpdateKind::Reopened => "reopened",
            UpdateKind::Announced => "announced",
            UpdateKind::Started => "started",
            UpdateKind::Completed => "completed",
            UpdateKind::Postmortem => "postmortem",
            UpdateKind::Component => "component",
        }
    }
}

/// The incident an update is about, as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Its public id (`incidents/<id>.html`).
    pub id: u64,
    /// Sanitised HTML, as published.
    pub title: String,
    pub status: String,
    pub stage: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// A maintenance's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

/// One public change, for subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The same change always has the same id, whoever finds it and however often:
    /// `<incident>.<kind>[.<detail>]`, an audience's `<audience>.<incident>.<kind>…`.
    /// Deliveries are recorded by it.
    pub id: String,
    pub kind: UpdateKind,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub at: Timestamp,
    pub incident: Subject,
    /// What the update says, as published (sanitised HTML): the description of a
    /// published incident, a comment's text; empty for a change of stage or state.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub html: String,
    /// The stage before a change of stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_stage: Option<String>,
    /// The audience whose page alone shows the incident (`audience::<name>`): mailed
    /// only to that audience's subscribers. None: a public update, for everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// The updates of components whose state on the page changed when their alerts'
/// states (version `version`, taken at `at`) did: `before` and `after` are each
/// component's state as the page showed it and shows it now (`site::summary`), in the
/// page's order. Only the component's name and its states are in them; the id
/// (`component.<hash of the name>.<version>`) is the same however often it is found.
pub fn component_updates(
    before: &[(String, crate::site::history::State)],
    after: &[(String, crate::site::history::State)],
    version: u64,
    at: Timestamp,
) -> Vec<Update> {
    after
        .iter()
        .filter_map(|(name, now)| {
            let was = before.iter().find(|(n, _)| n == name).map(|(_, s)| *s)?;
            (was != *now).then(|| Update {
                id: format!(
                    "component.{}.{version}",
                    hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(name.as_bytes())[..8])
                ),
                kind: UpdateKind::Component,
                at,
                incident: Subject {
                    id: 0,
                    title: openmic_core::html::escape(name),
                    status: "component".into(),
                    stage: now.key().into(),
                    components: vec![name.clone()],
                    severity: None,
                    window: None,
                },
                html: String::new(),
                previous_stage: Some(was.key().into()),
                // The public page's components: an audience's own are not among them.
                audience: None,
            })
        })
        .collect()
}

fn subject(i: &Incident) -> Subject {
    Subject {
        id: i.id,
        title: i.title.clone(),
        status: i.status.clone(),
        stage: stage(i).to_owned(),
        components: i.components.clone(),
        severity: i.severity.clone(),
        window: i.window.filter(|_| i.is_maintenance()),
    }
}

fn stage(i: &Incident) -> &str {
    i.stage.as_deref().unwrap_or("investigating")
}

/// The updates between what was public (`before`, none if the incident was not)
/// and what is now (`after`): the publication alone for a new one; else each newly
/// published comment, oldest first, then a close, a reopen or a change of stage.
/// A scheduled maintenance is announced instead of published, and its stage
/// changes are its start and its completion (closing its issue completes it). A
/// postmortem that became public is one more, last: once per incident, whatever
/// happens to it after.
pub fn detect(before: Option<&Incident>, after: &Incident) -> Vec<Update> {
    let mut out = changes(before, after);
    if before.is_none_or(|b| b.postmortem.is_none())
        && let Some(p) = &after.postmortem
    {
        out.push(Update {
            id: format!("{}.postmortem", after.id),
            kind: UpdateKind::Postmortem,
            at: p.published_at,
            incident: subject(after),
            html: p.text.clone(),
            previous_stage: None,
            audience: None,
        });
    }
    out
}

/// [`detect`]'s updates but the postmortem.
fn changes(before: Option<&Incident>, after: &Incident) -> Vec<Update> {
    let id = after.id;
    let Some(before) = before else {
        let (id, kind) = match after.is_maintenance() {
            true => (format!("{id}.announced"), UpdateKind::Announced),
            false => (format!("{id}.published"), UpdateKind::Published),
        };
        return vec![Update {
            id,
            kind,
            at: after.created_at.max(after.updated_at),
            incident: subject(after),
            html: after.description.clone(),
            previous_stage: None,
            audience: None,
        }];
    };
    let mut out = Vec::new();
    let known: std::collections::BTreeSet<Timestamp> = before
        .comments
        .iter()
        .flatten()
        .map(|c| c.created_at)
        .collect();
    let mut new: Vec<_> = after
        .comments
        .iter()
        .flatten()
        .filter(|c| !known.contains(&c.created_at))
        .collect();
    new.sort_by_key(|c| c.created_at);
    for c in new {
        out.push(Update {
            id: format!("{id}.comment.{}", c.created_at.timestamp_millis()),
            kind: UpdateKind::Comment,
            at: c.created_at,
            incident: subject(after),
            html: c.note.clone(),
            previous_stage: None,
            audience: None,
        });
    }
    if after.is_maintenance() {
        out.extend(maintenance_moment(before, after));
        return out;
    }
    let at = after.updated_at;
    let millis = at.timestamp_millis();
    let change = match (before.status.as_str(), after.status.as_str()) {
        ("opened", "closed") => Some((UpdateKind::Closed, format!("{id}.closed.{millis}"))),
        ("closed", "opened") => Some((UpdateKind::Reopened, format!("{id}.reopened.{millis}"))),
        _ if stage(before) != stage(after) => Some((
            UpdateKind::Stage,
            format!("{id}.stage.{}.{millis}", stage(after)),
        )),
        _ => None,
    };
    if let Some((kind, update_id)) = change {
        out.push(Update {
            id: update_id,
            kind,
            at,
            incident: subject(after),
            html: String::new(),
            previous_stage: (kind == UpdateKind::Stage).then(|| stage(before).to_owned()),
            audience: None,
        });
    }
    out
}

/// A maintenance's start or completion, when its stage moved to one: at the start of
/// its window, at its end or its closing. The same moment has the same id, so a
/// reopened and closed again maintenance is not completed twice at one instant.
fn maintenance_moment(before: &Incident, after: &Incident) -> Option<Update> {
    let w = after.window?;
    if stage(before) == stage(after) {
        return None;
    }
    let (kind, at) = match stage(after) {
        "in_progress" => (UpdateKind::Started, w.starts_at),
        "completed" => (
            UpdateKind::Completed,
            after.closed_at.map_or(w.ends_at, |c| c.min(w.ends_at)),
        ),
        _ => return None,
    };
    Some(Update {
        id: format!("{}.{}.{}", after.id, kind.as_str(), at.timestamp_millis()),
        kind,
        at,
        incident: subject(after),
        html: String::new(),
        previous_stage: Some(stage(before).to_owned()),
        audience: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_changed_by_its_alerts_is_an_update_of_its_name_and_states_only() {
        use crate::site::history::State;
        let at = time::parse("2024-03-05T10:00:00Z").unwrap();
        let before = vec![
            ("API".to_owned(), State::Operational),
            ("Database".to_owned(), State::Operational),
        ];
        let after = vec![
            ("API".to_owned(), State::Operational),
            ("Database".to_owned(), State::MajorOutage),
        ];
        let u = component_updates(&before, &after, 4, at);
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].kind, UpdateKind::Component);
        assert_eq!(u[0].incident.components, vec!["Database".to_owned()]);
        assert_eq!(
            (u[0].incident.stage.as_str(), u[0].previous_stage.as_deref()),
            ("major_outage", Some("operational"))
        );
        assert!(u[0].html.is_empty());
        // The same change, found again, is the same update; nothing changed, none.
        assert_eq!(component_updates(&before, &after, 4, at)[0].id, u[0].id);
        assert_ne!(component_updates(&before, &after, 5, at)[0].id, u[0].id);
        assert!(component_updates(&after, &after, 5, at).is_empty());
    }
    use crate::site::data::{Comment, Links};

    fn incident(status: &str, stage: &str, comments: &[(&str, &str)]) -> Incident {
        let t = crate::time::parse("2026-12-01T09:00:00Z").unwrap();
        Incident {
            id: 7,
            status: status.into(),
            title: "API errors".into(),
            description: "<p>Elevated errors.</p>".into(),
            created_at: t,
            updated_at: t + chrono::TimeDelta::minutes(comments.len() as i64),
            comments: Some(
                comments
                    .iter()
                    .map(|(at, note)| Comment {
                        note: (*note).into(),
                        created_at: crate::time::parse(at).unwrap(),
                    })
                    .collect(),
            ),
            links: Links {
                details: "data/incident/7.json".into(),
            },
            severity: None,
            stage: Some(stage.into()),
            components: vec!["api".into()],
            kind: None,
            window: None,
            closed_at: None,
            postmortem: None,
            key_times: vec![],
        }
    }

    #[test]
    fn a_maintenance_is_announced_started_and_completed() {
        let mut m = incident("opened", "scheduled", &[]);
        m.kind = Some("maintenance".into());
        m.window =
            Some(crate::maintenance::Window::parse_line("2026-12-01T10:00:00Z/PT2H").unwrap());
        let u = detect(None, &m);
        assert_eq!(kinds(&u), vec![(UpdateKind::Announced, "7.announced")]);
        assert_eq!(u[0].incident.window, m.window);
        assert!(detect(Some(&m), &m).is_empty(), "nothing moved");
        let mut started = m.clone();
        started.stage = Some("in_progress".into());
        let u = detect(Some(&m), &started);
        assert_eq!(
            kinds(&u),
            vec![(UpdateKind::Started, "7.started.1796119200000")]
        );
        // Closed early: completed at its closing, with a comment first.
        let mut done = started.clone();
        done.stage = Some("completed".into());
        done.status = "closed".into();
        done.closed_at = Some(crate::time::parse("2026-12-01T11:00:00Z").unwrap());
        done.comments = Some(vec![Comment {
            note: "<p>Done early.</p>".into(),
            created_at: crate::time::parse("2026-12-01T10:59:00Z").unwrap(),
        }]);
        let u = detect(Some(&started), &done);
        assert_eq!(
            kinds(&u),
            vec![
                (UpdateKind::Comment, "7.comment.1796122740000"),
                (UpdateKind::Completed, "7.completed.1796122800000")
            ]
        );
        // Reopened: back in progress, not started again.
        let mut reopened = done.clone();
        reopened.stage = Some("in_progress".into());
        reopened.status = "opened".into();
        assert_eq!(
            detect(Some(&done), &reopened)[0].id,
            "7.started.1796119200000"
        );
    }

    fn kinds(u: &[Update]) -> Vec<(UpdateKind, &str)> {
        u.iter().map(|u| (u.kind, u.id.as_str())).collect()
    }

    #[test]
    fn a_publication_is_one_update_whatever_it_holds() {
        let after = incident(
            "opened",
            "identified",
            &[("2026-12-01T09:05:00Z", "<p>a</p>")],
        );
        let u = detect(None, &after);
        assert_eq!(kinds(&u), vec![(UpdateKind::Published, "7.published")]);
        assert_eq!(u[0].html, "<p>Elevated errors.</p>");
        assert_eq!(u[0].incident.components, vec!["api".to_string()]);
    }

    #[test]
    fn comments_then_the_change_of_state() {
        let before = incident(
            "opened",
            "identified",
            &[("2026-12-01T09:05:00Z", "<p>a</p>")],
        );
        let after = incident(
            "closed",
            "resolved",
            &[
                ("2026-12-01T09:05:00Z", "<p>a, edited</p>"),
                ("2026-12-01T09:30:00Z", "<p>c</p>"),
                ("2026-12-01T09:10:00Z", "<p>b</p>"),
            ],
        );
        let u = detect(Some(&before), &after);
        assert_eq!(
            kinds(&u),
            vec![
                (UpdateKind::Comment, "7.comment.1796116200000"),
                (UpdateKind::Comment, "7.comment.1796117400000"),
                (UpdateKind::Closed, "7.closed.1796115780000"),
            ],
            "an edited comment is no update"
        );
        assert_eq!(u[0].html, "<p>b</p>");
        let reopened = detect(Some(&after), &incident("opened", "monitoring", &[]));
        assert_eq!(reopened.len(), 1);
        assert_eq!(reopened[0].kind, UpdateKind::Reopened);
    }

    #[test]
    fn a_change_of_stage_and_nothing_for_no_change() {
        let before = incident("opened", "identified", &[]);
        let mut after = incident("opened", "monitoring", &[]);
        after.updated_at += chrono::TimeDelta::minutes(3);
        let u = detect(Some(&before), &after);
        assert_eq!(u.len(), 1);
        assert_eq!(
            (
                u[0].kind,
                u[0].previous_stage.as_deref(),
                u[0].incident.stage.as_str()
            ),
            (UpdateKind::Stage, Some("identified"), "monitoring")
        );
        assert!(u[0].id.starts_with("7.stage.monitoring."));
        assert_eq!(
            detect(Some(&after), &after),
            vec![],
            "the same again: nothing"
        );
        // The same change found twice has the same id.
        assert_eq!(detect(Some(&before), &after), u);
    }

    #[test]
    fn a_postmortem_is_one_update_after_the_close() {
        let open = incident("opened", "monitoring", &[]);
        let closed = incident("closed", "resolved", &[]);
        let mut with = closed.clone();
        with.postmortem = Some(crate::site::data::Postmortem {
            published_at: crate::time::parse("2026-12-02T10:00:00Z").unwrap(),
            text: "<p>The cause.</p>".into(),
        });
        let u = detect(Some(&closed), &with);
        assert_eq!(kinds(&u), vec![(UpdateKind::Postmortem, "7.postmortem")]);
        assert_eq!(u[0].html, "<p>The cause.</p>");
        // Closed and postmortem in one change: both, the close first.
        let both = detect(Some(&open), &with);
        assert_eq!(
            both.iter().map(|u| u.kind).collect::<Vec<_>>(),
            [UpdateKind::Closed, UpdateKind::Postmortem]
        );
        // Edited later: no update; and the same id however it is found.
        let mut edited = with.clone();
        edited.postmortem.as_mut().unwrap().text = "<p>Revised.</p>".into();
        assert!(detect(Some(&with), &edited).is_empty());
        assert_eq!(detect(None, &with).last().unwrap().id, "7.postmortem");
    }
}
