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

pub const COMPONENTS: Setting<Vec<Component>> = Setting {
    variable: Variable {
        name: "COMPONENTS",
        default: "none",
        meaning: "the page's components in order, comma-separated, shown with their history before their first incident; components of `component::` labels not listed follow; `Name [audience::staff]` (several: `[audience::staff audience::acme]`) shows a component on those audiences' pages only (see `AUDIENCES`), never on the public page",
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
    /// The public page's components in this order (those of `COMPONENTS` marked for
    /// no audience), shown even before their first incident; components of labels not
    /// listed follow.
    pub components: Vec<String>,
    /// Every entry of `COMPONENTS` in order, with the audiences it is marked for
    /// (`Name [audience::staff]`); see [`SiteSettings::components_for`].
    pub component_entries: Vec<Component>,
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
        let component_entries: Vec<Component> = COMPONENTS.or_empty(&get)?;
        Ok(SiteSettings {
            status_page_url,
            components: component_entries
                .iter()
                .filter(|c| c.audiences.is_empty())
                .map(|c| c.name.clone())
                .collect(),
            component_entries,
            page_title: PAGE_TITLE.read(&get)?,
            page_language: PAGE_LANGUAGE.value(&get)?,
            page_logo_url,
            page_accent: PAGE_ACCENT.read(&get)?,
        })
    }
}

impl SiteSettings {
    /// The components of the page of `audience` (`None`: the public page), in
    /// `COMPONENTS`' order: those marked for no audience, and those marked for it.
    pub fn components_for(&self, audience: Option<&str>) -> Vec<String> {
        self.component_entries
            .iter()
            .filter(|c| c.shown_to(audience))
            .map(|c| c.name.clone())
            .collect()
    }

    /// The components the page of `audience` never shows, even when an incident's
    /// `component::` label names them: those marked for other audiences only.
    pub fn hidden_from(&self, audience: Option<&str>) -> Vec<String> {
        self.component_entries
            .iter()
            .filter(|c| !c.shown_to(audience))
            .map(|c| c.name.clone())
            .collect()
    }
}

/// One entry of `COMPONENTS`: its name, and the audiences whose pages alone show it
/// (none: every page, the public one included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub audiences: Vec<String>,
}

impl Component {
    /// Whether the page of `audience` (`None`: the public page) shows it.
    pub fn shown_to(&self, audience: Option<&str>) -> bool {
        self.audiences.is_empty() || audience.is_some_and(|a| self.audiences.iter().any(|n| n == a))
    }
}

/// Names separated by commas or lines, each once (in any case), in the order given;
/// a name may end with `[audience::<name> ...]` (names separated by spaces or commas):
/// the component is then on those audiences' pages only.
fn components(v: &str) -> Result<Vec<Component>, Rejected> {
    let mut parts: Vec<String> = vec![String::new()];
    let mut depth = 0usize;
    for c in v.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        match (c, depth) {
            (',' | '\n', 0) => parts.push(String::new()),
            _ => parts.last_mut().into_iter().for_each(|p| p.push(c)),
        }
    }
    let mut out: Vec<Component> = Vec::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let entry = component(part)?;
        if !out.iter().any(|k| k.name.eq_ignore_ascii_case(&entry.name)) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// `Name` or `Name [audience::staff audience::acme]`.
fn component(part: &str) -> Result<Component, Rejected> {
    let bad = || {
        Rejected(format!(
            "{part:?} is not a component name, or a name followed by its audiences such as `Internal DB [audience::staff]`"
        ))
    };
    let Some(open) = part.find('[') else {
        return match part.contains(']') {
            true => Err(bad()),
            false => Ok(Component {
                name: part.to_owned(),
                audiences: vec![],
            }),
        };
    };
    let name = part[..open].trim();
    let inner = part[open + 1..].strip_suffix(']').ok_or_else(bad)?;
    if name.is_empty() || inner.contains(['[', ']']) {
        return Err(bad());
    }
    let mut audiences: Vec<String> = Vec::new();
    for label in inner.split([' ', ',', '\t']).filter(|l| !l.is_empty()) {
        let audience = label
            .strip_prefix(super::audiences::AUDIENCE_LABEL_PREFIX)
            .filter(|a| !a.is_empty())
            .ok_or_else(bad)?;
        if !audiences.iter().any(|a| a == audience) {
            audiences.push(audience.to_owned());
        }
    }
    if audiences.is_empty() {
        return Err(bad());
    }
    Ok(Component {
        name: name.to_owned(),
        audiences,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, audiences: &[&str]) -> Component {
        Component {
            name: name.into(),
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn components_may_be_marked_for_audiences() {
        // The old values keep their meaning.
        assert_eq!(
            components("API, Web app,\nPayments, api").unwrap(),
            vec![
                entry("API", &[]),
                entry("Web app", &[]),
                entry("Payments", &[])
            ]
        );
        let marked = components(
            "API, Internal DB [audience::staff], Exports [audience::acme, audience::staff],\nWeb",
        )
        .unwrap();
        assert_eq!(
            marked,
            vec![
                entry("API", &[]),
                entry("Internal DB", &["staff"]),
                entry("Exports", &["acme", "staff"]),
                entry("Web", &[]),
            ]
        );
        let settings = SiteSettings::read(|k| {
            (k == "COMPONENTS").then(|| {
                "API, Internal DB [audience::staff], Exports [audience::acme audience::staff], Web"
                    .to_owned()
            })
        })
        .unwrap();
        assert_eq!(settings.components, vec!["API", "Web"]);
        assert_eq!(settings.components_for(None), vec!["API", "Web"]);
        assert_eq!(
            settings.components_for(Some("staff")),
            vec!["API", "Internal DB", "Exports", "Web"]
        );
        assert_eq!(
            settings.components_for(Some("acme")),
            vec!["API", "Exports", "Web"]
        );
        assert_eq!(settings.hidden_from(None), vec!["Internal DB", "Exports"]);
        assert_eq!(settings.hidden_from(Some("acme")), vec!["Internal DB"]);
        assert!(settings.hidden_from(Some("staff")).is_empty());
    }

    #[test]
    fn a_bad_mark_is_named() {
        for bad in [
            "DB [staff]",
            "DB [audience::]",
            "DB [audience::staff",
            "DB ]",
            "[audience::staff]",
            "DB [audience::staff] x",
            "DB []",
        ] {
            let why = components(bad).unwrap_err().0;
            assert!(why.contains("not a component name"), "{bad}: {why}");
        }
    }
}
