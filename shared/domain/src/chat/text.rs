//! What every service's body does with text and links that come from a payload, an
//! issue or a label, before its own escaping rule (one per service, in its module):
//!
//! - [`escaped`]: bidirectional controls removed (a right-to-left override cannot
//!   reorder what a reader sees), other control characters made spaces, each character
//!   written by the service's rule, and the result cut whole at the service's limit,
//!   never inside an escape, with `…` when cut;
//! - [`safe_url`]: the one rule for a link's target: parsed, http(s) with a host and no
//!   credentials, serialised with every character that a service's link syntax reads
//!   percent-encoded, or refused, and then the link is dropped and its label kept as
//!   text.

use url::{Position, Url};

use super::{Link, Message};
use crate::mail::is_bidi_control;

/// U+2060 WORD JOINER: invisible, and neither letter, digit nor space, so a parser that
/// reads `@here` or `<users/all>` as one word sees two where it stands between them.
pub(crate) const WORD_JOINER: char = '\u{2060}';

/// The longest link target kept: Slack's limit for a button's URL, the strictest that
/// a service documents.
pub(crate) const MAX_URL: usize = 3000;

/// Whether a field shows one line or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    One,
    Many,
}

/// How a service counts a field's length against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Units {
    /// Unicode scalar values (Slack, Teams, Mattermost, Google Chat).
    Chars,
    /// UTF-16 code units, as JavaScript's `length` counts (Discord's limits, as
    /// `@discordjs/builders` checks them).
    Utf16,
    /// UTF-8 bytes (ntfy's limit on a message).
    Utf8,
}

impl Units {
    fn of_char(self, c: char) -> usize {
        match self {
            Units::Chars => 1,
            Units::Utf16 => c.len_utf16(),
            Units::Utf8 => c.len_utf8(),
        }
    }

    /// The length of `s` in these units.
    pub(crate) fn of(self, s: &str) -> usize {
        s.chars().map(|c| self.of_char(c)).sum()
    }
}

/// `text` for a field of a service: bidirectional controls removed, other control
/// characters (and line breaks in a one-line field) as spaces, each character written
/// by `escape`, and cut between characters so the result is at most `max` `units`
/// long, ending in `…` when cut (an escape is never split, so nothing after the cut
/// changes what comes before it).
pub(crate) fn escaped(
    text: &str,
    lines: Lines,
    max: usize,
    units: Units,
    escape: impl Fn(char, &mut String),
) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    // After each character: where its escape ends, and the length so far.
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut length = 0usize;
    for c in text.chars() {
        let c = match c {
            c if is_bidi_control(c) || c == '\r' => continue,
            '\n' | '\u{2028}' | '\u{2029}' if lines == Lines::Many => '\n',
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => ' ',
            c => c,
        };
        let start = out.len();
        escape(c, &mut out);
        length = length.saturating_add(units.of(&out[start..]));
        ends.push((out.len(), length));
    }
    if length <= max {
        return out;
    }
    let room = max.saturating_sub(units.of_char('…'));
    let cut = ends
        .iter()
        .take_while(|(_, l)| *l <= room)
        .last()
        .map_or(0, |(end, _)| *end);
    out.truncate(cut);
    let kept = out.trim_end().len();
    out.truncate(kept);
    if max > 0 {
        out.push('…');
    }
    out
}

/// Whether markdown (CommonMark, and Discord's and Mattermost's dialects of it) may read
/// `c` as syntax, so a service's rule puts a backslash before it: every ASCII
/// punctuation mark but those that start nothing where they stand in escaped text
/// (`.` `,` `:` `;` `/` `'` `"` `?` `%` `=` `$`).
pub(crate) fn markdown_reads(c: char) -> bool {
    c.is_ascii_punctuation()
        && !matches!(
            c,
            '.' | ',' | ':' | ';' | '/' | '\'' | '"' | '?' | '%' | '=' | '$'
        )
}

/// The characters left as they are: no service reads them.
pub(crate) fn verbatim(c: char, out: &mut String) {
    out.push(c);
}

/// Characters that a service's link syntax reads, percent-encoded after the host:
/// `|` (Slack's and Google Chat's `<url|label>`), `<` and `>` (their delimiters, and
/// markdown autolinks), `(` `)` `[` `]` (markdown links), `\` and `` ` `` (markdown
/// escapes and code), `"` (a markdown link's title), and spaces (which end a link
/// everywhere).
const ENCODED: &[char] = &['|', '<', '>', '(', ')', '[', ']', '\\', '`', '"', ' '];

/// The target of a link a service may show: the URL parsed as a browser parses it,
/// http or https with a host and without credentials (`https://bank.example@evil/`),
/// serialised as the parser writes it (spaces, quotes and non-ASCII percent-encoded,
/// the host in punycode) with [`ENCODED`]'s characters percent-encoded too, and at
/// most [`MAX_URL`] long. `None`: the link is dropped and its label shown as text.
pub fn safe_url(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // The parser drops tabs and line breaks silently: a URL holding them was not
    // meant as written.
    if raw.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    let allowed = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    if !allowed {
        return None;
    }
    let serialised = url.as_str();
    let authority = url[..Position::AfterPort].len();
    let (head, rest) = serialised.split_at(authority);
    let mut out = String::with_capacity(serialised.len() + 8);
    out.push_str(head);
    for c in rest.chars() {
        if ENCODED.contains(&c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    // The parser writes a bare origin with a `/`: kept as given, it reads the same.
    if url.path() == "/" && url.query().is_none() && url.fragment().is_none() && !raw.ends_with('/')
    {
        out.pop();
    }
    (out.len() <= MAX_URL).then_some(out)
}

/// A link as a service shows it: its label, and its target when [`safe_url`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shown<'a> {
    pub label: &'a str,
    pub url: Option<String>,
}

impl<'a> Shown<'a> {
    pub(crate) fn of(link: &'a Link) -> Shown<'a> {
        Shown {
            label: &link.label,
            url: safe_url(&link.url),
        }
    }
}

/// The message's link first, then its buttons, each with its safe target or none.
pub(crate) fn all_links(message: &Message) -> Vec<Shown<'_>> {
    message
        .link
        .iter()
        .chain(&message.buttons)
        .map(Shown::of)
        .collect()
}

/// `s`, or `—` when `s` shows nothing (services refuse empty fields).
pub(crate) fn or_dash(s: String) -> String {
    if s.trim().is_empty() {
        "—".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str, max: usize) -> String {
        escaped(text, Lines::Many, max, Units::Chars, verbatim)
    }

    #[test]
    fn cut_whole_with_an_ellipsis() {
        assert_eq!(plain("abcdef", 4), "abc…");
        assert_eq!(plain("abcd", 4), "abcd");
        assert_eq!(plain("ab  cdef", 4), "ab…");
        assert_eq!(plain("abc", 0), "");
        // Never inside an escape: `&amp;` is kept whole or not at all.
        let amp = |c: char, o: &mut String| match c {
            '&' => o.push_str("&amp;"),
            c => o.push(c),
        };
        assert_eq!(escaped("a&b", Lines::One, 5, Units::Chars, amp), "a…");
        assert_eq!(escaped("a&b", Lines::One, 7, Units::Chars, amp), "a&amp;b");
        // UTF-16: an astral character counts two.
        assert_eq!(
            escaped("😀😀😀", Lines::One, 5, Units::Utf16, verbatim),
            "😀😀…"
        );
        assert_eq!(Units::Utf16.of("😀a"), 3);
    }

    #[test]
    fn controls_and_bidi_overrides_go() {
        let all_bidi = "\u{202A}\u{202B}\u{202C}\u{202D}\u{202E}\u{2066}\u{2067}\u{2068}\u{2069}\u{200E}\u{200F}\u{061C}";
        assert_eq!(plain(&format!("a{all_bidi}b"), 100), "ab");
        assert_eq!(plain("a\r\nb\tc\u{0}d", 100), "a\nb c d");
        assert_eq!(
            escaped("a\nb\u{2028}c", Lines::One, 100, Units::Chars, verbatim),
            "a b c"
        );
        // Zero-width joiners are text (emoji sequences, Persian): kept.
        assert_eq!(plain("👩\u{200D}💻", 100), "👩\u{200D}💻");
    }

    #[test]
    fn only_http_links_kept_and_encoded_for_every_link_syntax() {
        let ok = |u: &str| safe_url(u).unwrap();
        assert_eq!(
            ok("https://prometheus.example.com/graph?g0.expr=up"),
            "https://prometheus.example.com/graph?g0.expr=up"
        );
        assert_eq!(
            ok("https://x/graph>* <!channel> *<https://evil.example/phish"),
            "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
        );
        assert_eq!(
            ok("https://p.example/graph?g0.expr=rate(x[5m]) | y&g0.tab=1"),
            "https://p.example/graph?g0.expr=rate%28x%5B5m%5D%29%20%7C%20y&g0.tab=1"
        );
        assert_eq!(
            ok("HTTP://Ünï.example/ä b"),
            "http://xn--n-nga1b.example/%C3%A4%20b"
        );
        assert_eq!(ok("http://[::1]:8080/a"), "http://[::1]:8080/a");
        assert_eq!(
            ok(" https://status.example.com "),
            "https://status.example.com"
        );
        assert_eq!(
            ok("https://status.example.com/"),
            "https://status.example.com/"
        );
        assert_eq!(ok("https://x.example?a=1"), "https://x.example/?a=1");
        for bad in [
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://files.example/x",
            "mailto:a@example.com",
            "//evil.example/x",
            "/relative",
            "https://bank.example@evil.example/",
            "https://user:pw@evil.example/",
            "https://evil.example/\u{202E}gpj.exe",
            "https://x.example/a\nb",
            "http://",
            "",
        ] {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MAX_URL));
        assert_eq!(safe_url(&long), None);
    }
}
