//! The sign-in function's backends and run: `GET /login`, `/callback`, `/logout` from
//! API Gateway (through CloudFront, so on the status page's own host), the same routes
//! the local runner serves (`openmic_http::signin_routes`) with the same sign-in
//! (`openmic_gitlab::oidc::GitlabSignIn`). What differs is what a reader gets: not the
//! local session cookie, which a server would have to check on every page, but
//! CloudFront's signed cookies ([`CloudFrontGrant`]), one set per audience granted, each
//! with a policy naming only that audience's prefix (`https://<host>/<audience>/*`) for
//! 12 hours. CloudFront checks them on every page view; no function runs for a page.
//!
//! The key's private half is read once at start from Secrets Manager
//! (`CLOUDFRONT_PRIVATE_KEY_SECRET`); it also keys the short sign-in cookie (`state`,
//! `nonce`, PKCE verifier), so every instance of the function opens what another sealed.

use std::sync::Arc;

use openmic_aws::Aws;
use openmic_aws::cloudfront::{self, SigningKey};
use openmic_core::config::audiences::{CLOUDFRONT_KEY_PAIR_ID, CLOUDFRONT_PRIVATE_KEY_SECRET};
use openmic_core::config::site::STATUS_PAGE_URL;
use openmic_core::config::{Config, ConfigError};
use openmic_core::errors::Chain;
use openmic_core::ports::SignIn;
use openmic_gitlab::oidc::{GitlabSignIn, Grant, SESSION_SECS, Session};

/// The cookies' names CloudFront reads.
const COOKIES: [&str; 4] = [
    "CloudFront-Policy",
    "CloudFront-Signature",
    "CloudFront-Hash-Algorithm",
    "CloudFront-Key-Pair-Id",
];

/// CloudFront's signed cookies for the audiences a sign-in granted.
pub struct CloudFrontGrant {
    key: SigningKey,
    /// The status page's host, as readers ask CloudFront for it.
    host: String,
    /// Every configured audience, whose cookies a sign-out removes.
    audiences: Vec<String>,
}

impl CloudFrontGrant {
    pub fn new(key: SigningKey, host: &str, audiences: Vec<String>) -> CloudFrontGrant {
        CloudFrontGrant {
            key,
            host: host.to_owned(),
            audiences,
        }
    }
}

impl Grant for CloudFrontGrant {
    fn grant(&self, session: &Session) -> Result<Vec<String>, String> {
        let mut cookies = Vec::new();
        for audience in &session.audiences {
            let set = cloudfront::signed_cookies(
                &self.key,
                &self.host,
                audience,
                session.exp,
                SESSION_SECS,
            )
            .map_err(|e| e.to_string())?;
            cookies.extend(set);
        }
        Ok(cookies)
    }

    fn revoke(&self) -> Vec<String> {
        self.audiences
            .iter()
            .flat_map(|a| {
                COOKIES.iter().map(move |name| {
                    format!("{name}=; Path=/{a}/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
                })
            })
            .collect()
    }
}

/// The host of `STATUS_PAGE_URL` (`https://status.example.com` → `status.example.com`).
fn host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains('@')).then_some(host)
}

/// The key that seals the sign-in cookie: derived from the private key, which every
/// instance reads, under a label of its own (never the key itself).
fn sealing_key(pem: &str) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"openmic sign-in cookie key\n");
    ctx.update(pem.as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// The sign-in of the configuration on AWS: its key read from Secrets Manager, the
/// cookies CloudFront's. A missing or unreadable setting or key is an error naming
/// the variable.
pub async fn sign_in(config: &Arc<Config>, aws: &Aws) -> Result<GitlabSignIn, ConfigError> {
    let settings = &config.audiences;
    let key_pair_id = settings
        .cloudfront_key_pair_id
        .clone()
        .ok_or_else(|| CLOUDFRONT_KEY_PAIR_ID.missing())?;
    let secret = settings
        .cloudfront_private_key_secret
        .clone()
        .ok_or_else(|| CLOUDFRONT_PRIVATE_KEY_SECRET.missing())?;
    let page = config
        .site
        .status_page_url
        .clone()
        .ok_or_else(|| STATUS_PAGE_URL.missing())?;
    let host = host(&page)
        .ok_or_else(|| STATUS_PAGE_URL.invalid("it names no host"))?
        .to_owned();
    let pem = aws
        .secret_string(&secret)
        .await
        .map_err(|e| CLOUDFRONT_PRIVATE_KEY_SECRET.invalid(Chain(&e).to_string()))?;
    let key = SigningKey::from_pem(&pem, &key_pair_id).map_err(|e| {
        CLOUDFRONT_PRIVATE_KEY_SECRET.invalid(format!("its SecretString is {e}"))
    })?;
    let clock = Arc::new(openmic_core::clock::SystemClock);
    let signin = GitlabSignIn::from_config(config, &sealing_key(&pem), clock)?
        .ok_or_else(|| openmic_core::config::audiences::AUDIENCES.missing())?;
    let audiences = signin.audiences().iter().map(|a| a.name.clone()).collect();
    let grant = CloudFrontGrant::new(key, &host, audiences);
    Ok(signin.with_grant(Arc::new(grant)))
}

/// The function's part of the one route table: the sign-in routes, JSON 404 for
/// everything else.
pub fn router(signin: Arc<dyn SignIn>) -> axum::Router {
    openmic_http::signin_routes(signin).fallback(openmic_http::not_found)
}

/// Answers the function's invocations, one at a time.
pub async fn run(signin: GitlabSignIn) -> Result<(), lambda_runtime::Error> {
    crate::serve(router(Arc::new(signin))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_the_page() {
        assert_eq!(
            host("https://status.example.com"),
            Some("status.example.com")
        );
        assert_eq!(
            host("https://d111.cloudfront.net/"),
            Some("d111.cloudfront.net")
        );
        assert_eq!(host("status.example.com"), None);
        assert_eq!(host("https://user@evil.example/"), None);
    }

    #[test]
    fn the_sealing_key_is_not_the_private_key() {
        let k = sealing_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert_eq!(k.len(), 32);
        assert_ne!(k, sealing_key("another"));
    }
}
