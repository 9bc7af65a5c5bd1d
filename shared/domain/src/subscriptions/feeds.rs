//! Audience feeds: an audience's Atom feeds (`/<audience>/feed.atom` and
//! `/<audience>/feed/<component>.atom`, kept under `audiences/<audience>/` of the state
//! bucket) are read by feed readers, which carry no cookies. So each signed-in reader
//! gets their own link, `?reader=<id>&sig=<hmac>`: the HMAC-SHA256 under
//! `SUBSCRIPTION_SECRET` of the audience and the reader, in hex. Rotating the secret
//! ends every link given.

use http::StatusCode;

use crate::reply::Reply;
use crate::signing::TokenSigner;

/// The routes an audience's feeds are served on (the subscriptions function's, and
/// the local runner's).
pub const FEED_ROUTES: [&str; 2] = ["/{audience}/feed.atom", "/{audience}/feed/{file}"];

fn signer(secret: &str) -> TokenSigner {
    TokenSigner::new(secret.as_bytes())
}

/// The signature of `reader`'s feed link for `audience`.
pub fn signature(secret: &str, audience: &str, reader: &str) -> String {
    hex::encode(signer(secret).mac(&[
        b"audience-feed\0",
        audience.as_bytes(),
        b"\0",
        reader.as_bytes(),
    ]))
}

/// The query of `reader`'s feed links for `audience`: `reader=<id>&sig=<hmac>`.
pub fn signed_query(secret: &str, audience: &str, reader: &str) -> String {
    let mut q = url_encode("reader", reader);
    q.push_str("&sig=");
    q.push_str(&signature(secret, audience, reader));
    q
}

fn url_encode(name: &str, value: &str) -> String {
    let mut out = format!("{name}=");
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Why a feed link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedDenied {
    #[error(
        "this feed is read with its signed link: sign in to the {0} page and follow its Feed link"
    )]
    Unsigned(String),
    #[error(
        "the feed link's signature does not verify: the link was changed, or made for another page or reader"
    )]
    Tampered,
    #[error("audience feeds need SUBSCRIPTION_SECRET, which is not set")]
    NoSecret,
}

/// Whether `query` is a feed link of `audience` that `secret` signed.
pub fn check(secret: Option<&str>, audience: &str, query: Option<&str>) -> Result<(), FeedDenied> {
    let pairs = crate::subscriptions::web::form_pairs(query.unwrap_or("").as_bytes());
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(reader), Some(sig)) = (get("reader"), get("sig")) else {
        return Err(FeedDenied::Unsigned(audience.to_owned()));
    };
    let secret = secret.ok_or(FeedDenied::NoSecret)?;
    let tag = hex::decode(sig).map_err(|_| FeedDenied::Tampered)?;
    let parts: [&[u8]; 4] = [
        b"audience-feed\0",
        audience.as_bytes(),
        b"\0",
        reader.as_bytes(),
    ];
    match signer(secret).verify(&parts, &tag) {
        true => Ok(()),
        false => Err(FeedDenied::Tampered),
    }
}

/// The page of a refused feed link.
pub fn denied(why: &FeedDenied) -> Reply {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Not allowed</title></head><body><main><h1>Not allowed</h1>\
         <p id=\"why\">{}.</p><p><a href=\"/\">The public status page</a></p></main></body></html>\n",
        openmic_core::html::escape(&why.to_string()),
    );
    Reply::html(StatusCode::FORBIDDEN, body).with_header("cache-control", "no-store")
}

/// The key in the state bucket of `file` of `audience`'s feeds (`feed.atom` or
/// `feed/<component>.atom`), or `None` for anything else.
pub fn feed_key(audience: &str, file: &str) -> Option<String> {
    let ok = file == "feed.atom"
        || file.strip_prefix("feed/").is_some_and(|f| {
            f.ends_with(".atom")
                && !f.contains('/')
                && !f.starts_with('.')
                && f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b) || b >= 0x80)
        });
    // The audience pages' prefix (`publishing::audience::pages_prefix`).
    ok.then(|| format!("audiences/{audience}/{file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_link_verifies_for_its_audience_and_reader_only() {
        let q = signed_query("s3cret", "staff", "alice smith");
        assert!(q.starts_with("reader=alice%20smith&sig="), "{q}");
        assert_eq!(check(Some("s3cret"), "staff", Some(&q)), Ok(()));
        assert_eq!(
            check(Some("s3cret"), "acme", Some(&q)),
            Err(FeedDenied::Tampered)
        );
        assert_eq!(
            check(Some("other"), "staff", Some(&q)),
            Err(FeedDenied::Tampered)
        );
        let bob = q.replace("alice%20smith", "bob");
        assert_eq!(
            check(Some("s3cret"), "staff", Some(&bob)),
            Err(FeedDenied::Tampered)
        );
        assert_eq!(
            check(Some("s3cret"), "staff", Some("reader=alice&sig=zz")),
            Err(FeedDenied::Tampered)
        );
        assert_eq!(
            check(Some("s3cret"), "staff", None),
            Err(FeedDenied::Unsigned("staff".into()))
        );
        assert_eq!(check(None, "staff", Some(&q)), Err(FeedDenied::NoSecret));
        let page = denied(&FeedDenied::Tampered);
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.contains("does not verify"));
    }

    #[test]
    fn only_feeds_are_served() {
        assert_eq!(
            feed_key("staff", "feed.atom").as_deref(),
            Some("audiences/staff/feed.atom")
        );
        assert_eq!(
            feed_key("staff", "feed/internal-db.atom").as_deref(),
            Some("audiences/staff/feed/internal-db.atom")
        );
        for bad in [
            "index.html",
            "feed/../index.html",
            "feed/x.html",
            "feed/.atom",
            "feed/a/b.atom",
        ] {
            assert_eq!(feed_key("staff", bad), None, "{bad}");
        }
    }
}
