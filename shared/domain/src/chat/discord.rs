//! Discord's webhook: `content` (the notification) and one embed (`title`, `url`,
//! `description`, `color`, `fields`, `timestamp`), with `allowed_mentions` empty so no
//! payload pings anyone. Webhooks not owned by an application cannot have buttons:
//! the links are masked links at the end of the description, and the text is cut
//! before them, so no link is ever cut or lost to the limit.
//!
//! Discord's rule ([`markdown`]): a backslash before every ASCII punctuation mark its
//! markdown reads, as Discord's own escaping does: no masked link (`[x](…)`), no
//! emphasis, heading, list or quote, and no mention: `\@everyone`, `\<@123>`,
//! `\<#123>`, `\<@&123>` show as written (and `allowed_mentions` would not let them
//! ping anyway).
//!
//! Limits as Discord documents them, counted as `@discordjs/builders` counts them
//! (UTF-16): content 2000; title 256; description 1 to 4096, left out when there is
//! nothing to say; 25 fields, name 1 to 256 and value 1 to 1024; 6000 in all.

use serde_json::{Value, json};

use super::Message;
use super::text::{Lines, Units, all_links, escaped, markdown_reads, or_dash};

/// Discord's rule for text in its markdown.
fn markdown(c: char, out: &mut String) {
    if markdown_reads(c) {
        out.push('\\');
    }
    out.push(c);
}

fn md(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Utf16, markdown)
}

const TITLE: usize = 256;
const DESCRIPTION: usize = 4096;
const FIELDS: usize = 25;
const FIELD_NAME: usize = 256;
const FIELD_VALUE: usize = 1024;
const EMBED: usize = 6000;

pub fn body(m: &Message) -> Value {
    let len = |s: &str| Units::Utf16.of(s);
    let title = or_dash(md(&m.title, Lines::One, TITLE));
    let links = all_links(m);
    // Every button as a masked link (or its label, when its target cannot be made
    // safe), each whole, as many as the description holds.
    let mut links_text = String::new();
    for l in links.iter().skip(usize::from(m.link.is_some())) {
        let label = or_dash(md(l.label, Lines::One, 100));
        let piece = match &l.url {
            Some(url) => format!("[{label}]({url})"),
            None => label,
        };
        let sep = if links_text.is_empty() { 0 } else { 3 };
        if len(&links_text) + sep + len(&piece) > DESCRIPTION {
            tracing::warn!(label = l.label, "a link does not fit in a Discord embed");
            continue;
        }
        if sep > 0 {
            links_text.push_str(" · ");
        }
        links_text.push_str(&piece);
    }
    let links_len = len(&links_text);
    // What the fields may take of the embed's 6000, leaving the links theirs.
    let facts = &m.facts[..m.facts.len().min(FIELDS)];
    let for_fields = EMBED.saturating_sub(len(&title) + links_len + 2);
    let mut remaining = for_fields;
    let mut fields = Vec::with_capacity(facts.len());
    for (i, f) in facts.iter().enumerate() {
        // Each field after this one keeps room for a name and a value of one unit.
        let cap = remaining.saturating_sub((facts.len() - i - 1) * 2).max(2);
        let name = or_dash(md(&f.name, Lines::One, FIELD_NAME.min(cap - 1)));
        let room = FIELD_VALUE.min(cap.saturating_sub(len(&name))).max(1);
        let value = or_dash(md(&f.value, Lines::Many, room));
        remaining = remaining.saturating_sub(len(&name) + len(&value));
        fields.push(json!({"name": name, "value": value, "inline": true}));
    }
    let fields_len: usize = fields
        .iter()
        .map(|f| len(f["name"].as_str().unwrap_or("")) + len(f["value"].as_str().unwrap_or("")))
        .sum();
    let room = DESCRIPTION
        .saturating_sub(links_len + 2)
        .min(EMBED.saturating_sub(len(&title) + fields_len + links_len + 2));
    let mut description = md(&m.text, Lines::Many, room);
    if !links_text.is_empty() {
        if !description.trim().is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&links_text);
    }
    let mut embed = json!({
        "title": title,
        "color": m.tone.rgb(),
        "fields": fields,
        "timestamp": crate::time::format(&m.timestamp),
    });
    if !description.trim().is_empty() {
        embed["description"] = json!(description);
    }
    if let Some(url) = m
        .link
        .as_ref()
        .and(links.first())
        .and_then(|l| l.url.clone())
    {
        embed["url"] = json!(url);
    }
    json!({
        "content": or_dash(md(&m.title, Lines::One, 2000)),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embed_as_discord_documents_it() {
        let b = body(&crate::chat::tests::sample());
        assert_eq!(b["allowed_mentions"], json!({"parse": []}));
        let e = &b["embeds"][0];
        assert_eq!(
            e["title"],
            "New alert: production: Disk \\<full\\> \\& \\@here"
        );
        assert_eq!(e["color"], 0xd22d2d);
        assert_eq!(e["url"], "https://prometheus.example.com/graph?g0.expr=up");
        assert_eq!(e["timestamp"], "2024-03-05T10:00:00.000Z");
        assert_eq!(
            e["fields"][0],
            json!({"name": "Severity", "value": "critical", "inline": true})
        );
        assert!(
            e["description"]
                .as_str()
                .unwrap()
                .contains("[Acknowledge](https://api.example.com/alerts/ack?token=abc)")
        );
    }

    /// Every field of the hostile corpus, exactly as the service gets it.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let expected = json!({
            "allowed_mentions": {
                "parse": []
            },
            "content": "Disk \\<\\!channel\\> \\<\\!here\\|here\\> \\<\\!subteam\\^S0123\\> \\<\\@U123\\> \\@here \\\\\\@all gnp.exe",
            "embeds": [
                {
                    "color": 15246103,
                    "description": "\\[re\\-login\\]\\(https://evil.example/sso\\) \\<https://evil.example\\|click\\> \\*\\*b\\*\\* \\_i\\_\n\\# H\n\\> q \\`c\\` \\@\u{200B}everyone \\<\\#C1\\> \\<\\@\\&42\\> \\<users/all\\> \\&lt;\\!here\\&gt; x\n\n[Acknowledge](https://api.example.com/alerts/ack?token=abc) · Runbook \\[x\\]\\(https://evil.example\\) · Image · [Dashboard](https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&r=%3Cb%3E)",
                    "fields": [
                        {
                            "inline": true,
                            "name": "Hosts \\<\\!here\\>",
                            "value": "\\[a\\]\\(javascript:alert\\(1\\)\\) \\@channel"
                        },
                        {
                            "inline": true,
                            "name": "—",
                            "value": "—"
                        }
                    ],
                    "timestamp": "2024-03-05T10:00:00.000Z",
                    "title": "Disk \\<\\!channel\\> \\<\\!here\\|here\\> \\<\\!subteam\\^S0123\\> \\<\\@U123\\> \\@here \\\\\\@all gnp.exe",
                    "url": "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
                }
            ]
        });
        assert_eq!(body(&crate::chat::tests::hostile()), expected);
    }
}
