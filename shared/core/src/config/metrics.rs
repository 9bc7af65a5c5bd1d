//! The settings of metrics in incidents (docs/alerts.md, "Metrics in incidents"):
//! the "View logs" link of every alert notice (`LOGS_URL_TEMPLATE`), and components
//! whose state on the page follows their firing alerts (`COMPONENT_STATUS_FROM_ALERTS`),
//! and other companies' components mirrored from their status pages
//! (`UPSTREAM_COMPONENTS`), and the Prometheus asked for the chart behind an alert
//! (`PROMETHEUS_URL`, `PROMETHEUS_BEARER_TOKEN`).

use base64::Engine as _;

use super::setting::{Setting, boolean, secret};
use super::{ConfigError, Function as F, Rejected, Secret, Variable};

/// The Prometheus asked for the chart behind an alert.
pub const PROMETHEUS_URL: Setting<PrometheusUrl> = Setting {
    variable: Variable {
        name: "PROMETHEUS_URL",
        default: "none",
        meaning: "the Prometheus asked (`/api/v1/query_range`, within 5 s) for the chart behind an Alertmanager alert, from its `generatorURL`'s `g0.expr`: an http(s) URL, with basic auth as `https://user:password@host` where it needs it; without it alert mails carry no chart (see [Metrics in incidents](alerts.md#metrics-in-incidents))",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: PrometheusUrl::parse,
};

pub const PROMETHEUS_BEARER_TOKEN: Setting<Secret> = Setting {
    variable: Variable {
        name: "PROMETHEUS_BEARER_TOKEN",
        default: "none",
        meaning: "sent to `PROMETHEUS_URL` as `Authorization: Bearer …` (instead of basic auth in the URL)",
        secret: true,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

/// The "View logs" link of every alert notice.
pub const LOGS_URL_TEMPLATE: Setting<LogsTemplate> = Setting {
    variable: Variable {
        name: "LOGS_URL_TEMPLATE",
        default: "none",
        meaning: "the \"View logs\" link of every alert mail, chat message and incident issue: an http(s) URL with `{labels.<name>}`, `{starts_at}` and `{ends_at}` placeholders, each value URL-encoded (see [Metrics in incidents](alerts.md#metrics-in-incidents))",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: LogsTemplate::parse,
};

pub const COMPONENT_STATUS_FROM_ALERTS: Setting<bool> = Setting {
    variable: Variable {
        name: "COMPONENT_STATUS_FROM_ALERTS",
        default: "`false`",
        meaning: "a firing alert labelled `component` sets that component's state on the page (critical: major outage, high: partial outage, otherwise degraded) until it resolves; only the state is published",
        secret: false,
        read_by: &[F::Notifier, F::Publisher],
        required_by: &[],
    },
    parse: boolean,
};

pub const COMPONENT_ALERTS_NOTIFY: Setting<bool> = Setting {
    variable: Variable {
        name: "COMPONENT_ALERTS_NOTIFY",
        default: "`false`",
        meaning: "with `COMPONENT_STATUS_FROM_ALERTS`, a component's state changed by alerts is mailed to the component's subscribers as a published update is (only the state, never an alert's name, labels or values)",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: boolean,
};

pub const UPSTREAM_COMPONENTS: Setting<Vec<UpstreamSource>> = Setting {
    variable: Variable {
        name: "UPSTREAM_COMPONENTS",
        default: "none",
        meaning: "other companies' components shown as upstream on the page, never mailed: `name=https://…/api/v2/summary.json[#component]`, comma-separated (a Statuspage page's summary, read every 5 minutes; without `#component`, the page's overall status)",
        secret: false,
        read_by: &[F::Notifier, F::Publisher],
        required_by: &[],
    },
    parse: upstream,
};

/// What metrics in incidents read.
pub const VARIABLES: &[Variable] = &[
    LOGS_URL_TEMPLATE.variable,
    COMPONENT_STATUS_FROM_ALERTS.variable,
    COMPONENT_ALERTS_NOTIFY.variable,
    UPSTREAM_COMPONENTS.variable,
    PROMETHEUS_URL.variable,
    PROMETHEUS_BEARER_TOKEN.variable,
];

/// `PROMETHEUS_URL` read: where Prometheus is, its basic auth taken out of the URL.
#[derive(Debug, Clone)]
pub struct PrometheusUrl {
    /// Scheme, host, port and path prefix, no userinfo, no trailing `/`.
    pub base: String,
    /// `Basic …` from the URL's userinfo.
    pub basic: Option<Secret>,
}

impl PrometheusUrl {
    /// Reads the URL; no error repeats it (it may hold a password).
    pub fn parse(value: &str) -> Result<PrometheusUrl, Rejected> {
        let mut url = url::Url::parse(value.trim())
            .map_err(|_| Rejected::new("is not a URL (https://prometheus.example.com)"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Rejected::new("must be an http(s) URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Rejected::new(
                "must have no query or fragment (openmic adds /api/v1/query_range?…)",
            ));
        }
        let basic = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let user = decode(url.username());
            let password = decode(url.password().unwrap_or(""));
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )))
        };
        Ok(PrometheusUrl {
            base: url.as_str().trim_end_matches('/').to_owned(),
            basic,
        })
    }
}

/// The Prometheus asked for charts, and how openmic authenticates to it.
#[derive(Debug, Clone)]
pub struct Prometheus {
    /// No trailing `/`: `<base>/api/v1/query_range`.
    pub base: String,
    /// The `Authorization` header's value, if any.
    pub authorization: Option<Secret>,
}

/// One piece of `LOGS_URL_TEMPLATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Written as it is.
    Text(String),
    /// `{labels.<name>}`: the alert's label `<name>` (empty when it has none).
    Label(String),
    /// `{starts_at}`: when the alert began, RFC 3339.
    StartsAt,
    /// `{ends_at}`: when it ended, or the time of the notice while it fires.
    EndsAt,
}

/// `LOGS_URL_TEMPLATE` read: an http(s) URL with placeholders. A placeholder is a
/// name in braces (`{starts_at}`, `{labels.instance}`); braces around anything else
/// (a Grafana Explore URL's JSON, a LogQL selector) are text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsTemplate {
    pub pieces: Vec<Piece>,
}

/// Whether `name` is a placeholder's shape: letters, digits, `_` and `.`, starting
/// with a letter or `_`.
fn placeholder_shaped(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// A placeholder of the template, or the error naming the unknown one.
fn placeholder(name: &str) -> Result<Piece, Rejected> {
    let unknown = || {
        Rejected::new(format!(
            "unknown placeholder {{{name}}}: use {{labels.<label name>}}, {{starts_at}} or {{ends_at}}"
        ))
    };
    match name {
        "starts_at" => Ok(Piece::StartsAt),
        "ends_at" => Ok(Piece::EndsAt),
        _ => match name.strip_prefix("labels.") {
            Some(label) if placeholder_shaped(label) && !label.contains('.') => {
                Ok(Piece::Label(label.to_owned()))
            }
            _ => Err(unknown()),
        },
    }
}

impl LogsTemplate {
    /// Reads a template; an unknown placeholder, or a template that is not an http(s)
    /// URL, is rejected (the error names `LOGS_URL_TEMPLATE`).
    pub fn parse(value: &str) -> Result<LogsTemplate, Rejected> {
        let value = value.trim();
        let lower = value.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(Rejected::new("must start with https:// or http://"));
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = value;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name = after.find('}').map(|close| &after[..close]);
            match name.filter(|n| placeholder_shaped(n)) {
                Some(name) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(placeholder(name)?);
                    rest = &after[name.len() + 1..];
                }
                None => {
                    text.push('{');
                    rest = after;
                }
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(LogsTemplate { pieces })
    }
}

/// One of `UPSTREAM_COMPONENTS`: `name=https://…/api/v2/summary.json[#component]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSource {
    /// As the page shows it.
    pub name: String,
    /// The Statuspage `summary.json` (https; http only on loopback).
    pub url: String,
    /// The component of that page to mirror; without one, the page's overall status.
    pub component: Option<String>,
}

/// `UPSTREAM_COMPONENTS` read: comma-separated `name=url[#component]`.
fn upstream(value: &str) -> Result<Vec<UpstreamSource>, Rejected> {
    let invalid = Rejected::new;
    let mut out: Vec<UpstreamSource> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = entry
            .split_once('=')
            .map(|(n, r)| (n.trim(), r.trim()))
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "{entry:?} is not name=https://…/api/v2/summary.json"
                ))
            })?;
        let (url, component) = match rest.split_once('#') {
            Some((u, c)) => (u, Some(c.trim()).filter(|c| !c.is_empty())),
            None => (rest, None),
        };
        let parsed =
            super::chat::response_origin(url).map_err(|r| invalid(format!("{name}: {}", r.0)))?;
        if out.iter().any(|u| u.name.eq_ignore_ascii_case(name)) {
            return Err(invalid(format!("{name} is named twice")));
        }
        out.push(UpstreamSource {
            name: name.to_owned(),
            url: parsed.to_string(),
            component: component.map(str::to_owned),
        });
    }
    Ok(out)
}

/// The charts' Prometheus: its URL, and a bearer token or the URL's basic auth.
fn prometheus(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Prometheus>, ConfigError> {
    let url = PROMETHEUS_URL.read(get)?;
    let token = PROMETHEUS_BEARER_TOKEN.read(get)?;
    match (url, token) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(PROMETHEUS_BEARER_TOKEN.invalid("needs PROMETHEUS_URL")),
        (Some(u), Some(_)) if u.basic.is_some() => Err(PROMETHEUS_BEARER_TOKEN
            .invalid("PROMETHEUS_URL carries basic auth already: use one of them")),
        (Some(u), token) => Ok(Some(Prometheus {
            base: u.base,
            authorization: token
                .map(|t| Secret::new(format!("Bearer {}", t.expose())))
                .or(u.basic),
        })),
    }
}

/// The settings of metrics in incidents.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// `LOGS_URL_TEMPLATE`: the "View logs" link of every alert notice.
    pub logs_url_template: Option<LogsTemplate>,
    /// `COMPONENT_STATUS_FROM_ALERTS`: a firing alert labelled `component` sets that
    /// component's state on the page.
    pub component_status_from_alerts: bool,
    /// `COMPONENT_ALERTS_NOTIFY`: subscribers are mailed those states' changes.
    pub component_alerts_notify: bool,
    /// `UPSTREAM_COMPONENTS`: other companies' components, mirrored.
    pub upstream_components: Vec<UpstreamSource>,
    /// `PROMETHEUS_URL` and `PROMETHEUS_BEARER_TOKEN`: the charts' Prometheus.
    pub prometheus: Option<Prometheus>,
}

impl MetricsSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<MetricsSettings, ConfigError> {
        Ok(MetricsSettings {
            logs_url_template: LOGS_URL_TEMPLATE.read(&get)?,
            component_status_from_alerts: COMPONENT_STATUS_FROM_ALERTS.value(&get)?,
            component_alerts_notify: COMPONENT_ALERTS_NOTIFY.value(&get)?,
            upstream_components: UPSTREAM_COMPONENTS.or_empty(&get)?,
            prometheus: prometheus(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<MetricsSettings, ConfigError> {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        MetricsSettings::read(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn a_template_reads_its_placeholders_and_leaves_other_braces_as_text() {
        let t = LogsTemplate::parse(
            "https://logs.example.com/explore?q={job=\"x\"}&i={labels.instance}&from={starts_at}&to={ends_at}",
        )
        .unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("https://logs.example.com/explore?q={job=\"x\"}&i=".into()),
                Piece::Label("instance".into()),
                Piece::Text("&from=".into()),
                Piece::StartsAt,
                Piece::Text("&to=".into()),
                Piece::EndsAt,
            ]
        );
        let c = read(&[]).unwrap();
        assert!(c.logs_url_template.is_none());
        assert!(!c.component_status_from_alerts);
        let c = read(&[("COMPONENT_STATUS_FROM_ALERTS", "yes")]).unwrap();
        assert!(c.component_status_from_alerts);
    }

    #[test]
    fn upstream_components_are_named_urls_with_a_component_or_not() {
        let c = read(&[(
            "UPSTREAM_COMPONENTS",
            "GitHub=https://www.githubstatus.com/api/v2/summary.json#Git Operations, \
             Local=http://127.0.0.1:9/api/v2/summary.json",
        )])
        .unwrap();
        assert_eq!(
            c.upstream_components,
            vec![
                UpstreamSource {
                    name: "GitHub".into(),
                    url: "https://www.githubstatus.com/api/v2/summary.json".into(),
                    component: Some("Git Operations".into()),
                },
                UpstreamSource {
                    name: "Local".into(),
                    url: "http://127.0.0.1:9/api/v2/summary.json".into(),
                    component: None,
                },
            ]
        );
        for (bad, says) in [
            ("https://a.example/api/v2/summary.json", "is not name="),
            ("=https://a.example/x", "is not name="),
            ("A=http://a.example/x", "loopback"),
            ("A=ftp://a.example/x", "http(s)"),
            ("A=https://a.example/x,a=https://b.example/x", "named twice"),
        ] {
            match read(&[("UPSTREAM_COMPONENTS", bad)]) {
                Err(ConfigError::Invalid {
                    name: "UPSTREAM_COMPONENTS",
                    why,
                }) => assert!(why.contains(says), "{bad}: {why}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn prometheus_is_a_url_with_basic_auth_in_it_or_a_bearer_token() {
        assert!(read(&[]).unwrap().prometheus.is_none());
        let p = read(&[("PROMETHEUS_URL", "http://prometheus:9090/")])
            .unwrap()
            .prometheus
            .unwrap();
        assert_eq!(p.base, "http://prometheus:9090");
        assert!(p.authorization.is_none());
        let p = read(&[(
            "PROMETHEUS_URL",
            "https://ops:p%40ss%3Aword@prom.example.com/prometheus",
        )])
        .unwrap()
        .prometheus
        .unwrap();
        assert_eq!(p.base, "https://prom.example.com/prometheus");
        // ops:p@ss:word
        assert_eq!(
            p.authorization.unwrap().expose(),
            "Basic b3BzOnBAc3M6d29yZA=="
        );
        let p = read(&[
            ("PROMETHEUS_URL", "https://prom.example.com"),
            ("PROMETHEUS_BEARER_TOKEN", "t0k"),
        ])
        .unwrap()
        .prometheus
        .unwrap();
        assert_eq!(p.authorization.unwrap().expose(), "Bearer t0k");
        for (pairs, name, says) in [
            (
                &[("PROMETHEUS_URL", "prometheus:9090")][..],
                "PROMETHEUS_URL",
                "http(s)",
            ),
            (
                &[("PROMETHEUS_URL", "ftp://secret@p")][..],
                "PROMETHEUS_URL",
                "http(s)",
            ),
            (
                &[("PROMETHEUS_URL", "https://p/x?y=1")][..],
                "PROMETHEUS_URL",
                "no query",
            ),
            (
                &[("PROMETHEUS_BEARER_TOKEN", "t")][..],
                "PROMETHEUS_BEARER_TOKEN",
                "needs PROMETHEUS_URL",
            ),
            (
                &[
                    ("PROMETHEUS_URL", "https://u:secret@p"),
                    ("PROMETHEUS_BEARER_TOKEN", "t"),
                ][..],
                "PROMETHEUS_BEARER_TOKEN",
                "one of them",
            ),
        ] {
            match read(pairs) {
                Err(ConfigError::Invalid { name: n, why }) => {
                    assert_eq!(n, name);
                    assert!(why.contains(says), "{why}");
                    assert!(
                        !why.contains("secret"),
                        "the value is never repeated: {why}"
                    );
                }
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_placeholder_or_a_template_not_a_url_is_named() {
        for (bad, says) in [
            ("https://l.example/?h={host}", "{host}"),
            ("https://l.example/?h={labels.}", "{labels.}"),
            ("https://l.example/?h={labels.a.b}", "{labels.a.b}"),
            ("https://l.example/?from={startsAt}", "{startsAt}"),
            ("logs.example.com/?from={starts_at}", "https://"),
            ("javascript:alert(1)//{starts_at}", "https://"),
        ] {
            match read(&[("LOGS_URL_TEMPLATE", bad)]) {
                Err(ConfigError::Invalid {
                    name: "LOGS_URL_TEMPLATE",
                    why,
                }) => assert!(why.contains(says), "{bad}: {why}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            read(&[("COMPONENT_STATUS_FROM_ALERTS", "sometimes")]),
            Err(ConfigError::Invalid {
                name: "COMPONENT_STATUS_FROM_ALERTS",
                ..
            })
        ));
    }
}
