//! A stand-in for GitLab as an OpenID Connect provider, as GitLab documents it:
//! discovery (`/.well-known/openid-configuration`), an authorize endpoint that signs
//! in whoever the test says and sends the browser straight back with a code, a token
//! endpoint that checks the client and the PKCE verifier and issues RS256 ID tokens
//! (with `groups_direct`), and the JWKS. The RSA key is made when the test runs.
//! A test may make the next token wrong on purpose ([`Mode`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{self, RsaKeyPair};
use serde_json::json;

pub const CLIENT_ID: &str = "openmic-test-client";
pub const CLIENT_SECRET: &str = "gloas-test-secret-0123456789";
const KID: &str = "test-key-1";

/// Who is signed in at the stand-in, by name: `ops-member` (`ops`), `eng-member`
/// (`eng`), `acme-member` (`customers/acme`), `nobody` (no group).
pub fn groups_of(user: &str) -> Vec<String> {
    match user {
        "ops-member" => vec!["ops".into()],
        "eng-member" => vec!["eng".into(), "customers/other".into()],
        "acme-member" => vec!["customers/acme".into()],
        _ => vec![],
    }
}

/// What the next ID token gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Good,
    /// Issued for another application (`aud`).
    OtherClient,
    /// Signed with a key not in the JWKS (under its key id).
    BadSignature,
    /// `exp` an hour ago.
    Expired,
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    user: String,
}

struct Inner {
    url: String,
    key: RsaKeyPair,
    other: RsaKeyPair,
    user: Mutex<String>,
    mode: Mutex<Mode>,
    codes: Mutex<HashMap<String, Grant>>,
    /// How many tokens were issued.
    issued: Mutex<usize>,
    /// The readers left their groups.
    left: Mutex<bool>,
}

/// The running stand-in.
pub struct Provider {
    pub url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A 2048-bit RSA key made by openssl now (DER: PKCS#1's RSAPrivateKey).
fn new_key() -> RsaKeyPair {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-outform",
            "DER",
        ])
        .output()
        .expect("openssl makes the test's RSA key");
    assert!(out.status.success(), "openssl genpkey failed");
    RsaKeyPair::from_der(&out.stdout).expect("an RSA private key")
}

impl Provider {
    pub async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            url: url.clone(),
            key: new_key(),
            other: new_key(),
            user: Mutex::new("nobody".into()),
            mode: Mutex::new(Mode::Good),
            codes: Mutex::new(HashMap::new()),
            issued: Mutex::new(0),
            left: Mutex::new(false),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(token))
            .route("/oauth/discovery/keys", get(jwks))
            .route("/__as/{user}", get(sign_in_as))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Provider { url, inner, server }
    }

    /// Who the next sign-in is.
    pub fn sign_in_as(&self, user: &str) {
        *self.inner.user.lock().unwrap() = user.to_owned();
    }

    /// What the next tokens get wrong.
    pub fn mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// Whether the readers have left every group (their next ID token names none).
    pub fn leave_groups(&self, left: bool) {
        *self.inner.left.lock().unwrap() = left;
    }

    pub fn issued(&self) -> usize {
        *self.inner.issued.lock().unwrap()
    }
}

async fn discovery(State(p): State<Arc<Inner>>) -> Response {
    let u = &p.url;
    axum::Json(json!({
        "issuer": u,
        "authorization_endpoint": format!("{u}/oauth/authorize"),
        "token_endpoint": format!("{u}/oauth/token"),
        "jwks_uri": format!("{u}/oauth/discovery/keys"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "preferred_username", "groups_direct"],
    }))
    .into_response()
}

fn query(q: Option<&str>) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{}", q.unwrap_or("")))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn bad(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_request", "error_description": why})),
    )
        .into_response()
}

async fn authorize(State(p): State<Arc<Inner>>, uri: Uri) -> Response {
    let q = query(uri.query());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("nonce").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return bad("not an authorization code request with PKCE S256, a nonce and openid");
    }
    let mut code = [0u8; 16];
    getrandom::fill(&mut code).unwrap();
    let code = B64.encode(code);
    let user = p.user.lock().unwrap().clone();
    p.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect_uri: get("redirect_uri"),
            user,
        },
    );
    let mut back = reqwest::Url::parse(&get("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(p): State<Arc<Inner>>, body: String) -> Response {
    let q = query(Some(&body));
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code"
        || get("client_id") != CLIENT_ID
        || get("client_secret") != CLIENT_SECRET
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(grant) = p.codes.lock().unwrap().remove(&get("code")) else {
        return bad("unknown or used code");
    };
    let verifier = get("code_verifier");
    let challenge = B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    if challenge != grant.challenge || grant.redirect_uri != get("redirect_uri") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let mode = *p.mode.lock().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": p.url,
        "sub": "1001",
        "aud": if mode == Mode::OtherClient { "another-client" } else { CLIENT_ID },
        "exp": if mode == Mode::Expired { now - 3600 } else { now + 120 },
        "iat": now - 5,
        "auth_time": now - 5,
        "nonce": grant.nonce,
        "preferred_username": grant.user,
        "nickname": grant.user,
        "groups_direct": match *p.left.lock().unwrap() {
            true => vec![],
            false => groups_of(&grant.user),
        },
    });
    let key = match mode {
        Mode::BadSignature => &p.other,
        _ => &p.key,
    };
    let id_token = sign(key, &claims);
    *p.issued.lock().unwrap() += 1;
    axum::Json(json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 7200,
        "scope": "openid profile",
        "id_token": id_token,
    }))
    .into_response()
}

/// An RS256 JWT of `claims` under the stand-in's key id.
pub fn sign_jwt(key: &RsaKeyPair, claims: &serde_json::Value) -> String {
    sign(key, claims)
}

fn sign(key: &RsaKeyPair, claims: &serde_json::Value) -> String {
    let header = B64.encode(json!({"alg": "RS256", "typ": "JWT", "kid": KID}).to_string());
    let payload = B64.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .expect("signs");
    format!("{signed}.{}", B64.encode(sig))
}

async fn jwks(State(p): State<Arc<Inner>>) -> Response {
    let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(p.key.public());
    axum::Json(json!({"keys": [{
        "kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
        "n": B64.encode(&c.n), "e": B64.encode(&c.e),
    }]}))
    .into_response()
}

async fn sign_in_as(State(p): State<Arc<Inner>>, Path(user): Path<String>) -> Response {
    *p.user.lock().unwrap() = user.clone();
    (StatusCode::OK, format!("signed in as {user}")).into_response()
}
