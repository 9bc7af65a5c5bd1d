//! Every string a reader or a maintainer sees, in their language: one catalogue per
//! language (`shared/domain/locales/<code>.txt`), holding the strings of every
//! capability under its own prefix (`site.`, `feed.`, `alert.`, ...), plus how that
//! language writes dates, numbers and plurals.
//!
//! A catalogue is lines of `key = text`; `#` starts a comment line. A text may name
//! arguments in braces (`Updated {time}`). A key that depends on a number comes as
//! `key.one` and `key.other`, chosen by the language's plural rule. Every catalogue
//! holds exactly the keys of the English one, with the same arguments (tested).
//!
//! Templates call `t("key", name=value, ...)` with the language in the context
//! variable `lang`; a `count` argument picks the plural form. A capability adds its
//! strings by adding keys under its prefix to every catalogue.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Timelike};

pub use crate::config::Language;
use crate::time::Timestamp;

/// The source of a language's catalogue.
fn source(language: Language) -> &'static str {
    match language {
        Language::En => include_str!("../locales/en.txt"),
        Language::De => include_str!("../locales/de.txt"),
        Language::Fr => include_str!("../locales/fr.txt"),
        Language::Es => include_str!("../locales/es.txt"),
        Language::Pt => include_str!("../locales/pt.txt"),
        Language::Ja => include_str!("../locales/ja.txt"),
    }
}

/// One language's strings.
#[derive(Debug)]
pub struct Catalogue {
    pub language: Language,
    entries: HashMap<&'static str, &'static str>,
}

/// A line of a catalogue that is no `key = text`: its number (from 1), and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct CatalogueError {
    pub line: usize,
    pub why: String,
}

/// Reads a catalogue: `key = text` lines, `#` comments, blank lines.
pub fn parse(src: &'static str) -> Result<HashMap<&'static str, &'static str>, CatalogueError> {
    let mut entries = HashMap::new();
    for (n, line) in src.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, text) = line.split_once('=').ok_or_else(|| CatalogueError {
            line: n + 1,
            why: format!("no `=` in {line:?}"),
        })?;
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(CatalogueError {
                line: n + 1,
                why: format!("{key:?} is no key"),
            });
        }
        if entries.insert(key, text.trim()).is_some() {
            return Err(CatalogueError {
                line: n + 1,
                why: format!("{key} given twice"),
            });
        }
    }
    Ok(entries)
}

/// Each language's catalogue, read when first asked for: a function that speaks one
/// language reads one (at most English beside it, for a missing text).
static CATALOGUES: [OnceLock<Catalogue>; Language::ALL.len()] =
    [const { OnceLock::new() }; Language::ALL.len()];

/// The catalogue of `language`.
pub fn catalogue(language: Language) -> &'static Catalogue {
    let at = Language::ALL
        .iter()
        .position(|l| *l == language)
        .unwrap_or(0);
    CATALOGUES[at].get_or_init(|| Catalogue {
        language,
        // Compiled in and tested: a catalogue that does not parse is a build error in
        // all but name.
        entries: parse(source(language))
            .unwrap_or_else(|e| panic!("catalogue {}: {e}", language.code())),
    })
}

/// The arguments a text names, in order: `{time}` gives `time`.
pub fn arguments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push(&rest[start + 1..start + len]);
        rest = &rest[start + len + 1..];
    }
    out
}

/// Whether `n` takes the `.one` form (CLDR's cardinal rules for integers).
fn is_one(language: Language, n: u64) -> bool {
    match language {
        Language::En | Language::De | Language::Es => n == 1,
        // French and Portuguese count 0 and 1 as one; Japanese has no plural.
        Language::Fr | Language::Pt => n <= 1,
        Language::Ja => false,
    }
}

impl Catalogue {
    /// The text of `key`: this language's, else English, else the key itself (tests
    /// make sure it never comes to that).
    pub fn text(&self, key: &str) -> &'static str {
        self.entries
            .get(key)
            .or_else(|| catalogue(Language::En).entries.get(key))
            .copied()
            .unwrap_or_else(|| {
                tracing::warn!(key, "no text in any catalogue");
                ""
            })
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<_> = self.entries.keys().copied().collect();
        keys.sort_unstable();
        keys
    }

    /// The text of `key`, or `fallback` if the catalogues have none (values from
    /// elsewhere, such as a severity GitLab may name in new ways).
    pub fn text_or<'a>(&self, key: &str, fallback: &'a str) -> &'a str
    where
        'static: 'a,
    {
        match self.entries.get(key) {
            Some(t) => t,
            None => fallback,
        }
    }

    /// The text of `key` with its arguments filled in.
    pub fn format(&self, key: &str, args: &[(&str, &str)]) -> String {
        fill(self.text(key), args)
    }

    /// `key.one` or `key.other` for `count`, which is also the argument `{count}`.
    pub fn plural(&self, key: &str, count: u64, args: &[(&str, &str)]) -> String {
        let form = if is_one(self.language, count) {
            "one"
        } else {
            "other"
        };
        let n = count.to_string();
        let mut all = vec![("count", n.as_str())];
        all.extend_from_slice(args);
        fill(self.text(&format!("{key}.{form}")), &all)
    }

    /// A day: `30 Nov 2026`, `30. Nov. 2026`, `2026年11月30日`.
    pub fn date(&self, d: NaiveDate) -> String {
        let month = self.text(&format!("date.month.{}", d.month()));
        fill(
            self.text("date.day"),
            &[
                ("d", &d.day().to_string()),
                ("m", &d.month().to_string()),
                ("month", month),
                ("y", &d.year().to_string()),
            ],
        )
    }

    /// A month: `November 2026`, `noviembre de 2026`.
    pub fn month(&self, year: i32, month: u32) -> String {
        fill(
            self.text("date.month_year"),
            &[
                ("month", self.text(&format!("date.month_long.{month}"))),
                ("m", &month.to_string()),
                ("y", &year.to_string()),
            ],
        )
    }

    /// A time in UTC: `30 Nov 2026, 14:05 UTC`.
    pub fn date_time(&self, t: &Timestamp) -> String {
        fill(
            self.text("date.date_time"),
            &[
                ("date", &self.date(t.date_naive())),
                ("time", &format!("{:02}:{:02}", t.hour(), t.minute())),
            ],
        )
    }

    /// How long `d` is, to the minute: `12 min`, `2 h 5 min`, `3 d 4 h`.
    pub fn duration(&self, d: chrono::TimeDelta) -> String {
        let minutes = d.num_minutes().max(0);
        let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
        let (d, h, m) = (days.to_string(), hours.to_string(), mins.to_string());
        let args = [("d", d.as_str()), ("h", h.as_str()), ("m", m.as_str())];
        match (days, hours) {
            (0, 0) => self.format("archive.duration.minutes", &args),
            (0, _) => self.format("archive.duration.hours", &args),
            _ => self.format("archive.duration.days", &args),
        }
    }

    /// A percentage with two decimals: `99.95%`, `99,95 %`.
    pub fn percent(&self, p: f64) -> String {
        let n = format!("{p:.2}").replace('.', self.text("number.decimal"));
        fill(self.text("number.percent"), &[("n", &n)])
    }
}

/// `text` with each `{name}` of `args` replaced; other braces stay.
fn fill(text: &str, args: &[(&str, &str)]) -> String {
    if !text.contains('{') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}').and_then(|end| {
            args.iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|a| (end, a.1))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `t(key, name=value, ...)` for templates: the language is the context's `lang`; a
/// `count` argument picks the plural form of a key given as `key.one`/`key.other`.
/// In HTML templates the text is escaped and so is every argument not already marked
/// safe, so a sentence may hold markup such as a `<time>` element in the right place
/// for its language; the result is safe HTML.
pub fn template_function(
    state: &minijinja::State,
    key: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Language::parse))
        .ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::UndefinedError,
                "t(): the template's context has no `lang`",
            )
        })?;
    let html = state.auto_escape() != minijinja::AutoEscape::None;
    let escape = |s: &str| {
        if html {
            openmic_render::escape_text(s)
        } else {
            s.to_owned()
        }
    };
    let cat = catalogue(lang);
    let mut values = Vec::new();
    for name in kwargs.args() {
        let v: minijinja::Value = kwargs.get(name)?;
        let text = if v.is_safe() {
            v.to_string()
        } else {
            escape(&v.to_string())
        };
        values.push((name, text));
    }
    let args: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let en = catalogue(Language::En);
    let text = if en.has(key) {
        fill(&escape(cat.text(key)), &args)
    } else if let Some(count) = kwargs.get::<Option<u64>>("count")?
        && en.has(&format!("{key}.other"))
    {
        let form = if is_one(lang, count) { "one" } else { "other" };
        fill(&escape(cat.text(&format!("{key}.{form}"))), &args)
    } else {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            format!("t(): no text {key:?} in the catalogues"),
        ));
    };
    Ok(if html {
        minijinja::Value::from_safe_string(text)
    } else {
        minijinja::Value::from(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn set<'a>(v: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
        v.into_iter().collect()
    }

    #[test]
    fn a_line_that_is_no_entry_is_named() {
        let error = |line, why: &str| CatalogueError {
            line,
            why: why.into(),
        };
        assert_eq!(
            parse("# c\n\na = b\nnothing"),
            Err(error(4, "no `=` in \"nothing\""))
        );
        assert_eq!(parse("a b = c"), Err(error(1, "\"a b\" is no key")));
        assert_eq!(
            parse("a = b\na = c").unwrap_err().to_string(),
            "line 2: a given twice"
        );
    }

    #[test]
    fn every_catalogue_parses_and_holds_the_english_keys_with_their_arguments() {
        let en = catalogue(Language::En);
        assert!(en.keys().len() > 100, "{}", en.keys().len());
        for language in Language::ALL {
            let src = source(language);
            parse(src).unwrap_or_else(|e| panic!("{}: {e}", language.code()));
            let cat = catalogue(language);
            assert_eq!(
                set(cat.keys()),
                set(en.keys()),
                "{}: the same keys as English",
                language.code()
            );
            for key in en.keys() {
                let args = set(arguments(cat.text(key)));
                if key.starts_with("date.") {
                    // A language writes a date from what it needs of these.
                    let given = set(["d", "m", "month", "y", "date", "time"]);
                    assert!(
                        args.is_subset(&given),
                        "{}: {key}: {args:?}",
                        language.code()
                    );
                    continue;
                }
                assert_eq!(
                    args,
                    set(arguments(en.text(key))),
                    "{}: {key} names other arguments than in English",
                    language.code()
                );
                assert!(
                    !cat.text(key).is_empty(),
                    "{}: {key} is empty",
                    language.code()
                );
            }
            for month in 1..=12 {
                assert!(cat.has(&format!("date.month.{month}")));
                assert!(cat.has(&format!("date.month_long.{month}")));
            }
        }
    }

    #[test]
    fn dates_numbers_and_plurals_in_each_language() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let t = crate::time::parse("2026-03-05T14:05:09Z").unwrap();
        let want = [
            (
                Language::En,
                "30 Nov 2026",
                "5 Mar 2026, 14:05 UTC",
                "November 2026",
                "99.95%",
            ),
            (
                Language::De,
                "30. Nov. 2026",
                "5. März 2026, 14:05 UTC",
                "November 2026",
                "99,95\u{a0}%",
            ),
            (
                Language::Fr,
                "30 nov. 2026",
                "5 mars 2026, 14:05 UTC",
                "novembre 2026",
                "99,95\u{a0}%",
            ),
            (
                Language::Es,
                "30 nov 2026",
                "5 mar 2026, 14:05 UTC",
                "noviembre de 2026",
                "99,95\u{a0}%",
            ),
            (
                Language::Pt,
                "30 de nov. de 2026",
                "5 de mar. de 2026, 14:05 UTC",
                "novembro de 2026",
                "99,95%",
            ),
            (
                Language::Ja,
                "2026年11月30日",
                "2026年3月5日 14:05 UTC",
                "2026年11月",
                "99.95%",
            ),
        ];
        for (lang, day, time, month, percent) in want {
            let c = catalogue(lang);
            assert_eq!(c.date(d), day, "{lang:?}");
            assert_eq!(c.date_time(&t), time, "{lang:?}");
            assert_eq!(c.month(2026, 11), month, "{lang:?}");
            assert_eq!(c.percent(99.95), percent, "{lang:?}");
        }
        let en = catalogue(Language::En);
        assert_eq!(en.plural("site.incidents", 1, &[]), "1 incident");
        assert_eq!(en.plural("site.incidents", 0, &[]), "0 incidents");
        assert_eq!(
            catalogue(Language::Fr).plural("site.incidents", 0, &[]),
            "0 incident"
        );
        assert_eq!(
            catalogue(Language::De).plural("site.incidents", 2, &[]),
            "2 Vorfälle"
        );
    }

    #[test]
    fn filling_leaves_unknown_braces_and_missing_keys_fall_back() {
        assert_eq!(fill("{a} and {b}", &[("a", "x")]), "x and {b}");
        assert_eq!(fill("no args", &[("a", "x")]), "no args");
        assert_eq!(fill("{", &[]), "{");
        assert_eq!(catalogue(Language::De).text("no.such.key"), "");
        assert_eq!(
            arguments("{date}: {state}, {count}"),
            vec!["date", "state", "count"]
        );
    }
}
