//! The state of the service and of each component, with their history and uptime:
//! what the index shows and `data/summary.json` says.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Page;
use super::data::{IndexEntry, PublishedIndex};
use super::history::{self, DAYS, Day, Span, State};
use crate::metrics::components::Impact;
use crate::metrics::upstream::Mirrored;
use crate::time::{self, Timestamp};

/// A line of the page: the whole service, or one component.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    /// Now: the worst state of the open incidents (and planned work under way)
    /// affecting it.
    pub state: State,
    /// Open incidents affecting it.
    pub open: Vec<u64>,
    /// The last [`DAYS`] days, oldest first.
    pub days: Vec<Day>,
    pub uptime_30: f64,
    pub uptime_90: f64,
}

/// Everything the index and the summary derive from, as of `now`.
#[derive(Debug, Clone)]
pub struct Status<'a> {
    pub now: Timestamp,
    pub today: NaiveDate,
    /// Open incidents, newest first.
    pub open: Vec<&'a IndexEntry>,
    /// The service as a whole: every incident, whatever it affects.
    pub overall: Line,
    /// Each component, in the page's order.
    pub components: Vec<Line>,
    /// Each upstream component (`UPSTREAM_COMPONENTS`), as its page was last read.
    pub upstream: Vec<(String, Mirrored)>,
}

fn line<'s>(name: String, spans: &[&Span<'s>], index: &PublishedIndex, now: Timestamp) -> Line {
    let today = now.date_naive();
    let mut state = State::Operational;
    let mut open = Vec::new();
    for s in spans {
        let Some(e) = index.incidents.get(&s.id) else {
            continue;
        };
        let i = &e.incident;
        if i.is_open() {
            state = state.max(s.state);
            open.push(i.id);
        } else if i.is_maintenance() && s.end >= now && i.stage.as_deref() != Some("completed") {
            state = state.max(State::Maintenance);
        }
    }
    open.sort_unstable();
    let since = |days: i64| history::day_start(today - Duration::days(days - 1));
    Line {
        name,
        state,
        open,
        days: history::days(spans.iter().copied(), today),
        uptime_30: history::uptime(spans.iter().copied(), since(30), now),
        uptime_90: history::uptime(spans.iter().copied(), since(DAYS as i64), now),
    }
}

/// A component's state with its alerts' (`COMPONENT_STATUS_FROM_ALERTS`): an open
/// incident affecting it takes over from them, and planned work in progress holds it;
/// otherwise the worst of its firing alerts' states.
fn from_alerts(l: &Line, index: &PublishedIndex) -> State {
    let Some(impact) = index.alert_states.as_ref().and_then(|s| s.of(&l.name)) else {
        return l.state;
    };
    if !l.open.is_empty() || l.state == State::Maintenance {
        return l.state;
    }
    l.state.max(match impact {
        Impact::Degraded => State::Degraded,
        Impact::PartialOutage => State::PartialOutage,
        Impact::MajorOutage => State::MajorOutage,
    })
}

/// The upstream components the page names, each as last read (unknown before).
fn upstream(index: &PublishedIndex, page: &Page) -> Vec<(String, Mirrored)> {
    let read = index.upstream.as_ref();
    page.upstream
        .iter()
        .map(|name| {
            let state = read
                .and_then(|r| r.components.iter().find(|l| &l.name == name))
                .map_or(Mirrored::Unknown, |l| l.state);
            (name.clone(), state)
        })
        .collect()
}

/// The state of the service and its components as of `now`.
pub fn status<'a>(index: &'a PublishedIndex, page: &Page, now: Timestamp) -> Status<'a> {
    let spans = history::spans(index, now);
    let all: Vec<&Span> = spans.iter().collect();
    let components: Vec<Line> = history::components(index, &page.components)
        .into_iter()
        .map(|name| {
            let mine: Vec<&Span> = spans.iter().filter(|s| s.affects(&name)).collect();
            let mut l = line(name, &mine, index, now);
            l.state = from_alerts(&l, index);
            l
        })
        .collect();
    let mut overall = line(String::new(), &all, index, now);
    overall.state = components
        .iter()
        .map(|c| c.state)
        .fold(overall.state, State::max);
    Status {
        now,
        today: now.date_naive(),
        open: index
            .newest_first()
            .into_iter()
            .filter(|e| e.incident.is_open())
            .collect(),
        overall,
        components,
        upstream: upstream(index, page),
    }
}

/// `data/summary.json`: the overall state and each component's, their uptime over
/// 30 and 90 days, and the days of the last 90 that were not operational.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub status: String,
    pub open_incidents: Vec<u64>,
    pub components: Vec<ComponentSummary>,
    /// When anything published last changed (null before the first incident).
    pub updated_at: Option<String>,
    /// In percent, floored to two decimals.
    pub uptime_30: f64,
    pub uptime_90: f64,
    /// The first and the last day of the history (UTC).
    pub history_from: String,
    pub history_to: String,
    /// The days of the service's history that were not operational.
    pub days: Vec<DaySummary>,
    /// Other companies' components (`UPSTREAM_COMPONENTS`), as their pages say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<UpstreamSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamSummary {
    pub name: String,
    /// `operational`, `maintenance`, `degraded`, `partial_outage`, `major_outage`, or
    /// `unknown` (its page could not be read).
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentSummary {
    pub name: String,
    pub status: String,
    /// Open incidents affecting it.
    pub incidents: Vec<u64>,
    pub uptime_30: f64,
    pub uptime_90: f64,
    /// The days of its history that were not operational.
    pub days: Vec<DaySummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySummary {
    /// `yyyy-mm-dd`
    pub date: String,
    pub status: String,
    /// The incidents that touched it.
    pub incidents: Vec<u64>,
}

fn notable(days: &[Day]) -> Vec<DaySummary> {
    days.iter()
        .filter(|d| d.state != State::Operational)
        .map(|d| DaySummary {
            date: d.date.to_string(),
            status: d.state.key().to_owned(),
            incidents: d.incidents.clone(),
        })
        .collect()
}

/// The summary of a [`Status`].
pub fn of(status: &Status, index: &PublishedIndex) -> Summary {
    let first = status.today - Duration::days(DAYS as i64 - 1);
    Summary {
        status: status.overall.state.key().to_owned(),
        open_incidents: status.open.iter().map(|e| e.incident.id).collect(),
        components: status
            .components
            .iter()
            .map(|l| ComponentSummary {
                name: l.name.clone(),
                status: l.state.key().to_owned(),
                incidents: l.open.clone(),
                uptime_30: l.uptime_30,
                uptime_90: l.uptime_90,
                days: notable(&l.days),
            })
            .collect(),
        updated_at: super::last_change(index).map(|t| time::format(&t)),
        uptime_30: status.overall.uptime_30,
        uptime_90: status.overall.uptime_90,
        history_from: first.to_string(),
        history_to: status.today.to_string(),
        days: notable(&status.overall.days),
        upstream: status
            .upstream
            .iter()
            .map(|(name, state)| UpstreamSummary {
                name: name.clone(),
                status: state.key().to_owned(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Config;
    use crate::maintenance::Window;
    use crate::metrics::components::States;
    use crate::site::data::{Incident, IndexEntry, Links, MAINTENANCE};

    fn at(t: &str) -> Timestamp {
        time::parse(t).unwrap()
    }

    fn incident(id: u64, severity: &str, components: &[&str]) -> Incident {
        Incident {
            id,
            status: "opened".into(),
            title: format!("incident {id}"),
            description: String::new(),
            created_at: at("2026-11-30T08:00:00Z"),
            updated_at: at("2026-11-30T08:00:00Z"),
            comments: None,
            links: Links {
                details: format!("data/incident/{id}.json"),
            },
            severity: Some(severity.into()),
            stage: None,
            components: components.iter().map(|c| c.to_string()).collect(),
            closed_at: None,
            postmortem: None,
            key_times: vec![],
            kind: None,
            window: None,
        }
    }

    fn index(incidents: Vec<Incident>, alerts: &[(&str, Impact)]) -> PublishedIndex {
        let mut index = PublishedIndex::default();
        for i in incidents {
            let entry = IndexEntry {
                incident: i,
                updates: vec![],
                source: None,
                muting: None,
                postmortem: None,
            };
            index.incidents.insert(entry.incident.id, entry);
        }
        index.alert_states = Some(States {
            version: 1,
            at: at("2026-11-30T11:00:00Z"),
            components: alerts
                .iter()
                .map(|(c, i)| (c.to_string(), *i))
                .collect::<BTreeMap<_, _>>(),
        });
        index
    }

    /// The summary's states: the service's (named ""), then each component's.
    fn states(index: &PublishedIndex) -> Vec<(String, String)> {
        let config = Config::from_lookup(|k| {
            (k == "COMPONENTS").then(|| "API, Database, Web, Queue".to_owned())
        })
        .unwrap();
        let page = Page::new(&config);
        let s = of(&status(index, &page, at("2026-11-30T12:00:00Z")), index);
        std::iter::once((String::new(), s.status))
            .chain(s.components.into_iter().map(|c| (c.name, c.status)))
            .collect()
    }

    #[test]
    fn alerts_set_a_state_where_no_incident_or_maintenance_decides() {
        let mut planned = incident(2, "low", &["Web"]);
        planned.kind = Some(MAINTENANCE.into());
        planned.window = Some(Window {
            starts_at: at("2026-11-30T11:00:00Z"),
            ends_at: at("2026-11-30T13:00:00Z"),
        });
        let idx = index(
            vec![incident(1, "low", &["Database"]), planned],
            &[
                ("api", Impact::PartialOutage),
                // An incident is published for it: the incident's state.
                ("Database", Impact::MajorOutage),
                // Maintenance in progress holds it.
                ("Web", Impact::MajorOutage),
                ("Queue", Impact::Degraded),
                // Not a component of the page: nothing of it is shown.
                ("secret-internal", Impact::MajorOutage),
            ],
        );
        let want = [
            ("", "partial_outage"),
            ("API", "partial_outage"),
            ("Database", "degraded"),
            ("Web", "maintenance"),
            ("Queue", "degraded"),
        ];
        assert_eq!(
            states(&idx),
            want.map(|(n, s)| (n.to_owned(), s.to_owned()))
        );
        // Resolved: operational again.
        let idx = index(vec![], &[]);
        assert!(states(&idx).iter().all(|(_, s)| *s == "operational"));
    }
}
