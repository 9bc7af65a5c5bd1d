//! Scheduled maintenance: an issue labelled `MAINTENANCE_LABEL` whose description
//! gives its window (`Window: <start>/<end>`), published by the same rules as an
//! incident. Its stage follows the clock: scheduled before the window, in progress
//! within it, completed after it or once the issue is closed. While in progress it
//! mutes the alerts of its components, and those its `Mute:` line names (matchers,
//! [`crate::routing::matchers`]): as a
//! publisher's change last set them ([`delivery`]).

pub mod delivery;
pub mod window;

use serde::{Deserialize, Serialize};

use crate::routing::matchers::Matchers;
use crate::time::Timestamp;
pub use delivery::Delivery;
pub use window::{Window, WindowError};

/// What maintenance reads.
pub use crate::config::maintenance::VARIABLES;

/// A maintenance's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Scheduled,
    InProgress,
    Completed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Scheduled => "scheduled",
            Stage::InProgress => "in_progress",
            Stage::Completed => "completed",
        }
    }

    /// The stage at `now`: a closed issue is completed (closing ends a maintenance
    /// early; reopening gives it its window back).
    pub fn at(window: &Window, closed: bool, now: Timestamp) -> Stage {
        if closed || now >= window.ends_at {
            Stage::Completed
        } else if now >= window.starts_at {
            Stage::InProgress
        } else {
            Stage::Scheduled
        }
    }
}

/// What the description of a maintenance says beyond its window: the alerts it mutes
/// besides those of its components (`Mute: <Alertmanager matchers>`).
pub fn mute_line(description: &str) -> Option<String> {
    window::lines(description)
        .find_map(|l| window::field(l, "mute"))
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
}

/// The `Mute:` line read as Alertmanager matchers, if there is one. One that cannot be
/// read is an error (the maintenance would page people for what it was meant to mute),
/// quoting the line and the reason in part: the reason is said back on the issue.
pub fn mute_matchers(description: &str) -> Result<Option<Matchers>, WindowError> {
    let Some(line) = mute_line(description) else {
        return Ok(None);
    };
    Matchers::parse(&line).map(Some).map_err(|e| {
        let clip = |s: String| match s.char_indices().nth(120) {
            Some((at, _)) => format!("{}…", &s[..at]),
            None => s,
        };
        WindowError(format!(
            "the line `Mute: {}` is not a list of Alertmanager matchers \
             (`alertname=~\"Disk.*\", env=\"prod\"`): {}",
            clip(line.clone()),
            clip(e.to_string())
        ))
    })
}

/// A maintenance as the notifier needs it to mute alerts: kept by the publisher in the
/// state bucket (`index/maintenance.json`) for every published maintenance not yet
/// over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muting {
    /// The maintenance's public id.
    pub id: u64,
    pub title: String,
    pub window: Window,
    /// When the issue was closed, if it was: the maintenance ended then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// Its components (`component::<name>` labels).
    pub components: Vec<String>,
    /// Its `Mute:` line, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute: Option<String>,
    /// The publisher's change that set its window, components and `Mute:` line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<SetBy>,
    /// What that change widened (a longer window, a `Mute:` line that may match more,
    /// more components), which the maintainers are told once: empty when it widened
    /// nothing, and for a first publication.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widened: Vec<String>,
}

/// Who set what a maintenance does to alerts, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetBy {
    pub by: String,
    pub at: Timestamp,
}

impl Muting {
    /// When the maintenance ends: the end of its window, or its closing if earlier.
    pub fn ends_at(&self) -> Timestamp {
        self.closed_at
            .map_or(self.window.ends_at, |c| c.min(self.window.ends_at))
    }

    /// Whether it is in progress at `now`.
    pub fn in_progress(&self, now: Timestamp) -> bool {
        self.window.starts_at <= now && now < self.ends_at()
    }
}

/// `index/maintenance.json`: the maintenances that mute or will mute alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutings {
    pub maintenances: Vec<Muting>,
}

pub const MUTINGS_KEY: &str = "index/maintenance.json";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time;

    #[test]
    fn stages_follow_the_clock_and_the_issue() {
        let w = Window::parse_line("2026-12-01T02:00:00Z/PT2H").unwrap();
        let at = |t: &str| time::parse(t).unwrap();
        assert_eq!(
            Stage::at(&w, false, at("2026-11-29T00:00:00Z")),
            Stage::Scheduled
        );
        assert_eq!(
            Stage::at(&w, false, at("2026-12-01T02:00:00Z")),
            Stage::InProgress
        );
        assert_eq!(
            Stage::at(&w, false, at("2026-12-01T03:59:59Z")),
            Stage::InProgress
        );
        assert_eq!(
            Stage::at(&w, false, at("2026-12-01T04:00:00Z")),
            Stage::Completed
        );
        assert_eq!(
            Stage::at(&w, true, at("2026-11-29T00:00:00Z")),
            Stage::Completed
        );
        let m = Muting {
            id: 1,
            title: "t".into(),
            window: w,
            closed_at: Some(at("2026-12-01T03:00:00Z")),
            components: vec![],
            mute: None,
            set_by: None,
            widened: vec![],
        };
        assert!(m.in_progress(at("2026-12-01T02:30:00Z")));
        assert!(!m.in_progress(at("2026-12-01T03:00:00Z")), "closed early");
    }

    #[test]
    fn a_mute_line_is_read_as_matchers_or_refused_saying_why() {
        let m = mute_matchers("Window: x\nMute: env=\"prod\"\n")
            .unwrap()
            .unwrap();
        assert!(m.matches(|n| (n == "env").then_some("prod")));
        assert!(!m.matches(|n| (n == "env").then_some("dev")));
        assert!(mute_matchers("Window: x\n").unwrap().is_none());
        let e = mute_matchers("Mute: alertname=~\"(Disk\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "the line `Mute: alertname=~\"(Disk\"` is not a list of Alertmanager matchers"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_mute_line() {
        assert_eq!(
            mute_line("Window: x\nMute: alertname=~\"Disk.*\", env=\"prod\"\n").as_deref(),
            Some("alertname=~\"Disk.*\", env=\"prod\"")
        );
        assert_eq!(mute_line("```\nMute: a=\"b\"\n```"), None);
        assert_eq!(mute_line("no such line"), None);
    }
}
