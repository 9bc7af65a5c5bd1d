//! The command set, one for Slack and Mattermost: what follows `/incident`, parsed
//! into a [`Command`] or a [`Problem`] that says what is wrong (never a panic).
//!
//! ```text
//! declare <title> [sev1|sev2|sev3|sev4] [component …]
//! list
//! update <iid> [--public] <text>
//! ack <alert>
//! resolve <iid>
//! page <person|schedule> <text>
//! bridge <iid> <url>
//! help
//! ```
//!
//! Words are separated by blanks; a title of several words is quoted (`"…"`, or the
//! typographic quotes a chat client may put instead), or runs up to the severity.
//! An iid is `12` or `#12`. A text (`update`, `page`) is the rest of the line as
//! written. Slack escapes what a user typed (`&`, `<`, `>` as entities, and links,
//! mentions and channels as `<…>`): [`Command::parse_slack`] undoes that first.

use crate::intake::payload::Severity;

/// The longest command text read (Slack's slash commands take 4000 characters).
pub const MAX_TEXT: usize = 8000;
/// GitLab's limit on an issue's title.
pub const MAX_TITLE: usize = 255;

/// The commands, with their forms, for help and for the reply to an unknown one.
pub const USAGE: &[(&str, &str)] = &[
    (
        "declare <title> [sev1|sev2|sev3|sev4] [component …]",
        "open an incident",
    ),
    ("list", "open incidents and alerts, and who is on call"),
    (
        "update <iid> [--public] <text>",
        "add a note to an incident",
    ),
    ("ack <alert>", "acknowledge an alert"),
    ("resolve <iid>", "resolve an incident"),
    ("page <person|schedule> <text>", "page someone"),
    ("bridge <iid> <url>", "set an incident's call link"),
    ("help", "this list"),
];

/// One command, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Declare {
        title: String,
        severity: Option<Severity>,
        components: Vec<String>,
    },
    List,
    Update {
        iid: u64,
        public: bool,
        text: String,
    },
    Ack {
        alert: String,
    },
    Resolve {
        iid: u64,
    },
    Page {
        target: String,
        text: String,
    },
    Bridge {
        iid: u64,
        url: String,
    },
    Help,
}

/// What is wrong with a command's text, for the reply to whoever typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("`{0}` is not a command")]
    Unknown(String),
    #[error("`{command}` needs {what}")]
    Missing {
        command: &'static str,
        what: &'static str,
    },
    #[error("`{command}` takes nothing after {after}")]
    Extra {
        command: &'static str,
        after: &'static str,
    },
    #[error("`{0}` is not an incident number (give it as 12 or #12)")]
    BadIid(String),
    #[error("the call link must be an http(s) URL")]
    BadUrl,
    #[error("a quote is opened and never closed")]
    UnclosedQuote,
    #[error("the title is longer than {MAX_TITLE} characters")]
    TitleTooLong,
    #[error("`{0}` is not a component name (no commas or control characters)")]
    BadComponent(String),
    #[error("the command is longer than {MAX_TEXT} bytes")]
    TooLong,
}

/// A word of the command, and where the text after it starts.
struct Word {
    text: String,
    quoted: bool,
    end: usize,
}

fn opens_quote(c: char) -> Option<char> {
    match c {
        '"' => Some('"'),
        '\u{201c}' => Some('\u{201d}'),
        '\u{201e}' => Some('\u{201c}'),
        _ => None,
    }
}

/// The next word of `text` from byte `at` on, or none at its end.
fn next_word(text: &str, at: usize) -> Result<Option<Word>, Problem> {
    let rest = text.get(at..).unwrap_or_default();
    let Some((skip, first)) = rest.char_indices().find(|(_, c)| !c.is_whitespace()) else {
        return Ok(None);
    };
    let start = at + skip;
    if let Some(close) = opens_quote(first) {
        let inner = start + first.len_utf8();
        let body = text.get(inner..).unwrap_or_default();
        let Some(len) = body.find(close) else {
            return Err(Problem::UnclosedQuote);
        };
        return Ok(Some(Word {
            text: body[..len].to_owned(),
            quoted: true,
            end: inner + len + close.len_utf8(),
        }));
    }
    let body = &text[start..];
    let len = body.find(char::is_whitespace).unwrap_or(body.len());
    Ok(Some(Word {
        text: body[..len].to_owned(),
        quoted: false,
        end: start + len,
    }))
}

/// Every word from `at` on.
fn words(text: &str, mut at: usize) -> Result<Vec<Word>, Problem> {
    let mut out = Vec::new();
    while let Some(w) = next_word(text, at)? {
        at = w.end;
        out.push(w);
    }
    Ok(out)
}

/// `--public`, or `—public` as a chat client's autocorrection writes it.
fn is_public_flag(word: &str) -> bool {
    matches!(word, "--public" | "\u{2014}public" | "\u{2013}public")
}

fn severity(word: &str) -> Option<Severity> {
    match word.to_ascii_lowercase().as_str() {
        "sev1" => Some(Severity::Critical),
        "sev2" => Some(Severity::High),
        "sev3" => Some(Severity::Medium),
        "sev4" => Some(Severity::Low),
        _ => None,
    }
}

fn iid(word: &str) -> Result<u64, Problem> {
    let digits = word.strip_prefix('#').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::BadIid(shown(word)));
    }
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Problem::BadIid(shown(word))),
    }
}

/// At most 40 characters of a word, for a reply.
fn shown(word: &str) -> String {
    let mut s: String = word.chars().take(40).collect();
    if word.chars().nth(40).is_some() {
        s.push('…');
    }
    s
}

/// The rest of `text` after byte `at`, trimmed.
fn rest(text: &str, at: usize) -> String {
    text.get(at..).unwrap_or_default().trim().to_owned()
}

fn component(word: &str) -> Result<String, Problem> {
    if word.is_empty() || word.contains(',') || word.chars().any(char::is_control) {
        return Err(Problem::BadComponent(shown(word)));
    }
    Ok(word.to_owned())
}

fn declare(text: &str, at: usize) -> Result<Command, Problem> {
    let ws = words(text, at)?;
    let missing = Problem::Missing {
        command: "declare",
        what: "a title",
    };
    let first = ws.first().ok_or(missing.clone())?;
    let (title, after) = if first.quoted {
        (first.text.trim().to_owned(), 1)
    } else {
        let n = ws
            .iter()
            .position(|w| !w.quoted && severity(&w.text).is_some())
            .unwrap_or(ws.len());
        let title: Vec<&str> = ws[..n].iter().map(|w| w.text.as_str()).collect();
        (title.join(" "), n)
    };
    if title.is_empty() {
        return Err(missing);
    }
    if title.chars().count() > MAX_TITLE {
        return Err(Problem::TitleTooLong);
    }
    let mut rest = ws.get(after..).unwrap_or_default().iter();
    let mut sev = None;
    let mut components = Vec::new();
    let mut peek = rest.clone();
    if let Some(s) = peek
        .next()
        .filter(|w| !w.quoted)
        .and_then(|w| severity(&w.text))
    {
        sev = Some(s);
        rest = peek;
    }
    for w in rest {
        let c = component(&w.text)?;
        if !components.contains(&c) {
            components.push(c);
        }
    }
    Ok(Command::Declare {
        title,
        severity: sev,
        components,
    })
}

impl Command {
    /// Parses a command's text as the user typed it (Mattermost's, or Slack's after
    /// [`unescape_slack`]). An empty text is `help`.
    pub fn parse(text: &str) -> Result<Command, Problem> {
        if text.len() > MAX_TEXT {
            return Err(Problem::TooLong);
        }
        let Some(name) = next_word(text, 0)? else {
            return Ok(Command::Help);
        };
        let at = name.end;
        let one = |command: &'static str, what: &'static str| -> Result<Word, Problem> {
            next_word(text, at)?.ok_or(Problem::Missing { command, what })
        };
        let nothing_after = |from: usize, command: &'static str, after: &'static str| {
            match next_word(text, from)? {
                Some(_) => Err(Problem::Extra { command, after }),
                None => Ok(()),
            }
        };
        match name.text.to_ascii_lowercase().as_str() {
            "help" => Ok(Command::Help),
            "list" => {
                nothing_after(at, "list", "the command")?;
                Ok(Command::List)
            }
            "declare" => declare(text, at),
            "update" => {
                let n = one("update", "an incident number and a text")?;
                let iid = iid(&n.text)?;
                let mut from = n.end;
                let mut public = false;
                if let Some(flag) =
                    next_word(text, from)?.filter(|w| !w.quoted && is_public_flag(&w.text))
                {
                    public = true;
                    from = flag.end;
                }
                let note = rest(text, from);
                if note.is_empty() {
                    return Err(Problem::Missing {
                        command: "update",
                        what: "a text",
                    });
                }
                Ok(Command::Update {
                    iid,
                    public,
                    text: note,
                })
            }
            "ack" => {
                let a = one("ack", "an alert")?;
                nothing_after(a.end, "ack", "the alert")?;
                if a.text.is_empty() || a.text.chars().any(char::is_control) {
                    return Err(Problem::Missing {
                        command: "ack",
                        what: "an alert",
                    });
                }
                Ok(Command::Ack { alert: a.text })
            }
            "resolve" => {
                let n = one("resolve", "an incident number")?;
                let iid = iid(&n.text)?;
                nothing_after(n.end, "resolve", "the incident number")?;
                Ok(Command::Resolve { iid })
            }
            "page" => {
                let t = one("page", "a person or schedule and a text")?;
                let target = t.text.strip_prefix('@').unwrap_or(&t.text).to_owned();
                let note = rest(text, t.end);
                if target.is_empty() || note.is_empty() {
                    return Err(Problem::Missing {
                        command: "page",
                        what: "a person or schedule and a text",
                    });
                }
                Ok(Command::Page { target, text: note })
            }
            "bridge" => {
                let n = one("bridge", "an incident number and a URL")?;
                let iid = iid(&n.text)?;
                let u = next_word(text, n.end)?.ok_or(Problem::Missing {
                    command: "bridge",
                    what: "a URL",
                })?;
                nothing_after(u.end, "bridge", "the URL")?;
                // `<https://…>`, as markdown and some clients write a bare link.
                let raw = u
                    .text
                    .strip_prefix('<')
                    .and_then(|t| t.strip_suffix('>'))
                    .unwrap_or(&u.text);
                let url = super::bridge::http_url(raw).ok_or(Problem::BadUrl)?;
                Ok(Command::Bridge { iid, url })
            }
            other => Err(Problem::Unknown(shown(other))),
        }
    }

    /// Parses a Slack command's text: [`unescape_slack`], then [`Command::parse`].
    pub fn parse_slack(text: &str) -> Result<Command, Problem> {
        if text.len() > MAX_TEXT {
            return Err(Problem::TooLong);
        }
        Command::parse(&unescape_slack(text))
    }

    /// Whether this command only reads (what a user mapped to nobody may do).
    pub fn reads_only(&self) -> bool {
        matches!(self, Command::List | Command::Help)
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Declare { .. } => "declare",
            Command::List => "list",
            Command::Update { .. } => "update",
            Command::Ack { .. } => "ack",
            Command::Resolve { .. } => "resolve",
            Command::Page { .. } => "page",
            Command::Bridge { .. } => "bridge",
            Command::Help => "help",
        }
    }
}

/// What a user typed, from Slack's escaped form: its markup `<url|label>` and `<url>`
/// becomes the URL, `<@U123|name>` and `<@U123>` become `@U123`, `<#C1|name>` becomes
/// `#name`, `<!here>` becomes `@here`; then `&lt;`, `&gt;` and `&amp;` become the
/// characters (in that order of reading, once: `&amp;lt;` is `&lt;`).
pub fn unescape_slack(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            out.push('@');
            out.push_str(user);
        } else if let Some(channel) = target.strip_prefix('#') {
            out.push('#');
            out.push_str(label.unwrap_or(channel));
        } else if let Some(special) = target.strip_prefix('!') {
            out.push('@');
            out.push_str(special.split('^').next().unwrap_or_default());
        } else {
            out.push_str(target);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    decode_entities(&out)
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let (c, len) = if after.starts_with("&lt;") {
            ('<', 4)
        } else if after.starts_with("&gt;") {
            ('>', 4)
        } else if after.starts_with("&amp;") {
            ('&', 5)
        } else {
            ('&', 1)
        };
        out.push(c);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declare(title: &str, severity: Option<Severity>, components: &[&str]) -> Command {
        Command::Declare {
            title: title.into(),
            severity,
            components: components.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn declare_takes_a_quoted_or_bare_title_a_severity_and_components() {
        assert_eq!(
            Command::parse(r#"declare "Checkout is down" sev1 web api"#),
            Ok(declare(
                "Checkout is down",
                Some(Severity::Critical),
                &["web", "api"]
            ))
        );
        assert_eq!(
            Command::parse("declare Checkout is down SEV2 web"),
            Ok(declare("Checkout is down", Some(Severity::High), &["web"]))
        );
        assert_eq!(
            Command::parse("  DECLARE   Slow   search  "),
            Ok(declare("Slow search", None, &[]))
        );
        assert_eq!(
            Command::parse("declare \u{201c}Login fails\u{201d} sev4"),
            Ok(declare("Login fails", Some(Severity::Low), &[]))
        );
        assert_eq!(
            Command::parse(r#"declare "DB down" db db api"#),
            Ok(declare("DB down", None, &["db", "api"]))
        );
        // A severity word inside quotes is part of the title.
        assert_eq!(
            Command::parse(r#"declare "sev1 outage" sev3"#),
            Ok(declare("sev1 outage", Some(Severity::Medium), &[]))
        );
    }

    #[test]
    fn declare_names_what_is_wrong() {
        assert_eq!(
            Command::parse("declare"),
            Err(Problem::Missing {
                command: "declare",
                what: "a title"
            })
        );
        assert_eq!(
            Command::parse(r#"declare "" sev1"#),
            Err(Problem::Missing {
                command: "declare",
                what: "a title"
            })
        );
        assert_eq!(
            Command::parse("declare sev1 web"),
            Err(Problem::Missing {
                command: "declare",
                what: "a title"
            })
        );
        assert_eq!(
            Command::parse(r#"declare "DB down sev1"#),
            Err(Problem::UnclosedQuote)
        );
        assert_eq!(
            Command::parse(&format!("declare \"{}\"", "é".repeat(256))),
            Err(Problem::TitleTooLong)
        );
        assert_eq!(
            Command::parse(r#"declare "x" sev1 a,b"#),
            Err(Problem::BadComponent("a,b".into()))
        );
    }

    #[test]
    fn every_command_parses_with_its_arguments() {
        assert_eq!(Command::parse("list"), Ok(Command::List));
        assert_eq!(Command::parse(""), Ok(Command::Help));
        assert_eq!(Command::parse("help"), Ok(Command::Help));
        assert_eq!(
            Command::parse("update #12 --public We rolled back.\nWatching."),
            Ok(Command::Update {
                iid: 12,
                public: true,
                text: "We rolled back.\nWatching.".into()
            })
        );
        assert_eq!(
            Command::parse("update 12 rollback --public done"),
            Ok(Command::Update {
                iid: 12,
                public: false,
                text: "rollback --public done".into()
            })
        );
        assert_eq!(
            Command::parse("update 12 \u{2014}public fixed"),
            Ok(Command::Update {
                iid: 12,
                public: true,
                text: "fixed".into()
            })
        );
        assert_eq!(
            Command::parse("bridge 3 <https://meet.example/abc>"),
            Ok(Command::Bridge {
                iid: 3,
                url: "https://meet.example/abc".into()
            })
        );
        assert_eq!(
            Command::parse("ack a1b2c3"),
            Ok(Command::Ack {
                alert: "a1b2c3".into()
            })
        );
        assert_eq!(
            Command::parse("resolve #7"),
            Ok(Command::Resolve { iid: 7 })
        );
        assert_eq!(
            Command::parse("page @alice db is on fire"),
            Ok(Command::Page {
                target: "alice".into(),
                text: "db is on fire".into()
            })
        );
        assert_eq!(
            Command::parse("bridge 3 https://meet.example/abc"),
            Ok(Command::Bridge {
                iid: 3,
                url: "https://meet.example/abc".into()
            })
        );
    }

    #[test]
    fn bad_arguments_are_named_problems() {
        for (text, problem) in [
            (
                "update",
                Problem::Missing {
                    command: "update",
                    what: "an incident number and a text",
                },
            ),
            (
                "update 12",
                Problem::Missing {
                    command: "update",
                    what: "a text",
                },
            ),
            (
                "update 12 --public",
                Problem::Missing {
                    command: "update",
                    what: "a text",
                },
            ),
            ("update twelve x", Problem::BadIid("twelve".into())),
            ("resolve 0", Problem::BadIid("0".into())),
            ("resolve -1", Problem::BadIid("-1".into())),
            (
                "resolve 99999999999999999999999",
                Problem::BadIid("99999999999999999999999".into()),
            ),
            ("resolve ١٢", Problem::BadIid("١٢".into())),
            (
                "resolve 1 2",
                Problem::Extra {
                    command: "resolve",
                    after: "the incident number",
                },
            ),
            (
                "list all",
                Problem::Extra {
                    command: "list",
                    after: "the command",
                },
            ),
            (
                "ack",
                Problem::Missing {
                    command: "ack",
                    what: "an alert",
                },
            ),
            (
                "ack a b",
                Problem::Extra {
                    command: "ack",
                    after: "the alert",
                },
            ),
            (
                "page alice",
                Problem::Missing {
                    command: "page",
                    what: "a person or schedule and a text",
                },
            ),
            (
                "page @ hi",
                Problem::Missing {
                    command: "page",
                    what: "a person or schedule and a text",
                },
            ),
            (
                "bridge 1",
                Problem::Missing {
                    command: "bridge",
                    what: "a URL",
                },
            ),
            ("bridge 1 javascript:alert(1)", Problem::BadUrl),
            ("bridge 1 ftp://files.example/x", Problem::BadUrl),
            ("bridge 1 https://user:pw@meet.example/", Problem::BadUrl),
            ("bridge 1 meet.example/abc", Problem::BadUrl),
            (
                "bridge 1 https://a.example b",
                Problem::Extra {
                    command: "bridge",
                    after: "the URL",
                },
            ),
            ("launch rockets", Problem::Unknown("launch".into())),
        ] {
            assert_eq!(Command::parse(text), Err(problem), "{text}");
        }
        assert_eq!(
            Command::parse(&"x".repeat(MAX_TEXT + 1)),
            Err(Problem::TooLong)
        );
        match Command::parse(&"é".repeat(100)) {
            Err(Problem::Unknown(shown)) => assert_eq!(shown.chars().count(), 41),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slacks_escapes_are_undone_before_parsing() {
        assert_eq!(
            Command::parse_slack("bridge 4 <https://meet.example/a?x=1&amp;y=2|meet.example/a>"),
            Ok(Command::Bridge {
                iid: 4,
                url: "https://meet.example/a?x=1&y=2".into()
            })
        );
        assert_eq!(
            Command::parse_slack("page <@U024BE7LH|bob> look at &lt;db&gt; &amp;lt;"),
            Ok(Command::Page {
                target: "U024BE7LH".into(),
                text: "look at <db> &lt;".into()
            })
        );
        assert_eq!(
            unescape_slack("<#C1|ops> <!here> <!subteam^S1|@sre> a <b"),
            "#ops @here @subteam a <b"
        );
    }

    #[test]
    fn only_list_and_help_only_read() {
        assert!(Command::List.reads_only() && Command::Help.reads_only());
        assert!(!Command::Resolve { iid: 1 }.reads_only());
        assert!(!Command::Ack { alert: "a".into() }.reads_only());
    }
}
