//! The settings of the status page: where it is, its components, its title, language,
//! logo and accent.

use super::setting::{Setting, base_url, text};
use super::{ConfigError, Function as F, Language, Rejected, Variable};

pub const STATUS_PAGE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "STATUS_PAGE_URL",
        default: "on AWS `https://<DomainName>` or the CloudFront address (locally the listen address)",
        meaning: "the public page: the feed's links, the note back, and the link in mail; with `AUDIENCES`, the sign-in's callback and the host the audience pages' cookies name",
        secret: false,
        read_by: &[F::Publisher, F::Notifier, F::Subscriptions, F::Signin],
        required_by: &[],
    },
    parse: base_url,
};

pub const COMPONENTS: Setting<Vec<String>> = Setting {
    variable: Variable {
        name: "COMPONENTS",
        default: "none",
        meaning: "the page's components in order, comma-separated, shown with their history before their first incident; components of `component::` labels not listed follow",
        secret: false,
        read_by: &[F::Publisher, F::Subscriptions],
        required_by: &[],
    },
    parse: components,
};

pub const PAGE_TITLE: Setting<String> = Setting {
    variable: Variable {
        name: "PAGE_TITLE",
        default: "`Service status` in the page's language",
        meaning: "the page's name, in its header, its title and the feed",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: text,
};

pub const PAGE_LANGUAGE: Setting<Language> = Setting {
    variable: Variable {
        name: "PAGE_LANGUAGE",
        default: "`en`",
        meaning: "the language of the pages, the feed and the mail (on-call pages included): `en`, `de`, `fr`, `es`, `pt`, `ja`",
        secret: false,
        read_by: &[F::Publisher, F::Notifier],
        required_by: &[],
    },
    parse: language,
};

/// Read as given; checked against `STATUS_PAGE_URL` by [`SiteSettings::read`].
pub const PAGE_LOGO_URL: Setting<String> = Setting {
    variable: Variable {
        name: "PAGE_LOGO_URL",
        default: "none",
        meaning: "a logo for the page's header: a path in the status bucket (`brand/logo.svg`) or a URL on the page's own site",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: text,
};

pub const PAGE_ACCENT: Setting<String> = Setting {
    variable: Variable {
        name: "PAGE_ACCENT",
        default: "none",
        meaning: "the page's accent colour (`#rrggbb`), darkened or lightened where needed for WCAG AA contrast",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: colour,
};

/// What the status page reads.
pub const VARIABLES: &[Variable] = &[
    STATUS_PAGE_URL.variable,
    COMPONENTS.variable,
    PAGE_TITLE.variable,
    PAGE_LANGUAGE.variable,
    PAGE_LOGO_URL.variable,
    PAGE_ACCENT.variable,
];

/// The status page's settings.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// Without a trailing `/`.
    pub status_page_url: Option<String>,
    /// The page's components in this order, shown even before their first incident;
    /// components of labels not listed follow.
    pub components: Vec<String>,
    /// The page's name (without it, the catalogue's "Service status").
    pub page_title: Option<String>,
    /// Of the pages, the feed and the mail.
    pub page_language: Language,
    /// A path in the status bucket (`brand/logo.svg`), or a URL on the page's own
    /// origin: the page loads nothing from elsewhere.
    pub page_logo_url: Option<String>,
    /// `#rrggbb`, lower case.
    pub page_accent: Option<String>,
}

impl SiteSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<SiteSettings, ConfigError> {
        let status_page_url = STATUS_PAGE_URL.read(&get)?;
        let page_logo_url = PAGE_LOGO_URL
            .read(&get)?
            .map(|v| check_logo(&v, status_page_url.as_deref()))
            .transpose()
            .map_err(|r| PAGE_LOGO_URL.invalid(r.0))?;
        Ok(SiteSettings {
            status_page_url,
            components: COMPONENTS.or_empty(&get)?,
            page_title: PAGE_TITLE.read(&get)?,
            page_language: PAGE_LANGUAGE.value(&get)?,
            page_logo_url,
            page_accent: PAGE_ACCENT.read(&get)?,
        })
    }
}

/// Names separated by commas or lines, each once (in any case), in the order given.
fn components(v: &str) -> Result<Vec<String>, Rejected> {
    let mut names: Vec<String> = Vec::new();
    for name in v
        .split([',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !names.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn language(v: &str) -> Result<Language, Rejected> {
    Language::parse(v).ok_or_else(|| {
        Rejected(format!(
            "{v:?} is not one of {}",
            Language::ALL.map(Language::code).join(", ")
        ))
    })
}

/// `#rrggbb` or `#rgb`, in lower case as `#rrggbb`.
fn colour(v: &str) -> Result<String, Rejected> {
    let full = v.trim().strip_prefix('#').and_then(|hex| {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match hex.len() {
            6 => Some(hex.to_owned()),
            3 => Some(hex.chars().flat_map(|c| [c, c]).collect()),
            _ => None,
        }
    });
    full.map(|f| format!("#{}", f.to_ascii_lowercase()))
        .ok_or_else(|| Rejected(format!("{v:?} is not a colour such as #0b57d0 or #07c")))
}

/// The logo: a path in the status bucket (kept without its leading `/`), or an
/// http(s) URL on the page's own origin (`STATUS_PAGE_URL`), so that the page still
/// loads nothing from elsewhere.
fn check_logo(v: &str, page: Option<&str>) -> Result<String, Rejected> {
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return match page.and_then(origin) {
            Some(own) if origin(v).as_ref() == Some(&own) => Ok(v.to_owned()),
            _ => Err(Rejected(format!(
                "{v:?} is not on the status page's own site ({}): the page loads nothing from elsewhere; put the logo in the status bucket (for example brand/logo.svg) and give its path",
                page.unwrap_or("STATUS_PAGE_URL is not set")
            ))),
        };
    }
    let path = v.trim_start_matches('/');
    let bad = v.starts_with("//")
        || path.is_empty()
        || path.split('/').any(|s| s == ".." || s.is_empty())
        || path
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'<>\\:?#".contains(c));
    if bad {
        return Err(Rejected(format!(
            "{v:?} is neither a path in the status bucket (such as brand/logo.svg) nor an https URL on the status page's site"
        )));
    }
    Ok(path.to_owned())
}

/// `scheme://host`, in lower case.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}
