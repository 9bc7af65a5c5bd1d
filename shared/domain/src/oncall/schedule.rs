//! Who is on call: a pure function of the file and the instant.
//!
//! At an instant, an override covering it wins; otherwise the last layer that is on
//! call then (its first handoff passed, and one of its restrictions, if it has any,
//! covering the local wall-clock time) gives the person whose turn it is; otherwise
//! nobody. Turns begin at the first handoff plus whole rotations in local wall-clock
//! time, so a daily 09:00 handoff stays at 09:00 across a daylight-saving change (a
//! handoff in a skipped hour moves on by the change; in a repeated hour it is the
//! first of the two).
//!
//! Over a range, [`timeline`] cuts a schedule where the answer may change (handoffs,
//! restriction edges, overrides) and joins the pieces with the same answer: a
//! person's [`shifts`] (the iCalendar feed's next 90 days) and the coverage [`gaps`]
//! (the next 14 days) are read from it.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

use super::file::{Layer, OnCall, Schedule, local_to_utc};
use crate::time::Timestamp;

/// How far the feed looks ahead.
pub const FEED_DAYS: i64 = 90;
/// How far coverage is checked ahead.
pub const GAP_DAYS: i64 = 14;
/// How far back a shift or gap in progress is looked for, to give its real start.
pub const LOOKBACK_DAYS: i64 = 14;
/// The longest range a timeline covers.
pub const MAX_RANGE_DAYS: i64 = 400;

/// Wall-clock distance from a handoff beyond which no daylight-saving change can move
/// an instant across it (the largest change, Samoa's skipped day, plus a margin).
const EXACT_WITHIN: i64 = 26 * 3600;

/// The local wall-clock time of `at` in `zone` (`None` past the calendar's ends).
pub fn local_time(zone: chrono_tz::Tz, at: Timestamp) -> Option<NaiveDateTime> {
    use chrono::{Offset, TimeZone};
    let utc = at.naive_utc();
    utc.checked_add_offset(zone.offset_from_utc_datetime(&utc).fix())
}

/// The start of turn `k` of a layer.
fn turn_start(layer: &Layer, zone: chrono_tz::Tz, k: i64) -> Option<Timestamp> {
    let step = layer.rotation.duration().num_seconds();
    let offset = Duration::try_seconds(k.checked_mul(step)?)?;
    local_to_utc(zone, layer.handoff.checked_add_signed(offset)?)
}

/// Which turn of a layer `at` (local wall-clock time `local`) falls in; `None` before
/// the first handoff.
fn turn(layer: &Layer, zone: chrono_tz::Tz, at: Timestamp, local: NaiveDateTime) -> Option<i64> {
    let step = layer.rotation.duration().num_seconds();
    let since = local.signed_duration_since(layer.handoff).num_seconds();
    let mut k = since.div_euclid(step);
    let into = since.rem_euclid(step);
    if into < EXACT_WITHIN || step - into < EXACT_WITHIN {
        // Near a handoff: compare instants, not wall-clock times.
        for _ in 0..4 {
            if turn_start(layer, zone, k)? > at {
                k -= 1;
            } else if turn_start(layer, zone, k + 1)? <= at {
                k += 1;
            } else {
                break;
            }
        }
    }
    (k >= 0).then_some(k)
}

fn layer_person(
    layer: &Layer,
    zone: chrono_tz::Tz,
    at: Timestamp,
    local: NaiveDateTime,
) -> Option<&str> {
    if !layer.restrict.is_empty() && !layer.restrict.iter().any(|r| r.covers(local)) {
        return None;
    }
    let k = turn(layer, zone, at, local)?;
    let n = i64::try_from(layer.participants.len())
        .ok()
        .filter(|n| *n > 0)?;
    let index = usize::try_from(k.rem_euclid(n)).ok()?;
    layer.participants.get(index).map(String::as_str)
}

/// Who is on call in `schedule` at `at`; `None`: nobody.
pub fn on_call(schedule: &Schedule, at: Timestamp) -> Option<&str> {
    let i = schedule.overrides.partition_point(|o| o.from <= at);
    if let Some(o) = i.checked_sub(1).and_then(|i| schedule.overrides.get(i))
        && at < o.to
    {
        return Some(&o.who);
    }
    let local = local_time(schedule.zone, at)?;
    schedule
        .layers
        .iter()
        .rev()
        .find_map(|l| layer_person(l, schedule.zone, at, local))
}

/// Who is on call in each schedule at `at`, in the file's order.
pub fn on_call_now(file: &OnCall, at: Timestamp) -> Vec<(&str, Option<&str>)> {
    file.schedules
        .iter()
        .map(|s| (s.name.as_str(), on_call(s, at)))
        .collect()
}

/// A stretch of a schedule with one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: Timestamp,
    pub end: Timestamp,
    pub who: Option<String>,
}

/// The instants in `(from, to)` where a schedule's answer may change.
fn cuts(schedule: &Schedule, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let zone = schedule.zone;
    let mut out = vec![from];
    let mut add = |t: Option<Timestamp>| {
        if let Some(t) = t.filter(|t| *t > from && *t < to) {
            out.push(t);
        }
    };
    for o in &schedule.overrides {
        add(Some(o.from));
        add(Some(o.to));
    }
    let (Some(local_from), Some(local_to)) = (local_time(zone, from), local_time(zone, to)) else {
        return out;
    };
    for layer in &schedule.layers {
        let first = turn(layer, zone, from, local_from).unwrap_or(-1).max(0);
        let mut k = first;
        while let Some(t) = turn_start(layer, zone, k) {
            if t >= to {
                break;
            }
            add(Some(t));
            k += 1;
        }
        if layer.restrict.is_empty() {
            continue;
        }
        let (Some(first_day), Some(last_day)) =
            (local_from.date().pred_opt(), local_to.date().succ_opt())
        else {
            continue;
        };
        let mut day: NaiveDate = first_day;
        while day <= last_day {
            for r in &layer.restrict {
                add(local_to_utc(zone, day.and_time(r.from)));
                let end = match r.to {
                    Some(t) => Some(day.and_time(t)),
                    None => day.succ_opt().map(|d| d.and_time(NaiveTime::MIN)),
                };
                add(end.and_then(|e| local_to_utc(zone, e)));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A schedule from `from` to `to` (at most [`MAX_RANGE_DAYS`]), in stretches with one
/// answer each, in order, covering the whole range.
pub fn timeline(schedule: &Schedule, from: Timestamp, to: Timestamp) -> Vec<Span> {
    let to = to.min(later(from, MAX_RANGE_DAYS));
    if to <= from {
        return Vec::new();
    }
    let cuts = cuts(schedule, from, to);
    let mut out: Vec<Span> = Vec::new();
    for (i, start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(to);
        let who = on_call(schedule, *start).map(str::to_owned);
        match out.last_mut() {
            Some(last) if last.who == who => last.end = end,
            _ => out.push(Span {
                start: *start,
                end,
                who,
            }),
        }
    }
    out
}

/// `days` after `t`, or the last instant there is.
fn later(t: Timestamp, days: i64) -> Timestamp {
    t.checked_add_signed(Duration::days(days))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `days` before `t`, or the first instant there is.
fn earlier(t: Timestamp, days: i64) -> Timestamp {
    t.checked_sub_signed(Duration::days(days))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// A person's turn in a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub schedule: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// `person`'s shifts in every schedule that end after `from` and start before `to`,
/// ordered by start (a shift in progress keeps its start, up to [`LOOKBACK_DAYS`] back).
pub fn shifts(file: &OnCall, person: &str, from: Timestamp, to: Timestamp) -> Vec<Shift> {
    let mut out: Vec<Shift> = file
        .schedules
        .iter()
        .flat_map(|s| {
            timeline(s, earlier(from, LOOKBACK_DAYS), to)
                .into_iter()
                .filter(|span| span.end > from && span.who.as_deref() == Some(person))
                .map(|span| Shift {
                    schedule: s.name.clone(),
                    start: span.start,
                    end: span.end,
                })
        })
        .collect();
    out.sort_by(|a, b| (a.start, &a.schedule).cmp(&(b.start, &b.schedule)));
    out
}

/// A stretch of a schedule with nobody on call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gap {
    pub schedule: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Gap {
    /// The same gap has the same key from tick to tick (to tell it once).
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.schedule,
            self.start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }
}

/// The gaps of every schedule in the next [`GAP_DAYS`] after `now` (a gap in progress
/// keeps its start, up to [`LOOKBACK_DAYS`] back).
pub fn gaps(file: &OnCall, now: Timestamp) -> Vec<Gap> {
    let to = later(now, GAP_DAYS);
    file.schedules
        .iter()
        .flat_map(|s| {
            timeline(s, earlier(now, LOOKBACK_DAYS), to)
                .into_iter()
                .filter(|span| span.end > now && span.who.is_none())
                .map(|span| Gap {
                    schedule: s.name.clone(),
                    start: span.start,
                    end: span.end,
                })
        })
        .collect()
}

/// How much further than [`GAP_DAYS`] [`coverage`] looks, for the next gap to come
/// within reach.
const BEYOND_DAYS: i64 = 1;

/// The schedules' coverage at an instant, and how long it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// [`gaps`] at the instant.
    pub gaps: Vec<Gap>,
    /// Before this instant, who is on call in every schedule stays as it is, and
    /// [`gaps`] finds the same gaps (by [`Gap::key`]), except for a gap found in
    /// progress since further back than [`LOOKBACK_DAYS`], which is given that far
    /// back. It is the next change of who is on call in any schedule, or the first
    /// instant a gap not found yet may come within [`GAP_DAYS`] (at most
    /// [`BEYOND_DAYS`] ahead).
    pub until: Timestamp,
}

/// [`gaps`] at `now`, and until when what is on call and the gaps found stand.
pub fn coverage(file: &OnCall, now: Timestamp) -> Coverage {
    let to = later(now, GAP_DAYS);
    let beyond = later(to, BEYOND_DAYS);
    let mut until = earlier(beyond, GAP_DAYS);
    let mut found = Vec::new();
    for s in &file.schedules {
        for span in timeline(s, earlier(now, LOOKBACK_DAYS), beyond) {
            if span.start > now {
                // Someone else (or nobody) on call from then: the next change.
                until = until.min(span.start);
            }
            if span.who.is_some() || span.end <= now {
                continue;
            }
            if span.start < to {
                found.push(Gap {
                    schedule: s.name.clone(),
                    start: span.start,
                    end: span.end.min(to),
                });
            } else {
                // Within GAP_DAYS of the instant GAP_DAYS before it starts.
                until = until.min(earlier(span.start, GAP_DAYS));
                break;
            }
        }
    }
    Coverage { gaps: found, until }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::file::OnCall;

    fn t(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    fn file(zone: &str, layers: &str, overrides: &str) -> OnCall {
        let text = format!(
            "people:\n  alice: {{}}\n  bob: {{}}\n  carol: {{}}\n  dave: {{}}\nschedules:\n  s:\n    time_zone: {zone}\n    layers:\n{layers}    overrides:\n{overrides}"
        );
        OnCall::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn who(f: &OnCall, at: &str) -> Option<String> {
        on_call(&f.schedules[0], t(at)).map(str::to_owned)
    }

    const DAILY: &str =
        "      - {participants: [alice, bob], rotation: 1d, handoff: \"2026-10-20T09:00\"}\n";

    #[test]
    fn berlin_handoffs_stay_at_nine_across_both_changes() {
        let f = file("Europe/Berlin", DAILY, "      []\n");
        // 2026-10-25: CEST (UTC+2) ends. Handoff on the 24th at 07:00Z, the 25th at 08:00Z.
        // Days since the 20th: 24th is turn 4 (alice), 25th turn 5 (bob).
        assert_eq!(who(&f, "2026-10-25T07:59:00Z").as_deref(), Some("alice"));
        assert_eq!(who(&f, "2026-10-25T08:00:00Z").as_deref(), Some("bob"));
        // 2027-03-28: CEST begins; 09:00 local is 07:00Z. Turn 159 (from 2026-10-20) is bob.
        assert_eq!(who(&f, "2027-03-28T06:59:00Z").as_deref(), Some("alice"));
        assert_eq!(who(&f, "2027-03-28T07:00:00Z").as_deref(), Some("bob"));
        // The day before, still CET: 09:00 local is 08:00Z.
        assert_eq!(who(&f, "2027-03-27T07:59:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&f, "2027-03-27T08:00:00Z").as_deref(), Some("alice"));
        // Before the first handoff nobody.
        assert_eq!(who(&f, "2026-10-20T06:59:00Z"), None);
    }

    #[test]
    fn new_york_weekly_handoffs_keep_wall_clock_time() {
        let layers = "      - {participants: [alice, bob, carol], rotation: 1w, handoff: \"2026-10-26T10:00\"}\n";
        let f = file("America/New_York", layers, "      []\n");
        // EDT ends 2026-11-01; the handoff of 2026-11-02 10:00 EST is 15:00Z.
        assert_eq!(who(&f, "2026-11-02T14:59:00Z").as_deref(), Some("alice"));
        assert_eq!(who(&f, "2026-11-02T15:00:00Z").as_deref(), Some("bob"));
        // EDT begins 2027-03-14; the handoff of 2027-03-15 10:00 EDT is 14:00Z.
        // Weeks from 2026-10-26 to 2027-03-15: 20, so turn 20 is carol (20 mod 3 = 2).
        assert_eq!(who(&f, "2027-03-15T13:59:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&f, "2027-03-15T14:00:00Z").as_deref(), Some("carol"));
        // Through the timeline too: the shift starts are at 10:00 local each week.
        let spans = timeline(
            &f.schedules[0],
            t("2027-03-01T00:00:00Z"),
            t("2027-03-29T00:00:00Z"),
        );
        let starts: Vec<String> = spans
            .iter()
            .skip(1)
            .map(|s| s.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .collect();
        assert_eq!(
            starts,
            [
                "2027-03-01T15:00:00Z",
                "2027-03-08T15:00:00Z",
                "2027-03-15T14:00:00Z",
                "2027-03-22T14:00:00Z"
            ]
        );
    }

    #[test]
    fn twelve_hour_turns_keep_nine_and_twenty_one_across_the_change() {
        let layers =
            "      - {participants: [alice, bob], rotation: 12h, handoff: \"2026-10-24T09:00\"}\n";
        let f = file("Europe/Berlin", layers, "      []\n");
        // 2026-10-24 21:00 CEST is 19:00Z (bob); 2026-10-25 09:00 CET is 08:00Z (alice):
        // a 13-hour turn over the night the clocks go back.
        assert_eq!(who(&f, "2026-10-25T07:59:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&f, "2026-10-25T08:00:00Z").as_deref(), Some("alice"));
        assert_eq!(who(&f, "2026-10-25T20:00:00Z").as_deref(), Some("bob"));
    }

    #[test]
    fn later_layers_win_restrictions_fall_through_and_overrides_win() {
        let layers = concat!(
            "      - {participants: [alice], rotation: 1w, handoff: \"2026-12-07T00:00\"}\n",
            "      - {participants: [bob], rotation: 1w, handoff: \"2026-12-07T00:00\", restrict: [\"Mon-Fri 09:00-18:00\"]}\n",
        );
        let overrides =
            "      - {who: carol, from: \"2026-12-09T12:00\", to: \"2026-12-09T13:00\"}\n";
        let f = file("UTC", layers, overrides);
        // Wednesday 2026-12-09.
        assert_eq!(who(&f, "2026-12-09T08:59:00Z").as_deref(), Some("alice"));
        assert_eq!(who(&f, "2026-12-09T09:00:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&f, "2026-12-09T12:00:00Z").as_deref(), Some("carol"));
        assert_eq!(who(&f, "2026-12-09T13:00:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&f, "2026-12-09T18:00:00Z").as_deref(), Some("alice"));
        // Saturday: bob's layer is off.
        assert_eq!(who(&f, "2026-12-12T12:00:00Z").as_deref(), Some("alice"));
        let spans = timeline(
            &f.schedules[0],
            t("2026-12-09T00:00:00Z"),
            t("2026-12-10T00:00:00Z"),
        );
        let got: Vec<(String, Option<String>)> = spans
            .iter()
            .map(|s| {
                (
                    s.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    s.who.clone(),
                )
            })
            .collect();
        let want = [
            ("2026-12-09T00:00:00Z", "alice"),
            ("2026-12-09T09:00:00Z", "bob"),
            ("2026-12-09T12:00:00Z", "carol"),
            ("2026-12-09T13:00:00Z", "bob"),
            ("2026-12-09T18:00:00Z", "alice"),
        ];
        let want: Vec<(String, Option<String>)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), Some(b.to_string())))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn gaps_and_shifts_over_a_range() {
        let layers = "      - {participants: [alice, bob], rotation: 1d, handoff: \"2026-12-07T09:00\", restrict: [\"Mon-Fri 09:00-18:00\"]}\n";
        let f = file("Europe/Berlin", layers, "      []\n");
        let now = t("2026-12-07T12:00:00Z"); // a Monday, 13:00 in Berlin
        let gaps = gaps(&f, now);
        // Nights and the weekends are gaps: the first from 18:00 local (17:00Z) to 09:00 (08:00Z).
        assert_eq!(gaps[0].start, t("2026-12-07T17:00:00Z"));
        assert_eq!(gaps[0].end, t("2026-12-08T08:00:00Z"));
        assert_eq!(gaps[0].key(), "s/2026-12-07T17:00:00Z");
        // Ten weekday gaps, the weekend's one of them.
        assert_eq!(gaps.len(), 10, "{gaps:#?}");
        assert_eq!(gaps[4].start, t("2026-12-11T17:00:00Z"));
        assert_eq!(gaps[4].end, t("2026-12-14T08:00:00Z"));
        let alice = shifts(&f, "alice", now, now + Duration::days(7));
        // Monday, Wednesday, Friday; the shift in progress keeps its start.
        let starts: Vec<Timestamp> = alice.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                t("2026-12-07T08:00:00Z"),
                t("2026-12-09T08:00:00Z"),
                t("2026-12-11T08:00:00Z")
            ]
        );
        assert!(alice.iter().all(|s| s.end - s.start == Duration::hours(9)));
    }

    /// Every minute over four days: before the coverage's `until`, who is on call and
    /// the gaps found are as they were when it was found; its gaps are [`gaps`]'.
    #[test]
    fn coverage_stands_until_its_next_change() {
        let text = concat!(
            "people:\n  alice: {}\n  bob: {}\n  carol: {}\n  dave: {}\n",
            "schedules:\n",
            "  berlin:\n    time_zone: Europe/Berlin\n    layers:\n",
            "      - {participants: [alice, bob], rotation: 8h, handoff: \"2026-12-01T09:00\", restrict: [\"22:00-06:00\"]}\n",
            "      - {participants: [carol], rotation: 1w, handoff: \"2026-12-01T09:00\", restrict: [\"Mon-Fri 09:00-18:00\"]}\n",
            "    overrides:\n",
            "      - {who: dave, from: \"2026-12-08T12:00\", to: \"2026-12-08T15:30\"}\n",
            "  tokyo:\n    time_zone: Asia/Tokyo\n    layers:\n",
            "      - {participants: [bob, dave], rotation: 1d, handoff: \"2026-11-24T09:00\", restrict: [\"Sat,Sun\"]}\n",
        );
        let f = OnCall::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let keys = |g: &[Gap]| g.iter().map(Gap::key).collect::<Vec<_>>();
        let start = t("2026-12-07T00:00:00Z");
        let mut found: Option<(Timestamp, Coverage)> = None;
        let (mut looks, mut changes) = (0, 0);
        for minute in 0..4 * 24 * 60 {
            let now = start + Duration::minutes(minute);
            match &found {
                Some((at, c)) if now < c.until => {
                    assert_eq!(on_call_now(&f, now), on_call_now(&f, *at), "{now}");
                    assert_eq!(keys(&gaps(&f, now)), keys(&c.gaps), "{now}");
                }
                _ => {
                    let c = coverage(&f, now);
                    // `now` itself when a gap starts just GAP_DAYS ahead: found a
                    // moment later.
                    assert!(c.until >= now, "{now}");
                    assert_eq!(c.gaps, gaps(&f, now), "{now}");
                    if let Some((at, _)) = &found
                        && (on_call_now(&f, now) != on_call_now(&f, *at)
                            || keys(&gaps(&f, now)) != keys(&gaps(&f, *at)))
                    {
                        changes += 1;
                    }
                    looks += 1;
                    found = Some((now, c));
                }
            }
        }
        // Looked at again at each change (and some more), not every minute.
        assert!(changes >= 12, "{changes} changes");
        assert!(
            looks <= 2 * changes + 8,
            "{looks} looks for {changes} changes"
        );
    }

    #[test]
    fn far_instants_answer_without_a_panic() {
        let f = file("Pacific/Apia", DAILY, "      []\n");
        for at in [
            chrono::DateTime::<chrono::Utc>::MIN_UTC,
            chrono::DateTime::<chrono::Utc>::MAX_UTC,
        ] {
            let _ = on_call(&f.schedules[0], at);
            let _ = timeline(&f.schedules[0], at, later(at, 3));
            let _ = gaps(&f, at);
            let _ = coverage(&f, at);
            let _ = shifts(&f, "alice", at, later(at, FEED_DAYS));
        }
        let end = chrono::DateTime::<chrono::Utc>::MAX_UTC;
        assert!(timeline(&f.schedules[0], end - Duration::days(2), end).len() <= 3);
        // Samoa skipped 2011-12-30 entirely: a daily handoff then still answers.
        let f = file(
            "Pacific/Apia",
            "      - {participants: [alice, bob], rotation: 1d, handoff: \"2011-12-28T09:00\"}\n",
            "      []\n",
        );
        assert_eq!(who(&f, "2011-12-31T00:00:00Z").as_deref(), Some("bob"));
    }
}
