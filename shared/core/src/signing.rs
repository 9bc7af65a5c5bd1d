//! Signatures and secrets: constant-time comparison, and Standard Webhooks HMAC
//! signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`) as GitLab signs
//! its deliveries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Constant-time equality. Lengths are compared too, through a fixed-size digest so
/// that neither the token's length nor its content leaks through timing.
pub fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    use sha2::Digest;
    let a = Sha256::digest(expected);
    let b = Sha256::digest(presented);
    bool::from(a.ct_eq(&b))
}

/// The HMAC-SHA256 key of openmic's own signed values: the alert links'
/// (`ALERT_LINK_SECRET`) and the subscription links' (`SUBSCRIPTION_SECRET`) tokens,
/// and keyed hashes. Each use puts a context of its own first in what it signs (`openmic
/// alert link v1\n`, `openmic subscription token\0`), so nothing signed for one use
/// passes for another.
#[derive(Clone)]
pub struct TokenSigner(Hmac<Sha256>);

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(***)")
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> TokenSigner {
        // HMAC takes a key of any length.
        TokenSigner(Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!()))
    }

    /// The MAC of `parts`, one after the other.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the whole MAC of `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        tag.len() == 32 && bool::from(self.mac(parts).ct_eq(tag))
    }
}

/// How far a signed delivery's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 5 * 60;

/// The HMAC key of `GITLAB_SIGNING_TOKEN` (`whsec_<base64>`).
pub struct SigningKey(Vec<u8>);

/// Why a secret is no signing key. The decoder's own reason is left out on purpose:
/// it names a character of the secret and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must be whsec_ followed by base64")]
    NotBase64,
    #[error("the key is empty")]
    Empty,
}

impl SigningKey {
    pub fn from_secret(secret: &str) -> Result<SigningKey, KeyError> {
        let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = B64.decode(b64).map_err(|_| KeyError::NotBase64)?;
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(SigningKey(key))
    }

    /// `v1,<base64>` for one delivery (what GitLab would send).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    /// Checks a delivery's signature headers. `now` is Unix seconds.
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signatures: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), &'static str> {
        SignedHeaders::read(id, timestamp, signatures, now)?.verify(self, body)
    }
}

/// A delivery's signature headers, read and found fresh: what can be checked before
/// its body is read. [`SignedHeaders::verify`] then checks the body against them.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    id: &'a str,
    timestamp: i64,
    signatures: &'a str,
}

impl<'a> SignedHeaders<'a> {
    /// The headers `webhook-id`, `webhook-timestamp` (within
    /// [`SIGNATURE_TOLERANCE_SECS`] of `now`, Unix seconds) and `webhook-signature`
    /// (at least one `v1,<base64 of 32 bytes>`), or what is wrong with them.
    pub fn read(
        id: Option<&'a str>,
        timestamp: Option<&'a str>,
        signatures: Option<&'a str>,
        now: i64,
    ) -> Result<SignedHeaders<'a>, &'static str> {
        let id = id
            .filter(|s| !s.is_empty())
            .ok_or("missing webhook-id header")?;
        let ts_text = timestamp.ok_or("missing webhook-timestamp header")?;
        let timestamp: i64 = ts_text
            .trim()
            .parse()
            .map_err(|_| "invalid webhook-timestamp header")?;
        // `abs_diff`: a timestamp at either end of i64 is far from now, not an overflow.
        if now.abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
            return Err("webhook-timestamp is too far from now");
        }
        let signatures = signatures.ok_or("missing webhook-signature header")?;
        if !v1_signatures(signatures).any(|s| s.len() == 32) {
            return Err("webhook-signature holds no v1 signature");
        }
        Ok(SignedHeaders {
            id,
            timestamp,
            signatures,
        })
    }

    /// Whether one of the signatures is `key`'s over this delivery's `body`.
    pub fn verify(&self, key: &SigningKey, body: &[u8]) -> Result<(), &'static str> {
        let mut mac = key.mac();
        mac.update(format!("{}.{}.", self.id, self.timestamp).as_bytes());
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        let mut ok = false;
        for given in v1_signatures(self.signatures) {
            ok |= bool::from(expected.as_slice().ct_eq(&given));
        }
        if ok {
            Ok(())
        } else {
            Err("invalid webhook signature")
        }
    }
}

/// The decoded `v1,<base64>` entries of a `webhook-signature` header (space-separated;
/// others, such as `v1a,`, are not ours).
fn v1_signatures(header: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    header
        .split(' ')
        .filter_map(|sig| sig.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_signer_takes_only_its_whole_mac_of_the_same_parts() {
        let k = TokenSigner::new(b"secret");
        let tag = k.mac(&[b"context\0", b"body"]);
        assert!(k.verify(&[b"context\0", b"body"], &tag));
        // The parts are one message: where one ends does not matter, what they say does.
        assert!(k.verify(&[b"context\0body"], &tag));
        assert!(!k.verify(&[b"other\0", b"body"], &tag));
        assert!(!k.verify(&[b"context\0", b"body"], &tag[..16]));
        assert!(!TokenSigner::new(b"other").verify(&[b"context\0", b"body"], &tag));
        assert_eq!(format!("{k:?}"), "TokenSigner(***)");
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret "));
        assert!(!constant_time_eq(b"secret", b""));
    }

    #[test]
    fn signatures_round_trip_and_fail_closed() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.sign("msg_1", 1_700_000_000, b"{}");
        let two = format!("v1,bm90LWl0 {sig}");
        assert_eq!(
            key.verify(
                Some("msg_1"),
                Some("1700000000"),
                Some(&two),
                b"{}",
                1_700_000_100
            ),
            Ok(())
        );
        assert!(
            key.verify(
                Some("msg_1"),
                Some("1700000000"),
                Some(&sig),
                b"{ }",
                1_700_000_000
            )
            .is_err()
        );
        assert!(
            key.verify(
                Some("msg_2"),
                Some("1700000000"),
                Some(&sig),
                b"{}",
                1_700_000_000
            )
            .is_err()
        );
        assert_eq!(
            key.verify(
                Some("msg_1"),
                Some("1700000000"),
                Some(&sig),
                b"{}",
                1_700_000_301
            ),
            Err("webhook-timestamp is too far from now")
        );
        assert!(
            key.verify(Some("msg_1"), None, Some(&sig), b"{}", 1_700_000_000)
                .is_err()
        );
        // Timestamps at the ends of i64 are far from now (no overflow).
        for far in [i64::MIN.to_string(), i64::MAX.to_string(), "-1".into()] {
            assert_eq!(
                key.verify(Some("msg_1"), Some(&far), Some(&sig), b"{}", 1_700_000_000),
                Err("webhook-timestamp is too far from now"),
                "{far}"
            );
        }
    }

    #[test]
    fn signed_headers_are_judged_without_the_body() {
        let now = 1_700_000_000;
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.sign("msg_1", now, b"{}");
        fn read<'a>(ts: &'a str, sigs: &'a str) -> Result<SignedHeaders<'a>, &'static str> {
            SignedHeaders::read(Some("msg_1"), Some(ts), Some(sigs), 1_700_000_000)
        }
        // Timestamps at the ends of i64 are too far, not an overflow.
        for ts in [i64::MIN.to_string(), i64::MAX.to_string()] {
            assert_eq!(
                read(&ts, &sig).unwrap_err(),
                "webhook-timestamp is too far from now"
            );
        }
        for sigs in ["", "v1a,AAAA", "v1,bm90LWl0", "v1,!!!", "V1,AAAA"] {
            assert_eq!(
                read("1700000000", sigs).unwrap_err(),
                "webhook-signature holds no v1 signature",
                "{sigs:?}"
            );
        }
        assert_eq!(
            SignedHeaders::read(Some(""), Some("1700000000"), Some(&sig), now).unwrap_err(),
            "missing webhook-id header"
        );
        let both = format!("v1a,AAAA {sig}");
        let headers = read("1700000000", &both).unwrap();
        assert_eq!(headers.verify(&key, b"{}"), Ok(()));
        assert_eq!(
            headers.verify(&key, b"{ }"),
            Err("invalid webhook signature")
        );
    }
}
