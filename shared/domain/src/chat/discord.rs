//! Discord's webhook: `content` (the notification) and one embed (`title`, `url`,
//! `description`, `color`, `fields`, `timestamp`), with `allowed_mentions` empty so no
//! payload pings anyone. Webhooks not owned by an application cannot have buttons:
//! the links are markdown links in the description. Limits as Discord documents them:
//! content 2000, title 256, description 4096, 25 fields (name 256, value 1024).

use serde_json::{Value, json};

use super::{Message, clip, markdown_escape, markdown_links};

pub fn body(m: &Message) -> Value {
    let mut description = markdown_escape(&m.text);
    if !m.buttons.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&markdown_links(m.buttons.iter()));
    }
    let fields: Vec<Value> = m
        .facts
        .iter()
        .take(25)
        .map(|f| json!({"name": clip(&f.name, 256), "value": clip(&markdown_escape(&f.value), 1024), "inline": true}))
        .collect();
    let mut embed = json!({
        "title": clip(&m.title, 256),
        "description": clip(&description, 4096),
        "color": m.tone.rgb(),
        "fields": fields,
        "timestamp": crate::time::format(&m.timestamp),
    });
    if let Some(link) = &m.link {
        embed["url"] = json!(link.url);
    }
    json!({
        "content": clip(&markdown_escape(&m.title), 2000),
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
        assert_eq!(e["title"], "New alert: production: Disk <full> & @here");
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
}
