//! The tokens in subscription links: what the link may do (confirm, unsubscribe,
//! manage), for which subscriber, issued when, HMAC-signed with
//! `SUBSCRIPTION_SECRET`. A confirmation expires after 48 hours; the others never do
//! (mail is kept for years, and leaving must always work).
//!
//! Layout, base64url without padding: version (1 byte), purpose (1), subscriber id
//! (32), issued at in Unix seconds (8, big-endian), HMAC-SHA256 over what precedes
//! (32).

use super::address::SubscriberId;
use crate::config::Secret;
use crate::signing::TokenSigner;
use crate::time::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

const VERSION: u8 = 1;
const BODY: usize = 1 + 1 + 32 + 8;
const LEN: usize = BODY + 32;
/// How long a confirmation link works.
pub const CONFIRM_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(48);
/// How far in the future an issue time may be (clocks of two machines).
const SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What a link may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm = 1,
    Unsubscribe = 2,
    Manage = 3,
}

impl Purpose {
    fn from_byte(b: u8) -> Option<Purpose> {
        match b {
            1 => Some(Purpose::Confirm),
            2 => Some(Purpose::Unsubscribe),
            3 => Some(Purpose::Manage),
            _ => None,
        }
    }
}

/// A token's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub purpose: Purpose,
    pub subscriber: SubscriberId,
    /// Unix seconds.
    pub issued: i64,
}

/// Why a link does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Missing, cut, altered, forged, or meant for another page.
    #[error("this link is not valid")]
    Invalid,
    #[error("this link has expired")]
    Expired,
}

/// What the MAC covers before a token's body.
const CONTEXT: &[u8] = b"openmic subscription token\0";

/// The signing key, from `SUBSCRIPTION_SECRET`.
#[derive(Debug, Clone)]
pub struct TokenKey(TokenSigner);

impl TokenKey {
    pub fn new(secret: &Secret) -> TokenKey {
        TokenKey(TokenSigner::new(secret.expose().as_bytes()))
    }

    /// A keyed hash of a value that must not be stored as it is (a source address).
    pub fn keyed_hash(&self, what: &str, value: &str) -> String {
        hex::encode(&self.0.mac(&[what.as_bytes(), b"\0", value.as_bytes()])[..16])
    }

    pub fn sign(&self, token: &Token) -> String {
        let mut buf = [0u8; LEN];
        buf[0] = VERSION;
        buf[1] = token.purpose as u8;
        buf[2..34].copy_from_slice(&token.subscriber.to_bytes());
        buf[34..BODY].copy_from_slice(&token.issued.to_be_bytes());
        let mac = self.0.mac(&[CONTEXT, &buf[..BODY]]);
        buf[BODY..].copy_from_slice(&mac);
        B64.encode(buf)
    }

    /// A link's token for `purpose`, checked at `now`.
    pub fn verify(
        &self,
        text: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Token, TokenError> {
        let mut buf = [0u8; LEN];
        match B64.decode_slice(text.trim().as_bytes(), &mut buf) {
            Ok(LEN) => {}
            _ => return Err(TokenError::Invalid),
        }
        if !self.0.verify(&[CONTEXT, &buf[..BODY]], &buf[BODY..]) || buf[0] != VERSION {
            return Err(TokenError::Invalid);
        }
        if Purpose::from_byte(buf[1]) != Some(purpose) {
            return Err(TokenError::Invalid);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&buf[2..34]);
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&buf[34..BODY]);
        let issued = i64::from_be_bytes(issued);
        let at = chrono::DateTime::from_timestamp(issued, 0).ok_or(TokenError::Invalid)?;
        if at > now + SKEW {
            return Err(TokenError::Invalid);
        }
        if purpose == Purpose::Confirm && now - at > CONFIRM_TTL {
            return Err(TokenError::Expired);
        }
        Ok(Token {
            purpose,
            subscriber: SubscriberId::from_bytes(id),
            issued,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> TokenKey {
        TokenKey::new(&Secret::new(s))
    }

    #[test]
    fn a_link_mailed_by_an_earlier_release_still_works() {
        // Made by the layout the module documents (computed apart from this code):
        // unsubscribe links are kept for years, so the format never changes under them.
        let k = key("subscription-secret-of-at-least-32-characters");
        let token = Token {
            purpose: Purpose::Manage,
            subscriber: SubscriberId::of("reader@example.com"),
            issued: 1_796_212_800,
        };
        let mailed = "AQPRCLJ5Q0_h1UrA8dpjNWRgSybC4OIh0Qiw-624eroCwAAAAABrEAhARBvleMsv30rZ1yE-zIEOVkXTxFcYb00zZf38uaEF2qo";
        assert_eq!(k.sign(&token), mailed);
        let later = chrono::DateTime::from_timestamp(1_896_212_800, 0).unwrap();
        assert_eq!(k.verify(mailed, Purpose::Manage, later), Ok(token));
        // Source addresses are counted under a keyed hash of the same key.
        assert_eq!(
            k.keyed_hash("source", "192.0.2.7"),
            "7132d3cc31b5e2b667402b3e3cafa5f9"
        );
    }

    #[test]
    fn tokens_round_trip_and_fail_closed() {
        let k = key("0123456789abcdef0123456789abcdef");
        let now = crate::time::parse("2026-12-01T10:00:00Z").unwrap();
        let t = Token {
            purpose: Purpose::Confirm,
            subscriber: SubscriberId::of("reader@example.com"),
            issued: now.timestamp(),
        };
        let text = k.sign(&t);
        assert!(
            text.len() < 110
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(k.verify(&text, Purpose::Confirm, now), Ok(t.clone()));
        // Within 48 hours, then expired.
        let later = now + chrono::TimeDelta::hours(47);
        assert!(k.verify(&text, Purpose::Confirm, later).is_ok());
        let late = now + chrono::TimeDelta::hours(49);
        assert_eq!(
            k.verify(&text, Purpose::Confirm, late),
            Err(TokenError::Expired)
        );
        // Another purpose, another key, one altered character, a cut token, junk.
        assert_eq!(
            k.verify(&text, Purpose::Unsubscribe, now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            key("another secret, 32 characters lng").verify(&text, Purpose::Confirm, now),
            Err(TokenError::Invalid)
        );
        for i in [0, 3, 40, text.len() - 1] {
            let mut altered = text.clone().into_bytes();
            altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap();
            assert_eq!(
                k.verify(&altered, Purpose::Confirm, now),
                Err(TokenError::Invalid),
                "{i}"
            );
        }
        assert_eq!(
            k.verify(&text[..50], Purpose::Confirm, now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            k.verify("", Purpose::Confirm, now),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            k.verify("%%%", Purpose::Confirm, now),
            Err(TokenError::Invalid)
        );
        // Unsubscribing never expires; an issue time in the future is no token.
        let u = Token {
            purpose: Purpose::Unsubscribe,
            ..t.clone()
        };
        let years = now + chrono::TimeDelta::days(3650);
        assert!(k.verify(&k.sign(&u), Purpose::Unsubscribe, years).is_ok());
        let future = Token {
            issued: now.timestamp() + 3600,
            ..u
        };
        assert_eq!(
            k.verify(&k.sign(&future), Purpose::Unsubscribe, now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn keyed_hashes_depend_on_the_key() {
        let (a, b) = (key("a".repeat(32).as_str()), key("b".repeat(32).as_str()));
        assert_eq!(
            a.keyed_hash("ip", "192.0.2.1"),
            a.keyed_hash("ip", "192.0.2.1")
        );
        assert_ne!(
            a.keyed_hash("ip", "192.0.2.1"),
            b.keyed_hash("ip", "192.0.2.1")
        );
        assert_ne!(
            a.keyed_hash("ip", "192.0.2.1"),
            a.keyed_hash("ip", "192.0.2.2")
        );
    }
}
