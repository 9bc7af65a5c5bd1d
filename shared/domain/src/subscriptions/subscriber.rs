//! A subscriber's record (`subscribers/<sha256 of the lowercased address>.json` in
//! the state bucket): a confirmed subscription, or an address whose mail stopped for
//! good. Requests waiting for their confirmation are documents of their own
//! ([`super::request`]), so the fan-out plans over subscribers only. Pure: the caller
//! reads and writes the record with a conditional write.

use serde::{Deserialize, Serialize};

use super::address::SubscriberId;
use super::problem::Problem;
use crate::time::Timestamp;

pub const PREFIX: &str = "subscribers/";
/// At most one confirmation mail per mailbox in this long.
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

/// A request waiting for its confirmation inside the record, as the release before
/// requests had documents of their own wrote it; moved out on first touch
/// ([`super::request::moved`]).
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
    /// When the subscription began: set once the reader confirmed. Its links name it
    /// ([`Subscriber::subscription`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<Timestamp>,
    /// The issue time of the request confirmed last: its link, followed again, says
    /// it is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_request: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
    /// Written by the earlier release: a request waiting inside the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// Written by the earlier release: when its last confirmation mail went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_sent_at: Option<Timestamp>,
    /// The audience page it subscribed from (`AUDIENCES`): that audience's updates
    /// come too. None (and every record of an earlier release): public updates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
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
            confirmed_request: None,
            suppressed: None,
            pending: None,
            confirmation_sent_at: None,
            audience: None,
        }
    }

    /// Whether an update for `audience` (None: a public one) goes to it.
    pub fn reads(&self, audience: Option<&str>) -> bool {
        audience.is_none_or(|a| self.audience.as_deref() == Some(a))
    }

    /// Whether updates go to it.
    pub fn active(&self) -> bool {
        self.confirmed_at.is_some() && self.suppressed.is_none() && self.address.is_some()
    }

    /// The subscription its links name: when it began, in Unix milliseconds.
    pub fn subscription(&self) -> Option<i64> {
        self.confirmed_at.map(|t| t.timestamp_millis())
    }

    /// Whether a link of `subscription` (none: a link of the earlier release, issued
    /// at `issued`) acts on this subscription: the one it was made for, still going.
    pub fn holds(&self, subscription: Option<i64>, issued: i64) -> bool {
        self.active()
            && match subscription {
                Some(s) => self.subscription() == Some(s),
                // Mailed during this subscription: issued once it had begun.
                None => self
                    .confirmed_at
                    .is_some_and(|began| issued >= began.timestamp()),
            }
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

/// The confirmation of the request `asked` for, issued at `issued` (Unix seconds),
/// at `now`: a new subscription begins, or a subscriber's choice changes. A
/// suppressed address stays suppressed.
pub fn confirm(
    old: Option<Subscriber>,
    address: &str,
    components: &[String],
    issued: Timestamp,
    now: Timestamp,
) -> (Option<Subscriber>, Confirmed) {
    let mut s = old.unwrap_or_else(|| Subscriber {
        confirmed_at: None,
        ..Subscriber::confirmed(address, now)
    });
    if s.suppressed.is_some() {
        return (Some(s), Confirmed::Stale);
    }
    if s.active() && s.confirmed_request == Some(issued) {
        let components = s.components.clone();
        return (Some(s), Confirmed::Already(components));
    }
    s.address = Some(address.to_owned());
    s.components = components.to_vec();
    s.confirmed_at.get_or_insert(now);
    s.confirmed_request = Some(issued);
    (Some(s), Confirmed::Now(components.to_vec()))
}

/// What a confirmation link whose request is no longer waiting finds: done before
/// (a second click), or nothing to do.
pub fn confirmed_before(record: Option<&Subscriber>, issued: i64) -> Confirmed {
    match record {
        Some(s) if s.active() && s.confirmed_request.map(|t| t.timestamp()) == Some(issued) => {
            Confirmed::Already(s.components.clone())
        }
        _ => Confirmed::Stale,
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
    s.confirmation_sent_at = None;
    s.components.clear();
    Some(s)
}

/// Why a choice of components cannot be taken ([`ComponentsError::problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentsError {
    TooMany,
    Name,
    /// Names the page does not know (as given).
    Unknown(Vec<String>),
}

/// How much of an unknown name a page repeats, and how many names.
const SHOWN_CHARS: usize = 40;
const SHOWN_NAMES: usize = 3;

impl ComponentsError {
    pub fn problem(&self) -> Problem {
        match self {
            ComponentsError::TooMany => {
                Problem::new("components.too_many").with("max", MAX_COMPONENTS)
            }
            ComponentsError::Name => Problem::new("components.name").with("max", MAX_COMPONENT_LEN),
            ComponentsError::Unknown(names) => {
                // Quoted and shortened: what the page repeats of it is text
                // (escaped there), never a link or a sentence of someone else's.
                let mut shown: Vec<String> = names
                    .iter()
                    .take(SHOWN_NAMES)
                    .map(|n| {
                        let mut short: String = n.chars().take(SHOWN_CHARS).collect();
                        if n.chars().count() > SHOWN_CHARS {
                            short.push('…');
                        }
                        format!("“{short}”")
                    })
                    .collect();
                if names.len() > SHOWN_NAMES {
                    shown.push("…".into());
                }
                Problem::new("components.unknown").with("names", shown.join(", "))
            }
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

/// A choice of components ([`components`]) that names only components in `known`
/// (the page's: `COMPONENTS` and those published incidents name), each written as
/// the page writes it; any other name is refused, so nothing but the page's own
/// names is kept or shown back.
pub fn known_components(
    given: impl IntoIterator<Item = String>,
    known: &[String],
) -> Result<Vec<String>, ComponentsError> {
    let chosen = components(given)?;
    let mut out = Vec::with_capacity(chosen.len());
    let mut unknown = Vec::new();
    for c in chosen {
        match known.iter().find(|k| k.trim().eq_ignore_ascii_case(&c)) {
            Some(k) => out.push(k.trim().to_owned()),
            None => unknown.push(c),
        }
    }
    if !unknown.is_empty() {
        return Err(ComponentsError::Unknown(unknown));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn confirming_begins_a_subscription_or_changes_its_choice_once() {
        let (t0, issued) = (at("2026-12-01T10:00:00.700Z"), at("2026-12-01T09:59:00Z"));
        let (s, c) = confirm(None, "Reader@example.com", &["api".into()], issued, t0);
        assert_eq!(c, Confirmed::Now(vec!["api".into()]));
        let s = s.unwrap();
        assert!(s.active());
        assert_eq!(s.subscription(), Some(t0.timestamp_millis()));
        // Again: already done, nothing changes.
        let (again, c) = confirm(
            Some(s.clone()),
            "Reader@example.com",
            &["web".into()],
            issued,
            t0,
        );
        assert_eq!(
            (c, again.as_ref()),
            (Confirmed::Already(vec!["api".into()]), Some(&s))
        );
        assert_eq!(
            confirmed_before(Some(&s), issued.timestamp()),
            Confirmed::Already(vec!["api".into()])
        );
        assert_eq!(
            confirmed_before(Some(&s), issued.timestamp() - 1),
            Confirmed::Stale
        );
        assert_eq!(confirmed_before(None, issued.timestamp()), Confirmed::Stale);
        // A later request changes the choice; the subscription stays the same one.
        let t1 = t0 + chrono::TimeDelta::hours(3);
        let (changed, c) = confirm(
            Some(s.clone()),
            "reader@example.com",
            &["web".into()],
            at("2026-12-01T12:00:00Z"),
            t1,
        );
        let changed = changed.unwrap();
        assert_eq!(c, Confirmed::Now(vec!["web".into()]));
        assert_eq!(
            (changed.components.clone(), changed.subscription()),
            (vec!["web".into()], s.subscription())
        );
    }

    #[test]
    fn links_hold_only_the_subscription_they_were_made_for() {
        let began = at("2026-12-01T10:00:00.250Z");
        let s = Subscriber::confirmed("r@example.com", began);
        let ms = began.timestamp_millis();
        assert!(s.holds(Some(ms), 0));
        assert!(!s.holds(Some(ms - 1), 0), "another subscription's link");
        // A link of the earlier release names none: it holds the subscription it
        // was mailed during, not one that began after it.
        assert!(s.holds(None, began.timestamp()));
        assert!(s.holds(None, began.timestamp() + 86_400));
        assert!(!s.holds(None, began.timestamp() - 1));
        let stopped = suppress(Some(s), Feedback::Bounce, began).unwrap();
        assert!(!stopped.holds(Some(ms), 0), "mail stopped: no link acts");
    }

    #[test]
    fn suppression_forgets_the_address_and_sticks() {
        let t0 = at("2026-12-01T10:00:00Z");
        let (s, _) = confirm(None, "r@example.com", &[], t0, t0);
        let s = suppress(s, Feedback::Complaint, t0).unwrap();
        assert!(!s.active());
        assert_eq!(s.address, None);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains('@'), "{json}");
        let later = t0 + chrono::TimeDelta::days(30);
        assert_eq!(
            confirm(Some(s), "r@example.com", &[], later, later).1,
            Confirmed::Stale,
            "a confirmation cannot bring it back"
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
        let mut s = Subscriber::confirmed("r@example.com", at("2026-12-01T10:00:00Z"));
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
    fn only_the_pages_components_are_taken_in_its_spelling() {
        let known = vec!["API".to_string(), "Web app".to_string()];
        assert_eq!(
            known_components(["web APP".into(), "api".into(), "API ".into()], &known),
            Ok(vec!["API".into(), "Web app".into()])
        );
        assert_eq!(known_components(Vec::new(), &known), Ok(vec![]));
        let foreign = "Your account is locked, sign in at https://evil.example/sso";
        let e = known_components(["api".into(), foreign.into()], &known).unwrap_err();
        assert_eq!(e, ComponentsError::Unknown(vec![foreign.into()]));
        let text = e.to_string();
        assert!(!text.contains("https://evil"), "shortened: {text}");
        assert!(
            text.contains("“Your account is locked, sign in at https…”"),
            "{text}"
        );
        assert_eq!(
            known_components(["x".into()], &[]),
            Err(ComponentsError::Unknown(vec!["x".into()])),
            "a page with no components takes none"
        );
        let many = ComponentsError::Unknown((0..5).map(|i| format!("c{i}")).collect());
        assert!(many.to_string().ends_with("“c2”, …"), "{many}");
    }

    #[test]
    fn keys_name_the_hash() {
        let id = SubscriberId::of("r@example.com");
        assert_eq!(id_of_key(&key(&id)), Some(id));
        assert_eq!(id_of_key("subscribers/x.json"), None);
    }
}
