//! The on-call file (`ONCALL_CONFIG`, docs/oncall.md): its YAML read into typed
//! values, every problem named with the file's line where known.
//!
//! The YAML is read by `serde-saphyr`: serde_yaml is deprecated and unmaintained,
//! `serde_yml` had soundness problems, and `serde_norway` (its maintained fork) still
//! runs libyaml translated to unsafe Rust. serde-saphyr is pure safe Rust
//! (`forbid(unsafe_code)`), released often, promises panic-free parsing, caps what an
//! input may cost (aliases, depth, events: no "billion laughs"), refuses duplicate
//! keys, and gives each value's line (`Spanned`), which the problems here name.
//!
//! What the file holds is checked as a whole and every problem is reported at once:
//! unknown keys, people that do not exist, time zones that are not IANA's, rotations
//! with nobody in them, durations and restrictions that do not read, overlapping
//! overrides, steps that notify nothing or an unknown schedule or person. A contact
//! method's address (a phone number, a push key) is never repeated in a problem.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::routing::matchers::{MatcherError, Matchers};
use crate::time::Timestamp;

/// The longest rotation a layer may have.
pub const MAX_ROTATION_DAYS: i64 = 366;
/// The latest a step may come after the alert starts.
pub const MAX_AFTER_DAYS: i64 = 7;
/// The most times a policy's steps may run again.
pub const MAX_REPEAT: u32 = 100;
/// The largest file read (bytes).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// The on-call file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct OnCall {
    /// In the file's order.
    pub people: Vec<Person>,
    pub schedules: Vec<Schedule>,
    /// In the file's order: an alert takes the first policy that matches it.
    pub policies: Vec<Policy>,
}

impl OnCall {
    pub fn person(&self, name: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.name == name)
    }

    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.name == name)
    }
}

/// Someone who can be on call or paged.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub name: String,
    pub gitlab: Option<String>,
    /// `slack`: their Slack user id (`U0123ABCD`), for chat commands.
    pub slack: Option<String>,
    /// `mattermost`: their Mattermost user id, for chat commands.
    pub mattermost: Option<String>,
    /// In the file's order: the order they are tried in.
    pub contacts: Vec<Contact>,
    /// `calendar`: a word of the person's calendar links; changing it revokes the
    /// links made before.
    pub calendar: Option<String>,
}

/// How a person is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactKind {
    Email,
    Sms,
    Ntfy,
    Pushover,
    Telegram,
}

impl ContactKind {
    pub const ALL: [ContactKind; 5] = [
        ContactKind::Email,
        ContactKind::Sms,
        ContactKind::Ntfy,
        ContactKind::Pushover,
        ContactKind::Telegram,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Sms => "sms",
            ContactKind::Ntfy => "ntfy",
            ContactKind::Pushover => "pushover",
            ContactKind::Telegram => "telegram",
        }
    }
}

/// A contact method: its address (a mailbox, a phone number, a topic URL, a user key or
/// a chat id) is private, and its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Contact {
    pub kind: ContactKind,
    pub address: String,
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Contact({}: …)", self.kind.as_str())
    }
}

/// A schedule: rotation layers (later over earlier) and overrides, in a time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub zone: Tz,
    pub layers: Vec<Layer>,
    /// Sorted by start; they do not overlap.
    pub overrides: Vec<Override>,
}

/// A rotation: participants take turns of `rotation`, the first from `handoff` (local
/// wall-clock time in the schedule's zone, kept across daylight-saving changes).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub participants: Vec<String>,
    pub rotation: Rotation,
    pub handoff: NaiveDateTime,
    /// When the layer is on call (local time); none: always.
    pub restrict: Vec<Restriction>,
}

/// A rotation's length, in local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

impl Rotation {
    pub fn duration(self) -> Duration {
        match self {
            Rotation::Hours(n) => Duration::hours(i64::from(n)),
            Rotation::Days(n) => Duration::days(i64::from(n)),
            Rotation::Weeks(n) => Duration::weeks(i64::from(n)),
        }
    }
}

/// Days of the week and a time of day (local): `Mon-Fri 09:00-18:00`. An end at or
/// before the start runs past midnight into the next day (`Mon-Fri 18:00-09:00`: from
/// Monday evening to Saturday morning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restriction {
    /// Monday first.
    pub days: [bool; 7],
    pub from: NaiveTime,
    /// `None`: midnight at the end of the day (`24:00`).
    pub to: Option<NaiveTime>,
}

impl Restriction {
    /// Whether the local wall-clock time `at` falls within it.
    pub fn covers(&self, at: NaiveDateTime) -> bool {
        let day = |d: Weekday| self.days[d.num_days_from_monday() as usize];
        let time = at.time();
        let today = day(at.weekday());
        match self.to {
            None => today && time >= self.from,
            Some(to) if to > self.from => today && time >= self.from && time < to,
            // Past midnight: the evening of a listed day, or the morning after it.
            Some(to) => (today && time >= self.from) || (day(at.weekday().pred()) && time < to),
        }
    }
}

/// Someone on call in place of the layers, from `from` to `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub who: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// An escalation policy: the steps an alert it matches goes through until someone
/// acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub matchers: Matchers,
    /// How many times the steps run again after the first time.
    pub repeat: u32,
    /// Sorted by `after`.
    pub steps: Vec<Step>,
}

/// A step: whom it notifies, this long after the alert started.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub after: Duration,
    pub notify: Vec<Target>,
}

/// What a step notifies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Whoever is on call in the schedule then.
    Schedule(String),
    Person(String),
    /// A channel of `ALERT_CHANNELS`, by name.
    Channel(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Schedule(s) => write!(f, "schedule:{s}"),
            Target::Person(p) => write!(f, "person:{p}"),
            Target::Channel(c) => write!(f, "channel:{c}"),
        }
    }
}

/// What is wrong in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the file is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("the file does not read as on-call YAML: {0}")]
    Yaml(String),
    #[error(
        "{key:?} is not a contact method (email, sms, ntfy, pushover, telegram) nor gitlab, slack, mattermost or calendar"
    )]
    UnknownContact { key: String },
    #[error("this {key} user id is {other}'s already: a chat user is one person")]
    SameChatUser { key: String, other: String },
    #[error("{person}'s {kind} is empty")]
    EmptyContact { person: String, kind: &'static str },
    #[error("an empty name")]
    EmptyName,
    #[error("{0:?} is not an IANA time zone (such as Europe/Berlin)")]
    UnknownTimeZone(String),
    #[error("schedule {0}: no layers")]
    NoLayers(String),
    #[error("schedule {0}: a rotation with no participants")]
    NoParticipants(String),
    #[error("{name:?} is not a person of the file's people ({place})")]
    UnknownPerson { name: String, place: String },
    #[error("{text:?} is not a duration: {why}")]
    BadDuration { text: String, why: &'static str },
    #[error("{text:?} is not a local time such as 2026-12-07T09:00 (or one with a zone)")]
    BadTime { text: String },
    #[error("{text:?} is not a restriction such as \"Mon-Fri 09:00-18:00\": {why}")]
    BadRestriction { text: String, why: &'static str },
    #[error("schedule {schedule}: an override ends before it starts")]
    OverrideEndsFirst { schedule: String },
    #[error("schedule {schedule}: the overrides from line {other} and this one overlap")]
    OverlappingOverrides { schedule: String, other: u64 },
    #[error("policy {policy}: no steps")]
    NoSteps { policy: String },
    #[error("policy {policy}: a step notifies nothing")]
    EmptyStep { policy: String },
    #[error(
        "policy {policy}: {target:?} names nothing (schedule:<name>, person:<name> or channel:<name>)"
    )]
    BadTarget { policy: String, target: String },
    #[error("policy {policy}: there is no schedule {schedule:?}")]
    UnknownSchedule { policy: String, schedule: String },
    #[error("policy {policy}: repeat is at most {MAX_REPEAT}")]
    TooManyRepeats { policy: String },
    #[error("policy {policy}: match: {source}")]
    BadMatch {
        policy: String,
        #[source]
        source: MatcherError,
    },
}

/// A problem and the line it is on (1-based), where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Located {
    pub line: Option<u64>,
    #[source]
    pub problem: Problem,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// Every problem of a file that does not validate, one a line, in the file's order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError(pub Vec<Located>);

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl FileError {
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter().map(|l| &l.problem)
    }
}

// ---- the YAML as written -----------------------------------------------------------

/// A mapping's entries in the file's order.
struct Ordered<V>(Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key()? {
                    out.push((key, map.next_value()?));
                }
                Ok(Ordered(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Ordered(Vec::new()))
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// A scalar read as text whatever its YAML type (`telegram: 123456789`), so that no
/// type error repeats a contact's address.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl Visitor<'_> for Scalar {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
                Err(E::custom("a number with a point where a text is expected"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
        }
        d.deserialize_any(Scalar)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    people: Option<Ordered<Ordered<Text>>>,
    #[serde(default)]
    schedules: Option<Ordered<RawSchedule>>,
    #[serde(default)]
    policies: Option<Ordered<RawPolicy>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    time_zone: Spanned<String>,
    layers: Spanned<Vec<RawLayer>>,
    #[serde(default)]
    overrides: Vec<Spanned<RawOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    participants: Spanned<Vec<Spanned<String>>>,
    rotation: Spanned<String>,
    handoff: Spanned<String>,
    #[serde(default)]
    restrict: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    who: Spanned<String>,
    from: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "match", default)]
    matchers: Option<Spanned<String>>,
    #[serde(default)]
    repeat: Option<Spanned<u32>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    after: Spanned<String>,
    notify: Vec<Spanned<String>>,
}

// ---- reading -----------------------------------------------------------------------

fn line<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line()).filter(|l| *l > 0)
}

/// Problems found so far.
#[derive(Default)]
struct Found(Vec<Located>);

impl Found {
    fn add(&mut self, line: Option<u64>, problem: Problem) {
        self.0.push(Located { line, problem });
    }
}

impl OnCall {
    /// Reads and validates the file: the values, or every problem in it.
    pub fn parse(text: &str) -> Result<OnCall, FileError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(FileError(vec![Located {
                line: None,
                problem: Problem::TooLarge,
            }]));
        }
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
        let raw: RawFile = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
            FileError(vec![Located {
                line,
                problem: Problem::Yaml(yaml_message(&e)),
            }])
        })?;
        let mut found = Found::default();
        let people = people(raw.people.unwrap_or(Ordered(Vec::new())), &mut found);
        let schedules = schedules(
            raw.schedules.unwrap_or(Ordered(Vec::new())),
            &people,
            &mut found,
        );
        let policies = policies(
            raw.policies.unwrap_or(Ordered(Vec::new())),
            &people,
            &schedules,
            &mut found,
        );
        if found.0.is_empty() {
            Ok(OnCall {
                people,
                schedules,
                policies,
            })
        } else {
            found.0.sort_by_key(|l| l.line.unwrap_or(u64::MAX));
            Err(FileError(found.0))
        }
    }
}

/// The YAML reader's message without its position (given apart) and cut short.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("").trim();
    let mut out: String = first.chars().take(200).collect();
    if out.is_empty() {
        out.push_str("unreadable");
    }
    out
}

fn people(raw: Ordered<Ordered<Text>>, found: &mut Found) -> Vec<Person> {
    let mut out = Vec::new();
    // Each chat user id (by its key) and whose it is.
    let mut chat_ids: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, entries) in raw.0 {
        if name.value.trim().is_empty() {
            found.add(line(&name), Problem::EmptyName);
            continue;
        }
        let mut person = Person {
            name: name.value.clone(),
            gitlab: None,
            slack: None,
            mattermost: None,
            contacts: Vec::new(),
            calendar: None,
        };
        for (key, Text(value)) in entries.0 {
            let value = value.trim().to_owned();
            if key.value == "gitlab" {
                person.gitlab = Some(value).filter(|v| !v.is_empty());
                continue;
            }
            if matches!(key.value.as_str(), "slack" | "mattermost")
                && !value.is_empty()
                && let Some(other) =
                    chat_ids.insert((key.value.clone(), value.clone()), person.name.clone())
            {
                found.add(
                    line(&key),
                    Problem::SameChatUser {
                        key: key.value.clone(),
                        other,
                    },
                );
            }
            let named = match key.value.as_str() {
                "calendar" => Some(&mut person.calendar),
                "slack" => Some(&mut person.slack),
                "mattermost" => Some(&mut person.mattermost),
                _ => None,
            };
            if let Some(field) = named {
                *field = Some(value).filter(|v| !v.is_empty());
                continue;
            }
            let Some(kind) = ContactKind::ALL
                .into_iter()
                .find(|k| k.as_str() == key.value)
            else {
                found.add(
                    line(&key),
                    Problem::UnknownContact {
                        key: key.value.chars().take(64).collect(),
                    },
                );
                continue;
            };
            if value.is_empty() {
                found.add(
                    line(&key),
                    Problem::EmptyContact {
                        person: person.name.clone(),
                        kind: kind.as_str(),
                    },
                );
                continue;
            }
            person.contacts.push(Contact {
                kind,
                address: value,
            });
        }
        out.push(person);
    }
    out
}

fn known(people: &[Person], name: &Spanned<String>, place: &str, found: &mut Found) -> bool {
    let ok = people.iter().any(|p| p.name == name.value);
    if !ok {
        found.add(
            line(name),
            Problem::UnknownPerson {
                name: name.value.chars().take(64).collect(),
                place: place.to_owned(),
            },
        );
    }
    ok
}

fn schedules(raw: Ordered<RawSchedule>, people: &[Person], found: &mut Found) -> Vec<Schedule> {
    let mut out = Vec::new();
    for (name, s) in raw.0 {
        let before = found.0.len();
        let zone = match s.time_zone.value.trim().parse::<Tz>() {
            Ok(z) => Some(z),
            Err(_) => {
                found.add(
                    line(&s.time_zone),
                    Problem::UnknownTimeZone(s.time_zone.value.chars().take(64).collect()),
                );
                None
            }
        };
        if s.layers.value.is_empty() {
            found.add(line(&s.layers), Problem::NoLayers(name.value.clone()));
        }
        let place = format!("schedule {}", name.value);
        let mut layers = Vec::new();
        for l in s.layers.value {
            if l.participants.value.is_empty() {
                found.add(
                    line(&l.participants),
                    Problem::NoParticipants(name.value.clone()),
                );
            }
            let mut participants = Vec::new();
            for p in &l.participants.value {
                if known(people, p, &place, found) {
                    participants.push(p.value.clone());
                }
            }
            let rotation = parse_rotation(&l.rotation.value)
                .map_err(|why| {
                    found.add(
                        line(&l.rotation),
                        Problem::BadDuration {
                            text: clip(&l.rotation.value),
                            why,
                        },
                    )
                })
                .ok();
            let handoff = parse_local(&l.handoff.value);
            if handoff.is_none() {
                found.add(
                    line(&l.handoff),
                    Problem::BadTime {
                        text: clip(&l.handoff.value),
                    },
                );
            }
            let mut restrict = Vec::new();
            for r in &l.restrict {
                match parse_restriction(&r.value) {
                    Ok(r) => restrict.push(r),
                    Err(why) => found.add(
                        line(r),
                        Problem::BadRestriction {
                            text: clip(&r.value),
                            why,
                        },
                    ),
                }
            }
            if let (Some(rotation), Some(handoff)) = (rotation, handoff) {
                layers.push(Layer {
                    participants,
                    rotation,
                    handoff,
                    restrict,
                });
            }
        }
        let mut overrides: Vec<(Override, Option<u64>)> = Vec::new();
        for o in &s.overrides {
            let at = line(o);
            let who_ok = known(people, &o.value.who, &place, found);
            let time = |t: &Spanned<String>, found: &mut Found| {
                let read = zone.and_then(|z| parse_instant(&t.value, z));
                if read.is_none() && zone.is_some() {
                    found.add(
                        line(t),
                        Problem::BadTime {
                            text: clip(&t.value),
                        },
                    );
                }
                read
            };
            let from = time(&o.value.from, found);
            let to = time(&o.value.to, found);
            if let (Some(from), Some(to)) = (from, to) {
                if to <= from {
                    found.add(
                        at,
                        Problem::OverrideEndsFirst {
                            schedule: name.value.clone(),
                        },
                    );
                } else if who_ok {
                    overrides.push((
                        Override {
                            who: o.value.who.value.clone(),
                            from,
                            to,
                        },
                        at,
                    ));
                }
            }
        }
        overrides.sort_by_key(|(o, _)| o.from);
        for pair in overrides.windows(2) {
            if pair[1].0.from < pair[0].0.to {
                found.add(
                    pair[1].1,
                    Problem::OverlappingOverrides {
                        schedule: name.value.clone(),
                        other: pair[0].1.unwrap_or(0),
                    },
                );
            }
        }
        if let (Some(zone), true) = (zone, found.0.len() == before) {
            out.push(Schedule {
                name: name.value,
                zone,
                layers,
                overrides: overrides.into_iter().map(|(o, _)| o).collect(),
            });
        } else {
            // Keep the name known, so that policies naming it are not told otherwise.
            out.push(Schedule {
                name: name.value,
                zone: zone.unwrap_or(Tz::UTC),
                layers: Vec::new(),
                overrides: Vec::new(),
            });
        }
    }
    out
}

fn policies(
    raw: Ordered<RawPolicy>,
    people: &[Person],
    schedules: &[Schedule],
    found: &mut Found,
) -> Vec<Policy> {
    let mut out = Vec::new();
    for (name, p) in raw.0 {
        let policy = name.value.clone();
        let matchers = match &p.matchers {
            None => Matchers::default(),
            Some(m) => match Matchers::parse(&m.value) {
                Ok(m) => m,
                Err(source) => {
                    found.add(
                        line(m),
                        Problem::BadMatch {
                            policy: policy.clone(),
                            source,
                        },
                    );
                    Matchers::default()
                }
            },
        };
        let repeat = p.repeat.as_ref().map_or(0, |r| r.value);
        if repeat > MAX_REPEAT {
            found.add(
                p.repeat.as_ref().and_then(line),
                Problem::TooManyRepeats {
                    policy: policy.clone(),
                },
            );
        }
        if p.steps.value.is_empty() {
            found.add(
                line(&p.steps),
                Problem::NoSteps {
                    policy: policy.clone(),
                },
            );
        }
        let mut steps = Vec::new();
        for s in &p.steps.value {
            let after = parse_after(&s.value.after.value)
                .map_err(|why| {
                    found.add(
                        line(&s.value.after),
                        Problem::BadDuration {
                            text: clip(&s.value.after.value),
                            why,
                        },
                    )
                })
                .unwrap_or_default();
            if s.value.notify.is_empty() {
                found.add(
                    line(s),
                    Problem::EmptyStep {
                        policy: policy.clone(),
                    },
                );
            }
            let mut notify = Vec::new();
            for t in &s.value.notify {
                let bad = || Problem::BadTarget {
                    policy: policy.clone(),
                    target: clip(&t.value),
                };
                let Some((kind, what)) = t.value.split_once(':') else {
                    found.add(line(t), bad());
                    continue;
                };
                let what = what.trim();
                if what.is_empty() {
                    found.add(line(t), bad());
                    continue;
                }
                let target = match kind.trim() {
                    "schedule" => {
                        if !schedules.iter().any(|s| s.name == what) {
                            found.add(
                                line(t),
                                Problem::UnknownSchedule {
                                    policy: policy.clone(),
                                    schedule: clip(what),
                                },
                            );
                            continue;
                        }
                        Target::Schedule(what.to_owned())
                    }
                    "person" => {
                        let named = Spanned {
                            value: what.to_owned(),
                            referenced: t.referenced,
                            defined: t.defined,
                        };
                        if !known(people, &named, &format!("policy {policy}"), found) {
                            continue;
                        }
                        Target::Person(what.to_owned())
                    }
                    "channel" => Target::Channel(what.to_owned()),
                    _ => {
                        found.add(line(t), bad());
                        continue;
                    }
                };
                if !notify.contains(&target) {
                    notify.push(target);
                }
            }
            steps.push(Step { after, notify });
        }
        steps.sort_by_key(|s| s.after);
        out.push(Policy {
            name: policy,
            matchers,
            repeat: repeat.min(MAX_REPEAT),
            steps,
        });
    }
    out
}

/// A text for a problem: at most 64 characters of it.
fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// `<n><unit>` groups (`1w`, `36h`, `1d12h`) in `units`, added up.
fn parse_duration(text: &str, units: &[(char, i64)]) -> Result<Duration, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty");
    }
    let mut minutes: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if digits.len() >= 9 {
                return Err("too long");
            }
            digits.push(c);
            continue;
        }
        let Some((_, per)) = units.iter().find(|(u, _)| *u == c) else {
            return Err("an unknown unit");
        };
        let n: i64 = digits.parse().map_err(|_| "a unit without a number")?;
        digits.clear();
        minutes = n
            .checked_mul(*per)
            .and_then(|m| minutes.checked_add(m))
            .ok_or("too long")?;
        if minutes > 1_000_000_000 {
            return Err("too long");
        }
    }
    if !digits.is_empty() {
        return Err("a number without a unit");
    }
    Ok(Duration::minutes(minutes))
}

/// A rotation: a number of hours, days or weeks (`12h`, `1d`, `2w`).
pub fn parse_rotation(text: &str) -> Result<Rotation, &'static str> {
    let text = text.trim();
    let unit = text.chars().last().ok_or("empty")?;
    let number = &text[..text.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || number.len() > 6 {
        return Err("a whole number of hours, days or weeks such as 12h, 1d or 1w");
    }
    let n: u32 = number.parse().map_err(|_| "not a number")?;
    let rotation = match unit {
        'h' => Rotation::Hours(n),
        'd' => Rotation::Days(n),
        'w' => Rotation::Weeks(n),
        _ => return Err("the unit is h, d or w"),
    };
    if n == 0 {
        return Err("a rotation of zero");
    }
    if rotation.duration() > Duration::days(MAX_ROTATION_DAYS) {
        return Err("longer than a year");
    }
    Ok(rotation)
}

/// A step's delay: minutes, hours or days (`0m`, `10m`, `1h30m`), to the minute.
pub fn parse_after(text: &str) -> Result<Duration, &'static str> {
    let d = parse_duration(text, &[('m', 1), ('h', 60), ('d', 24 * 60)])?;
    if d > Duration::days(MAX_AFTER_DAYS) {
        return Err("longer than a week");
    }
    Ok(d)
}

/// A local wall-clock time: `2026-12-07T09:00` (or with seconds, or a space for `T`).
pub fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN))
    })
}

/// An instant: with a zone or offset (RFC 3339), or a local time in `zone`.
pub fn parse_instant(text: &str, zone: Tz) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    parse_local(text).and_then(|n| local_to_utc(zone, n))
}

/// The instant a local wall-clock time names in `zone`: the earlier one in a repeated
/// hour; in a skipped hour, the same wall-clock time by the offset before the change
/// (02:30 on a spring-forward night is 03:30 by the new offset).
pub fn local_to_utc(zone: Tz, naive: NaiveDateTime) -> Option<Timestamp> {
    use chrono::LocalResult;
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(a, _) => Some(a.to_utc()),
        LocalResult::None => {
            let before = naive.checked_sub_signed(Duration::days(1))?.and_utc();
            let offset = zone.offset_from_utc_datetime(&before.naive_utc());
            use chrono::Offset;
            let secs = offset.fix().local_minus_utc();
            Some(
                naive
                    .checked_sub_signed(Duration::seconds(i64::from(secs)))?
                    .and_utc(),
            )
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(text: &str) -> Option<usize> {
    let t = text.trim().to_ascii_lowercase();
    if t.len() < 3 || !t.is_ascii() {
        return None;
    }
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    DAYS.iter()
        .position(|d| *d == t)
        .or_else(|| full.iter().position(|d| *d == t))
}

fn clock(text: &str) -> Option<Option<NaiveTime>> {
    let text = text.trim();
    if text == "24:00" {
        return Some(None);
    }
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    NaiveTime::from_hms_opt(h, m, 0).map(Some)
}

/// `Mon-Fri 09:00-18:00`, `Sat,Sun`, `Fri-Mon`, `22:00-06:00` (every day).
pub fn parse_restriction(text: &str) -> Result<Restriction, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty");
    }
    let (days_text, hours_text) = match text.split_once(char::is_whitespace) {
        Some((d, h)) => (Some(d), Some(h.trim())),
        None if text.contains(':') => (None, Some(text)),
        None => (Some(text), None),
    };
    let mut days = [days_text.is_none(); 7];
    if let Some(d) = days_text {
        for part in d.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (
                        day(a).ok_or("an unknown day")?,
                        day(b).ok_or("an unknown day")?,
                    );
                    let mut i = a;
                    loop {
                        days[i] = true;
                        if i == b {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                None => days[day(part).ok_or("an unknown day")?] = true,
            }
        }
    }
    let (from, to) = match hours_text {
        None => (NaiveTime::MIN, None),
        Some(h) => {
            let (a, b) = h.split_once('-').ok_or("hours as HH:MM-HH:MM")?;
            let from = clock(a).ok_or("hours as HH:MM-HH:MM")?;
            let to = clock(b).ok_or("hours as HH:MM-HH:MM")?;
            let Some(from) = from else {
                return Err("a start at 24:00");
            };
            if to == Some(from) {
                return Err("it starts when it ends");
            }
            (from, to)
        }
    };
    Ok(Restriction { days, from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"
people:
  alice: {gitlab: alice, email: alice@example.com, sms: "+15550100", ntfy: "https://ntfy.example/alice"}
  bob:   {email: bob@example.com, pushover: uQiRzpo4DXghDmr9QzzfQu27cmVRsG, telegram: 123456789}
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - participants: [alice, bob]
        rotation: 1w                  # h, d or w
        handoff: "2026-12-07T09:00"   # first handoff (local); then every rotation
        restrict: ["Mon-Fri 09:00-18:00"]   # optional
    overrides:
      - {who: bob, from: "2026-12-24T00:00", to: "2026-12-27T00:00"}
  secondary:
    time_zone: America/New_York
    layers:
      - participants: [bob]
        rotation: 1d
        handoff: "2026-12-01T08:00"
policies:
  default:
    match: 'severity=~"critical|high"'
    repeat: 1                         # run the steps again this many times
    steps:
      - {after: 0m,  notify: ["schedule:primary"]}
      - {after: 10m, notify: ["schedule:secondary", "person:bob", "channel:ops-slack"]}
"#;

    fn problems(text: &str) -> Vec<(Option<u64>, Problem)> {
        OnCall::parse(text)
            .expect_err("the file is refused")
            .0
            .into_iter()
            .map(|l| (l.line, l.problem))
            .collect()
    }

    #[test]
    fn the_designs_sample_reads() {
        let f = OnCall::parse(SAMPLE).unwrap();
        assert_eq!(f.people.len(), 2);
        let alice = f.person("alice").unwrap();
        assert_eq!(alice.gitlab.as_deref(), Some("alice"));
        let kinds: Vec<_> = alice.contacts.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [ContactKind::Email, ContactKind::Sms, ContactKind::Ntfy]
        );
        let bob = f.person("bob").unwrap();
        assert_eq!(bob.contacts[2].address, "123456789");
        let primary = f.schedule("primary").unwrap();
        assert_eq!(primary.zone, chrono_tz::Europe::Berlin);
        assert_eq!(primary.layers[0].rotation, Rotation::Weeks(1));
        assert_eq!(
            primary.layers[0].restrict[0],
            Restriction {
                days: [true, true, true, true, true, false, false],
                from: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                to: NaiveTime::from_hms_opt(18, 0, 0),
            }
        );
        // Local midnight in Berlin (UTC+1 in December).
        assert_eq!(
            primary.overrides[0].from,
            crate::time::parse("2026-12-23T23:00:00Z").unwrap()
        );
        let p = &f.policies[0];
        assert_eq!(p.repeat, 1);
        assert_eq!(p.steps[1].after, Duration::minutes(10));
        assert_eq!(
            p.steps[1].notify,
            [
                Target::Schedule("secondary".into()),
                Target::Person("bob".into()),
                Target::Channel("ops-slack".into())
            ]
        );
        assert!(p.matchers.matches(|l| (l == "severity").then_some("high")));
        assert!(!p.matchers.matches(|l| (l == "severity").then_some("info")));
    }

    #[test]
    fn contacts_never_show_in_debug_or_problems() {
        let f = OnCall::parse(SAMPLE).unwrap();
        let debug = format!("{f:?}");
        assert!(
            !debug.contains("+15550100") && !debug.contains("uQiRzpo4"),
            "{debug}"
        );
        let bad = "people:\n  a: {sms: \"+15550100\", pager: \"+15550199\"}\n  b: {sms: [\"+15550111\"]}\n";
        let e = OnCall::parse(bad).unwrap_err().to_string();
        assert!(!e.contains("1555"), "{e}");
    }

    #[test]
    fn chat_user_ids_sit_beside_the_gitlab_username() {
        let f = OnCall::parse(
            "people:\n  a: {gitlab: alice, slack: U0123ABCD, mattermost: 8xk9qz, email: a@example.com}\n  b: {email: b@example.com}\n",
        )
        .unwrap();
        let a = f.person("a").unwrap();
        assert_eq!(a.slack.as_deref(), Some("U0123ABCD"));
        assert_eq!(a.mattermost.as_deref(), Some("8xk9qz"));
        assert_eq!(a.contacts.len(), 1, "chat ids are not contact methods");
        let b = f.person("b").unwrap();
        assert_eq!((b.slack.as_ref(), b.mattermost.as_ref()), (None, None));
        let p = problems("people:\n  a: {slack: U1}\n  b: {mattermost: U1}\n  c: {slack: U1}\n");
        assert_eq!(
            p,
            [(
                Some(4),
                Problem::SameChatUser {
                    key: "slack".into(),
                    other: "a".into()
                }
            )]
        );
        let p = problems("people:\n  a: {email: a@example.com, discord: x}\n");
        assert_eq!(
            p,
            [(
                Some(2),
                Problem::UnknownContact {
                    key: "discord".into()
                }
            )]
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let text = SAMPLE.replace(
            "        rotation: 1d\n",
            "        rotation: 1d\n        rotaton: 2d\n",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].0.is_some_and(|l| (19..=22).contains(&l)), "{p:?}");
        assert!(
            matches!(&p[0].1, Problem::Yaml(m) if m.contains("rotaton")),
            "{p:?}"
        );
        let p = problems("people:\n  a: {email: a@example.com, pager: x}\n");
        assert_eq!(
            p,
            [(
                Some(2),
                Problem::UnknownContact {
                    key: "pager".into()
                }
            )]
        );
        let p = problems("peeple: {}\n");
        assert!(matches!(&p[..], [(Some(1), Problem::Yaml(_))]), "{p:?}");
    }

    #[test]
    fn each_bad_input_is_a_named_problem_on_its_line() {
        let text = r#"people:
  alice: {email: a@example.com}
schedules:
  one:
    time_zone: Europe/Berln
    layers:
      - participants: []
        rotation: 1w
        handoff: "2026-12-07T09:00"
  two:
    time_zone: UTC
    layers:
      - participants: [alice, carol]
        rotation: 0d
        handoff: "2026-12-07 25:00"
        restrict: ["Mon-Fry 09:00-18:00", "Mon 9-18"]
    overrides:
      - {who: alice, from: "2026-12-24T00:00", to: "2026-12-27T00:00"}
      - {who: alice, from: "2026-12-26T00:00", to: "2026-12-28T00:00"}
      - {who: dave, from: "2026-12-29T00:00", to: "2026-12-28T00:00"}
policies:
  p:
    match: 'severity=~"('
    steps:
      - {after: 5x, notify: []}
      - {after: 10m, notify: ["schedule:three", "person:erin", "channel:", "pager:x"]}
  q:
    steps: []
"#;
        let p = problems(text);
        let expect = [
            (5, "UnknownTimeZone"),
            (7, "NoParticipants"),
            (13, "UnknownPerson"),
            (14, "BadDuration"),
            (15, "BadTime"),
            (16, "BadRestriction"),
            (16, "BadRestriction"),
            (19, "OverlappingOverrides"),
            (20, "UnknownPerson"),
            (20, "OverrideEndsFirst"),
            (23, "BadMatch"),
            (25, "BadDuration"),
            (25, "EmptyStep"),
            (26, "UnknownSchedule"),
            (26, "UnknownPerson"),
            (26, "BadTarget"),
            (26, "BadTarget"),
            (28, "NoSteps"),
        ];
        let got: Vec<(u64, String)> = p
            .iter()
            .map(|(l, pr)| {
                let name = format!("{pr:?}");
                let name = name.split([' ', '(', '{']).next().unwrap().to_owned();
                (l.unwrap_or(0), name)
            })
            .collect();
        let want: Vec<(u64, String)> = expect.iter().map(|(l, n)| (*l, n.to_string())).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(got_sorted, want_sorted, "{p:#?}");
        let message = OnCall::parse(text).unwrap_err().to_string();
        assert!(
            message.contains("line 5: \"Europe/Berln\" is not an IANA time zone"),
            "{message}"
        );
        assert!(
            message.contains("line 26: policy p: there is no schedule \"three\""),
            "{message}"
        );
    }

    #[test]
    fn durations_rotations_and_restrictions() {
        assert_eq!(parse_after("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_after("0m"), Ok(Duration::zero()));
        assert!(parse_after("8d").is_err());
        assert!(parse_after("99999999999999999999m").is_err());
        assert!(parse_after("10").is_err());
        assert!(parse_after("m").is_err());
        assert_eq!(parse_rotation("12h"), Ok(Rotation::Hours(12)));
        assert!(parse_rotation("53w").is_err());
        assert!(parse_rotation("1é").is_err());
        assert!(parse_rotation("é").is_err());
        let r = parse_restriction("Fri-Mon 22:00-06:00").unwrap();
        assert_eq!(r.days, [true, false, false, false, true, true, true]);
        let at = |s: &str| parse_local(s).unwrap();
        // 2026-12-11 is a Friday; the Tuesday morning after Monday night is covered.
        assert!(r.covers(at("2026-12-11T23:00")));
        assert!(r.covers(at("2026-12-15T05:59")));
        assert!(!r.covers(at("2026-12-15T06:00")));
        assert!(!r.covers(at("2026-12-16T01:00")));
        let whole = parse_restriction("Sat,Sun").unwrap();
        assert!(whole.covers(at("2026-12-12T00:00")) && !whole.covers(at("2026-12-14T00:00")));
        let evening = parse_restriction("18:00-24:00").unwrap();
        assert!(evening.covers(at("2026-12-14T23:59")) && !evening.covers(at("2026-12-14T17:59")));
        for bad in [
            "",
            "Mon-Fri 9:00",
            "Mon-Fri 09:00-09:00",
            "Moon",
            "Mon 24:00-01:00",
            "日 09:00-10:00",
        ] {
            assert!(parse_restriction(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn local_times_in_a_changing_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        // 2027-03-28 02:30 does not exist in Berlin: read as 03:30 CEST (01:30 UTC).
        let gap = local_to_utc(berlin, parse_local("2027-03-28T02:30").unwrap()).unwrap();
        assert_eq!(gap, crate::time::parse("2027-03-28T01:30:00Z").unwrap());
        // 2026-10-25 02:30 happens twice: the first (CEST, 00:30 UTC).
        let twice = local_to_utc(berlin, parse_local("2026-10-25T02:30").unwrap()).unwrap();
        assert_eq!(twice, crate::time::parse("2026-10-25T00:30:00Z").unwrap());
        assert_eq!(
            parse_instant("2026-12-24T00:00:00Z", berlin),
            crate::time::parse("2026-12-24T00:00:00Z")
        );
    }

    #[test]
    fn hostile_yaml_is_a_problem_not_a_hang() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..20 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("a{}", i - 1)
            };
            bomb.push_str(&format!("a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(OnCall::parse(&bomb).is_err());
        assert!(OnCall::parse(&"[".repeat(100_000)).is_err());
        assert!(OnCall::parse("people:\n  a: {email: x}\n  a: {email: y}\n").is_err());
        assert!(OnCall::parse("").is_ok());
    }
}
