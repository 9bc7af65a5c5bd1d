//! Text put into HTML (a mail's HTML part, a page): the one escape every writer of
//! HTML by hand uses.

/// `text` with HTML's specials escaped (`&`, `<`, `>`, `"`, `'`), safe in element
/// content and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_special_is_escaped_and_nothing_else_changes() {
        assert_eq!(
            super::escape(r#"<a href="x" title='y'>Tom & Jérôme</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Tom &amp; Jérôme&lt;/a&gt;"
        );
    }
}
