//! Published HTML as plain text, for the text part of mail: blocks on lines of their
//! own, list items as `- `, links followed by their address, images by their
//! description, entities decoded. It reads the HTML this crate writes (sanitised,
//! well formed); anything else it reads as best it can, never failing.

/// The plain text of published HTML.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut pre = 0usize;
    let mut hrefs: Vec<Option<String>> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, rest, pre > 0);
            break;
        };
        push_text(&mut out, &rest[..lt], pre > 0);
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else {
            // A lone `<`: text.
            push_text(&mut out, rest, pre > 0);
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (name.as_str(), closing) {
            ("br", _) => newline(&mut out),
            (
                "p" | "div" | "blockquote" | "table" | "ul" | "ol" | "h1" | "h2" | "h3" | "h4"
                | "h5" | "h6" | "hr" | "section" | "details" | "summary",
                _,
            ) => paragraph(&mut out),
            ("tr" | "dt" | "dd", _) => newline(&mut out),
            ("td" | "th", false) if !out.ends_with('\n') && !out.is_empty() => {
                out.push_str(" | ");
            }
            ("li", false) => {
                newline(&mut out);
                out.push_str("- ");
            }
            ("pre", false) => {
                paragraph(&mut out);
                pre += 1;
            }
            ("pre", true) => {
                pre = pre.saturating_sub(1);
                paragraph(&mut out);
            }
            ("a", false) => hrefs.push(attribute(tag, "href")),
            ("a", true) => {
                if let Some(Some(href)) = hrefs.pop()
                    && !out.ends_with(href.as_str())
                    && !href.starts_with('#')
                {
                    out.push_str(" (");
                    out.push_str(&href);
                    out.push(')');
                }
            }
            ("img", _) => {
                let alt = attribute(tag, "alt").filter(|a| !a.trim().is_empty());
                out.push_str(&format!(
                    "[image: {}]",
                    alt.as_deref().unwrap_or("no description")
                ));
            }
            ("input", _) if tag.contains("checkbox") => {
                out.push_str(if tag.contains("checked") {
                    "[x] "
                } else {
                    "[ ] "
                });
            }
            _ => {}
        }
    }
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let mut text = String::with_capacity(out.len());
    let mut blank = 0;
    for line in lines {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !text.is_empty() {
            text.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        text.push_str(line);
    }
    text
}

fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn paragraph(out: &mut String) {
    if !out.is_empty() && !out.ends_with("\n\n") {
        newline(out);
        out.push('\n');
    }
}

/// Text between tags: whitespace runs become one space (outside `<pre>`), entities
/// decoded.
fn push_text(out: &mut String, raw: &str, pre: bool) {
    let decoded = decode_entities(raw);
    if pre {
        out.push_str(&decoded);
        return;
    }
    for (i, word) in decoded.split(|c: char| c.is_whitespace()).enumerate() {
        if i > 0 && !out.ends_with([' ', '\n']) && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// An attribute's value in a tag (`name="value"` or `name='value'`), decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(i) = rest.find(name) {
        let before = rest[..i].chars().last();
        let after = &rest[i + name.len()..];
        rest = after;
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let quote = value.chars().next()?;
        if quote == '"' || quote == '\'' {
            let end = value[1..].find(quote)?;
            return Some(decode_entities(&value[1..1 + end]));
        }
        let end = value.find(char::is_whitespace).unwrap_or(value.len());
        return Some(decode_entities(&value[..end]));
    }
    None
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|&e| e <= 12);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_html_as_text() {
        let html = "<h2>Status</h2>\n<p>We are <strong>looking</strong> into\nelevated errors &amp; timeouts &#8212; see <a href=\"https://example.org/x?a=1&amp;b=2\" rel=\"nofollow\">the graph</a>.</p>\n<ul>\n<li>api</li>\n<li><input type=\"checkbox\" checked=\"\" disabled=\"\"> web</li>\n</ul>\n<pre><code>line 1\n  line 2\n</code></pre>\n<p><img src=\"data/incident/1/x/a.png\" alt=\"errors &lt;5xx&gt;\" class=\"gl-image\"><br>https://example.org/plain</p>";
        assert_eq!(
            to_text(html),
            "Status\n\nWe are looking into elevated errors & timeouts — see the graph (https://example.org/x?a=1&b=2).\n\n- api\n- [x] web\n\nline 1\n  line 2\n\n[image: errors <5xx>]\nhttps://example.org/plain"
        );
    }

    #[test]
    fn anything_else_reads_without_failing() {
        assert_eq!(to_text("a < b & c"), "a < b & c");
        assert_eq!(to_text("<p>x<"), "x<");
        assert_eq!(
            to_text("&#xZZ; &#99999999; &bogus;"),
            "&#xZZ; &#99999999; &bogus;"
        );
        assert_eq!(
            to_text("<a href=\"https://a.example\">https://a.example</a>"),
            "https://a.example"
        );
        assert_eq!(to_text(""), "");
    }
}
