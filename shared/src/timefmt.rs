//! Timestamps as GitLab sends them and as the status page publishes them.
//!
//! GitLab's hooks use three forms: `2013-12-03T17:15:43Z`, `2019-06-05T14:32:20.211Z`
//! and `2015-05-17 18:08:09 UTC`. The status page writes ISO 8601 UTC with
//! milliseconds: `2020-05-01T10:00:00.123Z`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A point in time, always UTC.
pub type Timestamp = DateTime<Utc>;

/// Parses any of the timestamp forms GitLab sends (and any RFC 3339 offset).
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(rest) = text.strip_suffix(" UTC") {
        for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(rest, fmt) {
                return Some(t.and_utc());
            }
        }
    }
    // `2015-05-17 18:08:09 +0200`, as some GitLab versions write.
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats as the status page JSON wants it: `2020-05-01T10:00:00.123Z`.
pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serde helper: a required GitLab timestamp in any of its forms.
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {text:?}")))
}

/// Serde helper: an optional GitLab timestamp (null, absent or empty means none).
pub fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
    match text {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(None),
        Some(t) => parse(&t)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {t:?}"))),
    }
}

/// Serde helper: write a timestamp in the status page form.
pub fn ser<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_gitlab_forms() {
        let a = parse("2013-12-03T17:15:43Z").unwrap();
        let b = parse("2019-06-05T14:32:20.211Z").unwrap();
        let c = parse("2015-05-17 18:08:09 UTC").unwrap();
        assert_eq!(format(&a), "2013-12-03T17:15:43.000Z");
        assert_eq!(format(&b), "2019-06-05T14:32:20.211Z");
        assert_eq!(format(&c), "2015-05-17T18:08:09.000Z");
        assert_eq!(
            format(&parse("2015-05-17 20:08:09 +0200").unwrap()),
            "2015-05-17T18:08:09.000Z"
        );
        assert_eq!(
            format(&parse("2020-05-01T12:00:00.5+02:00").unwrap()),
            "2020-05-01T10:00:00.500Z"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2022-010-30T11:22:40Z",
            "2015-05-17 18:08:09",
        ] {
            assert!(parse(bad).is_none(), "{bad} should not parse");
        }
    }
}
