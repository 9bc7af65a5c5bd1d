//! Telegram: the Bot API's `sendMessage` (`POST /bot<token>/sendMessage`) with
//! `chat_id` (a number, or `@channel`), `text` in Telegram's HTML style
//! (`parse_mode: "HTML"`), and link previews off: the title in bold, since when, the
//! text, the facts, and the links as `<a href>`, the one a pager puts forward first.
//!
//! Telegram's rule for the HTML style ([`html`]): every `<`, `>` and `&` that is not
//! part of a tag or an entity is written `&lt;`, `&gt;`, `&amp;` (the entities it
//! supports), so no tag (`<a href>`, `<tg-spoiler>`) can form from a payload; an `@`
//! gets a word joiner after it, so no `@username` from a payload mentions anyone. A
//! link's target comes from [`safe_url`](super::safe_url) (no `"`, `<`, `>` left in
//! it) with `&` as `&amp;`. Telegram takes at most 4,096 characters of text after
//! its entities are read; the text is cut before the links, which are never cut.

use serde_json::{Value, json};

use super::text::{Lines, Units, WORD_JOINER, escaped, or_dash};
use super::{Message, pager};

/// Telegram's most characters of a message's text.
const MAX_TEXT: usize = 4096;

/// Telegram's rule for text in its HTML style.
fn html(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '@' => {
            out.push('@');
            out.push(WORD_JOINER);
        }
        c => out.push(c),
    }
}

fn h(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Chars, html)
}

/// A `chat_id` as the API takes it: a number as a number, `@channel` as text.
fn chat_id(chat: &str) -> Value {
    match chat.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(chat),
    }
}

pub fn body(chat: &str, m: &Message) -> Value {
    let mut head = format!("<b>{}</b>", or_dash(h(&m.title, Lines::One, 256)));
    if let Some(since) = pager::since_line(m) {
        head.push('\n');
        head.push_str(&since);
    }
    let mut facts = String::new();
    for f in m.facts.iter().take(20) {
        facts.push_str(&format!(
            "\n<b>{}</b>: {}",
            or_dash(h(&f.name, Lines::One, 100)),
            or_dash(h(&f.value, Lines::One, 300))
        ));
    }
    let links: Vec<String> = pager::links(m)
        .iter()
        .take(20)
        .map(|l| {
            let label = or_dash(h(l.label, Lines::One, 64));
            match &l.url {
                Some(url) => format!("<a href=\"{}\">{label}</a>", url.replace('&', "&amp;")),
                None => label,
            }
        })
        .collect();
    let tail = links.join(" · ");
    // What Telegram counts: the characters a reader sees, not the tags; counting the
    // tags too only leaves more room than needed.
    let used = head.chars().count() + facts.chars().count() + tail.chars().count() + 6;
    let text = h(&m.text, Lines::Many, MAX_TEXT.saturating_sub(used));
    let mut out = head;
    if !text.trim().is_empty() {
        out.push_str("\n\n");
        out.push_str(&text);
    }
    if !facts.is_empty() {
        out.push('\n');
        out.push_str(&facts);
    }
    if !tail.is_empty() {
        out.push_str("\n\n");
        out.push_str(&tail);
    }
    json!({
        "chat_id": chat_id(chat),
        "text": out,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_as_the_bot_api_documents_it() {
        let b = body("123456789", &crate::chat::tests::sample());
        assert_eq!(
            b,
            json!({
                "chat_id": 123456789,
                "text": "<b>New alert: production: Disk &lt;full&gt; &amp; @\u{2060}here</b>\nSince 2024-03-05 09:48 UTC (12m)\n\nDisk /var at 97% on db-1.\n*not bold* &lt;!channel&gt; @\u{2060}everyone\n\n<b>Severity</b>: critical\n<b>Environment</b>: production\n\n<a href=\"https://api.example.com/alerts/ack?token=abc\">Acknowledge</a> · <a href=\"https://api.example.com/alerts/silence?token=def&amp;for=1h\">Silence 1 h</a> · <a href=\"https://prometheus.example.com/graph?g0.expr=up\">Graph</a>",
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            })
        );
        assert_eq!(
            body("@ops_alerts", &crate::chat::tests::sample())["chat_id"],
            "@ops_alerts"
        );
        assert_eq!(
            body("-1001234567890", &crate::chat::tests::sample())["chat_id"],
            -1001234567890i64
        );
    }

    /// Every field of the hostile corpus, exactly as Telegram gets it.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let b = body("1", &crate::chat::tests::hostile());
        assert_eq!(
            b["text"],
            "<b>Disk &lt;!channel&gt; &lt;!here|here&gt; &lt;!subteam^S0123&gt; &lt;@\u{2060}U123&gt; @\u{2060}here \\@\u{2060}all gnp.exe</b>\n\n\
             [re-login](https://evil.example/sso) &lt;https://evil.example|click&gt; **b** _i_\n# H\n&gt; q `c` @\u{2060}\u{200B}everyone &lt;#C1&gt; &lt;@\u{2060}&amp;42&gt; &lt;users/all&gt; &amp;lt;!here&amp;gt; x\n\n\
             <b>Hosts &lt;!here&gt;</b>: [a](javascript:alert(1)) @\u{2060}channel\n<b>—</b>: —\n\n\
             <a href=\"https://api.example.com/alerts/ack?token=abc\">Acknowledge</a> · Runbook [x](https://evil.example) · Image · \
             <a href=\"https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&amp;r=%3Cb%3E\">Dashboard</a> · \
             <a href=\"https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish\">Graph</a>"
        );
    }

    #[test]
    fn a_long_text_is_cut_before_the_links() {
        let m = Message {
            text: "a<&😀 ".repeat(3000),
            ..crate::chat::tests::sample()
        };
        let text = body("1", &m)["text"].as_str().unwrap().to_owned();
        // What a reader sees: entities as one character, tags as none.
        let tags = regex_lite::Regex::new(r#"</?b>|<a href="[^"]*">|</a>"#).unwrap();
        let seen = tags
            .replace_all(&text, "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        assert!(seen.chars().count() <= MAX_TEXT, "{}", seen.chars().count());
        assert!(text.ends_with(">Graph</a>"), "{text}");
        assert!(text.contains("…\n\n<b>Severity</b>"), "no entity cut");
    }
}
