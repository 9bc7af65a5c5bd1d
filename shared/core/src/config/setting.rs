//! A setting declared once: its environment variable as the docs, the template and the
//! start-up checks know it ([`Variable`]), and the parser that reads its value. The
//! default the docs give (`` `4h` ``) is the value taken when the variable is unset,
//! read by the same parser, so what the docs say and what openmic does cannot differ.

use super::{Accepted, ConfigError, Secret, Variable};

/// Why a value is not taken. The variable is named by [`Setting::read`], so a parser
/// only says what is wrong (never echoing a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

impl Rejected {
    pub fn new(why: impl Into<String>) -> Self {
        Rejected(why.into())
    }
}

/// A variable and how its value is read.
#[derive(Debug, Clone, Copy)]
pub struct Setting<T> {
    pub variable: Variable,
    pub parse: fn(&str) -> Result<T, Rejected>,
}

impl<T> Setting<T> {
    /// The environment variable.
    pub const fn name(&self) -> &'static str {
        self.variable.name
    }

    /// The value given through `get` (trimmed, empty counting as unset), else the
    /// declared default, else `None`; parsed, an error naming the variable.
    pub fn read(&self, get: &impl Fn(&str) -> Option<String>) -> Result<Option<T>, ConfigError> {
        let value = get(self.name()).or_else(|| self.variable.default_value().map(str::to_owned));
        value
            .map(|v| (self.parse)(&v).map_err(|r| self.invalid(r.0)))
            .transpose()
    }

    /// The value, for a setting the docs give a default: unset without one is
    /// [`ConfigError::Missing`].
    pub fn value(&self, get: &impl Fn(&str) -> Option<String>) -> Result<T, ConfigError> {
        self.read(get)?.ok_or_else(|| self.missing())
    }

    /// The value, unset being the empty one (no list, no set).
    pub fn or_empty(&self, get: &impl Fn(&str) -> Option<String>) -> Result<T, ConfigError>
    where
        T: Default,
    {
        Ok(self.read(get)?.unwrap_or_default())
    }

    /// The error of this variable unset where it is needed.
    pub fn missing(&self) -> ConfigError {
        ConfigError::Missing(self.name())
    }

    /// An error naming this variable.
    pub fn invalid(&self, why: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            name: self.name(),
            why: why.into(),
        }
    }
}

impl Variable {
    /// The default as a value, when the docs give one (`` `4h` ``: one value in
    /// backticks); `none`, `required ...` and prose are no value.
    pub fn default_value(&self) -> Option<&'static str> {
        let inner = self.default.strip_prefix('`')?.strip_suffix('`')?;
        (!inner.contains('`')).then_some(inner)
    }
}

// The parsers several capabilities share.

/// The value as given.
pub fn text(v: &str) -> Result<String, Rejected> {
    Ok(v.to_owned())
}

/// A secret, never shown.
pub fn secret(v: &str) -> Result<Secret, Rejected> {
    Ok(Secret::new(v))
}

/// A shared secret callers present: `current[,previous]`.
pub fn accepted(v: &str) -> Result<Accepted, Rejected> {
    Accepted::read(v)
}

/// A URL kept without its trailing `/`.
pub fn base_url(v: &str) -> Result<String, Rejected> {
    Ok(v.trim_end_matches('/').to_owned())
}

/// An http(s) URL kept without its trailing `/`.
pub fn http_url(v: &str) -> Result<String, Rejected> {
    let url = base_url(v)?;
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        Err(Rejected::new("must start with https:// or http://"))
    }
}

/// A whole number.
pub fn number<T: std::str::FromStr>(v: &str) -> Result<T, Rejected> {
    v.parse()
        .map_err(|_| Rejected(format!("{v:?} is not a number")))
}

/// `true`/`false`, `on`/`off`, `yes`/`no`, `1`/`0`, in any case.
pub fn boolean(v: &str) -> Result<bool, Rejected> {
    match v.to_ascii_lowercase().as_str() {
        "false" | "0" | "no" | "off" => Ok(false),
        "true" | "1" | "yes" | "on" => Ok(true),
        other => Err(Rejected(format!("{other:?} is not true or false"))),
    }
}

/// `90s`, `30m`, `4h`, `1d`, or plain seconds.
pub fn duration(v: &str) -> Result<std::time::Duration, Rejected> {
    super::parse_duration(v).ok_or_else(|| {
        Rejected(format!(
            "{v:?} is not a duration such as 30m, 4h, 1d or 90s"
        ))
    })
}

/// A plain email address.
pub fn address(v: &str) -> Result<String, Rejected> {
    if super::is_address(v) {
        Ok(v.to_owned())
    } else {
        Err(Rejected(format!("{v:?} is not an email address")))
    }
}

/// Email addresses separated by commas, blanks or lines.
pub fn addresses(v: &str) -> Result<Vec<String>, Rejected> {
    split_list(v).map(address).collect()
}

/// The items of a list separated by commas, blanks or lines.
pub fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Function;

    const LIMIT: Setting<u32> = Setting {
        variable: Variable {
            name: "LIMIT",
            default: "`5`",
            meaning: "a test's",
            secret: false,
            read_by: &[Function::Webhook],
            required_by: &[],
        },
        parse: number,
    };

    #[test]
    fn unset_is_the_declared_default_parsed_and_errors_name_the_variable() {
        let unset = |_: &str| None;
        assert_eq!(LIMIT.value(&unset), Ok(5));
        let set = |_: &str| Some("7".to_owned());
        assert_eq!(LIMIT.value(&set), Ok(7));
        let bad = |_: &str| Some("many".to_owned());
        assert_eq!(
            LIMIT.value(&bad),
            Err(ConfigError::Invalid {
                name: "LIMIT",
                why: "\"many\" is not a number".into()
            })
        );
        let none = Setting {
            variable: Variable {
                default: "none",
                ..LIMIT.variable
            },
            ..LIMIT
        };
        assert_eq!(none.read(&unset), Ok(None));
        assert_eq!(none.value(&unset), Err(ConfigError::Missing("LIMIT")));
        assert_eq!(none.or_empty(&unset), Ok(0));
    }

    #[test]
    fn only_one_value_in_backticks_is_a_default_value() {
        let with = |default| Variable {
            default,
            ..LIMIT.variable
        };
        assert_eq!(with("`4h`").default_value(), Some("4h"));
        for prose in [
            "none",
            "required on AWS",
            "`Service status` in the page's language",
            "required when `SUBSCRIPTIONS=on`",
            "on AWS `https://<DomainName>` or the CloudFront address",
        ] {
            assert_eq!(with(prose).default_value(), None, "{prose}");
        }
    }
}
