//! SLA timers, the notifier's part: on the tick, each incident of the SLA watch list
//! ([`crate::sla`]) open past its target is marked missed in the list, then gets one
//! reminder to the channels that take it (`ALERT_CHANNELS`, matched on the labels
//! `alertname="SLA missed"`, `severity`, `project`; without it, the maintainers' mail)
//! and, with GitLab's API, the label `missed::SLA`.
//!
//! The mark is written before the reminder goes, so a second tick, a replayed event
//! or a retry never reminds twice: a reminder lost to a crash in between is not sent
//! again, and a chat channel that fails is reported as failing channels are. A label
//! GitLab could not take for a passing reason is tried again on the next tick.

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::lifecycle::Notifier;
use crate::chat::{Fact, Link, Message, Tone};
use crate::errors::ProcessError;
use crate::gitlab::ApiError;
use crate::mail::Mail;
use crate::routing::channels::Destination;
use crate::sla::{MISSED_LABEL, Missed, WATCH_KEY, Watch, Watched};
use crate::time::{self, Timestamp};

/// The labels a reminder is routed by.
const ALERTNAME: &str = "SLA missed";

/// `3h 20m`, `2d 4h`, `45m`.
fn human(d: chrono::TimeDelta) -> String {
    let minutes = d.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// What a reminder says, in one chat message.
pub fn reminder(w: &Watched, target: Option<std::time::Duration>, now: Timestamp) -> Message {
    let s = &w.seen;
    let target = target
        .and_then(|t| chrono::TimeDelta::from_std(t).ok())
        .map(human)
        .unwrap_or_default();
    let open_for = human(now - s.opened_at);
    Message {
        event: "incident.sla_missed".into(),
        id: format!("sla-missed-{}-{}", s.id.project, s.id.iid),
        title: format!("SLA missed: {}", crate::mail::header_safe(&s.title)),
        text: format!(
            "This {} incident has been open for {open_for}, past its target of {target} to resolve.",
            s.severity.as_str()
        ),
        link: s.url.as_ref().map(|u| Link {
            label: "Open the incident".into(),
            url: u.clone(),
        }),
        facts: vec![
            Fact {
                name: "Severity".into(),
                value: s.severity.as_str().into(),
            },
            Fact {
                name: "Target".into(),
                value: target,
            },
            Fact {
                name: "Open since".into(),
                value: time::format(&s.opened_at),
            },
        ],
        buttons: vec![],
        alert: None,
        tone: Tone::Danger,
        thread: Some(format!("incident-{}-{}", s.id.project, s.id.iid)),
        timestamp: now,
        since: Some(s.opened_at),
        details: Some(serde_json::json!({
            "project": s.id.project, "iid": s.id.iid, "severity": s.severity.as_str(),
        })),
        image: None,
    }
}

/// The reminder as a mail to `to`.
fn reminder_mail(from: &str, to: &str, m: &Message) -> Mail {
    let mut text = format!("{}\n\n{}\n\n", m.title, m.text);
    for f in &m.facts {
        text.push_str(&format!("{}: {}\n", f.name, f.value));
    }
    if let Some(l) = &m.link {
        text.push_str(&format!("\n{}\n", l.url));
    }
    text.push_str("\n--\nSent by openmic.\n");
    let e = crate::site::render::escape_text;
    let mut html = format!(
        "<p><strong>{}</strong></p><p>{}</p><ul>",
        e(&m.title),
        e(&m.text)
    );
    for f in &m.facts {
        html.push_str(&format!("<li>{}: {}</li>", e(&f.name), e(&f.value)));
    }
    html.push_str("</ul>");
    if let Some(l) = m
        .link
        .as_ref()
        .filter(|l| crate::site::render::allowed_url(&l.url, &["https", "http"]))
    {
        html.push_str(&format!(
            "<p><a href=\"{}\">{}</a></p>",
            e(&l.url),
            e(&l.label)
        ));
    }
    let hash = hex::encode(&Sha256::digest(to.to_ascii_lowercase().as_bytes())[..6]);
    Mail {
        parts: Vec::new(),
        from: from.to_owned(),
        to: vec![to.to_owned()],
        subject: crate::mail::header_safe(&m.title),
        text,
        html,
        date: m.timestamp,
        message_id: format!("<{}-{hash}@openmic>", m.id),
        in_reply_to: None,
        headers: Vec::new(),
    }
}

impl Notifier {
    /// The tick's SLA work: marks each incident newly past its target and reminds its
    /// channels once; labels the marked ones not labelled yet. Returns how many were
    /// reminded.
    pub(super) async fn check_sla(&self, now: Timestamp) -> Result<usize, ProcessError> {
        if self.sla.is_empty() {
            return Ok(0);
        }
        let Some((watch, _)) =
            crate::document::read::<Watch>(self.state.as_ref(), WATCH_KEY).await?
        else {
            return Ok(0);
        };
        let unlabelled = watch
            .incidents
            .values()
            .any(|w| w.missed.is_some_and(|m| !m.labelled));
        if watch.due(&self.sla, now).is_empty() && !unlabelled {
            return Ok(0);
        }
        let mut claimed: Vec<Watched> = Vec::new();
        crate::document::update(self.state.as_ref(), WATCH_KEY, |old: Option<Watch>| {
            let mut watch = old?;
            claimed.clear();
            for key in watch.due(&self.sla, now) {
                if let Some(w) = watch.incidents.get_mut(&key) {
                    w.missed = Some(Missed {
                        at: now,
                        labelled: false,
                        reminded: true,
                    });
                    claimed.push(w.clone());
                }
            }
            Some(watch)
        })
        .await?;
        for w in &claimed {
            self.remind(w, now).await;
        }
        self.label_missed().await?;
        Ok(claimed.len())
    }

    /// One reminder to every channel that takes it; what fails is logged (and a chat
    /// channel's failure reported as any), never sent again.
    async fn remind(&self, w: &Watched, now: Timestamp) {
        let s = &w.seen;
        let message = reminder(w, self.sla.target(s.severity), now);
        let project = s.id.project.to_string();
        let label = |name: &str| match name {
            "alertname" => Some(ALERTNAME),
            "severity" => Some(s.severity.as_str()),
            "project" => Some(project.as_str()),
            _ => None,
        };
        info!(incident = %s.id, severity = s.severity.as_str(), "SLA missed: reminding");
        for channel in self.channels.0.iter().filter(|c| c.matchers.matches(label)) {
            match &channel.destination {
                Destination::Chat(target) => {
                    self.send_chat(channel, target, &message, false).await;
                }
                Destination::Mail(to) => {
                    let Some(from) = self.config.mail.mail_from.as_deref() else {
                        warn!(channel = %channel.name, "SLA reminder: MAIL_FROM is not set");
                        continue;
                    };
                    for r in self.mail_recipients(to).await {
                        let mail = reminder_mail(from, &r.address, &message);
                        if let Err(e) = self.mailer.send(&mail).await {
                            warn!(channel = %channel.name, error = %e, "SLA reminder: a mail was not sent");
                        }
                    }
                }
            }
        }
    }

    /// Gives every incident marked missed and not labelled yet the label, with API
    /// access (without it, or when GitLab refuses for good, it is marked as done).
    async fn label_missed(&self) -> Result<(), ProcessError> {
        let Some((watch, _)) =
            crate::document::read::<Watch>(self.state.as_ref(), WATCH_KEY).await?
        else {
            return Ok(());
        };
        for (key, w) in &watch.incidents {
            if w.missed.is_none_or(|m| m.labelled) {
                continue;
            }
            let id = w.seen.id;
            let done = match &self.gitlab {
                None => {
                    warn!(incident = %id, "SLA missed: without GITLAB_URL and GITLAB_TOKEN the issue is not labelled");
                    true
                }
                Some(api) => match api.add_labels(id, MISSED_LABEL).await {
                    Ok(()) => {
                        info!(incident = %id, label = MISSED_LABEL, "labelled");
                        true
                    }
                    Err(ApiError::Transient(m)) => {
                        warn!(incident = %id, error = %m, "SLA missed: the label waits for the next tick");
                        false
                    }
                    Err(e) => {
                        warn!(incident = %id, error = %e, "SLA missed: GitLab refused the label");
                        true
                    }
                },
            };
            if done {
                crate::document::update(self.state.as_ref(), WATCH_KEY, |old: Option<Watch>| {
                    let mut watch = old?;
                    if let Some(m) = watch.incidents.get_mut(key).and_then(|w| w.missed.as_mut()) {
                        m.labelled = true;
                    }
                    Some(watch)
                })
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        let m = chrono::TimeDelta::minutes;
        assert_eq!(human(m(45)), "45m");
        assert_eq!(human(m(60)), "1h");
        assert_eq!(human(m(200)), "3h 20m");
        assert_eq!(human(m(1440)), "1d");
        assert_eq!(human(m(3120)), "2d 4h");
        assert_eq!(human(m(-5)), "0m");
    }
}
