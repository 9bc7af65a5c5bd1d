//! What an alert's notices say, for mail and for chat: one context from the record,
//! and the templates (`shared/domain/templates/alert*`) that make the maintainers'
//! mail, the chat and webhook messages, digests and notes from it. Every string a
//! reader sees is in a template.

use std::sync::LazyLock;

use minijinja::{Environment, Value, context};
use serde::Deserialize;

use super::links::ActionLinks;
use super::record::{AlertRecord, Notice};
use super::storm::{DigestItem, notice_id};
use super::{AlertStatus, Severity};
use crate::chat::{Fact, Link, Message, Tone};
use crate::config::Config;
use crate::config::alerting::DigestAfter;
use crate::config::metrics::LogsTemplate;
use crate::i18n::{self, Catalogue};
use crate::mail::header_safe;
use crate::templates::RenderError;
use crate::time::{self, Timestamp};

pub(super) static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    crate::templates::environment(&[
        ("alert.txt", include_str!("../../templates/alert.txt")),
        ("alert.html", include_str!("../../templates/alert.html")),
        (
            "alert-message.json",
            include_str!("../../templates/alert-message.json"),
        ),
        (
            "alert-digest.txt",
            include_str!("../../templates/alert-digest.txt"),
        ),
        (
            "alert-digest.html",
            include_str!("../../templates/alert-digest.html"),
        ),
        (
            "alert-digest-message.json",
            include_str!("../../templates/alert-digest-message.json"),
        ),
        (
            "channel-failing.txt",
            include_str!("../../templates/channel-failing.txt"),
        ),
        (
            "channel-failing.html",
            include_str!("../../templates/channel-failing.html"),
        ),
        (
            "maintenance-widened.txt",
            include_str!("../../templates/maintenance-widened.txt"),
        ),
        (
            "maintenance-widened.html",
            include_str!("../../templates/maintenance-widened.html"),
        ),
        (
            "alert-strings.txt",
            include_str!("../../templates/alert-strings.txt"),
        ),
        (
            "alert-action.html",
            include_str!("../../templates/alert-action.html"),
        ),
    ])
});

/// Why a notice (a mail or a message) could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("MAIL_FROM is not set")]
    NoSender,
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("template {name} is not the JSON of a message")]
    NotJson {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("maintenance {0}: no publisher's change")]
    NoChange(u64),
}

/// Renders one template.
pub(super) fn render(name: &str, ctx: &Value) -> Result<String, RenderError> {
    crate::templates::render(&TEMPLATES, name, ctx)
}

/// One of the short strings of `alert-strings.txt`.
pub(super) fn string(which: &str, ctx: Value) -> String {
    let ctx = context! { s => which, ..ctx };
    render("alert-strings.txt", &ctx).unwrap_or_else(|e| {
        tracing::error!(error = %crate::errors::Chain(&e), "alert string");
        which.to_owned()
    })
}

/// A link target only for a URL [`crate::chat::safe_url`] keeps (http(s), parsed and
/// encoded for every link syntax); anything else is shown as text.
pub(super) fn safe_href(url: Option<&str>) -> Option<String> {
    crate::chat::safe_url(url?)
}

fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86400) && s > 0 {
        format!("{}d", s / 86400)
    } else if s.is_multiple_of(3600) && s > 0 {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The catalogue key of a new notice's headline: an alert's, or an incident declared
/// from chat's ([`super::declared`]).
pub fn headline_new(record: &AlertRecord) -> &'static str {
    match record.declared {
        Some(_) => "alert.headline_declared",
        None => "alert.headline_new",
    }
}

/// `Alert: [<env>: ]<title>` (`Incident declared: <title>` for an incident declared
/// from chat), in the page's language, and what kind of mail it is.
pub fn subject(record: &AlertRecord, notice: Notice, cat: &Catalogue) -> String {
    let title = header_safe(&record.alert.title);
    let subject = match record.alert.environment.as_deref() {
        Some(env) => cat.format(
            "alert.subject_env",
            &[("env", &header_safe(env)), ("title", &title)],
        ),
        None => cat.format(
            match record.declared {
                Some(_) => "alert.subject_declared",
                None => "alert.subject",
            },
            &[("title", &title)],
        ),
    };
    let subject = match notice {
        Notice::New => subject,
        Notice::Reminder => cat.format("alert.subject_reminder", &[("subject", &subject)]),
        Notice::Resolved => cat.format("alert.subject_resolved", &[("subject", &subject)]),
    };
    header_safe(&subject)
}

/// The labels of the mail's rows, localised; in the text part each is padded to the
/// longest so the values line up. Made once per language (they depend on nothing
/// else) and shared by every notice and page after.
fn labels(cat: &Catalogue) -> minijinja::Value {
    static LABELS: [std::sync::OnceLock<minijinja::Value>; i18n::Language::ALL.len()] =
        [const { std::sync::OnceLock::new() }; i18n::Language::ALL.len()];
    let at = i18n::Language::ALL
        .iter()
        .position(|l| *l == cat.language)
        .unwrap_or(0);
    LABELS[at].get_or_init(|| label_rows(cat)).clone()
}

fn label_rows(cat: &Catalogue) -> minijinja::Value {
    const ROWS: [&str; 22] = [
        "title",
        "environment",
        "project",
        "severity",
        "status",
        "started",
        "ended",
        "events",
        "service",
        "source",
        "hosts",
        "runbook",
        "graph",
        "logs",
        "values",
        "incident",
        "call",
        "status_page",
        "link.silence",
        "link.dashboard",
        "link.panel",
        "link.image",
    ];
    let all: Vec<(&str, &str)> = ROWS
        .iter()
        .chain(&["link.other"])
        .map(|k| (*k, cat.text(&format!("alert.{k}"))))
        .collect();
    let width = all
        .iter()
        .map(|(_, l)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let map: std::collections::BTreeMap<String, minijinja::Value> = all
        .into_iter()
        .map(|(k, l)| {
            let padded = format!("{:<width$}", format!("{l}:"));
            (
                k.replace('.', "_"),
                minijinja::context! { text => l, padded => padded },
            )
        })
        .collect();
    minijinja::Value::from_serialize(&map)
}

/// The alert's "View logs" link (`LOGS_URL_TEMPLATE`) for its span up to `at` (a
/// resolved alert's, up to its resolution).
pub(super) fn logs_link(
    template: Option<&LogsTemplate>,
    record: &AlertRecord,
    at: Timestamp,
) -> Option<String> {
    let template = template?;
    let a = &record.alert;
    let ends_at = match (a.status, record.resolved_at) {
        (AlertStatus::Resolved, Some(t)) => t,
        _ => at,
    };
    crate::metrics::logs::link(
        template,
        crate::metrics::logs::Span {
            labels: &a.labels,
            starts_at: a.starts_at.unwrap_or(record.first_seen),
            ends_at,
        },
    )
}

/// The links of an action, as templates read them.
fn actions_value(links: Option<&ActionLinks>) -> Value {
    match links {
        None => Value::from(()),
        Some(l) => Value::from_serialize(context! {
            ack => &l.ack,
            silence => l.silence.iter().map(|(f, url)| context! { for => f, url => url }).collect::<Vec<_>>(),
        }),
    }
}

/// Everything a notice's templates may say of the record but its links (added by
/// [`Shared::with`]): made once for the notices of one record that differ only in
/// whose links they carry (a page's mail and its message to the phone).
#[derive(Debug, Clone)]
pub struct Shared(Value);

impl Shared {
    pub fn new(config: &Config, record: &AlertRecord, notice: Notice, at: Timestamp) -> Shared {
        Shared(shared_context(config, record, notice, at))
    }

    /// The whole context, with `links`.
    pub(super) fn with(&self, links: Option<&ActionLinks>) -> Value {
        context! { actions => actions_value(links), ..self.0.clone() }
    }
}

fn shared_context(config: &Config, record: &AlertRecord, notice: Notice, at: Timestamp) -> Value {
    let a = &record.alert;
    let cat = i18n::catalogue(config.site.page_language);
    let title = header_safe(&a.title);
    let headline = match notice {
        Notice::New => cat.format(headline_new(record), &[("title", &title)]),
        Notice::Reminder => cat.plural(
            "alert.headline_reminder",
            record.event_count,
            &[("title", &title)],
        ),
        Notice::Resolved => cat.format("alert.headline_resolved", &[("title", &title)]),
    };
    let project = match (&config.gitlab.gitlab_url, config.home_project()) {
        (Some(url), Some(id)) => format!("{url}/projects/{id}"),
        (None, Some(id)) => cat.format("alert.gitlab_project", &[("id", &id.to_string())]),
        _ => cat.text("alert.no_project").to_owned(),
    };
    let started = a.starts_at.unwrap_or(record.first_seen);
    let ended = match notice {
        Notice::Resolved => Some(record.resolved_at.unwrap_or(at)),
        _ => None,
    };
    let issue_url = record.issue.as_ref().map(|i| i.url.clone());
    let labels = labels(cat);
    let grafana_links: Vec<_> = a
        .links
        .iter()
        .map(|(kind, url)| {
            let key = match kind.as_str() {
                "silence" | "dashboard" | "panel" | "image" => kind.as_str(),
                _ => "other",
            };
            let label = labels.get_attr(&format!("link_{key}")).unwrap_or_default();
            context! {
                // Which link it is, whatever the language (chat buttons name Grafana's
                // silence apart from openmic's).
                kind => key,
                label => label.get_attr("text").unwrap_or_default(),
                padded => label.get_attr("padded").unwrap_or_default(),
                url => url,
                href => safe_href(Some(url)),
            }
        })
        .collect();
    let acknowledged = record.acknowledged().map(|ack| {
        context! { by => &ack.by, at => cat.date_time(&ack.at) }
    });
    let severity = a.severity.as_str();
    context! {
        lang => config.site.page_language.code(),
        l => labels,
        kind => notice.as_str(),
        subject => subject(record, notice, cat),
        headline => headline,
        // The first notice of an alert held by a maintenance until its end.
        fired_during => match notice {
            Notice::New => record.fired_during.as_ref().map(|m| context! {
                title => &m.title,
                since => cat.date_time(&m.since),
            }),
            _ => None,
        },
        title => title,
        environment => &a.environment,
        project => project,
        severity => cat.text_or(&format!("severity.{severity}"), severity),
        status => cat.text(match notice { Notice::Resolved => "alert.resolved", _ => "alert.firing" }),
        started => cat.date_time(&started),
        ended => ended.map(|e| cat.date_time(&e)),
        count => record.event_count,
        first_seen => cat.date_time(&record.first_seen),
        last_seen => cat.date_time(&record.last_seen),
        service => &a.service,
        monitoring_tool => &a.monitoring_tool,
        hosts => &a.hosts,
        description => &a.description,
        runbook => &a.runbook,
        runbook_href => safe_href(a.runbook.as_deref()),
        generator_url => &a.generator_url,
        generator_href => safe_href(a.generator_url.as_deref()),
        logs_url => logs_link(config.metrics.logs_url_template.as_ref(), record, at),
        links => grafana_links,
        values => a.extra.get("valueString").and_then(|v| v.as_str()),
        quirks => &a.quirks,
        issue_url => issue_url.as_deref().and_then(|u| safe_href(Some(u))),
        call_url => record.issue.as_ref().and_then(|i| safe_href(i.call_link.as_deref())),
        status_page_url => config.site.status_page_url.as_deref().and_then(|u| safe_href(Some(u))),
        fingerprint => &record.fingerprint,
        renotify_after => human(config.alert_routing.renotify_after),
        acknowledged => acknowledged,
    }
}

/// What the JSON templates give: the reader's part of a message.
#[derive(Deserialize)]
struct Rendered {
    title: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    facts: Vec<Fact>,
    #[serde(default)]
    link: Option<Link>,
    #[serde(default)]
    buttons: Vec<Link>,
}

fn rendered(name: &str, ctx: &Value) -> Result<Rendered, NoticeError> {
    let json = render(name, ctx)?;
    serde_json::from_str(&json).map_err(|source| NoticeError::NotJson {
        name: name.to_owned(),
        source,
    })
}

fn tone(severity: Severity) -> Tone {
    match severity {
        Severity::Critical | Severity::High => Tone::Danger,
        Severity::Medium => Tone::Warning,
        _ => Tone::Neutral,
    }
}

/// An alert's notice as a chat or webhook message.
pub fn alert_message(
    config: &Config,
    record: &AlertRecord,
    notice: Notice,
    at: Timestamp,
    links: Option<&ActionLinks>,
) -> Result<Message, NoticeError> {
    let shared = Shared::new(config, record, notice, at);
    alert_message_with(&shared, record, notice, at, links)
}

/// [`alert_message`] of the context `shared` made of the same record, notice and
/// instant.
pub fn alert_message_with(
    shared: &Shared,
    record: &AlertRecord,
    notice: Notice,
    at: Timestamp,
    links: Option<&ActionLinks>,
) -> Result<Message, NoticeError> {
    let r = rendered("alert-message.json", &shared.with(links))?;
    let a = &record.alert;
    let event = match notice {
        Notice::New => "alert.firing",
        Notice::Reminder => "alert.reminder",
        Notice::Resolved => "alert.resolved",
    };
    let details = serde_json::json!({
        "fingerprint": record.fingerprint,
        "generation": record.generation,
        "status": if notice == Notice::Resolved || a.status == AlertStatus::Resolved { "resolved" } else { "firing" },
        "severity": a.severity,
        "title": a.title,
        "environment": a.environment,
        "service": a.service,
        "hosts": a.hosts,
        "labels": a.labels,
        "starts_at": time::format(&a.starts_at.unwrap_or(record.first_seen)),
        "ends_at": record.resolved_at.map(|t| time::format(&t)),
        "event_count": record.event_count,
        "issue": record.issue.as_ref().map(|i| &i.url),
        "acknowledged_by": record.acknowledged().map(|a| &a.by),
        "links": links,
    });
    Ok(Message {
        event: event.into(),
        id: notice_id(&record.id(), record.generation, notice, at),
        title: r.title,
        text: r.text,
        link: r.link,
        facts: r.facts,
        buttons: r.buttons,
        tone: if notice == Notice::Resolved {
            Tone::Good
        } else {
            tone(a.severity)
        },
        thread: Some(
            record
                .thread_id
                .trim_matches(|c| c == '<' || c == '>')
                .to_owned(),
        ),
        timestamp: at,
        since: Some(a.starts_at.unwrap_or(record.first_seen)),
        alert: (notice != Notice::Resolved).then(|| record.id()),
        details: Some(details),
        image: None,
    })
}

/// The digest's items as templates read them, each with its links where given.
pub(super) fn digest_context(
    config: &Config,
    channel: &str,
    items: &[DigestItem],
    links: impl Fn(&DigestItem) -> Option<ActionLinks>,
    limit: Option<DigestAfter>,
) -> Value {
    let list: Vec<Value> = items
        .iter()
        .map(|i| {
            let actions = if i.notice == Notice::Resolved {
                None
            } else {
                links(i)
            };
            context! {
                notice => i.notice.as_str(),
                title => header_safe(&i.title),
                environment => i.environment.as_deref().map(header_safe),
                severity => i.severity.as_str(),
                at => time::format(&i.at),
                actions => actions_value(actions.as_ref()),
                logs => i.logs.as_deref().and_then(|u| safe_href(Some(u))),
            }
        })
        .collect();
    let resolved = items
        .iter()
        .filter(|i| i.notice == Notice::Resolved)
        .count();
    let first = items.iter().map(|i| i.at).min();
    let last = items.iter().map(|i| i.at).max();
    let limit = limit.unwrap_or_default();
    context! {
        channel => channel,
        items => list,
        firing => items.len() - resolved,
        resolved => resolved,
        first => first.map(|t| time::format(&t)),
        last => last.map(|t| time::format(&t)),
        limit => limit.count,
        window => human(limit.window),
        max_lines => 50,
        status_page_url => config.site.status_page_url.as_deref().and_then(|u| safe_href(Some(u))),
    }
}

/// A storm's digest as a chat or webhook message.
pub fn digest_message(
    config: &Config,
    channel: &str,
    items: &[DigestItem],
    limit: Option<DigestAfter>,
    now: Timestamp,
) -> Result<Message, NoticeError> {
    let ctx = digest_context(config, channel, items, |_| None, limit);
    let r = rendered("alert-digest-message.json", &ctx)?;
    let details: Vec<_> = items
        .iter()
        .map(|i| {
            serde_json::json!({
                "notice": i.notice, "at": time::format(&i.at), "title": i.title,
                "environment": i.environment, "severity": i.severity, "generation": i.generation,
            })
        })
        .collect();
    let all_resolved = items.iter().all(|i| i.notice == Notice::Resolved);
    Ok(Message {
        event: "alert.digest".into(),
        id: format!("digest:{channel}:{}", now.timestamp_millis()),
        title: r.title,
        text: r.text,
        link: r.link,
        facts: r.facts,
        buttons: r.buttons,
        tone: if all_resolved {
            Tone::Good
        } else {
            Tone::Danger
        },
        thread: None,
        timestamp: now,
        since: None,
        alert: None,
        details: Some(serde_json::json!({ "items": details })),
        image: None,
    })
}
