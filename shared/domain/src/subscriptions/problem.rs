//! What was wrong with a request, in the reader's words: a key of the catalogues
//! under `subscriptions.problem.` with its arguments. In English it is the `error`
//! of a JSON answer and of `Display`; a page says it in the page's language.

use std::fmt;

use crate::i18n::{Language, catalogue};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key after `subscriptions.problem.`.
    key: &'static str,
    args: Vec<(&'static str, String)>,
}

impl Problem {
    pub fn new(key: &'static str) -> Problem {
        Problem {
            key,
            args: Vec::new(),
        }
    }

    /// With the argument `{name}`.
    pub fn with(mut self, name: &'static str, value: impl ToString) -> Problem {
        self.args.push((name, value.to_string()));
        self
    }

    /// The problem in `language`, as a clause: `the address has no @, ...`.
    pub fn text(&self, language: Language) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        catalogue(language).format(&format!("subscriptions.problem.{}", self.key), &args)
    }

    /// The problem in `language` as a sentence of its own, as a page shows it.
    pub fn sentence(&self, language: Language) -> String {
        catalogue(language).format(
            "subscriptions.problem.sentence",
            &[("problem", &capitalized(&self.text(language)))],
        )
    }
}

/// `text` with its first letter in upper case (the rest as it is).
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// In English.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Language::En))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_in_english_and_on_a_page() {
        let p = Problem::new("too_large").with("max", 16384);
        assert_eq!(p.to_string(), "the form is larger than 16384 bytes");
        assert_eq!(
            p.sentence(Language::En),
            "The form is larger than 16384 bytes."
        );
        assert_eq!(
            Problem::new("address.no_at").sentence(Language::De),
            "Die Adresse enthält kein @, wie in name@example.com."
        );
        assert!(
            Problem::new("address.no_at")
                .sentence(Language::Ja)
                .ends_with('。')
        );
    }
}
