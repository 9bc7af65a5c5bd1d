//! A maintenance's window, from a line of its issue's description:
//!
//! - `Window: 2026-12-01T02:00:00Z/2026-12-01T04:00:00Z` (ISO 8601: start/end),
//! - `Window: 2026-12-01T02:00Z/PT2H` (start/duration),
//! - `Window: 2026-12-01 02:00 UTC - 2026-12-01 04:00 UTC`, offsets (`+01:00`, `+0100`)
//!   in place of `UTC`, and the end's date left out when it is the start's.
//!
//! Every form gives the same two instants; a window that cannot be read is an error
//! that says why, and nothing is shown with a wrong time.

use chrono::{Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::time::{self, Timestamp};

/// The longest window openmic takes: a longer one is more likely a typo than a plan.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// When a maintenance starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub starts_at: Timestamp,
    #[serde(serialize_with = "time::ser", deserialize_with = "time::de")]
    pub ends_at: Timestamp,
}

/// Why a window cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WindowError(pub String);

fn err<T>(why: impl Into<String>) -> Result<T, WindowError> {
    Err(WindowError(why.into()))
}

/// Text of the line as an error quotes it: at most 60 characters, so a reason said
/// back on the issue, logged and kept in the state is never as long as the line.
fn quoted(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}…", &text[..at]),
        None => format!("{text:?}"),
    }
}

/// The lines of a description outside code blocks, trimmed, without a list marker.
pub(crate) fn lines(description: &str) -> impl Iterator<Item = &str> {
    let mut fence = false;
    description.lines().filter_map(move |l| {
        let l = l.trim();
        if l.starts_with("```") || l.starts_with("~~~") {
            fence = !fence;
            return None;
        }
        if fence {
            return None;
        }
        Some(
            l.strip_prefix("- ")
                .or_else(|| l.strip_prefix("* "))
                .unwrap_or(l)
                .trim(),
        )
    })
}

/// The value of `Name: value` on a line (the name in any case, optionally bold).
pub(crate) fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let line = line.trim_start_matches("**");
    let (key, rest) = line.split_once(':')?;
    if !key.trim().trim_end_matches("**").eq_ignore_ascii_case(name) {
        return None;
    }
    Some(rest.trim_start_matches("**").trim())
}

impl Window {
    /// The window a description gives: none without a `Window:` line.
    pub fn from_description(description: &str) -> Result<Option<Window>, WindowError> {
        let mut found = lines(description).filter_map(|l| field(l, "window"));
        let Some(first) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return err("the description has more than one Window line");
        }
        Window::parse_line(first).map(Some)
    }

    /// The text after `Window:`.
    pub fn parse_line(text: &str) -> Result<Window, WindowError> {
        let text = text.trim().trim_matches('`').trim();
        if text.is_empty() {
            return err(
                "the Window line is empty: give `<start>/<end>`, `<start>/PT2H` or `<start> - <end>`",
            );
        }
        let (start, end) = if let Some((s, e)) = text.split_once('/') {
            let start = instant(s)?;
            let e = e.trim();
            let end = if e.starts_with(['P', 'p']) {
                let length = duration(e)?;
                start.checked_add_signed(length).ok_or_else(|| {
                    WindowError(format!(
                        "the window {} ends after the last date openmic can read",
                        quoted(text)
                    ))
                })?
            } else {
                instant(e)?
            };
            (start, end)
        } else if let Some((s, e)) = [" - ", " – ", " — ", " to "]
            .iter()
            .find_map(|sep| text.split_once(sep))
        {
            let start = instant(s)?;
            let end = match instant(e) {
                Ok(end) => end,
                // `2026-12-01 02:00 UTC - 04:00 UTC`: the end on the start's date.
                Err(_)
                    if !e
                        .trim()
                        .starts_with(|c: char| c.is_ascii_digit() && e.contains('-')) =>
                {
                    let date = start_date(s)?;
                    instant(&format!("{date} {}", e.trim()))?
                }
                Err(why) => return Err(why),
            };
            (start, end)
        } else {
            return err(format!(
                "the window {} has no end: give `<start>/<end>`, `<start>/PT2H` or `<start> - <end>`",
                quoted(text)
            ));
        };
        if end <= start {
            return err(format!(
                "the window ends ({}) before it starts ({})",
                time::format(&end),
                time::format(&start)
            ));
        }
        let days = (end - start).num_days();
        if (end - start) > Duration::days(MAX_WINDOW_DAYS) {
            return err(format!(
                "the window is {days} days long, more than the {MAX_WINDOW_DAYS} days openmic takes"
            ));
        }
        Ok(Window {
            starts_at: start,
            ends_at: end,
        })
    }
}

/// The date a friendly start was written on (`2026-12-01 02:00 UTC` gives
/// `2026-12-01`).
fn start_date(s: &str) -> Result<String, WindowError> {
    let d = s.trim().get(..10).unwrap_or_default();
    match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
        Ok(_) => Ok(d.to_owned()),
        Err(_) => err(format!("{} is not a date and time", quoted(s.trim()))),
    }
}

/// An instant: RFC 3339 (seconds optional), or `YYYY-MM-DD HH:MM[:SS] <zone>` where the
/// zone is `UTC`, `GMT`, `Z` or an offset (`+01:00`, `+0100`).
fn instant(text: &str) -> Result<Timestamp, WindowError> {
    let text = text.trim();
    if let Some(t) = time::parse(text) {
        return Ok(t);
    }
    let bad = || {
        WindowError(format!(
            "{} is not a date and time with its zone (such as 2026-12-01 02:00 UTC or 2026-12-01T02:00:00+01:00)",
            quoted(text)
        ))
    };
    // The date, then the time, then the zone: separated by `T` or spaces. The date is
    // ten ASCII characters; text whose tenth byte falls inside a character is no date.
    let cut = text.len().min(10);
    if !text.is_char_boundary(cut) {
        return Err(bad());
    }
    let (date, rest) = text.split_at(cut);
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| bad())?;
    let rest = rest.trim_start_matches(['T', 't', ' ']);
    let time_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(time_len);
    let clock = NaiveTime::parse_from_str(clock, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(clock, "%H:%M"))
        .map_err(|_| bad())?;
    let local = NaiveDateTime::new(date, clock);
    let zone = zone.trim();
    let offset = match zone {
        "UTC" | "utc" | "GMT" | "Z" | "z" => FixedOffset::east_opt(0),
        "" => {
            return err(format!(
                "{} has no time zone: add UTC or an offset such as +01:00",
                quoted(text)
            ));
        }
        z => offset(z),
    }
    .ok_or_else(bad)?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(bad)
}

/// `+01:00`, `+0100`, `-05`, `UTC+1`.
fn offset(z: &str) -> Option<FixedOffset> {
    let z = z
        .strip_prefix("UTC")
        .or_else(|| z.strip_prefix("GMT"))
        .unwrap_or(z);
    let sign = match z.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.parse::<i32>().ok()?, 0)
    } else {
        let (h, m) = digits.split_at(digits.len() - 2);
        (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
    };
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// An ISO 8601 duration of weeks, days, hours, minutes and seconds (`PT2H`, `P1DT30M`,
/// `PT90M`); years and months are not exact lengths and are refused. Each unit is
/// given at most once and in that order, as ISO 8601 writes them, and the total is
/// bounded: no duration longer than a window can be is read to the end.
fn duration(text: &str) -> Result<Duration, WindowError> {
    let bad = || {
        WindowError(format!(
            "{} is not a duration such as PT2H, PT90M or P1DT2H",
            quoted(text)
        ))
    };
    let too_long = || {
        WindowError(format!(
            "the duration {} is more than the {MAX_WINDOW_DAYS} days openmic takes",
            quoted(text)
        ))
    };
    let longest = Duration::days(MAX_WINDOW_DAYS);
    let upper = text.trim().to_ascii_uppercase();
    let body = upper.strip_prefix('P').ok_or_else(bad)?;
    let (date, clock) = match body.split_once('T') {
        Some((d, c)) => (d, c),
        None => (body, ""),
    };
    let mut total = Duration::zero();
    let mut any = false;
    for (part, units) in [(date, "WD"), (clock, "HMS")] {
        // The units still allowed in this part: each once, in order.
        let mut allowed = units;
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let Some(at) = allowed.find(c).filter(|_| !number.is_empty()) else {
                return Err(if units.contains(c) && !number.is_empty() {
                    WindowError(format!(
                        "{} gives the unit {c} twice or out of order (write it as PT2H30M, P1DT2H)",
                        quoted(text)
                    ))
                } else {
                    bad()
                });
            };
            allowed = &allowed[at + 1..];
            // More digits than any length openmic takes has: too long, not unreadable.
            let n: i64 = match number.trim_start_matches('0') {
                "" => 0,
                digits if digits.len() > 12 => return Err(too_long()),
                digits => digits.parse().map_err(|_| bad())?,
            };
            number.clear();
            any = true;
            let part = match c {
                'W' => Duration::try_weeks(n),
                'D' => Duration::try_days(n),
                'H' => Duration::try_hours(n),
                'M' => Duration::try_minutes(n),
                _ => Duration::try_seconds(n),
            };
            total = match part.and_then(|p| total.checked_add(&p)) {
                Some(t) if t <= longest => t,
                Some(t) => {
                    return err(format!(
                        "the window is {} days long, more than the {MAX_WINDOW_DAYS} days openmic takes",
                        t.num_days()
                    ));
                }
                None => return Err(too_long()),
            };
        }
        if !number.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        time::parse(s).unwrap()
    }

    #[test]
    fn every_accepted_form_gives_the_same_instants() {
        let want = Window {
            starts_at: at("2026-12-01T02:00:00Z"),
            ends_at: at("2026-12-01T04:00:00Z"),
        };
        for form in [
            "2026-12-01T02:00:00Z/2026-12-01T04:00:00Z",
            "2026-12-01T02:00:00Z/PT2H",
            "2026-12-01T02:00Z/PT120M",
            "2026-12-01T03:00:00+01:00/2026-12-01T05:00:00+01:00",
            "2026-12-01T02:00:00.000Z/PT7200S",
            "2026-12-01 02:00 UTC - 2026-12-01 04:00 UTC",
            "2026-12-01 03:00 +01:00 - 2026-12-01 05:00 +01:00",
            "2026-12-01 03:00 +0100 - 2026-12-01 05:00 +0100",
            "2026-12-01 02:00:00 UTC to 2026-12-01 04:00:00 UTC",
            "2026-12-01 02:00 UTC - 04:00 UTC",
            "`2026-12-01 02:00 UTC – 2026-12-01 04:00 UTC`",
        ] {
            assert_eq!(Window::parse_line(form), Ok(want), "{form}");
        }
        let desc =
            "We move the database.\n\n**Window:** 2026-12-01T02:00:00Z/PT2H\n- Mute: job=\"db\"";
        assert_eq!(Window::from_description(desc), Ok(Some(want)));
        assert_eq!(Window::from_description("no window here"), Ok(None));
        assert_eq!(
            Window::from_description("```\nWindow: 2026-12-01T02:00:00Z/PT2H\n```"),
            Ok(None),
            "a line in a code block is an example, not the window"
        );
    }

    #[test]
    fn malformed_windows_say_why() {
        for (form, says) in [
            (
                "2026-12-01T04:00:00Z/2026-12-01T02:00:00Z",
                "before it starts",
            ),
            ("2026-12-01T02:00:00Z", "has no end"),
            ("2026-12-01T02:00:00Z/P400D", "400 days long"),
            ("2026-01-01T00:00:00Z/2027-02-05T00:00:00Z", "400 days long"),
            ("tomorrow night", "has no end"),
            ("tomorrow/PT2H", "not a date and time"),
            ("2026-12-01T02:00:00Z/P1Y", "not a duration"),
            ("2026-12-01 02:00 - 2026-12-01 04:00", "no time zone"),
            ("2026-12-01 02:00 UTC - later", "not a date and time"),
            ("", "empty"),
        ] {
            let e = Window::parse_line(form).unwrap_err();
            assert!(e.0.contains(says), "{form:?}: {e}");
        }
        let two = "Window: 2026-12-01T02:00:00Z/PT2H\nWindow: 2026-12-02T02:00:00Z/PT2H";
        assert!(
            Window::from_description(two)
                .unwrap_err()
                .0
                .contains("more than one")
        );
    }

    /// What a reporter can write on a `Window:` line is an error that names the
    /// problem, never a panic: text whose tenth byte falls inside a character (the date
    /// is cut there), durations past what a `TimeDelta` holds, a unit repeated to add
    /// up past it, and starts at the last date chrono knows.
    #[test]
    fn hostile_windows_are_errors_that_say_why() {
        let big = format!("2026-12-01T02:00:00Z/PT{}", "1000000H".repeat(3000));
        let repeated = format!("2026-12-01T02:00:00Z/PT{}", "1H".repeat(100_000));
        let weeks = format!("2026-12-01T02:00:00Z/P{}", "1W".repeat(100_000));
        for (form, says) in [
            // The tenth byte inside `é` (bytes 9 and 10), `日` and an emoji.
            ("2026-12-1é 02:00 UTC/PT2H", "not a date and time"),
            (
                "2026-12-1é 02:00 UTC - 2026-12-01 04:00 UTC",
                "not a date and time",
            ),
            (
                "2026-12-01 02:00 UTC - 2026-12-0日 04:00 UTC",
                "not a date and time",
            ),
            ("日本語の日付 UTC/PT2H", "not a date and time"),
            ("2026-1-01😀 02:00 UTC/PT2H", "not a date and time"),
            // Durations no TimeDelta holds, or longer than a window.
            (
                "2026-12-01T02:00:00Z/PT9999999999999999H",
                "more than the 31 days",
            ),
            (
                "2026-12-01T02:00:00Z/P99999999999999999999999999W",
                "more than the 31 days",
            ),
            (
                "2026-12-01T02:00:00Z/PT10000000000S",
                "more than the 31 days",
            ),
            ("2026-12-01T02:00:00Z/P1000W", "days long, more than the 31"),
            ("2026-12-01T02:00:00Z/P30DT48H", "32 days long"),
            // Repeated or reordered units.
            (big.as_str(), "more than the 31 days"),
            (repeated.as_str(), "twice or out of order"),
            (weeks.as_str(), "twice or out of order"),
            ("2026-12-01T02:00:00Z/PT1H30M1H", "twice or out of order"),
            ("2026-12-01T02:00:00Z/PT30M1H", "twice or out of order"),
            ("2026-12-01T02:00:00Z/P1D1W", "twice or out of order"),
            // The last and the first dates chrono knows.
            (
                "+262142-12-31 23:59:59 +0000/PT1H",
                "ends after the last date",
            ),
            ("+262143-01-01 00:00:00 +0000/PT1H", "not a date and time"),
            ("+262142-12-31 23:59:59 -1400/PT1H", "not a date and time"),
            ("-262143-01-01 00:00:00 +1400/PT1H", "not a date and time"),
        ] {
            let e = Window::parse_line(form).unwrap_err();
            assert!(e.0.contains(says), "{:.80}: {e:.200}", form);
        }
        // An error quotes the line, never more than 60 characters of it.
        for form in [repeated.as_str(), weeks.as_str(), big.as_str()] {
            let e = Window::parse_line(form).unwrap_err();
            assert!(e.0.chars().count() < 200, "{}", e.0.len());
        }
        // Through the description, as the publisher reads it.
        let desc = "Maintenance\n\nWindow: 2026-12-1é 02:00 UTC/PT2H\nMute: a=\"b\"";
        assert!(Window::from_description(desc).is_err());
        // What was read before still is.
        assert_eq!(
            Window::parse_line("2026-12-01T02:00:00Z/P1DT2H30M15S")
                .map(|w| (w.ends_at - w.starts_at).num_seconds()),
            Ok(86_400 + 2 * 3600 + 30 * 60 + 15)
        );
        assert!(Window::parse_line("2026-12-01T02:00:00Z/P4W").is_ok());
    }
}
