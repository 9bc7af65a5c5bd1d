//! GitLab's REST API (v4), where `GITLAB_URL` and `GITLAB_TOKEN` are set: uploads,
//! member roles, the issue, its notes, award emoji and label events for a resync, and
//! incident issues for alerts.
//!
//! 429 and 5xx answers are retried with backoff (a few seconds at most, well inside
//! the queue's visibility timeout); 401 and 403 are configuration errors, logged once
//! with what to fix.
//!
//! The token travels only as `Authorization: Bearer` (GitLab takes personal, project
//! and group access tokens so), only to `GITLAB_URL`'s origin, and never appears in a
//! log or an error. Redirects are followed here, not by the HTTP client: a hop to
//! another origin (object storage's signed URL for an upload) goes without the token,
//! and so does every hop after it; a hop from https to http is refused. Every request
//! URL is built segment by segment, each percent-encoded, and a segment that is empty,
//! `.` or `..` (which a URL would fold away) is refused.

pub mod oidc;
pub mod token;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;
use tracing::{debug, error, warn};

use openmic_core::config::{Config, ConfigError, MicrophoneTrust, Secret};
use openmic_core::errors::BackendError;
use openmic_core::gitlab::{
    ApiAward, ApiError, ApiIssue, ApiLabelEvent, ApiLinkedIssue, ApiMember, ApiNote,
    ApiTimelineEvent, ApiUserProfile, Gitlab, GitlabAccess,
};
use openmic_core::ids::IncidentId;
use openmic_core::ports::{
    Authorizer, Condition, FILE_CACHE_CONTROL, ObjectStore, PutOptions, content_type_for,
};

/// What the GitLab API client reads.
pub use openmic_core::config::gitlab::VARIABLES;

/// GitLab's API where `GITLAB_URL` and `GITLAB_TOKEN` are set: the client, and who
/// may publish by project role; `None` where they are not both set.
pub fn connect(config: &std::sync::Arc<Config>) -> Result<Option<GitlabAccess>, ConfigError> {
    let Some(api) = GitlabApi::from_config(config)? else {
        return Ok(None);
    };
    let api = std::sync::Arc::new(api);
    Ok(Some(GitlabAccess {
        roles: std::sync::Arc::new(RoleAuthorizer::new(api.clone(), config.clone())),
        api,
    }))
}

/// Asks GitLab what `GITLAB_TOKEN` may do ([`token`]) and logs each feature of the
/// configuration that it cannot serve, an expiry within 14 days, a revoked token;
/// returns those lines. Fails only when, because of the token, nobody could publish
/// (`PUBLISHERS` empty and the token unable to read members). GitLab unreachable, or
/// too old to describe its tokens: a warning, and the start goes on. Nothing without
/// `GITLAB_URL` and `GITLAB_TOKEN`.
pub async fn check_token(config: &Config) -> Result<Vec<String>, ConfigError> {
    let Some(api) = GitlabApi::from_config(config)? else {
        return Ok(Vec::new());
    };
    let info = match api.token_info().await {
        Ok(Some(info)) => info,
        Ok(None) => {
            let line = "GitLab does not describe its tokens (before 15.5): GITLAB_TOKEN's scopes \
                        are not checked; it needs api (read_api disables the note back)";
            warn!("{line}");
            return Ok(vec![line.to_owned()]);
        }
        Err(ApiError::Config { status: 401, .. }) if config.publishing.publishers.is_empty() => {
            return Err(ConfigError::Useless(
                "GITLAB_TOKEN is refused by GitLab (401) and PUBLISHERS is empty: nobody may \
                 publish an incident; set a valid token or name publishers"
                    .into(),
            ));
        }
        Err(e) => {
            let line = format!("GITLAB_TOKEN's scopes could not be checked: {e}");
            warn!("{line}");
            return Ok(vec![line]);
        }
    };
    if token::nobody_may_publish(config, &info) {
        return Err(ConfigError::Useless(
            "PUBLISHERS is empty and GITLAB_TOKEN cannot read the project's members \
             (it needs the read_api or api scope): nobody may publish an incident"
                .into(),
        ));
    }
    let lines = token::problems(config, &info, chrono::Utc::now().date_naive());
    for line in &lines {
        warn!("{line}");
    }
    Ok(lines)
}

/// [`check_token`] at a function's start: awaited where publishing depends on the
/// token (no `PUBLISHERS`), in the background otherwise, so that a start waits on
/// GitLab only when it must.
pub async fn check_token_at_start(config: &std::sync::Arc<Config>) -> Result<(), ConfigError> {
    if config.publishing.publishers.is_empty() {
        return check_token(config).await.map(drop);
    }
    let config = config.clone();
    tokio::spawn(async move {
        let _ = check_token(&config).await;
    });
    Ok(())
}

/// Developer access: trusted for microphones with `MICROPHONE_TRUST=developers`.
pub const DEVELOPER_ACCESS: u32 = 30;
/// How long a member's access level is remembered.
pub const ROLE_CACHE_TTL: Duration = Duration::from_secs(60);
/// The most pages of a list read (100 items each).
const MAX_PAGES: u32 = 50;

#[derive(Debug, Clone, Deserialize)]
struct ApiTemplate {
    content: String,
}

/// The client of one GitLab instance; each call names its project.
pub struct GitlabApi {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    config_error_logged: AtomicBool,
    backoff: Duration,
    attempts: u32,
}

impl std::fmt::Debug for GitlabApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabApi")
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl GitlabApi {
    /// From `GITLAB_URL` and `GITLAB_TOKEN`; `None` if they are not both set.
    pub fn from_config(config: &Config) -> Result<Option<GitlabApi>, ConfigError> {
        let (Some(url), Some(token)) = (&config.gitlab.gitlab_url, &config.gitlab.gitlab_token)
        else {
            return Ok(None);
        };
        GitlabApi::new(url, token.clone()).map(Some)
    }

    pub fn new(url: &str, token: Secret) -> Result<GitlabApi, ConfigError> {
        let invalid = |why: String| openmic_core::config::gitlab::GITLAB_URL.invalid(why);
        let base = Url::parse(&format!("{}/api/v4/", url.trim_end_matches('/')))
            .map_err(|e| invalid(e.to_string()))?;
        let http = openmic_web::client_builder(openmic_web::Trust::from_env())
            // Redirects are followed by [`GitlabApi::exchange`], which knows where the
            // token may go.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(GitlabApi {
            http,
            base,
            token,
            config_error_logged: AtomicBool::new(false),
            backoff: Duration::from_millis(250),
            attempts: 4,
        })
    }

    /// The token's own description (`GET /personal_access_tokens/self`); `None` where
    /// GitLab has no such route.
    pub async fn token_info(&self) -> Result<Option<token::TokenInfo>, ApiError> {
        let url = self.url(&["personal_access_tokens", "self"])?;
        self.get_json(url, "the token's description").await
    }

    /// `GITLAB_URL`'s `/api/v4/` and `segments`, each one path segment (percent-encoded:
    /// a `/`, `\`, `?`, `#` or `%` in it stays inside it). An empty segment, `.` or `..`
    /// would change which resource is asked for: refused.
    fn url(&self, segments: &[&str]) -> Result<Url, ApiError> {
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "" | "." | "..")) {
            return Err(ApiError::Permanent(format!(
                "{bad:?} cannot be a segment of a GitLab API path"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::Permanent("GITLAB_URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A path under `/projects/:id/`; each segment is percent-encoded.
    fn project_url(&self, project: u64, segments: &[&str]) -> Result<Url, ApiError> {
        let id = project.to_string();
        let mut all = vec!["projects", id.as_str()];
        all.extend_from_slice(segments);
        self.url(&all)
    }

    fn config_error(&self, what: &str, status: StatusCode) -> ApiError {
        let hint = if status == StatusCode::UNAUTHORIZED {
            "GITLAB_TOKEN is invalid or expired; make a new one (a project access token, or a bot user's personal access token on GitLab.com Free)"
        } else {
            "GITLAB_TOKEN lacks access: give it the read_api scope (api to open incident issues) and at least the Reporter role"
        };
        let err = ApiError::Config {
            what: what.to_owned(),
            status: status.as_u16(),
            hint,
        };
        if !self.config_error_logged.swap(true, Ordering::SeqCst) {
            error!(error = %err, "GitLab API configuration error");
        } else {
            debug!(error = %err, "GitLab API configuration error (logged before)");
        }
        err
    }

    /// Sends a request with a form body (or none), retrying 429, 5xx and transport
    /// failures with backoff. `Ok(None)` for 404.
    async fn send(
        &self,
        method: Method,
        url: Url,
        what: &str,
        form: Option<&[(&str, String)]>,
    ) -> Result<Option<reqwest::Response>, ApiError> {
        self.send_body(method, url, what, form.map(Body::Form))
            .await
    }

    /// [`GitlabApi::send`] with any body.
    async fn send_body(
        &self,
        method: Method,
        url: Url,
        what: &str,
        body: Option<Body<'_>>,
    ) -> Result<Option<reqwest::Response>, ApiError> {
        let mut delay = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            match self.exchange(&method, &url, body).await {
                Ok((resp, at_gitlab)) => {
                    let status = resp.status();
                    if status.is_success() {
                        return Ok(Some(resp));
                    }
                    if status == StatusCode::NOT_FOUND {
                        return Ok(None);
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        if at_gitlab {
                            return Err(self.config_error(what, status));
                        }
                        return Err(ApiError::Permanent(format!(
                            "{what}: the address GitLab redirected to answered {status}"
                        )));
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        last = format!("{what}: GitLab answered {status}");
                        let retry_after = resp
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s.min(5)));
                        if attempt < self.attempts {
                            tokio::time::sleep(retry_after.unwrap_or(delay)).await;
                            delay *= 2;
                        }
                        continue;
                    }
                    return Err(ApiError::Permanent(format!(
                        "{what}: GitLab answered {status}"
                    )));
                }
                Err(Failure::Refused(why)) => {
                    warn!(what, why, "GitLab API: redirect not followed");
                    return Err(ApiError::Permanent(format!("{what}: {why}")));
                }
                Err(Failure::Transport(e)) => {
                    // reqwest's errors name the URL, never the headers.
                    last = format!("{what}: {}", e.without_url());
                    if attempt < self.attempts {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
        warn!(error = %last, "GitLab API: giving up for now");
        Err(ApiError::Transient(last))
    }

    /// One request and the redirects it leads to (GET and HEAD only; at most
    /// [`MAX_REDIRECTS`]): the answer, and whether it came from GitLab itself (the
    /// token went along all the way).
    async fn exchange(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Body<'_>>,
    ) -> Result<(reqwest::Response, bool), Failure> {
        let mut at = Hop {
            credentialed: same_origin(url, &self.base),
            url: url.clone(),
        };
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.request(method.clone(), at.url.clone());
            if at.credentialed {
                req = req.bearer_auth(self.token.expose());
            }
            match body {
                Some(Body::Form(f)) => req = req.form(f),
                Some(Body::Json(j)) => req = req.json(j),
                Some(Body::Raw(ty, bytes)) => {
                    req = req
                        .header(reqwest::header::CONTENT_TYPE, ty)
                        .body(bytes.to_vec())
                }
                None => {}
            }
            let resp = req.send().await.map_err(Failure::Transport)?;
            let followed = matches!(*method, Method::GET | Method::HEAD)
                && matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308);
            let location = resp.headers().get(reqwest::header::LOCATION).map(|v| {
                v.to_str()
                    .map_err(|_| Failure::Refused(UNREADABLE_LOCATION))
            });
            match location {
                Some(location) if followed => {
                    at = redirect(&self.base, &at, location?).map_err(Failure::Refused)?;
                }
                _ => return Ok((resp, at.credentialed)),
            }
        }
        Err(Failure::Refused("more redirects than openmic follows"))
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        what: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.send(Method::GET, url, what, None).await? {
            None => Ok(None),
            Some(resp) => resp.json::<T>().await.map(Some).map_err(|e| {
                ApiError::Transient(format!("{what}: unreadable answer: {}", e.without_url()))
            }),
        }
    }

    /// Every page of a list.
    async fn get_all<T: DeserializeOwned>(
        &self,
        project: u64,
        segments: &[&str],
        what: &str,
    ) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        while page <= MAX_PAGES {
            let mut url = self.project_url(project, segments)?;
            url.query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("page", &page.to_string());
            let Some(resp) = self.send(Method::GET, url, what, None).await? else {
                return Ok(out);
            };
            let next = resp
                .headers()
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok());
            let items: Vec<T> = resp.json().await.map_err(|e| {
                ApiError::Transient(format!("{what}: unreadable answer: {}", e.without_url()))
            })?;
            let n = items.len();
            out.extend(items);
            match next {
                Some(p) if p > page => page = p,
                None if n == 100 && page == 1 => page += 1,
                _ => break,
            }
        }
        Ok(out)
    }

    /// A member's access level (inherited memberships included); `None` if not a member.
    pub async fn member_access(&self, project: u64, user_id: u64) -> Result<Option<u32>, ApiError> {
        let url = self.project_url(project, &["members", "all", &user_id.to_string()])?;
        Ok(self
            .get_json::<ApiMember>(url, "member lookup")
            .await?
            .map(|m| m.access_level))
    }

    /// Downloads the upload `name` (the file's own name, decoded: one path segment) into
    /// `dest`, chunk by chunk; returns its content type, or `None` if GitLab has no such
    /// upload.
    async fn download_upload(
        &self,
        project: u64,
        secret: &str,
        name: &str,
        dest: &Path,
    ) -> Result<Option<Option<String>>, ApiError> {
        let url = self.project_url(project, &["uploads", secret, name])?;
        let Some(mut resp) = self.send(Method::GET, url, "upload download", None).await? else {
            return Ok(None);
        };
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let io = |e: std::io::Error| ApiError::Transient(format!("upload download: {e}"));
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ApiError::Transient(format!("upload download: {}", e.without_url())))?
        {
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(Some(content_type))
    }
}

/// A request's body.
#[derive(Clone, Copy)]
enum Body<'a> {
    Form(&'a [(&'a str, String)]),
    Json(&'a serde_json::Value),
    /// Bytes of a content type (a multipart form made here).
    Raw(&'a str, &'a [u8]),
}

/// A `multipart/form-data` body of one field `file` holding `body` as `filename`
/// (its name kept to letters, digits, `.`, `-` and `_`), and its content type. The
/// boundary is one the body does not hold.
fn multipart_file(filename: &str, content_type: &str, body: &[u8]) -> (String, Vec<u8>) {
    let name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ty: String = content_type.chars().filter(|c| !c.is_control()).collect();
    let mut n = 0u32;
    let boundary = loop {
        let b = format!("openmic-upload-{n:08x}");
        if !body.windows(b.len()).any(|w| w == b.as_bytes()) {
            break b;
        }
        n += 1;
    };
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ty}\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), out)
}

/// GraphQL's answer: its data, or what went wrong.
#[derive(Deserialize)]
struct GraphqlAnswer {
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
}

const TIMELINE_QUERY: &str = "query($fullPath: ID!, $incidentId: IssueID!) { project(fullPath: $fullPath) { incidentManagementTimelineEvents(incidentId: $incidentId) { nodes { id note occurredAt author { id username } timelineEventTags { nodes { name } } } } } }";

const TIMELINE_CREATE: &str = "mutation($input: TimelineEventCreateInput!) { timelineEventCreate(input: $input) { timelineEvent { id } errors } }";

/// One node of `incidentManagementTimelineEvents`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimelineNode {
    id: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(deserialize_with = "openmic_core::time::de")]
    occurred_at: openmic_core::time::Timestamp,
    #[serde(default)]
    author: Option<GraphqlUser>,
    #[serde(default)]
    timeline_event_tags: Option<Nodes<TagNode>>,
}

#[derive(Deserialize)]
struct Nodes<T> {
    #[serde(default = "Vec::new")]
    nodes: Vec<T>,
}

#[derive(Deserialize)]
struct TagNode {
    name: String,
}

#[derive(Deserialize)]
struct GraphqlUser {
    /// `gid://gitlab/User/10`.
    id: String,
    username: String,
}

impl TimelineNode {
    fn into_event(self) -> ApiTimelineEvent {
        ApiTimelineEvent {
            id: self.id,
            note: self.note.unwrap_or_default(),
            occurred_at: self.occurred_at,
            tags: self
                .timeline_event_tags
                .map(|t| t.nodes.into_iter().map(|n| n.name).collect())
                .unwrap_or_default(),
            author: self.author.and_then(|a| {
                let id = a.id.rsplit('/').next()?.parse().ok()?;
                Some(openmic_core::gitlab::ApiUser {
                    id,
                    username: a.username,
                })
            }),
        }
    }
}

impl GitlabApi {
    /// `GITLAB_URL`'s `/api/graphql`.
    fn graphql_url(&self) -> Result<Url, ApiError> {
        self.base
            .join("../graphql")
            .map_err(|e| ApiError::Permanent(format!("GraphQL's address: {e}")))
    }

    /// One GraphQL request; its `data`, or its errors as a permanent failure.
    async fn graphql(
        &self,
        query: &str,
        variables: serde_json::Value,
        what: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let body = serde_json::json!({"query": query, "variables": variables});
        let resp = self
            .send_body(
                Method::POST,
                self.graphql_url()?,
                what,
                Some(Body::Json(&body)),
            )
            .await?
            .ok_or_else(|| ApiError::Permanent(format!("{what}: GitLab has no GraphQL API")))?;
        let answer: GraphqlAnswer = resp.json().await.map_err(|e| {
            ApiError::Transient(format!("{what}: unreadable answer: {}", e.without_url()))
        })?;
        if !answer.errors.is_empty() {
            let messages: Vec<&str> = answer.errors.iter().map(|e| e.message.as_str()).collect();
            return Err(ApiError::Permanent(format!(
                "{what}: {}",
                messages.join("; ")
            )));
        }
        answer
            .data
            .ok_or_else(|| ApiError::Permanent(format!("{what}: an answer without data")))
    }
}

/// An issue's GraphQL global id.
fn issue_gid(issue: u64) -> String {
    format!("gid://gitlab/Issue/{issue}")
}

/// A fresh temporary file name for a download.
fn temp_path() -> std::path::PathBuf {
    let mut nonce = [0u8; 12];
    let _ = getrandom::fill(&mut nonce);
    std::env::temp_dir().join(format!("openmic-upload-{}", hex::encode(nonce)))
}

/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 5;

const UNREADABLE_LOCATION: &str = "a redirect to an address that cannot be read";

/// Why a request got no answer to classify.
enum Failure {
    /// The network or the client failed: retried.
    Transport(reqwest::Error),
    /// A redirect openmic does not follow: not retried.
    Refused(&'static str),
}

/// Where a request goes, and whether the token goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hop {
    url: Url,
    credentialed: bool,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// The request a redirect from `from` to `location` leads to. The token goes along
/// only while every hop so far has stayed on `home`'s (`GITLAB_URL`'s) origin: once a
/// hop has left it, no later hop carries it, even back there (whoever answered there
/// chose the way). https to http, and any other scheme, are refused.
fn redirect(home: &Url, from: &Hop, location: &str) -> Result<Hop, &'static str> {
    let mut url = from.url.join(location).map_err(|_| UNREADABLE_LOCATION)?;
    url.set_fragment(None);
    match (from.url.scheme(), url.scheme()) {
        (_, "https") | ("http", "http") => {}
        ("https", "http") => return Err("a redirect from https to http"),
        _ => return Err("a redirect to an address that is not http(s)"),
    }
    Ok(Hop {
        credentialed: from.credentialed && same_origin(&url, home),
        url,
    })
}

#[async_trait]
impl Gitlab for GitlabApi {
    async fn issue(&self, id: IncidentId) -> Result<Option<ApiIssue>, ApiError> {
        self.get_json(
            self.project_url(id.project, &["issues", &id.iid.to_string()])?,
            "issue",
        )
        .await
    }

    async fn notes(&self, id: IncidentId) -> Result<Vec<ApiNote>, ApiError> {
        self.get_all(
            id.project,
            &["issues", &id.iid.to_string(), "notes"],
            "notes",
        )
        .await
    }

    /// Adds a note to an issue.
    async fn upload(
        &self,
        project: u64,
        filename: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Uploaded {
            markdown: String,
        }
        let url = self.project_url(project, &["uploads"])?;
        let (form_type, form) = multipart_file(filename, content_type, &body);
        let resp = self
            .send_body(
                Method::POST,
                url,
                "uploading a file",
                Some(Body::Raw(&form_type, &form)),
            )
            .await?
            .ok_or_else(|| ApiError::Permanent("uploading a file: GitLab answered 404".into()))?;
        let up: Uploaded = resp
            .json()
            .await
            .map_err(|e| ApiError::Transient(format!("uploading a file: {}", e.without_url())))?;
        Ok(up.markdown)
    }

    async fn add_note(&self, id: IncidentId, body: &str) -> Result<(), ApiError> {
        let form = [("body", body.to_owned())];
        self.send(
            Method::POST,
            self.project_url(id.project, &["issues", &id.iid.to_string(), "notes"])?,
            "note creation",
            Some(&form),
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::Permanent(format!("issue {id} was not found to note")))
    }

    async fn note_awards(&self, id: IncidentId, note_id: u64) -> Result<Vec<ApiAward>, ApiError> {
        let iid = id.iid;
        self.get_all(
            id.project,
            &[
                "issues",
                &iid.to_string(),
                "notes",
                &note_id.to_string(),
                "award_emoji",
            ],
            "note award emoji",
        )
        .await
    }

    async fn label_events(&self, id: IncidentId) -> Result<Vec<ApiLabelEvent>, ApiError> {
        self.get_all(
            id.project,
            &["issues", &id.iid.to_string(), "resource_label_events"],
            "label events",
        )
        .await
    }

    async fn copy_upload(
        &self,
        project: u64,
        secret: &str,
        name: &str,
        store: &dyn ObjectStore,
        key: &str,
    ) -> Result<bool, ApiError> {
        let tmp = temp_path();
        let result = async {
            let Some(content_type) = self.download_upload(project, secret, name, &tmp).await?
            else {
                return Ok(false);
            };
            let content_type = content_type
                .filter(|c| !c.is_empty() && c != "application/octet-stream")
                .unwrap_or_else(|| content_type_for(key).to_owned());
            let opts = PutOptions {
                content_type,
                cache_control: Some(FILE_CACHE_CONTROL.into()),
                condition: Condition::Always,
            };
            store.put_file(key, &tmp, opts).await.map_err(|e| match e {
                BackendError::Permanent(m) => ApiError::Permanent(m),
                other => ApiError::Transient(other.to_string()),
            })?;
            Ok(true)
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }

    /// The content of the project's issue template `name`.
    async fn issue_template(&self, project: u64, name: &str) -> Result<Option<String>, ApiError> {
        let url = self.project_url(project, &["templates", "issues", name])?;
        Ok(self
            .get_json::<ApiTemplate>(url, "issue template")
            .await?
            .map(|t| t.content))
    }

    /// An issue whose description holds `marker`, open or closed.
    async fn find_issue(&self, project: u64, marker: &str) -> Result<Option<ApiIssue>, ApiError> {
        let mut url = self.project_url(project, &["issues"])?;
        url.query_pairs_mut()
            .append_pair("search", marker)
            .append_pair("in", "description")
            .append_pair("scope", "all");
        let found: Vec<ApiIssue> = self
            .get_json(url, "issue search")
            .await?
            .unwrap_or_default();
        Ok(found
            .into_iter()
            .find(|i| i.description.as_deref().is_some_and(|d| d.contains(marker))))
    }

    /// Opens an incident issue.
    async fn create_incident(
        &self,
        project: u64,
        title: &str,
        description: &str,
        labels: &str,
    ) -> Result<ApiIssue, ApiError> {
        let form = [
            ("title", title.to_owned()),
            ("description", description.to_owned()),
            ("labels", labels.to_owned()),
            ("issue_type", "incident".to_owned()),
        ];
        let resp = self
            .send(
                Method::POST,
                self.project_url(project, &["issues"])?,
                "issue creation",
                Some(&form),
            )
            .await?
            .ok_or_else(|| {
                ApiError::Permanent("issue creation: the project was not found".into())
            })?;
        resp.json()
            .await
            .map_err(|e| ApiError::Transient(format!("issue creation: {}", e.without_url())))
    }

    async fn members(&self, project: u64) -> Result<Vec<ApiMember>, ApiError> {
        self.get_all(project, &["members", "all"], "members").await
    }

    async fn user(&self, id: u64) -> Result<Option<ApiUserProfile>, ApiError> {
        self.get_json(self.url(&["users", &id.to_string()])?, "user")
            .await
    }

    async fn issue_links(&self, id: IncidentId) -> Result<Vec<ApiLinkedIssue>, ApiError> {
        let url = self.project_url(id.project, &["issues", &id.iid.to_string(), "links"])?;
        Ok(self.get_json(url, "issue links").await?.unwrap_or_default())
    }

    async fn search_users(&self, email: &str) -> Result<Vec<ApiUserProfile>, ApiError> {
        let mut url = self.url(&["users"])?;
        url.query_pairs_mut()
            .append_pair("search", email)
            .append_pair("per_page", "20");
        Ok(self.get_json(url, "users").await?.unwrap_or_default())
    }

    /// `GET /projects/:id/repository/files/:file_path/raw?ref=`: the project's path
    /// and the file's are each one segment, percent-encoded (`ops%2Foncall`).
    async fn repository_file(
        &self,
        project: &str,
        file: &str,
        reference: &str,
    ) -> Result<Option<String>, ApiError> {
        let mut url = self.url(&["projects", project, "repository", "files", file, "raw"])?;
        url.query_pairs_mut().append_pair("ref", reference);
        let Some(resp) = self.send(Method::GET, url, "repository file", None).await? else {
            return Ok(None);
        };
        resp.text().await.map(Some).map_err(|e| {
            ApiError::Transient(format!(
                "repository file: unreadable answer: {}",
                e.without_url()
            ))
        })
    }

    async fn close_issue(&self, id: IncidentId) -> Result<(), ApiError> {
        let form = [("state_event", "close".to_owned())];
        self.send(
            Method::PUT,
            self.project_url(id.project, &["issues", &id.iid.to_string()])?,
            "issue close",
            Some(&form),
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::Permanent(format!("issue {id} was not found to close")))
    }

    async fn add_labels(&self, id: IncidentId, labels: &str) -> Result<(), ApiError> {
        let form = [("add_labels", labels.to_owned())];
        self.send(
            Method::PUT,
            self.project_url(id.project, &["issues", &id.iid.to_string()])?,
            "issue labels",
            Some(&form),
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::Permanent(format!("issue {id} was not found to label")))
    }

    async fn timeline_events(
        &self,
        project_path: &str,
        issue: u64,
    ) -> Result<Vec<ApiTimelineEvent>, ApiError> {
        let what = "incident timeline";
        let data = self
            .graphql(
                TIMELINE_QUERY,
                serde_json::json!({"fullPath": project_path, "incidentId": issue_gid(issue)}),
                what,
            )
            .await?;
        let nodes = &data["project"]["incidentManagementTimelineEvents"]["nodes"];
        if nodes.is_null() {
            // No such project, or not one the token may read.
            return Ok(Vec::new());
        }
        let nodes: Vec<TimelineNode> = serde_json::from_value(nodes.clone())
            .map_err(|e| ApiError::Permanent(format!("{what}: {e}")))?;
        let mut events: Vec<ApiTimelineEvent> =
            nodes.into_iter().map(TimelineNode::into_event).collect();
        events.sort_by_key(|e| e.occurred_at);
        Ok(events)
    }

    async fn add_timeline_event(
        &self,
        issue: u64,
        note: &str,
        occurred_at: openmic_core::time::Timestamp,
        tags: &[&str],
    ) -> Result<(), ApiError> {
        let what = "incident timeline event";
        let mut input = serde_json::json!({
            "incidentId": issue_gid(issue),
            "note": note,
            "occurredAt": openmic_core::time::format(&occurred_at),
        });
        if !tags.is_empty() {
            input["timelineEventTagNames"] = serde_json::json!(tags);
        }
        let data = self
            .graphql(TIMELINE_CREATE, serde_json::json!({"input": input}), what)
            .await?;
        let errors = &data["timelineEventCreate"]["errors"];
        match errors.as_array().filter(|e| !e.is_empty()) {
            Some(e) => Err(ApiError::Permanent(format!("{what}: {e:?}"))),
            None => Ok(()),
        }
    }

    async fn create_note(
        &self,
        id: IncidentId,
        body: &str,
        internal: bool,
    ) -> Result<ApiNote, ApiError> {
        self.note_created(id, body, internal).await
    }

    async fn set_description(&self, id: IncidentId, description: &str) -> Result<(), ApiError> {
        self.description_set(id, description).await
    }

    async fn open_incidents(&self, project: u64) -> Result<Vec<ApiIssue>, ApiError> {
        self.incidents_open(project).await
    }
}

/// The chat commands' part of the port.
impl GitlabApi {
    async fn note_created(
        &self,
        id: IncidentId,
        body: &str,
        internal: bool,
    ) -> Result<ApiNote, ApiError> {
        let form = [
            ("body", body.to_owned()),
            ("internal", internal.to_string()),
        ];
        let resp = self
            .send(
                Method::POST,
                self.project_url(id.project, &["issues", &id.iid.to_string(), "notes"])?,
                "note creation",
                Some(&form),
            )
            .await?
            .ok_or_else(|| ApiError::Permanent(format!("issue {id} was not found to note")))?;
        resp.json()
            .await
            .map_err(|e| ApiError::Transient(format!("note creation: {}", e.without_url())))
    }

    async fn description_set(&self, id: IncidentId, description: &str) -> Result<(), ApiError> {
        let form = [("description", description.to_owned())];
        self.send(
            Method::PUT,
            self.project_url(id.project, &["issues", &id.iid.to_string()])?,
            "issue description",
            Some(&form),
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::Permanent(format!("issue {id} was not found to edit")))
    }

    async fn incidents_open(&self, project: u64) -> Result<Vec<ApiIssue>, ApiError> {
        let mut url = self.project_url(project, &["issues"])?;
        url.query_pairs_mut()
            .append_pair("state", "opened")
            .append_pair("issue_type", "incident")
            .append_pair("per_page", "20");
        Ok(self
            .get_json(url, "open incidents")
            .await?
            .unwrap_or_default())
    }
}

/// Access levels by (project, user), and when each was read.
type RoleCache = HashMap<(u64, u64), (Option<u32>, Instant)>;

/// Who may publish and whose microphone counts, by project role. `PUBLISHERS`, when
/// set, still decides who may publish.
pub struct RoleAuthorizer {
    api: std::sync::Arc<GitlabApi>,
    config: std::sync::Arc<Config>,
    cache: Mutex<RoleCache>,
}

impl RoleAuthorizer {
    pub fn new(api: std::sync::Arc<GitlabApi>, config: std::sync::Arc<Config>) -> Self {
        RoleAuthorizer {
            api,
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The user's access level, from the cache or the API. A configuration error
    /// counts as no access: nothing is published on a role nobody could check.
    async fn access(
        &self,
        project: u64,
        user_id: Option<u64>,
    ) -> Result<Option<u32>, BackendError> {
        let Some(id) = user_id else { return Ok(None) };
        let key = (project, id);
        if let Ok(cache) = self.cache.lock()
            && let Some((level, at)) = cache.get(&key)
            && at.elapsed() < ROLE_CACHE_TTL
        {
            return Ok(*level);
        }
        let level = match self.api.member_access(project, id).await {
            Ok(level) => level,
            Err(ApiError::Transient(m)) => return Err(BackendError::Transient(m)),
            Err(_) => None,
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (level, Instant::now()));
        }
        Ok(level)
    }
}

#[async_trait]
impl Authorizer for RoleAuthorizer {
    async fn may_publish(
        &self,
        project: u64,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<bool, BackendError> {
        if !self.config.publishing.publishers.is_empty() {
            return Ok(self.config.is_publisher(username));
        }
        Ok(self
            .access(project, user_id)
            .await?
            .is_some_and(|l| l >= self.config.publishing.publish_min_access))
    }

    async fn trusts_microphone(
        &self,
        project: u64,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<bool, BackendError> {
        match self.config.publishing.microphone_trust {
            MicrophoneTrust::Anyone => Ok(true),
            MicrophoneTrust::Publishers => self.may_publish(project, username, user_id).await,
            MicrophoneTrust::Developers => Ok(self
                .access(project, user_id)
                .await?
                .is_some_and(|l| l >= DEVELOPER_ACCESS)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn hop(s: &str, credentialed: bool) -> Hop {
        Hop {
            url: url(s),
            credentialed,
        }
    }

    #[test]
    fn the_token_follows_a_redirect_only_while_it_stays_home() {
        let home = url("https://gitlab.example.com/api/v4/");
        let start = hop(
            "https://gitlab.example.com/api/v4/projects/1/uploads/x/f",
            true,
        );
        // Same origin, relative or absolute: the token goes along.
        for (location, to) in [
            ("/other/f", "https://gitlab.example.com/other/f"),
            (
                "g",
                "https://gitlab.example.com/api/v4/projects/1/uploads/x/g",
            ),
            (
                "https://GITLAB.example.com:443/f#frag",
                "https://gitlab.example.com/f",
            ),
        ] {
            assert_eq!(redirect(&home, &start, location), Ok(hop(to, true)));
        }
        // Another host, port or scheme is another origin: no token.
        for location in [
            "https://bucket.s3.example.com/f?X-Amz-Signature=abc",
            "https://gitlab.example.com:8443/f",
            "//gitlab.example.com.evil.example/f",
            "https://gitlab.example.com@evil.example/f",
        ] {
            let next = redirect(&home, &start, location).unwrap();
            assert!(!next.credentialed, "{location}");
        }
        // Once away, never again, even back home.
        let away = redirect(&home, &start, "https://storage.example.com/f").unwrap();
        let back = redirect(&home, &away, "https://gitlab.example.com/api/v4/x").unwrap();
        assert_eq!(back, hop("https://gitlab.example.com/api/v4/x", false));
        // Never down to http, nor to another scheme.
        assert_eq!(
            redirect(&home, &start, "http://gitlab.example.com/f"),
            Err("a redirect from https to http")
        );
        assert_eq!(
            redirect(&home, &away, "http://storage.example.com/f"),
            Err("a redirect from https to http")
        );
        for location in ["file:///etc/passwd", "ftp://gitlab.example.com/f"] {
            assert_eq!(
                redirect(&home, &start, location),
                Err("a redirect to an address that is not http(s)")
            );
        }
        assert_eq!(
            redirect(&home, &start, "https://[::1"),
            Err(UNREADABLE_LOCATION)
        );
        // Over http (a GITLAB_URL on http), http is as good as it gets.
        let plain = url("http://gitlab.local/api/v4/");
        let from = hop("http://gitlab.local/api/v4/x", true);
        assert!(redirect(&plain, &from, "/y").unwrap().credentialed);
        assert!(redirect(&plain, &from, "https://gitlab.local/y").is_ok());
    }

    #[test]
    fn an_upload_is_one_file_field_under_a_boundary_its_body_lacks() {
        let body = b"x--openmic-upload-00000000y";
        let (ty, form) = multipart_file("a \"b\"\r\n.png", "image/png\r\nX: y", body);
        assert_eq!(ty, "multipart/form-data; boundary=openmic-upload-00000001");
        let text = String::from_utf8_lossy(&form);
        assert!(
            text.starts_with("--openmic-upload-00000001\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a__b___.png\"\r\nContent-Type: image/pngX: y\r\n\r\nx--openmic-upload-00000000y\r\n--openmic-upload-00000001--\r\n"),
            "{text}"
        );
    }

    #[test]
    fn request_paths_are_built_segment_by_segment() {
        let api = GitlabApi::new("https://gitlab.example.com/sub/", Secret::new("t")).unwrap();
        let built = |segments: &[&str]| api.project_url(7, segments).map(|u| u.to_string());
        assert_eq!(
            built(&["uploads", "0123", "a b/..\\?#%2e.png"]).unwrap(),
            "https://gitlab.example.com/sub/api/v4/projects/7/uploads/0123/a%20b%2F..%5C%3F%23%252e.png"
        );
        assert_eq!(
            built(&["templates", "issues", "a/../../../users"]).unwrap(),
            "https://gitlab.example.com/sub/api/v4/projects/7/templates/issues/a%2F..%2F..%2F..%2Fusers"
        );
        for bad in ["", ".", ".."] {
            assert!(built(&["uploads", "0123", bad]).is_err(), "{bad:?}");
        }
    }
}
