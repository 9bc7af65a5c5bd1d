//! Sign-in with GitLab (OpenID Connect) for audience pages: the authorization code
//! flow with PKCE (S256), `state` and `nonce` kept in a short-lived signed cookie;
//! GitLab found by discovery (`${GITLAB_URL}/.well-known/openid-configuration`); the
//! ID token checked (RS256 against the JWKS, `iss`, `aud`, `exp`, `nonce`); the
//! reader's groups read from `groups_direct`, and the audiences (`AUDIENCES`) they
//! grant kept in a session cookie signed with a local secret (HMAC-SHA256), for 12
//! hours, `HttpOnly`, `SameSite=Lax`, `Secure` except on plain-http loopback.
//!
//! Nothing of a token, a code or a cookie is ever logged; a refusal is a page that
//! says why, never another audience's page.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::StatusCode;
use reqwest::Url;
use ring::{digest, hmac, rand::SecureRandom, signature};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use openmic_core::clock::Clock;
use openmic_core::config::audiences::{
    AudienceSettings, Audiences, GITLAB_OIDC_CLIENT_ID, GITLAB_OIDC_CLIENT_SECRET,
};
use openmic_core::config::{Config, ConfigError, Secret};
use openmic_core::ports::SignIn;
use openmic_core::reply::Reply;
use openmic_core::signing::constant_time_eq;

/// The cookie of a sign-in under way (`state`, `nonce`, the PKCE verifier).
pub const SIGNIN_COOKIE: &str = "openmic_signin";
/// The session cookie: the audiences granted.
pub const SESSION_COOKIE: &str = "openmic_session";
/// How long a session lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// How long a sign-in may take at GitLab.
pub const SIGNIN_SECS: i64 = 10 * 60;
/// How far an ID token's `exp` may be behind our clock.
const LEEWAY_SECS: i64 = 60;

/// Why a reader is refused: each says what happened, for the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("your session cookie is not one this page signed (altered or forged)")]
    Forged,
    #[error("your session has expired")]
    Expired,
    #[error("the sign-in was not started here or took too long; start it again")]
    NoSignIn,
    #[error(
        "the sign-in's state does not match the one this page sent (a forged or replayed answer)"
    )]
    WrongState,
    #[error("GitLab refused the sign-in: {0}")]
    Provider(String),
    #[error("GitLab could not be asked: {0}")]
    Unreachable(String),
    #[error("the ID token is not valid: {0}")]
    Token(String),
    #[error("the ID token was issued for another application")]
    OtherClient,
    #[error("the ID token's signature does not verify with GitLab's keys")]
    BadSignature,
    #[error("the ID token has expired")]
    TokenExpired,
    #[error("the ID token's nonce is not this sign-in's")]
    WrongNonce,
    #[error("the ID token was issued by {0}, not by this page's GitLab")]
    WrongIssuer(String),
    #[error("you belong to no GitLab group of any audience page")]
    NoAudience,
    #[error("your sign-in grants {granted}, not {wanted}")]
    NotGranted { wanted: String, granted: String },
    #[error("the page could not sign your access: {0}")]
    CannotGrant(String),
}

/// What a reader gets for the audiences a sign-in granted: by default the session
/// cookie, which the server checks on each page (the local runner); on AWS CloudFront's
/// signed cookies instead, which CloudFront checks without a server in the path.
#[async_trait]
pub trait Grant: Send + Sync {
    /// The `Set-Cookie` values that give the holder `session`'s audiences until its
    /// end; why not, in words for the reader.
    async fn grant(&self, session: &Session) -> Result<Vec<String>, String>;
    /// The `Set-Cookie` values that take them away again.
    fn revoke(&self) -> Vec<String>;
}

/// What the session cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The reader's GitLab username (shown to them alone, never logged).
    pub user: String,
    /// The audiences granted.
    pub audiences: Vec<String>,
    /// Until when (Unix seconds).
    pub exp: i64,
}

/// What the sign-in cookie keeps between `/login` and `/callback`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    to: String,
    exp: i64,
}

/// What discovery tells, and GitLab's keys.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    aud: OneOrMany,
    exp: i64,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    groups_direct: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn contains(&self, v: &str) -> bool {
        match self {
            OneOrMany::One(s) => s == v,
            OneOrMany::Many(all) => all.iter().any(|s| s == v),
        }
    }
    fn len(&self) -> usize {
        match self {
            OneOrMany::One(_) => 1,
            OneOrMany::Many(all) => all.len(),
        }
    }
}

/// Signs and opens cookies: `<payload>.<HMAC-SHA256 of kind and payload>`, both in
/// URL-safe base64 without padding.
#[derive(Clone)]
pub struct Sealer(hmac::Key);

impl Sealer {
    pub fn new(secret: &[u8]) -> Sealer {
        Sealer(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn tag(&self, kind: &str, payload: &str) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(kind.as_bytes());
        ctx.update(b".");
        ctx.update(payload.as_bytes());
        ctx.sign()
    }

    /// `value` sealed as a cookie of `kind`.
    pub fn seal<T: Serialize>(&self, kind: &str, value: &T) -> String {
        let payload = B64.encode(serde_json::to_vec(value).unwrap_or_default());
        let tag = B64.encode(self.tag(kind, &payload).as_ref());
        format!("{payload}.{tag}")
    }

    /// The value of a cookie of `kind` this sealer sealed; `None` for anything else.
    pub fn open<T: for<'de> Deserialize<'de>>(&self, kind: &str, cookie: &str) -> Option<T> {
        let (payload, tag) = cookie.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        hmac::verify(
            &self.0,
            &[kind.as_bytes(), b".", payload.as_bytes()].concat(),
            &tag,
        )
        .ok()?;
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// A parameter of a query string, decoded.
fn param(query: Option<&str>, name: &str) -> Option<String> {
    let url = Url::parse(&format!("http://x/?{}", query.unwrap_or(""))).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Sign-in with GitLab for `AUDIENCES`.
pub struct GitlabSignIn {
    /// `GITLAB_URL`: where discovery is, and the issuer the ID token must name.
    gitlab_url: String,
    client_id: String,
    client_secret: Secret,
    /// `<STATUS_PAGE_URL>/callback`.
    redirect_uri: String,
    /// Cookies with `Secure` (all but plain-http loopback).
    secure: bool,
    sealer: Sealer,
    audiences: Audiences,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Discovery and the JWKS, asked once and again when a token names a key not in it.
    provider: tokio::sync::Mutex<Option<(Discovery, Jwks)>>,
    /// What a sign-in sets besides the session cookie's removal; `None`: the session cookie.
    grant: Option<Arc<dyn Grant>>,
    /// The status of a refused sign-in's page (403 unless told otherwise).
    refused: StatusCode,
}

impl GitlabSignIn {
    /// The sign-in for the configuration, `None` without `AUDIENCES`; a missing
    /// `GITLAB_URL`, `GITLAB_OIDC_CLIENT_ID`, `GITLAB_OIDC_CLIENT_SECRET` or
    /// `STATUS_PAGE_URL` is an error naming it. `secret` signs the cookies.
    pub fn from_config(
        config: &Config,
        secret: &[u8],
        clock: Arc<dyn Clock>,
    ) -> Result<Option<GitlabSignIn>, ConfigError> {
        let AudienceSettings {
            audiences,
            oidc_client_id,
            oidc_client_secret,
            ..
        } = &config.audiences;
        if audiences.is_empty() {
            return Ok(None);
        }
        let gitlab_url = config
            .gitlab
            .gitlab_url
            .clone()
            .ok_or(ConfigError::Missing("GITLAB_URL"))?;
        let client_id = oidc_client_id
            .clone()
            .ok_or_else(|| GITLAB_OIDC_CLIENT_ID.missing())?;
        let client_secret = oidc_client_secret
            .clone()
            .ok_or_else(|| GITLAB_OIDC_CLIENT_SECRET.missing())?;
        let page = config
            .site
            .status_page_url
            .clone()
            .ok_or(ConfigError::Missing("STATUS_PAGE_URL"))?;
        let http = openmic_web::client_builder(openmic_web::Trust::from_env())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| GITLAB_OIDC_CLIENT_ID.invalid(e.to_string()))?;
        Ok(Some(GitlabSignIn {
            gitlab_url: gitlab_url.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            secure: !plain_loopback(&page),
            redirect_uri: format!("{}/callback", page.trim_end_matches('/')),
            sealer: Sealer::new(secret),
            audiences: audiences.clone(),
            http,
            clock,
            provider: tokio::sync::Mutex::new(None),
            grant: None,
            refused: StatusCode::FORBIDDEN,
        }))
    }

    /// The sign-in giving `grant`'s cookies rather than the session cookie.
    pub fn with_grant(mut self, grant: Arc<dyn Grant>) -> GitlabSignIn {
        self.grant = Some(grant);
        self
    }

    /// A refused sign-in's page answered with `status` rather than 403: behind
    /// CloudFront, whose distribution answers any origin's 403 with the site's 404
    /// page, the reader would not see why.
    pub fn with_refusal_status(mut self, status: StatusCode) -> GitlabSignIn {
        self.refused = status;
        self
    }

    /// The audiences configured.
    pub fn audiences(&self) -> &Audiences {
        &self.audiences
    }

    /// The session cookie's value for `session` (what `/callback` sets).
    pub fn seal_session(&self, session: &Session) -> String {
        self.sealer.seal(SESSION_COOKIE, session)
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
    }

    /// The session a `Cookie` header holds.
    pub fn session(&self, cookies: Option<&str>) -> Result<Option<Session>, Denied> {
        let Some(value) = cookie(cookies, SESSION_COOKIE) else {
            return Ok(None);
        };
        let session: Session = self
            .sealer
            .open(SESSION_COOKIE, value)
            .ok_or(Denied::Forged)?;
        if session.exp <= self.now() {
            return Err(Denied::Expired);
        }
        Ok(Some(session))
    }

    /// Discovery and keys, asked of GitLab unless kept (`fresh`: ask again).
    async fn provider(&self, fresh: bool) -> Result<(Discovery, Jwks), Denied> {
        let mut kept = self.provider.lock().await;
        if let (Some(p), false) = (kept.as_ref(), fresh) {
            return Ok(p.clone());
        }
        let discovery: Discovery = self
            .get_json(&format!(
                "{}/.well-known/openid-configuration",
                self.gitlab_url
            ))
            .await?;
        let jwks: Jwks = self.get_json(&discovery.jwks_uri).await?;
        *kept = Some((discovery.clone(), jwks.clone()));
        Ok((discovery, jwks))
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, Denied> {
        let unreachable = |e: &dyn std::fmt::Display| Denied::Unreachable(e.to_string());
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&e.without_url()))?;
        if !response.status().is_success() {
            return Err(Denied::Unreachable(format!(
                "it answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| unreachable(&e.without_url()))
    }

    /// Redeems the code for an ID token (with the PKCE verifier).
    async fn exchange(&self, d: &Discovery, code: &str, verifier: &str) -> Result<String, Denied> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("client_id", &self.client_id),
            ("client_secret", self.client_secret.expose()),
            ("code_verifier", verifier),
        ];
        let response = self
            .http
            .post(&d.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| Denied::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let answer: TokenAnswer = response.json().await.map_err(|_| {
            Denied::Provider(format!("the token endpoint answered {status} without JSON"))
        })?;
        match (answer.id_token, answer.error) {
            (Some(t), None) if status.is_success() => Ok(t),
            (_, Some(e)) => Err(Denied::Provider(short(&e))),
            _ => Err(Denied::Provider(format!(
                "the token endpoint answered {status} without an ID token"
            ))),
        }
    }

    /// The ID token's claims, once its signature, issuer, audience, expiry and nonce
    /// are right.
    async fn verify(&self, token: &str, nonce: &str) -> Result<Claims, Denied> {
        let bad = |why: &str| Denied::Token(why.to_owned());
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not three parts"));
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("its header is unreadable"))?;
        if header.alg != "RS256" {
            return Err(Denied::Token(format!(
                "signed with {} rather than RS256",
                short(&header.alg)
            )));
        }
        let sig = B64
            .decode(s)
            .map_err(|_| bad("its signature is not base64"))?;
        let signed = &token[..h.len() + 1 + c.len()];
        let (discovery, mut jwks) = self.provider(false).await?;
        if key_for(&jwks, header.kid.as_deref()).is_none() {
            // GitLab rotated its keys since they were read.
            (_, jwks) = self.provider(true).await?;
        }
        let key = key_for(&jwks, header.kid.as_deref())
            .ok_or_else(|| bad("it names a key GitLab does not publish"))?;
        let (Some(n), Some(e)) = (
            key.n.as_deref().and_then(|n| B64.decode(n).ok()),
            key.e.as_deref().and_then(|e| B64.decode(e).ok()),
        ) else {
            return Err(bad("GitLab's key is unreadable"));
        };
        signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &sig,
            )
            .map_err(|_| Denied::BadSignature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("its claims are unreadable"))?;
        let issuer = claims.iss.trim_end_matches('/');
        if issuer != self.gitlab_url || issuer != discovery.issuer.trim_end_matches('/') {
            return Err(Denied::WrongIssuer(short(&claims.iss)));
        }
        let for_us = claims.aud.contains(&self.client_id)
            && (claims.aud.len() == 1 || claims.azp.as_deref() == Some(&self.client_id));
        if !for_us {
            return Err(Denied::OtherClient);
        }
        if claims.exp + LEEWAY_SECS <= self.now() {
            return Err(Denied::TokenExpired);
        }
        let nonce_ok = claims
            .nonce
            .as_deref()
            .is_some_and(|n| constant_time_eq(nonce.as_bytes(), n.as_bytes()));
        if !nonce_ok {
            return Err(Denied::WrongNonce);
        }
        Ok(claims)
    }

    async fn finish(&self, query: Option<&str>, cookies: Option<&str>) -> Result<Reply, Denied> {
        let pending: Pending = cookie(cookies, SIGNIN_COOKIE)
            .and_then(|v| self.sealer.open(SIGNIN_COOKIE, v))
            .filter(|p: &Pending| p.exp > self.now())
            .ok_or(Denied::NoSignIn)?;
        let state = param(query, "state").unwrap_or_default();
        if !constant_time_eq(pending.state.as_bytes(), state.as_bytes()) {
            return Err(Denied::WrongState);
        }
        if let Some(error) = param(query, "error") {
            return Err(Denied::Provider(short(&error)));
        }
        let code = param(query, "code").ok_or_else(|| Denied::Provider("no code".into()))?;
        let (discovery, _) = self.provider(false).await?;
        let token = self.exchange(&discovery, &code, &pending.verifier).await?;
        let claims = self.verify(&token, &pending.nonce).await?;
        let granted = self
            .audiences
            .granted(claims.groups_direct.iter().map(String::as_str));
        if granted.is_empty() {
            return Err(Denied::NoAudience);
        }
        let user = claims
            .preferred_username
            .or(claims.nickname)
            .or(claims.sub)
            .unwrap_or_default();
        let session = Session {
            user,
            audiences: granted.clone(),
            exp: self.now() + SESSION_SECS,
        };
        info!(audiences = ?granted, "signed in");
        let to = match audience_of(&pending.to) {
            Some(a) if granted.iter().any(|g| g == a) => pending.to.clone(),
            _ => format!("/{}/", granted[0]),
        };
        let cookies = match &self.grant {
            None => {
                vec![self.set_cookie(SESSION_COOKIE, &self.seal_session(&session), SESSION_SECS)]
            }
            Some(grant) => grant.grant(&session).await.map_err(Denied::CannotGrant)?,
        };
        let mut reply = Reply::html(StatusCode::FOUND, String::new())
            .with_header("location", to)
            .with_header("cache-control", "no-store");
        for c in cookies {
            reply = reply.with_header("set-cookie", c);
        }
        Ok(reply.with_header("set-cookie", self.set_cookie(SIGNIN_COOKIE, "", 0)))
    }
}

/// The audience a path like `/staff/…` is under.
fn audience_of(path: &str) -> Option<&str> {
    path.strip_prefix('/')?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// A path on this site to come back to: `/…`, never `//…` (another site).
fn local_path(to: Option<String>) -> String {
    to.filter(|t| {
        t.starts_with('/')
            && !t.starts_with("//")
            && !t.contains('\\')
            && !t.chars().any(char::is_control)
    })
    .unwrap_or_else(|| "/".to_owned())
}

/// `http://localhost…`, `http://127.…`, `http://[::1]…`: cookies cannot be `Secure` there.
fn plain_loopback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn key_for<'a>(jwks: &'a Jwks, kid: Option<&str>) -> Option<&'a Jwk> {
    let rsa = jwks
        .keys
        .iter()
        .filter(|k| k.kty == "RSA" && k.use_.as_deref() != Some("enc"));
    match kid {
        Some(kid) => rsa.into_iter().find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let all: Vec<&Jwk> = rsa.collect();
            (all.len() == 1).then(|| all[0])
        }
    }
}

/// A provider's word, short and printable.
fn short(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect::<String>()
}

fn random(rng: &ring::rand::SystemRandom) -> String {
    let mut bytes = [0u8; 32];
    // The system's randomness failing leaves the sign-in unusable, not weak.
    if rng.fill(&mut bytes).is_err() {
        warn!("no randomness for a sign-in");
    }
    B64.encode(bytes)
}

/// A page saying why, with the way on.
pub fn denied_page(status: StatusCode, why: &str, to: &str) -> Reply {
    let login = format!("/login?to={}", encode(to));
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Not allowed</title></head><body><main><h1>Not allowed</h1>\
         <p id=\"why\">{}.</p><p><a href=\"{}\">Sign in with GitLab</a> · \
         <a href=\"/\">The public status page</a></p></main></body></html>\n",
        openmic_core::html::escape(why),
        openmic_core::html::escape(&login)
    );
    Reply::html(status, body).with_header("cache-control", "no-store")
}

fn encode(s: &str) -> String {
    let mut u = Url::parse("http://x/").unwrap_or_else(|_| unreachable!());
    u.query_pairs_mut().append_pair("v", s);
    u.query()
        .unwrap_or("v=")
        .trim_start_matches("v=")
        .to_owned()
}

#[async_trait]
impl SignIn for GitlabSignIn {
    async fn login(&self, query: Option<&str>) -> Reply {
        let to = local_path(param(query, "to"));
        let discovery = match self.provider(false).await {
            Ok((d, _)) => d,
            Err(e) => {
                warn!(error = %e, "sign-in: GitLab's OpenID configuration could not be read");
                return denied_page(StatusCode::BAD_GATEWAY, &e.to_string(), &to);
            }
        };
        let rng = ring::rand::SystemRandom::new();
        let pending = Pending {
            state: random(&rng),
            nonce: random(&rng),
            verifier: random(&rng),
            to,
            exp: self.now() + SIGNIN_SECS,
        };
        let challenge = B64.encode(digest::digest(&digest::SHA256, pending.verifier.as_bytes()));
        let Ok(mut url) = Url::parse(&discovery.authorization_endpoint) else {
            return denied_page(
                StatusCode::BAD_GATEWAY,
                "GitLab's authorization endpoint is not a URL",
                &pending.to,
            );
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid profile")
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Reply::html(StatusCode::FOUND, String::new())
            .with_header("location", url.to_string())
            .with_header("cache-control", "no-store")
            .with_header(
                "set-cookie",
                self.set_cookie(
                    SIGNIN_COOKIE,
                    &self.sealer.seal(SIGNIN_COOKIE, &pending),
                    SIGNIN_SECS,
                ),
            )
    }

    async fn callback(&self, query: Option<&str>, cookies: Option<&str>) -> Reply {
        match self.finish(query, cookies).await {
            Ok(reply) => reply,
            Err(denied) => {
                warn!(why = %denied, "sign-in refused");
                let status = match denied {
                    Denied::Unreachable(_) => StatusCode::BAD_GATEWAY,
                    Denied::CannotGrant(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => self.refused,
                };
                // A refused sign-in leaves no session: a reader who left the group
                // loses the one they had at their next sign-in.
                denied_page(status, &denied.to_string(), "/")
                    .with_header("set-cookie", self.set_cookie(SIGNIN_COOKIE, "", 0))
                    .with_header("set-cookie", self.set_cookie(SESSION_COOKIE, "", 0))
            }
        }
    }

    fn logout(&self) -> Reply {
        let mut reply = Reply::html(StatusCode::FOUND, String::new())
            .with_header("location", "/")
            .with_header("cache-control", "no-store")
            .with_header("set-cookie", self.set_cookie(SESSION_COOKIE, "", 0));
        for c in self.grant.iter().flat_map(|g| g.revoke()) {
            reply = reply.with_header("set-cookie", c);
        }
        reply
    }

    fn admit(&self, audience: &str, path: &str, cookies: Option<&str>) -> Result<(), Reply> {
        let session = match self.session(cookies) {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(Reply::html(StatusCode::FOUND, String::new())
                    .with_header("location", format!("/login?to={}", encode(path)))
                    .with_header("cache-control", "no-store"));
            }
            Err(denied) => {
                return Err(
                    denied_page(StatusCode::FORBIDDEN, &denied.to_string(), path)
                        .with_header("set-cookie", self.set_cookie(SESSION_COOKIE, "", 0)),
                );
            }
        };
        if session.audiences.iter().any(|a| a == audience) {
            return Ok(());
        }
        let denied = Denied::NotGranted {
            wanted: audience.to_owned(),
            granted: session.audiences.join(", "),
        };
        Err(denied_page(
            StatusCode::FORBIDDEN,
            &denied.to_string(),
            path,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_cookies_open_only_unaltered_and_of_their_kind() {
        let s = Sealer::new(b"key");
        let session = Session {
            user: "u".into(),
            audiences: vec!["staff".into()],
            exp: 5,
        };
        let c = s.seal(SESSION_COOKIE, &session);
        assert_eq!(s.open::<Session>(SESSION_COOKIE, &c), Some(session.clone()));
        assert_eq!(s.open::<Session>(SIGNIN_COOKIE, &c), None);
        assert_eq!(
            Sealer::new(b"other").open::<Session>(SESSION_COOKIE, &c),
            None
        );
        let (payload, tag) = c.split_once('.').unwrap();
        let forged = Session {
            audiences: vec!["staff".into(), "acme".into()],
            ..session
        };
        let forged_payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            s.open::<Session>(SESSION_COOKIE, &format!("{forged_payload}.{tag}")),
            None
        );
        assert_eq!(s.open::<Session>(SESSION_COOKIE, payload), None);
    }

    #[test]
    fn cookies_are_secure_except_on_plain_http_loopback() {
        let signin = |page: &str| {
            let config = Config::from_lookup(|k| match k {
                "AUDIENCES" => Some("staff=ops".into()),
                "GITLAB_URL" => Some("https://gitlab.example.com".into()),
                "GITLAB_OIDC_CLIENT_ID" => Some("id".into()),
                "GITLAB_OIDC_CLIENT_SECRET" => Some("secret".into()),
                "STATUS_PAGE_URL" => Some(page.into()),
                _ => None,
            })
            .unwrap();
            GitlabSignIn::from_config(&config, b"k", Arc::new(openmic_core::clock::SystemClock))
                .unwrap()
                .unwrap()
        };
        let cookie = |s: &GitlabSignIn| {
            s.logout()
                .headers
                .iter()
                .find(|(n, _)| *n == "set-cookie")
                .unwrap()
                .1
                .clone()
        };
        let https = cookie(&signin("https://status.example.com"));
        assert!(
            https.ends_with("; HttpOnly; SameSite=Lax; Secure"),
            "{https}"
        );
        let local = cookie(&signin("http://127.0.0.1:8080"));
        assert!(local.ends_with("; HttpOnly; SameSite=Lax"), "{local}");
        // No audiences, no sign-in.
        let none = Config::from_lookup(|_| None).unwrap();
        assert!(
            GitlabSignIn::from_config(&none, b"k", Arc::new(openmic_core::clock::SystemClock))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn cookies_paths_and_loopback() {
        assert_eq!(
            cookie(Some("a=1; openmic_session=x.y"), SESSION_COOKIE),
            Some("x.y")
        );
        assert_eq!(cookie(Some("a=1"), SESSION_COOKIE), None);
        assert_eq!(local_path(Some("//evil.example/".into())), "/");
        assert_eq!(local_path(Some("https://evil.example/".into())), "/");
        assert_eq!(local_path(Some("/staff/".into())), "/staff/");
        assert_eq!(audience_of("/staff/incidents/1.html"), Some("staff"));
        assert!(plain_loopback("http://127.0.0.1:8080"));
        assert!(plain_loopback("http://localhost"));
        assert!(plain_loopback("http://[::1]:80/"));
        assert!(!plain_loopback("https://127.0.0.1"));
        assert!(!plain_loopback("http://status.example.com"));
        assert!(!plain_loopback("http://127.0.0.1.evil.example"));
    }
}
