//! The markdown-to-public-HTML path: `render::markdown` and `render::title` on text
//! built from fragments that reach the interesting paths (mentions, raw HTML, links
//! with dangerous schemes, entities, code, links into the GitLab instance, uploads),
//! with the privacy and safety properties asserted on the output:
//!
//! - no `script`, `iframe`, `frame`, `object`, `embed`, `applet`, `form`, `style`,
//!   `svg`, `math`, `base`, `meta` or `link` element;
//! - no event handler (`on...=`) or `style` attribute inside a tag;
//! - no `javascript:`, `vbscript:` or `data:` URL in `href`, `src` or any other URL
//!   attribute, however it is spelled (case, entities, tabs and newlines);
//! - no link or image into the GitLab instance (`gitlab.example.com`), however the URL
//!   is spelled;
//! - no surviving mention: for every `@name` of the input whose name is made of ASCII
//!   letters only and which stands at the start or after a space, `@name` does not
//!   appear in the output as a word (an `@` directly after a letter or digit is an
//!   e-mail address, which the rules keep);
//! - a title is text: no `<`, `>` or `"` at all.
//!
//! An input that starts with `M` is markdown as it is (the seeds are the texts of the
//! events under `events/`); any other input is read as fragments.
//!
//! Each check has a name, printed with a failure: `forbidden-element`, `handler`,
//! `style-attribute`, `dangerous-url` (href and src), `dangerous-url-<attribute>` (other
//! URL attributes), `instance-link`, `instance-link-spelling` (a port, backslashes, an
//! escaped or dotted host), `mention` (text, alt and title), `mention-split-link` (an
//! `@` and the text of a link into the instance meeting once the link is unwrapped),
//! `mention-in-attribute` (any other attribute), `upload`, `title-markup`. `OPENMIC_FUZZ_SKIP` (names,
//! comma-separated) turns checks off for findings already reported, so that a long run
//! can go on exploring past them; every check is on by default.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use openmic::site::render::{self, RenderContext};

const INSTANCE: &str = "gitlab.example.com";

static CTX: LazyLock<RenderContext> =
    LazyLock::new(|| RenderContext::new(7, &["https://gitlab.example.com/ops/api"]));

static SKIP: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::env::var("OPENMIC_FUZZ_SKIP")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
});

/// `OPENMIC_FUZZ_DEBUG=1`: print each input's text and HTML (to read an artifact).
static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("OPENMIC_FUZZ_DEBUG").is_some());

fn check(name: &str, ok: bool, what: impl FnOnce() -> String) {
    if !ok && !SKIP.iter().any(|s| s == name) {
        panic!("[{name}] {}", what());
    }
}

// ---- the input ------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
struct Input {
    iid: u8,
    fragments: Vec<Fragment>,
}

#[derive(Debug, Arbitrary)]
enum Fragment {
    Text(String),
    Word(Word),
    Mention(Before, Name),
    Html(Tag, Vec<(Attribute, Url)>, bool),
    CloseTag(Tag),
    MarkdownLink(bool, Name, Url, bool),
    Autolink(Url),
    Entity(Entity),
    Code(u8, Name),
    Block(Block),
    Raw(Raw),
}

#[derive(Debug, Arbitrary)]
enum Word {
    Hello,
    Emoji,
    Hash,
    Email,
    Issue,
    Epic,
}

#[derive(Debug, Arbitrary)]
enum Before {
    Nothing,
    Space,
    Newline,
    Paren,
    Star,
    Underscore,
    Tilde,
    Quote,
    Gt,
    Letter,
    At,
    Slash,
    Backslash,
    Bracket,
}

#[derive(Debug, Arbitrary)]
enum Name {
    Alice,
    Bob,
    All,
    Group,
    Dotted,
    Letters(Vec<u8>),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Tag {
    A,
    Img,
    Script,
    Style,
    Iframe,
    Object,
    Embed,
    Form,
    Input,
    Svg,
    Math,
    Table,
    Th,
    Td,
    Details,
    Abbr,
    Code,
    Pre,
    Textarea,
    Noscript,
    Template,
    Base,
    Meta,
    Link,
    Span,
    P,
    Blockquote,
    Q,
    Del,
    Bdo,
    Ol,
    Video,
    Source,
    Math2,
    Xmp,
    Plaintext,
    Title,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Attribute {
    Href,
    Src,
    Srcset,
    Title,
    Alt,
    Onerror,
    OnClickCaps,
    Style,
    Summary,
    AbbrAttr,
    Lang,
    Cite,
    Action,
    Formaction,
    XlinkHref,
    Id,
    Class,
    Type,
    Poster,
    Background,
    Name,
    Value,
    Datetime,
    Headers,
}

#[derive(Debug, Arbitrary)]
enum Url {
    Https,
    Javascript,
    JavascriptCaps,
    JavascriptTab,
    JavascriptEntity,
    JavascriptColonEntity,
    JavascriptLeadingSpace,
    Vbscript,
    Data,
    DataImage,
    Instance,
    InstanceIssue,
    InstanceCaps,
    InstancePort,
    InstanceBackslash,
    InstanceUserinfo,
    InstanceProtocolRelative,
    InstanceDot,
    Upload,
    InstanceUpload,
    /// An upload whose name, decoded (once or more), climbs out of its segment.
    UploadTraversal(u8),
    Relative,
    Fragment,
    Mailto,
    MentionText(Name),
    Free(String),
}

#[derive(Debug, Arbitrary)]
enum Entity {
    At,
    AtHex,
    AtNamed,
    AtPadded,
    Lt,
    Amp,
    Nbsp,
    J,
    Colon,
    Nul,
    Numeric(u32),
}

#[derive(Debug, Arbitrary)]
enum Block {
    Heading,
    List,
    Task,
    Quote,
    Fence,
    FenceEnd,
    Indented,
    Table,
    Footnote,
    FootnoteDef,
    ReferenceDef(Url),
    Rule,
    HtmlComment,
    Cdata,
}

#[derive(Debug, Arbitrary)]
enum Raw {
    Lt,
    Gt,
    Backtick,
    Quote,
    Apostrophe,
    Bang,
    Bracket,
    CloseBracket,
    Paren,
    CloseParen,
    Equals,
    Colon,
    Slash,
    Pipe,
    Tab,
    Newline,
    Space,
}

fn name_text(n: &Name) -> String {
    match n {
        Name::Alice => "alice".into(),
        Name::Bob => "bob".into(),
        Name::All => "all".into(),
        Name::Group => "ops/oncall".into(),
        Name::Dotted => "carol.d".into(),
        Name::Letters(bytes) => {
            let s: String = bytes
                .iter()
                .take(12)
                .map(|b| {
                    let c = b % 52;
                    if c < 26 {
                        (b'a' + c) as char
                    } else {
                        (b'A' + c - 26) as char
                    }
                })
                .collect();
            if s.is_empty() { "eve".into() } else { s }
        }
    }
}

fn tag_name(t: Tag) -> &'static str {
    match t {
        Tag::A => "a",
        Tag::Img => "img",
        Tag::Script => "script",
        Tag::Style => "style",
        Tag::Iframe => "iframe",
        Tag::Object => "object",
        Tag::Embed => "embed",
        Tag::Form => "form",
        Tag::Input => "input",
        Tag::Svg => "svg",
        Tag::Math => "math",
        Tag::Table => "table",
        Tag::Th => "th",
        Tag::Td => "td",
        Tag::Details => "details",
        Tag::Abbr => "abbr",
        Tag::Code => "code",
        Tag::Pre => "pre",
        Tag::Textarea => "textarea",
        Tag::Noscript => "noscript",
        Tag::Template => "template",
        Tag::Base => "base",
        Tag::Meta => "meta",
        Tag::Link => "link",
        Tag::Span => "span",
        Tag::P => "p",
        Tag::Blockquote => "blockquote",
        Tag::Q => "q",
        Tag::Del => "del",
        Tag::Bdo => "bdo",
        Tag::Ol => "ol",
        Tag::Video => "video",
        Tag::Source => "source",
        Tag::Math2 => "mAtH",
        Tag::Xmp => "xmp",
        Tag::Plaintext => "plaintext",
        Tag::Title => "title",
    }
}

fn attribute_name(a: Attribute) -> &'static str {
    match a {
        Attribute::Href => "href",
        Attribute::Src => "src",
        Attribute::Srcset => "srcset",
        Attribute::Title => "title",
        Attribute::Alt => "alt",
        Attribute::Onerror => "onerror",
        Attribute::OnClickCaps => "OnClick",
        Attribute::Style => "style",
        Attribute::Summary => "summary",
        Attribute::AbbrAttr => "abbr",
        Attribute::Lang => "lang",
        Attribute::Cite => "cite",
        Attribute::Action => "action",
        Attribute::Formaction => "formaction",
        Attribute::XlinkHref => "xlink:href",
        Attribute::Id => "id",
        Attribute::Class => "class",
        Attribute::Type => "type",
        Attribute::Poster => "poster",
        Attribute::Background => "background",
        Attribute::Name => "name",
        Attribute::Value => "value",
        Attribute::Datetime => "datetime",
        Attribute::Headers => "headers",
    }
}

fn url_text(u: &Url) -> String {
    match u {
        Url::Https => "https://example.org/a?b=c#d".into(),
        Url::Javascript => "javascript:alert(1)".into(),
        Url::JavascriptCaps => "JaVaScRiPt:alert(1)".into(),
        Url::JavascriptTab => "java\tscript:alert(1)".into(),
        Url::JavascriptEntity => "&#106;avascript&#58;alert(1)".into(),
        Url::JavascriptColonEntity => "javascript&colon;alert(1)".into(),
        Url::JavascriptLeadingSpace => " \u{1}javascript:alert(1)".into(),
        Url::Vbscript => "vbscript:msgbox(1)".into(),
        Url::Data => "data:text/html,<script>alert(1)</script>".into(),
        Url::DataImage => "data:image/svg+xml;base64,PHN2Zz4=".into(),
        Url::Instance => "https://gitlab.example.com/ops/api".into(),
        Url::InstanceIssue => "https://gitlab.example.com/ops/api/-/issues/12#note_5".into(),
        Url::InstanceCaps => "HTTPS://GITLAB.EXAMPLE.COM/ops/api/-/merge_requests/3".into(),
        Url::InstancePort => "https://gitlab.example.com:443/ops/api/-/issues/1".into(),
        Url::InstanceBackslash => "https:\\\\gitlab.example.com\\ops".into(),
        Url::InstanceUserinfo => "https://x@gitlab.example.com/ops".into(),
        Url::InstanceProtocolRelative => "//gitlab.example.com/ops/api".into(),
        Url::InstanceDot => "https://gitlab.example.com./ops".into(),
        Url::Upload => "/uploads/0123456789abcdef0123456789abcdef/graph.png".into(),
        Url::InstanceUpload => {
            "https://gitlab.example.com/ops/api/uploads/0123456789abcdef0123456789abcdef/a.log"
                .into()
        }
        Url::UploadTraversal(n) => {
            let name = [
                "%2e%2e",
                "%252E%252e",
                "..%2F..%2Fmembers",
                "a%5Cb",
                "%c0%ae%c0%ae",
                "a%00b",
            ][usize::from(*n) % 6];
            format!("/-/project/42/uploads/0123456789abcdef0123456789abcdef/{name}")
        }
        Url::Relative => "ops/api/-/issues/3".into(),
        Url::Fragment => "#fn-1".into(),
        Url::Mailto => "mailto:ops@example.com".into(),
        Url::MentionText(n) => format!("https://example.org/ @{}", name_text(n)),
        Url::Free(s) => s.chars().take(40).collect(),
    }
}

fn entity_text(e: &Entity) -> String {
    match e {
        Entity::At => "&#64;".into(),
        Entity::AtHex => "&#x40;".into(),
        Entity::AtNamed => "&commat;".into(),
        Entity::AtPadded => "&#00064;".into(),
        Entity::Lt => "&lt;".into(),
        Entity::Amp => "&amp;".into(),
        Entity::Nbsp => "&nbsp;".into(),
        Entity::J => "&#x6A;".into(),
        Entity::Colon => "&colon;".into(),
        Entity::Nul => "&#0;".into(),
        Entity::Numeric(n) => format!("&#{};", n % 0x11_0000),
    }
}

impl Input {
    fn text(&self) -> String {
        let mut s = String::new();
        for f in self.fragments.iter().take(64) {
            match f {
                Fragment::Text(t) => s.extend(t.chars().take(64)),
                Fragment::Word(w) => s.push_str(match w {
                    Word::Hello => "hello world",
                    Word::Emoji => ":fire: :smile:",
                    Word::Hash => "#12 ops/api#3 !4 &5 %\"m\"",
                    Word::Email => "ops@example.com",
                    Word::Issue => "https://gitlab.example.com/ops/api/-/issues/9",
                    Word::Epic => "https://gitlab.example.com/groups/ops/-/epics/4",
                }),
                Fragment::Mention(before, name) => {
                    s.push_str(match before {
                        Before::Nothing => "",
                        Before::Space => " ",
                        Before::Newline => "\n",
                        Before::Paren => "(",
                        Before::Star => "*",
                        Before::Underscore => "_",
                        Before::Tilde => "~",
                        Before::Quote => "\"",
                        Before::Gt => ">",
                        Before::Letter => "x",
                        Before::At => "@",
                        Before::Slash => "/",
                        Before::Backslash => "\\",
                        Before::Bracket => "[",
                    });
                    s.push('@');
                    s.push_str(&name_text(name));
                }
                Fragment::Html(tag, attrs, self_closing) => {
                    s.push('<');
                    s.push_str(tag_name(*tag));
                    for (a, u) in attrs.iter().take(4) {
                        s.push(' ');
                        s.push_str(attribute_name(*a));
                        s.push_str("=\"");
                        s.push_str(&url_text(u).replace('"', "&quot;"));
                        s.push('"');
                    }
                    s.push_str(if *self_closing { "/>" } else { ">" });
                }
                Fragment::CloseTag(tag) => {
                    s.push_str("</");
                    s.push_str(tag_name(*tag));
                    s.push('>');
                }
                Fragment::MarkdownLink(image, text, url, titled) => {
                    if *image {
                        s.push('!');
                    }
                    s.push('[');
                    s.push_str(&name_text(text));
                    s.push_str("](");
                    s.push_str(&url_text(url).replace(' ', "%20"));
                    if *titled {
                        s.push_str(" \"a @");
                        s.push_str(&name_text(text));
                        s.push('"');
                    }
                    s.push(')');
                }
                Fragment::Autolink(url) => {
                    s.push('<');
                    s.push_str(&url_text(url));
                    s.push('>');
                }
                Fragment::Entity(e) => s.push_str(&entity_text(e)),
                Fragment::Code(ticks, name) => {
                    let fence = "`".repeat(usize::from(ticks % 4) + 1);
                    s.push_str(&fence);
                    s.push_str(" @");
                    s.push_str(&name_text(name));
                    s.push_str(&fence);
                }
                Fragment::Block(b) => match b {
                    Block::Heading => s.push_str("\n# "),
                    Block::List => s.push_str("\n- "),
                    Block::Task => s.push_str("\n- [x] "),
                    Block::Quote => s.push_str("\n> "),
                    Block::Fence => s.push_str("\n```\n"),
                    Block::FenceEnd => s.push_str("\n```\n"),
                    Block::Indented => s.push_str("\n\n    "),
                    Block::Table => s.push_str("\n\n| a | b |\n|---|---|\n| "),
                    Block::Footnote => s.push_str("[^1]"),
                    Block::FootnoteDef => s.push_str("\n\n[^1]: "),
                    Block::ReferenceDef(u) => {
                        s.push_str("\n\n[x]: ");
                        s.push_str(&url_text(u).replace(' ', "%20"));
                        s.push_str("\n\n[x]");
                    }
                    Block::Rule => s.push_str("\n\n---\n"),
                    Block::HtmlComment => s.push_str("<!-- "),
                    Block::Cdata => s.push_str("<![CDATA["),
                },
                Fragment::Raw(r) => s.push(match r {
                    Raw::Lt => '<',
                    Raw::Gt => '>',
                    Raw::Backtick => '`',
                    Raw::Quote => '"',
                    Raw::Apostrophe => '\'',
                    Raw::Bang => '!',
                    Raw::Bracket => '[',
                    Raw::CloseBracket => ']',
                    Raw::Paren => '(',
                    Raw::CloseParen => ')',
                    Raw::Equals => '=',
                    Raw::Colon => ':',
                    Raw::Slash => '/',
                    Raw::Pipe => '|',
                    Raw::Tab => '\t',
                    Raw::Newline => '\n',
                    Raw::Space => ' ',
                }),
            }
        }
        s
    }
}

// ---- reading the output as a browser would --------------------------------------

/// A piece of the output as a browser reads it.
enum Part {
    /// Text between tags, as written (entities not decoded).
    Text(String),
    /// A start tag's attribute, its value decoded.
    Attribute {
        element: String,
        name: String,
        value: String,
    },
    /// A start tag (its attributes follow as their own parts).
    Element(String),
}

/// Decodes character references once (`&amp;#64;` stays `&#64;`, as a browser shows).
fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'));
        let (entity, after) = match end {
            Some(e) if rest[1 + e..].starts_with(';') => (&rest[1..1 + e], &rest[2 + e..]),
            _ => {
                out.push('&');
                rest = &rest[1..];
                continue;
            }
        };
        let c = if let Some(hex) = entity
            .strip_prefix("#x")
            .or_else(|| entity.strip_prefix("#X"))
        {
            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        } else if let Some(dec) = entity.strip_prefix('#') {
            dec.parse::<u32>().ok().and_then(char::from_u32)
        } else {
            match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "commat" => Some('@'),
                "colon" => Some(':'),
                "Tab" => Some('\t'),
                "NewLine" => Some('\n'),
                "nbsp" => Some('\u{a0}'),
                _ => None,
            }
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = after;
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

/// Splits HTML into text, start tags and their attributes, as HTML's tokenizer does
/// (quoted attribute values may hold `<` and `>`; a `<` not followed by a letter, `/`
/// or `!` is text).
fn parts(html: &str) -> Vec<Part> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut text_start = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let tag_start = i;
        let mut j = i + 1;
        let closing = j < b.len() && b[j] == b'/';
        if closing {
            j += 1;
        }
        let comment = !closing && j < b.len() && b[j] == b'!';
        if !comment && (j >= b.len() || !b[j].is_ascii_alphabetic()) {
            i += 1; // text
            continue;
        }
        out.push(Part::Text(html[text_start..tag_start].to_owned()));
        if comment {
            let end = if html[j..].starts_with("!--") {
                html[j..].find("-->").map(|e| j + e + 3)
            } else {
                html[j..].find('>').map(|e| j + e + 1)
            };
            i = end.unwrap_or(b.len());
            text_start = i;
            continue;
        }
        i = j;
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'/' && b[i] != b'>' {
            i += 1;
        }
        let element = html[start..i].to_ascii_lowercase();
        if !closing {
            out.push(Part::Element(element.clone()));
        }
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                i += 1;
                break;
            }
            let start = i;
            i += 1; // the first character may be '='
            while i < b.len()
                && !b[i].is_ascii_whitespace()
                && b[i] != b'/'
                && b[i] != b'>'
                && b[i] != b'='
            {
                i += 1;
            }
            let name = html[start..i].to_ascii_lowercase();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    let start = i + 1;
                    let end = b[start..]
                        .iter()
                        .position(|&c| c == q)
                        .map_or(b.len(), |e| start + e);
                    value = html[start..end].to_owned();
                    i = (end + 1).min(b.len());
                } else {
                    let start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = html[start..i].to_owned();
                }
            }
            if !closing {
                out.push(Part::Attribute {
                    element: element.clone(),
                    name,
                    value: decode(&value),
                });
            }
        }
        i = i.min(b.len());
        text_start = i;
    }
    out.push(Part::Text(html[text_start.min(b.len())..].to_owned()));
    out
}

const FORBIDDEN_ELEMENTS: [&str; 13] = [
    "script", "iframe", "frame", "object", "embed", "applet", "form", "style", "svg", "math",
    "base", "meta", "link",
];

const URL_ATTRIBUTES: [&str; 11] = [
    "href",
    "src",
    "srcset",
    "cite",
    "action",
    "formaction",
    "xlink:href",
    "poster",
    "background",
    "longdesc",
    "data",
];

static PAGE: LazyLock<url::Url> = LazyLock::new(|| {
    url::Url::parse("https://status.example.com/incidents/7.html").expect("a valid URL")
});

fn check_url(element: &str, attribute: &str, value: &str, html: &str) {
    // Browsers drop tabs and newlines anywhere in a URL, and leading controls/spaces.
    let squeezed: String = value
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .trim_start_matches(|c: char| c <= ' ')
        .to_ascii_lowercase();
    let parsed = PAGE.join(value).ok();
    let scheme = parsed.as_ref().map(|u| u.scheme().to_owned());
    // href and src are the brief's; other URL attributes (cite, ...) are named apart.
    let name = if matches!(attribute, "href" | "src") {
        "dangerous-url".to_owned()
    } else {
        format!("dangerous-url-{attribute}")
    };
    for bad in ["javascript", "vbscript", "data"] {
        check(
            &name,
            !squeezed.starts_with(&format!("{bad}:")) && scheme.as_deref() != Some(bad),
            || format!("<{element} {attribute}={value:?}> in {html}"),
        );
    }
    let host = parsed.and_then(|u| u.host_str().map(|h| h.trim_end_matches('.').to_owned()));
    if host.as_deref() == Some(INSTANCE) {
        // The plain spellings the renderer is meant to know; anything else (a port, a
        // backslash, an escaped or dotted host) is an odd spelling of the same place.
        let plain = ["https://", "http://", "//"].iter().any(|p| {
            squeezed
                .strip_prefix(p)
                .and_then(|r| r.strip_prefix(INSTANCE))
                .is_some_and(|r| r.is_empty() || r.starts_with(['/', '?', '#']))
        });
        let name = if plain {
            "instance-link"
        } else {
            "instance-link-spelling"
        };
        check(name, false, || {
            format!("<{element} {attribute}={value:?}> points into the instance in {html}")
        });
    }
}

fn check_html(html: &str, parts: &[Part]) {
    for part in parts {
        match part {
            Part::Element(e) => check(
                "forbidden-element",
                !FORBIDDEN_ELEMENTS.contains(&e.as_str()),
                || format!("<{e}> in {html}"),
            ),
            Part::Attribute {
                element,
                name,
                value,
            } => {
                check("handler", !name.starts_with("on"), || {
                    format!("<{element} {name}=...> in {html}")
                });
                check("style-attribute", name != "style", || {
                    format!("<{element} style=...> in {html}")
                });
                if URL_ATTRIBUTES.contains(&name.as_str()) {
                    if name == "srcset" {
                        for candidate in value.split(',') {
                            let url = candidate.split_whitespace().next().unwrap_or("");
                            check_url(element, name, url, html);
                        }
                    } else {
                        check_url(element, name, value, html);
                    }
                }
            }
            Part::Text(_) => {}
        }
    }
}

/// Names mentioned at the start of the input or after a space, made of ASCII letters.
fn mentioned(input: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in input.match_indices('@') {
        if i > 0 && !input[..i].ends_with(' ') {
            continue;
        }
        let name: String = input[i + 1..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        // What every mention becomes may itself follow an '@' in the output.
        if !name.is_empty() && name != "Incident" && name != "Responder" && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Whether `shown` (decoded) holds `@name` as a word, not as an e-mail address (an
/// '@' directly after a letter or digit).
fn holds_mention(shown: &str, name: &str) -> bool {
    shown.match_indices('@').any(|(i, _)| {
        !shown[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
            && shown[i + 1..].strip_prefix(name).is_some_and(|rest| {
                !rest
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    })
}

/// Whether some text of `html` holds `@name`.
fn text_holds_mention(html: &str, name: &str) -> bool {
    parts(html).iter().any(|p| match p {
        Part::Text(t) => holds_mention(&decode(t), name),
        _ => false,
    })
}

/// `unwrapped`: the input rendered again with no instance host, so that absolute links
/// into the instance stay links; a mention in the text that is not there then came from
/// an `@` and a link's text meeting once the link was unwrapped (`mention-split-link`).
fn check_mentions(
    input: &str,
    output: &str,
    parts: &[Part],
    what: &str,
    unwrapped: Option<&dyn Fn() -> String>,
) {
    let names = mentioned(input);
    for name in &names {
        for part in parts {
            let (check_name, shown, place) = match part {
                Part::Text(t) => ("mention", decode(t), "text".to_owned()),
                // alt and title go through the privacy rules like text.
                Part::Attribute {
                    element,
                    name: attribute,
                    value,
                } if attribute == "alt" || attribute == "title" => {
                    ("mention", value.clone(), format!("<{element} {attribute}>"))
                }
                Part::Attribute {
                    element,
                    name: attribute,
                    value,
                } => (
                    "mention-in-attribute",
                    value.clone(),
                    format!("<{element} {attribute}>"),
                ),
                Part::Element(_) => continue,
            };
            if !holds_mention(&shown, name) {
                continue;
            }
            let check_name = match (check_name, unwrapped, part) {
                ("mention", Some(again), Part::Text(_)) if !text_holds_mention(&again(), name) => {
                    "mention-split-link"
                }
                _ => check_name,
            };
            check(check_name, false, || {
                format!("@{name} survives in the {what}'s {place}: {output}\ninput: {input:?}")
            });
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // `M` and markdown as it is (the seeds: texts of events/); anything else builds the
    // text from fragments.
    let (text, iid) = match data.split_first() {
        Some((b'M', markdown)) => (String::from_utf8_lossy(markdown).into_owned(), 7),
        _ => {
            let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
                return;
            };
            (input.text(), u64::from(input.iid))
        }
    };
    let ctx = RenderContext { iid, ..CTX.clone() };

    let rendered = render::markdown(&text, &ctx);
    if *DEBUG {
        eprintln!("input: {text:?}\nhtml: {}", rendered.html);
    }
    let html_parts = parts(&rendered.html);
    check_html(&rendered.html, &html_parts);
    // Markdown without raw HTML is made private on comrak's tree; the sanitiser path
    // must publish the same.
    let sanitised = render::markdown_sanitised(&text, &ctx);
    check(
        "paths-agree",
        render::normal_form(&rendered.html) == render::normal_form(&sanitised.html)
            && rendered.uploads == sanitised.uploads,
        || {
            format!(
                "tree path: {}\nsanitiser path: {}\ninput: {text:?}",
                rendered.html, sanitised.html
            )
        },
    );
    let unwrapped = || {
        render::markdown(
            &text,
            &RenderContext {
                iid,
                instance_hosts: vec![],
            },
        )
        .html
    };
    check_mentions(
        &text,
        &rendered.html,
        &html_parts,
        "markdown",
        Some(&unwrapped),
    );
    for u in &rendered.uploads {
        // The name GitLab is asked for is the decoded file name, one plain segment.
        check(
            "upload",
            u.secret.len() == 32
                && !u.filename.contains('/')
                && render::upload_name(&u.filename).as_deref() == Some(u.name.as_str())
                && !u.name.is_empty()
                && !u.name.bytes().all(|b| b == b'.')
                && !u
                    .name
                    .chars()
                    .any(|c| matches!(c, '/' | '\\') || c.is_control()),
            || format!("upload {u:?} from {text:?}"),
        );
    }

    let title = render::title(&text, &ctx);
    check("title-markup", !title.contains(['<', '>', '"']), || {
        format!("title {title:?} from {text:?}")
    });
    check_mentions(&text, &title, &[Part::Text(title.clone())], "title", None);
});
