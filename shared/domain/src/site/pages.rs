//! The site's HTML pages: the index, an incident's page, the archive's months and the
//! 404 page, each from its template and the page's catalogue.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use minijinja::context;
use serde::Serialize;

use super::data::{Comment, Incident, IndexEntry, LIST_LEN, PublishedIndex};
use super::history::{self, State};
use super::summary::{Line, Status};
use super::{PAGE_CACHE_CONTROL, Page, SiteObject, object, render, text_of};
use crate::i18n::Catalogue;
use crate::maintenance::{Stage, Window};
use crate::templates::RenderError;
use crate::time::{self, Timestamp};

/// `incidents/<id>.html`.
pub fn incident_page_key(id: u64) -> String {
    format!("incidents/{id}.html")
}

/// `history/<yyyy>-<mm>.html`.
pub fn archive_key(year: i32, month: u32) -> String {
    month_key(&month_id(year, month))
}

/// The archive page of the month `yyyy-mm`.
fn month_key(id: &str) -> String {
    format!("{}{id}.html", super::ARCHIVE_PREFIX)
}

fn month_id(year: i32, month: u32) -> String {
    format!("{year:04}-{month:02}")
}

/// An incident as a card and on its page.
#[derive(Serialize)]
struct Card<'a> {
    id: u64,
    title: &'a str,
    status: &'a str,
    stage: &'a str,
    stage_text: &'a str,
    severity: Option<&'a str>,
    components: &'a [String],
    created_at: String,
    updated_at: String,
    closed_at: Option<String>,
    created_human: String,
    updated_human: String,
    closed_human: Option<String>,
    /// A maintenance's planned window, in words.
    window: Option<String>,
    /// Whether its postmortem is published.
    postmortem: bool,
    /// In the archive: how long it took to resolve, against its `INCIDENT_SLA` target.
    resolve: Option<String>,
}

fn card<'a>(i: &'a Incident, cat: &'static Catalogue) -> Card<'a> {
    let stage = i.stage.as_deref().unwrap_or("investigating");
    Card {
        id: i.id,
        title: &i.title,
        status: &i.status,
        stage,
        stage_text: cat.text_or(&format!("stage.{stage}"), stage),
        severity: i
            .severity
            .as_deref()
            .map(|s| cat.text_or(&format!("severity.{s}"), s)),
        components: &i.components,
        created_at: time::format(&i.created_at),
        updated_at: time::format(&i.updated_at),
        closed_at: i.closed_at.as_ref().map(time::format),
        created_human: cat.date_time(&i.created_at),
        updated_human: cat.date_time(&i.updated_at),
        closed_human: i.closed_at.as_ref().map(|t| cat.date_time(t)),
        window: i.window.as_ref().map(|w| window_text(w, cat)),
        postmortem: i.postmortem.is_some(),
        resolve: None,
    }
}

/// How a closed incident did against its target: its time to resolve, and whether
/// that was within its severity's target (`None`: no target).
fn resolution(
    i: &Incident,
    sla: &crate::sla::SlaTargets,
) -> Option<(chrono::TimeDelta, Option<(chrono::TimeDelta, bool)>)> {
    if i.is_maintenance() {
        return None;
    }
    let took = i.closed_at? - i.created_at;
    let target = crate::sla::severity_of(i.severity.as_deref(), &[])
        .and_then(|s| sla.target(s))
        .and_then(|t| chrono::TimeDelta::from_std(t).ok())
        .map(|t| (t, took <= t));
    Some((took, target))
}

/// `Resolved in 3 h 20 min, within the 4 h 0 min target`.
fn resolution_text(i: &Incident, sla: &crate::sla::SlaTargets, cat: &Catalogue) -> Option<String> {
    let (took, target) = resolution(i, sla)?;
    let duration = cat.duration(took);
    Some(match target {
        None => cat.format("archive.resolved_in", &[("duration", &duration)]),
        Some((t, within)) => cat.format(
            if within {
                "archive.resolved_within"
            } else {
                "archive.resolved_late"
            },
            &[("duration", &duration), ("target", &cat.duration(t))],
        ),
    })
}

/// The month's share of closed incidents with a target resolved within it, in words.
fn sla_share<'a>(
    incidents: impl Iterator<Item = &'a Incident>,
    sla: &crate::sla::SlaTargets,
    cat: &Catalogue,
) -> Option<String> {
    let judged: Vec<bool> = incidents
        .filter_map(|i| resolution(i, sla)?.1.map(|(_, within)| within))
        .collect();
    if judged.is_empty() {
        return None;
    }
    let within = judged.iter().filter(|w| **w).count();
    let percent = within as f64 * 100.0 / judged.len() as f64;
    Some(cat.format(
        "archive.sla_share",
        &[
            ("percent", &cat.percent(percent)),
            ("within", &within.to_string()),
            ("total", &judged.len().to_string()),
        ],
    ))
}

/// `Planned from … to …` with the times marked up for the reader's zone.
fn window_text(w: &Window, cat: &Catalogue) -> String {
    let at = |t: &Timestamp| {
        format!(
            "<time datetime=\"{}\">{}</time>",
            time::format(t),
            cat.date_time(t)
        )
    };
    cat.format(
        "maintenance.window",
        &[("start", &at(&w.starts_at)), ("end", &at(&w.ends_at))],
    )
}

/// A maintenance's stage at `now` (the tick may not have moved it yet).
fn maintenance_stage(i: &Incident, now: Timestamp) -> Option<Stage> {
    let w = i.window.as_ref().filter(|_| i.is_maintenance())?;
    Some(Stage::at(w, i.status == "closed", now))
}

/// A month of the archive, as a link.
#[derive(Serialize, Clone)]
struct Month {
    key: String,
    name: String,
    count: String,
}

/// One day of a strip: its name, its class (none when operational) and, with
/// incidents, where it links.
#[derive(Serialize)]
struct DayView {
    n: String,
    c: &'static str,
    h: Option<String>,
}

fn class(state: State) -> &'static str {
    match state {
        State::Operational => "",
        State::Maintenance => "n",
        State::Degraded => "d",
        State::PartialOutage => "p",
        State::MajorOutage => "m",
    }
}

/// The strip of a line, as the index shows it: each day named in text; a day with
/// one incident links to it, with several to that day in the archive.
fn strip(line: &Line, cat: &'static Catalogue) -> Vec<DayView> {
    line.days
        .iter()
        .map(|d| {
            let date = cat.date(d.date);
            let state = cat.text(&format!("day.{}", d.state.key()));
            let (n, h) = match d.incidents.as_slice() {
                [] => (
                    cat.format("day.name", &[("date", &date), ("state", state)]),
                    None,
                ),
                ids => (
                    cat.plural(
                        "day.name_incidents",
                        ids.len() as u64,
                        &[("date", &date), ("state", state)],
                    ),
                    Some(match ids {
                        [one] => incident_page_key(*one),
                        _ => format!(
                            "{}#day-{}",
                            archive_key(d.date.year(), d.date.month()),
                            d.date
                        ),
                    }),
                ),
            };
            DayView {
                n,
                c: class(d.state),
                h,
            }
        })
        .collect()
}

/// `index.html`.
pub(super) fn index(
    index: &PublishedIndex,
    page: &Page,
    status: &Status,
) -> Result<String, RenderError> {
    let cat = page.catalogue();
    let overall_text = match status.overall.state {
        State::Operational if status.open.is_empty() => cat.text("status.all_operational"),
        s => cat.text(&format!("status.{}", s.key())),
    };
    // With no components at all, the service's own history stands in for them.
    let lines: Vec<&Line> = if status.components.is_empty() {
        vec![&status.overall]
    } else {
        status.components.iter().collect()
    };
    let lines: Vec<_> = lines
        .into_iter()
        .map(|l| {
            context! {
                name => if l.name.is_empty() { cat.text("index.all_services") } else { &l.name },
                status => l.state.key(),
                text => cat.text(&format!("status.{}", l.state.key())),
                days => strip(l, cat),
                uptime => cat.format("index.uptime", &[
                    ("p30", &cat.percent(l.uptime_30)),
                    ("p90", &cat.percent(l.uptime_90)),
                ]),
            }
        })
        .collect();
    // Maintenances not over: under way first, then by start.
    let mut planned: Vec<(Stage, &Incident)> = index
        .incidents
        .values()
        .filter_map(|e| Some((maintenance_stage(&e.incident, status.now)?, &e.incident)))
        .filter(|(stage, _)| *stage != Stage::Completed)
        .collect();
    planned.sort_by_key(|(stage, i)| {
        (
            *stage != Stage::InProgress,
            i.window.map(|w| w.starts_at),
            i.id,
        )
    });
    let under_way: Vec<String> = planned
        .iter()
        .filter(|(stage, _)| *stage == Stage::InProgress)
        .filter_map(|(_, i)| {
            let w = i.window.as_ref()?;
            let end = format!(
                "<time datetime=\"{}\">{}</time>",
                time::format(&w.ends_at),
                cat.date_time(&w.ends_at)
            );
            let title = format!("<a href=\"{}\">{}</a>", incident_page_key(i.id), i.title);
            Some(cat.format("index.maintenance_now", &[("title", &title), ("end", &end)]))
        })
        .collect();
    let history: Vec<Card> = index
        .newest_first()
        .into_iter()
        .filter(|e| !e.incident.is_open())
        .filter(|e| !planned.iter().any(|(_, i)| i.id == e.incident.id))
        .take(LIST_LEN)
        .map(|e| card(&e.incident, cat))
        .collect();
    let months: Vec<Month> = archive_months(index, status)
        .into_iter()
        .rev()
        .map(|(m, started)| Month {
            key: m.clone(),
            name: month_name(&m, cat),
            count: cat.plural("site.incidents", started as u64, &[]),
        })
        .collect();
    let updated = super::last_change(index);
    render(
        "index.html",
        context! {
            overall => context! { status => status.overall.state.key(), text => overall_text },
            open => status.open.iter().map(|e| card(&e.incident, cat)).collect::<Vec<_>>(),
            under_way => under_way,
            planned => planned.iter().map(|(_, i)| card(i, cat)).collect::<Vec<_>>(),
            lines => lines,
            upstream => status.upstream.iter().map(|(name, state)| context! {
                name => name,
                status => state.key(),
                text => cat.text(&format!("status.{}", state.key())),
            }).collect::<Vec<_>>(),
            history => history,
            months => months,
            follow => page.follow("", &super::feed_components(index, page)),
            ..page.chrome("", updated.as_ref())
        },
    )
}

/// `2024-03` as `March 2024` in the page's language.
fn month_name(id: &str, cat: &Catalogue) -> String {
    let (y, m) = id.split_once('-').unwrap_or((id, "1"));
    cat.month(y.parse().unwrap_or(1970), m.parse().unwrap_or(1))
}

/// A day of an archive month: the incidents that began that day, and those still
/// going on from before.
struct Section<'a> {
    date: NaiveDate,
    started: Vec<&'a IndexEntry>,
    continuing: Vec<&'a IndexEntry>,
}

/// The archive's days by month (`yyyy-mm`): every day on which an incident began,
/// and every day on which several were going on (a strip links there); in each, the
/// incidents active that day.
fn archive_days<'a>(
    index: &'a PublishedIndex,
    status: &Status,
) -> BTreeMap<String, Vec<Section<'a>>> {
    let spans = history::spans(index, status.now);
    let mut by_day: BTreeMap<NaiveDate, Vec<&history::Span>> = BTreeMap::new();
    for s in &spans {
        let mut d = s.start.date_naive();
        let last = s.end.date_naive();
        while d <= last {
            by_day.entry(d).or_default().push(s);
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
        }
    }
    let mut months: BTreeMap<String, Vec<Section>> = BTreeMap::new();
    for (date, active) in by_day {
        let (began, going_on): (Vec<&history::Span>, Vec<&history::Span>) = active
            .into_iter()
            .partition(|s| s.start.date_naive() == date);
        // A day where nothing began is a section only where a strip links to it
        // (several incidents, within its days): an incident left open for years
        // does not make a page for every month since.
        let in_strips = (status.today - date).num_days() < history::DAYS as i64;
        if began.is_empty() && (going_on.len() < 2 || !in_strips) {
            continue;
        }
        let entries = |spans: Vec<&history::Span>| {
            spans
                .into_iter()
                .filter_map(|s| index.incidents.get(&s.id))
                .collect()
        };
        months
            .entry(month_id(date.year(), date.month()))
            .or_default()
            .push(Section {
                date,
                started: entries(began),
                continuing: entries(going_on),
            });
    }
    months
}

/// The archive's months, oldest first, with how many incidents began in each.
fn archive_months(index: &PublishedIndex, status: &Status) -> Vec<(String, usize)> {
    archive_days(index, status)
        .into_iter()
        .map(|(m, sections)| (m, sections.iter().map(|s| s.started.len()).sum()))
        .collect()
}

/// `history/<yyyy>-<mm>.html` for every month of the archive: its days, newest
/// first.
pub(super) fn archive(
    index: &PublishedIndex,
    page: &Page,
    status: &Status,
) -> Result<Vec<(String, String)>, RenderError> {
    let cat = page.catalogue();
    let updated = super::last_change(index);
    let months = archive_days(index, status);
    let ids: Vec<&String> = months.keys().collect();
    let link = |m: Option<&&String>| {
        m.map(|m| Month {
            key: (*m).clone(),
            name: month_name(m, cat),
            count: String::new(),
        })
    };
    let mut out = Vec::new();
    for (n, (month, sections)) in months.iter().enumerate() {
        let sections: Vec<_> = sections
            .iter()
            .rev()
            .map(|s| {
                context! {
                    date => s.date.to_string(),
                    name => cat.date(s.date),
                    started => s.started.iter().map(|e| Card {
                        resolve: resolution_text(&e.incident, &page.sla, cat),
                        ..card(&e.incident, cat)
                    }).collect::<Vec<_>>(),
                    continuing => s.continuing.iter().map(|e| context! {
                        id => e.incident.id,
                        title => &e.incident.title,
                        since => cat.date(e.incident.created_at.date_naive()),
                    }).collect::<Vec<_>>(),
                }
            })
            .collect();
        let started = months[month].iter().any(|s| !s.started.is_empty());
        let sla = sla_share(
            months[month]
                .iter()
                .flat_map(|s| s.started.iter().map(|e| &e.incident)),
            &page.sla,
            cat,
        );
        let html = render(
            "archive.html",
            context! {
                heading => cat.format("archive.title", &[("month", &month_name(month, cat))]),
                earlier => link(n.checked_sub(1).and_then(|p| ids.get(p))),
                later => link(ids.get(n + 1)),
                sections => sections,
                started => started,
                sla => sla,
                ..page.chrome("../", updated.as_ref())
            },
        )?;
        out.push((month_key(month), html));
    }
    Ok(out)
}

/// `404.html`: served for any missing key, at any depth, so its links start at the
/// site's root.
pub(super) fn not_found(page: &Page) -> Result<String, RenderError> {
    render("404.html", page.chrome(&page.absolute_root(), None))
}

/// `incidents/<id>.html`, from the public detail.
pub fn render_incident_page(detail: &Incident, page: &Page) -> Result<SiteObject, RenderError> {
    let cat = page.catalogue();
    // The page sits one level down: its links into the bucket go up one.
    let up = |html: &str| {
        html.replace("src=\"data/incident/", "src=\"../data/incident/")
            .replace("href=\"data/incident/", "href=\"../data/incident/")
    };
    let comments: Vec<_> = detail
        .comments
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c: &Comment| {
            context! {
                note => up(&c.note),
                created_at => time::format(&c.created_at),
                created_human => cat.date_time(&c.created_at),
                millis => c.created_at.timestamp_millis(),
            }
        })
        .collect();
    let postmortem = detail.postmortem.as_ref().map(|p| {
        context! {
            text => up(&p.text),
            published_at => time::format(&p.published_at),
            published_human => cat.date_time(&p.published_at),
        }
    });
    let key_times: Vec<_> = detail
        .key_times
        .iter()
        .map(|k| {
            context! {
                tag => &k.tag,
                label => cat.text_or(&format!("timeline.{}", k.tag), &k.tag),
                at => time::format(&k.occurred_at),
                human => cat.date_time(&k.occurred_at),
            }
        })
        .collect();
    let started: Timestamp = detail.created_at;
    let html = render(
        "incident.html",
        context! {
            title_text => text_of(&detail.title),
            i => card(detail, cat),
            description => up(&detail.description),
            comments => comments,
            key_times => key_times,
            postmortem => postmortem,
            month => Month {
                key: month_id(started.year(), started.month()),
                name: cat.month(started.year(), started.month()),
                count: String::new(),
            },
            follow => page.follow("../", &detail.components),
            ..page.chrome("../", Some(&detail.updated_at))
        },
    )?;
    Ok(object(
        incident_page_key(detail.id),
        html,
        super::HTML,
        PAGE_CACHE_CONTROL,
    ))
}
