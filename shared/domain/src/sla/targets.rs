//! `INCIDENT_SLA`'s value: how long an incident of each severity may stay open
//! (`critical=1h,high=4h,medium=1d`, durations as everywhere in the configuration:
//! `90s`, `30m`, `4h`, `1d`, or seconds), and whether an incident is past its target.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::parse_duration;
use crate::intake::payload::Severity;
use crate::time::Timestamp;

/// Why `INCIDENT_SLA` cannot be read. Entries are counted from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("entry {0} is not `severity=duration`")]
    NotAPair(usize),
    #[error("entry {0}: the severity must be critical, high, medium, low or unknown")]
    UnknownSeverity(usize),
    #[error("entry {0}: the duration must be like 90s, 30m, 4h or 1d, and more than zero")]
    BadDuration(usize),
    #[error("entry {0} gives a severity a second target")]
    Duplicate(usize),
}

/// The target per severity; a severity without one has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaTargets(BTreeMap<Severity, Duration>);

/// A severity as GitLab names it (`critical`, `high`, `medium`, `low`, `unknown`; any
/// case).
pub fn gitlab_severity(name: &str) -> Option<Severity> {
    match name.to_ascii_lowercase().as_str() {
        "critical" => Some(Severity::Critical),
        "high" => Some(Severity::High),
        "medium" => Some(Severity::Medium),
        "low" => Some(Severity::Low),
        "unknown" => Some(Severity::Unknown),
        _ => None,
    }
}

impl SlaTargets {
    pub fn parse(value: &str) -> Result<SlaTargets, SlaError> {
        let mut map = BTreeMap::new();
        for (i, entry) in value.split(',').map(str::trim).enumerate() {
            let n = i + 1;
            if entry.is_empty() {
                continue;
            }
            let (name, duration) = entry.split_once('=').ok_or(SlaError::NotAPair(n))?;
            let severity = gitlab_severity(name.trim()).ok_or(SlaError::UnknownSeverity(n))?;
            let duration = parse_duration(duration)
                .filter(|d| !d.is_zero())
                .ok_or(SlaError::BadDuration(n))?;
            if map.insert(severity, duration).is_some() {
                return Err(SlaError::Duplicate(n));
            }
        }
        Ok(SlaTargets(map))
    }

    /// Whether no severity has a target (`INCIDENT_SLA` unset).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The target of `severity`.
    pub fn target(&self, severity: Severity) -> Option<Duration> {
        self.0.get(&severity).copied()
    }

    /// When an incident of `severity` opened at `opened` misses its target, if it
    /// has one (none also when that instant is past what a timestamp holds).
    pub fn deadline(&self, severity: Severity, opened: Timestamp) -> Option<Timestamp> {
        let target = chrono::TimeDelta::from_std(self.target(severity)?).ok()?;
        opened.checked_add_signed(target)
    }

    /// Whether the incident is past its target at `now`: still open (or closed only
    /// after `now`) and open longer than its target, or closed later than its target.
    pub fn missed(
        &self,
        severity: Severity,
        opened: Timestamp,
        closed: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        let Some(deadline) = self.deadline(severity, opened) else {
            return false;
        };
        let end = match closed {
            Some(c) if c <= now => c,
            _ => now,
        };
        end > deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn targets_read_per_severity() {
        let t = SlaTargets::parse("critical=1h, HIGH=4h,medium=1d,low=90").unwrap();
        assert_eq!(
            t.target(Severity::Critical),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            t.target(Severity::High),
            Some(Duration::from_secs(4 * 3600))
        );
        assert_eq!(t.target(Severity::Medium), Some(Duration::from_secs(86400)));
        assert_eq!(t.target(Severity::Low), Some(Duration::from_secs(90)));
        assert_eq!(t.target(Severity::Unknown), None);
        assert_eq!(SlaTargets::parse("").unwrap(), SlaTargets::default());
    }

    #[test]
    fn bad_targets_name_the_entry() {
        for (value, e) in [
            ("critical", SlaError::NotAPair(1)),
            ("critical=1h,sev1=1h", SlaError::UnknownSeverity(2)),
            ("critical=soon", SlaError::BadDuration(1)),
            ("critical=0m", SlaError::BadDuration(1)),
            ("critical=1w", SlaError::BadDuration(1)),
            ("critical=99999999999999999999d", SlaError::BadDuration(1)),
            ("critical=1h,critical=2h", SlaError::Duplicate(2)),
        ] {
            assert_eq!(SlaTargets::parse(value), Err(e), "{value}");
        }
    }

    #[test]
    fn an_incident_is_past_its_target_once_open_longer() {
        let t = SlaTargets::parse("critical=1h").unwrap();
        let opened = at("2026-12-07T10:00:00Z");
        let c = Severity::Critical;
        assert!(
            !t.missed(c, opened, None, at("2026-12-07T11:00:00Z")),
            "at the target, not past"
        );
        assert!(t.missed(c, opened, None, at("2026-12-07T11:00:01Z")));
        // Closed in time: never missed, however late it is now.
        assert!(!t.missed(
            c,
            opened,
            Some(at("2026-12-07T10:59:00Z")),
            at("2026-12-09T00:00:00Z")
        ));
        // Closed late: missed.
        assert!(t.missed(
            c,
            opened,
            Some(at("2026-12-07T11:30:00Z")),
            at("2026-12-09T00:00:00Z")
        ));
        // Closed after `now` (a clock behind): judged at `now`.
        assert!(!t.missed(
            c,
            opened,
            Some(at("2026-12-07T12:00:00Z")),
            at("2026-12-07T10:30:00Z")
        ));
        // No target for the severity: never missed.
        assert!(!t.missed(Severity::High, opened, None, at("2030-01-01T00:00:00Z")));
        // A target past what a timestamp holds: no deadline, not a panic.
        let huge = SlaTargets::parse(&format!("critical={}", u64::MAX / 2)).unwrap();
        assert_eq!(huge.deadline(c, opened), None);
        assert!(!huge.missed(c, opened, None, at("2026-12-08T00:00:00Z")));
    }
}
