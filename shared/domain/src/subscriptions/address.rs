//! A subscriber's address: checked as a form would take it, known by the hash of its
//! lowercased form (keys and tokens), counted by its mailbox (limits), and shown masked
//! on pages. Logs name a subscriber by a keyed hash ([`super::token::TokenKey::pseudonym`]),
//! never by this one: anyone holding an address can compute its SHA-256.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::problem::Problem;

/// The longest address (RFC 5321's path limit less the brackets).
pub const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;

/// An address that passed [`parse`], as the reader wrote it (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

/// Why an address cannot be used, in words for the reader ([`AddressError::problem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    Empty,
    TooLong,
    NoAt,
    LocalLength,
    LocalCharacters,
    Domain,
    DomainNotAscii,
}

impl AddressError {
    pub fn problem(&self) -> Problem {
        match self {
            AddressError::Empty => Problem::new("address.empty"),
            AddressError::TooLong => Problem::new("address.too_long").with("max", MAX_LEN),
            AddressError::NoAt => Problem::new("address.no_at"),
            AddressError::LocalLength => {
                Problem::new("address.local_length").with("max", MAX_LOCAL)
            }
            AddressError::LocalCharacters => Problem::new("address.local_characters"),
            AddressError::Domain => Problem::new("address.domain"),
            AddressError::DomainNotAscii => Problem::new("address.domain_not_ascii"),
        }
    }
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem().fmt(f)
    }
}

impl std::error::Error for AddressError {}

/// A subscriber's identity: the SHA-256 of its lowercased address, in hex. Keys and
/// tokens use it; the address itself stays in its record. It has no `Display`: a log
/// names a subscriber by its keyed pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriberId(String);

impl SubscriberId {
    pub fn of(address: &str) -> SubscriberId {
        SubscriberId::from_bytes(Sha256::digest(address.trim().to_lowercase().as_bytes()).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> SubscriberId {
        SubscriberId(hex::encode(bytes))
    }

    /// A hash as a key names it: 64 lowercase hex digits.
    pub fn parse(hex_id: &str) -> Option<SubscriberId> {
        (hex_id.len() == 64
            && hex_id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| SubscriberId(hex_id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // Always 64 hex digits: made by `of`, `from_bytes` or `parse`.
        let _ = hex::decode_to_slice(&self.0, &mut out);
        out
    }

    /// The first 12 digits of the hash: what mail's `Message-ID`s carry (to the
    /// subscriber alone), never a log.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl Address {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn id(&self) -> SubscriberId {
        SubscriberId::of(&self.0)
    }
}

/// Checks an address as a subscribe form takes it: `local@domain`, the local part a
/// dot-atom of ASCII, the domain two or more labels of letters, digits and hyphens
/// (international domains in their `xn--` form), 254 characters at most.
pub fn parse(input: &str) -> Result<Address, AddressError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(AddressError::Empty);
    }
    if s.chars().count() > MAX_LEN {
        return Err(AddressError::TooLong);
    }
    let (local, domain) = s.rsplit_once('@').ok_or(AddressError::NoAt)?;
    if local.is_empty() || local.len() > MAX_LOCAL {
        return Err(AddressError::LocalLength);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if !local.chars().all(|c| atext(c) || c == '.')
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err(AddressError::LocalCharacters);
    }
    if !domain.is_ascii() {
        return Err(AddressError::DomainNotAscii);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels.last().is_some_and(|t| {
        t.len() >= 2
            && (t.bytes().all(|b| b.is_ascii_alphabetic())
                || t.to_ascii_lowercase().starts_with("xn--"))
    });
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
        return Err(AddressError::Domain);
    }
    Ok(Address(s.to_owned()))
}

/// The mailbox an address reaches, as the limits count it: lowercased, a `+tag`
/// removed (the local part up to its first `+`), and for Gmail the dots of the local
/// part removed, `googlemail.com` being `gmail.com`. `Victim+1@x`, `victim+2@x` and
/// `VICTIM@x` are one mailbox; `v.i.c.t.i.m@gmail.com` and `victim@googlemail.com`
/// too. Two such addresses stay two subscribers (a sender cannot know they are one),
/// but they share one mailbox's limit.
pub fn mailbox(address: &str) -> String {
    let lower = address.trim().to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    let local = local.split('+').next().unwrap_or_default();
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
        _ => format!("{local}@{domain}"),
    }
}

/// An address as a page shows it to whoever holds a link: its first character and
/// its domain (`r…@example.com`).
pub fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

/// A message with every word that looks like an address replaced, for logs and
/// errors: mail services name recipients in their errors.
pub fn redact(message: &str) -> String {
    if !message.contains('@') {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str("[address]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in message.chars() {
        if c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '<' | '>' | ',' | ';' | '(' | ')' | '[' | ']'
            )
        {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_forms_take() {
        for ok in [
            "reader@example.com",
            " Reader.Name+status@mail.example.co.uk ",
            "o'brien@example.ie",
            "x@xn--bcher-kva.example",
            "a@b.xn--p1ai",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", AddressError::Empty),
            ("reader.example.com", AddressError::NoAt),
            ("@example.com", AddressError::LocalLength),
            (".reader@example.com", AddressError::LocalCharacters),
            ("re..ader@example.com", AddressError::LocalCharacters),
            ("re ader@example.com", AddressError::LocalCharacters),
            ("reader@localhost", AddressError::Domain),
            ("reader@example.c", AddressError::Domain),
            ("reader@-example.com", AddressError::Domain),
            ("reader@exa_mple.com", AddressError::Domain),
            ("reader@example..com", AddressError::Domain),
            (
                "reader@example.com\r\nBcc: x@y.z",
                AddressError::LocalCharacters,
            ),
            ("reader@bücher.example", AddressError::DomainNotAscii),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Err(want), "{input:?}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(parse(&long), Err(AddressError::TooLong));
        assert!(
            AddressError::NoAt.to_string().contains("@"),
            "the message names the problem"
        );
    }

    #[test]
    fn one_id_whatever_the_case() {
        let a = parse("Reader@Example.COM").unwrap();
        assert_eq!(a.as_str(), "Reader@Example.COM");
        assert_eq!(a.id(), SubscriberId::of("reader@example.com"));
        // sha256("reader@example.com")
        assert_eq!(
            a.id().as_str(),
            hex::encode(Sha256::digest(b"reader@example.com"))
        );
        assert_eq!(SubscriberId::parse(a.id().as_str()), Some(a.id()));
        assert_eq!(SubscriberId::from_bytes(a.id().to_bytes()), a.id());
        assert_eq!(SubscriberId::parse("../x"), None);
        assert_eq!(a.id().short().len(), 12);
    }

    #[test]
    fn one_mailbox_whatever_the_tag_case_or_gmail_dots() {
        for victim in [
            "victim@example.com",
            "victim+1@example.com",
            "victim+2@example.com",
            "Victim@Example.COM",
            "VICTIM+a+b@example.com",
            " victim+@example.com ",
        ] {
            assert_eq!(mailbox(victim), "victim@example.com", "{victim}");
        }
        for victim in [
            "victim@gmail.com",
            "v.i.c.t.i.m@gmail.com",
            "Vic.Tim+news@GMail.com",
            "victim@googlemail.com",
            "v.ictim+x@googlemail.com",
        ] {
            assert_eq!(mailbox(victim), "victim@gmail.com", "{victim}");
        }
        // Dots count elsewhere; other mailboxes stay apart.
        assert_eq!(mailbox("v.ictim@example.com"), "v.ictim@example.com");
        assert_ne!(mailbox("victim@example.com"), mailbox("victim@example.org"));
        assert_ne!(mailbox("victim@gmail.com"), mailbox("victim2@gmail.com"));
        // The subscriber's id does not normalise: two tagged addresses are two.
        assert_ne!(
            SubscriberId::of("victim+1@example.com"),
            SubscriberId::of("victim+2@example.com")
        );
    }

    #[test]
    fn masked_and_redacted() {
        assert_eq!(masked("reader@example.com"), "r…@example.com");
        assert_eq!(
            redact("Email address is not verified: reader@example.com, <x@y.z>."),
            "Email address is not verified: [address], <[address]>."
        );
        assert_eq!(redact("no address here"), "no address here");
    }
}
