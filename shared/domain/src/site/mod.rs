//! The status site the publisher writes beside the data, so the page is live with
//! nothing else to host: `index.html`, `incidents/<iid>.html`, a versioned stylesheet,
//! `feed.atom` and a feed per component (`feed/<component>.atom`), a badge
//! (`badge.svg`, and `badge.json` for shields.io's endpoint badge) and
//! `data/summary.json`. With `SUBSCRIPTIONS=on` the pages carry a subscribe form. Pages work without JavaScript; templates escape
//! by default, and only the already sanitised incident HTML is marked safe.

pub mod data;

/// Markdown made safe to publish: the crate `openmic-render`.
pub use openmic_render as render;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use bytes::Bytes;
use minijinja::{Environment, context};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ports::DATA_CACHE_CONTROL;
use crate::ports::{Condition, PutOptions};
use crate::time::{self, Timestamp};
use data::{Comment, Incident, IndexEntry, PublishedIndex};

use crate::config::Function::{Notifier, Publisher, Subscriptions};
use crate::config::Variable;

/// What the site reads.
pub const VARIABLES: &[Variable] = &[Variable {
    name: "STATUS_PAGE_URL",
    default: "none",
    meaning: "the public page: the feed's links, the note back, and the link in mail",
    secret: false,
    read_by: &[Publisher, Notifier, Subscriptions],
    required_by: &[],
}];

pub const SITE_TITLE: &str = "Service status";
/// Pages and data: short, so a change shows within a minute.
pub const PAGE_CACHE_CONTROL: &str = DATA_CACHE_CONTROL;
/// The stylesheet's name carries its hash: cached for a year.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
pub const SUMMARY_KEY: &str = "data/summary.json";

const STYLE: &str = include_str!("../../templates/site/style.css");

/// `style.<hash>.css`.
pub fn stylesheet_key() -> &'static str {
    static KEY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "style.{}.css",
            &hex::encode(Sha256::digest(STYLE.as_bytes()))[..10]
        )
    });
    &KEY
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    crate::templates::environment(&[
        ("base.html", include_str!("../../templates/site/base.html")),
        (
            "index.html",
            include_str!("../../templates/site/index.html"),
        ),
        (
            "incident.html",
            include_str!("../../templates/site/incident.html"),
        ),
        ("feed.atom", include_str!("../../templates/site/feed.atom")),
        (
            "subscribe.html",
            include_str!("../../templates/site/subscribe.html"),
        ),
    ])
});

/// Where the component feeds live in the status bucket.
pub const COMPONENT_FEEDS: &str = "feed/";

/// `feed/<component>.atom`: the name in lower case, runs of anything but letters and
/// digits as one `-` (names that differ only there share a feed).
pub fn component_feed_key(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        let hash = hex::encode(Sha256::digest(name.as_bytes()));
        format!("{COMPONENT_FEEDS}component-{}.atom", &hash[..8])
    } else {
        format!("{COMPONENT_FEEDS}{slug}.atom")
    }
}

/// What the pages offer to follow updates: the subscribe form (its action,
/// `<PUBLIC_API_URL>/subscribe`, with `SUBSCRIPTIONS=on`) and the feeds (which exist
/// with `STATUS_PAGE_URL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Follow<'a> {
    pub subscribe_url: Option<&'a str>,
    pub feeds: bool,
}

impl Follow<'_> {
    /// The partial's context: the form, and the components with their feeds.
    fn context(&self, components: &[String], root: &str) -> minijinja::Value {
        let components: Vec<_> = components
            .iter()
            .map(|c| context! { name => c, feed => format!("{root}{}", component_feed_key(c)) })
            .collect();
        context! {
            subscribe_url => self.subscribe_url,
            feeds => self.feeds,
            components => components,
        }
    }
}

/// One object of the site.
#[derive(Debug, Clone)]
pub struct SiteObject {
    pub key: String,
    pub body: Bytes,
    pub options: PutOptions,
}

fn object(
    key: impl Into<String>,
    body: impl Into<Bytes>,
    content_type: &str,
    cache: &str,
) -> SiteObject {
    SiteObject {
        key: key.into(),
        body: body.into(),
        options: PutOptions {
            content_type: content_type.into(),
            cache_control: Some(cache.into()),
            condition: Condition::Always,
        },
    }
}

fn human(t: &Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The plain text of our own escaped title HTML.
pub fn text_of(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[derive(Serialize)]
struct Card<'a> {
    id: u64,
    title: &'a str,
    status: &'a str,
    stage: &'a str,
    severity: Option<&'a str>,
    components: &'a [String],
    created_at: String,
    updated_at: String,
    created_human: String,
    updated_human: String,
}

fn card(i: &Incident) -> Card<'_> {
    Card {
        id: i.id,
        title: &i.title,
        status: &i.status,
        stage: i.stage.as_deref().unwrap_or("investigating"),
        severity: i.severity.as_deref(),
        components: &i.components,
        created_at: time::format(&i.created_at),
        updated_at: time::format(&i.updated_at),
        created_human: human(&i.created_at),
        updated_human: human(&i.updated_at),
    }
}

/// Whether an incident still affects the service.
fn is_open(i: &Incident) -> bool {
    i.status == "opened" && i.stage.as_deref() != Some("resolved")
}

/// The state an open incident puts its components in, from its severity.
fn impact(i: &Incident) -> (u8, &'static str) {
    match i.severity.as_deref() {
        Some("critical") => (3, "major_outage"),
        Some("high") => (2, "partial_outage"),
        _ => (1, "degraded"),
    }
}

fn status_text(status: &str) -> &'static str {
    match status {
        "major_outage" => "Major outage",
        "partial_outage" => "Partial outage",
        "degraded" => "Degraded performance",
        _ => "Operational",
    }
}

/// `data/summary.json`: the overall state and each component's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub status: String,
    pub open_incidents: Vec<u64>,
    pub components: Vec<ComponentSummary>,
    /// When anything published last changed (null before the first incident).
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ComponentSummary {
    pub name: String,
    pub status: String,
    /// Open incidents affecting it.
    pub incidents: Vec<u64>,
}

/// When anything published last changed: the newest incident update or comment.
/// Pages derive from it rather than from the clock, so the same index always makes
/// the same bytes.
pub fn last_change(index: &PublishedIndex) -> Option<Timestamp> {
    index
        .incidents
        .values()
        .flat_map(|e| {
            std::iter::once(e.incident.updated_at).chain(e.updates.iter().map(|c| c.created_at))
        })
        .max()
}

pub fn summary(index: &PublishedIndex) -> Summary {
    let mut overall = (0u8, "operational");
    let mut components: BTreeMap<&str, ((u8, &'static str), BTreeSet<u64>)> = BTreeMap::new();
    let mut open = Vec::new();
    for e in index.newest_first() {
        let i = &e.incident;
        for c in &i.components {
            components
                .entry(c.as_str())
                .or_insert(((0, "operational"), BTreeSet::new()));
        }
        if !is_open(i) {
            continue;
        }
        open.push(i.id);
        let imp = impact(i);
        overall = overall.max(imp);
        for c in &i.components {
            let entry = components
                .entry(c.as_str())
                .or_insert(((0, "operational"), BTreeSet::new()));
            entry.0 = entry.0.max(imp);
            entry.1.insert(i.id);
        }
    }
    Summary {
        status: overall.1.to_owned(),
        open_incidents: open,
        components: components
            .into_iter()
            .map(|(name, ((_, status), ids))| ComponentSummary {
                name: name.to_owned(),
                status: status.to_owned(),
                incidents: ids.into_iter().collect(),
            })
            .collect(),
        updated_at: last_change(index).map(|t| time::format(&t)),
    }
}

fn render(name: &str, ctx: minijinja::Value) -> Result<String, String> {
    TEMPLATES
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| format!("{name}: {e:#}"))
}

/// The pages and files derived from the whole index (everything but the incident
/// pages). `base_url` is `STATUS_PAGE_URL`; without it there is no feed.
/// `subscribe_url` is where the subscribe form posts (none: no form).
pub fn render_site(
    index: &PublishedIndex,
    base_url: Option<&str>,
    subscribe_url: Option<&str>,
) -> Result<Vec<SiteObject>, String> {
    let follow = Follow {
        subscribe_url,
        feeds: base_url.is_some(),
    };
    let html = "text/html; charset=utf-8";
    let sum = summary(index);
    let changed = last_change(index);
    let entries = index.newest_first();
    let (open, history): (Vec<&&IndexEntry>, Vec<&&IndexEntry>) =
        entries.iter().partition(|e| is_open(&e.incident));
    let overall_text = match sum.status.as_str() {
        "operational" if open.is_empty() => "All systems operational".to_owned(),
        other => status_text(other).to_owned(),
    };
    let components: Vec<_> = sum
        .components
        .iter()
        .map(|c| context! { name => &c.name, status => &c.status, text => status_text(&c.status) })
        .collect();
    let index_html = render(
        "index.html",
        context! {
            root => "",
            stylesheet => stylesheet_key(),
            site_title => SITE_TITLE,
            updated => changed.map(|t| human(&t)),
            overall => context! { status => &sum.status, text => overall_text },
            components => components,
            open => open.iter().map(|e| card(&e.incident)).collect::<Vec<_>>(),
            history => history.iter().take(20).map(|e| card(&e.incident)).collect::<Vec<_>>(),
            follow => follow.context(&sum.components.iter().map(|c| c.name.clone()).collect::<Vec<_>>(), ""),
        },
    )?;
    let mut out = vec![
        object("index.html", index_html, html, PAGE_CACHE_CONTROL),
        object(
            stylesheet_key(),
            STYLE,
            "text/css; charset=utf-8",
            ASSET_CACHE_CONTROL,
        ),
        object(
            SUMMARY_KEY,
            serde_json::to_vec(&sum).map_err(|e| e.to_string())?,
            "application/json",
            PAGE_CACHE_CONTROL,
        ),
    ];
    let (message, color, fill) = match sum.status.as_str() {
        "major_outage" => ("major outage", "red", "#c0392b"),
        "partial_outage" => ("partial outage", "orange", "#c56a00"),
        "degraded" => ("degraded", "yellow", "#8a6d00"),
        _ => ("operational", "brightgreen", "#1e7e34"),
    };
    let badge_json = serde_json::json!({"schemaVersion": 1, "label": "status", "message": message, "color": color});
    out.push(object(
        "badge.json",
        badge_json.to_string(),
        "application/json",
        PAGE_CACHE_CONTROL,
    ));
    out.push(object(
        "badge.svg",
        badge_svg("status", message, fill),
        "image/svg+xml",
        PAGE_CACHE_CONTROL,
    ));
    if let Some(base) = base_url {
        let base = base.trim_end_matches('/');
        out.push(object(
            "feed.atom",
            feed(&entries, base, "feed.atom", None, changed)?,
            "application/atom+xml",
            PAGE_CACHE_CONTROL,
        ));
        // A feed per component, of the incidents that name it.
        let mut by_key: BTreeMap<String, (&str, Vec<&IndexEntry>)> = BTreeMap::new();
        for c in &sum.components {
            by_key
                .entry(component_feed_key(&c.name))
                .or_insert((c.name.as_str(), Vec::new()));
        }
        for e in &entries {
            let keys: BTreeSet<String> = e
                .incident
                .components
                .iter()
                .map(|c| component_feed_key(c))
                .collect();
            for k in keys {
                if let Some((_, list)) = by_key.get_mut(&k) {
                    list.push(e);
                }
            }
        }
        for (key, (name, list)) in by_key {
            out.push(object(
                key.clone(),
                feed(&list, base, &key, Some(name), changed)?,
                "application/atom+xml",
                PAGE_CACHE_CONTROL,
            ));
        }
    }
    Ok(out)
}

/// `incidents/<iid>.html`, offering to follow its components' updates.
pub fn render_incident_page(detail: &Incident, follow: Follow<'_>) -> Result<SiteObject, String> {
    // The page sits one level down: its links into the bucket go up one.
    let up = |html: &str| {
        html.replace("src=\"data/incident/", "src=\"../data/incident/")
            .replace("href=\"data/incident/", "href=\"../data/incident/")
    };
    let comments: Vec<_> = detail
        .comments
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c: &Comment| {
            context! {
                note => up(&c.note),
                created_at => time::format(&c.created_at),
                created_human => human(&c.created_at),
                millis => c.created_at.timestamp_millis(),
            }
        })
        .collect();
    let page = render(
        "incident.html",
        context! {
            root => "../",
            stylesheet => stylesheet_key(),
            site_title => SITE_TITLE,
            updated => Some(human(&detail.updated_at)),
            title_text => text_of(&detail.title),
            i => card(detail),
            description => up(&detail.description),
            comments => comments,
            follow => follow.context(&detail.components, "../"),
        },
    )?;
    Ok(object(
        incident_page_key(detail.id),
        page,
        "text/html; charset=utf-8",
        PAGE_CACHE_CONTROL,
    ))
}

pub fn incident_page_key(iid: u64) -> String {
    format!("incidents/{iid}.html")
}

/// The feed at `key` of `entries` (a component's when `component` names it).
fn feed(
    entries: &[&IndexEntry],
    base: &str,
    key: &str,
    component: Option<&str>,
    changed: Option<Timestamp>,
) -> Result<String, String> {
    let mut items = Vec::new();
    let mut updated = None::<Timestamp>;
    for e in entries.iter().take(crate::site::data::LIST_LEN) {
        let i = &e.incident;
        let link = format!("{base}/incidents/{}.html", i.id);
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
                    title => format!("Update: {}", i.title),
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
            base => base,
            feed_url => format!("{base}/{key}"),
            site_title => SITE_TITLE,
            component => component,
            updated => time::format(&updated.or(changed).unwrap_or_default()),
            entries => items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        },
    )
}

fn badge_svg(label: &str, message: &str, fill: &str) -> String {
    let w = |s: &str| 10 + s.chars().count() * 7;
    let (lw, mw) = (w(label), w(message));
    let total = lw + mw;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{fill}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="{lx}" y="14">{label}</text><text x="{mx}" y="14">{message}</text></g></svg>"##,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}
