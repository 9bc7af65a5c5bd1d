//! Hostile input through the renderer: no script, handler or dangerous URL survives,
//! no mention leaks, references are plain text.

use openmic::site::render::{self, RenderContext};

fn ctx() -> RenderContext {
    RenderContext::new(3, &["https://gitlab.example.com/ops/api"])
}

/// What must never appear in published HTML.
fn assert_safe(input: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<style",
        "<svg",
        "<math",
        "<base",
        "<meta",
        "<link",
        "<frame",
        "<input type=\"text",
        "<button",
        "<textarea",
        "<select",
        "<video",
        "<audio",
        "<applet",
        "<template",
        "javascript:",
        "vbscript:",
        "data:",
        "style=",
        "srcdoc",
        "formaction",
        "<noscript",
    ] {
        assert!(
            !lower.contains(bad),
            "{bad:?} survived\ninput: {input}\noutput: {html}"
        );
    }
    // The one form control a page shows is a task list's disabled checkbox.
    for (at, _) in lower.match_indices("<input") {
        let tag = &lower[at..at + lower[at..].find('>').unwrap_or(lower.len() - at)];
        assert!(
            tag.contains("type=\"checkbox\"")
                && tag.contains("task-list-item-checkbox")
                && tag.contains("disabled"),
            "a form control survived: {tag}\ninput: {input}\noutput: {html}"
        );
    }
    // No event handler attribute: ` on<letters>=` inside a tag.
    let mut in_tag = false;
    let bytes = lower.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'<' => in_tag = true,
            b'>' => in_tag = false,
            b'o' if in_tag
                && i > 0
                && (bytes[i - 1] == b' '
                    || bytes[i - 1] == b'/'
                    || bytes[i - 1] == b'\n'
                    || bytes[i - 1] == b'"') =>
            {
                let rest = &lower[i..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                if name.starts_with("on")
                    && name.len() > 2
                    && rest[name.len()..].trim_start().starts_with('=')
                {
                    panic!("handler {name} survived\ninput: {input}\noutput: {html}");
                }
            }
            _ => {}
        }
    }
}

const XSS: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"x\" ONERROR=\"alert(1)\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "<a href=\"javascript&colon;alert(1)\">x</a>",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"https://evil.example/x.swf\"></object>",
    "<embed src=\"https://evil.example/x.swf\">",
    "<form action=\"https://evil.example\"><input type=\"text\" name=\"pw\"><button formaction=\"javascript:alert(1)\">go</button></form>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<div style=\"background-image: url(javascript:alert(1))\">x</div>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "<base href=\"https://evil.example/\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=stylesheet href=\"https://evil.example/x.css\">",
    "<video><source onerror=\"alert(1)\"></video>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<template><script>alert(1)</script></template>",
    "<textarea><script>alert(1)</script></textarea>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<a href=\"#\" onclick=\"alert(1)\">x</a>",
    "[x](https://example.com\" onmouseover=\"alert(1))",
    "<img src=`x`onerror=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    "<input>",
    "<p>Password: <input name=\"pw\" placeholder=\"type it here\"></p>",
    "<input type=\"password\" value=\"x\">",
    "<input type=\"checkbox\" checked>",
    "<input type=\"image\" src=\"https://evil.example/x.png\">",
    "<input autofocus onfocus=\"alert(1)\">",
    "<input type=\"checkbox\" class=\"task-list-item-checkbox\">",
    "<select><option>a</option></select><button>go</button><textarea>x</textarea>",
];

#[test]
fn xss_vectors_do_not_survive() {
    assert!(XSS.len() >= 20);
    for v in XSS {
        let html = render::markdown(v, &ctx()).html;
        assert_safe(v, &html);
        let title = render::title(v, &ctx());
        assert!(!title.contains('<'), "title keeps markup: {title}");
    }
}

#[test]
fn only_task_list_checkboxes_survive() {
    let html = render::markdown(
        "- [x] done\n- [ ] to do\n\n<input> <input type=\"text\">",
        &ctx(),
    )
    .html;
    assert_eq!(html.matches("<input").count(), 2, "{html}");
    assert_eq!(html.matches("task-list-item-checkbox").count(), 2, "{html}");
    // A raw checkbox of GitLab's own task list keeps its place, disabled.
    let raw = render::markdown(
        "<ul class=\"contains-task-list\"><li class=\"task-list-item\"><input type=\"checkbox\" class=\"task-list-item-checkbox\" checked> ok</li></ul>",
        &ctx(),
    )
    .html;
    assert!(raw.contains("<input") && raw.contains("disabled"), "{raw}");
}

#[test]
fn mentions_never_survive_in_any_form() {
    let forms = [
        "@zelda",
        "hi @zelda.",
        "@hyrule/knights and @hyrule/knights/sub-team",
        "@all please look",
        "<b>@zelda</b>",
        "<span>&#64;zelda</span>",
        "<span>&commat;zelda</span>",
        "[@zelda](https://example.com)",
        "<a href=\"https://example.com\" title=\"@zelda\">x</a>",
        "![@zelda](https://example.com/x.png)",
        "`@zelda`",
        "```\nping @zelda\n```",
        "* item @zelda",
        "| who |\n|---|\n| @zelda |",
        "> quoted @zelda",
        "~~@zelda~~ **@zelda** _@zelda_",
        "(@zelda)",
        "@zelda:@ganon",
        "footnote[^1]\n\n[^1]: by @zelda",
    ];
    for f in forms {
        let html = render::markdown(f, &ctx()).html;
        for name in ["zelda", "ganon", "hyrule", "@all"] {
            assert!(!html.contains(name), "{name} leaked from {f:?}: {html}");
        }
        assert!(html.contains("Incident Responder"), "{f:?}: {html}");
        // A title is plain text: an entity there is shown as typed, not a mention.
        if !f.contains('&') {
            let title = render::title(f, &ctx());
            assert!(!title.contains("zelda"), "title leaked: {title}");
        }
    }
}

#[test]
fn references_are_plain_text_without_titles() {
    let cases = [
        ("#12", "#12"),
        ("group/project#12", "group/project#12"),
        ("!3", "!3"),
        ("&4", "&amp;4"),
        ("%\"m\"", "%&quot;m&quot;"),
        ("https://gitlab.example.com/ops/api/-/issues/9", "ops/api#9"),
        (
            "https://gitlab.example.com/ops/api/issues/9#note_4",
            "ops/api#9",
        ),
        (
            "<https://gitlab.example.com/ops/api/-/merge_requests/3>",
            "ops/api!3",
        ),
        (
            "https://gitlab.example.com/groups/ops/-/epics/4",
            "ops&amp;4",
        ),
        (
            "[the ticket](https://gitlab.example.com/ops/api/-/issues/9)",
            "the ticket",
        ),
        (
            "<a href=\"https://gitlab.example.com/ops/api/-/issues/9\" title=\"Secret title\">x</a>",
            ">x<",
        ),
    ];
    for (input, want) in cases {
        let html = render::markdown(input, &ctx()).html;
        assert!(!html.contains("<a"), "{input:?} kept a link: {html}");
        assert!(!html.contains("title="), "{input:?} kept a title: {html}");
        assert!(
            !html.contains("gitlab.example.com"),
            "{input:?} kept the instance URL: {html}"
        );
        assert!(
            html.contains(want),
            "{input:?} should show {want:?}: {html}"
        );
    }
    // Links elsewhere stay links.
    let html = render::markdown("https://example.org/status", &ctx()).html;
    assert!(
        html.contains("<a href=\"https://example.org/status\""),
        "{html}"
    );
}

#[test]
fn uploads_are_rewritten_and_listed_once() {
    let md = "![a](/uploads/0123456789abcdef0123456789abcdef/a.png)\n\
              [a again](/uploads/0123456789abcdef0123456789abcdef/a.png)\n\
              [abs](https://gitlab.example.com/ops/api/uploads/fedcba9876543210fedcba9876543210/log%20file.txt)\n\
              [not an upload](/uploads/xyz/a.png) [dots](/uploads/0123456789abcdef0123456789abcdef/..)";
    let r = render::markdown(md, &ctx());
    assert_eq!(r.uploads.len(), 2, "{:?}", r.uploads);
    assert_eq!(
        r.uploads[1].key(3),
        "data/incident/3/fedcba9876543210fedcba9876543210/log%20file.txt"
    );
    assert!(
        r.html
            .contains("href=\"data/incident/3/fedcba9876543210fedcba9876543210/log%20file.txt\""),
        "{}",
        r.html
    );
    assert!(
        !r.html.contains("/uploads/xyz"),
        "a relative link into GitLab is not published: {}",
        r.html
    );
}
