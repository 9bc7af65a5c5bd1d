//! A channel's own state (`alert-channels/<hash of its name>.json`): the notices it
//! got lately, which decide a storm; the notices a storm holds for the next digest;
//! and whether the channel is failing.
//!
//! Storms (`ALERT_DIGEST_AFTER`, default `10/5m`): a channel gets notices one by one
//! while no more than 10 came in the last 5 minutes; past that, each goes into the
//! channel's digest instead, which the tick sends once the storm has been quiet for a
//! minute or its oldest notice is 5 minutes old. So 50 alerts in one minute are 10
//! messages and then one digest of the other 40. Resolutions count alike: a storm's
//! resolutions arrive as one digest too.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Severity;
use super::record::Notice;
use crate::config::alerting::DigestAfter;
use crate::time::Timestamp;

/// How long a storm must be quiet before its digest goes.
pub const DIGEST_QUIET: Duration = Duration::from_secs(60);

/// Where a channel's state lives.
pub fn channel_key(name: &str) -> String {
    format!(
        "alert-channels/{}.json",
        hex::encode(&Sha256::digest(name.as_bytes())[..16])
    )
}

/// A notice held for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestItem {
    /// The notice's identity: the same notice held twice is one item.
    pub id: String,
    pub notice: Notice,
    pub at: Timestamp,
    /// The alert record's id (for links) and the alert's generation.
    pub record: String,
    pub generation: u32,
    pub title: String,
    #[serde(default)]
    pub environment: Option<String>,
    pub severity: Severity,
    /// The alert's "View logs" link as of the notice (`LOGS_URL_TEMPLATE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// A first notice's chart, for a mail digest (absent in what earlier releases
    /// kept, and for other notices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<DigestChart>,
}

/// The chart behind a digest's firing item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestChart {
    /// Its PNG kept in the state bucket (`metrics::chart::image::key`), with its text
    /// alternative.
    Kept { text: String },
    /// Why there is none.
    None { why: String },
}

/// A channel that failed and has not delivered since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failing {
    pub since: Timestamp,
    /// The last failure's reason (no URL).
    pub reason: String,
    pub failures: u64,
    /// Whether the operators were told (once per failing streak).
    pub reported: bool,
}

/// A channel's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChannelState {
    /// When it got its latest notices (at most one more than the storm's count).
    #[serde(default)]
    pub recent: Vec<Timestamp>,
    /// What the next digest holds.
    #[serde(default)]
    pub digest: Vec<DigestItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<Failing>,
}

/// What to do with a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Send,
    Digest,
}

impl ChannelState {
    /// Takes a notice: `Send` it now, or it went into the digest. A notice already
    /// held stays held once.
    pub fn admit(&mut self, item: DigestItem, limit: Option<DigestAfter>) -> Admission {
        let Some(limit) = limit else {
            return Admission::Send;
        };
        if self.digest.iter().any(|d| d.id == item.id) {
            return Admission::Digest;
        }
        let at = item.at;
        // A window longer than the time since chrono's first date keeps everything.
        if let Some(since) = chrono::Duration::from_std(limit.window)
            .ok()
            .and_then(|w| at.checked_sub_signed(w))
        {
            self.recent.retain(|t| *t > since);
        }
        self.recent.push(at);
        self.recent.sort();
        let excess = self.recent.len().saturating_sub(limit.count + 1);
        self.recent.drain(..excess);
        if self.recent.len() > limit.count || !self.digest.is_empty() {
            self.digest.push(item);
            Admission::Digest
        } else {
            Admission::Send
        }
    }

    /// Whether the digest should go at `now`: the storm has been quiet for
    /// [`DIGEST_QUIET`], or its oldest notice is a window old.
    pub fn digest_due(&self, now: Timestamp, limit: Option<DigestAfter>) -> bool {
        let (Some(first), Some(last)) = (
            self.digest.iter().map(|d| d.at).min(),
            self.digest.iter().map(|d| d.at).max(),
        ) else {
            return false;
        };
        let window = limit.map_or(Duration::ZERO, |l| l.window);
        let since = |t: Timestamp| (now - t).to_std().unwrap_or(Duration::ZERO);
        since(last) >= DIGEST_QUIET || since(first) >= window
    }
}

/// The identity of a notice of an alert (record, generation, kind, time).
pub fn notice_id(record: &str, generation: u32, notice: Notice, at: Timestamp) -> String {
    format!(
        "{record}:{generation}:{}:{}",
        notice.as_str(),
        at.timestamp_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: i64, notice: Notice) -> DigestItem {
        let at = crate::time::parse("2024-03-05T10:00:00Z").unwrap() + chrono::Duration::seconds(n);
        DigestItem {
            id: notice_id(&format!("r{n}"), 0, notice, at),
            notice,
            at,
            record: format!("r{n}"),
            generation: 0,
            title: format!("alert {n}"),
            environment: None,
            severity: Severity::High,
            logs: None,
            chart: None,
        }
    }

    #[test]
    fn an_item_held_by_an_earlier_release_reads_as_without_a_chart() {
        let old = r#"{"id":"n1","notice":"new","at":"2024-03-05T10:00:00.000Z","record":"r1",
            "generation":0,"title":"Disk full","environment":null,"severity":"high"}"#;
        let item: DigestItem = serde_json::from_str(old).unwrap();
        assert_eq!(item.chart, None);
        let mut kept = item.clone();
        kept.chart = Some(DigestChart::None {
            why: "Prometheus could not be reached".into(),
        });
        let again: DigestItem =
            serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();
        assert_eq!(again, kept);
        assert!(!serde_json::to_string(&item).unwrap().contains("chart"));
    }

    #[test]
    fn more_than_the_count_in_the_window_is_a_storm() {
        let limit = Some(DigestAfter::default());
        let mut s = ChannelState::default();
        // 50 alerts in one minute: 10 sent, 40 held.
        let decisions: Vec<Admission> = (0..50)
            .map(|i| s.admit(item(i, Notice::New), limit))
            .collect();
        assert!(decisions[..10].iter().all(|d| *d == Admission::Send));
        assert!(decisions[10..].iter().all(|d| *d == Admission::Digest));
        assert_eq!(s.digest.len(), 40);
        assert_eq!(s.recent.len(), 11, "only what decides is kept");
        // Held once, however often it is offered.
        assert_eq!(s.admit(item(20, Notice::New), limit), Admission::Digest);
        assert_eq!(s.digest.len(), 40);
        let last = s.digest.last().unwrap().at;
        assert!(!s.digest_due(last + chrono::Duration::seconds(59), limit));
        assert!(s.digest_due(last + chrono::Duration::seconds(60), limit));
        // A steady trickle: due once the oldest is a window old.
        let first = s.digest[0].at;
        assert!(
            s.digest_due(first + chrono::Duration::minutes(5), limit)
                || last > first + chrono::Duration::minutes(4)
        );
        // Digests off: everything is sent.
        let mut s = ChannelState::default();
        assert!((0..50).all(|i| s.admit(item(i, Notice::New), None) == Admission::Send));
    }

    #[test]
    fn a_quiet_window_ends_the_storm() {
        let limit = Some(DigestAfter {
            count: 2,
            window: Duration::from_secs(60),
        });
        let mut s = ChannelState::default();
        for i in 0..3 {
            s.admit(item(i, Notice::New), limit);
        }
        assert_eq!(s.digest.len(), 1);
        s.digest.clear();
        // Two minutes later the window has forgotten the storm.
        assert_eq!(s.admit(item(120, Notice::Resolved), limit), Admission::Send);
    }

    /// A window longer than chrono reaches back (`DIGEST_AFTER` of `18446744073709551615s`
    /// reads as `u64::MAX` seconds), or an item at chrono's first date, keeps
    /// everything rather than overflowing.
    #[test]
    fn a_window_past_chronos_first_date_keeps_everything() {
        let limit = Some(DigestAfter {
            count: 2,
            window: Duration::from_secs(u64::MAX),
        });
        let mut s = ChannelState::default();
        let decisions: Vec<Admission> = (0..4)
            .map(|i| s.admit(item(i, Notice::New), limit))
            .collect();
        assert_eq!(&decisions[..2], &[Admission::Send, Admission::Send]);
        assert_eq!(decisions[3], Admission::Digest);
        let mut first = item(0, Notice::New);
        first.at = crate::time::UNKNOWN;
        let mut s = ChannelState::default();
        let short = Some(DigestAfter {
            count: 2,
            window: Duration::from_secs(60),
        });
        assert_eq!(s.admit(first, short), Admission::Send);
    }
}
