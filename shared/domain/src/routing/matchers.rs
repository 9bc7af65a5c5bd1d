//! Label matchers in Alertmanager's syntax, as `amtool`, silences and routes write
//! them: `alertname=~"Disk.*", env="prod"`, optionally in braces
//! (`{severity!="info"}`).
//!
//! - Operators: `=` (equal), `!=` (not equal), `=~` (regex), `!~` (not regex).
//! - Values in double quotes (escapes `\"`, `\\`, `\n`, `\t`) or bare up to the next
//!   comma or brace; label names as Prometheus writes them (`[A-Za-z_:][A-Za-z0-9_:]*`)
//!   or in double quotes (Alertmanager's UTF-8 names).
//! - Regexes are anchored at both ends, as in Alertmanager: `env=~"prod"` does not
//!   match `preprod`.
//! - A label the alert does not carry reads as empty: `team=""` matches alerts without
//!   a team, `team!=""` only those with one.
//! - Every matcher must match; no matcher at all (`""` or `{}`) matches everything.
//!
//! Alert routing (`ALERT_CHANNELS`) and maintenance muting (`Mute:` lines) read them
//! with [`Matchers::parse`] and test a label set with [`Matchers::matches`].

use std::fmt;

use regex_lite::Regex;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        }
    }
}

/// One matcher: a label, an operator and a value.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    /// How `=~` and `!~` compare.
    pattern: Option<Pattern>,
}

/// A regex value, compiled. Most matchers written by hand are a list of words or
/// prefixes (`critical|high`, `Disk.*|Node.*`); those compare as strings, which is
/// several times faster than the regex engine (Prometheus optimises its regex matchers
/// the same way); anything else goes to the regex.
#[derive(Debug, Clone)]
enum Pattern {
    /// Alternatives, each a literal (`false`) or a literal prefix followed by `.*` (`true`).
    Words(Vec<(String, bool)>),
    Regex(Regex),
}

impl Pattern {
    fn new(value: &str) -> Result<Pattern, regex_lite::Error> {
        match Pattern::words(value) {
            Some(words) => Ok(Pattern::Words(words)),
            None => Regex::new(&format!("^(?:{value})$")).map(Pattern::Regex),
        }
    }

    /// The alternatives of a value made only of literals and trailing `.*`.
    fn words(value: &str) -> Option<Vec<(String, bool)>> {
        value
            .split('|')
            .map(|branch| {
                let (literal, prefix) = match branch.strip_suffix(".*") {
                    Some(l) => (l, true),
                    None => (branch, false),
                };
                let plain = !literal.contains([
                    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
                ]);
                plain.then(|| (literal.to_owned(), prefix))
            })
            .collect()
    }

    fn is_match(&self, v: &str) -> bool {
        match self {
            // `.` matches anything but a line feed, as in the regex.
            Pattern::Words(words) => words.iter().any(|(w, prefix)| match prefix {
                false => v == w,
                true => v
                    .strip_prefix(w.as_str())
                    .is_some_and(|rest| !rest.contains('\n')),
            }),
            Pattern::Regex(re) => re.is_match(v),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

impl Matcher {
    /// A matcher; the value of `=~` and `!~` must be a valid regex.
    pub fn new(name: &str, op: Op, value: &str) -> Result<Matcher, MatcherError> {
        let pattern = match op {
            Op::Regex | Op::NotRegex => Some(Pattern::new(value).map_err(|e| MatcherError {
                at: 0,
                why: format!("{name}{}{value:?}: not a valid regex: {e}", op.as_str()),
            })?),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            pattern,
        })
    }

    /// Whether the label's value (empty when absent) satisfies the matcher.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match (self.op, &self.pattern) {
            (Op::Equal, _) => v == self.value,
            (Op::NotEqual, _) => v != self.value,
            (Op::Regex, Some(p)) => p.is_match(v),
            (Op::NotRegex, Some(p)) => !p.is_match(v),
            // `new` gives every regex operator its pattern.
            (_, None) => false,
        }
    }
}

/// A parse error: where in the text, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why} (at character {at})")]
pub struct MatcherError {
    pub at: usize,
    pub why: String,
}

/// A list of matchers that must all match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Reads `name="value", name=~"regex", ...`, optionally in braces.
    pub fn parse(text: &str) -> Result<Matchers, MatcherError> {
        Parser {
            s: text.as_bytes(),
            text,
            i: 0,
        }
        .matchers()
    }

    /// Whether every matcher holds for the labels `label` gives (`None`: absent).
    pub fn matches<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|m| m.matches_value(label(&m.name)))
    }

    /// No matcher: everything matches.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::str::FromStr for Matchers {
    type Err = MatcherError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Matchers::parse(s)
    }
}

impl fmt::Display for Matchers {
    /// The canonical form: `{name="value", ...}` with every value quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let plain = m
                .name
                .bytes()
                .enumerate()
                .all(|(i, b)| name_byte(b, i == 0));
            if plain && !m.name.is_empty() {
                f.write_str(&m.name)?;
            } else {
                write!(f, "{}", quote(&m.name))?;
            }
            write!(f, "{}{}", m.op.as_str(), quote(&m.value))?;
        }
        f.write_str("}")
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A byte of a Prometheus label name (`first`: the first byte).
fn name_byte(b: u8, first: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit())
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, why: impl Into<String>) -> Result<T, MatcherError> {
        Err(MatcherError {
            at: self.text[..self.i.min(self.text.len())].chars().count() + 1,
            why: why.into(),
        })
    }

    fn skip_space(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn matchers(mut self) -> Result<Matchers, MatcherError> {
        self.skip_space();
        let braced = self.peek() == Some(b'{');
        if braced {
            self.i += 1;
        }
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None if braced => return self.err("missing closing }"),
                None => break,
                Some(b'}') if braced => {
                    self.i += 1;
                    self.skip_space();
                    if self.peek().is_some() {
                        return self.err("unexpected text after }");
                    }
                    break;
                }
                Some(_) => {}
            }
            out.push(self.matcher()?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') if braced => {}
                None => {}
                Some(c) => {
                    return self.err(format!(
                        "expected a comma between matchers, found {:?}",
                        c as char
                    ));
                }
            }
        }
        Ok(Matchers(out))
    }

    fn matcher(&mut self) -> Result<Matcher, MatcherError> {
        let start = self.i;
        let name = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            while self.peek().is_some_and(|b| name_byte(b, self.i == start)) {
                self.i += 1;
            }
            if self.i == start {
                return self.err("expected a label name");
            }
            self.text[start..self.i].to_owned()
        };
        if name.is_empty() {
            return self.err("a label name cannot be empty");
        }
        self.skip_space();
        let op = match (self.peek(), self.s.get(self.i + 1).copied()) {
            (Some(b'='), Some(b'~')) => Op::Regex,
            (Some(b'!'), Some(b'=')) => Op::NotEqual,
            (Some(b'!'), Some(b'~')) => Op::NotRegex,
            (Some(b'='), _) => Op::Equal,
            _ => {
                return self.err(format!(
                    "expected =, !=, =~ or !~ after the label name {name:?}"
                ));
            }
        };
        self.i += op.as_str().len();
        self.skip_space();
        let value_at = self.i;
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            while self
                .peek()
                .is_some_and(|b| b != b',' && b != b'}' && b != b'"')
            {
                self.i += 1;
            }
            if self.peek() == Some(b'"') {
                return self.err("a quote inside an unquoted value");
            }
            self.text[value_at..self.i].trim_end().to_owned()
        };
        Matcher::new(&name, op, &value).map_err(|mut e| {
            e.at = self.text[..value_at].chars().count() + 1;
            e
        })
    }

    /// A double-quoted string, with its escapes.
    fn quoted(&mut self) -> Result<String, MatcherError> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.text[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '"' => {
                    self.i += off + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c @ ('"' | '\\'))) => out.push(c),
                    Some((o, c)) => {
                        self.i += o;
                        return self.err(format!("unknown escape \\{c}"));
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.i = self.s.len();
        self.err("a quoted string is not closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(m: &str, l: &BTreeMap<String, String>) -> bool {
        Matchers::parse(m)
            .unwrap_or_else(|e| panic!("{m}: {e}"))
            .matches(|n| l.get(n).map(String::as_str))
    }

    #[test]
    fn alertmanager_forms() {
        let l = labels(&[
            ("alertname", "DiskFull"),
            ("env", "prod"),
            ("severity", "critical"),
        ]);
        assert!(check(r#"alertname=~"Disk.*", env="prod""#, &l));
        assert!(check(r#"{alertname=~"Disk.*",env="prod",}"#, &l));
        assert!(check("alertname=~Disk.*, env = prod", &l));
        assert!(check(r#"severity!="info""#, &l));
        assert!(check(r#"severity!~"info|warning""#, &l));
        assert!(!check(r#"env=~"pro""#, &l), "regexes are anchored");
        assert!(!check(r#"env="prod", severity="warning""#, &l));
        assert!(check("", &l) && check("{}", &l) && check(" { } ", &l));
        // A missing label reads as empty.
        assert!(check(r#"team="""#, &l));
        assert!(!check(r#"team!="""#, &l));
        assert!(check(r#"team=~".*""#, &l));
        // UTF-8 names and escapes.
        let l = labels(&[("service.name", "a\"b\\c\nd")]);
        assert!(check(r#""service.name"="a\"b\\c\nd""#, &l));
    }

    #[test]
    fn round_trips_through_display() {
        let m = Matchers::parse(r#"alertname=~"Disk.*", "a.b"!="x\"y", env=prod"#).unwrap();
        let text = m.to_string();
        assert_eq!(text, r#"{alertname=~"Disk.*", "a.b"!="x\"y", env="prod"}"#);
        assert_eq!(Matchers::parse(&text).unwrap(), m);
    }

    #[test]
    fn words_and_prefixes_compare_as_the_regex_does() {
        let patterns = [
            "critical|high",
            "Disk.*|Node.*",
            "api-.*",
            ".*",
            "",
            "a|",
            "info",
            "prod.*|staging",
        ];
        let values = [
            "",
            "critical",
            "high",
            "critical|high",
            "Disk",
            "DiskFull",
            "disk",
            "Node\nDown",
            "api-",
            "api-1:9100",
            "xapi-1",
            "a",
            "info",
            "information",
            "prod",
            "production",
            "staging2",
            "héllo",
        ];
        for p in patterns {
            let fast = Pattern::new(p).unwrap();
            assert!(matches!(fast, Pattern::Words(_)), "{p} compares as words");
            let re = Regex::new(&format!("^(?:{p})$")).unwrap();
            for v in values {
                assert_eq!(fast.is_match(v), re.is_match(v), "{p:?} on {v:?}");
            }
        }
        for p in [
            "a+", "(a|b)", "[ab]", "a.b", "a\\.b", "^a", ".+", "a{2}", "x?",
        ] {
            assert!(
                matches!(Pattern::new(p).unwrap(), Pattern::Regex(_)),
                "{p} goes to the regex"
            );
        }
    }

    #[test]
    fn errors_say_where_and_what() {
        for (text, what, at) in [
            ("env", "expected =, !=, =~ or !~", 4),
            (r#"env="prod" sev="x""#, "expected a comma", 12),
            (r#"{env="prod""#, "missing closing }", 12),
            (r#"env="prod"#, "not closed", 10),
            (r#"env=~"(""#, "not a valid regex", 6),
            ("=x", "expected a label name", 1),
            (r#"{a="b"} c"#, "unexpected text after }", 9),
            (r#"a="\q""#, "unknown escape", 5),
            ("1a=b", "expected a label name", 1),
        ] {
            let e = Matchers::parse(text).unwrap_err();
            assert!(e.why.contains(what), "{text}: {e}");
            assert_eq!(e.at, at, "{text}: {e}");
        }
    }
}
