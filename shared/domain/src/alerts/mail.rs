//! The maintainers' mail for an alert: subject `Alert: [<env>: ]<title>`, text and
//! HTML parts from templates. Everything from the payload is escaped in HTML and kept
//! off header lines.

use std::sync::LazyLock;

use minijinja::{Environment, context};

use super::lifecycle::{AlertRecord, Notice};
use crate::config::Config;
use crate::mail::{Mail, header_safe};
use crate::time::{self, Timestamp};

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

/// `Alert: [<env>: ]<title>`, and what kind of mail it is.
pub fn subject(record: &AlertRecord, notice: Notice) -> String {
    let env = record
        .alert
        .environment
        .as_deref()
        .map(|e| format!("{}: ", header_safe(e)))
        .unwrap_or_default();
    let suffix = match notice {
        Notice::New => "",
        Notice::Reminder => " (still firing)",
        Notice::Resolved => " (resolved)",
    };
    header_safe(&format!(
        "Alert: {env}{}{suffix}",
        header_safe(&record.alert.title)
    ))
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
    let subject = subject(record, notice);
    let headline = match notice {
        Notice::New => format!("New alert: {}", header_safe(&a.title)),
        Notice::Reminder => format!(
            "Still firing ({} events): {}",
            record.event_count,
            header_safe(&a.title)
        ),
        Notice::Resolved => format!("Resolved: {}", header_safe(&a.title)),
    };
    let project = match (&config.gitlab_url, config.home_project()) {
        (Some(url), Some(id)) => format!("{url}/projects/{id}"),
        (None, Some(id)) => format!("GitLab project {id}"),
        _ => "(GITLAB_PROJECT_ID not set)".into(),
    };
    let started = a.starts_at.unwrap_or(record.first_seen);
    let ended = match notice {
        Notice::Resolved => Some(record.resolved_at.unwrap_or(at)),
        _ => None,
    };
    let issue_url = record.issue.as_ref().map(|i| i.url.clone());
    let links: Vec<_> = a
        .links
        .iter()
        .map(|(kind, url)| {
            let label = match kind.as_str() {
                "silence" => "Silence",
                "dashboard" => "Dashboard",
                "panel" => "Panel",
                "image" => "Image",
                _ => "Link",
            };
            context! {
                label => label,
                padded => format!("{:<13}", format!("{label}:")),
                url => url,
                href => safe_href(Some(url)),
            }
        })
        .collect();
    let values = a.extra.get("valueString").and_then(|v| v.as_str());
    let ctx = context! {
        kind => match notice { Notice::New => "new", Notice::Reminder => "reminder", Notice::Resolved => "resolved" },
        subject => &subject,
        headline => headline,
        // The first mail of an alert held by a maintenance until its end.
        fired_during => match notice {
            Notice::New => record.fired_during.as_ref().map(|m| context! {
                title => &m.title,
                since => time::format(&m.since),
            }),
            _ => None,
        },
        title => header_safe(&a.title),
        environment => &a.environment,
        project => project,
        severity => a.severity.as_str(),
        status => match notice { Notice::Resolved => "resolved", _ => "firing" },
        started => time::format(&started),
        ended => ended.map(|e| time::format(&e)),
        count => record.event_count,
        first_seen => time::format(&record.first_seen),
        last_seen => time::format(&record.last_seen),
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
