//! Microsoft Teams: a `message` with one Adaptive Card attachment
//! (`application/vnd.microsoft.card.adaptive`, card version 1.4), the format Teams'
//! Workflows webhooks ("post to a channel when a webhook request is received") and
//! the older incoming-webhook connectors both take: the title, the text, the facts as
//! a `FactSet`, the links as `Action.OpenUrl` actions.

use serde_json::{Value, json};

use super::{Message, Tone, all_links, clip};

pub fn body(m: &Message) -> Value {
    let color = match m.tone {
        Tone::Danger => "Attention",
        Tone::Warning => "Warning",
        Tone::Good => "Good",
        Tone::Neutral => "Default",
    };
    let mut card_body = vec![json!({
        "type": "TextBlock",
        "text": clip(&m.title, 400),
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": true,
    })];
    if !m.text.trim().is_empty() {
        card_body.push(json!({"type": "TextBlock", "text": clip(&m.text, 6000), "wrap": true}));
    }
    if !m.facts.is_empty() {
        let facts: Vec<Value> = m
            .facts
            .iter()
            .map(|f| json!({"title": f.name, "value": f.value}))
            .collect();
        card_body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let actions: Vec<Value> = all_links(m)
        .map(|l| json!({"type": "Action.OpenUrl", "title": l.label, "url": l.url}))
        .collect();
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
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(
            card["body"][2]["facts"][1],
            json!({"title": "Environment", "value": "production"})
        );
        assert_eq!(
            card["actions"][2],
            json!({"type": "Action.OpenUrl", "title": "Silence 1 h", "url": "https://api.example.com/alerts/silence?token=def&for=1h"})
        );
    }
}
