//! An incident's call link: the first `Bridge: <url>` line of its description that
//! holds an http(s) URL. It goes to the people working the incident, never onto the
//! public page.
//!
//! The label is read as people write it: any case, after a list marker (`-`, `*`),
//! in bold or italics (`**Bridge:**`, `_Bridge_:`); the URL bare, in angle brackets
//! or as a markdown link (`[Zoom](https://…)`). Lines inside a fenced code block are
//! examples, not the link.

use crate::chat::safe_url;

/// `raw` as a link target, if it is an http(s) URL with a host and no credentials
/// ([`safe_url`]'s rule).
pub fn http_url(raw: &str) -> Option<String> {
    safe_url(raw.trim())
}

/// The URL a `Bridge:` line gives, or none if `line` is not one.
fn bridge_line(line: &str) -> Option<String> {
    let line = line.trim();
    let line = line
        .strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .unwrap_or(line)
        .trim_start();
    let unmarked = line.trim_start_matches(['*', '_']);
    let label = unmarked.get(..6)?;
    if !label.eq_ignore_ascii_case("bridge") {
        return None;
    }
    let after = unmarked.get(6..)?.trim_start_matches(['*', '_']);
    let after = after
        .strip_prefix(':')?
        .trim_start_matches(['*', '_'])
        .trim();
    let value = if let Some(inner) = after.strip_prefix('<') {
        inner.split('>').next().unwrap_or_default()
    } else if let Some((_, link)) = after.strip_prefix('[').and_then(|a| a.split_once("](")) {
        link.split(')').next().unwrap_or_default()
    } else {
        after.split_whitespace().next().unwrap_or_default()
    };
    http_url(value)
}

/// The incident's call link from its `description`.
pub fn from_description(description: &str) -> Option<String> {
    let mut fenced = false;
    for line in description.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if let Some(url) = bridge_line(line) {
            return Some(url);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_http_bridge_line_wins_as_people_write_it() {
        for (text, url) in [
            (
                "Bridge: https://zoom.example/j/1",
                "https://zoom.example/j/1",
            ),
            (
                "  - **Bridge:** <https://meet.example/abc>",
                "https://meet.example/abc",
            ),
            (
                "* bridge: [Zoom](https://zoom.example/j/2) (pw in vault)",
                "https://zoom.example/j/2",
            ),
            (
                "_Bridge_: http://call.example/x now",
                "http://call.example/x",
            ),
            (
                "Summary\n\nBRIDGE: https://a.example/1\nBridge: https://b.example/2",
                "https://a.example/1",
            ),
            (
                "Bridge: javascript:alert(1)\nBridge: https://b.example/2",
                "https://b.example/2",
            ),
        ] {
            assert_eq!(from_description(text).as_deref(), Some(url), "{text}");
        }
    }

    #[test]
    fn no_link_without_an_http_bridge_line_outside_code() {
        for text in [
            "",
            "Bridges: https://a.example/",
            "The bridge: https://a.example/",
            "Bridge https://a.example/",
            "Bridge: ftp://a.example/",
            "Bridge: https://user:pw@a.example/",
            "Bridge: meet.example/abc",
            "```\nBridge: https://a.example/\n```",
            "Bridg",
            "Bridgé: https://a.example/",
            "é",
        ] {
            assert_eq!(from_description(text), None, "{text:?}");
        }
    }
}
