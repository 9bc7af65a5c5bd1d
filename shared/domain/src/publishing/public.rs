//! What of an incident becomes public: its state rendered to the public detail
//! document, kept under 1 MiB.

use crate::maintenance::{Stage, Window, WindowError};
use crate::publishing::incident::{IncidentState, IssueSnapshot};
use crate::site::data::{
    Comment, Incident, Links, MAX_DETAIL_BYTES, Postmortem, components_of, detail_key, stage_of,
};
use crate::site::render::{self, RenderContext, Upload};
use crate::time::Timestamp;

/// The maintenance an issue is, if it carries `label`: its window and its stage at
/// `now`. A maintenance whose window cannot be read is an error (it is shown nowhere
/// rather than with a wrong time), and so is one whose `Mute:` line cannot (it would
/// page people for what it was meant to mute).
pub fn maintenance(
    issue: &IssueSnapshot,
    label: &str,
    now: Timestamp,
) -> Result<Option<(Window, Stage)>, WindowError> {
    if !issue.labels.iter().any(|l| l == label) {
        return Ok(None);
    }
    let window = Window::from_description(&issue.description)?.ok_or_else(|| {
        WindowError("a maintenance needs a line `Window: <start>/<end>` in its description".into())
    })?;
    crate::maintenance::mute_matchers(&issue.description)?;
    Ok(Some((
        window,
        Stage::at(&window, issue.state == "closed", now),
    )))
}

/// A rendered incident and the uploads its text points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedIncident {
    pub incident: Incident,
    pub uploads: Vec<Upload>,
}

/// Renders the public view of a published incident under its public `id`; a
/// maintenance gets its kind, window and stage. `gitlab_url` is `GITLAB_URL`.
pub fn render_incident(
    state: &IncidentState,
    id: u64,
    gitlab_url: Option<&str>,
    maintenance: Option<(Window, Stage)>,
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
    // The call link is for the people working the incident, never the public page.
    let public_description = crate::chat::commands::bridge::without_bridge(&issue.description);
    let description = render::markdown(&public_description, &ctx);
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
    let postmortem = state.postmortem().map(|found| {
        let r = render::markdown(super::postmortem::text(&found.note.body), &ctx);
        for u in r.uploads {
            if !uploads.contains(&u) {
                uploads.push(u);
            }
        }
        Postmortem {
            published_at: found.published_at,
            text: r.html,
        }
    });
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
        stage: Some(match maintenance {
            Some((_, stage)) => stage.as_str().to_owned(),
            None => stage_of(&issue.state, &issue.labels, &state.labels_added).to_owned(),
        }),
        kind: maintenance.map(|_| crate::site::data::MAINTENANCE.to_owned()),
        window: maintenance.map(|(w, _)| w),
        components: components_of(&issue.labels),
        closed_at: (issue.state == "closed").then(|| issue.closed_at.unwrap_or(issue.updated_at)),
        postmortem,
        key_times: vec![],
    };
    let postmortem_src = state
        .postmortem()
        .map_or("", |f| super::postmortem::text(&f.note.body));
    fit_detail(&mut incident, &public_description, postmortem_src, &ctx);
    Some(RenderedIncident { incident, uploads })
}

/// Keeps the detail document under [`MAX_DETAIL_BYTES`]: the oldest comments go first,
/// then the description is cut, then the postmortem.
fn fit_detail(
    incident: &mut Incident,
    description_src: &str,
    postmortem_src: &str,
    ctx: &RenderContext,
) {
    // JSON escaping makes a character at most six bytes (`\u001f`): text that small
    // cannot reach the limit, and needs no serialising to tell.
    let text: usize = incident.title.len()
        + incident.description.len()
        + incident.postmortem.as_ref().map_or(0, |p| p.text.len())
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
    let mut budget = postmortem_src.len();
    while size(incident) > MAX_DETAIL_BYTES && budget > 0 {
        budget /= 2;
        let mut cut = budget;
        while !postmortem_src.is_char_boundary(cut) {
            cut -= 1;
        }
        let r = render::markdown(&postmortem_src[..cut], ctx);
        if let Some(p) = incident.postmortem.as_mut() {
            p.text = format!("{}<p><em>(postmortem shortened)</em></p>", r.html);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publishing::incident::{
        Action, AwardState, Decision, IssueSnapshot, NoteState, Via,
    };
    use crate::time;

    fn state(description: String, comments: usize, comment_len: usize) -> IncidentState {
        let t = time::parse("2024-03-01T09:00:00Z").unwrap();
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
                    via_chat: false,
                    publisher: true,
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
        let r = render_incident(&state("short".into(), 3, 10), 1, None, None).unwrap();
        assert_eq!(r.incident.comments.as_ref().map(Vec::len), Some(3));
        // Comments too large together: the oldest go first.
        let r = render_incident(&state("short".into(), 100, 20_000), 1, None, None).unwrap();
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
        let r = render_incident(&state("word ".repeat(400_000), 0, 0), 1, None, None).unwrap();
        assert!(size(&r.incident) <= MAX_DETAIL_BYTES);
        assert!(
            r.incident
                .description
                .ends_with("<p><em>(description shortened)</em></p>")
        );
    }
}
