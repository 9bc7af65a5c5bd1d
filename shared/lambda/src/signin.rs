//! The sign-in function's backends and run: `GET /login`, `/callback`, `/logout` from
//! API Gateway (through CloudFront, so on the status page's own host), the same routes
//! the local runner serves (`openmic_http::signin_routes`) with the same sign-in
//! (`openmic_gitlab::oidc::GitlabSignIn`). What differs is what a reader gets: not the
//! local session cookie, which a server would have to check on every page, but
//! CloudFront's signed cookies ([`CloudFrontGrant`]), one set per audience granted, each
//! with a policy naming only that audience's prefix (`https://<host>/<audience>/*`) for
//! 12 hours. CloudFront checks them on every page view; no function runs for a page.
//!
//! The key's private half is in Secrets Manager (`CLOUDFRONT_PRIVATE_KEY_SECRET`). It is
//! asked for as the function starts, beside the runtime's first wait for an event
//! rather than before it (a call to Secrets Manager would be most of a cold start),
//! and kept; a `/callback` that comes first waits for it. Only the callback needs it:
//! the short sign-in cookie (`state`, `nonce`, PKCE verifier) is sealed with a key
//! derived from the GitLab application's secret, which every instance has.

use std::sync::Arc;

use async_trait::async_trait;
use openmic_aws::Aws;
use openmic_aws::cloudfront::{self, SigningKey};
use openmic_core::config::audiences::{
    AUDIENCES, CLOUDFRONT_KEY_PAIR_ID, CLOUDFRONT_PRIVATE_KEY_SECRET, GITLAB_OIDC_CLIENT_SECRET,
};
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

/// Where the key's private half is: the secret, and the key's id in the key group.
struct KeySource {
    aws: Aws,
    secret: String,
    key_pair_id: String,
}

impl KeySource {
    /// The key, read from Secrets Manager; an error naming the variable, with nothing
    /// of the secret's value.
    async fn read(&self) -> Result<SigningKey, ConfigError> {
        let pem = self
            .aws
            .secret_string(&self.secret)
            .await
            .map_err(|e| CLOUDFRONT_PRIVATE_KEY_SECRET.invalid(Chain(&e).to_string()))?;
        SigningKey::from_pem(&pem, &self.key_pair_id)
            .map_err(|e| CLOUDFRONT_PRIVATE_KEY_SECRET.invalid(format!("its SecretString is {e}")))
    }
}

/// CloudFront's signed cookies for the audiences a sign-in granted.
pub struct CloudFrontGrant {
    source: KeySource,
    key: tokio::sync::OnceCell<SigningKey>,
    /// The status page's host, as readers ask CloudFront for it.
    host: String,
    /// Every configured audience, whose cookies a sign-out removes.
    audiences: Vec<String>,
}

impl CloudFrontGrant {
    /// The key, read once (a failure is not kept: the next sign-in asks again).
    pub async fn key(&self) -> Result<&SigningKey, ConfigError> {
        self.key.get_or_try_init(|| self.source.read()).await
    }
}

#[async_trait]
impl Grant for CloudFrontGrant {
    async fn grant(&self, session: &Session) -> Result<Vec<String>, String> {
        let key = self.key().await.map_err(|e| {
            tracing::error!(error = %e, "sign-in: the CloudFront key could not be read");
            "its signing key could not be read; the operators are told".to_owned()
        })?;
        let mut cookies = Vec::new();
        for audience in &session.audiences {
            let set =
                cloudfront::signed_cookies(key, &self.host, audience, session.exp, SESSION_SECS)
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

/// The key that seals the sign-in cookie: derived from the GitLab application's
/// secret under a label of its own (never the secret itself).
fn sealing_key(secret: &str) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"openmic sign-in cookie key\n");
    ctx.update(secret.as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// The sign-in of the configuration on AWS, CloudFront's cookies its grant: a missing
/// or unreadable setting is an error naming the variable. The key is asked of Secrets
/// Manager now, in the background (a key that cannot be read is logged, naming
/// `CLOUDFRONT_PRIVATE_KEY_SECRET`, and refused sign-ins say so).
pub async fn sign_in(config: &Arc<Config>, aws: &Aws) -> Result<GitlabSignIn, ConfigError> {
    let settings = &config.audiences;
    let source = KeySource {
        aws: aws.clone(),
        secret: settings
            .cloudfront_private_key_secret
            .clone()
            .ok_or_else(|| CLOUDFRONT_PRIVATE_KEY_SECRET.missing())?,
        key_pair_id: settings
            .cloudfront_key_pair_id
            .clone()
            .ok_or_else(|| CLOUDFRONT_KEY_PAIR_ID.missing())?,
    };
    let page = config
        .site
        .status_page_url
        .clone()
        .ok_or_else(|| STATUS_PAGE_URL.missing())?;
    let host = host(&page)
        .ok_or_else(|| STATUS_PAGE_URL.invalid("it names no host"))?
        .to_owned();
    let client_secret = settings
        .oidc_client_secret
        .clone()
        .ok_or_else(|| GITLAB_OIDC_CLIENT_SECRET.missing())?;
    let clock = Arc::new(openmic_core::clock::SystemClock);
    let signin = GitlabSignIn::from_config(config, &sealing_key(client_secret.expose()), clock)?
        .ok_or_else(|| AUDIENCES.missing())?;
    let grant = Arc::new(CloudFrontGrant {
        source,
        key: tokio::sync::OnceCell::new(),
        host,
        audiences: signin.audiences().iter().map(|a| a.name.clone()).collect(),
    });
    let early = grant.clone();
    tokio::spawn(async move {
        if let Err(e) = early.key().await {
            tracing::error!(error = %e, "sign-in: the CloudFront key could not be read");
        }
    });
    // The distribution answers an origin's 403 with the site's 404 page (the status
    // bucket's missing keys are 403s): a refusal is 401, so its page reaches the reader.
    Ok(signin
        .with_grant(grant)
        .with_refusal_status(axum::http::StatusCode::UNAUTHORIZED))
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
    fn the_sealing_key_is_not_the_secret() {
        let k = sealing_key("gloas-secret");
        assert_eq!(k.len(), 32);
        assert_ne!(k, b"gloas-secret".to_vec());
        assert_ne!(k, sealing_key("another"));
    }
}
