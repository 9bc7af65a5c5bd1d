//! The status site the publisher writes beside the data, so the page is live with
//! nothing else to host: `index.html` (the state, each component's 90-day history
//! and uptime, open and recent incidents), `incidents/<id>.html`, the archive
//! `history/<yyyy>-<mm>.html`, `404.html`, a versioned stylesheet and script,
//! `feed.atom` and a feed per component (`feed/<component>.atom`), a badge
//! (`badge.svg`, and `badge.json` for shields.io's endpoint badge) and
//! `data/summary.json`. With `SUBSCRIPTIONS=on` the index and incident pages carry a
//! subscribe form (`subscribe.html`).
//!
//! Pages derive from the published data and the time they are rendered at, given
//! explicitly (never read from a clock here), so the same data at the same time makes
//! the same bytes. They are complete without JavaScript; the script only keeps an
//! open page up to date and shows local times. Every string comes from the page
//! language's catalogue ([`crate::i18n`]); templates escape by default, and only the
//! already sanitised incident HTML is marked safe.

pub mod brand;
pub mod data;
mod feed;
pub mod history;
mod pages;
pub mod summary;

/// Markdown made safe to publish: the crate `openmic-render`.
pub use openmic_render as render;
pub use pages::{archive_key, incident_page_key, render_incident_page};
pub use summary::Summary;

use std::sync::LazyLock;

use bytes::Bytes;
use minijinja::Environment;
use sha2::{Digest, Sha256};

use crate::config::{Config, Language};
use crate::i18n::{self, Catalogue};
use crate::ports::DATA_CACHE_CONTROL;
use crate::ports::{Condition, PutOptions};
use crate::templates::RenderError;
use crate::time::Timestamp;
use data::PublishedIndex;

/// What the site reads.
pub use crate::config::site::VARIABLES;

/// Pages and data: short, so a change shows within a minute.
pub const PAGE_CACHE_CONTROL: &str = DATA_CACHE_CONTROL;
/// The stylesheet's and the script's names carry their hash: cached for a year.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
pub const SUMMARY_KEY: &str = "data/summary.json";
pub const NOT_FOUND_KEY: &str = "404.html";
/// Where the archive's month pages live.
pub const ARCHIVE_PREFIX: &str = "history/";

const STYLE: &str = include_str!("../../templates/site/style.css");
const SCRIPT: &str = include_str!("../../templates/site/live.js");
const HTML: &str = "text/html; charset=utf-8";

const TEMPLATE_SOURCES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/site/base.html")),
    ("card.html", include_str!("../../templates/site/card.html")),
    (
        "index.html",
        include_str!("../../templates/site/index.html"),
    ),
    (
        "incident.html",
        include_str!("../../templates/site/incident.html"),
    ),
    (
        "archive.html",
        include_str!("../../templates/site/archive.html"),
    ),
    ("404.html", include_str!("../../templates/site/404.html")),
    ("feed.atom", include_str!("../../templates/site/feed.atom")),
    (
        "subscribe.html",
        include_str!("../../templates/site/subscribe.html"),
    ),
];

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

/// The components that get a feed: `COMPONENTS`, then those published incidents name.
fn feed_components(index: &PublishedIndex, page: &Page) -> Vec<String> {
    let mut names: Vec<String> = page.components.clone();
    let mut keys: std::collections::BTreeSet<String> =
        names.iter().map(|n| component_feed_key(n)).collect();
    let mut named: Vec<&String> = index
        .incidents
        .values()
        .flat_map(|e| &e.incident.components)
        .collect();
    named.sort();
    for n in named {
        if keys.insert(component_feed_key(n)) {
            names.push(n.clone());
        }
    }
    names
}

static TEMPLATES: LazyLock<Environment<'static>> =
    LazyLock::new(|| crate::templates::environment(TEMPLATE_SOURCES));

fn render(name: &str, ctx: minijinja::Value) -> Result<String, RenderError> {
    crate::templates::render(&TEMPLATES, name, ctx)
}

/// Why the site's pages could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("the summary did not serialise")]
    Summary(#[source] serde_json::Error),
}

/// What the site looks like and speaks, from the configuration: its language, title,
/// components, logo and accent, and where it lives.
#[derive(Debug, Clone)]
pub struct Page {
    pub language: Language,
    pub title: String,
    /// `COMPONENTS`, in order: those this page shows (the public page: those marked
    /// for no audience).
    pub components: Vec<String>,
    /// Components of `COMPONENTS` marked for audiences this page is not for: never on
    /// it, even when an incident's `component::` label names them.
    pub hidden: Vec<String>,
    /// The audience whose page this is (`None`: the public page); its subscribe form
    /// says so.
    pub audience: Option<String>,
    /// A path in the status bucket, or a URL on the page's own site.
    pub logo: Option<String>,
    pub accent: Option<brand::Accent>,
    /// `STATUS_PAGE_URL`, without a trailing `/`.
    pub base_url: Option<String>,
    /// Where the subscribe form posts (`<PUBLIC_API_URL>/subscribe`), with
    /// `SUBSCRIPTIONS=on`.
    pub subscribe_url: Option<String>,
    /// `INCIDENT_SLA`: the archive shows time to resolve against it.
    pub sla: crate::sla::SlaTargets,
    /// `UPSTREAM_COMPONENTS`' names, in order: the upstream components shown.
    pub upstream: Vec<String>,
    stylesheet: String,
    stylesheet_key: String,
    script_key: String,
    fingerprint: String,
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..10].to_owned()
}

impl Page {
    /// The page's title: `PAGE_TITLE`, else the language's own.
    pub fn title(config: &Config) -> String {
        config.site.page_title.clone().unwrap_or_else(|| {
            i18n::catalogue(config.site.page_language)
                .text("site.title")
                .to_owned()
        })
    }

    pub fn new(config: &Config) -> Page {
        let language = config.site.page_language;
        let title = Page::title(config);
        let accent = config
            .site
            .page_accent
            .as_deref()
            .and_then(brand::Accent::new);
        if let Some(a) = accent.as_ref().filter(|a| a.adjusted()) {
            tracing::info!(
                given = %a.given,
                light = %a.light,
                dark = %a.dark,
                "PAGE_ACCENT: links use shades with WCAG AA contrast in the light and the dark scheme"
            );
        }
        let stylesheet = match &accent {
            Some(a) => format!("{STYLE}{}", a.css()),
            None => STYLE.to_owned(),
        };
        let stylesheet_key = format!("style.{}.css", short_hash(&[&stylesheet]));
        let script_key = format!("live.{}.js", short_hash(&[SCRIPT]));
        let base_url = config
            .site
            .status_page_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        let mut parts: Vec<&str> = TEMPLATE_SOURCES.iter().map(|(_, s)| *s).collect();
        let catalogue_keys = i18n::catalogue(language).keys().join(" ");
        let catalogue_texts: Vec<&str> = i18n::catalogue(language)
            .keys()
            .into_iter()
            .map(|k| i18n::catalogue(language).text(k))
            .collect();
        let subscribe_url = config.subscribe_url();
        let (logo, base, subscribe) = (
            config.site.page_logo_url.clone().unwrap_or_default(),
            base_url.clone().unwrap_or_default(),
            subscribe_url.clone().unwrap_or_default(),
        );
        parts.extend([
            language.code(),
            &title,
            &logo,
            &base,
            &subscribe,
            &stylesheet_key,
            &script_key,
            &catalogue_keys,
        ]);
        parts.extend(catalogue_texts);
        let fingerprint = short_hash(&parts);
        Page {
            language,
            title,
            components: config.site.components.clone(),
            hidden: config.site.hidden_from(None),
            audience: None,
            logo: config.site.page_logo_url.clone(),
            accent,
            base_url,
            subscribe_url,
            sla: crate::sla::SlaTargets::from_config(config).unwrap_or_default(),
            upstream: config
                .metrics
                .upstream_components
                .iter()
                .map(|u| u.name.clone())
                .collect(),
            fingerprint,
            stylesheet,
            stylesheet_key,
            script_key,
        }
    }

    /// The page of audience `name`: this one with that audience's components.
    pub fn for_audience(&self, config: &Config, name: &str) -> Page {
        Page {
            components: config.site.components_for(Some(name)),
            hidden: config.site.hidden_from(Some(name)),
            audience: Some(name.to_owned()),
            // Its feeds link to its own pages, under `/<name>/`.
            base_url: self.base_url.as_ref().map(|b| format!("{b}/{name}")),
            fingerprint: short_hash(&[&self.fingerprint, name]),
            ..self.clone()
        }
    }

    /// Whether the page may name `component` (any case).
    pub fn shows(&self, component: &str) -> bool {
        !self
            .hidden
            .iter()
            .any(|h| h.eq_ignore_ascii_case(component))
    }

    pub fn catalogue(&self) -> &'static Catalogue {
        i18n::catalogue(self.language)
    }

    /// `style.<hash>.css`.
    pub fn stylesheet_key(&self) -> &str {
        &self.stylesheet_key
    }

    /// `live.<hash>.js`.
    pub fn script_key(&self) -> &str {
        &self.script_key
    }

    /// Changes whenever what the pages are made with changes: templates, catalogue,
    /// language, title, logo, accent, address.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The logo's address from a page at `root`.
    fn logo_src(&self, root: &str) -> Option<String> {
        let logo = self.logo.as_deref()?;
        Some(if logo.contains("://") {
            logo.to_owned()
        } else {
            format!("{root}{logo}")
        })
    }

    /// The root of the site as a path from the host (`/`, or `/status/` under a
    /// prefix), for pages served at any depth (the 404 page).
    fn absolute_root(&self) -> String {
        let path = self
            .base_url
            .as_deref()
            .and_then(|u| u.split_once("://"))
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("")
            .trim_end_matches('/');
        format!("{path}/")
    }

    /// What a page at `root` offers to follow `components`' updates: the subscribe
    /// form, and the feeds (which exist with `STATUS_PAGE_URL`).
    fn follow(&self, root: &str, components: &[String]) -> minijinja::Value {
        let components: Vec<_> = components
            .iter()
            .map(|c| minijinja::context! { name => c, feed => format!("{root}{}", component_feed_key(c)) })
            .collect();
        minijinja::context! {
            subscribe_url => &self.subscribe_url,
            feeds => self.base_url.is_some(),
            components => components,
            audience => &self.audience,
        }
    }

    /// The context every page shares.
    fn chrome(&self, root: &str, updated: Option<&Timestamp>) -> minijinja::Value {
        minijinja::context! {
            lang => self.language.code(),
            root => root,
            stylesheet => &self.stylesheet_key,
            script => &self.script_key,
            site_title => &self.title,
            logo => self.logo_src(root),
            feed => self.base_url.is_some(),
            updated => updated.map(|t| self.catalogue().date_time(t)),
            updated_at => updated.map(crate::time::format),
        }
    }
}

impl Default for Page {
    fn default() -> Page {
        Page::new(&Config::default())
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

/// The plain text of our own escaped title HTML.
pub fn text_of(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// When anything published last changed: the newest incident update or comment.
pub fn last_change(index: &PublishedIndex) -> Option<Timestamp> {
    index
        .incidents
        .values()
        .flat_map(|e| {
            std::iter::once(e.incident.updated_at).chain(e.updates.iter().map(|c| c.created_at))
        })
        .max()
}

/// The pages and files derived from the whole index (everything but the incident
/// pages), as of `now`: the index, the archive, the 404 page, the stylesheet and
/// script, the summary, the badge, and with `STATUS_PAGE_URL` the feed.
pub fn render_site(
    index: &PublishedIndex,
    page: &Page,
    now: Timestamp,
) -> Result<Vec<SiteObject>, SiteError> {
    let status = summary::status(index, page, now);
    let sum = summary::of(&status, index);
    let mut out = vec![
        object(
            "index.html",
            pages::index(index, page, &status)?,
            HTML,
            PAGE_CACHE_CONTROL,
        ),
        object(
            NOT_FOUND_KEY,
            pages::not_found(page)?,
            HTML,
            PAGE_CACHE_CONTROL,
        ),
        object(
            page.stylesheet_key(),
            page.stylesheet.clone(),
            "text/css; charset=utf-8",
            ASSET_CACHE_CONTROL,
        ),
        object(
            page.script_key(),
            SCRIPT,
            "text/javascript; charset=utf-8",
            ASSET_CACHE_CONTROL,
        ),
        object(
            SUMMARY_KEY,
            serde_json::to_vec(&sum).map_err(SiteError::Summary)?,
            "application/json",
            PAGE_CACHE_CONTROL,
        ),
    ];
    for (key, html) in pages::archive(index, page, &status)? {
        out.push(object(key, html, HTML, PAGE_CACHE_CONTROL));
    }
    out.extend(badge(&sum.status));
    if let Some(base) = page.base_url.as_deref() {
        out.push(object(
            "feed.atom",
            feed::feed(index, page, base, None)?,
            "application/atom+xml",
            PAGE_CACHE_CONTROL,
        ));
        // A feed per component, of the incidents that name it.
        for name in feed_components(index, page) {
            out.push(object(
                component_feed_key(&name),
                feed::feed(index, page, base, Some(&name))?,
                "application/atom+xml",
                PAGE_CACHE_CONTROL,
            ));
        }
    }
    Ok(out)
}

/// `badge.json` (shields.io's endpoint badge) and `badge.svg`.
fn badge(status: &str) -> [SiteObject; 2] {
    let (message, color, fill) = match status {
        "major_outage" => ("major outage", "red", "#c0392b"),
        "partial_outage" => ("partial outage", "orange", "#c56a00"),
        "degraded" => ("degraded", "yellow", "#8a6d00"),
        "maintenance" => ("maintenance", "blue", "#2f5fb3"),
        _ => ("operational", "brightgreen", "#1e7e34"),
    };
    let json = serde_json::json!({"schemaVersion": 1, "label": "status", "message": message, "color": color});
    [
        object(
            "badge.json",
            json.to_string(),
            "application/json",
            PAGE_CACHE_CONTROL,
        ),
        object(
            "badge.svg",
            badge_svg("status", message, fill),
            "image/svg+xml",
            PAGE_CACHE_CONTROL,
        ),
    ]
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
