//! Knowing your shifts, from the notifier's tick: a message to a person when a shift
//! of theirs begins (by mail, or by their first phone method without one or when the
//! mail fails, through the [`Pager`](crate::alerts::escalating::Pager)), and the
//! maintainers told once of each gap (nobody on call) in a schedule within the next
//! 14 days, when it first appears. Who was on call and the gaps told are kept in
//! `oncall/shifts.json` (state bucket); the first tick after a file is first read
//! tells no shift start (nobody's shift began then), but does tell its gaps.
//!
//! Who is on call and the gaps ahead change only at handoffs, restriction edges,
//! overrides and as the 14 days move on: the document also keeps until when what was
//! found stands, and for which file ([`Standing`]); a tick before then with the same
//! file finds nothing new and only tries again the gaps still to tell. A document
//! without it (as written before) is found again at the next tick.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::alerts::lifecycle::Notifier;
use crate::chat::{Message, Tone};
use crate::document;
use crate::errors::ProcessError;
use crate::mail::Mail;
use crate::oncall::file::OnCall;
use crate::oncall::schedule::{FEED_DAYS, Gap, LOOKBACK_DAYS, coverage, on_call_now, shifts};
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
    /// Until when the rest stands, and for which file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<Standing>,
}

/// What was found at `from` from the file of `revision` stands until `until`: who is
/// on call stays, and no gap comes or goes before then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// [`crate::oncall::keeper::Keeper::current_revision`]'s.
    pub revision: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

impl Told {
    /// Whether a tick at `now` with the file of `revision` would find nothing new.
    pub fn stands(&self, revision: &str, now: Timestamp) -> bool {
        self.standing
            .as_ref()
            .is_some_and(|s| s.revision == revision && s.from <= now && now < s.until)
    }
}

/// What a tick is to tell: shifts begun (schedule, person), gaps new.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct News {
    pub begun: Vec<(String, String)>,
    pub gaps: Vec<Gap>,
}

/// What changed since `told`, and what to keep (found from the file of `revision`).
pub fn news(told: Option<&Told>, file: &OnCall, revision: &str, now: Timestamp) -> (News, Told) {
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
    let found = coverage(file, now);
    let standing = Standing {
        revision: revision.to_owned(),
        from: now,
        until: found.until,
    };
    let found = found.gaps;
    // A gap in progress since further back than the lookback is found from there, so
    // with another start at each look: it is the gap found at the last look if that
    // look was within the lookback and found nobody on call in its schedule.
    let lookback = now
        .checked_sub_signed(chrono::Duration::days(LOOKBACK_DAYS))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let last = told.and_then(|t| t.standing.as_ref().map(|s| (t, s.from)));
    let ongoing = |g: &Gap| {
        g.start <= lookback
            && last.is_some_and(|(t, from)| {
                (lookback..=now).contains(&from) && t.on_call.get(&g.schedule) == Some(&None)
            })
    };
    let mut kept = BTreeSet::new();
    let mut untold: Vec<Gap> = Vec::new();
    for g in found {
        let key = g.key();
        let same = ongoing(&g);
        let earlier = told.and_then(|t| {
            t.untold.iter().find(|u| {
                u.key() == key || (same && u.schedule == g.schedule && u.start <= g.start)
            })
        });
        if let Some(u) = earlier {
            untold.push(u.clone());
        } else if !same && !told.is_some_and(|t| t.gaps.contains(&key)) {
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
            standing: Some(standing),
        },
    )
}

impl Notifier {
    /// Tells what began and what is uncovered since the last tick. A shift start
    /// that cannot go is logged, not tried again; a gap is told to each maintainer
    /// once their mail went (tried again at each tick until then). `revision` is the
    /// file's ([`crate::oncall::keeper::Keeper::current_revision`]): until the next
    /// change found last time, the same file finds nothing new.
    pub async fn tell_shifts(
        &self,
        file: &OnCall,
        revision: &str,
        now: Timestamp,
    ) -> Result<(), ProcessError> {
        let told = document::read::<Told>(self.state.as_ref(), SHIFTS_KEY).await?;
        if let Some((told, _)) = told.filter(|(t, _)| t.stands(revision, now)) {
            if !told.untold.is_empty() {
                self.tell_gaps(&told.untold, &told.reached, now).await?;
            }
            return Ok(());
        }
        let mut found = News::default();
        let mut kept = Told::default();
        document::update(self.state.as_ref(), SHIFTS_KEY, |old: Option<Told>| {
            let (n, keep) = match old {
                // Found meanwhile by another tick.
                Some(t) if t.stands(revision, now) => (News::default(), t),
                old => news(old.as_ref(), file, revision, now),
            };
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
                image: None,
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
        let (first, kept) = news(None, &file, "r", t("2026-12-07T10:00:00Z"));
        assert!(
            first.begun.is_empty(),
            "nobody's shift began at the first look"
        );
        assert_eq!(first.gaps.len(), 2, "{:?}", first.gaps);
        assert_eq!(first.gaps[0].start, t("2026-12-12T00:00:00Z"));
        // A minute later: nothing new.
        let (again, kept) = news(Some(&kept), &file, "r", t("2026-12-07T10:01:00Z"));
        assert_eq!(again, News::default());
        // Tuesday 09:00: bob's shift begins.
        let (tuesday, kept) = news(Some(&kept), &file, "r", t("2026-12-08T09:00:00Z"));
        assert_eq!(tuesday.begun, [("primary".to_owned(), "bob".to_owned())]);
        assert!(tuesday.gaps.is_empty());
        // Saturday: nobody's shift begins; the weekend gap is not told again.
        let (saturday, _) = news(Some(&kept), &file, "r", t("2026-12-12T09:00:00Z"));
        assert!(saturday.begun.is_empty());
        assert_eq!(saturday.gaps.len(), 1, "the weekend after next is new");
    }

    /// A schedule whose first handoff is still weeks ahead: nobody on call since ever,
    /// a gap found from the lookback's start at each look.
    #[test]
    fn a_gap_in_progress_since_long_ago_is_told_once() {
        let file = OnCall::parse(
            "people:\n  alice: {}\nschedules:\n  later:\n    time_zone: UTC\n    layers:\n      - {participants: [alice], rotation: 1w, handoff: \"2027-02-01T09:00\"}\n",
        )
        .unwrap();
        let (first, mut kept) = news(None, &file, "r", t("2026-12-07T10:00:00Z"));
        assert_eq!(first.gaps.len(), 1, "{:?}", first.gaps);
        assert_eq!(first.gaps[0].start, t("2026-11-23T10:00:00Z"));
        for at in [
            "2026-12-07T10:01:00Z",
            "2026-12-08T10:00:00Z",
            "2026-12-20T09:00:00Z",
        ] {
            let (again, k) = news(Some(&kept), &file, "r", t(at));
            assert_eq!(again, News::default(), "{at}");
            kept = k;
        }
        // Untold (no maintainer reached yet): the gap first found stays the one to tell.
        let (_, mut k) = news(None, &file, "r", t("2026-12-07T10:00:00Z"));
        let first_key = k.untold[0].key();
        for at in ["2026-12-07T10:01:00Z", "2026-12-09T10:00:00Z"] {
            let (again, next) = news(Some(&k), &file, "r", t(at));
            assert_eq!(again, News::default(), "{at}");
            assert_eq!(next.untold.len(), 1, "{at}");
            assert_eq!(next.untold[0].key(), first_key, "{at}");
            k = next;
        }
    }

    #[test]
    fn what_was_found_stands_until_the_next_change_for_the_same_file() {
        let file = OnCall::parse(FILE).unwrap();
        let (_, kept) = news(None, &file, "r", t("2026-12-07T10:00:00Z"));
        // Alice's turn runs to Tuesday 09:00, bob's from then.
        let standing = kept.standing.clone().unwrap();
        assert_eq!(standing.until, t("2026-12-08T09:00:00Z"));
        assert!(kept.stands("r", t("2026-12-07T10:01:00Z")));
        assert!(kept.stands("r", t("2026-12-08T08:59:59Z")));
        assert!(!kept.stands("r", t("2026-12-08T09:00:00Z")));
        assert!(
            !kept.stands("other", t("2026-12-07T10:01:00Z")),
            "another file"
        );
        assert!(
            !kept.stands("r", t("2026-12-07T09:59:00Z")),
            "a clock gone back"
        );
    }

    fn notifier(
        state: std::sync::Arc<crate::memory::MemoryStore>,
        mailer: std::sync::Arc<crate::memory::MemoryMailer>,
    ) -> Notifier {
        let config = crate::config::Config::from_lookup(|n| match n {
            "MAIL_FROM" => Some("openmic@example.com".into()),
            "MAINTAINER_EMAILS" => Some("ops@example.com".into()),
            _ => None,
        })
        .unwrap();
        Notifier::new(std::sync::Arc::new(config), state, mailer, None, None).unwrap()
    }

    /// The subjects of the mails sent since the last call.
    fn subjects(mailer: &crate::memory::MemoryMailer) -> Vec<String> {
        mailer.take().into_iter().map(|m| m.subject).collect()
    }

    async fn etag(state: &crate::memory::MemoryStore) -> String {
        use crate::ports::ObjectStore;
        state.get(SHIFTS_KEY).await.unwrap().unwrap().etag
    }

    const BEGINS: &str = "Your on-call shift in primary begins";
    const GAPS: &str = "openmic: nobody is on call at times in the next 14 days";

    #[tokio::test]
    async fn a_shift_start_between_two_ticks_after_a_skipped_one_is_told_once() {
        let file = OnCall::parse(FILE).unwrap();
        let state = std::sync::Arc::new(crate::memory::MemoryStore::new());
        let mailer = std::sync::Arc::new(crate::memory::MemoryMailer::default());
        let n = notifier(state.clone(), mailer.clone());
        n.tell_shifts(&file, "r", t("2026-12-07T10:00:00Z"))
            .await
            .unwrap();
        assert_eq!(subjects(&mailer), [GAPS], "the gaps, at the first look");
        let first = etag(&state).await;
        // Nothing changes before Tuesday 09:00: the ticks find nothing and write nothing.
        for at in ["2026-12-07T10:01:00Z", "2026-12-08T08:58:00Z"] {
            n.tell_shifts(&file, "r", t(at)).await.unwrap();
            assert!(subjects(&mailer).is_empty(), "{at}");
            assert_eq!(etag(&state).await, first, "{at}: nothing written");
        }
        // The tick of 08:59 did not run; bob's shift began at 09:00, between that
        // tick and this one.
        n.tell_shifts(&file, "r", t("2026-12-08T09:00:30Z"))
            .await
            .unwrap();
        let told = subjects(&mailer);
        assert_eq!(told, [BEGINS], "bob's shift start, once");
        for at in ["2026-12-08T09:01:30Z", "2026-12-08T09:02:30Z"] {
            n.tell_shifts(&file, "r", t(at)).await.unwrap();
            assert!(subjects(&mailer).is_empty(), "{at}: not told again");
        }
    }

    #[tokio::test]
    async fn another_file_is_looked_at_again_at_once() {
        let file = OnCall::parse(FILE).unwrap();
        let state = std::sync::Arc::new(crate::memory::MemoryStore::new());
        let mailer = std::sync::Arc::new(crate::memory::MemoryMailer::default());
        let n = notifier(state.clone(), mailer.clone());
        n.tell_shifts(&file, "r", t("2026-12-07T10:00:00Z"))
            .await
            .unwrap();
        mailer.take();
        // Bob takes alice's place at once: his shift begins now.
        let swapped = OnCall::parse(&FILE.replace("[alice, bob]", "[bob, alice]")).unwrap();
        n.tell_shifts(&swapped, "r2", t("2026-12-07T10:01:00Z"))
            .await
            .unwrap();
        assert_eq!(subjects(&mailer), [BEGINS]);
    }

    /// `oncall/shifts.json` as written before it kept until when it stands.
    const OLD_SHAPE: &str = r#"{
        "on_call": {"primary": "alice"},
        "gaps": ["primary/2026-12-12T00:00:00Z", "primary/2026-12-19T00:00:00Z"],
        "untold": [],
        "reached": []
    }"#;

    #[tokio::test]
    async fn a_document_of_the_old_shape_is_read_and_looked_at_once() {
        use crate::ports::{ObjectStore, PutOptions};
        let file = OnCall::parse(FILE).unwrap();
        let state = std::sync::Arc::new(crate::memory::MemoryStore::new());
        state
            .put(
                SHIFTS_KEY,
                bytes::Bytes::from_static(OLD_SHAPE.as_bytes()),
                PutOptions::private_json(),
            )
            .await
            .unwrap();
        let mailer = std::sync::Arc::new(crate::memory::MemoryMailer::default());
        let n = notifier(state.clone(), mailer.clone());
        let at = t("2026-12-07T10:05:00Z");
        n.tell_shifts(&file, "r", at).await.unwrap();
        assert!(
            subjects(&mailer).is_empty(),
            "alice still on call, the gaps told already"
        );
        let (told, tag) = document::read::<Told>(state.as_ref(), SHIFTS_KEY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(told.on_call["primary"].as_deref(), Some("alice"));
        assert_eq!(told.gaps.len(), 2, "{:?}", told.gaps);
        let standing = told.standing.expect("looked at once, and kept");
        assert_eq!(standing.from, at);
        n.tell_shifts(&file, "r", at + chrono::Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(etag(&state).await, tag, "not looked at again");
    }
}
