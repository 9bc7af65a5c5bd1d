//! CloudFront signed cookies for audience pages, as AWS documents them ("Setting
//! signed cookies using a custom policy"): a custom policy naming one resource (the
//! audience's prefix, `https://<domain>/<audience>/*`) and when it ends
//! (`AWS:EpochTime`), written without white space; its RSA-SHA1 signature (PKCS #1
//! v1.5) with the private half of a key in the distribution's trusted key group; both
//! in CloudFront's URL-safe base64 (`+` `=` `/` as `-` `_` `~`), with the key's id.
//!
//! A policy holds one statement, so a reader of several audiences gets one set of
//! the three cookies per audience, each with `Path=/<audience>/`: a browser sends to
//! `/staff/…` only the set whose policy names `/staff/*`.
//!
//! Pure: no I/O. ring signs RSA only with SHA-256 and up, so the RSA operation is
//! here, on the key's CRT-free private exponent, with Montgomery multiplication in a
//! ladder that does the same work for every bit of the exponent.

use base64::Engine;
use ring::digest;

/// The three cookies of one audience, as `Set-Cookie` values.
pub fn signed_cookies(
    key: &SigningKey,
    domain: &str,
    audience: &str,
    expires: i64,
    max_age: i64,
) -> Vec<String> {
    let resource = format!("https://{domain}/{audience}/*");
    let policy = policy(&resource, expires);
    let signature = key.sign_sha1(policy.as_bytes());
    let attrs = format!("; Path=/{audience}/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax");
    vec![
        format!("CloudFront-Policy={}{attrs}", url_safe(policy.as_bytes())),
        format!("CloudFront-Signature={}{attrs}", url_safe(&signature)),
        format!("CloudFront-Key-Pair-Id={}{attrs}", key.key_pair_id),
    ]
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

/// Why a key is not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not a PEM RSA private key (PKCS #1 or PKCS #8)")]
    NotPem,
    #[error("the RSA private key is malformed")]
    Malformed,
    #[error("the RSA key is {0} bits; CloudFront takes 2048-bit keys")]
    Size(usize),
}

/// The private half of a key of the distribution's trusted key group, with its id.
pub struct SigningKey {
    pub key_pair_id: String,
    n: Vec<u64>,
    d: Vec<u64>,
    /// The modulus's length in bytes.
    len: usize,
    n0inv: u64,
    /// R² mod n (R = 2^(64·limbs)).
    r2: Vec<u64>,
    /// R mod n: one, in Montgomery form.
    one: Vec<u64>,
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
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| KeyError::NotPem)?;
        let rsa = match pkcs8 {
            // PrivateKeyInfo: version, algorithm, the RSAPrivateKey in an OCTET STRING.
            true => {
                let mut info = Der(&der).sequence().ok_or(KeyError::Malformed)?;
                info.integer().ok_or(KeyError::Malformed)?;
                info.take(0x30).ok_or(KeyError::Malformed)?;
                info.take(0x04).ok_or(KeyError::Malformed)?.to_vec()
            }
            false => der,
        };
        let mut key = Der(&rsa).sequence().ok_or(KeyError::Malformed)?;
        key.integer().ok_or(KeyError::Malformed)?;
        let n = key.integer().ok_or(KeyError::Malformed)?;
        key.integer().ok_or(KeyError::Malformed)?;
        let d = key.integer().ok_or(KeyError::Malformed)?;
        if n.len() * 8 != 2048 {
            return Err(KeyError::Size(n.len() * 8));
        }
        let limbs = n.len().div_ceil(8);
        let n_limbs = limbs_of(n, limbs);
        if n_limbs[0] & 1 == 0 {
            return Err(KeyError::Malformed);
        }
        let mut key = SigningKey {
            key_pair_id: key_pair_id.to_owned(),
            len: n.len(),
            d: limbs_of(d, limbs),
            n0inv: n0inv(n_limbs[0]),
            r2: vec![],
            one: vec![],
            n: n_limbs,
        };
        // R mod n, then R² mod n, by doubling.
        let mut r = vec![0u64; limbs];
        r[0] = 1;
        for _ in 0..64 * limbs {
            key.double(&mut r);
        }
        key.one = r.clone();
        for _ in 0..64 * limbs {
            key.double(&mut r);
        }
        key.r2 = r;
        Ok(key)
    }

    /// The modulus, big-endian (with the public exponent, the public key).
    pub fn modulus(&self) -> Vec<u8> {
        be_bytes(&self.n, self.len)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-1 of `message`.
    pub fn sign_sha1(&self, message: &[u8]) -> Vec<u8> {
        const DIGEST_INFO: [u8; 15] = [
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ];
        let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, message);
        let t_len = DIGEST_INFO.len() + hash.as_ref().len();
        let mut em = vec![0xffu8; self.len];
        em[0] = 0;
        em[1] = 1;
        em[self.len - t_len - 1] = 0;
        em[self.len - t_len..self.len - hash.as_ref().len()].copy_from_slice(&DIGEST_INFO);
        em[self.len - hash.as_ref().len()..].copy_from_slice(hash.as_ref());
        let m = limbs_of(&em, self.n.len());
        be_bytes(&self.pow_d(&m), self.len)
    }

    /// m^d mod n: a Montgomery ladder (a multiplication and a squaring per bit).
    fn pow_d(&self, m: &[u64]) -> Vec<u64> {
        let mut r0 = self.one.clone();
        let mut r1 = self.mont_mul(m, &self.r2);
        for i in (0..self.d.len() * 64).rev() {
            let bit = (self.d[i / 64] >> (i % 64)) & 1;
            swap(bit, &mut r0, &mut r1);
            r1 = self.mont_mul(&r0, &r1);
            r0 = self.mont_mul(&r0, &r0);
            swap(bit, &mut r0, &mut r1);
        }
        let mut one = vec![0u64; self.n.len()];
        one[0] = 1;
        self.mont_mul(&r0, &one)
    }

    /// a·b·R⁻¹ mod n (CIOS).
    fn mont_mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
        let k = self.n.len();
        let mut t = vec![0u64; k + 2];
        for &bi in b.iter().take(k) {
            let mut c: u128 = 0;
            for j in 0..k {
                let s = t[j] as u128 + (a[j] as u128) * (bi as u128) + c;
                t[j] = s as u64;
                c = s >> 64;
            }
            let s = t[k] as u128 + c;
            t[k] = s as u64;
            t[k + 1] = (s >> 64) as u64;
            let m = t[0].wrapping_mul(self.n0inv);
            let s = t[0] as u128 + (m as u128) * (self.n[0] as u128);
            let mut c = s >> 64;
            for j in 1..k {
                let s = t[j] as u128 + (m as u128) * (self.n[j] as u128) + c;
                t[j - 1] = s as u64;
                c = s >> 64;
            }
            let s = t[k] as u128 + c;
            t[k - 1] = s as u64;
            t[k] = t[k + 1] + (s >> 64) as u64;
            t[k + 1] = 0;
        }
        let mut out = t[..k].to_vec();
        let (reduced, borrow) = sub(&out, &self.n);
        // Subtract n when the result is n or more (a carry out, or no borrow).
        let take = (t[k] != 0) as u64 | (borrow ^ 1);
        select(take, &mut out, &reduced);
        out
    }

    /// r ← 2r mod n.
    fn double(&self, r: &mut [u64]) {
        let mut carry = 0u64;
        for limb in r.iter_mut() {
            let next = *limb >> 63;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        let (reduced, borrow) = sub(r, &self.n);
        let take = carry | (borrow ^ 1);
        select(take, r, &reduced);
    }
}

/// a − b and the borrow out (1 when a < b).
fn sub(a: &[u64], b: &[u64]) -> (Vec<u64>, u64) {
    let mut out = vec![0u64; a.len()];
    let mut borrow = 0u64;
    for i in 0..a.len() {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow);
        out[i] = d2;
        borrow = (b1 | b2) as u64;
    }
    (out, borrow)
}

/// `into` ← `from` when `take` is 1, without a branch on it.
fn select(take: u64, into: &mut [u64], from: &[u64]) {
    let mask = take.wrapping_neg();
    for (a, b) in into.iter_mut().zip(from) {
        *a = (*a & !mask) | (*b & mask);
    }
}

/// Swaps `a` and `b` when `bit` is 1, without a branch on it.
fn swap(bit: u64, a: &mut [u64], b: &mut [u64]) {
    let mask = bit.wrapping_neg();
    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
        let t = (*x ^ *y) & mask;
        *x ^= t;
        *y ^= t;
    }
}

/// −n⁻¹ mod 2⁶⁴ (n odd), by Newton's iteration.
fn n0inv(n0: u64) -> u64 {
    let mut x: u64 = 1;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(x)));
    }
    x.wrapping_neg()
}

/// Big-endian bytes as `limbs` little-endian 64-bit limbs.
fn limbs_of(bytes: &[u8], limbs: usize) -> Vec<u64> {
    let mut out = vec![0u64; limbs];
    for (i, b) in bytes.iter().rev().enumerate() {
        if i / 8 < limbs {
            out[i / 8] |= (*b as u64) << (8 * (i % 8));
        }
    }
    out
}

/// Limbs as `len` big-endian bytes.
fn be_bytes(limbs: &[u64], len: usize) -> Vec<u8> {
    (0..len)
        .rev()
        .map(|i| (limbs.get(i / 8).copied().unwrap_or(0) >> (8 * (i % 8))) as u8)
        .collect()
}

/// Just enough DER for an RSA private key.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element of type `tag`: its contents.
    fn take(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&t, rest) = self.0.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = match first {
            l if l < 0x80 => l as usize,
            0x81..=0x83 => {
                let n = (first & 0x7f) as usize;
                let (bytes, after) = (rest.get(..n)?, rest.get(n..)?);
                rest = after;
                bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize)
            }
            _ => return None,
        };
        let contents = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some(contents)
    }

    fn sequence(&mut self) -> Option<Der<'a>> {
        self.take(0x30).map(Der)
    }

    /// An INTEGER's magnitude, without its leading zero.
    fn integer(&mut self) -> Option<&'a [u8]> {
        let v = self.take(0x02)?;
        Some(match v {
            [0, rest @ ..] if !rest.is_empty() => rest,
            v => v,
        })
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
        let cookies = signed_cookies(&key, "status.example.com", "staff", 1_900_000_000, 43200);
        assert_eq!(cookies.len(), 3);
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
        let policy = url_safe_decode(&value("CloudFront-Policy"));
        assert_eq!(
            String::from_utf8(policy.clone()).unwrap(),
            r#"{"Statement":[{"Resource":"https://status.example.com/staff/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000}}}]}"#
        );
        let sig = url_safe_decode(&value("CloudFront-Signature"));
        assert_eq!(sig.len(), 256);
        // ring's own RSA-SHA1 verification, with the public key's modulus and exponent.
        let n = key.modulus();
        let e = [1u8, 0, 1];
        signature::RsaPublicKeyComponents {
            n: &n[..],
            e: &e[..],
        }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            &policy,
            &sig,
        )
        .expect("the signature verifies");
        // And openssl's, from the public key file alone.
        std::fs::write(dir.join("policy"), &policy).unwrap();
        std::fs::write(dir.join("sig"), &sig).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha1", "-verify"])
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
        let other = key.sign_sha1(
            br#"{"Statement":[{"Resource":"https://status.example.com/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000}}}]}"#,
        );
        assert!(
            signature::RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..]
            }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                &policy,
                &other,
            )
            .is_err()
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn keys_that_are_not_2048_bit_rsa_are_named() {
        assert_eq!(
            SigningKey::from_pem("not a key", "K").unwrap_err(),
            KeyError::NotPem
        );
        let pem = "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            SigningKey::from_pem(pem, "K").unwrap_err(),
            KeyError::Malformed
        );
    }
}
