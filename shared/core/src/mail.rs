//! A mail: one RFC 5322 message (text and HTML alternatives), which a [`Mailer`]
//! (crate::ports::Mailer) writes to an outbox or sends through SES.

use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue, InReplyTo, References};
use lettre::message::{Attachment, Mailbox, Message, MultiPart};

use crate::errors::BackendError;
use crate::time::Timestamp;

/// Who sends openmic's mail and which maintainers are told: owned here, by the mail
/// every capability sends (alerts, subscriptions, the notice of a queue message given
/// up on), which each receives through the configuration.
pub use crate::config::mail::VARIABLES;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub date: Timestamp,
    /// `<id@openmic>`; replies to the first mail of an alert refer to it.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// Further headers (`List-Unsubscribe`, `Auto-Submitted`, ...), each name an RFC
    /// 5322 field name that is none of the above; values are kept on one line.
    pub headers: Vec<(String, String)>,
    /// Files sent with it: images the HTML shows by `cid:` and attachments.
    pub parts: Vec<Part>,
}

/// A file sent with a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `Some(id)`: shown inline by the HTML as `cid:<id>` (multipart/related);
    /// `None`: an attachment (multipart/mixed).
    pub content_id: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Unicode's bidirectional formatting characters: the embeddings and overrides
/// (U+202A–U+202E), the isolates (U+2066–U+2069) and the marks (U+200E, U+200F, U+061C).
/// A right-to-left override makes `exe.pdf` read `fdp.exe`: text from a payload never
/// carries them into a mail subject or a chat message.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// A header value on one line: control characters (CR, LF, tabs) become spaces, so no
/// payload can add a header, and bidirectional controls ([`is_bidi_control`]) are
/// removed, so none reorders what the reader sees.
pub fn header_safe(s: &str) -> String {
    let one_line: String = s
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 250 {
        out = out.chars().take(249).collect::<String>() + "…";
    }
    out
}

/// Headers [`Mail`] writes itself, which `headers` may not repeat.
const OWN_HEADERS: [&str; 9] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
];

/// An extra header's name: printable ASCII without a colon (RFC 5322's field name),
/// and none of the headers the message writes itself.
fn extra_header_name(name: &str) -> Result<HeaderName, BackendError> {
    let valid = !name.is_empty()
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
        && !OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str());
    valid
        .then(|| HeaderName::new_from_ascii(name.to_owned()).ok())
        .flatten()
        .ok_or_else(|| BackendError::Permanent(format!("mail header {name:?} cannot be added")))
}

impl Mail {
    /// The message as RFC 5322 bytes.
    pub fn to_rfc5322(&self) -> Result<Vec<u8>, BackendError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            BackendError::Permanent(format!("mail {what}: {e}"))
        };
        let from: Mailbox = self.from.parse().map_err(|e| bad("from", &e))?;
        let mut b = Message::builder()
            .from(from)
            .subject(header_safe(&self.subject))
            .date(std::time::SystemTime::from(self.date))
            .message_id(Some(self.message_id.clone()));
        for to in &self.to {
            b = b.to(to.parse::<Mailbox>().map_err(|e| bad("to", &e))?);
        }
        if let Some(parent) = &self.in_reply_to {
            b = b
                .header(InReplyTo::from(parent.clone()))
                .header(References::from(parent.clone()));
        }
        for (name, value) in &self.headers {
            b = b.raw_header(HeaderValue::new(
                extra_header_name(name)?,
                header_safe(value),
            ));
        }
        let mut body = MultiPart::alternative_plain_html(self.text.clone(), self.html.clone());
        let part = |p: &Part| -> Result<_, BackendError> {
            let ty = ContentType::parse(&p.content_type).map_err(|e| bad("part", &e))?;
            let file = header_safe(&p.filename);
            Ok(match &p.content_id {
                Some(id) => {
                    Attachment::new_inline_with_name(header_safe(id), file).body(p.body.clone(), ty)
                }
                None => Attachment::new(file).body(p.body.clone(), ty),
            })
        };
        let inline: Vec<&Part> = self
            .parts
            .iter()
            .filter(|p| p.content_id.is_some())
            .collect();
        if !inline.is_empty() {
            let mut related = MultiPart::related().multipart(body);
            for p in inline {
                related = related.singlepart(part(p)?);
            }
            body = related;
        }
        let attached: Vec<&Part> = self
            .parts
            .iter()
            .filter(|p| p.content_id.is_none())
            .collect();
        if !attached.is_empty() {
            let mut mixed = MultiPart::mixed().multipart(body);
            for p in attached {
                mixed = mixed.singlepart(part(p)?);
            }
            body = mixed;
        }
        let msg = b.multipart(body).map_err(|e| bad("build", &e))?;
        Ok(msg.formatted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cannot_be_injected() {
        let mail = Mail {
            parts: Vec::new(),
            from: "openmic@example.com".into(),
            to: vec!["ops@example.com".into()],
            subject: "Alert: disk\r\nBcc: victim@example.com".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            date: crate::time::parse("2024-01-01T00:00:00Z").unwrap(),
            message_id: "<a1@openmic>".into(),
            in_reply_to: None,
            headers: vec![
                (
                    "List-Unsubscribe".into(),
                    "<https://api.example.com/u?token=a>\r\nBcc: x@example.com".into(),
                ),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
            ],
        };
        let raw = String::from_utf8(mail.to_rfc5322().unwrap()).unwrap();
        assert!(!raw.to_ascii_lowercase().contains("\r\nbcc:"), "{raw}");
        assert!(
            raw.contains("Subject: Alert: disk Bcc: victim@example.com\r\n"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains(
                "List-Unsubscribe: <https://api.example.com/u?token=a> Bcc: x@example.com\r\n"
            ),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
            "{raw}"
        );
        let mut forged = mail.clone();
        forged.headers = vec![("To".into(), "victim@example.com".into())];
        assert!(
            forged.to_rfc5322().is_err(),
            "a header the message writes itself"
        );
        forged.headers = vec![("X-Bad: y".into(), "z".into())];
        assert!(forged.to_rfc5322().is_err(), "a name with a colon");
    }

    #[test]
    fn bidirectional_controls_never_reach_a_subject() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            assert!(is_bidi_control(c), "{c:?}");
            assert_eq!(header_safe(&format!("Invoice{c}fdp.exe")), "Invoicefdp.exe");
        }
        // Joiners and ordinary right-to-left text are text.
        assert!(!is_bidi_control('\u{200D}') && !is_bidi_control('א'));
        let mail = Mail {
            parts: Vec::new(),
            from: "openmic@example.com".into(),
            to: vec!["ops@example.com".into()],
            subject: "Alert: \u{202E}gnp.exe".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            date: crate::time::parse("2024-01-01T00:00:00Z").unwrap(),
            message_id: "<a1@openmic>".into(),
            in_reply_to: None,
            headers: vec![],
        };
        let raw = String::from_utf8(mail.to_rfc5322().unwrap()).unwrap();
        assert!(raw.contains("Subject: Alert: gnp.exe\r\n"), "{raw}");
    }
}
