//! Google Chat's incoming webhook: `text` (the notification) and a `cardsV2` card
//! (header, a text paragraph, the facts as decorated text, the links as a button list),
//! threaded by the message's thread key (`thread.threadKey`, with
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` on the URL).
//!
//! Google Chat's rules: card text takes a little HTML (`<b>`, `<a href>`, `<font>`), so
//! payload text in it is HTML-escaped ([`html`]); the message's `text` takes Chat's
//! own markup, where `<users/all>` mentions everyone, `<url|label>` is a link and `*`,
//! `_`, `~` and `` ` `` format, and which has no escape: payload text in it gets a word
//! joiner (U+2060) after each `<`, so neither a mention nor a link can start, and on
//! both sides of each formatting mark, so none stands at a word's edge where Chat
//! reads it ([`markup`]). It shows as written. The card's header and button texts are
//! plain.
//!
//! Limits as Google documents them: `text` 4096 characters; a card's header 200 (as
//! kept here), button text 40; a message 32,000 bytes in all.

use serde_json::{Value, json};

use super::Message;
use super::text::{Lines, Units, WORD_JOINER, all_links, escaped, or_dash, verbatim};

/// Google Chat's rule for card text.
fn html(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Google Chat's rule for the message's `text`.
fn markup(c: char, out: &mut String) {
    match c {
        '<' => {
            out.push('<');
            out.push(WORD_JOINER);
        }
        '*' | '_' | '~' | '`' => {
            out.push(WORD_JOINER);
            out.push(c);
            out.push(WORD_JOINER);
        }
        c => out.push(c),
    }
}

fn card_text(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Chars, html)
}

/// The webhook URL, asking Chat to thread by the message's key.
pub fn url(base: &str, m: &Message) -> String {
    if m.thread.is_none() || base.contains("messageReplyOption=") {
        return base.to_owned();
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
}

pub fn body(m: &Message) -> Value {
    let mut widgets = Vec::new();
    let text = card_text(&m.text, Lines::Many, 4000);
    if !text.trim().is_empty() {
        widgets.push(json!({"textParagraph": {"text": text}}));
    }
    for f in &m.facts {
        widgets.push(json!({"decoratedText": {
            "topLabel": or_dash(card_text(&f.name, Lines::One, 200)),
            "text": or_dash(card_text(&f.value, Lines::Many, 2000)),
        }}));
    }
    let links = all_links(m);
    let buttons: Vec<Value> = links
        .iter()
        .filter_map(|l| {
            let url = l.url.as_ref()?;
            let text = or_dash(escaped(l.label, Lines::One, 40, Units::Chars, verbatim));
            Some(json!({"text": text, "onClick": {"openLink": {"url": url}}}))
        })
        .collect();
    if !buttons.is_empty() {
        widgets.push(json!({"buttonList": {"buttons": buttons}}));
    }
    // Links whose target could not be made safe: their labels, as text.
    let dropped: Vec<String> = links
        .iter()
        .filter(|l| l.url.is_none())
        .map(|l| card_text(l.label, Lines::One, 100))
        .collect();
    if !dropped.is_empty() {
        widgets.push(json!({"textParagraph": {"text": or_dash(dropped.join(" · "))}}));
    }
    let mut body = json!({
        "text": or_dash(escaped(&m.title, Lines::One, 4000, Units::Chars, markup)),
        "cardsV2": [{
            "cardId": escaped(&m.id, Lines::One, 64, Units::Chars, verbatim),
            "card": {
                "header": {"title": or_dash(escaped(&m.title, Lines::One, 200, Units::Chars, verbatim))},
                "sections": [{"widgets": widgets}],
            },
        }],
    });
    if let Some(thread) = &m.thread {
        body["thread"] = json!({"threadKey": thread});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_as_google_chat_documents_it() {
        let m = crate::chat::tests::sample();
        let b = body(&m);
        assert_eq!(
            b["text"],
            "New alert: production: Disk <\u{2060}full> & @here"
        );
        assert_eq!(b["thread"]["threadKey"], "alert-1234");
        let widgets = b["cardsV2"][0]["card"]["sections"][0]["widgets"]
            .as_array()
            .unwrap();
        assert!(
            widgets[0]["textParagraph"]["text"]
                .as_str()
                .unwrap()
                .contains("&lt;!channel&gt;")
        );
        assert_eq!(widgets[1]["decoratedText"]["topLabel"], "Severity");
        let buttons = widgets[3]["buttonList"]["buttons"].as_array().unwrap();
        assert_eq!(
            buttons[0]["onClick"]["openLink"]["url"],
            "https://prometheus.example.com/graph?g0.expr=up"
        );
        assert_eq!(buttons[1]["text"], "Acknowledge");
        assert_eq!(
            url(
                "https://chat.googleapis.com/v1/spaces/X/messages?key=k&token=t",
                &m
            ),
            "https://chat.googleapis.com/v1/spaces/X/messages?key=k&token=t&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
        );
    }

    /// Every field of the hostile corpus, exactly as the service gets it.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let expected = json!({
            "cardsV2": [
                {
                    "card": {
                        "header": {
                            "title": "Disk <!channel> <!here|here> <!subteam^S0123> <@U123> @here \\@all gnp.exe"
                        },
                        "sections": [
                            {
                                "widgets": [
                                    {
                                        "textParagraph": {
                                            "text": "[re-login](https://evil.example/sso) &lt;https://evil.example|click&gt; **b** _i_\n# H\n&gt; q `c` @\u{200B}everyone &lt;#C1&gt; &lt;@&amp;42&gt; &lt;users/all&gt; &amp;lt;!here&amp;gt; x"
                                        }
                                    },
                                    {
                                        "decoratedText": {
                                            "text": "[a](javascript:alert(1)) @channel",
                                            "topLabel": "Hosts &lt;!here&gt;"
                                        }
                                    },
                                    {
                                        "decoratedText": {
                                            "text": "—",
                                            "topLabel": "—"
                                        }
                                    },
                                    {
                                        "buttonList": {
                                            "buttons": [
                                                {
                                                    "onClick": {
                                                        "openLink": {
                                                            "url": "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
                                                        }
                                                    },
                                                    "text": "Graph"
                                                },
                                                {
                                                    "onClick": {
                                                        "openLink": {
                                                            "url": "https://api.example.com/alerts/ack?token=abc"
                                                        }
                                                    },
                                                    "text": "Acknowledge"
                                                },
                                                {
                                                    "onClick": {
                                                        "openLink": {
                                                            "url": "https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&r=%3Cb%3E"
                                                        }
                                                    },
                                                    "text": "Dashboard"
                                                }
                                            ]
                                        }
                                    },
                                    {
                                        "textParagraph": {
                                            "text": "Runbook [x](https://evil.example) · Image"
                                        }
                                    }
                                ]
                            }
                        ]
                    },
                    "cardId": "msg-2"
                }
            ],
            "text": "Disk <\u{2060}!channel> <\u{2060}!here|here> <\u{2060}!subteam^S0123> <\u{2060}@U123> @here \\@all gnp.exe",
            "thread": {
                "threadKey": "alert-5678"
            }
        });
        assert_eq!(body(&crate::chat::tests::hostile()), expected);
    }
}
