//! The 90-day history of each component and of the whole service, and their uptime
//! over 30 and 90 days, from the published incidents alone: an incident covers its
//! components from `created_at` to `closed_at` (an open one to now), in the state its
//! severity gives; planned work covers its window as maintenance. Days are UTC days.

use chrono::{Duration, NaiveDate, NaiveTime};

use super::data::{Incident, PublishedIndex};
use crate::time::Timestamp;

/// Days in a history strip, today included.
pub const DAYS: usize = 90;

/// What a component, a day or the service is in, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Operational,
    Maintenance,
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl State {
    /// As `data/summary.json` and the catalogues name it.
    pub fn key(self) -> &'static str {
        match self {
            State::Operational => "operational",
            State::Maintenance => "maintenance",
            State::Degraded => "degraded",
            State::PartialOutage => "partial_outage",
            State::MajorOutage => "major_outage",
        }
    }

    /// How much of the time spent in this state counts as downtime: a major outage
    /// all of it, a partial outage 30%, degraded performance and maintenance none
    /// (the weights Atlassian Statuspage and Instatus publish).
    pub fn downtime(self) -> f64 {
        match self {
            State::MajorOutage => 1.0,
            State::PartialOutage => 0.3,
            _ => 0.0,
        }
    }
}

/// The state an incident puts its components in, from its severity: critical is a
/// major outage, high a partial one, anything else degraded performance.
pub fn impact(i: &Incident) -> State {
    if i.is_maintenance() {
        return State::Maintenance;
    }
    match i.severity.as_deref() {
        Some("critical") => State::MajorOutage,
        Some("high") => State::PartialOutage,
        _ => State::Degraded,
    }
}

/// The time a published incident covered, up to now.
#[derive(Debug, Clone)]
pub struct Span<'a> {
    pub id: u64,
    pub state: State,
    pub start: Timestamp,
    pub end: Timestamp,
    pub components: &'a [String],
}

impl Span<'_> {
    /// Whether it affects the component `name` (labels match it in any case).
    pub fn affects(&self, name: &str) -> bool {
        self.components.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// Every published incident's span, oldest first; nothing runs past `now`, and
/// planned work that has not begun is left out.
pub fn spans(index: &PublishedIndex, now: Timestamp) -> Vec<Span<'_>> {
    let mut out: Vec<Span> = index
        .incidents
        .values()
        .filter_map(|e| {
            let i = &e.incident;
            let (start, end) = match (&i.window, i.is_maintenance()) {
                (Some(w), true) if w.starts_at > now => return None,
                // Closing the issue ends the maintenance early.
                (Some(w), true) => (
                    w.starts_at,
                    i.closed_at.map_or(w.ends_at, |c| c.min(w.ends_at)),
                ),
                // A clock a little behind GitLab's must not hide a new incident.
                _ => (i.created_at.min(now), end_of(i, now)),
            };
            Some(Span {
                id: i.id,
                state: impact(i),
                start,
                end: end.clamp(start, now),
                components: &i.components,
            })
        })
        .collect();
    out.sort_by_key(|s| (s.start, s.id));
    out
}

/// When an incident ended: closed at `closed_at` (else its last update), resolved by
/// its stage at its last update, or not yet.
fn end_of(i: &Incident, now: Timestamp) -> Timestamp {
    if i.status == "closed" {
        i.closed_at.unwrap_or(i.updated_at)
    } else if i.stage.as_deref() == Some("resolved") {
        i.updated_at
    } else {
        now
    }
}

/// One day of a history: the worst state of the incidents that touched it, and
/// those incidents, in the order they began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub state: State,
    pub incidents: Vec<u64>,
}

pub fn day_start(d: NaiveDate) -> Timestamp {
    d.and_time(NaiveTime::MIN).and_utc()
}

/// The [`DAYS`] days to `today`, oldest first, from `spans`.
pub fn days<'s>(spans: impl IntoIterator<Item = &'s Span<'s>>, today: NaiveDate) -> Vec<Day> {
    let first = today - Duration::days(DAYS as i64 - 1);
    let mut out: Vec<Day> = first
        .iter_days()
        .take(DAYS)
        .map(|date| Day {
            date,
            state: State::Operational,
            incidents: Vec::new(),
        })
        .collect();
    for s in spans {
        let from = s.start.date_naive().max(first);
        let to = s.end.date_naive().min(today);
        let mut d = from;
        while d <= to {
            let day = &mut out[(d - first).num_days() as usize];
            day.state = day.state.max(s.state);
            day.incidents.push(s.id);
            let Some(next) = d.succ_opt() else { break };
            d = next;
        }
    }
    out
}

/// The share of `[from, to]` that was up, in percent, floored to two decimals (so a
/// little downtime never shows as 100%): downtime is weighted by state
/// ([`State::downtime`]), and where incidents overlap the worst one counts.
pub fn uptime<'s>(
    spans: impl IntoIterator<Item = &'s Span<'s>>,
    from: Timestamp,
    to: Timestamp,
) -> f64 {
    let total = (to - from).num_milliseconds();
    if total <= 0 {
        return 100.0;
    }
    let clipped: Vec<(Timestamp, Timestamp, f64)> = spans
        .into_iter()
        .filter(|s| s.state.downtime() > 0.0 && s.end > from && s.start < to)
        .map(|s| (s.start.max(from), s.end.min(to), s.state.downtime()))
        .collect();
    let mut edges: Vec<Timestamp> = clipped.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    edges.sort_unstable();
    edges.dedup();
    let mut down = 0.0;
    for w in edges.windows(2) {
        let (a, b) = (w[0], w[1]);
        let worst = clipped
            .iter()
            .filter(|&&(s, e, _)| s <= a && e >= b)
            .map(|&(_, _, weight)| weight)
            .fold(0.0, f64::max);
        down += worst * (b - a).num_milliseconds() as f64;
    }
    let up = 100.0 * (1.0 - down / total as f64);
    (up * 100.0).floor().max(0.0) / 100.0
}

/// The page's components: `configured` (`COMPONENTS`) in its order, then those only
/// labels name, sorted; a label matches a configured name in any case.
pub fn components(index: &PublishedIndex, configured: &[String]) -> Vec<String> {
    let mut out: Vec<String> = configured.to_vec();
    let mut labelled: Vec<&String> = index
        .incidents
        .values()
        .flat_map(|e| &e.incident.components)
        .filter(|c| !configured.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .collect();
    labelled.sort_by_key(|c| c.to_lowercase());
    labelled.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    out.extend(labelled.into_iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::Window;
    use crate::site::data::{IndexEntry, Links};
    use crate::time::parse;

    fn incident(
        id: u64,
        severity: &str,
        from: &str,
        to: Option<&str>,
        components: &[&str],
    ) -> Incident {
        Incident {
            id,
            status: if to.is_some() { "closed" } else { "opened" }.into(),
            title: format!("incident {id}"),
            description: String::new(),
            created_at: parse(from).unwrap(),
            updated_at: parse(from).unwrap(),
            comments: None,
            links: Links {
                details: format!("data/incident/{id}.json"),
            },
            severity: Some(severity.into()),
            stage: None,
            components: components.iter().map(|c| c.to_string()).collect(),
            closed_at: to.map(|t| parse(t).unwrap()),
            postmortem: None,
            key_times: vec![],
            kind: None,
            window: None,
        }
    }

    fn index(incidents: Vec<Incident>) -> PublishedIndex {
        let mut index = PublishedIndex::default();
        for i in incidents {
            index.incidents.insert(
                i.id,
                IndexEntry {
                    incident: i,
                    updates: vec![],
                    source: None,
                    muting: None,
                    postmortem: None,
                },
            );
        }
        index
    }

    #[test]
    fn each_day_is_the_worst_of_the_incidents_that_touched_it() {
        let now = parse("2026-11-30T12:00:00Z").unwrap();
        let idx = index(vec![
            // Two days, partial outage.
            incident(
                1,
                "high",
                "2026-11-27T22:00:00Z",
                Some("2026-11-28T01:00:00Z"),
                &["api"],
            ),
            // The same day, worse, on another component too.
            incident(
                2,
                "critical",
                "2026-11-28T10:00:00Z",
                Some("2026-11-28T10:30:00Z"),
                &["api", "web"],
            ),
            // Open: to now.
            incident(3, "low", "2026-11-29T23:00:00Z", None, &["web"]),
            // Long ago: outside the strip.
            incident(
                4,
                "critical",
                "2026-01-01T00:00:00Z",
                Some("2026-01-02T00:00:00Z"),
                &["api"],
            ),
        ]);
        let spans = spans(&idx, now);
        let today = now.date_naive();
        let api = days(spans.iter().filter(|s| s.affects("API")), today);
        assert_eq!(api.len(), DAYS);
        assert_eq!(api[0].date, NaiveDate::from_ymd_opt(2026, 9, 2).unwrap());
        assert_eq!(api[89].date, today);
        let by_date = |v: &[Day], d: u32| {
            v.iter()
                .find(|x| x.date == NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
                .unwrap()
                .clone()
        };
        assert_eq!(
            by_date(&api, 27),
            Day {
                date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
                state: State::PartialOutage,
                incidents: vec![1]
            }
        );
        assert_eq!(by_date(&api, 28).state, State::MajorOutage);
        assert_eq!(by_date(&api, 28).incidents, vec![1, 2]);
        assert_eq!(by_date(&api, 29).state, State::Operational);
        let web = days(spans.iter().filter(|s| s.affects("web")), today);
        assert_eq!(by_date(&web, 29).state, State::Degraded);
        assert_eq!(
            by_date(&web, 30).incidents,
            vec![3],
            "open: it runs to today"
        );
        assert_eq!(
            api.iter().filter(|d| d.state != State::Operational).count(),
            2
        );
    }

    #[test]
    fn uptime_weighs_by_impact_and_counts_overlaps_once() {
        let now = parse("2026-11-30T00:00:00Z").unwrap();
        let from = now - Duration::days(30);
        let idx = index(vec![
            // 6 hours of major outage.
            incident(
                1,
                "critical",
                "2026-11-10T00:00:00Z",
                Some("2026-11-10T06:00:00Z"),
                &["api"],
            ),
            // 10 hours of partial outage, 2 of them during the major one.
            incident(
                2,
                "high",
                "2026-11-10T04:00:00Z",
                Some("2026-11-10T14:00:00Z"),
                &["api"],
            ),
            // Degraded performance: no downtime.
            incident(
                3,
                "medium",
                "2026-11-12T00:00:00Z",
                Some("2026-11-13T00:00:00Z"),
                &["api"],
            ),
        ]);
        let spans = spans(&idx, now);
        // 6 h + 0.3 x 8 h = 8.4 h of 720 h.
        let want = 100.0 * (1.0 - 8.4 / 720.0);
        let got = uptime(spans.iter(), from, now);
        assert!((got - want).abs() < 0.01 && got <= want, "{got} vs {want}");
        assert_eq!(uptime(std::iter::empty(), from, now), 100.0);
        // A minute of major outage in 30 days is not 100%.
        let idx = index(vec![incident(
            1,
            "critical",
            "2026-11-10T00:00:00Z",
            Some("2026-11-10T00:01:00Z"),
            &[],
        )]);
        assert_eq!(uptime(spans_of(&idx, now).iter(), from, now), 99.99);
    }

    fn spans_of(idx: &PublishedIndex, now: Timestamp) -> Vec<Span<'_>> {
        spans(idx, now)
    }

    #[test]
    fn maintenance_shows_as_such_and_the_future_not_at_all() {
        let now = parse("2026-11-30T12:00:00Z").unwrap();
        let mut m = incident(9, "low", "2026-11-01T00:00:00Z", None, &["db"]);
        m.kind = Some("maintenance".into());
        m.window = Some(Window {
            starts_at: parse("2026-11-29T02:00:00Z").unwrap(),
            ends_at: parse("2026-11-29T04:00:00Z").unwrap(),
        });
        let mut later = m.clone();
        later.id = 10;
        later.window = Some(Window {
            starts_at: parse("2026-12-02T02:00:00Z").unwrap(),
            ends_at: parse("2026-12-02T04:00:00Z").unwrap(),
        });
        assert!(!m.is_open());
        let idx = index(vec![m, later]);
        let spans = spans(&idx, now);
        assert_eq!(spans.len(), 1, "planned work yet to come is no history");
        let d = days(spans.iter(), now.date_naive());
        assert_eq!(d[88].state, State::Maintenance);
        assert_eq!(d[87].state, State::Operational);
        assert_eq!(uptime(spans.iter(), now - Duration::days(30), now), 100.0);
    }

    #[test]
    fn the_index_announces_maintenance_and_shows_the_one_under_way() {
        let now = parse("2026-11-30T12:00:00Z").unwrap();
        let maintenance = |id: u64, title: &str, start: &str, end: &str| {
            let mut m = incident(id, "low", "2026-11-01T00:00:00Z", None, &["db"]);
            m.title = title.into();
            m.kind = Some("maintenance".into());
            m.window = Some(Window {
                starts_at: parse(start).unwrap(),
                ends_at: parse(end).unwrap(),
            });
            m
        };
        let done = maintenance(
            1,
            "Old upgrade",
            "2026-11-20T02:00:00Z",
            "2026-11-20T04:00:00Z",
        );
        let now_on = maintenance(
            2,
            "Disk swap",
            "2026-11-30T11:00:00Z",
            "2026-11-30T13:00:00Z",
        );
        let next = maintenance(
            3,
            "Database upgrade",
            "2026-12-02T02:00:00Z",
            "2026-12-02T04:00:00Z",
        );
        let mut early = maintenance(
            4,
            "Cut short",
            "2026-11-25T02:00:00Z",
            "2026-11-25T23:00:00Z",
        );
        early.status = "closed".into();
        early.closed_at = Some(parse("2026-11-25T03:00:00Z").unwrap());
        let idx = index(vec![done, now_on, next, early]);
        let spans = spans(&idx, now);
        let cut = spans.iter().find(|s| s.id == 4).unwrap();
        assert_eq!(
            cut.end,
            parse("2026-11-25T03:00:00Z").unwrap(),
            "closing ends it early"
        );
        let site = crate::site::render_site(&idx, &Default::default(), now).unwrap();
        let page =
            String::from_utf8_lossy(&site.iter().find(|o| o.key == "index.html").unwrap().body)
                .into_owned();
        let banner =
            &page[page.find("id=\"banner\"").unwrap()..page.find("id=\"maintenance\"").unwrap()];
        assert!(banner.contains("Maintenance in progress: <a href=\"incidents/2.html\">Disk swap</a>, until <time datetime=\"2026-11-30T13:00:00.000Z\">"), "{banner}");
        assert!(!banner.contains("Database upgrade"), "{banner}");
        let planned = &page
            [page.find("id=\"maintenance\"").unwrap()..page.find("id=\"components\"").unwrap()];
        assert!(planned.contains("Scheduled maintenance"), "{planned}");
        let (at_2, at_3) = (
            planned.find("Disk swap").unwrap(),
            planned.find("Database upgrade").unwrap(),
        );
        assert!(at_2 < at_3, "under way first, then by start");
        assert!(
            planned.contains("Planned from <time datetime=\"2026-12-02T02:00:00.000Z\">"),
            "{planned}"
        );
        assert!(
            !planned.contains("Old upgrade") && !planned.contains("Cut short"),
            "{planned}"
        );
        let recent = &page[page.find("id=\"recent\"").unwrap()..];
        assert!(
            recent.contains("Old upgrade") && !recent.contains("Database upgrade"),
            "{recent}"
        );
        // Nothing scheduled: no section, only its live placeholder.
        let quiet = crate::site::render_site(&index(vec![]), &Default::default(), now).unwrap();
        let quiet =
            String::from_utf8_lossy(&quiet.iter().find(|o| o.key == "index.html").unwrap().body)
                .into_owned();
        assert!(
            quiet.contains("<div id=\"maintenance\" data-live></div>"),
            "{quiet}"
        );
    }

    #[test]
    fn incidents_open_for_years_make_no_month_of_their_own() {
        let now = parse("2026-11-30T12:00:00Z").unwrap();
        let idx = index(vec![
            incident(1, "high", "2024-04-01T00:00:00Z", None, &["api"]),
            incident(2, "high", "2024-04-01T01:00:00Z", None, &["api"]),
        ]);
        let site = crate::site::render_site(&idx, &Default::default(), now).unwrap();
        let mut months: Vec<&str> = site
            .iter()
            .map(|o| o.key.as_str())
            .filter(|k| k.starts_with("history/"))
            .collect();
        months.sort_unstable();
        // The month they began, and the strips' days they overlap (linked from a strip).
        assert_eq!(
            months,
            [
                "history/2024-04.html",
                "history/2026-09.html",
                "history/2026-10.html",
                "history/2026-11.html"
            ]
        );
    }

    #[test]
    fn components_in_the_configured_order_then_the_labelled_ones() {
        let idx = index(vec![
            incident(
                1,
                "high",
                "2026-11-27T22:00:00Z",
                None,
                &["web", "API", "cdn"],
            ),
            incident(2, "high", "2026-11-27T22:00:00Z", None, &["Cdn", "billing"]),
        ]);
        let configured = vec!["api".to_owned(), "db".to_owned()];
        assert_eq!(
            components(&idx, &configured),
            vec!["api", "db", "billing", "cdn", "web"]
        );
    }
}
