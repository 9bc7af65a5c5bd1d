//! `feed.atom`: the newest incidents and their published updates, links absolute
//! from `STATUS_PAGE_URL`, in the page's language.

use minijinja::context;

use super::data::{LIST_LEN, PublishedIndex};
use super::{Page, incident_page_key, render};
use crate::time::{self, Timestamp};

pub(super) fn feed(index: &PublishedIndex, page: &Page, base: &str) -> Result<String, String> {
    let cat = page.catalogue();
    let mut items = Vec::new();
    let mut updated = None::<Timestamp>;
    for e in index.newest_first().into_iter().take(LIST_LEN) {
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
            site_title => &page.title,
            updated => time::format(&updated.or(super::last_change(index)).unwrap_or_default()),
            entries => items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        },
    )
}
