//! The tokens in subscription links: what the link may do (confirm, unsubscribe,
//! manage), for which subscriber, issued when, and for which subscription,
//! HMAC-signed with `SUBSCRIPTION_SECRET`. A confirmation expires after 48 hours; the
//! others never do (mail is kept for years, and leaving must always work), but they
//! act only on the subscription they were made for: it is known by when it began
//! (its record's `confirmed_at`, in Unix milliseconds), so once it ends, by
//! unsubscribing, its links do nothing, even for a later subscription of the same
//! address.
//!
//! Layout, base64url without padding:
//! - version 1 (confirmation links, and every link of the release before
//!   subscriptions were named): version (1 byte), purpose (1), subscriber id (32),
//!   issued at in Unix seconds (8, big-endian), HMAC-SHA256 over what precedes (32);
//! - version 2 (unsubscribe and manage links): the same, with the subscription's
//!   start in Unix milliseconds (8, big-endian) before the HMAC.
//!
//! A version 1 unsubscribe or manage link (mailed by that release) names no
//! subscription: it acts on a subscription that began before it was issued, that is,
//! the one it was mailed for, until that one ends.

use super::address::SubscriberId;
use crate::config::Secret;
use crate::signing::TokenSigner;
use crate::time::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Without a subscription (version 1) and with one (version 2).
const V1: u8 = 1;
const V2: u8 = 2;
const BODY_V1: usize = 1 + 1 + 32 + 8;
const BODY_V2: usize = BODY_V1 + 8;
const MAC: usize = 32;
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
    /// The subscription it acts on: when it began, in Unix milliseconds; none in a
    /// confirmation link and in the links of the earlier release.
    pub subscription: Option<i64>,
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

    /// A keyed hash of a value that must not be stored as it is (a source address,
    /// a mailbox).
    pub fn keyed_hash(&self, what: &str, value: &str) -> String {
        hex::encode(&self.0.mac(&[what.as_bytes(), b"\0", value.as_bytes()])[..16])
    }

    /// How logs name a subscriber: a keyed hash of its id, which nobody without
    /// `SUBSCRIPTION_SECRET` can compute from an address.
    pub fn pseudonym(&self, id: &SubscriberId) -> Pseudonym {
        Pseudonym(self.keyed_hash("subscriber", id.as_str())[..16].to_owned())
    }

    pub fn sign(&self, token: &Token) -> String {
        let mut buf = [0u8; BODY_V2 + MAC];
        buf[1] = token.purpose as u8;
        buf[2..34].copy_from_slice(&token.subscriber.to_bytes());
        buf[34..BODY_V1].copy_from_slice(&token.issued.to_be_bytes());
        let body = match token.subscription {
            None => {
                buf[0] = V1;
                BODY_V1
            }
            Some(s) => {
                buf[0] = V2;
                buf[BODY_V1..BODY_V2].copy_from_slice(&s.to_be_bytes());
                BODY_V2
            }
        };
        let mac = self.0.mac(&[CONTEXT, &buf[..body]]);
        buf[body..body + MAC].copy_from_slice(&mac);
        B64.encode(&buf[..body + MAC])
    }

    /// A link's token for `purpose`, checked at `now`.
    pub fn verify(
        &self,
        text: &str,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Token, TokenError> {
        let mut buf = [0u8; BODY_V2 + MAC];
        let body = match B64.decode_slice(text.trim().as_bytes(), &mut buf) {
            Ok(n) if n == BODY_V1 + MAC && buf[0] == V1 => BODY_V1,
            Ok(n) if n == BODY_V2 + MAC && buf[0] == V2 => BODY_V2,
            _ => return Err(TokenError::Invalid),
        };
        if !self
            .0
            .verify(&[CONTEXT, &buf[..body]], &buf[body..body + MAC])
        {
            return Err(TokenError::Invalid);
        }
        if Purpose::from_byte(buf[1]) != Some(purpose) {
            return Err(TokenError::Invalid);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&buf[2..34]);
        let eight = |range: std::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[range]);
            i64::from_be_bytes(b)
        };
        let issued = eight(34..BODY_V1);
        let subscription = (body == BODY_V2).then(|| eight(BODY_V1..BODY_V2));
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
            subscription,
        })
    }
}

/// A subscriber as logs name it ([`TokenKey::pseudonym`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// Without `SUBSCRIPTION_SECRET` (subscriptions off) a subscriber is not named.
    pub fn unknown() -> Pseudonym {
        Pseudonym("-".into())
    }
}

impl std::fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
            subscription: None,
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
            subscription: None,
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
            subscription: Some(now.timestamp_millis() - 86_400_000),
            ..t.clone()
        };
        let years = now + chrono::TimeDelta::days(3650);
        assert_eq!(
            k.verify(&k.sign(&u), Purpose::Unsubscribe, years),
            Ok(u.clone())
        );
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
    fn a_link_names_its_subscription_and_no_other() {
        let k = key("0123456789abcdef0123456789abcdef");
        let now = crate::time::parse("2026-12-01T10:00:00Z").unwrap();
        let manage = |subscription| Token {
            purpose: Purpose::Manage,
            subscriber: SubscriberId::of("reader@example.com"),
            issued: now.timestamp(),
            subscription,
        };
        let first = k.sign(&manage(Some(1_796_000_000_123)));
        let later = k.sign(&manage(Some(1_796_100_000_456)));
        assert_ne!(first, later);
        assert_eq!(
            k.verify(&first, Purpose::Manage, now).unwrap().subscription,
            Some(1_796_000_000_123)
        );
        // Its subscription is signed: changing it (or dropping it to pass for a
        // version 1 token) breaks the MAC.
        let mut bytes = B64.decode(&first).unwrap();
        bytes[BODY_V2 - 1] ^= 1;
        assert_eq!(
            k.verify(&B64.encode(&bytes), Purpose::Manage, now),
            Err(TokenError::Invalid)
        );
        let mut v1 = B64.decode(&first).unwrap();
        v1[0] = V1;
        v1.drain(BODY_V1..BODY_V2);
        assert_eq!(
            k.verify(&B64.encode(&v1), Purpose::Manage, now),
            Err(TokenError::Invalid)
        );
        let mut v2 = B64.decode(k.sign(&manage(None))).unwrap();
        v2[0] = V2;
        assert_eq!(
            k.verify(&B64.encode(&v2), Purpose::Manage, now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn pseudonyms_are_keyed_and_not_the_ids_hash() {
        let id = SubscriberId::of("reader@example.com");
        let (a, b) = (key(&"a".repeat(32)), key(&"b".repeat(32)));
        let p = a.pseudonym(&id).to_string();
        assert_eq!(p.len(), 16);
        assert_eq!(p, a.pseudonym(&id).to_string());
        assert_ne!(p, b.pseudonym(&id).to_string());
        assert!(!id.as_str().contains(&p), "{p} is part of sha256(address)");
        assert_ne!(
            p,
            a.pseudonym(&SubscriberId::of("other@example.com"))
                .to_string()
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
