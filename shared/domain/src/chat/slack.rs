//! Slack's incoming webhook: `text` (the notification and the fallback) and Block
//! Kit `blocks`: the title (a header, or a link to the message's link), the text, the
//! facts as fields, the links as buttons. Slack's mrkdwn is escaped (`&`, `<`, `>`),
//! so no payload can mention `<!channel>` or make a link. Limits as Slack documents
//! them: header 150 characters, section text 3000, 10 fields, button text 75, URL 3000.

use serde_json::{Value, json};

use super::{Message, all_links, clip};

/// `&`, `<` and `>` as Slack wants them in mrkdwn and `text`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn body(m: &Message) -> Value {
    let mut blocks = Vec::new();
    match &m.link {
        Some(link) => blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&format!("*<{}|{}>*", link.url, escape(&m.title)), 3000)},
        })),
        None => blocks.push(json!({
            "type": "header",
            "text": {"type": "plain_text", "text": clip(&m.title, 150), "emoji": true},
        })),
    }
    if !m.text.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&escape(&m.text), 3000)},
        }));
    }
    if !m.facts.is_empty() {
        let fields: Vec<Value> = m
            .facts
            .iter()
            .take(10)
            .map(|f| {
                json!({"type": "mrkdwn", "text": clip(&format!("*{}*\n{}", escape(&f.name), escape(&f.value)), 2000)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    let buttons: Vec<Value> = all_links(m)
        .filter(|l| l.url.len() <= 3000)
        .take(25)
        .map(|l| {
            json!({
                "type": "button",
                "text": {"type": "plain_text", "text": clip(&l.label, 75), "emoji": true},
                "url": l.url,
            })
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    json!({"text": clip(&escape(&m.title), 3000), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
