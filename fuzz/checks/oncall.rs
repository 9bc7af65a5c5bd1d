//! The `oncall` fuzz target's check, shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs: any text read as the on-call file gives the file
//! or its named problems (each with a reason), never a panic; a file read answers who
//! is on call at any instant (the calendar's ends included), gives shifts, gaps and an
//! iCalendar feed, and escalates an alert under each policy, all without a panic.

use openmic::oncall::{self, AlertState, EscalationRecord, OnCall};

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file = match OnCall::parse(&text) {
        Ok(file) => file,
        Err(e) => {
            assert!(!e.0.is_empty(), "{text:?}: refused without a problem");
            for p in &e.0 {
                assert!(
                    !p.to_string().is_empty(),
                    "{text:?}: a problem without a reason"
                );
            }
            return;
        }
    };
    let t = |s: &str| openmic::time::parse(s).expect("a fixed time");
    let now = t("2026-12-07T09:30:00Z");
    for at in [
        now,
        t("2026-10-25T01:30:00Z"),
        t("2027-03-28T01:30:00Z"),
        chrono::DateTime::<chrono::Utc>::MIN_UTC,
        chrono::DateTime::<chrono::Utc>::MAX_UTC,
    ] {
        let answers = oncall::on_call_now(&file, at);
        assert_eq!(answers.len(), file.schedules.len());
        for (_, who) in answers {
            if let Some(who) = who {
                assert!(
                    file.person(who).is_some(),
                    "{text:?}: {who} is on call, unknown"
                );
            }
        }
    }
    let week = now + chrono::Duration::days(7);
    let _ = oncall::gaps(&file, now);
    if let Some(person) = file.people.first() {
        let shifts = oncall::shifts(&file, &person.name, now, week);
        for s in &shifts {
            assert!(s.start < s.end, "{text:?}: {s:?} ends before it starts");
        }
        let feed = oncall::ics::calendar(&person.name, &shifts, now);
        assert!(
            feed.split("\r\n").all(|l| l.len() <= 75),
            "{text:?}: a line over 75 octets"
        );
    }
    let alert = AlertState {
        id: "fp/0".into(),
        started: now,
        acknowledged: None,
        resolved: None,
        closed: None,
    };
    for policy in &file.policies {
        let first = oncall::escalate(&file, policy, &alert, &EscalationRecord::default(), week);
        let again = oncall::escalate(&file, policy, &alert, &first.record, week);
        assert!(again.pages.is_empty(), "{text:?}: a step paged twice");
    }
}
