//! CloudFront signed cookies for audience pages, as AWS documents them ("Set signed
//! cookies using a custom policy"): a custom policy naming one resource (the
//! audience's prefix, `https://<domain>/<audience>/*`) and when it ends
//! (`AWS:EpochTime`), written without white space; its RSA signature (PKCS #1 v1.5)
//! with SHA-256, which CloudFront takes when the `CloudFront-Hash-Algorithm=SHA256`
//! cookie says so (without it CloudFront expects SHA-1), made with the private half of
//! a key in the distribution's trusted key group; both in CloudFront's URL-safe base64
//! (`+` `=` `/` as `-` `_` `~`), with the key's id.
//!
//! A policy holds one statement, so a reader of several audiences gets one set of
//! the four cookies per audience, each with `Path=/<audience>/`: a browser sends to
//! `/staff/…` only the set whose policy names `/staff/*`.
//!
//! No I/O: the key comes in as PEM; ring signs (with blinding, from the system's
//! random source).

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};

/// The cookie that tells CloudFront which hash the signature is made with.
pub const HASH_ALGORITHM: &str = "SHA256";

/// The four cookies of one audience, as `Set-Cookie` values.
pub fn signed_cookies(
    key: &SigningKey,
    domain: &str,
    audience: &str,
    expires: i64,
    max_age: i64,
) -> Result<Vec<String>, KeyError> {
    let resource = format!("https://{domain}/{audience}/*");
    let policy = policy(&resource, expires);
    let signature = key.sign(policy.as_bytes())?;
    let attrs = format!("; Path=/{audience}/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax");
    Ok(vec![
        format!("CloudFront-Policy={}{attrs}", url_safe(policy.as_bytes())),
        format!("CloudFront-Signature={}{attrs}", url_safe(&signature)),
        format!("CloudFront-Hash-Algorithm={HASH_ALGORITHM}{attrs}"),
        format!("CloudFront-Key-Pair-Id={}{attrs}", key.key_pair_id),
    ])
}

/// The custom policy: `resource` until `expires` (Unix seconds), no white space.
pub fn policy(resource: &str, expires: i64) -> String {
    let resource = serde_json::to_string(resource).unwrap_or_default();
    format!(
        "{{\"Statement\":[{{\"Resource\":{resource},\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"
    )
}

/// Base64 with CloudFront's replacements: `+` → `-`, `=` → `_`, `/` → `~`.
pub fn url_safe(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

/// Why a key is not taken, or could not sign.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a PEM RSA private key (PKCS #1 or PKCS #8)")]
    NotPem,
    #[error("the RSA private key is malformed: {0}")]
    Malformed(String),
    #[error("the RSA key is {0} bits; CloudFront takes 2048-bit keys")]
    Size(usize),
    #[error("the key could not sign the policy")]
    Sign,
}

/// The private half of a key of the distribution's trusted key group, with its id.
pub struct SigningKey {
    pub key_pair_id: String,
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, ***)", self.key_pair_id)
    }
}

impl SigningKey {
    /// A PEM private key (`BEGIN RSA PRIVATE KEY` or `BEGIN PRIVATE KEY`).
    pub fn from_pem(pem: &str, key_pair_id: &str) -> Result<SigningKey, KeyError> {
        let pkcs8 = pem.contains("BEGIN PRIVATE KEY");
        if !pkcs8 && !pem.contains("BEGIN RSA PRIVATE KEY") {
            return Err(KeyError::NotPem);
        }
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| KeyError::NotPem)?;
        let pair = match pkcs8 {
            true => RsaKeyPair::from_pkcs8(&der),
            false => RsaKeyPair::from_der(&der),
        }
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let bits = pair.public().modulus_len() * 8;
        if bits != 2048 {
            return Err(KeyError::Size(bits));
        }
        Ok(SigningKey {
            key_pair_id: key_pair_id.to_owned(),
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The public key (`RSAPublicKey`, DER), as CloudFront is given it in PEM.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public().as_ref()
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut out = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut out)
            .map_err(|_| KeyError::Sign)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature;

    /// A 2048-bit key made by openssl now: its PKCS #8 PEM, and its public key in PEM.
    fn openssl_key(dir: &std::path::Path) -> (String, std::path::PathBuf) {
        let private = dir.join("private.pem");
        let public = dir.join("public.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&private)
            .output()
            .expect("openssl runs")
            .status
            .success();
        assert!(ok);
        let ok = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        (std::fs::read_to_string(&private).unwrap(), public)
    }

    fn url_safe_decode(s: &str) -> Vec<u8> {
        let standard: String = s
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '=',
                '~' => '/',
                c => c,
            })
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(standard)
            .unwrap()
    }

    #[test]
    fn the_policy_is_the_documented_custom_policy_without_white_space() {
        assert_eq!(
            policy("https://d111111abcdef8.cloudfront.net/staff/*", 1357034400),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/staff/*","Condition":{"DateLessThan":{"AWS:EpochTime":1357034400}}}]}"#
        );
        assert_eq!(url_safe(&[0xfb, 0xff, 0xfe]), "-~~-");
        assert_eq!(url_safe(b"a"), "YQ__");
    }

    #[test]
    fn cookies_verify_with_the_public_key_as_cloudfront_does() {
        let dir = std::env::temp_dir().join(format!("openmic-cf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pem, public) = openssl_key(&dir);
        let key = SigningKey::from_pem(&pem, "K2JCJMDEHXQW5F").unwrap();
        let cookies =
            signed_cookies(&key, "status.example.com", "staff", 1_900_000_000, 43200).unwrap();
        assert_eq!(cookies.len(), 4);
        for c in &cookies {
            assert!(
                c.ends_with("; Path=/staff/; Max-Age=43200; Secure; HttpOnly; SameSite=Lax"),
                "{c}"
            );
        }
        let value = |name: &str| {
            cookies
                .iter()
                .find_map(|c| c.strip_prefix(&format!("{name}=")))
                .and_then(|c| c.split(';').next())
                .unwrap()
                .to_owned()
        };
        assert_eq!(value("CloudFront-Key-Pair-Id"), "K2JCJMDEHXQW5F");
        assert_eq!(value("CloudFront-Hash-Algorithm"), "SHA256");
        let policy = url_safe_decode(&value("CloudFront-Policy"));
        assert_eq!(
            String::from_utf8(policy.clone()).unwrap(),
            r#"{"Statement":[{"Resource":"https://status.example.com/staff/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000}}}]}"#
        );
        let sig = url_safe_decode(&value("CloudFront-Signature"));
        assert_eq!(sig.len(), 256);
        // ring's RSA-SHA256 verification, with the public key.
        let public_key = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key().to_vec(),
        );
        public_key
            .verify(&policy, &sig)
            .expect("the signature verifies");
        // And openssl's, from the public key file alone.
        std::fs::write(dir.join("policy"), &policy).unwrap();
        std::fs::write(dir.join("sig"), &sig).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&public)
            .arg("-signature")
            .arg(dir.join("sig"))
            .arg(dir.join("policy"))
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Another policy's signature does not verify this one.
        let other = key
            .sign(
                br#"{"Statement":[{"Resource":"https://status.example.com/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000}}}]}"#,
            )
            .unwrap();
        assert!(public_key.verify(&policy, &other).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn keys_that_are_not_2048_bit_rsa_are_named() {
        assert_eq!(
            SigningKey::from_pem("not a key", "K").unwrap_err(),
            KeyError::NotPem
        );
        let pem = "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(pem, "K").unwrap_err(),
            KeyError::Malformed(_)
        ));
    }
}
