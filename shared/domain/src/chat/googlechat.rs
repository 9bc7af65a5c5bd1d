//! Google Chat's incoming webhook: `text` (the notification) and a `cardsV2` card
//! (header, a text paragraph, the facts as decorated text, the links as a button list),
//! threaded by the message's thread key (`thread.threadKey`, with
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` on the URL). Card text
//! takes a little HTML, so payload text is HTML-escaped.

use serde_json::{Value, json};

use super::{Message, all_links, clip};

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
    if !m.text.trim().is_empty() {
        widgets.push(json!({"textParagraph": {"text": clip(&escape_html(&m.text), 4000)}}));
    }
    for f in &m.facts {
        widgets.push(json!({"decoratedText": {"topLabel": escape_html(&f.name), "text": escape_html(&f.value)}}));
    }
    let buttons: Vec<Value> = all_links(m)
        .map(|l| json!({"text": clip(&l.label, 40), "onClick": {"openLink": {"url": l.url}}}))
        .collect();
    if !buttons.is_empty() {
        widgets.push(json!({"buttonList": {"buttons": buttons}}));
    }
    // Chat reads `<...>` in text as a mention or a link: payload text keeps none.
    let notification = m.title.replace('<', "‹").replace('>', "›");
    let mut body = json!({
        "text": clip(&notification, 4000),
        "cardsV2": [{
            "cardId": clip(&m.id, 64),
            "card": {
                "header": {"title": clip(&m.title, 200)},
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
        assert_eq!(b["text"], "New alert: production: Disk ‹full› & @here");
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
}
