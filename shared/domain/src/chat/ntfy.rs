//! ntfy: a message published as JSON to the server's root, as ntfy documents
//! ("Publish as JSON"): `topic`, `title`, `message`, `priority` (5 for danger, 4 for
//! a warning, 3 otherwise), `tags` (an emoji by its short code), `click` (the link a
//! pager puts forward: tapping the notification opens it) and up to three `view`
//! `actions` (the links, as buttons). JSON rather than the headers of a POST to the
//! topic's URL (`Title`, `Priority`, `Click`, `Tags`), since a header carries no
//! line break and no character outside ASCII unencoded, and a title does.
//!
//! The text is plain (`markdown` is not set), so ntfy shows it as written: nothing
//! to escape, but bidirectional controls go. ntfy keeps a message of at most 4,096
//! bytes as text; the message is cut before its links to stay under it.

use serde_json::{Value, json};

use super::text::{Lines, Units, escaped, or_dash, verbatim};
use super::{Message, Tone, pager};

/// ntfy's most bytes of a message shown as text.
const MAX_MESSAGE: usize = 4096;
/// ntfy shows at most three action buttons.
const MAX_ACTIONS: usize = 3;

/// The server's root (where JSON is published) and the topic, from a topic's URL
/// (`https://ntfy.example/alerts` → `https://ntfy.example/`, `alerts`). The URL was
/// checked when it was read ([`super::Target::contact`]).
pub(crate) fn root_and_topic(url: &str) -> (String, String) {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let path = path.trim_end_matches('/');
    let (root, topic) = match path.rsplit_once('/') {
        Some((root, topic)) => (format!("{root}/"), topic.to_owned()),
        None => (format!("{path}/"), String::new()),
    };
    match query {
        Some(q) => (format!("{root}?{q}"), topic),
        None => (root, topic),
    }
}

fn plain(text: &str, lines: Lines, max: usize) -> String {
    escaped(text, lines, max, Units::Utf8, verbatim)
}

pub fn body(topic: &str, m: &Message) -> Value {
    let links = pager::links(m);
    let mut tail = String::new();
    for l in &links {
        let label = plain(l.label, Lines::One, 100);
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
    for f in &m.facts {
        head.push_str(&format!(
            "{}: {}\n",
            or_dash(plain(&f.name, Lines::One, 100)),
            or_dash(plain(&f.value, Lines::One, 300))
        ));
    }
    let text = {
        let room = MAX_MESSAGE.saturating_sub(head.len() + tail.len() + 2);
        plain(&m.text, Lines::Many, room)
    };
    let mut message = head;
    if !text.trim().is_empty() {
        message.push('\n');
        message.push_str(&text);
        message.push('\n');
    }
    message.push_str(&tail);
    let actions: Vec<Value> = links
        .iter()
        .filter_map(|l| {
            l.url.as_ref().map(|url| {
                json!({"action": "view", "label": plain(l.label, Lines::One, 40), "url": url})
            })
        })
        .take(MAX_ACTIONS)
        .collect();
    let (priority, tag) = match m.tone {
        Tone::Danger => (5, "rotating_light"),
        Tone::Warning => (4, "warning"),
        Tone::Good => (3, "white_check_mark"),
        Tone::Neutral => (3, "information_source"),
    };
    let mut body = json!({
        "topic": topic,
        "title": or_dash(plain(&m.title, Lines::One, 250)),
        "message": or_dash(message.trim().to_owned()),
        "priority": priority,
        "tags": [tag],
    });
    if let Some((_, url)) = pager::action(m) {
        body["click"] = json!(url);
    }
    if !actions.is_empty() {
        body["actions"] = json!(actions);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_and_the_topic() {
        for (url, root, topic) in [
            ("https://ntfy.sh/alerts", "https://ntfy.sh/", "alerts"),
            ("https://ntfy.sh/alerts/", "https://ntfy.sh/", "alerts"),
            (
                "https://example.com/ntfy/ops_1",
                "https://example.com/ntfy/",
                "ops_1",
            ),
            (
                "http://127.0.0.1:8080/ok/ntfy/alice?auth=x",
                "http://127.0.0.1:8080/ok/ntfy/?auth=x",
                "alice",
            ),
        ] {
            assert_eq!(
                root_and_topic(url),
                (root.to_owned(), topic.to_owned()),
                "{url}"
            );
        }
    }

    #[test]
    fn published_as_ntfy_documents_json() {
        let b = body("alice", &crate::chat::tests::sample());
        assert_eq!(
            b,
            json!({
                "topic": "alice",
                "title": "New alert: production: Disk <full> & @here",
                "message": "Since 2024-03-05 09:48 UTC (12m)\nSeverity: critical\nEnvironment: production\n\nDisk /var at 97% on db-1.\n*not bold* <!channel> @everyone\n\nAcknowledge: https://api.example.com/alerts/ack?token=abc\nSilence 1 h: https://api.example.com/alerts/silence?token=def&for=1h\nGraph: https://prometheus.example.com/graph?g0.expr=up",
                "priority": 5,
                "tags": ["rotating_light"],
                "click": "https://api.example.com/alerts/ack?token=abc",
                "actions": [
                    {"action": "view", "label": "Acknowledge", "url": "https://api.example.com/alerts/ack?token=abc"},
                    {"action": "view", "label": "Silence 1 h", "url": "https://api.example.com/alerts/silence?token=def&for=1h"},
                    {"action": "view", "label": "Graph", "url": "https://prometheus.example.com/graph?g0.expr=up"},
                ],
            })
        );
        // Unsafe targets are shown as their labels, never as links or actions.
        let h = body("alice", &crate::chat::tests::hostile());
        let text = h.to_string();
        let urls: Vec<&str> = h["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["url"].as_str().unwrap())
            .chain(h["click"].as_str())
            .collect();
        assert_eq!(urls.len(), 4);
        assert!(urls.iter().all(|u| u.starts_with("https://")), "{urls:?}");
        let message = h["message"].as_str().unwrap();
        assert!(
            message.contains("\nRunbook [x](https://evil.example)\nImage\n"),
            "{message}"
        );
        assert!(message.contains("\n—: —\n"), "{message}");
        assert!(!text.contains('\u{202E}'), "{text}");
        let m = crate::chat::Message {
            text: "é".repeat(5000),
            ..crate::chat::tests::sample()
        };
        let b = body("alice", &m);
        let message = b["message"].as_str().unwrap();
        assert!(message.len() <= MAX_MESSAGE, "{}", message.len());
        assert!(message.ends_with("Graph: https://prometheus.example.com/graph?g0.expr=up"));
        assert!(message.contains("é…\n"));
    }
}
