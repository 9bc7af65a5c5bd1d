//! A person's shifts as an iCalendar feed (RFC 5545), as calendar apps subscribe to:
//! one event per shift, times in UTC, text escaped, lines folded at 75 octets (never
//! inside a character), CRLF line ends, and a UID per shift that stays the same from
//! one fetch to the next (the person, schedule and start, hashed).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::schedule::Shift;
use crate::time::Timestamp;

/// `20261207T080000Z`.
fn utc(t: &Timestamp) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line ends escaped;
/// other control characters left out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line folded at 75 octets (RFC 5545 3.1), ending in CRLF.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// A shift's UID: the same for the same person, schedule and start.
pub fn uid(person: &str, shift: &Shift) -> String {
    let mut hash = Sha256::new();
    for part in [person, &shift.schedule, &utc(&shift.start)] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    format!("{}@oncall.openmic", hex::encode(&digest[..16]))
}

/// The feed of `person`'s `shifts`, stamped `now`.
pub fn calendar(person: &str, shifts: &[Shift], now: Timestamp) -> String {
    let mut out = String::new();
    let mut line = |text: String| fold(&text, &mut out);
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//openmic//on call//EN".into());
    line("CALSCALE:GREGORIAN".into());
    line("METHOD:PUBLISH".into());
    line(format!(
        "X-WR-CALNAME:{}",
        escape(&format!("On call: {person}"))
    ));
    for shift in shifts {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", uid(person, shift)));
        line(format!("DTSTAMP:{}", utc(&now)));
        line(format!("DTSTART:{}", utc(&shift.start)));
        line(format!("DTEND:{}", utc(&shift.end)));
        let mut summary = String::new();
        let _ = write!(summary, "On call: {}", shift.schedule);
        line(format!("SUMMARY:{}", escape(&summary)));
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime};

    use super::*;
    use crate::oncall::file::OnCall;
    use crate::oncall::schedule::{FEED_DAYS, shifts};

    const FILE: &str = r#"
people:
  alice: {email: alice@example.com}
  bob: {email: bob@example.com}
schedules:
  "ops, EU; nights \\ weekends — the long name of a schedule that needs folding":
    time_zone: Europe/Berlin
    layers:
      - {participants: [alice, bob], rotation: 1w, handoff: "2026-12-07T09:00"}
    overrides:
      - {who: bob, from: "2026-12-24T00:00", to: "2026-12-27T00:00"}
  day:
    time_zone: America/New_York
    layers:
      - {participants: [bob, alice], rotation: 1d, handoff: "2026-12-01T08:00", restrict: ["Mon-Fri 08:00-17:00"]}
"#;

    fn t(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn the_feed_parses_and_holds_exactly_the_shifts() {
        let file = OnCall::parse(FILE).unwrap();
        let now = t("2026-12-08T10:00:00Z");
        let mine = shifts(&file, "alice", now, now + Duration::days(FEED_DAYS));
        // Her weeks of the first schedule (from Monday 09:00 Berlin), the one at
        // Christmas cut by bob's override, and the one in progress with its start.
        let ops: Vec<(Timestamp, Timestamp)> = mine
            .iter()
            .filter(|s| s.schedule.starts_with("ops"))
            .map(|s| (s.start, s.end))
            .collect();
        let week = |from: &str, to: &str| (t(from), t(to));
        assert_eq!(
            ops,
            [
                week("2026-12-07T08:00:00Z", "2026-12-14T08:00:00Z"),
                week("2026-12-21T08:00:00Z", "2026-12-23T23:00:00Z"),
                week("2026-12-26T23:00:00Z", "2026-12-28T08:00:00Z"),
                week("2027-01-04T08:00:00Z", "2027-01-11T08:00:00Z"),
                week("2027-01-18T08:00:00Z", "2027-01-25T08:00:00Z"),
                week("2027-02-01T08:00:00Z", "2027-02-08T08:00:00Z"),
                week("2027-02-15T08:00:00Z", "2027-02-22T08:00:00Z"),
                week("2027-03-01T08:00:00Z", "2027-03-08T08:00:00Z"),
            ]
        );
        // Her weekdays of the other (every other day, 08:00-17:00 New York).
        let days: Vec<&Shift> = mine.iter().filter(|s| s.schedule == "day").collect();
        assert!(days.iter().all(|s| s.end - s.start == Duration::hours(9)));
        assert_eq!(days[0].start, t("2026-12-08T13:00:00Z"));
        assert_eq!(days.len(), mine.len() - ops.len());
        let text = calendar("alice", &mine, now);
        for l in text.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        assert!(text.ends_with("END:VCALENDAR\r\n") && !text.replace("\r\n", "").contains('\n'));
        let parsed: Calendar = text.parse().expect("the feed parses");
        let events: Vec<_> = parsed.events().collect();
        assert_eq!(events.len(), mine.len());
        let utc = |d: Option<DatePerhapsTime>| match d {
            Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(t))) => t,
            other => panic!("not a UTC time: {other:?}"),
        };
        let mut uids = std::collections::BTreeSet::new();
        for (event, shift) in events.iter().zip(&mine) {
            assert_eq!(utc(event.get_start()), shift.start);
            assert_eq!(utc(event.get_end()), shift.end);
            let summary = event.get_summary().unwrap();
            let unescaped = summary
                .replace("\\,", ",")
                .replace("\\;", ";")
                .replace("\\\\", "\\");
            assert_eq!(unescaped, format!("On call: {}", shift.schedule));
            assert!(uids.insert(event.get_uid().unwrap().to_owned()));
        }
        // The override gives alice's Christmas week to bob: her shift stops at it.
        let long = mine.iter().find(|s| s.schedule.starts_with("ops")).unwrap();
        // The next fetch, a day later, gives the same UIDs to the same shifts.
        let later = now + Duration::days(1);
        let again = calendar(
            "alice",
            &shifts(&file, "alice", later, later + Duration::days(FEED_DAYS)),
            later,
        );
        assert!(again.contains(&uid("alice", long)));
    }

    #[test]
    fn folding_never_splits_a_character() {
        let mut out = String::new();
        fold(&format!("SUMMARY:{}", "é".repeat(100)), &mut out);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75);
        }
        assert_eq!(
            out.replace("\r\n ", ""),
            format!("SUMMARY:{}\r\n", "é".repeat(100))
        );
        assert_eq!(escape("a,b;c\\d\ne\u{7}"), "a\\,b\\;c\\\\d\\ne");
    }
}
