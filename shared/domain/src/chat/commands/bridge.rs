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

/// Whether `line` names a call link (a `Bridge:` line, whatever URL it holds).
fn names_bridge(line: &str) -> bool {
    let t = line.trim();
    let t = t
        .strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .unwrap_or(t)
        .trim_start()
        .trim_start_matches(['*', '_']);
    t.get(..6).is_some_and(|l| l.eq_ignore_ascii_case("bridge"))
        && t.get(6..)
            .is_some_and(|a| a.trim_start_matches(['*', '_']).starts_with(':'))
}

/// The description without its `Bridge:` lines (outside code blocks): what may be
/// shown beyond the people working the incident.
pub fn without_bridge(description: &str) -> String {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in description.split('\n') {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced && names_bridge(line) {
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

/// The description with its call link set to `url`: the first `Bridge:` line outside
/// code blocks replaced, or a line added at its end.
pub fn with_bridge(description: &str, url: &str) -> String {
    let line = format!("Bridge: {url}");
    let mut fenced = false;
    let mut done = false;
    let mut out = Vec::new();
    for l in description.split('\n') {
        let t = l.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
        } else if !fenced && !done && names_bridge(l) {
            out.push(line.clone());
            done = true;
            continue;
        }
        out.push(l.to_owned());
    }
    if done {
        return out.join("\n");
    }
    let body = description.trim_end();
    if body.is_empty() {
        line
    } else {
        format!("{body}\n\n{line}")
    }
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

    #[test]
    fn the_bridge_line_is_set_once_and_kept_from_the_public() {
        let d = "Summary\n\n**Bridge:** <https://old.example/1>\n```\nBridge: x\n```";
        let set = with_bridge(d, "https://new.example/2");
        assert_eq!(
            from_description(&set).as_deref(),
            Some("https://new.example/2")
        );
        assert!(
            !set.contains("old.example") && set.contains("Bridge: x"),
            "{set}"
        );
        let added = with_bridge("Summary", "https://a.example/");
        assert_eq!(added, "Summary\n\nBridge: https://a.example/");
        assert_eq!(
            with_bridge("", "https://a.example/"),
            "Bridge: https://a.example/"
        );
        let public = without_bridge(&set);
        assert!(!public.contains("new.example"), "{public}");
        assert!(public.contains("Summary") && public.contains("Bridge: x"));
        assert_eq!(without_bridge("- bridge: javascript:x\nok"), "ok");
    }
}
