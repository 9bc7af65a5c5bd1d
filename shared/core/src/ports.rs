//! The ports: the small traits the domain talks to. Adapters implement them on the
//! local file system (the embedded default, `openmic-files`) and on AWS
//! (`openmic-aws`); GitLab's API is the port of [`crate::gitlab`].

use async_trait::async_trait;
use bytes::Bytes;

pub use crate::errors::BackendError;
use crate::mail::Mail;

/// `Cache-Control` of public data and pages: short, so a change shows within a minute.
pub const DATA_CACHE_CONTROL: &str = "public, max-age=30";
/// `Cache-Control` of copied uploads: their URL holds a secret and never changes.
pub const FILE_CACHE_CONTROL: &str = "public, max-age=86400";

/// An object read from a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub body: Bytes,
    /// An opaque version tag for conditional writes.
    pub etag: String,
    pub content_type: Option<String>,
}

/// When a write may happen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    Always,
    /// Only if the object still has this etag.
    IfMatch(String),
    /// Only if no object exists at the key.
    IfNoneMatch,
}

/// How an object is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOptions {
    pub content_type: String,
    pub cache_control: Option<String>,
    pub condition: Condition,
}

impl PutOptions {
    /// JSON with a short cache lifetime, as the status data wants.
    pub fn json() -> Self {
        PutOptions {
            content_type: "application/json".into(),
            cache_control: Some(DATA_CACHE_CONTROL.into()),
            condition: Condition::Always,
        }
    }
    /// Private JSON (state bucket): no caching.
    pub fn private_json() -> Self {
        PutOptions {
            content_type: "application/json".into(),
            cache_control: Some("no-store".into()),
            condition: Condition::Always,
        }
    }
    pub fn with_condition(mut self, condition: Condition) -> Self {
        self.condition = condition;
        self
    }
}

/// A bucket: the public status bucket or the private state bucket.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError>;
    /// Writes the whole object; returns its new etag.
    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError>;
    /// Deletes the object; deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), BackendError>;
    /// Every key under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError>;
    /// Writes the object from a file, without holding it whole in memory where the
    /// backend allows.
    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        opts: PutOptions,
    ) -> Result<String, BackendError>;
    /// Deletes every key under `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, BackendError> {
        let keys = self.list(prefix).await?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}

/// A message for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutMessage {
    /// Messages of one group are handled in order (`issue:<iid>`, or an alert's
    /// fingerprint).
    pub group_id: String,
    /// Two messages with the same id within the deduplication window are one.
    pub dedup_id: String,
    pub body: String,
}

/// The sending side of a queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends messages in order; a queue that takes batches sends them together.
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), BackendError>;
    async fn send(&self, message: OutMessage) -> Result<(), BackendError> {
        self.send_batch(vec![message]).await
    }
}

/// Where intake keeps a body too large for the queue (`claims/` in the state bucket):
/// all it asks of a bucket, so an intake function links nothing else of one.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    async fn put_claim(&self, key: &str, body: Bytes) -> Result<(), BackendError>;
}

#[async_trait]
impl<T: ObjectStore + ?Sized> ClaimStore for T {
    async fn put_claim(&self, key: &str, body: Bytes) -> Result<(), BackendError> {
        self.put(key, body, PutOptions::private_json())
            .await
            .map(|_| ())
    }
}

/// A bucket already behind `dyn ObjectStore`, as a claim store.
pub struct ClaimsIn(pub std::sync::Arc<dyn ObjectStore>);

#[async_trait]
impl ClaimStore for ClaimsIn {
    async fn put_claim(&self, key: &str, body: Bytes) -> Result<(), BackendError> {
        self.0.put_claim(key, body).await
    }
}

/// The answer to "may this user publish / is their microphone trusted".
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Whether `username` (GitLab user `user_id`) may publish or unpublish incidents of
    /// `project`.
    async fn may_publish(
        &self,
        project: u64,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<bool, BackendError>;
    /// Whether a microphone award by this user publishes a comment in `project`.
    async fn trusts_microphone(
        &self,
        project: u64,
        username: &str,
        user_id: Option<u64>,
    ) -> Result<bool, BackendError>;
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError>;
    /// The most mails a second this mailer may send (SES: the account's
    /// `SendQuota.MaxSendRate`); `None` when there is no such limit (the outbox).
    async fn max_send_rate(&self) -> Result<Option<f64>, BackendError> {
        Ok(None)
    }
}

/// What a server answered to an outbound request: its status, and the start of its
/// body (a refusal's reason, as chat services give it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// At most a few hundred bytes, for the log of a refusal.
    pub body: String,
    /// `Retry-After` in seconds, where the server gave one.
    pub retry_after: Option<u64>,
}

/// Outbound HTTP: chat services' incoming webhooks and operators' own endpoints.
/// `openmic-web` implements it. A URL may hold a secret (a chat webhook's token), so
/// no error or log of an implementation names it.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// POSTs `body` to `url` with `headers`, once; any answer is `Ok`, whatever its
    /// status. `Err` (transient) only when none came: connection refused, timeout.
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, BackendError>;

    /// The same, for a web API whose answer is read: the answer's body whole (at most
    /// [`MAX_API_ANSWER`] bytes; `Err` past it). An implementation that cannot read
    /// it whole answers as [`Outbound::post`] does.
    async fn call(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, BackendError> {
        self.post(url, headers, body).await
    }
    /// GETs `url`, once, reading at most `max_bytes` of its body: any answer is `Ok`,
    /// whatever its status. `Err` when none came, or its body was longer. A client
    /// that only posts (a test's) refuses.
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Fetched, BackendError> {
        let _ = (url, max_bytes);
        Err(BackendError::Permanent(
            "this outbound HTTP client does not GET".into(),
        ))
    }
    /// The same GET with `headers` (an `Authorization`, which no error or log
    /// names). A client that cannot send them refuses when there are any.
    async fn get_with(
        &self,
        url: &str,
        headers: &[(&str, String)],
        max_bytes: usize,
    ) -> Result<Fetched, BackendError> {
        if headers.is_empty() {
            self.get(url, max_bytes).await
        } else {
            Err(BackendError::Permanent(
                "this outbound HTTP client does not GET with headers".into(),
            ))
        }
    }
}

/// What [`Outbound::get`] answers when the body is longer than it may read: the
/// caller tells it from a failure to connect by [`is_too_large`].
pub fn too_large(max_bytes: usize) -> BackendError {
    BackendError::Permanent(format!("the answer is larger than {max_bytes} bytes"))
}

/// Whether `e` is [`too_large`]'s.
pub fn is_too_large(e: &BackendError) -> bool {
    matches!(e, BackendError::Permanent(m) if m.starts_with("the answer is larger than "))
}

/// What a GET brought back: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    pub body: Bytes,
}

/// The largest answer of a web API read through [`Outbound::call`].
pub const MAX_API_ANSWER: usize = 256 * 1024;

/// Text messages to phones (SMS): Amazon SNS's `Publish` to a phone number in
/// `openmic-aws`. The number is a person's contact detail, so no error or log of an
/// implementation names it.
#[async_trait]
pub trait Sms: Send + Sync {
    /// Sends `text` to `phone` (E.164, `+15550100`), once.
    async fn send_sms(&self, phone: &str, text: &str) -> Result<(), BackendError>;
}

/// Where a file of configuration is read from (the on-call file, `ONCALL_CONFIG`): a
/// GitLab repository through its API, or a local file (`openmic-files`).
#[async_trait]
pub trait FileSource: Send + Sync {
    /// Whether the file is read again only after a push (a repository's), rather than
    /// at every tick (a local file's).
    fn on_push(&self) -> bool;
    /// The file's text; `None` when there is no such file.
    async fn fetch(&self) -> Result<Option<String>, BackendError>;
}

/// Whether a key is one both buckets take the same way: no empty, `.` or `..` segment,
/// no leading slash, backslash or NUL, no `.tmp-` segment (the files store's own), at
/// most 1024 bytes.
pub fn check_key(key: &str) -> Result<(), BackendError> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.starts_with(".tmp-"));
    if bad {
        Err(BackendError::Permanent(format!(
            "invalid object key {key:?}"
        )))
    } else {
        Ok(())
    }
}

/// The content type for a key, from its extension.
pub fn content_type_for(key: &str) -> &'static str {
    let ext = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "atom" => "application/atom+xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" | "log" => "text/plain; charset=utf-8",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "zip" => "application/zip",
        "csv" => "text/csv; charset=utf-8",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Sign-in to audience pages (`GET /login`, `/callback`, `/logout`) and the sessions
/// it grants (GitLab's OpenID Connect, `AUDIENCES`).
#[async_trait]
pub trait SignIn: Send + Sync {
    /// `GET /login[?to=/<audience>/…]`: the reader sent to the provider.
    async fn login(&self, query: Option<&str>) -> crate::reply::Reply;
    /// `GET /callback?code=…&state=…`: the provider's answer checked, a session set.
    async fn callback(&self, query: Option<&str>, cookies: Option<&str>) -> crate::reply::Reply;
    /// `GET /logout`: the session removed.
    fn logout(&self) -> crate::reply::Reply;
    /// Whether the reader holding `cookies` may read `path` of `audience`'s page: the
    /// reply to give instead when not (to sign in, or a page saying why not).
    fn admit(
        &self,
        audience: &str,
        path: &str,
        cookies: Option<&str>,
    ) -> Result<(), crate::reply::Reply>;
}
