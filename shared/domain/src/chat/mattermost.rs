//! Mattermost's incoming webhook: `text` and one Slack-style entry of `attachments`
//! (`fallback`, `color`, `title`, `title_link`, `text`, `fields` with `short`). Its
//! buttons call integrations, so the links are markdown links after the attachment's
//! text, which is cut before them.
//!
//! Mattermost's rule ([`markdown`]): every ASCII punctuation mark that its markdown
//! reads is backslash-escaped (no link, image, emphasis, heading, list, `~channel` or
//! `#tag`), and every `@` is followed by a word joiner (U+2060). The backslash alone
//! would not do for mentions: Mattermost's server finds them by splitting text into
//! words at every character that is not a letter, digit, `.`, `-`, `_`, `:` or `@`,
//! so `\@here` is the word `@here` and mentions the channel; the word joiner is none of
//! those, so `@⁠here` is the words `@` and `here`, and the webapp's highlighting does
//! not match it either. It shows as `@here`. Mattermost also reads Slack's syntax in
//! webhooks (its server turns `<!channel>`, `<!here>`, `<!all>` into `@channel`,
//! `@here`, `@all` and `<@ID>` into `@name` in the text, the attachment's title, text
//! and field values, before anything else): escaped, `<` is `\<` and never starts
//! one. Plain fields (the `fallback` of notifications, and a title shown inside its
//! link) get a word joiner after each `<` and `@` instead ([`plain`]). Keywords a user
//! chose to be notified of are words like any other, and no escaping can hide them.

use serde_json::{Value, json};

use super::Message;
use super::text::{Lines, Units, WORD_JOINER, all_links, escaped, markdown_reads, or_dash};

/// Mattermost's rule for its markdown fields.
pub(crate) fn markdown(c: char, out: &mut String) {
    if c == '@' {
        out.push('@');
        out.push(WORD_JOINER);
        return;
    }
    if markdown_reads(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Mattermost's rule for plain fields: no mention, in its syntax or Slack's.
fn plain(c: char, out: &mut String) {
    out.push(c);
    if matches!(c, '@' | '<') {
        out.push(WORD_JOINER);
    }
}

fn md(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Chars, markdown)
}

/// The attachment's text, as long as it may get.
const MAX_TEXT: usize = 7000;

pub fn body(m: &Message) -> Value {
    let links = all_links(m);
    // The buttons as markdown links (the title's link is the title's), or their
    // labels when their target cannot be made safe.
    let buttons: Vec<String> = links
        .iter()
        .skip(usize::from(m.link.is_some()))
        .map(|l| {
            let label = or_dash(md(l.label, Lines::One, 100));
            match &l.url {
                Some(url) => format!("[{label}]({url})"),
                None => label,
            }
        })
        .collect();
    let links_text = buttons.join(" · ");
    let room = MAX_TEXT.saturating_sub(links_text.chars().count() + 2);
    let mut text = md(&m.text, Lines::Many, room);
    if !links_text.is_empty() {
        if !text.trim().is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&links_text);
    }
    let fields: Vec<Value> = m
        .facts
        .iter()
        .map(|f| {
            json!({
                "short": true,
                "title": or_dash(md(&f.name, Lines::One, 200)),
                "value": or_dash(md(&f.value, Lines::Many, 2000)),
            })
        })
        .collect();
    let title_link = m
        .link
        .as_ref()
        .and(links.first())
        .and_then(|l| l.url.clone());
    let mut attachment = json!({
        "fallback": or_dash(escaped(&m.title, Lines::One, 300, Units::Chars, plain)),
        "color": m.tone.hex(),
        "fields": fields,
    });
    if !text.trim().is_empty() {
        attachment["text"] = json!(text);
    }
    // With a link, Mattermost shows the title as the link's text; without, as
    // markdown.
    match title_link {
        Some(url) => {
            attachment["title"] = json!(or_dash(escaped(
                &m.title,
                Lines::One,
                300,
                Units::Chars,
                plain
            )));
            attachment["title_link"] = json!(url);
        }
        None => attachment["title"] = json!(or_dash(md(&m.title, Lines::One, 300))),
    }
    json!({
        "text": format!("#### {}", or_dash(md(&m.title, Lines::One, 300))),
        "attachments": [attachment],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_as_mattermost_documents_it() {
        let b = body(&crate::chat::tests::sample());
        assert_eq!(
            b["text"],
            "#### New alert: production: Disk \\<full\\> \\& @\u{2060}here"
        );
        let a = &b["attachments"][0];
        assert_eq!(a["color"], "#d22d2d");
        assert_eq!(
            a["title_link"],
            "https://prometheus.example.com/graph?g0.expr=up"
        );
        assert_eq!(
            a["fields"][1],
            json!({"short": true, "title": "Environment", "value": "production"})
        );
        let text = a["text"].as_str().unwrap();
        assert!(
            text.contains("\\*not bold\\* \\<\\!channel\\> @\u{2060}everyone"),
            "{text}"
        );
        assert!(
            text.ends_with("[Acknowledge](https://api.example.com/alerts/ack?token=abc) · [Silence 1 h](https://api.example.com/alerts/silence?token=def&for=1h)"),
            "{text}"
        );
    }

    /// Every field of the hostile corpus, exactly as the service gets it.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let expected = json!({
            "attachments": [
                {
                    "color": "#e8a317",
                    "fallback": "Disk <\u{2060}!channel> <\u{2060}!here|here> <\u{2060}!subteam^S0123> <\u{2060}@\u{2060}U123> @\u{2060}here \\@\u{2060}all gnp.exe",
                    "fields": [
                        {
                            "short": true,
                            "title": "Hosts \\<\\!here\\>",
                            "value": "\\[a\\]\\(javascript:alert\\(1\\)\\) @\u{2060}channel"
                        },
                        {
                            "short": true,
                            "title": "—",
                            "value": "—"
                        }
                    ],
                    "text": "\\[re\\-login\\]\\(https://evil.example/sso\\) \\<https://evil.example\\|click\\> \\*\\*b\\*\\* \\_i\\_\n\\# H\n\\> q \\`c\\` @\u{2060}\u{200B}everyone \\<\\#C1\\> \\<@\u{2060}\\&42\\> \\<users/all\\> \\&lt;\\!here\\&gt; x\n\n[Acknowledge](https://api.example.com/alerts/ack?token=abc) · Runbook \\[x\\]\\(https://evil.example\\) · Image · [Dashboard](https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&r=%3Cb%3E)",
                    "title": "Disk <\u{2060}!channel> <\u{2060}!here|here> <\u{2060}!subteam^S0123> <\u{2060}@\u{2060}U123> @\u{2060}here \\@\u{2060}all gnp.exe",
                    "title_link": "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
                }
            ],
            "text": "#### Disk \\<\\!channel\\> \\<\\!here\\|here\\> \\<\\!subteam\\^S0123\\> \\<@\u{2060}U123\\> @\u{2060}here \\\\@\u{2060}all gnp.exe"
        });
        assert_eq!(body(&crate::chat::tests::hostile()), expected);
    }
}
