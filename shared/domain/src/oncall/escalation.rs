//! Escalation as pure rules: given a policy, an alert's state, what has already been
//! paged for it (a small record kept with the alert) and the time, which steps are due
//! and whom they page.
//!
//! - Step `k` (1-based) of round `r` (0 the first time, up to the policy's `repeat`) is
//!   due at the alert's start + `r` × the round's length + the step's `after`: never
//!   before, and once (the record keeps each step done). Steps overdue together (a
//!   tick missed) are all sent, in order.
//! - A round lasts until its last step plus the wait before that step (the last
//!   `after` minus the one before; for one step, its own `after`), at least
//!   [`MIN_ROUND`]: `0m, 10m` runs again at 20m and 30m.
//! - Escalation stops for good when the alert is acknowledged, resolves or its
//!   incident issue is closed: nothing more is paged, even a step that was due.
//! - A step pages whoever is on call in each schedule it names (then), each person it
//!   names (once per step, with their contact methods in the file's order) and each
//!   channel; a schedule with nobody on call is reported, never skipped silently.
//!
//! Replaying a tick (the same record and time) gives the same pages, each with a key
//! that names its alert, round, step and recipient; replaying with the record the
//! first run returned gives none.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::file::{Contact, OnCall, Policy, Target};
use super::schedule::on_call;
use crate::time::Timestamp;

/// The shortest round: a policy of one step at `0m` repeats no faster.
pub const MIN_ROUND: Duration = Duration::minutes(5);

/// The first policy (in the file's order) whose matchers hold for an alert's labels.
pub fn policy_for<'a, 'l>(
    file: &'a OnCall,
    labels: impl Fn(&str) -> Option<&'l str>,
) -> Option<&'a Policy> {
    file.policies.iter().find(|p| p.matchers.matches(&labels))
}

/// How long one round of a policy's steps lasts.
pub fn round_length(policy: &Policy) -> Duration {
    let afters: Vec<Duration> = policy.steps.iter().map(|s| s.after).collect();
    let (last, before) = match afters.as_slice() {
        [] => (Duration::zero(), Duration::zero()),
        [only] => (*only, Duration::zero()),
        [.., before, last] => (*last, *before),
    };
    (last + (last - before)).max(MIN_ROUND)
}

/// What escalation needs to know of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertState {
    /// The alert's key for pages (its fingerprint and generation, say).
    pub id: String,
    pub started: Timestamp,
    pub acknowledged: Option<Timestamp>,
    pub resolved: Option<Timestamp>,
    /// When its incident issue was closed.
    pub closed: Option<Timestamp>,
}

/// Why escalation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    Acknowledged,
    Resolved,
    Closed,
}

/// A step done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub round: u32,
    /// 1-based.
    pub step: u32,
    pub at: Timestamp,
    /// The people paged, by name.
    #[serde(default)]
    pub people: Vec<String>,
}

/// What has been paged for one alert (kept with it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default)]
    pub done: Vec<Done>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<(StopReason, Timestamp)>,
}

/// An alert's escalation, kept with its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalating {
    /// The firing it is for.
    pub generation: u32,
    pub started: Timestamp,
    pub record: EscalationRecord,
    /// Pages that did not go by some method: `step 1, alice: sms: <reason>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The pages sent and how each went, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged: Vec<Paged>,
}

/// A page sent: to whom, for which step, by which methods (none if every one failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paged {
    pub round: u32,
    /// 1-based.
    pub step: u32,
    /// The person's name, or `channel <name>`.
    pub to: String,
    /// Why: `on call in primary`, `named by the policy`, `a channel of the policy`.
    pub because: String,
    /// The methods that took it (`email`, `sms`, …, or `channel`).
    #[serde(default)]
    pub by: Vec<String>,
    pub at: Timestamp,
}

/// Whom a page goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A person, with their contact methods in order.
    Person {
        name: String,
        contacts: Vec<Contact>,
    },
    /// A channel of `ALERT_CHANNELS`, by name.
    Channel(String),
}

/// One page to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub round: u32,
    /// 1-based: "step 2".
    pub step: u32,
    pub to: Recipient,
    /// What in the step named the recipient.
    pub because: Target,
    /// The people paged for this alert before this step, in order.
    pub paged_before: Vec<String>,
    /// `<alert>/<round>/<step>/<recipient>`: the same page has the same key.
    pub key: String,
}

/// A step's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub pages: Vec<Page>,
    /// Schedules a due step named with nobody on call then: (round, step, schedule).
    pub nobody: Vec<(u32, u32, String)>,
    /// The record to keep.
    pub record: EscalationRecord,
    /// Set when escalation stops at this call.
    pub stopped: Option<StopReason>,
}

/// The pages due for an alert under `policy` at `now`, and the record to keep.
pub fn escalate(
    file: &OnCall,
    policy: &Policy,
    alert: &AlertState,
    record: &EscalationRecord,
    now: Timestamp,
) -> Escalation {
    let mut out = Escalation {
        pages: Vec::new(),
        nobody: Vec::new(),
        record: record.clone(),
        stopped: None,
    };
    out.record.policy = Some(policy.name.clone());
    if record.stopped.is_some() {
        return out;
    }
    let stop = [
        (StopReason::Acknowledged, alert.acknowledged),
        (StopReason::Resolved, alert.resolved),
        (StopReason::Closed, alert.closed),
    ]
    .into_iter()
    .filter_map(|(why, at)| at.filter(|at| *at <= now).map(|at| (at, why)))
    .min();
    if let Some((at, why)) = stop {
        out.record.stopped = Some((why, at));
        out.stopped = Some(why);
        return out;
    }
    let mut before: Vec<String> = Vec::new();
    for d in &record.done {
        for p in &d.people {
            if !before.contains(p) {
                before.push(p.clone());
            }
        }
    }
    let round = round_length(policy);
    'rounds: for r in 0..=policy.repeat {
        for (i, step) in policy.steps.iter().enumerate() {
            let k = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let due = round
                .checked_mul(i32::try_from(r).unwrap_or(i32::MAX))
                .and_then(|offset| offset.checked_add(&step.after))
                .and_then(|offset| alert.started.checked_add_signed(offset));
            if due.is_none_or(|due| due > now) {
                break 'rounds;
            }
            if record.done.iter().any(|d| d.round == r && d.step == k) {
                continue;
            }
            let mut people: Vec<String> = Vec::new();
            for target in &step.notify {
                let (to, name) = match target {
                    Target::Channel(c) => (Recipient::Channel(c.clone()), format!("channel:{c}")),
                    Target::Person(p) => (person(file, p), p.clone()),
                    Target::Schedule(s) => match file.schedule(s).and_then(|s| on_call(s, now)) {
                        Some(p) => (person(file, p), p.to_owned()),
                        None => {
                            out.nobody.push((r, k, s.clone()));
                            continue;
                        }
                    },
                };
                if out
                    .pages
                    .iter()
                    .any(|p| p.round == r && p.step == k && p.to == to)
                {
                    continue;
                }
                if matches!(to, Recipient::Person { .. }) {
                    people.push(name.clone());
                }
                out.pages.push(Page {
                    round: r,
                    step: k,
                    to,
                    because: target.clone(),
                    paged_before: before.clone(),
                    key: format!("{}/{r}/{k}/{name}", alert.id),
                });
            }
            for p in &people {
                if !before.contains(p) {
                    before.push(p.clone());
                }
            }
            out.record.done.push(Done {
                round: r,
                step: k,
                at: now,
                people,
            });
        }
    }
    out
}

/// When the first step not yet done is due (`None` once every round is done, or
/// escalation has stopped): the tick looks at an alert again only then.
pub fn next_due(
    policy: &Policy,
    started: Timestamp,
    record: &EscalationRecord,
) -> Option<Timestamp> {
    if record.stopped.is_some() {
        return None;
    }
    let round = round_length(policy);
    for r in 0..=policy.repeat {
        for (i, step) in policy.steps.iter().enumerate() {
            let k = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if record.done.iter().any(|d| d.round == r && d.step == k) {
                continue;
            }
            return round
                .checked_mul(i32::try_from(r).unwrap_or(i32::MAX))
                .and_then(|offset| offset.checked_add(&step.after))
                .and_then(|offset| started.checked_add_signed(offset));
        }
    }
    None
}

fn person(file: &OnCall, name: &str) -> Recipient {
    Recipient::Person {
        name: name.to_owned(),
        contacts: file
            .person(name)
            .map(|p| p.contacts.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::file::ContactKind;

    const FILE: &str = r#"
people:
  alice: {email: alice@example.com, sms: "+15550100"}
  bob: {email: bob@example.com}
  carol: {ntfy: "https://ntfy.example/carol"}
schedules:
  primary:
    time_zone: UTC
    layers:
      - {participants: [alice], rotation: 1w, handoff: "2026-01-05T00:00"}
  secondary:
    time_zone: UTC
    layers:
      - {participants: [bob], rotation: 1w, handoff: "2026-01-05T00:00"}
  nights:
    time_zone: UTC
    layers:
      - {participants: [carol], rotation: 1w, handoff: "2026-01-05T00:00", restrict: ["22:00-06:00"]}
policies:
  critical:
    match: 'severity="critical"'
    repeat: 1
    steps:
      - {after: 0m, notify: ["schedule:primary"]}
      - {after: 10m, notify: ["schedule:secondary", "person:alice", "channel:ops", "schedule:nights"]}
  rest:
    steps:
      - {after: 5m, notify: ["person:carol"]}
"#;

    fn t(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    fn alert() -> AlertState {
        AlertState {
            id: "fp/0".into(),
            started: t("2026-12-07T10:00:30Z"),
            acknowledged: None,
            resolved: None,
            closed: None,
        }
    }

    fn names(pages: &[Page]) -> Vec<String> {
        pages
            .iter()
            .map(|p| match &p.to {
                Recipient::Person { name, .. } => format!("{}:{name}", p.step),
                Recipient::Channel(c) => format!("{}:#{c}", p.step),
            })
            .collect()
    }

    /// Ticks every minute from `from` to `to`; each tick keeps the record it returns.
    fn run(
        file: &OnCall,
        alert: &AlertState,
        record: &mut EscalationRecord,
        from: &str,
        minutes: i64,
    ) -> Vec<(Timestamp, Vec<String>)> {
        let policy = &file.policies[0];
        let mut out = Vec::new();
        for m in 0..=minutes {
            let now = t(from) + Duration::minutes(m);
            let e = escalate(file, policy, alert, record, now);
            *record = e.record;
            if !e.pages.is_empty() {
                out.push((now, names(&e.pages)));
            }
        }
        out
    }

    #[test]
    fn steps_are_due_to_the_minute_never_early_never_twice_and_repeat() {
        let file = OnCall::parse(FILE).unwrap();
        let mut record = EscalationRecord::default();
        let sent = run(&file, &alert(), &mut record, "2026-12-07T10:00:00Z", 60);
        let at = |m: &str| t(&format!("2026-12-07T10:{m}:00Z"));
        assert_eq!(
            sent,
            [
                (at("01"), vec!["1:alice".to_owned()]),
                (
                    at("11"),
                    vec!["2:bob".into(), "2:alice".into(), "2:#ops".into()]
                ),
                // The round lasts 20 minutes: the steps again at 20m and 30m.
                (at("21"), vec!["1:alice".into()]),
                (
                    at("31"),
                    vec!["2:bob".into(), "2:alice".into(), "2:#ops".into()]
                ),
            ]
        );
        // 10:00:30 + 10m is due at 10:10:30: the tick at 10:10 is early.
        assert_eq!(record.done.len(), 4);
        // nights has nobody at 10:10: said, not skipped silently.
        let mut replay = EscalationRecord::default();
        let e = escalate(&file, &file.policies[0], &alert(), &replay, at("11"));
        assert_eq!(e.nobody, [(0, 2, "nights".to_owned())]);
        replay = e.record;
        // Replaying the tick with the record it returned sends nothing more.
        let again = escalate(&file, &file.policies[0], &alert(), &replay, at("11"));
        assert!(again.pages.is_empty() && again.record == replay);
    }

    #[test]
    fn a_page_says_the_step_who_was_paged_before_and_how() {
        let file = OnCall::parse(FILE).unwrap();
        let first = escalate(
            &file,
            &file.policies[0],
            &alert(),
            &EscalationRecord::default(),
            t("2026-12-07T10:01:00Z"),
        );
        let second = escalate(
            &file,
            &file.policies[0],
            &alert(),
            &first.record,
            t("2026-12-07T10:11:00Z"),
        );
        let bob = &second.pages[0];
        assert_eq!((bob.round, bob.step), (0, 2));
        assert_eq!(bob.paged_before, ["alice"]);
        assert_eq!(bob.because, Target::Schedule("secondary".into()));
        assert_eq!(bob.key, "fp/0/0/2/bob");
        let Recipient::Person { contacts, .. } = &second.pages[1].to else {
            panic!("alice is a person")
        };
        let kinds: Vec<_> = contacts.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ContactKind::Email, ContactKind::Sms]);
        // The same tick replayed from the first record gives the same pages, same keys.
        let replayed = escalate(
            &file,
            &file.policies[0],
            &alert(),
            &first.record,
            t("2026-12-07T10:11:00Z"),
        );
        assert_eq!(replayed.pages, second.pages);
    }

    #[test]
    fn acknowledge_resolve_or_close_stop_it_for_good() {
        let file = OnCall::parse(FILE).unwrap();
        for (field, why) in [
            ("ack", StopReason::Acknowledged),
            ("resolved", StopReason::Resolved),
            ("closed", StopReason::Closed),
        ] {
            let mut a = alert();
            let when = Some(t("2026-12-07T10:12:00Z"));
            match field {
                "ack" => a.acknowledged = when,
                "resolved" => a.resolved = when,
                _ => a.closed = when,
            }
            let mut record = EscalationRecord::default();
            let sent = run(&file, &a, &mut record, "2026-12-07T10:00:00Z", 60);
            assert_eq!(sent.len(), 2, "{field}: {sent:?}");
            assert_eq!(record.stopped, Some((why, t("2026-12-07T10:12:00Z"))));
            // Even if the alert fires again under the same record, nothing more.
            let e = escalate(
                &file,
                &file.policies[0],
                &alert(),
                &record,
                t("2026-12-07T11:00:00Z"),
            );
            assert!(e.pages.is_empty());
        }
    }

    #[test]
    fn overdue_steps_are_sent_once_in_order_and_policies_route_by_labels() {
        let file = OnCall::parse(FILE).unwrap();
        let e = escalate(
            &file,
            &file.policies[0],
            &alert(),
            &EscalationRecord::default(),
            t("2026-12-07T10:25:00Z"),
        );
        assert_eq!(
            names(&e.pages),
            ["1:alice", "2:bob", "2:alice", "2:#ops", "1:alice"]
        );
        assert_eq!(e.pages[4].round, 1);
        assert_eq!(
            policy_for(&file, |l| (l == "severity").then_some("critical")).map(|p| p.name.as_str()),
            Some("critical")
        );
        assert_eq!(
            policy_for(&file, |_| None).map(|p| p.name.as_str()),
            Some("rest")
        );
        assert_eq!(round_length(&file.policies[1]), Duration::minutes(10));
    }

    #[test]
    fn the_next_step_due_is_the_first_not_done() {
        let file = OnCall::parse(FILE).unwrap();
        let policy = &file.policies[0];
        let a = alert();
        let mut record = EscalationRecord::default();
        assert_eq!(next_due(policy, a.started, &record), Some(a.started));
        let at = |m: &str| t(&format!("2026-12-07T10:{m}:00Z"));
        record = escalate(&file, policy, &a, &record, at("11")).record;
        assert_eq!(
            next_due(policy, a.started, &record),
            Some(t("2026-12-07T10:20:30Z"))
        );
        record = escalate(&file, policy, &a, &record, at("31")).record;
        assert_eq!(
            next_due(policy, a.started, &record),
            None,
            "every round done"
        );
        let mut acked = a.clone();
        acked.acknowledged = Some(at("05"));
        let stopped = escalate(
            &file,
            policy,
            &acked,
            &EscalationRecord::default(),
            at("06"),
        );
        assert_eq!(next_due(policy, a.started, &stopped.record), None);
    }

    #[test]
    fn the_record_reads_back() {
        let file = OnCall::parse(FILE).unwrap();
        let e = escalate(
            &file,
            &file.policies[0],
            &alert(),
            &EscalationRecord::default(),
            t("2026-12-07T10:25:00Z"),
        );
        let json = serde_json::to_string(&e.record).unwrap();
        assert!(
            !json.contains("example.com") && !json.contains("1555"),
            "{json}"
        );
        let back: EscalationRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e.record);
        let empty: EscalationRecord = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, EscalationRecord::default());
    }
}
