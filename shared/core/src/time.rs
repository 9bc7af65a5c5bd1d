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
    // What [`format`] writes of a year past 9999 (`+20000-01-01T00:00:00.000Z`),
    // which RFC 3339's four digits cannot say: read back what was written.
    if text.starts_with(['+', '-'])
        && let Some(rest) = text.strip_suffix('Z')
        && let Ok(t) = NaiveDateTime::parse_from_str(rest, "%Y-%m-%dT%H:%M:%S%.f")
    {
        return Some(t.and_utc());
    }
    if let Some(rest) = text.strip_suffix(" UTC") {
        for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(rest, fmt) {
                return Some(t.and_utc());
            }
        }
    }
    // `2015-05-17 18:08:09 +0200`, as some GitLab versions write, and Go's default
    // `2024-01-18 12:03:34.872839876 +0100 CET` (the zone's name is only a name).
    let zoned = match text.rsplit_once(' ') {
        Some((head, name)) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()) => {
            head
        }
        _ => text,
    };
    DateTime::parse_from_str(zoned, "%Y-%m-%d %H:%M:%S%.f %z")
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

/// What a timestamp field holds when the sender left it out or wrote something that is
/// no time: [`de_or_unknown`] gives it, and whoever reads the payload replaces it (with
/// the time the delivery was received, as GitLab does) and notes that it did.
pub const UNKNOWN: Timestamp = DateTime::<Utc>::MIN_UTC;

/// Serde default: [`UNKNOWN`].
pub fn unknown() -> Timestamp {
    UNKNOWN
}

/// Serde helper: a timestamp in any form [`parse`] reads; anything else (absent, null,
/// a number, an object, text that is no time) is [`UNKNOWN`], never an error.
pub fn de_or_unknown<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    struct Lenient;
    impl<'de> serde::de::Visitor<'de> for Lenient {
        type Value = Timestamp;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a timestamp")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
            Ok(parse(v).unwrap_or(UNKNOWN))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Timestamp, E> {
            Ok(UNKNOWN)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Timestamp, E> {
            Ok(UNKNOWN)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Timestamp, D::Error> {
            d.deserialize_any(Lenient)
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Timestamp, E> {
            Ok(UNKNOWN)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Timestamp, E> {
            Ok(UNKNOWN)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Timestamp, E> {
            Ok(UNKNOWN)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Timestamp, E> {
            Ok(UNKNOWN)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Timestamp, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(UNKNOWN)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Timestamp, A::Error> {
            while a
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(UNKNOWN)
        }
    }
    d.deserialize_any(Lenient)
}

/// Serde helper: an optional timestamp; one that cannot be read counts as absent.
pub fn de_opt_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    Ok(Some(de_or_unknown(d)?).filter(|t| *t != UNKNOWN))
}

/// Serde helper: write a timestamp in the status page form.
pub fn ser<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

/// Serde helper: write an optional timestamp in the status page form (with
/// `skip_serializing_if = "Option::is_none"`, or as null).
pub fn ser_opt<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format(t)),
        None => s.serialize_none(),
    }
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
        // Nanoseconds and offsets, as Go writes them.
        assert_eq!(
            format(&parse("2024-01-18T12:03:34.872839876+01:00").unwrap()),
            "2024-01-18T11:03:34.872Z"
        );
        assert_eq!(
            format(&parse("2024-01-18 12:03:34.872839876 +0100 CET").unwrap()),
            "2024-01-18T11:03:34.872Z"
        );
    }

    #[test]
    fn lenient_fields_never_fail() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default = "unknown", deserialize_with = "de_or_unknown")]
            at: Timestamp,
        }
        for (json, want) in [
            (
                r#"{"at":"2013-12-03T17:15:43Z"}"#,
                parse("2013-12-03T17:15:43Z"),
            ),
            (r#"{"at":"soon"}"#, None),
            (r#"{"at":null}"#, None),
            (r#"{"at":12}"#, None),
            (r#"{"at":{"a":[1]}}"#, None),
            (r#"{"at":[1,{"b":2}]}"#, None),
            (r#"{}"#, None),
        ] {
            let t: T = serde_json::from_str(json).unwrap();
            assert_eq!(t.at, want.unwrap_or(UNKNOWN), "{json}");
        }
    }

    /// What a sender controls is a time or none, never a panic: chrono's last and first
    /// dates and past them, offsets past a day, digits past any field, multibyte text
    /// where digits go.
    #[test]
    fn hostile_timestamps_are_none_or_in_range() {
        for (text, reads) in [
            ("+262142-12-31 23:59:59 +0000", true),
            ("+262142-12-31 23:59:59 -1400", false),
            ("+262143-01-01 00:00:00 UTC", false),
            ("-262143-01-01 00:00:00 +1400", false),
            ("9999-12-31T23:59:59-23:59", true),
            ("0000-01-01T00:00:00+23:59", true),
            ("2024-01-01T00:00:00+24:00", false),
            ("2024-01-01T00:00:00.99999999999999999999Z", true),
            ("2024-01-01 00:00:00.5 +0100 CEST", true),
            ("2024-01-01 00:00:99 UTC", false),
            ("99999999999999999999-01-01T00:00:00Z", false),
            ("2024-01-0é 00:00:00 UTC", false),
            ("2024-01-01T00:00:00Z日本", false),
            ("2024-01-01 00:00:00 +01:00 日本", false),
            ("+20000-01-01T00:00:00.000Z", true),
            ("-0001-12-31T00:00:00Z", true),
            ("+262142-12-31T23:59:59.999Z", true),
            ("+262143-01-01T00:00:00.000Z", false),
        ] {
            let t = parse(text);
            assert_eq!(t.is_some(), reads, "{text}: {t:?}");
            if let Some(t) = t {
                assert!(t >= UNKNOWN, "{text}");
                // What the status page writes of it reads back.
                assert_eq!(
                    parse(&format(&t)).map(|b| b.timestamp_millis()),
                    Some(t.timestamp_millis()),
                    "{text}"
                );
            }
        }
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
