//! Mattermost's incoming webhook: `text` and one Slack-style entry of `attachments`
//! (`fallback`, `color`, `title`, `title_link`, `text`, `fields` with `short`). Its
//! buttons call integrations, so the links are markdown links in the attachment's
//! text. Payload text is markdown-escaped: no formatting, no `@channel`.

use serde_json::{Value, json};

use super::{Message, clip, markdown_escape, markdown_links};

pub fn body(m: &Message) -> Value {
    let mut text = markdown_escape(&m.text);
    if !m.buttons.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&markdown_links(m.buttons.iter()));
    }
    let fields: Vec<Value> = m
        .facts
        .iter()
        .map(|f| json!({"short": true, "title": f.name, "value": markdown_escape(&f.value)}))
        .collect();
    let mut attachment = json!({
        "fallback": clip(&m.title, 300),
        "color": m.tone.hex(),
        "title": clip(&m.title, 300),
        "text": clip(&text, 7000),
        "fields": fields,
    });
    if let Some(link) = &m.link {
        attachment["title_link"] = json!(link.url);
    }
    json!({"text": format!("#### {}", clip(&markdown_escape(&m.title), 300)), "attachments": [attachment]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_as_mattermost_documents_it() {
        let b = body(&crate::chat::tests::sample());
        assert_eq!(
            b["text"],
            "#### New alert: production: Disk \\<full\\> \\& \\@here"
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
            text.contains("\\*not bold\\* \\<\\!channel\\> \\@everyone"),
            "{text}"
        );
        assert!(
            text.ends_with("[Acknowledge](https://api.example.com/alerts/ack?token=abc) · [Silence 1 h](https://api.example.com/alerts/silence?token=def&for=1h)"),
            "{text}"
        );
    }
}
