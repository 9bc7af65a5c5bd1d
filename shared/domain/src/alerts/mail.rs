//! The maintainers' mail for an alert: subject `Alert: [<env>: ]<title>`, text and
//! HTML parts from templates. Everything from the payload is escaped in HTML and kept
//! off header lines.

use std::sync::LazyLock;

use minijinja::{Environment, context};

use super::lifecycle::{AlertRecord, Notice};
use crate::config::Config;
use crate::i18n::{self, Catalogue};
use crate::mail::{Mail, header_safe};
use crate::time::Timestamp;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    crate::templates::environment(&[
        ("alert.txt", include_str!("../../templates/alert.txt")),
        ("alert.html", include_str!("../../templates/alert.html")),
    ])
});

/// A link target only for http(s) URLs; anything else is shown as text.
fn safe_href(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.to_owned())
}

/// `Alert: [<env>: ]<title>` (in the page's language), and what kind of mail it is.
pub fn subject(record: &AlertRecord, notice: Notice, cat: &Catalogue) -> String {
    let title = header_safe(&record.alert.title);
    let subject = match record.alert.environment.as_deref() {
        Some(env) => cat.format(
            "alert.subject_env",
            &[("env", &header_safe(env)), ("title", &title)],
        ),
        None => cat.format("alert.subject", &[("title", &title)]),
    };
    let subject = match notice {
        Notice::New => subject,
        Notice::Reminder => cat.format("alert.subject_reminder", &[("subject", &subject)]),
        Notice::Resolved => cat.format("alert.subject_resolved", &[("subject", &subject)]),
    };
    header_safe(&subject)
}

/// The labels of the mail's rows, localised; in the text part each is padded to the
/// longest so the values line up.
fn labels(cat: &Catalogue) -> minijinja::Value {
    const ROWS: [&str; 20] = [
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
        "values",
        "incident",
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

fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s % 86400 == 0 && s > 0 {
        format!("{}d", s / 86400)
    } else if s % 3600 == 0 && s > 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub fn compose(
    config: &Config,
    record: &AlertRecord,
    notice: Notice,
    at: Timestamp,
) -> Result<Mail, String> {
    let from = config.mail_from.clone().ok_or("MAIL_FROM is not set")?;
    if config.maintainer_emails.is_empty() {
        return Err("MAINTAINER_EMAILS is not set".into());
    }
    let a = &record.alert;
    let cat = i18n::catalogue(config.page_language);
    let subject = subject(record, notice, cat);
    let title = header_safe(&a.title);
    let headline = match notice {
        Notice::New => cat.format("alert.headline_new", &[("title", &title)]),
        Notice::Reminder => cat.plural(
            "alert.headline_reminder",
            record.event_count,
            &[("title", &title)],
        ),
        Notice::Resolved => cat.format("alert.headline_resolved", &[("title", &title)]),
    };
    let project = match (&config.gitlab_url, config.home_project()) {
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
    let links: Vec<_> = a
        .links
        .iter()
        .map(|(kind, url)| {
            let key = match kind.as_str() {
                "silence" | "dashboard" | "panel" | "image" => kind.as_str(),
                _ => "other",
            };
            let label = labels.get_attr(&format!("link_{key}")).unwrap_or_default();
            context! {
                label => label.get_attr("text").unwrap_or_default(),
                padded => label.get_attr("padded").unwrap_or_default(),
                url => url,
                href => safe_href(Some(url)),
            }
        })
        .collect();
    let values = a.extra.get("valueString").and_then(|v| v.as_str());
    let severity = a.severity.as_str();
    let ctx = context! {
        lang => config.page_language.code(),
        l => labels,
        kind => match notice { Notice::New => "new", Notice::Reminder => "reminder", Notice::Resolved => "resolved" },
        subject => &subject,
        headline => headline,
        // The first mail of an alert held by a maintenance until its end.
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
        links => links,
        values => values,
        quirks => &a.quirks,
        issue_url => issue_url.as_deref().and_then(|u| safe_href(Some(u))),
        status_page_url => config.status_page_url.as_deref().and_then(|u| safe_href(Some(u))),
        fingerprint => &record.fingerprint,
        renotify_after => human(config.renotify_after),
    };
    let text = TEMPLATES
        .get_template("alert.txt")
        .and_then(|t| t.render(&ctx))
        .map_err(|e| e.to_string())?;
    let html = TEMPLATES
        .get_template("alert.html")
        .and_then(|t| t.render(&ctx))
        .map_err(|e| e.to_string())?;
    let message_id = match notice {
        Notice::New => record.thread_id.clone(),
        other => {
            let base = record
                .thread_id
                .trim_start_matches('<')
                .trim_end_matches('>');
            let kind = if other == Notice::Resolved {
                "resolved"
            } else {
                "reminder"
            };
            format!("<{kind}-{}-{base}>", at.timestamp_millis())
        }
    };
    Ok(Mail {
        from,
        to: config.maintainer_emails.clone(),
        subject,
        text,
        html,
        date: at,
        in_reply_to: (notice != Notice::New).then(|| record.thread_id.clone()),
        message_id,
        headers: Vec::new(),
    })
}
