//! Knowing your shifts, from the notifier's tick: a message to a person when a shift
//! of theirs begins (by mail, or by their first phone method without one or when the
//! mail fails, through the [`Pager`](crate::alerts::escalating::Pager)), and the
//! maintainers told once of each gap (nobody on call) in a schedule within the next
//! 14 days, when it first appears. Who was on call and the gaps told are kept in
//! `oncall/shifts.json` (state bucket); the first tick after a file is first read
//! tells no shift start (nobody's shift began then), but does tell its gaps.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::alerts::lifecycle::Notifier;
use crate::chat::{Message, Tone};
use crate::document;
use crate::errors::ProcessError;
use crate::mail::Mail;
use crate::oncall::file::OnCall;
use crate::oncall::schedule::{FEED_DAYS, Gap, gaps, on_call_now, shifts};
use crate::time::Timestamp;

/// What was told.
pub const SHIFTS_KEY: &str = "oncall/shifts.json";

/// Who was on call at the last tick, and the gaps told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    #[serde(default)]
    pub on_call: BTreeMap<String, Option<String>>,
    /// [`Gap::key`] of each gap found that is still ahead.
    #[serde(default)]
    pub gaps: BTreeSet<String>,
    /// The gaps found that some maintainer is still to be told of.
    #[serde(default)]
    pub untold: Vec<Gap>,
    /// [`crate::alerts::telling::reached_key`] of each untold gap told to a
    /// maintainer already.
    #[serde(default)]
    pub reached: BTreeSet<String>,
}

/// What a tick is to tell: shifts begun (schedule, person), gaps new.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct News {
    pub begun: Vec<(String, String)>,
    pub gaps: Vec<Gap>,
}

/// What changed since `told`, and what to keep.
pub fn news(told: Option<&Told>, file: &OnCall, now: Timestamp) -> (News, Told) {
    let on_call: BTreeMap<String, Option<String>> = on_call_now(file, now)
        .into_iter()
        .map(|(s, p)| (s.to_owned(), p.map(str::to_owned)))
        .collect();
    let mut news = News::default();
    if let Some(before) = told {
        for (schedule, who) in &on_call {
            let was = before.on_call.get(schedule).cloned().flatten();
            if let Some(p) = who.as_ref().filter(|p| Some(*p) != was.as_ref()) {
                news.begun.push((schedule.clone(), p.clone()));
            }
        }
    }
    let found = gaps(file, now);
    let mut kept = BTreeSet::new();
    let mut untold: Vec<Gap> = Vec::new();
    for g in found {
        let key = g.key();
        let earlier = told.and_then(|t| t.untold.iter().find(|u| u.key() == key));
        if let Some(u) = earlier {
            untold.push(u.clone());
        } else if !told.is_some_and(|t| t.gaps.contains(&key)) {
            news.gaps.push(g.clone());
            untold.push(g);
        }
        kept.insert(key);
    }
    let reached = match told {
        Some(t) if !untold.is_empty() => t.reached.clone(),
        _ => BTreeSet::new(),
    };
    (
        news,
        Told {
            on_call,
            gaps: kept,
            untold,
            reached,
        },
    )
}

impl Notifier {
    /// Tells what began and what is uncovered since the last tick. A shift start
    /// that cannot go is logged, not tried again; a gap is told to each maintainer
    /// once their mail went (tried again at each tick until then).
    pub async fn tell_shifts(&self, file: &OnCall, now: Timestamp) -> Result<(), ProcessError> {
        let mut found = News::default();
        let mut kept = Told::default();
        document::update(self.state.as_ref(), SHIFTS_KEY, |old: Option<Told>| {
            let (n, keep) = news(old.as_ref(), file, now);
            found = n;
            kept = keep.clone();
            Some(keep)
        })
        .await?;
        for (schedule, person) in &found.begun {
            self.shift_begun(file, schedule, person, now).await;
        }
        if !kept.untold.is_empty() {
            self.tell_gaps(&kept.untold, &kept.reached, now).await?;
        }
        Ok(())
    }

    async fn shift_begun(&self, file: &OnCall, schedule: &str, person: &str, now: Timestamp) {
        let Some(p) = file.person(person) else {
            return;
        };
        let end = shifts(file, person, now, now + chrono::Duration::days(FEED_DAYS))
            .into_iter()
            .find(|s| s.schedule == schedule && s.start <= now && s.end > now)
            .map(|s| s.end);
        let title = format!("Your on-call shift in {schedule} begins");
        let text = match end {
            Some(end) => format!(
                "You are on call in {schedule} from now until {}.",
                end.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("You are on call in {schedule} from now."),
        };
        let mail =
            |address: &str| shift_mail(&self.config, schedule, person, address, &title, &text, now);
        let message = || {
            Ok(Message {
                event: "oncall.shift".into(),
                id: format!("shift-{schedule}-{person}-{}", now.timestamp()),
                title: title.clone(),
                text: text.clone(),
                link: None,
                facts: Vec::new(),
                buttons: Vec::new(),
                alert: None,
                tone: Tone::Neutral,
                thread: None,
                timestamp: now,
                since: None,
                details: None,
            })
        };
        let sent = self
            .pager()
            .reach_first(person, &p.contacts, mail, message)
            .await;
        match sent.by.first() {
            Some(by) => info!(schedule = %schedule, person = %person, by, "shift start told"),
            None => {
                warn!(schedule = %schedule, person = %person, failures = ?sent.failures, "the shift start could not be sent by any method")
            }
        }
    }

    async fn tell_gaps(
        &self,
        untold: &[Gap],
        reached: &BTreeSet<String>,
        now: Timestamp,
    ) -> Result<(), ProcessError> {
        let keys: Vec<String> = untold.iter().map(Gap::key).collect();
        let round = self
            .tell_maintainers(&keys, reached, |due, to| {
                let these: Vec<&Gap> = due.iter().map(|i| &untold[*i]).collect();
                gaps_mail(&self.config, &these, to, now)
            })
            .await;
        document::update(self.state.as_ref(), SHIFTS_KEY, |old: Option<Told>| {
            let mut t = old?;
            if round.all {
                t.untold.retain(|g| !keys.contains(&g.key()));
            } else {
                t.reached.extend(round.reached.iter().cloned());
            }
            if t.untold.is_empty() {
                t.reached.clear();
            }
            Some(t)
        })
        .await?;
        Ok(())
    }
}

/// The mail telling the maintainer `to` of `found`, gaps in the schedules.
fn gaps_mail(
    config: &crate::config::Config,
    found: &[&Gap],
    to: &str,
    now: Timestamp,
) -> Option<Mail> {
    let from = config.mail.mail_from.clone()?;
    let lines: Vec<String> = found
        .iter()
        .map(|g| {
            format!(
                "{}: nobody on call from {} to {}",
                g.schedule,
                g.start.format("%Y-%m-%d %H:%M UTC"),
                g.end.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .collect();
    let text = format!(
        "The on-call schedules leave these times uncovered within the next 14 days:\n\n{}\n\nAn override or another layer in the on-call file covers them.\n",
        lines.join("\n")
    );
    let html = format!(
        "<!DOCTYPE html><html><body><p>The on-call schedules leave these times uncovered within the next 14 days:</p><pre>{}</pre><p>An override or another layer in the on-call file covers them.</p></body></html>",
        openmic_render::escape_text(&lines.join("\n"))
    );
    let keys: Vec<String> = found.iter().map(|g| g.key()).collect();
    Some(Mail {
        parts: Vec::new(),
        from,
        to: vec![to.to_owned()],
        subject: "openmic: nobody is on call at times in the next 14 days".into(),
        text,
        html,
        date: now,
        message_id: format!(
            "<gaps-{}@openmic>",
            crate::alerts::telling::reached_key(&keys.join("\n"), to)
        ),
        in_reply_to: None,
        headers: Vec::new(),
    })
}

/// The mail telling `person` at `address` that their shift in `schedule` begins.
fn shift_mail(
    config: &crate::config::Config,
    schedule: &str,
    person: &str,
    address: &str,
    title: &str,
    text: &str,
    now: Timestamp,
) -> Result<Mail, String> {
    let from = config
        .mail
        .mail_from
        .clone()
        .ok_or_else(|| crate::alerts::message::NoticeError::NoSender.to_string())?;
    Ok(Mail {
        parts: Vec::new(),
        from,
        to: vec![address.to_owned()],
        subject: crate::mail::header_safe(title),
        html: format!(
            "<!DOCTYPE html><html><body><p>{}</p></body></html>",
            openmic_render::escape_text(text)
        ),
        text: format!("{text}\n"),
        date: now,
        message_id: format!(
            "<shift-{}-{}@openmic>",
            now.timestamp(),
            hex::encode(
                &<sha2::Sha256 as sha2::Digest>::digest(format!("{schedule}\n{person}").as_bytes())
                    [..6]
            )
        ),
        in_reply_to: None,
        headers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
people:
  alice: {email: alice@example.com}
  bob: {email: bob@example.com}
schedules:
  primary:
    time_zone: UTC
    layers:
      - {participants: [alice, bob], rotation: 1d, handoff: "2026-12-07T09:00", restrict: ["Mon-Fri"]}
"#;

    fn t(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn a_shift_start_and_each_gap_are_told_once() {
        let file = OnCall::parse(FILE).unwrap();
        // Monday: alice on call; the weekend ahead is a gap, told at first.
        let (first, kept) = news(None, &file, t("2026-12-07T10:00:00Z"));
        assert!(
            first.begun.is_empty(),
            "nobody's shift began at the first look"
        );
        assert_eq!(first.gaps.len(), 2, "{:?}", first.gaps);
        assert_eq!(first.gaps[0].start, t("2026-12-12T00:00:00Z"));
        // A minute later: nothing new.
        let (again, kept) = news(Some(&kept), &file, t("2026-12-07T10:01:00Z"));
        assert_eq!(again, News::default());
        // Tuesday 09:00: bob's shift begins.
        let (tuesday, kept) = news(Some(&kept), &file, t("2026-12-08T09:00:00Z"));
        assert_eq!(tuesday.begun, [("primary".to_owned(), "bob".to_owned())]);
        assert!(tuesday.gaps.is_empty());
        // Saturday: nobody's shift begins; the weekend gap is not told again.
        let (saturday, _) = news(Some(&kept), &file, t("2026-12-12T09:00:00Z"));
        assert!(saturday.begun.is_empty());
        assert_eq!(saturday.gaps.len(), 1, "the weekend after next is new");
    }
}
