//! The `mute` fuzz target's check, shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs. The input is text: its first line a `Mute:`
//! line's matchers, its second a `Window:` line, the rest `name=value` labels of an
//! Alertmanager alert.
//!
//! - `Matchers::parse` gives matchers or a named problem; matchers read back from
//!   their canonical form (`Display`), and match a label set exactly as Alertmanager's
//!   semantics say (each `=~` value an anchored regex, a missing label empty), whatever
//!   the fast path for words and prefixes does;
//! - the maintenance's reading path (`publishing::public::maintenance`, then the
//!   `Mutings` the notifier holds alerts by) takes any description without a panic,
//!   and an alert is held within the window exactly when a component or the `Mute:`
//!   line names it, never after the window.

use std::collections::BTreeMap;

use openmic::alerts::muting::muting_for;
use openmic::maintenance::{Muting, Mutings, mute_line};
use openmic::publishing::incident::IssueSnapshot;
use openmic::publishing::public::maintenance;
use openmic::routing::matchers::{Matchers, Op};
use openmic::time::Timestamp;

fn now() -> Timestamp {
    openmic::time::parse("2026-11-30T00:00:00Z").expect("a time")
}

/// Whether `m` matches `label` by Alertmanager's rules, without openmic's fast path.
fn reference(m: &Matchers, label: &dyn Fn(&str) -> Option<String>) -> bool {
    m.0.iter().all(|m| {
        let v = label(&m.name).unwrap_or_default();
        let regex = || {
            regex_lite::Regex::new(&format!("^(?:{})$", m.value))
                .expect("a value Matchers::parse took is a valid regex")
                .is_match(&v)
        };
        match m.op {
            Op::Equal => v == m.value,
            Op::NotEqual => v != m.value,
            Op::Regex => regex(),
            Op::NotRegex => !regex(),
        }
    })
}

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mute = lines.next().unwrap_or_default().trim_end_matches('\r');
    let window = lines.next().unwrap_or_default().trim_end_matches('\r');
    let labels: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect();

    // The alert, as the notifier has it from an Alertmanager body.
    let body = serde_json::json!({
        "version": "4", "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {}}]
    });
    let alert = openmic::alerts::parse::parse(body.to_string().as_bytes(), now())
        .ok()
        .and_then(|p| p.alerts.into_iter().next());

    let parsed = Matchers::parse(mute);
    if let Ok(m) = &parsed {
        let canonical = m.to_string();
        assert_eq!(
            Matchers::parse(&canonical).as_ref(),
            Ok(m),
            "{mute:?}: its canonical form {canonical:?} reads otherwise"
        );
        let get = |n: &str| labels.get(n).cloned();
        assert_eq!(
            m.matches(|n| labels.get(n).map(String::as_str)),
            reference(m, &get),
            "{mute:?} on {labels:?}"
        );
    }

    // The maintenance's reading path.
    let description = format!("We move the database.\n\nWindow: {window}\nMute: {mute}\n");
    let issue = IssueSnapshot {
        id: 1,
        title: "Database move".into(),
        description: description.clone(),
        state: "opened".into(),
        confidential: false,
        created_at: now(),
        updated_at: now(),
        closed_at: None,
        labels: vec!["maintenance".into(), "component::database".into()],
        severity: None,
    };
    let Ok(Some((w, _stage))) = maintenance(&issue, "maintenance", now()) else {
        return;
    };
    let line = mute_line(&description);
    if let Some(line) = &line {
        assert!(
            Matchers::parse(line).is_ok(),
            "a maintenance whose Mute line {line:?} does not read was taken"
        );
    }
    let mutings = Mutings {
        maintenances: vec![Muting {
            id: 1,
            title: issue.title.clone(),
            window: w,
            closed_at: None,
            components: vec!["database".into()],
            mute: line.clone(),
            set_by: None,
            widened: Vec::new(),
        }],
    };
    let Some(alert) = alert else { return };
    let named = ["component", "service"]
        .iter()
        .filter_map(|l| alert.labels.get(*l))
        .chain(alert.service.as_ref())
        .any(|n| n.eq_ignore_ascii_case("database"));
    let fields = |n: &str| {
        alert.labels.get(n).cloned().or(match n {
            "service" => alert.service.clone(),
            "environment" => alert.environment.clone(),
            "severity" => Some(alert.severity.as_str().to_owned()),
            "alertname" => Some(alert.title.clone()),
            _ => None,
        })
    };
    let matched = line
        .as_deref()
        .and_then(|l| Matchers::parse(l).ok())
        .is_some_and(|m| reference(&m, &fields));
    let held = muting_for(&alert, &mutings, w.starts_at).is_some();
    assert_eq!(
        held,
        named || matched,
        "{description:?} on {:?}",
        alert.labels
    );
    assert!(
        muting_for(&alert, &mutings, w.ends_at).is_none(),
        "held after its window"
    );
}
