//! The maintainers' mail: an alert's notice to one recipient (subject
//! `Alert: [<env>: ]<title>`, text and HTML parts, the recipient's own acknowledge
//! and silence links), a storm's digest, the notice that a channel is failing, and the
//! notice that a publisher's change made a maintenance mute more.
//! Everything from the payload is escaped in HTML and kept off header lines.

use minijinja::context;
use sha2::{Digest, Sha256};

use super::links::ActionLinks;
use super::message::{self, NoticeError, render};
use super::record::{AlertRecord, Notice};
use super::storm::{DigestItem, Failing};
use crate::config::Config;
use crate::config::alerting::DigestAfter;
use crate::mail::Mail;
use crate::time::{self, Timestamp};

pub use super::message::subject;

fn sender(config: &Config) -> Result<String, NoticeError> {
    config.mail.mail_from.clone().ok_or(NoticeError::NoSender)
}

/// A recipient's own thread of an alert: `<alert-…@openmic>` becomes
/// `<alert-….<hash of the address>@openmic>`, so each recipient's mails of one alert
/// thread together, and no two mails share a Message-ID.
fn thread_for(record: &AlertRecord, recipient: &str) -> String {
    let base = record
        .thread_id
        .trim_start_matches('<')
        .trim_end_matches('>');
    let hash = hex::encode(&Sha256::digest(recipient.to_ascii_lowercase().as_bytes())[..4]);
    match base.split_once('@') {
        Some((local, domain)) => format!("<{local}.{hash}@{domain}>"),
        None => format!("<{base}.{hash}>"),
    }
}

/// An alert's notice, to `to`: with links, one recipient and their links (each
/// recipient's mails thread on their own); without, everyone in one mail.
pub fn compose(
    config: &Config,
    record: &AlertRecord,
    notice: Notice,
    at: Timestamp,
    to: &[String],
    links: Option<&ActionLinks>,
) -> Result<Mail, NoticeError> {
    let shared = message::Shared::new(config, record, notice, at);
    compose_with(&shared, config, record, notice, at, to, links)
}

/// [`compose`] of the context `shared` made of the same record, notice and instant.
pub fn compose_with(
    shared: &message::Shared,
    config: &Config,
    record: &AlertRecord,
    notice: Notice,
    at: Timestamp,
    to: &[String],
    links: Option<&ActionLinks>,
) -> Result<Mail, NoticeError> {
    let from = sender(config)?;
    let ctx = shared.with(links);
    let text = render("alert.txt", &ctx)?;
    let html = render("alert.html", &ctx)?;
    let thread = match (to, links) {
        ([one], Some(_)) => thread_for(record, one),
        _ => record.thread_id.clone(),
    };
    let message_id = match notice {
        Notice::New => thread.clone(),
        other => format!(
            "<{}-{}-{}>",
            other.as_str(),
            at.timestamp_millis(),
            thread.trim_start_matches('<').trim_end_matches('>')
        ),
    };
    Ok(Mail {
        parts: Vec::new(),
        from,
        to: to.to_vec(),
        subject: message::subject(
            record,
            notice,
            crate::i18n::catalogue(config.site.page_language),
        ),
        text,
        html,
        date: at,
        in_reply_to: (notice != Notice::New).then_some(thread),
        message_id,
        headers: Vec::new(),
    })
}

/// The content ID of the chart in an alert's first mail (`cid:` in its HTML).
pub const CHART_CID: &str = "chart@openmic";

/// The chart behind the alert added to its first mail: the PNG inline (multipart/
/// related, shown by the HTML through `cid:`), its data as `chart.csv` attached, and
/// its text alternative in the text part; or, where there is none, why.
pub fn add_chart(
    mail: &mut Mail,
    chart: &Result<crate::metrics::chart::Chart, crate::metrics::chart::NoChart>,
) {
    let (text, html) = match chart {
        Ok(c) if c.from == crate::metrics::chart::ChartFrom::Grafana => {
            mail.parts.push(crate::mail::Part {
                content_id: Some(CHART_CID.to_owned()),
                filename: "chart.png".to_owned(),
                content_type: "image/png".to_owned(),
                body: c.png.clone(),
            });
            (
                format!(
                    "\n{}\nNo CSV: the image is Grafana's, which sends no data with it.\n",
                    c.text
                ),
                format!(
                    "<p><img src=\"cid:{CHART_CID}\" style=\"max-width:100%;height:auto;border:1px solid #d0d7de\" alt=\"{}\"></p>\n<p>No CSV: the image is Grafana's, which sends no data with it.</p>\n",
                    openmic_core::html::escape(&c.text)
                ),
            )
        }
        Ok(c) => {
            mail.parts.push(crate::mail::Part {
                content_id: Some(CHART_CID.to_owned()),
                filename: "chart.png".to_owned(),
                content_type: "image/png".to_owned(),
                body: c.png.clone(),
            });
            mail.parts.push(crate::mail::Part {
                content_id: None,
                filename: "chart.csv".to_owned(),
                content_type: "text/csv; charset=utf-8".to_owned(),
                body: c.csv.clone().into_bytes(),
            });
            (
                format!("\n{}\nIts data: chart.csv, attached.\n", c.text),
                format!(
                    "<p><img src=\"cid:{CHART_CID}\" width=\"{}\" height=\"{}\" style=\"max-width:100%;height:auto;border:1px solid #d0d7de\" alt=\"{}\"></p>\n<p>Its data: chart.csv, attached.</p>\n",
                    crate::metrics::chart::WIDTH,
                    crate::metrics::chart::HEIGHT,
                    openmic_core::html::escape(&c.text)
                ),
            )
        }
        Err(why) => (
            format!("\nNo chart: {why}.\n"),
            format!(
                "<p>No chart: {}.</p>\n",
                openmic_core::html::escape(&why.to_string())
            ),
        ),
    };
    mail.text.push_str(&text);
    match mail.html.rfind("</body>") {
        Some(at) => mail.html.insert_str(at, &html),
        None => mail.html.push_str(&html),
    }
}

/// One chart of a digest: the alert's title, and its PNG and text alternative or
/// why there is none.
#[derive(Debug, Clone)]
pub struct DigestChartPart {
    pub title: String,
    pub chart: Result<(Vec<u8>, String), String>,
}

/// The content ID of a digest's `n`th chart (`cid:` in its HTML), one per alert.
pub fn digest_chart_cid(n: usize) -> String {
    format!("chart-{n}@openmic")
}

/// The charts of the alerts a digest names, inline (multipart/related, each its own
/// content ID) with their text alternatives in the text part; an alert without one
/// says why.
pub fn add_digest_charts(mail: &mut Mail, charts: &[DigestChartPart]) {
    if charts.is_empty() {
        return;
    }
    let esc = openmic_core::html::escape;
    let mut text = String::from("\nCharts\n");
    let mut html = String::from("<h2 style=\"font-size:16px\">Charts</h2>\n");
    for (n, c) in charts.iter().enumerate() {
        match &c.chart {
            Ok((png, alt)) => {
                let cid = digest_chart_cid(n + 1);
                mail.parts.push(crate::mail::Part {
                    content_id: Some(cid.clone()),
                    filename: format!("chart-{}.png", n + 1),
                    content_type: "image/png".to_owned(),
                    body: png.clone(),
                });
                text.push_str(&format!("\n{}:\n{alt}\n", c.title));
                html.push_str(&format!(
                    "<p><strong>{}</strong><br><img src=\"cid:{cid}\" width=\"{}\" height=\"{}\" style=\"max-width:100%;height:auto;border:1px solid #d0d7de\" alt=\"{}\"></p>\n",
                    esc(&c.title),
                    crate::metrics::chart::WIDTH,
                    crate::metrics::chart::HEIGHT,
                    esc(alt)
                ));
            }
            Err(why) => {
                text.push_str(&format!("\n{}: no chart: {why}.\n", c.title));
                html.push_str(&format!(
                    "<p><strong>{}</strong>: no chart: {}.</p>\n",
                    esc(&c.title),
                    esc(why)
                ));
            }
        }
    }
    mail.text.push_str(&text);
    match mail.html.rfind("</body>") {
        Some(at) => mail.html.insert_str(at, &html),
        None => mail.html.push_str(&html),
    }
}

/// A storm's digest for `channel`, to `recipient`; `links` gives each firing item's.
pub fn digest(
    config: &Config,
    channel: &str,
    items: &[DigestItem],
    recipient: &str,
    links: impl Fn(&DigestItem) -> Option<ActionLinks>,
    limit: Option<DigestAfter>,
    now: Timestamp,
) -> Result<Mail, NoticeError> {
    let from = sender(config)?;
    let subject = message::string(
        "digest_subject",
        context! { count => items.len(), channel => channel },
    );
    let ctx = message::digest_context(config, channel, items, links, limit);
    let ctx = context! { subject => &subject, ..ctx };
    let hash = hex::encode(&Sha256::digest(format!("{channel}\n{recipient}").as_bytes())[..6]);
    Ok(Mail {
        parts: Vec::new(),
        from,
        to: vec![recipient.to_owned()],
        subject,
        text: render("alert-digest.txt", &ctx)?,
        html: render("alert-digest.html", &ctx)?,
        date: now,
        message_id: format!("<digest-{}-{hash}@openmic>", now.timestamp_millis()),
        in_reply_to: None,
        headers: Vec::new(),
    })
}

/// The notice that `channel` is failing, to `recipient`.
pub fn channel_failing(
    config: &Config,
    channel: &str,
    kind: &str,
    failing: &Failing,
    recipient: &str,
) -> Result<Mail, NoticeError> {
    let from = sender(config)?;
    let subject = message::string("failing_subject", context! { channel => channel });
    let ctx = context! {
        subject => &subject,
        channel => channel,
        kind => kind,
        since => time::format(&failing.since),
        reason => &failing.reason,
    };
    let hash = hex::encode(&Sha256::digest(format!("{channel}\n{recipient}").as_bytes())[..6]);
    Ok(Mail {
        parts: Vec::new(),
        from,
        to: vec![recipient.to_owned()],
        subject,
        text: render("channel-failing.txt", &ctx)?,
        html: render("channel-failing.html", &ctx)?,
        date: failing.since,
        message_id: format!(
            "<failing-{}-{hash}@openmic>",
            failing.since.timestamp_millis()
        ),
        in_reply_to: None,
        headers: Vec::new(),
    })
}

/// The notice that a publisher's change made maintenance `m` mute more than before
/// (`m.widened`), to `recipient`.
pub fn maintenance_widened(
    config: &Config,
    m: &crate::maintenance::Muting,
    recipient: &str,
) -> Result<Mail, NoticeError> {
    let from = sender(config)?;
    let set = m.set_by.as_ref().ok_or(NoticeError::NoChange(m.id))?;
    let subject = crate::mail::header_safe(&message::string(
        "widened_subject",
        context! { title => &m.title },
    ));
    let link = config
        .site
        .status_page_url
        .as_deref()
        .map(|base| format!("{base}/{}", crate::site::incident_page_key(m.id)));
    let ctx = context! {
        subject => &subject,
        title => &m.title,
        by => &set.by,
        at => time::format(&set.at),
        what => &m.widened,
        starts => time::format(&m.window.starts_at),
        ends => time::format(&m.window.ends_at),
        components => &m.components,
        mute => &m.mute,
        link => link,
    };
    let hash = hex::encode(&Sha256::digest(recipient.to_ascii_lowercase().as_bytes())[..6]);
    Ok(Mail {
        parts: Vec::new(),
        from,
        to: vec![recipient.to_owned()],
        subject,
        text: render("maintenance-widened.txt", &ctx)?,
        html: render("maintenance-widened.html", &ctx)?,
        date: set.at,
        message_id: format!(
            "<widened-{}-{}-{hash}@openmic>",
            m.id,
            set.at.timestamp_millis()
        ),
        in_reply_to: None,
        headers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::record::apply;

    /// An alert whose title and environment carry right-to-left overrides, embeddings,
    /// isolates and marks: every notice's subject comes without them.
    #[test]
    fn no_bidirectional_control_reaches_the_subject() {
        let now = time::parse("2024-03-05T10:00:00Z").unwrap();
        let body = serde_json::json!({"version": "4", "status": "firing", "receiver": "openmic",
            "groupKey": "{}:{}", "alerts": [{"status": "firing",
            "labels": {"alertname": "Invoice \u{202E}fdp.exe\u{202C}", "env": "prod\u{2067}\u{200E}",
                       "severity": "critical"},
            "annotations": {}, "startsAt": "2024-03-05T10:00:00Z", "fingerprint": "f1"}]});
        let parsed = crate::alerts::parse::parse(body.to_string().as_bytes(), now).unwrap();
        let (record, _) = apply(
            None,
            "f1",
            &parsed.alerts[0],
            "d1",
            now,
            std::time::Duration::from_secs(3600),
        );
        let record = record.unwrap();
        let config =
            Config::from_lookup(|name| (name == "MAIL_FROM").then(|| "openmic@example.com".into()))
                .unwrap();
        for notice in [Notice::New, Notice::Reminder, Notice::Resolved] {
            let mail = compose(
                &config,
                &record,
                notice,
                now,
                &["ops@example.com".into()],
                None,
            )
            .unwrap();
            assert!(
                mail.subject.contains("prod: Invoice fdp.exe"),
                "{}",
                mail.subject
            );
            assert!(
                !mail.subject.chars().any(crate::mail::is_bidi_control),
                "{:?}",
                mail.subject
            );
            let raw = String::from_utf8(mail.to_rfc5322().unwrap()).unwrap();
            assert!(!raw.contains('\u{202E}'), "{raw}");
        }
    }
}
