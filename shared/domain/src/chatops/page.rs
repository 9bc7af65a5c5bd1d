//! `/incident page <person|schedule> <text>`: a person of the on-call file, or whoever
//! is on call now in one of its schedules, paged through their contact methods by the
//! same [`Pager`](crate::alerts::escalating::Pager) escalation pages with, the page
//! naming who asked and from where. The caller alone is told who was paged and how,
//! or why nobody was: no on-call file, no such person or schedule, nobody on call.

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::Commands;
use super::Job;
use super::work::{Said, Stop, from_where, to_user, who};
use crate::chat::{self, Tone};
use crate::mail::{Mail, header_safe};
use crate::oncall::file::{OnCall, Person};
use crate::oncall::keeper;
use crate::oncall::schedule::on_call;
use crate::time::Timestamp;

/// Whom a page goes to, and why them.
struct Paged<'a> {
    person: &'a Person,
    /// `on call in primary`, for a schedule.
    because: Option<String>,
}

/// The person `target` names (`bob`, `person:bob`), or whoever is on call now in the
/// schedule it names (`primary`, `schedule:primary`), or why nobody.
fn whom<'a>(file: &'a OnCall, target: &str, now: Timestamp) -> Result<Paged<'a>, String> {
    let (kind, name) = match target.split_once(':') {
        Some((k @ ("person" | "schedule"), name)) => (Some(k), name),
        _ => (None, target),
    };
    if kind != Some("schedule")
        && let Some(person) = file.person(name)
    {
        return Ok(Paged {
            person,
            because: None,
        });
    }
    let schedule = file
        .schedule(name)
        .filter(|_| kind != Some("person"))
        .ok_or_else(|| {
            format!(
                "There is no person or schedule `{name}` in the on-call file; nobody was paged."
            )
        })?;
    let person = on_call(schedule, now)
        .and_then(|p| file.person(p))
        .ok_or_else(|| format!("Nobody is on call in schedule `{name}` now; nobody was paged."))?;
    Ok(Paged {
        person,
        because: Some(format!("on call in {name}")),
    })
}

/// What the page says, whatever it goes by: who asked, from where, whom, why.
fn asked(job: &Job, paged: &Paged<'_>) -> String {
    let because = paged
        .because
        .as_deref()
        .map(|b| format!(" ({b})"))
        .unwrap_or_default();
    format!(
        "{} pages {}{because} {}.",
        who(job),
        paged.person.name,
        from_where(job)
    )
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// The page as a mail to `to`.
fn page_mail(
    from: &str,
    job: &Job,
    paged: &Paged<'_>,
    text: &str,
    to: &str,
    now: Timestamp,
) -> Mail {
    let first = text.lines().next().unwrap_or_default();
    let asked = asked(job, paged);
    Mail {
        parts: Vec::new(),
        from: from.to_owned(),
        to: vec![to.to_owned()],
        subject: header_safe(&format!(
            "Page from {}: {}",
            who(job),
            first.chars().take(120).collect::<String>()
        )),
        text: format!("{text}\n\n{asked}\n"),
        html: format!(
            "<!DOCTYPE html><html><body><p style=\"white-space: pre-wrap\">{}</p><p><em>{}</em></p></body></html>",
            openmic_render::escape_text(text),
            openmic_render::escape_text(&asked)
        ),
        date: now,
        message_id: format!(
            "<chat-page-{}@openmic>",
            short_hash(&[&job.user_id, &job.channel_id, text, &paged.person.name])
        ),
        in_reply_to: None,
        headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
    }
}

/// The page for phone methods.
fn page_message(job: &Job, paged: &Paged<'_>, text: &str, now: Timestamp) -> chat::Message {
    chat::Message {
        event: "chat.page".into(),
        id: format!(
            "chat-page-{}",
            short_hash(&[&job.user_id, &job.channel_id, text, &paged.person.name])
        ),
        title: format!("Page from {}", who(job)),
        text: format!("{text}\n\n{}", asked(job, paged)),
        link: None,
        facts: Vec::new(),
        buttons: Vec::new(),
        tone: Tone::Danger,
        thread: None,
        timestamp: now,
        since: None,
        details: None,
        alert: None,
        image: None,
    }
}

impl Commands {
    /// Pages `target` with `text`, on behalf of the job's user.
    pub(super) async fn page(&self, job: &Job, target: &str, text: &str) -> Result<Said, Stop> {
        let Some(pager) = &self.pager else {
            return Err(to_user(
                "openmic cannot page from here (MAIL_FROM is not set); nobody was paged.",
            )
            .into());
        };
        let file = match keeper::in_use(self.state.as_ref()).await {
            Ok(Some(file)) => file,
            Ok(None) => {
                return Err(to_user(
                    "There is no on-call file in use here (ONCALL_CONFIG); nobody was paged.",
                )
                .into());
            }
            Err(e) => {
                warn!(error = %e, "chat page: the on-call file could not be read");
                return Err(
                    to_user("The on-call file could not be read just now; try again.").into(),
                );
            }
        };
        let now = self.clock.now();
        let paged = whom(&file, target, now).map_err(to_user)?;
        let from = self.config.mail.mail_from.clone().unwrap_or_default();
        let mail = |to: &str| Ok(page_mail(&from, job, &paged, text, to, now));
        let message = || Ok(page_message(job, &paged, text, now));
        let sent = pager
            .reach(&paged.person.name, &paged.person.contacts, mail, message)
            .await;
        info!(
            platform = job.platform.as_str(),
            methods = sent.by.len(),
            failures = sent.failures.len(),
            "chat page"
        );
        let name = &paged.person.name;
        let because = paged
            .because
            .as_deref()
            .map(|b| format!(" ({b})"))
            .unwrap_or_default();
        let failed = match sent.failures.as_slice() {
            [] => String::new(),
            f => format!(" Failed: {}.", f.join("; ")),
        };
        if sent.by.is_empty() {
            return Ok(to_user(format!(
                "{name}{because} could not be paged by any method.{failed}"
            )));
        }
        Ok(to_user(format!(
            "Paged {name}{because} by {}.{failed}",
            sent.by.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "people:\n  alice: {email: alice@example.com}\n  bob: {email: bob@example.com}\nschedules:\n  primary:\n    time_zone: UTC\n    layers:\n      - {participants: [alice], rotation: 1w, handoff: \"2026-12-07T09:00\"}\n  empty:\n    time_zone: UTC\n    layers:\n      - {participants: [bob], rotation: 1w, handoff: \"2026-12-07T09:00\", restrict: [\"Sat-Sun 09:00-10:00\"]}\n";

    #[test]
    fn a_person_or_whoever_is_on_call_or_why_nobody() {
        let file = OnCall::parse(FILE).unwrap();
        let now = crate::time::parse("2026-12-08T10:00:00Z").unwrap();
        let p = whom(&file, "bob", now).unwrap();
        assert_eq!((p.person.name.as_str(), p.because), ("bob", None));
        let p = whom(&file, "schedule:primary", now).unwrap();
        assert_eq!(p.person.name, "alice");
        assert_eq!(p.because.as_deref(), Some("on call in primary"));
        assert_eq!(whom(&file, "primary", now).unwrap().person.name, "alice");
        for (target, why) in [
            ("carol", "no person or schedule `carol`"),
            ("person:primary", "no person or schedule `primary`"),
            ("schedule:bob", "no person or schedule `bob`"),
            ("empty", "Nobody is on call in schedule `empty`"),
        ] {
            let e = whom(&file, target, now).err().unwrap();
            assert!(e.contains(why), "{target}: {e}");
        }
    }
}
