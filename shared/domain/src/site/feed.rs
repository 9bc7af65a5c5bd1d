//! `feed.atom`: the newest incidents and their published updates, links absolute
//! from `STATUS_PAGE_URL`, in the page's language. A maintenance is announced by its
//! own entry, and gets one more when it starts and one when it is completed. A
//! published postmortem is one entry of its own (`…#postmortem`). A
//! component's feed (`feed/<component>.atom`) holds the incidents naming it.

use minijinja::context;

use super::data::{Incident, LIST_LEN, PublishedIndex};
use super::{Page, component_feed_key, incident_page_key, render};
use crate::templates::RenderError;
use crate::time::{self, Timestamp};

/// The feed of every incident, or of those naming `component`.
pub(super) fn feed(
    index: &PublishedIndex,
    page: &Page,
    base: &str,
    component: Option<&str>,
) -> Result<String, RenderError> {
    let cat = page.catalogue();
    let mut items = Vec::new();
    let mut updated = None::<Timestamp>;
    let key = component.map_or_else(|| "feed.atom".to_owned(), component_feed_key);
    let names = |i: &Incident| {
        component.is_none_or(|_| i.components.iter().any(|n| component_feed_key(n) == key))
    };
    let entries = index
        .newest_first()
        .into_iter()
        .filter(|e| names(&e.incident));
    for e in entries.take(LIST_LEN) {
        let i = &e.incident;
        let link = format!("{base}/{}", incident_page_key(i.id));
        items.push((
            i.updated_at,
            context! {
                id => &link,
                title => &i.title,
                updated => time::format(&i.updated_at),
                published => time::format(&i.created_at),
                link => &link,
                content => &i.description,
            },
        ));
        updated = updated.max(Some(i.updated_at));
        for (stage, at) in maintenance_moments(i) {
            items.push((
                at,
                context! {
                    id => format!("{link}#{stage}"),
                    title => cat.format(&format!("feed.maintenance_{stage}"), &[("title", &i.title)]),
                    updated => time::format(&at),
                    published => time::format(&at),
                    link => &link,
                    content => &i.description,
                },
            ));
            updated = updated.max(Some(at));
        }
        if let Some(p) = &e.postmortem {
            items.push((
                p.published_at,
                context! {
                    id => format!("{link}#postmortem"),
                    title => cat.format("feed.postmortem", &[("title", &i.title)]),
                    updated => time::format(&p.published_at),
                    published => time::format(&p.published_at),
                    link => format!("{link}#postmortem"),
                    content => &p.text,
                },
            ));
            updated = updated.max(Some(p.published_at));
        }
        for c in &e.updates {
            items.push((
                c.created_at,
                context! {
                    id => format!("{link}#update-{}", c.created_at.timestamp_millis()),
                    title => cat.format("feed.update", &[("title", &i.title)]),
                    updated => time::format(&c.created_at),
                    published => time::format(&c.created_at),
                    link => &link,
                    content => &c.note,
                },
            ));
            updated = updated.max(Some(c.created_at));
        }
    }
    items.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    render(
        "feed.atom",
        context! {
            lang => page.language.code(),
            base => base,
            feed_url => format!("{base}/{key}"),
            component => component,
            site_title => &page.title,
            updated => time::format(&updated.or(super::last_change(index)).unwrap_or_default()),
            entries => items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        },
    )
}

/// The moments of a maintenance its stage has reached: started at its window's start,
/// completed at its end or when its issue was closed, if earlier.
fn maintenance_moments(i: &Incident) -> Vec<(&'static str, Timestamp)> {
    let Some(w) = i.window.as_ref().filter(|_| i.is_maintenance()) else {
        return Vec::new();
    };
    let ended = i.closed_at.map_or(w.ends_at, |c| c.min(w.ends_at));
    match i.stage.as_deref() {
        Some("in_progress") => vec![("started", w.starts_at)],
        Some("completed") if ended > w.starts_at => {
            vec![("started", w.starts_at), ("completed", ended)]
        }
        // Closed before it began: called off, completed without a start.
        Some("completed") => vec![("completed", ended)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::Window;
    use crate::site::data::Links;
    use crate::time::parse;

    fn maintenance(stage: &str, closed_at: Option<&str>) -> Incident {
        Incident {
            id: 9,
            status: if closed_at.is_some() {
                "closed"
            } else {
                "opened"
            }
            .into(),
            title: "Database upgrade".into(),
            description: String::new(),
            created_at: parse("2026-11-29T02:00:00Z").unwrap(),
            updated_at: parse("2026-11-29T02:00:00Z").unwrap(),
            comments: None,
            links: Links {
                details: "data/incident/9.json".into(),
            },
            severity: None,
            stage: Some(stage.into()),
            components: vec![],
            closed_at: closed_at.map(|t| parse(t).unwrap()),
            kind: Some("maintenance".into()),
            window: Some(Window::parse_line("2026-12-01T02:00:00Z/PT2H").unwrap()),
            postmortem: None,
            key_times: vec![],
        }
    }

    #[test]
    fn a_maintenance_has_an_entry_for_each_moment_it_reached() {
        let at = |t: &str| parse(t).unwrap();
        assert!(maintenance_moments(&maintenance("scheduled", None)).is_empty());
        assert_eq!(
            maintenance_moments(&maintenance("in_progress", None)),
            vec![("started", at("2026-12-01T02:00:00Z"))]
        );
        assert_eq!(
            maintenance_moments(&maintenance("completed", None)),
            vec![
                ("started", at("2026-12-01T02:00:00Z")),
                ("completed", at("2026-12-01T04:00:00Z"))
            ]
        );
        // Closed early; closed before it began.
        assert_eq!(
            maintenance_moments(&maintenance("completed", Some("2026-12-01T03:00:00Z")))[1],
            ("completed", at("2026-12-01T03:00:00Z"))
        );
        assert_eq!(
            maintenance_moments(&maintenance("completed", Some("2026-11-30T00:00:00Z"))),
            vec![("completed", at("2026-11-30T00:00:00Z"))]
        );
        let mut incident = maintenance("completed", None);
        incident.kind = None;
        assert!(maintenance_moments(&incident).is_empty());
    }
}
