//! `ALERT_FIELD_MAP`: fields of any JSON body mapped onto GitLab's generic alert, so a
//! tool that cannot change its payload still works. A JSON object from generic field
//! to dotted path: `{"title": "summary", "severity": "labels.priority",
//! "fingerprint": "id"}`; a number in a path indexes a list (`hosts.0`). A mapped
//! field replaces the body's own; the body's keys stay the alert's extra keys.

use serde_json::{Map, Value};

use super::GENERIC_FIELDS;

/// Whether a map may fill `field`: the generic alert's fields, and `runbook` (read from
/// its extra keys).
fn fillable(field: &str) -> bool {
    GENERIC_FIELDS.contains(&field) || field == "runbook"
}

/// A parsed map: each field with the path it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap(Vec<(String, String)>);

impl FieldMap {
    pub fn parse(json: &str) -> Result<FieldMap, String> {
        let map: Map<String, Value> = serde_json::from_str(json)
            .map_err(|e| format!("must be a JSON object of dotted paths: {e}"))?;
        let mut out = Vec::with_capacity(map.len());
        for (field, path) in map {
            if !fillable(&field) {
                return Err(format!(
                    "{field:?} is not a field of the generic alert ({}, runbook)",
                    GENERIC_FIELDS.join(", ")
                ));
            }
            match path {
                Value::String(p) if !p.is_empty() && !p.split('.').any(str::is_empty) => {
                    out.push((field, p))
                }
                other => {
                    return Err(format!(
                        "{field}: {other} is not a dotted path such as \"labels.priority\""
                    ));
                }
            }
        }
        Ok(FieldMap(out))
    }

    /// The path `field` is taken from.
    pub fn path(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, p)| p.as_str())
    }

    /// The body with each mapped field set from its path (left out where the body
    /// has nothing there).
    pub fn apply(&self, body: &Map<String, Value>) -> Map<String, Value> {
        let mut out = body.clone();
        for (field, path) in &self.0 {
            match lookup(body, path) {
                Some(v) if !v.is_null() => out.insert(field.clone(), v.clone()),
                _ => out.remove(field),
            };
        }
        out
    }
}

fn lookup<'a>(body: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = body.get(parts.next()?)?;
    for p in parts {
        v = match v {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_into_objects_and_lists() {
        let m = FieldMap::parse(r#"{"title": "summary", "severity": "labels.priority", "fingerprint": "id", "hosts": "targets.0.name", "service": "nowhere.at.all"}"#).unwrap();
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"summary": "Disk full", "labels": {"priority": "P1"}, "id": 42, "targets": [{"name": "db-1"}], "service": "kept?"}"#,
        )
        .unwrap();
        let out = m.apply(&body);
        assert_eq!(out["title"], "Disk full");
        assert_eq!(out["severity"], "P1");
        assert_eq!(out["fingerprint"], 42);
        assert_eq!(out["hosts"], "db-1");
        assert!(
            !out.contains_key("service"),
            "a mapped field with nothing at its path is absent"
        );
        assert_eq!(out["summary"], "Disk full", "the body's keys stay");
        assert_eq!(m.path("severity"), Some("labels.priority"));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (json, want) in [
            ("[]", "JSON object"),
            (r#"{"name": "x"}"#, "\"name\" is not a field"),
            (r#"{"title": 3}"#, "title: 3 is not a dotted path"),
            (r#"{"title": "a..b"}"#, "not a dotted path"),
        ] {
            let e = FieldMap::parse(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }
}
