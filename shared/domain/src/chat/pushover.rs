//! Pushover: `POST /1/messages.json` as Pushover's API documents it: the
//! application's `token`, the `user` (or group) key, `title` (at most 250
//! characters), `message` (at most 1,024, never empty), `url` (at most 512) with its
//! `url_title` (at most 100): the link a pager puts forward, `priority` (1, high, for
//! danger: past the user's quiet hours; 0 otherwise; emergency priority 2 would need
//! Pushover's own acknowledgement, which the signed link already is) and `timestamp`.
//!
//! The message is plain text (`html` is not set), so Pushover shows it as written:
//! nothing to escape, but bidirectional controls go. The other links follow the text,
//! which is cut before them.

use serde_json::{Value, json};

use super::text::{Lines, Units, escaped, or_dash, verbatim};
use super::{Message, Tone, pager};

const MAX_TITLE: usize = 250;
const MAX_MESSAGE: usize = 1024;
const MAX_URL: usize = 512;
const MAX_URL_TITLE: usize = 100;

fn plain(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Chars, verbatim)
}

pub fn body(token: &str, user: &str, m: &Message) -> Value {
    let forward = pager::action(m).filter(|(_, url)| url.len() <= MAX_URL);
    let mut tail = String::new();
    for l in pager::links(m) {
        let same = forward
            .as_ref()
            .is_some_and(|(label, url)| *label == l.label && Some(url) == l.url.as_ref());
        if same {
            continue;
        }
        let label = plain(l.label, Lines::One, 60);
        match &l.url {
            Some(url) => tail.push_str(&format!("\n{label}: {url}")),
            None => tail.push_str(&format!("\n{label}")),
        }
    }
    let mut head = String::new();
    if let Some(since) = pager::since_line(m) {
        head.push_str(&since);
        head.push('\n');
    }
    for f in m.facts.iter().take(6) {
        head.push_str(&format!(
            "{}: {}\n",
            or_dash(plain(&f.name, Lines::One, 40)),
            or_dash(plain(&f.value, Lines::One, 100))
        ));
    }
    let chars = |s: &str| s.chars().count();
    // The links go while they fit beside the head (a long list of them is cut from
    // the end, a link at a time).
    let mut tail_kept = String::new();
    for p in tail.split('\n').filter(|p| !p.is_empty()) {
        if chars(&head) + chars(&tail_kept) + chars(p) + 8 > MAX_MESSAGE {
            break;
        }
        tail_kept.push('\n');
        tail_kept.push_str(p);
    }
    let room = MAX_MESSAGE.saturating_sub(chars(&head) + chars(&tail_kept) + 2);
    let text = plain(&m.text, Lines::Many, room);
    let mut message = head;
    if !text.trim().is_empty() {
        message.push('\n');
        message.push_str(&text);
        message.push('\n');
    }
    message.push_str(&tail_kept);
    let priority = match m.tone {
        Tone::Danger => 1,
        _ => 0,
    };
    let mut body = json!({
        "token": token,
        "user": user,
        "title": or_dash(plain(&m.title, Lines::One, MAX_TITLE)),
        "message": or_dash(message.trim().to_owned()),
        "priority": priority,
        "timestamp": m.timestamp.timestamp(),
    });
    if let Some((label, url)) = forward {
        body["url"] = json!(url);
        body["url_title"] = json!(or_dash(plain(label, Lines::One, MAX_URL_TITLE)));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_as_pushover_documents_it() {
        let b = body(
            "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
            "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
            &crate::chat::tests::sample(),
        );
        assert_eq!(
            b,
            json!({
                "token": "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
                "user": "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
                "title": "New alert: production: Disk <full> & @here",
                "message": "Since 2024-03-05 09:48 UTC (12m)\nSeverity: critical\nEnvironment: production\n\nDisk /var at 97% on db-1.\n*not bold* <!channel> @everyone\n\nSilence 1 h: https://api.example.com/alerts/silence?token=def&for=1h\nGraph: https://prometheus.example.com/graph?g0.expr=up",
                "priority": 1,
                "timestamp": 1709632800,
                "url": "https://api.example.com/alerts/ack?token=abc",
                "url_title": "Acknowledge",
            })
        );
    }

    #[test]
    fn within_pushovers_limits() {
        let m = Message {
            title: "t".repeat(400),
            text: "ü".repeat(3000),
            buttons: (0..40)
                .map(|i| crate::chat::Link {
                    label: format!("Link {i}"),
                    url: format!("https://example.com/{i}/{}", "p".repeat(100)),
                })
                .collect(),
            ..crate::chat::tests::sample()
        };
        let b = body("t", "u", &m);
        assert!(b["title"].as_str().unwrap().chars().count() <= MAX_TITLE);
        let message = b["message"].as_str().unwrap();
        assert!(
            message.chars().count() <= MAX_MESSAGE,
            "{}",
            message.chars().count()
        );
        assert!(
            message.contains("Link 1: https://example.com/1/"),
            "{message}"
        );
        assert_eq!(b["url_title"], "Link 0");
        // Hostile text is shown as written, minus bidi controls; unsafe targets are
        // labels only.
        let h = body("t", "u", &crate::chat::tests::hostile());
        assert_eq!(h["url"], "https://api.example.com/alerts/ack?token=abc");
        let message = h["message"].as_str().unwrap();
        assert!(
            message.contains("\nRunbook [x](https://evil.example)\nImage\n"),
            "{message}"
        );
        assert!(
            !message.contains("javascript:alert(document") && !message.contains('\u{202E}'),
            "{message}"
        );
    }
}
