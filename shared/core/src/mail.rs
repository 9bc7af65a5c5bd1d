//! A mail: one RFC 5322 message (text and HTML alternatives), which a [`Mailer`]
//! (crate::ports::Mailer) writes to an outbox or sends through SES.

use lettre::message::header::{InReplyTo, References};
use lettre::message::{Mailbox, Message, MultiPart};

use crate::errors::BackendError;
use crate::time::Timestamp;

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
}

/// A header value on one line: control characters (CR, LF, tabs) become spaces, so no
/// payload can add a header.
pub fn header_safe(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 250 {
        out = out.chars().take(249).collect::<String>() + "…";
    }
    out
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
        let msg = b
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| bad("build", &e))?;
        Ok(msg.formatted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cannot_be_injected() {
        let mail = Mail {
            from: "openmic@example.com".into(),
            to: vec!["ops@example.com".into()],
            subject: "Alert: disk\r\nBcc: victim@example.com".into(),
            text: "t".into(),
            html: "<p>h</p>".into(),
            date: crate::time::parse("2024-01-01T00:00:00Z").unwrap(),
            message_id: "<a1@openmic>".into(),
            in_reply_to: None,
        };
        let raw = String::from_utf8(mail.to_rfc5322().unwrap()).unwrap();
        assert!(!raw.to_ascii_lowercase().contains("\r\nbcc:"), "{raw}");
        assert!(
            raw.contains("Subject: Alert: disk Bcc: victim@example.com\r\n"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
    }
}
