//! Slack's incoming webhook: `text` (the notification and the fallback) and Block
//! Kit `blocks`: the title (a header, or a link to the message's link), the text, the
//! facts as fields, the links as buttons.
//!
//! Slack's rule ([`mrkdwn`]): `&`, `<` and `>` become the entities Slack decodes, as
//! Slack documents, in every mrkdwn field and in `text`, so no `<!channel>`,
//! `<!here>`, `<!subteam^ID>`, `<@U…>`, `<#C…>` or `<url|label>` can form from a
//! payload. `plain_text` fields ([`plain`]), which Slack does not parse, get a word
//! joiner after each `<` instead, so they show as written and could not form one
//! either. A link's target comes from [`safe_url`](super::safe_url) (no `|`, `<`, `>`
//! left in it) with `&` as `&amp;`.
//!
//! Limits as Slack documents them: 50 blocks; header 150 characters; section text
//! 3000 (never empty); 10 fields of 2000 per section; 25 elements per actions block;
//! button text 75, URL 3000. Facts and buttons beyond a block's limit go in further
//! blocks; the text is cut in its own block, away from the buttons.

use serde_json::{Value, json};

use super::Message;
use super::text::{Lines, Shown, Units, WORD_JOINER, all_links, escaped, or_dash};

/// Slack's rule for mrkdwn and the message's `text`.
pub(crate) fn mrkdwn(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Slack's rule for `plain_text`: shown as written, a word joiner after `<`.
fn plain(c: char, out: &mut String) {
    out.push(c);
    if c == '<' {
        out.push(WORD_JOINER);
    }
}

fn md(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Chars, mrkdwn)
}

fn pt(text: &str, max: usize) -> String {
    or_dash(escaped(text, Lines::One, max, Units::Chars, plain))
}

const MAX_BLOCKS: usize = 50;
const SECTION: usize = 3000;

pub fn body(m: &Message) -> Value {
    let mut blocks = Vec::new();
    let links = all_links(m);
    let title_link = m
        .link
        .as_ref()
        .and_then(|_| links.first())
        .and_then(|l| l.url.as_deref())
        .map(|u| u.replace('&', "&amp;"))
        .filter(|u| u.len() + 16 < SECTION);
    match title_link {
        Some(url) => {
            let room = SECTION - url.len() - 5;
            let title = or_dash(md(&m.title, Lines::One, room));
            blocks.push(json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": format!("*<{url}|{title}>*")},
            }));
        }
        None => blocks.push(json!({
            "type": "header",
            "text": {"type": "plain_text", "text": pt(&m.title, 150), "emoji": true},
        })),
    }
    let text = md(&m.text, Lines::Many, SECTION);
    if !text.trim().is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    for facts in m.facts.chunks(10) {
        let fields: Vec<Value> = facts
            .iter()
            .map(|f| {
                let name = or_dash(md(&f.name, Lines::One, 200));
                let value = or_dash(md(&f.value, Lines::Many, 2000 - name.chars().count() - 3));
                json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(image) = m.image.as_ref().and_then(image_block) {
        blocks.push(image);
    }
    let (linked, dropped): (Vec<&Shown>, Vec<&Shown>) = links.iter().partition(|l| l.url.is_some());
    for chunk in linked.chunks(25) {
        let buttons: Vec<Value> = chunk
            .iter()
            .map(|l| {
                json!({
                    "type": "button",
                    "text": {"type": "plain_text", "text": pt(l.label, 75), "emoji": true},
                    "url": l.url,
                })
            })
            .collect();
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    if let Some(alert) = &m.alert {
        blocks.push(alert_buttons(alert));
    }
    if !dropped.is_empty() {
        // Links whose target could not be made safe: their labels, as text.
        let labels: Vec<String> = dropped
            .iter()
            .map(|l| md(l.label, Lines::One, 200))
            .collect();
        let text = or_dash(md(&labels.join(" · "), Lines::One, SECTION));
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}));
    }
    blocks.truncate(MAX_BLOCKS);
    json!({"text": or_dash(md(&m.title, Lines::One, SECTION)), "blocks": blocks})
}

/// Slack's `image` block: `image_url` (http(s), at most 3000 characters; another is
/// left out and the message goes without it) and `alt_text`, plain text (Slack's
/// rule for it, [`plain`]) of at most 2000 characters.
fn image_block(image: &super::Image) -> Option<Value> {
    let ok = image.url.len() <= 3000
        && (image.url.starts_with("https://") || image.url.starts_with("http://"));
    ok.then(|| {
        json!({
            "type": "image",
            "image_url": image.url,
            "alt_text": or_dash(escaped(&image.alt, Lines::Many, 2000, Units::Chars, plain)),
        })
    })
}

/// The buttons that act on a firing alert through openmic's interactivity route
/// (`POST /chat/slack/actions`), each carrying the alert record's id.
fn alert_buttons(alert: &str) -> Value {
    use super::commands::{ACK_BUTTON, RESOLVE_BUTTON, SILENCE_BUTTON};
    let button = |action: &str, label: &str| {
        json!({
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": label, "emoji": true},
            "value": alert,
        })
    };
    json!({
        "type": "actions",
        "block_id": "openmic_alert",
        "elements": [
            button(ACK_BUTTON, "Acknowledge"),
            button(SILENCE_BUTTON, "Silence 1h"),
            button(RESOLVE_BUTTON, "Resolve"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_block_within_slacks_limits_or_none() {
        let mut m = crate::chat::tests::sample();
        m.image = Some(crate::chat::Image {
            url: "https://api.example.com/charts/ab/1.png?expires=1&sig=x".into(),
            alt: format!("Chart of up <!channel> {}", "x".repeat(3000)),
        });
        let b = body(&m);
        let image = b["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "image")
            .expect("an image block")
            .clone();
        assert_eq!(
            image["image_url"],
            "https://api.example.com/charts/ab/1.png?expires=1&sig=x"
        );
        let alt = image["alt_text"].as_str().unwrap();
        assert!(alt.chars().count() <= 2000, "{}", alt.chars().count());
        assert!(alt.starts_with("Chart of up <\u{2060}!channel>"), "{alt}");
        for url in [
            format!("https://api.example.com/{}", "a".repeat(3000)),
            "javascript:alert(1)".to_owned(),
        ] {
            m.image = Some(crate::chat::Image {
                url,
                alt: "x".into(),
            });
            let b = body(&m);
            assert!(
                !b["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["type"] == "image"),
                "left out"
            );
        }
    }

    #[test]
    fn blocks_as_slack_documents_them() {
        let b = body(&crate::chat::tests::sample());
        assert_eq!(
            b["text"],
            "New alert: production: Disk &lt;full&gt; &amp; @here"
        );
        let blocks = b["blocks"].as_array().unwrap();
        assert_eq!(
            blocks[0]["text"]["text"],
            "*<https://prometheus.example.com/graph?g0.expr=up|New alert: production: Disk &lt;full&gt; &amp; @here>*"
        );
        assert!(
            blocks[1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("&lt;!channel&gt;"),
            "{}",
            blocks[1]
        );
        assert_eq!(blocks[2]["fields"][0]["text"], "*Severity*\ncritical");
        let buttons = blocks[3]["elements"].as_array().unwrap();
        assert_eq!(buttons.len(), 3);
        assert_eq!(buttons[1]["text"]["text"], "Acknowledge");
        assert_eq!(
            buttons[1]["url"],
            "https://api.example.com/alerts/ack?token=abc"
        );
    }

    /// Every field of the hostile corpus, exactly as the service gets it.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let expected = json!({
            "blocks": [
                {
                    "text": {
                        "text": "*<https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish|Disk &lt;!channel&gt; &lt;!here|here&gt; &lt;!subteam^S0123&gt; &lt;@U123&gt; @here \\@all gnp.exe>*",
                        "type": "mrkdwn"
                    },
                    "type": "section"
                },
                {
                    "text": {
                        "text": "[re-login](https://evil.example/sso) &lt;https://evil.example|click&gt; **b** _i_\n# H\n&gt; q `c` @\u{200B}everyone &lt;#C1&gt; &lt;@&amp;42&gt; &lt;users/all&gt; &amp;lt;!here&amp;gt; x",
                        "type": "mrkdwn"
                    },
                    "type": "section"
                },
                {
                    "fields": [
                        {
                            "text": "*Hosts &lt;!here&gt;*\n[a](javascript:alert(1)) @channel",
                            "type": "mrkdwn"
                        },
                        {
                            "text": "*—*\n—",
                            "type": "mrkdwn"
                        }
                    ],
                    "type": "section"
                },
                {
                    "elements": [
                        {
                            "text": {
                                "emoji": true,
                                "text": "Graph",
                                "type": "plain_text"
                            },
                            "type": "button",
                            "url": "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
                        },
                        {
                            "text": {
                                "emoji": true,
                                "text": "Acknowledge",
                                "type": "plain_text"
                            },
                            "type": "button",
                            "url": "https://api.example.com/alerts/ack?token=abc"
                        },
                        {
                            "text": {
                                "emoji": true,
                                "text": "Dashboard",
                                "type": "plain_text"
                            },
                            "type": "button",
                            "url": "https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&r=%3Cb%3E"
                        }
                    ],
                    "type": "actions"
                },
                {
                    "elements": [
                        {
                            "text": "Runbook [x](https://evil.example) · Image",
                            "type": "mrkdwn"
                        }
                    ],
                    "type": "context"
                }
            ],
            "text": "Disk &lt;!channel&gt; &lt;!here|here&gt; &lt;!subteam^S0123&gt; &lt;@U123&gt; @here \\@all gnp.exe"
        });
        assert_eq!(body(&crate::chat::tests::hostile()), expected);
    }
}
