//! Who may deliver, decided before the body is read: `POST /gitlab`'s `X-Gitlab-Token`
//! (or, with `GITLAB_SIGNING_TOKEN`, the Standard Webhooks headers), `POST /alerts`'
//! `Authorization` header (a bearer token, or Basic with an empty user and the token
//! as password), and the size a request declares.
//!
//! An HTTP edge calls [`Intake::before_body`] with the headers alone and reads the
//! body only if it passes, within `MAX_BODY_BYTES`: a stranger's request is answered
//! 401 and a declared size over the limit 413 without one byte of the body read. A
//! signature covers the body, so with signed deliveries only the headers' form and the
//! timestamp's freshness are checked first, and the signature once the body is read
//! ([`Intake::check_gitlab_auth`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, StatusCode, header};

use super::{Intake, Reply, header_str};
use openmic_core::signing::SignedHeaders;

/// An intake route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /gitlab`.
    Gitlab,
    /// `POST /alerts`.
    Alerts,
}

/// The 413 reply for a body over `max` bytes.
pub fn too_large(max: usize) -> Reply {
    Reply::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body is larger than MAX_BODY_BYTES ({max} bytes)"),
    )
}

/// A request's declared `Content-Length` against `max`: 413 over it, 400 if it is not
/// a number. Without one (a chunked body) the reader counts while reading.
pub fn check_declared_length(headers: &HeaderMap, max: usize) -> Result<(), Reply> {
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let len = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                Reply::error(StatusCode::BAD_REQUEST, "Content-Length is not a number")
            })?;
        if len > u64::try_from(max).unwrap_or(u64::MAX) {
            return Err(too_large(max));
        }
    }
    Ok(())
}

impl Intake {
    /// What a request's headers alone decide, in this order: who sends it (401), then
    /// the size it declares (413). The body is read only after this passes.
    pub fn before_body(&self, route: Route, headers: &HeaderMap) -> Result<(), Reply> {
        match route {
            Route::Gitlab => self.check_gitlab_headers(headers)?,
            Route::Alerts => self.check_alert_token(headers)?,
        }
        check_declared_length(headers, self.config.intake.max_body_bytes)
    }

    /// `POST /gitlab`'s headers: the token, or with signed deliveries the signature
    /// headers' form and freshness (and the token, if sent, right).
    fn check_gitlab_headers(&self, headers: &HeaderMap) -> Result<(), Reply> {
        self.gitlab_headers(headers).map(|_| ())
    }

    /// The signature headers to check the body against (with signed deliveries), once
    /// the token and the headers' form are right.
    fn gitlab_headers<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<SignedHeaders<'h>>, Reply> {
        let token = headers.get("x-gitlab-token").map(|v| v.as_bytes());
        let unauthorized = |why: &str| Reply::error(StatusCode::UNAUTHORIZED, why);
        if self.signing_key.is_some() {
            let signed = SignedHeaders::read(
                header_str(headers, "webhook-id"),
                header_str(headers, "webhook-timestamp"),
                header_str(headers, "webhook-signature"),
                self.clock.now().timestamp(),
            )
            .map_err(unauthorized)?;
            // The shared token is optional with signatures, but must be right if sent.
            if let (Some(given), Some(secret)) = (token, &self.config.intake.gitlab_webhook_secret)
                && !secret.matches(given)
            {
                return Err(unauthorized("invalid X-Gitlab-Token"));
            }
            return Ok(Some(signed));
        }
        match (token, &self.config.intake.gitlab_webhook_secret) {
            (Some(given), Some(secret)) if secret.matches(given) => Ok(None),
            (None, _) => Err(unauthorized("missing X-Gitlab-Token")),
            _ => Err(unauthorized("invalid X-Gitlab-Token")),
        }
    }

    /// `POST /gitlab`, body read: the headers again (a caller that skipped
    /// [`Intake::before_body`] is held to them too) and the signature over the body.
    pub(super) fn check_gitlab_auth(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Reply> {
        match (self.gitlab_headers(headers)?, &self.signing_key) {
            (Some(signed), Some(key)) => signed
                .verify(key, body)
                .map_err(|why| Reply::error(StatusCode::UNAUTHORIZED, why)),
            _ => Ok(()),
        }
    }

    /// `POST /alerts`' `Authorization` header against `ALERT_TOKEN`.
    pub(super) fn check_alert_token(&self, headers: &HeaderMap) -> Result<(), Reply> {
        let Some(secret) = &self.config.intake.alert_token else {
            return Err(Reply::error(
                StatusCode::UNAUTHORIZED,
                "alerts are not accepted: ALERT_TOKEN is not set",
            ));
        };
        let header = headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Reply::error(StatusCode::UNAUTHORIZED, "missing Authorization header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(authorization_token)
            .ok_or_else(|| {
                Reply::error(
                    StatusCode::UNAUTHORIZED,
                    "Authorization must be Bearer <token> or Basic",
                )
            })?;
        if secret.matches(&token) {
            Ok(())
        } else {
            Err(Reply::error(
                StatusCode::UNAUTHORIZED,
                "invalid alert token",
            ))
        }
    }
}

/// The token of an `Authorization` header: `Bearer <token>`, or `Basic` with an empty
/// user and the token as password.
pub fn authorization_token(header: &str) -> Option<Vec<u8>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.as_bytes().to_vec())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = B64.decode(rest).ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some(decoded[colon + 1..].to_vec())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmic_core::config::{Accepted, Config, Secret};
    use openmic_core::signing::SigningKey;
    use std::sync::Arc;

    #[test]
    fn authorization_forms() {
        assert_eq!(
            authorization_token("Bearer abc").as_deref(),
            Some(&b"abc"[..])
        );
        let basic = format!("Basic {}", B64.encode(":abc"));
        assert_eq!(authorization_token(&basic).as_deref(), Some(&b"abc"[..]));
        assert_eq!(authorization_token("Token abc"), None);
        assert_eq!(authorization_token("Basic !!!"), None);
    }

    const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn intake(signed: bool) -> Intake {
        let config = {
            let mut c = Config::default();
            c.intake.gitlab_webhook_secret = Some(Accepted::new("hook-secret"));
            c.intake.gitlab_signing_token = signed.then(|| Secret::new(SIGNING));
            c.intake.alert_token = Some(Accepted::new("alert-token"));
            c.intake.max_body_bytes = 1000;
            c
        };
        Intake::new(Arc::new(config), None, None, None).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn status(r: Result<(), Reply>) -> u16 {
        r.map_or_else(|e| e.status.as_u16(), |()| 200)
    }

    #[test]
    fn strangers_are_refused_before_their_size_is_looked_at() {
        let plain = intake(false);
        let huge = ("content-length", "1000000000");
        for (route, good, bad) in [
            (
                Route::Gitlab,
                ("x-gitlab-token", "hook-secret"),
                ("x-gitlab-token", "hook-secreT"),
            ),
            (
                Route::Alerts,
                ("authorization", "Bearer alert-token"),
                ("authorization", "Bearer alert-tokeN"),
            ),
        ] {
            assert_eq!(
                status(plain.before_body(route, &headers(&[bad, huge]))),
                401
            );
            assert_eq!(status(plain.before_body(route, &headers(&[huge]))), 401);
            assert_eq!(
                status(plain.before_body(route, &headers(&[good, huge]))),
                413
            );
            assert_eq!(
                status(plain.before_body(route, &headers(&[good, ("content-length", "1000")]))),
                200
            );
            assert_eq!(
                status(plain.before_body(route, &headers(&[good, ("content-length", "1001")]))),
                413
            );
            assert_eq!(
                status(plain.before_body(route, &headers(&[good, ("content-length", "-1")]))),
                400
            );
            // No Content-Length (chunked): the reader counts.
            assert_eq!(status(plain.before_body(route, &headers(&[good]))), 200);
        }
    }

    #[test]
    fn signed_deliveries_are_judged_by_their_headers_first_and_their_body_after() {
        let signed = intake(true);
        let key = SigningKey::from_secret(SIGNING).unwrap();
        let now = signed.clock.now().timestamp();
        let ts = now.to_string();
        let sig = key.sign("msg_1", now, b"{}");
        let good = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", sig.as_str()),
        ];
        let huge = ("content-length", "1000000000");
        let with = |extra: &[(&'static str, &str)]| {
            let mut all = good.to_vec();
            all.extend_from_slice(extra);
            headers(&all)
        };
        assert_eq!(
            status(signed.before_body(Route::Gitlab, &with(&[huge]))),
            413
        );
        let stale = (now - 301).to_string();
        for wrong in [
            headers(&[huge]),
            headers(&[good[0], good[1], huge]),
            headers(&[good[0], ("webhook-timestamp", &stale), good[2], huge]),
            headers(&[good[0], good[1], ("webhook-signature", "v1,AAAA"), huge]),
            with(&[("x-gitlab-token", "wrong"), huge]),
        ] {
            assert_eq!(
                status(signed.before_body(Route::Gitlab, &wrong)),
                401,
                "{wrong:?}"
            );
        }
        // Well-formed headers pass before the body; the body decides after.
        let h = with(&[]);
        assert_eq!(status(signed.before_body(Route::Gitlab, &h)), 200);
        assert_eq!(status(signed.check_gitlab_auth(&h, b"{}")), 200);
        assert_eq!(status(signed.check_gitlab_auth(&h, b"{ }")), 401);
    }
}
