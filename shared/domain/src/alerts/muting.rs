//! Alerts muted by a maintenance in progress: an alert of one of its components (its
//! `component` or `service` label, or a generic alert's `service`), or one its
//! `Mute:` line's Alertmanager matchers name, is recorded as muted and not mailed, and
//! opens no GitLab issue; if it still fires when the maintenance no longer holds it
//! (its end, its closing, or a publisher narrowing it so it no longer names the alert),
//! it is mailed then, once, saying it fired during the window.

use serde::{Deserialize, Serialize};

use super::Alert;
use super::record::{AlertRecord, Change, MutedBy, Notice, RecordStatus};
use crate::maintenance::{Muting, Mutings};
use crate::routing::matchers::Matchers;
use crate::time::{self, Timestamp};

/// Where the keys of the records a maintenance mutes are kept, so the tick finds them.
pub const MUTED_KEY: &str = "index/muted-alerts.json";

/// `index/muted-alerts.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    pub alerts: std::collections::BTreeSet<String>,
}

/// Where the notifier keeps the publishers' changes that widened a maintenance and
/// that it told the maintainers of, so each is told once.
pub const WIDENED_KEY: &str = "index/maintenance-widened.json";

/// `index/maintenance-widened.json`: the changes told ([`change_key`]), of the
/// maintenances still kept in `index/maintenance.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub changes: std::collections::BTreeSet<String>,
}

/// The name of a publisher's change of maintenance `id` made at `at`.
pub fn change_key(id: u64, at: Timestamp) -> String {
    format!("{id}@{}", time::format(&at))
}

/// The maintenance in progress at `at` that mutes `alert`, if one does.
pub fn muting_for<'a>(alert: &Alert, mutings: &'a Mutings, at: Timestamp) -> Option<&'a Muting> {
    mutings
        .maintenances
        .iter()
        .find(|m| m.in_progress(at) && mutes(m, alert))
}

/// Whether a maintenance, when in progress, mutes `alert`: one of its components, or
/// its `Mute:` line names it.
pub fn mutes(m: &Muting, alert: &Alert) -> bool {
    let mut names = ["component", "service"]
        .iter()
        .filter_map(|l| alert.labels.get(*l).map(String::as_str))
        .chain(alert.service.as_deref());
    names.any(|n| m.components.iter().any(|c| n.eq_ignore_ascii_case(c)))
        || m.mute
            .as_deref()
            .is_some_and(|line| mute_matches(line, alert))
}

/// What a publisher's change (`new`) widened over the one before it (`old`), named for
/// the maintainers: a window that starts earlier or ends later, a component more, a
/// `Mute:` line that may match an alert the old one did not. A `Mute:` line is
/// narrower only when it keeps every matcher of the old one (more matchers match
/// less); any other change of it counts as widening, as does one that cannot be read.
pub fn widened(new: &Muting, old: &Muting) -> Vec<String> {
    let mut out = Vec::new();
    if new.window.starts_at < old.window.starts_at || new.window.ends_at > old.window.ends_at {
        out.push("the window".to_owned());
    }
    let added: Vec<&String> = new
        .components
        .iter()
        .filter(|c| !old.components.iter().any(|o| o.eq_ignore_ascii_case(c)))
        .collect();
    if !added.is_empty() {
        out.push("the components".to_owned());
    }
    let mute_widened = match (&old.mute, &new.mute) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(o), Some(n)) if o == n => false,
        (Some(o), Some(n)) => match (Matchers::parse(o), Matchers::parse(n)) {
            (Ok(o), Ok(n)) => !o.0.iter().all(|m| n.0.contains(m)),
            _ => true,
        },
    };
    if mute_widened {
        out.push("the `Mute:` line".to_owned());
    }
    out
}

/// Whether a maintenance's `Mute:` line names the alert. The publisher withholds a
/// maintenance whose line does not parse, so one that fails here mutes nothing. A
/// matcher reads the alert's labels, then the fields every alert has (`service`,
/// `environment`, `severity`, and `alertname` for its title).
fn mute_matches(line: &str, alert: &Alert) -> bool {
    Matchers::parse(line).is_ok_and(|m| {
        m.matches(|name| {
            alert.labels.get(name).map(String::as_str).or(match name {
                "service" => alert.service.as_deref(),
                "environment" => alert.environment.as_deref(),
                "severity" => Some(alert.severity.as_str()),
                "alertname" => Some(alert.title.as_str()),
                _ => None,
            })
        })
    })
}

/// Brings a record in line with the maintenances after an event (`change`) or a tick
/// at `at`: a maintenance that no longer holds the alert (over, closed, unpublished,
/// or narrowed by a publisher so it no longer names it) lets it go, mailed now if it
/// still fires, unless another maintenance in progress holds it; a new alert in a
/// maintenance is muted; a muted alert's reminders and resolution say nothing (nobody
/// was told it fired).
pub fn settle(record: &mut AlertRecord, change: Change, mutings: &Mutings, at: Timestamp) {
    if let Some(by) = &record.muted_by {
        let holds = mutings
            .maintenances
            .iter()
            .find(|m| m.id == by.maintenance)
            .is_some_and(|m| m.in_progress(at) && mutes(m, &record.alert));
        if !holds && record.status == RecordStatus::Triggered {
            match muting_for(&record.alert, mutings, at) {
                // Another maintenance holds it on.
                Some(other) => {
                    record.muted_by = Some(MutedBy {
                        maintenance: other.id,
                        title: other.title.clone(),
                        since: by.since,
                    });
                }
                None => {
                    record.fired_during = Some(by.clone());
                    record.muted_by = None;
                    if !record.pending.iter().any(|(n, _)| *n == Notice::New) {
                        record.pending.push((Notice::New, at));
                    }
                }
            }
        }
    }
    match change {
        Change::New => {
            if let Some(m) = muting_for(&record.alert, mutings, at) {
                record.muted_by = Some(MutedBy {
                    maintenance: m.id,
                    title: m.title.clone(),
                    since: at,
                });
                record.fired_during = None;
                record.pending.retain(|(n, _)| *n != Notice::New);
            }
        }
        _ if record.muted_by.is_some() => {
            // Muted: no reminder, and a resolution of an alert nobody heard of is
            // silent.
            record
                .pending
                .retain(|(n, _)| !matches!(n, Notice::Reminder | Notice::Resolved));
        }
        _ => {}
    }
}

/// Whether the record is still held by a maintenance (and so in the muted list).
pub fn held(record: &AlertRecord) -> bool {
    record.muted_by.is_some() && record.status == RecordStatus::Triggered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::record::apply;
    use crate::alerts::{AlertSource, AlertStatus, Severity};
    use crate::maintenance::Window;

    fn alert(component: &str, status: AlertStatus) -> Alert {
        Alert {
            source: AlertSource::Prometheus,
            fingerprint: Some(format!("fp-{component}")),
            status,
            title: "Disk full".into(),
            description: None,
            severity: Severity::Critical,
            environment: None,
            service: None,
            monitoring_tool: None,
            hosts: vec![],
            starts_at: None,
            ends_at: None,
            generator_url: None,
            runbook: None,
            labels: [("component".to_owned(), component.to_owned())].into(),
            annotations: Default::default(),
            links: Default::default(),
            extra: Default::default(),
            quirks: vec![],
        }
    }

    fn at(s: &str) -> Timestamp {
        time::parse(s).unwrap()
    }

    fn mutings(closed_at: Option<Timestamp>) -> Mutings {
        Mutings {
            maintenances: vec![Muting {
                id: 7,
                title: "Database upgrade".into(),
                window: Window::parse_line("2026-12-01T02:00:00Z/PT2H").unwrap(),
                closed_at,
                components: vec!["Database".into()],
                mute: None,
                set_by: None,
                widened: vec![],
            }],
        }
    }

    fn event(record: Option<AlertRecord>, a: &Alert, n: u32, t: &str, m: &Mutings) -> AlertRecord {
        let (r, change) = apply(
            record,
            "fp",
            a,
            &format!("d{n}"),
            at(t),
            std::time::Duration::from_secs(3600),
        );
        let mut r = r.unwrap();
        settle(&mut r, change, m, at(t));
        r
    }

    #[test]
    fn muted_in_the_window_mailed_once_at_its_end() {
        let m = mutings(None);
        let db = alert("database", AlertStatus::Firing);
        let r = event(None, &db, 1, "2026-12-01T02:10:00Z", &m);
        assert!(held(&r) && r.pending.is_empty(), "{r:?}");
        // Repeats in the window: still nothing.
        let mut r = event(Some(r), &db, 2, "2026-12-01T03:30:00Z", &m);
        assert!(r.pending.is_empty());
        // The window ends with the alert still firing: one mail, saying so.
        settle(&mut r, Change::Ignored, &m, at("2026-12-01T04:00:00Z"));
        assert_eq!(r.pending.len(), 1);
        assert_eq!(r.pending[0].0, Notice::New);
        assert_eq!(r.fired_during.as_ref().map(|f| f.maintenance), Some(7));
        assert!(!held(&r));
        // Settling again adds nothing.
        settle(&mut r, Change::Ignored, &m, at("2026-12-01T04:01:00Z"));
        assert_eq!(r.pending.len(), 1);
    }

    #[test]
    fn the_mute_line_names_alerts_beyond_the_components() {
        let mut m = mutings(None);
        m.maintenances[0].mute = Some(r#"alertname=~"Disk.*", env="prod""#.into());
        let mut disk = alert("web", AlertStatus::Firing);
        disk.labels.insert("alertname".into(), "DiskFull".into());
        disk.labels.insert("env".into(), "prod".into());
        let inside = at("2026-12-01T02:10:00Z");
        assert_eq!(muting_for(&disk, &m, inside).map(|m| m.id), Some(7));
        // Every matcher must hold; and only within the window.
        disk.labels.insert("env".into(), "staging".into());
        assert!(muting_for(&disk, &m, inside).is_none());
        disk.labels.insert("env".into(), "prod".into());
        assert!(muting_for(&disk, &m, at("2026-12-01T04:00:00Z")).is_none());
        // A generic alert without labels is read by its fields.
        let mut generic = alert("web", AlertStatus::Firing);
        generic.labels.clear();
        generic.service = Some("billing".into());
        m.maintenances[0].mute = Some(r#"service="billing", severity="critical""#.into());
        assert_eq!(muting_for(&generic, &m, inside).map(|m| m.id), Some(7));
        m.maintenances[0].mute = Some(r#"alertname="Disk full", severity!="critical""#.into());
        assert!(muting_for(&generic, &m, inside).is_none());
    }

    #[test]
    fn narrowing_lets_go_at_once_what_no_longer_matches() {
        let mut wide = mutings(None);
        wide.maintenances[0].mute = Some(r#"alertname=~".*""#.into());
        let mut disk = alert("web", AlertStatus::Firing);
        disk.labels.insert("alertname".into(), "DiskFull".into());
        let db = alert("database", AlertStatus::Firing);
        let mut held_disk = event(None, &disk, 1, "2026-12-01T02:10:00Z", &wide);
        let mut held_db = event(None, &db, 1, "2026-12-01T02:10:00Z", &wide);
        assert!(held(&held_disk) && held(&held_db));
        // The publisher narrows the Mute line: the disk alert goes at once (not at
        // 04:00), once; the database alert, still its component's, stays held.
        let mut narrow = wide.clone();
        narrow.maintenances[0].mute = Some(r#"alertname="Other""#.into());
        let now = at("2026-12-01T02:20:00Z");
        settle(&mut held_disk, Change::Ignored, &narrow, now);
        settle(&mut held_db, Change::Ignored, &narrow, now);
        assert!(!held(&held_disk));
        assert_eq!(held_disk.pending, [(Notice::New, now)]);
        assert_eq!(
            held_disk.fired_during.as_ref().map(|f| f.maintenance),
            Some(7)
        );
        assert!(held(&held_db) && held_db.pending.is_empty());
        settle(
            &mut held_disk,
            Change::Ignored,
            &narrow,
            at("2026-12-01T02:21:00Z"),
        );
        assert_eq!(held_disk.pending.len(), 1, "once");
        // The window shortened, or moved later: it lets go too.
        let mut later = narrow.clone();
        later.maintenances[0].window = Window::parse_line("2026-12-01T03:00:00Z/PT1H").unwrap();
        settle(&mut held_db, Change::Ignored, &later, now);
        assert!(!held(&held_db) && held_db.pending.len() == 1);
    }

    #[test]
    fn another_maintenance_in_progress_holds_on() {
        let first = mutings(None);
        let db = alert("database", AlertStatus::Firing);
        let mut r = event(None, &db, 1, "2026-12-01T02:10:00Z", &first);
        let mut both = first.clone();
        both.maintenances[0].components.clear();
        let mut second = first.maintenances[0].clone();
        second.id = 8;
        second.title = "Network".into();
        second.mute = Some(r#"component="database""#.into());
        both.maintenances.push(second);
        settle(&mut r, Change::Ignored, &both, at("2026-12-01T02:20:00Z"));
        assert!(held(&r) && r.pending.is_empty());
        let by = r.muted_by.as_ref().unwrap();
        assert_eq!((by.maintenance, by.since), (8, at("2026-12-01T02:10:00Z")));
    }

    #[test]
    fn what_a_change_widens() {
        let old = mutings(None).maintenances.remove(0);
        let with = |f: &dyn Fn(&mut Muting)| {
            let mut m = old.clone();
            f(&mut m);
            widened(&m, &old)
        };
        assert!(with(&|_| {}).is_empty());
        assert_eq!(
            with(&|m| m.window = Window::parse_line("2026-12-01T02:00:00Z/P30D").unwrap()),
            ["the window"]
        );
        assert_eq!(
            with(&|m| m.window = Window::parse_line("2026-12-01T01:00:00Z/PT3H").unwrap()),
            ["the window"],
            "starts earlier"
        );
        assert!(
            with(&|m| m.window = Window::parse_line("2026-12-01T02:30:00Z/PT1H").unwrap())
                .is_empty(),
            "shorter"
        );
        assert_eq!(
            with(&|m| m.components.push("API".into())),
            ["the components"]
        );
        assert!(with(&|m| m.components.clear()).is_empty());
        assert_eq!(
            with(&|m| m.mute = Some(r#"alertname=~".*""#.into())),
            ["the `Mute:` line"]
        );
        let mut muted = old.clone();
        muted.mute = Some(r#"alertname=~"Disk.*""#.into());
        let more = |line: &str| {
            let mut m = muted.clone();
            m.mute = Some(line.into());
            widened(&m, &muted)
        };
        assert!(
            more(r#"{alertname=~"Disk.*"}"#).is_empty(),
            "the same matchers"
        );
        assert!(
            more(r#"alertname=~"Disk.*", env="prod""#).is_empty(),
            "one matcher more"
        );
        assert_eq!(more(r#"alertname=~"D.*""#), ["the `Mute:` line"]);
        assert_eq!(
            more(r#"alertname=~"(""#),
            ["the `Mute:` line"],
            "unreadable"
        );
        let mut none = muted.clone();
        none.mute = None;
        assert!(widened(&none, &muted).is_empty());
    }

    #[test]
    fn other_components_closing_early_and_resolutions() {
        let m = mutings(None);
        let web = alert("web", AlertStatus::Firing);
        let r = event(None, &web, 1, "2026-12-01T02:10:00Z", &m);
        assert_eq!(r.pending.len(), 1, "another component is mailed");
        // Before the window: mailed.
        let db = alert("database", AlertStatus::Firing);
        let r = event(None, &db, 1, "2026-12-01T01:59:00Z", &m);
        assert_eq!(r.pending.len(), 1);
        // Closed early: the alert goes at the closing.
        let early = mutings(Some(at("2026-12-01T02:30:00Z")));
        let r = event(None, &db, 1, "2026-12-01T02:10:00Z", &m);
        let mut r = r;
        settle(&mut r, Change::Ignored, &early, at("2026-12-01T02:31:00Z"));
        assert_eq!(r.pending.len(), 1);
        // Resolved in the window: silent, and not held any more.
        let r = event(None, &db, 1, "2026-12-01T02:10:00Z", &m);
        let resolved = alert("database", AlertStatus::Resolved);
        let mut r = event(Some(r), &resolved, 2, "2026-12-01T02:20:00Z", &m);
        assert!(r.pending.is_empty() && !held(&r), "{r:?}");
        settle(&mut r, Change::Ignored, &m, at("2026-12-01T04:00:00Z"));
        assert!(r.pending.is_empty());
    }
}
