//! A generic webhook: the message as a JSON event, `{"type", "timestamp", "data"}` as
//! Standard Webhooks suggests, signed as Standard Webhooks (and GitLab) sign:
//! `webhook-id` (the message's id, the same on every retry), `webhook-timestamp` (Unix
//! seconds of the attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 over
//! "{id}.{timestamp}.{body}">` with the channel's `whsec_` secret).
//!
//! The text is data, as the sender wrote it, for the receiver to escape for wherever
//! it shows it; links are kept only with a safe target ([`safe_url`]), so a receiver
//! that makes them links makes no `javascript:` one.

use serde_json::{Value, json};

use super::text::safe_url;
use super::{Link, Message};
use crate::signing::SigningKey;

/// `link` with its target made safe, or none.
fn safe(link: &Link) -> Option<Link> {
    Some(Link {
        label: link.label.clone(),
        url: safe_url(&link.url)?,
    })
}

pub fn body(m: &Message) -> Value {
    let links: Vec<Link> = m.buttons.iter().filter_map(safe).collect();
    json!({
        "type": m.event,
        "timestamp": crate::time::format(&m.timestamp),
        "data": {
            "id": m.id,
            "title": m.title,
            "text": m.text,
            "link": m.link.as_ref().and_then(safe),
            "facts": m.facts,
            "links": links,
            "tone": m.tone,
            "thread": m.thread,
            "details": m.details,
        },
    })
}

/// The signature headers for `body`, signed now.
pub fn headers(key: Option<&SigningKey>, m: &Message, body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = chrono::Utc::now().timestamp();
    let mut h = vec![
        ("webhook-id", m.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
    ];
    if let Some(key) = key {
        h.push(("webhook-signature", key.sign(&m.id, timestamp, body)));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_as_standard_webhooks_sign() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let m = crate::chat::tests::sample();
        let b = serde_json::to_vec(&body(&m)).unwrap();
        let h: std::collections::HashMap<_, _> = headers(Some(&key), &m, &b).into_iter().collect();
        assert_eq!(h["webhook-id"], "msg-1");
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            key.verify(
                Some(&h["webhook-id"]),
                Some(&h["webhook-timestamp"]),
                Some(&h["webhook-signature"]),
                &b,
                now
            ),
            Ok(())
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["type"], "alert.firing");
        assert_eq!(v["data"]["links"][0]["label"], "Acknowledge");
        assert_eq!(v["data"]["details"]["fingerprint"], "f1");
    }

    /// The hostile corpus as a receiver gets it: text as the sender wrote it (the
    /// receiver escapes it for where it shows it), and only links with a safe target.
    #[test]
    fn the_hostile_corpus_is_sent_as_exactly_this() {
        let expected = json!({
            "data": {
                "details": null,
                "facts": [
                    {
                        "name": "Hosts <!here>",
                        "value": "[a](javascript:alert(1)) @channel"
                    },
                    {
                        "name": "",
                        "value": "\u{202E}"
                    }
                ],
                "id": "msg-2",
                "link": {
                    "label": "Graph",
                    "url": "https://x/graph%3E*%20%3C!channel%3E%20*%3Chttps://evil.example/phish"
                },
                "links": [
                    {
                        "label": "Acknowledge",
                        "url": "https://api.example.com/alerts/ack?token=abc"
                    },
                    {
                        "label": "Dashboard",
                        "url": "https://grafana.example.com/d/x%20%281%29%7Cy%29?q=%C3%A4%20%C3%B6&r=%3Cb%3E"
                    }
                ],
                "text": "[re-login](https://evil.example/sso) <https://evil.example|click> **b** _i_\n# H\n> q `c` @\u{200B}everyone <#C1> <@&42> <users/all> &lt;!here&gt; \u{2066}x\u{2069}\u{200F}",
                "thread": "alert-5678",
                "title": "Disk <!channel> <!here|here> <!subteam^S0123> <@U123> @here \\@all \u{202E}gnp.exe",
                "tone": "warning"
            },
            "timestamp": "2024-03-05T10:00:00.000Z",
            "type": "alert.firing"
        });
        assert_eq!(body(&crate::chat::tests::hostile()), expected);
    }
}
