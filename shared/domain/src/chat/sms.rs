//! A text message (SMS): plain text, no markup, as short as it can be while it says
//! what fired, for how long, and carries the link a pager puts forward (an alert's
//! acknowledge link):
//!
//! ```text
//! New alert: production: Disk full
//! for 12m
//! Disk /var at 97% on db-1.
//! Acknowledge: https://api.example.com/alerts/ack?token=…
//! ```
//!
//! A phone splits a long message into segments of 153 GSM-7 characters (67 UTF-16
//! units once one character is outside GSM-7's alphabet) and joins them again; each
//! segment is billed. The title is cut at 120 units and the first line of text at 100,
//! and the whole to at most [`MAX_SEGMENTS`] segments: the link is never cut (a cut
//! link acknowledges nothing), the text's line goes first, then the title is cut,
//! whole characters at a time, ending in `...`. Typographic quotes, dashes and the
//! ellipsis are written as their GSM-7 look-alikes, so one curly quote does not halve
//! the room; bidirectional controls go, and line breaks in a field become spaces.

use super::Message;
use super::pager;
use super::text::{Lines, Units, escaped};

/// The most segments a message takes: room for a signed link (about 200
/// characters) and a title even when one character of it is outside GSM-7.
pub const MAX_SEGMENTS: usize = 4;

/// The longest title and first line of text (in the encoding's units): a page is read
/// on a lock screen.
const MAX_TITLE: usize = 120;
const MAX_DETAIL: usize = 100;

/// The least room the title keeps, however long the link.
const MIN_TITLE: usize = 24;

/// GSM 03.38's basic alphabet: one septet each.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: two septets each (an escape, then the character).
const EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// How a message is encoded, so how its length counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38: 160 septets in one segment, 153 in each of several.
    Gsm7,
    /// UCS-2 (UTF-16 on today's phones): 70 units in one, 67 in each of several.
    Ucs2,
}

impl Encoding {
    /// The encoding `text` needs.
    pub fn of(text: &str) -> Encoding {
        if text.chars().all(|c| septets(c).is_some()) {
            Encoding::Gsm7
        } else {
            Encoding::Ucs2
        }
    }

    /// The length of `text` in this encoding's units.
    pub fn length(self, text: &str) -> usize {
        text.chars().map(|c| self.units(c)).sum()
    }

    fn units(self, c: char) -> usize {
        match self {
            Encoding::Gsm7 => septets(c).unwrap_or(2),
            Encoding::Ucs2 => c.len_utf16(),
        }
    }

    /// How many segments `text` takes.
    pub fn segments(self, text: &str) -> usize {
        let (one, each) = match self {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        };
        let n = self.length(text);
        if n <= one { 1 } else { n.div_ceil(each) }
    }

    /// The room in [`MAX_SEGMENTS`] segments.
    fn room(self) -> usize {
        MAX_SEGMENTS
            * match self {
                Encoding::Gsm7 => 153,
                Encoding::Ucs2 => 67,
            }
    }
}

fn septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// A character as the message writes it: GSM-7 look-alikes for typography.
fn plain(c: char, out: &mut String) {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '`' => out.push('\''),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => out.push('"'),
        '\u{2010}'..='\u{2015}' | '\u{2212}' => out.push('-'),
        '\u{2026}' => out.push_str("..."),
        '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' => out.push(' '),
        // Invisible, and outside GSM-7: they would only cost room.
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' => {}
        c => out.push(c),
    }
}

/// `text` on one line, written [`plain`].
fn line(text: &str) -> String {
    escaped(text, Lines::One, usize::MAX, Units::Chars, plain)
        .trim()
        .to_owned()
}

/// `text` cut to at most `max` units of `encoding`, whole characters, ending in `...`
/// when cut.
fn cut(text: &str, max: usize, encoding: Encoding) -> String {
    if encoding.length(text) <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(3);
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let n = encoding.units(c);
        if used + n > room {
            break;
        }
        used += n;
        out.push(c);
    }
    let kept = out.trim_end().len();
    out.truncate(kept);
    if max >= 3 {
        out.push_str("...");
    }
    out
}

/// The message's text.
pub fn text(m: &Message) -> String {
    let title = line(&m.title);
    let detail = m
        .text
        .lines()
        .map(line)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let lasting = pager::lasting(m).map(|d| format!("for {d}"));
    let action = pager::action(m);
    let call = pager::call(m)
        .filter(|url| action.as_ref().is_none_or(|(_, a)| a != url))
        .map(|url| format!("Call: {url}"));
    let link = action.map(|(label, url)| format!("{}: {url}", line(label)));
    let encoding = Encoding::of(&format!(
        "{title}{detail}{}{}",
        link.as_deref().unwrap_or(""),
        call.as_deref().unwrap_or("")
    ));
    // What is never cut: the line of how long, the links, and the line breaks.
    let fixed: usize = [lasting.as_ref(), link.as_ref(), call.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| encoding.length(p) + 1)
        .sum();
    let room = encoding.room().saturating_sub(fixed);
    let title = cut(&title, room.clamp(MIN_TITLE, MAX_TITLE), encoding);
    let left = room.saturating_sub(encoding.length(&title) + 1);
    // A first line cut to less than a few words says nothing.
    let detail = (left >= 16).then(|| cut(&detail, left.min(MAX_DETAIL), encoding));
    [Some(title), lasting, detail, link, call]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::tests::{hostile, sample};

    #[test]
    fn what_fired_for_how_long_and_the_link() {
        assert_eq!(
            text(&sample()),
            "New alert: production: Disk <full> & @here\n\
             for 12m\n\
             Disk /var at 97% on db-1.\n\
             Acknowledge: https://api.example.com/alerts/ack?token=abc"
        );
        assert_eq!(Encoding::of(&text(&sample())), Encoding::Gsm7);
        // No safe link, no time: what fired alone; bidi overrides gone.
        let mut h = hostile();
        h.buttons.clear();
        h.link = None;
        let t = text(&h);
        assert!(t.starts_with("Disk <!channel>"), "{t}");
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(!t.contains('\u{202E}') && !t.contains("Acknowledge"), "{t}");
    }

    #[test]
    fn a_call_link_follows_the_acknowledge_link_and_is_never_cut() {
        let mut m = sample();
        m.text = "x".repeat(400);
        m.buttons.push(crate::chat::Link {
            label: crate::chat::CALL_LABEL.into(),
            url: "https://meet.example/room-7".into(),
        });
        let t = text(&m);
        assert!(
            t.ends_with(
                "Acknowledge: https://api.example.com/alerts/ack?token=abc\nCall: https://meet.example/room-7"
            ),
            "{t}"
        );
        assert!(Encoding::Gsm7.segments(&t) <= MAX_SEGMENTS);
        // An unsafe call link is not shown.
        m.buttons.last_mut().unwrap().url = "javascript:alert(1)".into();
        assert!(!text(&m).contains("Call:"), "{}", text(&m));
    }

    #[test]
    fn typography_stays_in_gsm7() {
        let m = Message {
            title: "Disk \u{201C}full\u{201D} \u{2014} it\u{2019}s\u{2026}".into(),
            text: String::new(),
            buttons: vec![],
            link: None,
            since: None,
            ..sample()
        };
        assert_eq!(text(&m), "Disk \"full\" - it's...");
        assert_eq!(Encoding::of(&text(&m)), Encoding::Gsm7);
        assert_eq!(Encoding::Gsm7.segments(&"a".repeat(160)), 1);
        assert_eq!(Encoding::Gsm7.segments(&"a".repeat(161)), 2);
        assert_eq!(Encoding::Gsm7.segments(&"€".repeat(80)), 1);
        assert_eq!(Encoding::Ucs2.segments(&"ö😀".repeat(24)), 2);
    }

    /// Long text in either encoding, a long link, and characters of every width at
    /// each position near the limit: never more than the segments allowed (but for a
    /// link that alone fills them), the link whole, the cut on a character.
    #[test]
    fn long_text_is_cut_before_the_link_in_either_encoding() {
        let ack = format!(
            "https://api.example.com/alerts/ack?token={}",
            "A".repeat(160)
        );
        for unit in ["disk full ", "Festplatte voll € ", "ディスクが満杯です😀 "] {
            for shift in 0..6 {
                let title = format!("{}{}", "x".repeat(shift), unit.repeat(60));
                let m = Message {
                    title: title.clone(),
                    text: format!("{}\nsecond line", unit.repeat(80)),
                    buttons: vec![crate::chat::Link {
                        label: "Acknowledge".into(),
                        url: ack.clone(),
                    }],
                    ..sample()
                };
                let t = text(&m);
                let enc = Encoding::of(&t);
                assert!(enc.segments(&t) <= MAX_SEGMENTS, "{unit} {shift}: {t}");
                assert!(t.ends_with(&format!("Acknowledge: {ack}")), "{t}");
                assert!(t.contains("\nfor 12m\n"), "{t}");
                assert!(t.lines().next().unwrap().ends_with("..."), "{t}");
                assert!(!t.contains("second line"), "{t}");
                let first = t.lines().next().unwrap().trim_end_matches("...");
                assert!(title.starts_with(first), "{t}");
            }
        }
    }
}
