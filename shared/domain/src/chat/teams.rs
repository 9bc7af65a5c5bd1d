//! Microsoft Teams: a `message` with one Adaptive Card attachment
//! (`application/vnd.microsoft.card.adaptive`, card version 1.4), the format Teams'
//! Workflows webhooks ("post to a channel when a webhook request is received") and
//! the older incoming-webhook connectors both take: the title, the text and the facts,
//! the links as `Action.OpenUrl` actions.
//!
//! Teams' rule ([`run`]): text from a payload is only ever the text of a `TextRun`
//! inside a `RichTextBlock`, which Adaptive Cards never read as Markdown (the schema
//! says so, and the project's own sample `RichTextBlock.Markdown.json` checks that
//! `**bold**` stays as written). A `TextBlock` or a `FactSet` would read it as
//! Markdown, where `[re-login](https://…)` is a live link and escapes differ between
//! Teams' renderers, so the card has neither. Action titles are plain text.
//!
//! Teams' host config shows at most six actions (`actions.maxActions`): the first six
//! links are actions, the rest are runs that open their link, after the facts.

use serde_json::{Value, json};

use super::text::{Lines, Units, all_links, escaped, or_dash, verbatim};
use super::{Message, Tone};

/// `actions.maxActions` in Teams' published host config.
pub const MAX_ACTIONS: usize = 6;

/// Teams' rule: a `TextRun` of `text`, never Markdown, with the run's `style` fields
/// added.
fn run(text: &str, lines: Lines, max: usize, style: Value) -> Value {
    let mut run = json!({
        "type": "TextRun",
        "text": or_dash(escaped(text, lines, max, Units::Chars, verbatim)),
    });
    if let (Some(run), Value::Object(style)) = (run.as_object_mut(), style) {
        run.extend(style);
    }
    run
}

fn rich(inlines: Vec<Value>) -> Value {
    json!({"type": "RichTextBlock", "inlines": inlines})
}

/// An Adaptive Card `Image` of the chart: Teams fetches `url` (http(s) only; another
/// is left out and the card goes without it), `altText` plain text, as wide as the
/// card.
fn image(image: &super::Image) -> Option<Value> {
    let ok = image.url.starts_with("https://") || image.url.starts_with("http://");
    ok.then(|| {
        json!({
            "type": "Image",
            "url": image.url,
            "altText": or_dash(escaped(&image.alt, Lines::Many, 2000, Units::Chars, verbatim)),
            "size": "Stretch",
        })
    })
}

pub fn body(m: &Message) -> Value {
    let color = match m.tone {
        Tone::Danger => "Attention",
        Tone::Warning => "Warning",
        Tone::Good => "Good",
        Tone::Neutral => "Default",
    };
    let mut card_body = vec![rich(vec![run(
        &m.title,
        Lines::One,
        400,
        json!({"weight": "Bolder", "size": "Medium", "color": color}),
    )])];
    if !m.text.trim().is_empty() {
        card_body.push(rich(vec![run(&m.text, Lines::Many, 6000, json!({}))]));
    }
    if let Some(image) = m.image.as_ref().and_then(image) {
        card_body.push(image);
    }
    if !m.facts.is_empty() {
        let mut inlines = Vec::new();
        for (i, f) in m.facts.iter().enumerate() {
            let name = or_dash(escaped(&f.name, Lines::One, 200, Units::Chars, verbatim));
            let newline = if i == 0 { "" } else { "\n" };
            inlines.push(json!({
                "type": "TextRun",
                "text": format!("{newline}{name}: "),
                "weight": "Bolder",
            }));
            inlines.push(run(&f.value, Lines::One, 1000, json!({})));
        }
        card_body.push(rich(inlines));
    }
    let links = all_links(m);
    let (linked, dropped): (Vec<_>, Vec<_>) = links.iter().partition(|l| l.url.is_some());
    let actions: Vec<Value> = linked
        .iter()
        .take(MAX_ACTIONS)
        .map(|l| {
            json!({
                "type": "Action.OpenUrl",
                "title": or_dash(escaped(l.label, Lines::One, 100, Units::Chars, verbatim)),
                "url": l.url,
            })
        })
        .collect();
    // The links beyond the actions Teams shows, and those without a safe target.
    let mut more = Vec::new();
    for l in linked.iter().skip(MAX_ACTIONS).chain(&dropped) {
        if !more.is_empty() {
            more.push(run(" · ", Lines::One, 3, json!({})));
        }
        let mut r = run(l.label, Lines::One, 100, json!({}));
        if let Some(url) = &l.url {
            r["selectAction"] = json!({"type": "Action.OpenUrl", "url": url});
        }
        more.push(r);
    }
    if !more.is_empty() {
        card_body.push(rich(more));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": card_body,
                "actions": actions,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_image_of_the_card_when_its_link_is_http() {
        let mut m = crate::chat::tests::sample();
        m.image = Some(crate::chat::Image {
            url: "https://api.example.com/charts/ab/1.png?expires=1&sig=x".into(),
            alt: "Chart of up > 0: now 1".into(),
        });
        let b = body(&m);
        let card = &b["attachments"][0]["content"];
        let image = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "Image")
            .expect("an Image element");
        assert_eq!(
            image["url"],
            "https://api.example.com/charts/ab/1.png?expires=1&sig=x"
        );
        assert_eq!(image["altText"], "Chart of up > 0: now 1");
        m.image = Some(crate::chat::Image {
            url: "javascript:alert(1)".into(),
            alt: "x".into(),
        });
        let b = body(&m);
        assert!(
            !b["attachments"][0]["content"]["body"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == "Image")
        );
    }

    #[test]
    fn an_adaptive_card_as_teams_documents_it() {
        let b = body(&crate::chat::tests::sample());
        assert_eq!(b["type"], "message");
        let a = &b["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &a["content"];
        assert_eq!(
            (&card["type"], &card["version"]),
            (&json!("AdaptiveCard"), &json!("1.4"))
        );
        assert_eq!(card["body"][0]["inlines"][0]["color"], "Attention");
        assert_eq!(
            card["body"][2]["inlines"][2],
            json!({"type": "TextRun", "text": "\nEnvironment: ", "weight": "Bolder"})
        );
        assert_eq!(
            card["actions"][2],
            json!({"type": "Action.OpenUrl", "title": "Silence 1 h", "url": "https://api.example.com/alerts/silence?token=def&for=1h"})
        );
    }

    /// Every field of the hostile corpus, exactly as the service gets it.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let expected = json!({
            "attachments": [
                {
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "actions": [
                            {
                                "title": "Graph",
                                "type": "Action.OpenUrl",
                                "url": "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
                            },
                            {
                                "title": "Acknowledge",
                                "type": "Action.OpenUrl",
                                "url": "https://api.example.com/alerts/ack?token=abc"
                            },
                            {
                                "title": "Dashboard",
                                "type": "Action.OpenUrl",
                                "url": "https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&r=%3Cb%3E"
                            }
                        ],
                        "body": [
                            {
                                "inlines": [
                                    {
                                        "color": "Warning",
                                        "size": "Medium",
                                        "text": "Disk <!channel> <!here|here> <!subteam^S0123> <@U123> @here \\@all gnp.exe",
                                        "type": "TextRun",
                                        "weight": "Bolder"
                                    }
                                ],
                                "type": "RichTextBlock"
                            },
                            {
                                "inlines": [
                                    {
                                        "text": "[re-login](https://evil.example/sso) <https://evil.example|click> **b** _i_\n# H\n> q `c` @\u{200B}everyone <#C1> <@&42> <users/all> &lt;!here&gt; x",
                                        "type": "TextRun"
                                    }
                                ],
                                "type": "RichTextBlock"
                            },
                            {
                                "inlines": [
                                    {
                                        "text": "Hosts <!here>: ",
                                        "type": "TextRun",
                                        "weight": "Bolder"
                                    },
                                    {
                                        "text": "[a](javascript:alert(1)) @channel",
                                        "type": "TextRun"
                                    },
                                    {
                                        "text": "\n—: ",
                                        "type": "TextRun",
                                        "weight": "Bolder"
                                    },
                                    {
                                        "text": "—",
                                        "type": "TextRun"
                                    }
                                ],
                                "type": "RichTextBlock"
                            },
                            {
                                "inlines": [
                                    {
                                        "text": "Runbook [x](https://evil.example)",
                                        "type": "TextRun"
                                    },
                                    {
                                        "text": " · ",
                                        "type": "TextRun"
                                    },
                                    {
                                        "text": "Image",
                                        "type": "TextRun"
                                    }
                                ],
                                "type": "RichTextBlock"
                            }
                        ],
                        "msteams": {
                            "width": "Full"
                        },
                        "type": "AdaptiveCard",
                        "version": "1.4"
                    },
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null
                }
            ],
            "type": "message"
        });
        assert_eq!(body(&crate::chat::tests::hostile()), expected);
    }
}
