//! A subscriber's record (`subscribers/<sha256 of the lowercased address>.json` in
//! the state bucket) and how each request changes it. Pure: the caller reads and
//! writes the record with a conditional write.

use serde::{Deserialize, Serialize};

use super::address::SubscriberId;
use super::problem::Problem;
use crate::time::Timestamp;

pub const PREFIX: &str = "subscribers/";
/// At most one confirmation mail per address in this long.
pub const CONFIRMATION_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// At most this many components per subscriber.
pub const MAX_COMPONENTS: usize = 50;
/// The longest component name taken.
pub const MAX_COMPONENT_LEN: usize = 100;

pub fn key(id: &SubscriberId) -> String {
    format!("{PREFIX}{}.json", id.as_str())
}

/// The subscriber a key names.
pub fn id_of_key(key: &str) -> Option<SubscriberId> {
    SubscriberId::parse(key.strip_prefix(PREFIX)?.strip_suffix(".json")?)
}

/// Why mail to an address stopped for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// The receiving server refused it for good (SES: a permanent bounce).
    Bounce,
    /// The reader marked a mail as spam.
    Complaint,
}

/// A request waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// What was asked for; empty: every update.
    #[serde(default)]
    pub components: Vec<String>,
    /// When its confirmation mail went out: the issue time of its token.
    pub requested_at: Timestamp,
}

/// Mail stopped for good, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub reason: Feedback,
    pub at: Timestamp,
}

/// One subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    /// As given; dropped once mail to it is suppressed (nothing needs it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The confirmed choice; empty: every update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Set once the reader confirmed; until then nothing but the confirmation is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// When the last confirmation mail went out (the hourly limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
}

/// What a subscribe request leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Send a confirmation mail; its token is issued at this time.
    MailConfirmation(Timestamp),
    /// A confirmation went out less than an hour ago: nothing more.
    TooSoon,
    /// Mail to the address is suppressed: nothing, ever.
    Suppressed,
}

/// What a confirmation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The request took effect with these components.
    Now(Vec<String>),
    /// Already done (a second click, or a scanner that posted).
    Already(Vec<String>),
    /// The link's request was replaced by a newer one, or the record is gone.
    Stale,
}

impl Subscriber {
    /// `address`, confirmed at `at`, for every component (a subscription seeded
    /// rather than asked for through the form).
    pub fn confirmed(address: &str, at: Timestamp) -> Subscriber {
        Subscriber {
            address: Some(address.to_owned()),
            components: Vec::new(),
            confirmed_at: Some(at),
            pending: None,
            confirmation_sent_at: None,
            suppressed: None,
        }
    }

    /// Whether updates go to it.
    pub fn active(&self) -> bool {
        self.confirmed_at.is_some() && self.suppressed.is_none() && self.address.is_some()
    }

    /// Whether it wants an update about `components` (none: the update concerns
    /// everyone).
    pub fn wants(&self, components: &[String]) -> bool {
        self.components.is_empty()
            || components.is_empty()
            || components
                .iter()
                .any(|c| self.components.iter().any(|s| s.eq_ignore_ascii_case(c)))
    }
}

/// A subscribe request for `address` with `components`, at `now`.
pub fn request(
    old: Option<Subscriber>,
    address: &str,
    components: &[String],
    now: Timestamp,
) -> (Subscriber, Requested) {
    let mut s = old.unwrap_or(Subscriber {
        address: None,
        components: Vec::new(),
        confirmed_at: None,
        pending: None,
        confirmation_sent_at: None,
        suppressed: None,
    });
    if s.suppressed.is_some() {
        return (s, Requested::Suppressed);
    }
    if s.confirmation_sent_at
        .is_some_and(|t| now - t < CONFIRMATION_INTERVAL)
    {
        return (s, Requested::TooSoon);
    }
    // Token times are whole seconds.
    let now = chrono::DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    s.address = Some(address.to_owned());
    s.pending = Some(Pending {
        components: components.to_vec(),
        requested_at: now,
    });
    s.confirmation_sent_at = Some(now);
    (s, Requested::MailConfirmation(now))
}

/// Undoes a request whose confirmation mail could not be sent, so the reader may ask
/// again at once.
pub fn unsend(mut s: Subscriber, issued: Timestamp) -> Subscriber {
    if s.confirmation_sent_at == Some(issued) {
        s.confirmation_sent_at = None;
        if s.pending.as_ref().is_some_and(|p| p.requested_at == issued) {
            s.pending = None;
        }
    }
    s
}

/// The confirmation of the request whose token was issued at `issued` (Unix seconds).
pub fn confirm(
    old: Option<Subscriber>,
    issued: i64,
    now: Timestamp,
) -> (Option<Subscriber>, Confirmed) {
    let Some(mut s) = old else {
        return (None, Confirmed::Stale);
    };
    if s.suppressed.is_some() {
        return (Some(s), Confirmed::Stale);
    }
    match &s.pending {
        Some(p) if p.requested_at.timestamp() == issued => {
            let p = s.pending.take().unwrap_or_else(|| unreachable!());
            s.components = p.components;
            s.confirmed_at.get_or_insert(now);
            let components = s.components.clone();
            (Some(s), Confirmed::Now(components))
        }
        // This request was confirmed before (no newer one since).
        None if s.active()
            && s.confirmation_sent_at
                .is_some_and(|t| t.timestamp() == issued) =>
        {
            let components = s.components.clone();
            (Some(s), Confirmed::Already(components))
        }
        _ => (Some(s), Confirmed::Stale),
    }
}

/// Mail to the subscriber stops for good (a permanent bounce or a complaint); the
/// address is forgotten, the hash stays so no form brings it back.
pub fn suppress(old: Option<Subscriber>, reason: Feedback, at: Timestamp) -> Option<Subscriber> {
    let mut s = old?;
    if s.suppressed.is_none() {
        s.suppressed = Some(Suppression { reason, at });
    }
    s.address = None;
    s.pending = None;
    s.components.clear();
    Some(s)
}

/// Why a choice of components cannot be taken ([`ComponentsError::problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentsError {
    TooMany,
    Name,
}

impl ComponentsError {
    pub fn problem(&self) -> Problem {
        match self {
            ComponentsError::TooMany => {
                Problem::new("components.too_many").with("max", MAX_COMPONENTS)
            }
            ComponentsError::Name => Problem::new("components.name").with("max", MAX_COMPONENT_LEN),
        }
    }
}

impl std::fmt::Display for ComponentsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem().fmt(f)
    }
}

impl std::error::Error for ComponentsError {}

/// A choice of components as a form sends it: trimmed, blanks dropped, duplicates
/// (in any case) once, sorted.
pub fn components(given: impl IntoIterator<Item = String>) -> Result<Vec<String>, ComponentsError> {
    let mut out: Vec<String> = Vec::new();
    for c in given {
        let c = c.trim();
        if c.is_empty() {
            continue;
        }
        if c.chars().count() > MAX_COMPONENT_LEN || c.chars().any(char::is_control) {
            return Err(ComponentsError::Name);
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(c)) {
            out.push(c.to_owned());
        }
    }
    if out.len() > MAX_COMPONENTS {
        return Err(ComponentsError::TooMany);
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn one_confirmation_an_hour_and_only_the_latest_confirms() {
        let t0 = at("2026-12-01T10:00:00.700Z");
        let (s, r) = request(None, "Reader@example.com", &["api".into()], t0);
        let issued = at("2026-12-01T10:00:00Z");
        assert_eq!(r, Requested::MailConfirmation(issued));
        assert!(
            !s.active(),
            "nothing but the confirmation before it is confirmed"
        );
        // Again within the hour: nothing; the pending request stays as it was.
        let (s2, r) = request(
            Some(s.clone()),
            "Reader@example.com",
            &["web".into()],
            t0 + chrono::TimeDelta::minutes(59),
        );
        assert_eq!((r, &s2), (Requested::TooSoon, &s));
        // After the hour: a new request replaces the old, whose link goes stale.
        let t1 = t0 + chrono::TimeDelta::minutes(61);
        let (s3, r) = request(Some(s2), "reader@example.com", &["web".into()], t1);
        let Requested::MailConfirmation(issued1) = r else {
            panic!("{r:?}")
        };
        let (s4, c) = confirm(Some(s3.clone()), issued.timestamp(), t1);
        assert_eq!((c, s4.as_ref()), (Confirmed::Stale, Some(&s3)));
        let (s5, c) = confirm(Some(s3), issued1.timestamp(), t1);
        assert_eq!(c, Confirmed::Now(vec!["web".into()]));
        let s5 = s5.unwrap();
        assert!(s5.active() && s5.pending.is_none());
        // A second click confirms nothing new.
        let (s6, c) = confirm(Some(s5.clone()), issued1.timestamp(), t1);
        assert_eq!((c, s6), (Confirmed::Already(vec!["web".into()]), Some(s5)));
        assert_eq!(confirm(None, issued1.timestamp(), t1).1, Confirmed::Stale);
    }

    #[test]
    fn an_unsent_confirmation_may_be_asked_again() {
        let t0 = at("2026-12-01T10:00:00Z");
        let (s, Requested::MailConfirmation(issued)) = request(None, "r@example.com", &[], t0)
        else {
            panic!()
        };
        let s = unsend(s, issued);
        assert!(matches!(
            request(Some(s), "r@example.com", &[], t0).1,
            Requested::MailConfirmation(_)
        ));
    }

    #[test]
    fn suppression_forgets_the_address_and_sticks() {
        let t0 = at("2026-12-01T10:00:00Z");
        let (s, Requested::MailConfirmation(issued)) = request(None, "r@example.com", &[], t0)
        else {
            panic!()
        };
        let (s, _) = confirm(Some(s), issued.timestamp(), t0);
        let s = suppress(s, Feedback::Complaint, t0).unwrap();
        assert!(!s.active());
        assert_eq!(s.address, None);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains('@'), "{json}");
        let later = t0 + chrono::TimeDelta::days(30);
        assert_eq!(
            request(Some(s), "r@example.com", &[], later).1,
            Requested::Suppressed
        );
        assert_eq!(
            suppress(None, Feedback::Bounce, t0),
            None,
            "no record, nothing to keep"
        );
    }

    #[test]
    fn components_chosen_and_wanted() {
        assert_eq!(
            components(["web ".into(), "".into(), "API".into(), "api".into()]),
            Ok(vec!["API".into(), "web".into()])
        );
        assert_eq!(components(["a\nb".into()]), Err(ComponentsError::Name));
        assert_eq!(
            components((0..51).map(|i| format!("c{i}"))),
            Err(ComponentsError::TooMany)
        );
        let mut s = request(None, "r@example.com", &[], at("2026-12-01T10:00:00Z")).0;
        assert!(
            s.wants(&[]) && s.wants(&["api".into()]),
            "no choice: everything"
        );
        s.components = vec!["API".into()];
        assert!(s.wants(&["api".into(), "web".into()]));
        assert!(!s.wants(&["web".into()]));
        assert!(
            s.wants(&[]),
            "an update naming no component is for everyone"
        );
    }

    #[test]
    fn keys_name_the_hash() {
        let id = SubscriberId::of("r@example.com");
        assert_eq!(id_of_key(&key(&id)), Some(id));
        assert_eq!(id_of_key("subscribers/x.json"), None);
    }
}
