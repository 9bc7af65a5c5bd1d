//! The chart's image for chat services that show an image by its URL (Slack): the
//! PNG is kept in the private state bucket under [`key`] (`charts/<alert>/<n>.png`,
//! the alert record's id and its generation), never in the status bucket, and served
//! by `GET /charts/<alert>/<n>.png?expires=<unix seconds>&sig=<base64url>` while the
//! link is signed and unexpired ([`LIFETIME`], 7 days, as the alert links').
//!
//! The signature is an HMAC-SHA256 with `ALERT_LINK_SECRET` of a context of its own
//! (so no alert link's signature passes for it, nor its for one), the path and the
//! expiry. Refusals ([`Refused`]): 403 unsigned, tampered (another path, another
//! expiry, another key) or expired; 404 for a path that names no chart or a chart
//! no longer kept. The image is `image/png`, `Cache-Control: private`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::StatusCode;

use crate::config::Secret;
use crate::ports::{ObjectStore, PutOptions};
use crate::reply::Reply;
use crate::signing::TokenSigner;
use crate::time::Timestamp;

/// How long an image link works after the message that carries it.
pub const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The route's prefix.
pub const ROUTE_PREFIX: &str = "/charts/";

/// The state bucket's prefix of the charts kept; the bucket expires them after
/// 8 days (the template's lifecycle rule), a day after their links.
pub const PREFIX: &str = "charts/";

/// What the MAC covers before the path and expiry.
const CONTEXT: &[u8] = b"openmic chart image v1\n";

/// The state bucket's key of the chart of `record`'s generation `generation`.
pub fn key(record: &str, generation: u32) -> String {
    format!("{PREFIX}{record}/{generation}.png")
}

/// The route's path of that chart.
pub fn path(record: &str, generation: u32) -> String {
    format!("/{}", key(record, generation))
}

/// The state key a route path names, if it names a chart: `/charts/<id>/<n>.png`, the
/// id hexadecimal (an alert record's), `n` a generation.
pub fn key_of_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(ROUTE_PREFIX)?;
    let (record, file) = rest.split_once('/')?;
    let generation = file.strip_suffix(".png")?;
    let id_ok =
        !record.is_empty() && record.len() <= 64 && record.bytes().all(|b| b.is_ascii_hexdigit());
    let generation: u32 = generation
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| generation.parse().ok())
        .flatten()?;
    id_ok.then(|| key(record, generation))
}

/// Why an image link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the link is not signed")]
    Unsigned,
    #[error("the link's signature does not match")]
    Tampered,
    #[error("the link expired")]
    Expired,
    #[error("no such chart")]
    NotAChart,
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Unsigned | Refused::Tampered | Refused::Expired => StatusCode::FORBIDDEN,
            Refused::NotAChart => StatusCode::NOT_FOUND,
        }
    }
}

/// The key that signs and checks image links (`ALERT_LINK_SECRET`).
#[derive(Debug, Clone)]
pub struct ImageKey(TokenSigner);

impl ImageKey {
    pub fn new(secret: &Secret) -> ImageKey {
        ImageKey(TokenSigner::new(secret.expose().as_bytes()))
    }

    fn mac(&self, path: &str, expires: &str) -> [u8; 32] {
        self.0
            .mac(&[CONTEXT, path.as_bytes(), b"\n", expires.as_bytes()])
    }

    /// The signed URL of the chart at `path` under `base` (`PUBLIC_API_URL`), working
    /// until `expires` (unix seconds).
    pub fn url(&self, base: &str, path: &str, expires: i64) -> String {
        let expires = expires.to_string();
        let sig = B64.encode(self.mac(path, &expires));
        format!("{base}{path}?expires={expires}&sig={sig}")
    }

    /// The URL of the chart of `record`'s generation, for a message sent at `at`.
    pub fn url_for(&self, base: &str, record: &str, generation: u32, at: Timestamp) -> String {
        let expires = at.timestamp() + LIFETIME.as_secs() as i64;
        self.url(base, &path(record, generation), expires)
    }

    /// The state key of the chart the link names, if it is signed by this key for
    /// this path and has not expired at `now`.
    pub fn check(
        &self,
        path: &str,
        expires: Option<&str>,
        sig: Option<&str>,
        now: Timestamp,
    ) -> Result<String, Refused> {
        let key = key_of_path(path).ok_or(Refused::NotAChart)?;
        let (Some(expires), Some(sig)) = (
            expires.filter(|e| !e.is_empty()),
            sig.filter(|s| !s.is_empty()),
        ) else {
            return Err(Refused::Unsigned);
        };
        let sig = B64.decode(sig).map_err(|_| Refused::Tampered)?;
        if !self
            .0
            .verify(&[CONTEXT, path.as_bytes(), b"\n", expires.as_bytes()], &sig)
        {
            return Err(Refused::Tampered);
        }
        let expires: i64 = expires.parse().map_err(|_| Refused::Tampered)?;
        if now.timestamp() > expires {
            return Err(Refused::Expired);
        }
        Ok(key)
    }
}

/// Keeps `png` as the chart of `record`'s generation in the state bucket.
pub async fn store(
    state: &dyn ObjectStore,
    record: &str,
    generation: u32,
    png: &[u8],
) -> Result<(), crate::errors::BackendError> {
    state
        .put(
            &key(record, generation),
            Bytes::copy_from_slice(png),
            PutOptions {
                content_type: "image/png".into(),
                cache_control: Some("private".into()),
                condition: crate::ports::Condition::Always,
            },
        )
        .await
        .map(|_| ())
}

/// `GET /charts/<alert>/<n>.png?expires=&sig=`: the PNG while the link holds.
/// Without a key (no `ALERT_LINK_SECRET`) every link is refused as tampered.
pub async fn serve(
    state: &dyn ObjectStore,
    key: Option<&ImageKey>,
    path: &str,
    expires: Option<&str>,
    sig: Option<&str>,
    now: Timestamp,
) -> Reply {
    let checked = match key {
        Some(k) => k.check(path, expires, sig, now),
        None => key_of_path(path)
            .ok_or(Refused::NotAChart)
            .and(Err(Refused::Tampered)),
    };
    let key = match checked {
        Ok(k) => k,
        Err(r) => return refusal(&r),
    };
    match state.get(&key).await {
        Ok(Some(object)) => Reply::binary(StatusCode::OK, "image/png", object.body.to_vec())
            .with_header("cache-control", "private, max-age=3600")
            .with_header("x-content-type-options", "nosniff")
            .with_header("referrer-policy", "no-referrer"),
        Ok(None) => refusal(&Refused::NotAChart),
        Err(e) => Reply::failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "the chart could not be read",
            &e,
        ),
    }
}

fn refusal(r: &Refused) -> Reply {
    Reply::error(r.status(), r.to_string()).with_header("cache-control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ImageKey {
        ImageKey::new(&Secret::new("alert-link-secret-of-at-least-32-characters"))
    }

    #[test]
    fn a_link_holds_for_its_path_and_expiry_only() {
        let at = crate::time::parse("2026-12-07T10:00:00Z").unwrap();
        let k = key();
        let url = k.url_for("https://api.example.com", "0a1b2c", 2, at);
        assert!(
            url.starts_with("https://api.example.com/charts/0a1b2c/2.png?expires="),
            "{url}"
        );
        let query = url.split_once('?').unwrap().1;
        let param = |n: &str| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
        };
        let (e, s) = (param("expires").unwrap(), param("sig").unwrap());
        let path = "/charts/0a1b2c/2.png";
        assert_eq!(
            k.check(path, Some(&e), Some(&s), at),
            Ok("charts/0a1b2c/2.png".into())
        );
        let week = at + chrono::Duration::days(7);
        assert!(k.check(path, Some(&e), Some(&s), week).is_ok());
        assert_eq!(
            k.check(
                path,
                Some(&e),
                Some(&s),
                week + chrono::Duration::seconds(1)
            ),
            Err(Refused::Expired)
        );
        // Another generation, a later expiry, another key, no signature.
        assert_eq!(
            k.check("/charts/0a1b2c/3.png", Some(&e), Some(&s), at),
            Err(Refused::Tampered)
        );
        let later = (e.parse::<i64>().unwrap() + 86400).to_string();
        assert_eq!(
            k.check(path, Some(&later), Some(&s), at),
            Err(Refused::Tampered)
        );
        let other = ImageKey::new(&Secret::new("another-secret-entirely-0123456789"));
        assert_eq!(
            other.check(path, Some(&e), Some(&s), at),
            Err(Refused::Tampered)
        );
        assert_eq!(k.check(path, None, None, at), Err(Refused::Unsigned));
        assert_eq!(
            k.check(path, Some(&e), Some(""), at),
            Err(Refused::Unsigned)
        );
        assert_eq!(
            k.check(path, Some(&e), Some("%%%"), at),
            Err(Refused::Tampered)
        );
        // Not a chart's path at all.
        for bad in [
            "/charts/../state.json",
            "/charts/0a1b2c/2.svg",
            "/charts/zz/2.png",
            "/charts/0a1b2c/x.png",
            "/charts/0a1b2c/+2.png",
            "/charts/0a1b2c/99999999999.png",
            "/charts/0a1b2c/2.png/more",
        ] {
            assert_eq!(
                k.check(bad, Some(&e), Some(&s), at),
                Err(Refused::NotAChart),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_signature_made_for_another_use_does_not_pass() {
        // The same secret's MAC of the same path and expiry, without this context.
        let secret = Secret::new("alert-link-secret-of-at-least-32-characters");
        let signer = TokenSigner::new(secret.expose().as_bytes());
        let path = "/charts/0a1b2c/2.png";
        let sig = B64.encode(signer.mac(&[path.as_bytes(), b"\n", b"1900000000"]));
        let at = crate::time::parse("2026-12-07T10:00:00Z").unwrap();
        assert_eq!(
            ImageKey::new(&secret).check(path, Some("1900000000"), Some(&sig), at),
            Err(Refused::Tampered)
        );
    }
}
