//! GitLab's REST API as a port: what the domain asks of it (a resync's issue, notes,
//! awards and label events; uploads; the note back; incident issues for alerts), and
//! the shapes GitLab answers with. `openmic-gitlab` implements it over HTTP.

use async_trait::async_trait;
use serde::Deserialize;

use crate::errors::BackendError;
use crate::ids::IncidentId;
use crate::ports::ObjectStore;
use crate::time::{self, Timestamp};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 401 or 403: the token is missing a scope, expired, or lacks access.
    #[error("GitLab refused {what} with {status}: {hint}")]
    Config {
        what: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

impl From<ApiError> for BackendError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Transient(m) => BackendError::Transient(m),
            other => BackendError::Permanent(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiUser {
    pub id: u64,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiIssue {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub state: String,
    #[serde(default)]
    pub confidential: bool,
    #[serde(deserialize_with = "time::de")]
    pub created_at: Timestamp,
    #[serde(deserialize_with = "time::de")]
    pub updated_at: Timestamp,
    #[serde(default, deserialize_with = "time::de_opt")]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiNote {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    pub author: ApiUser,
    #[serde(deserialize_with = "time::de")]
    pub created_at: Timestamp,
    #[serde(deserialize_with = "time::de")]
    pub updated_at: Timestamp,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub internal: Option<bool>,
    #[serde(default)]
    pub confidential: Option<bool>,
}

impl ApiNote {
    pub fn is_internal(&self) -> bool {
        self.internal.unwrap_or(false) || self.confidential.unwrap_or(false)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiAward {
    pub id: u64,
    pub name: String,
    pub user: ApiUser,
    #[serde(deserialize_with = "time::de")]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiLabel {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiLabelEvent {
    pub id: u64,
    #[serde(default)]
    pub user: Option<ApiUser>,
    #[serde(deserialize_with = "time::de")]
    pub created_at: Timestamp,
    #[serde(default)]
    pub label: Option<ApiLabel>,
    pub action: String,
}

/// A member of a project (`/projects/:id/members/all`: inherited memberships too).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiMember {
    pub id: u64,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `active`, `blocked`, `awaiting`, ...
    #[serde(default)]
    pub state: Option<String>,
    pub access_level: u32,
    /// Shown only to a group's owners for the group's enterprise users (GitLab.com).
    #[serde(default)]
    pub email: Option<String>,
}

/// An issue linked to another (`GET /projects/:id/issues/:iid/links`): where it is.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiLinkedIssue {
    pub iid: u64,
    pub project_id: u64,
}

/// A user as `/users/:id` shows them to the token's user.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ApiUserProfile {
    pub id: u64,
    #[serde(default)]
    pub username: String,
    /// The address the user chose to make public in their profile (may be empty).
    #[serde(default)]
    pub public_email: Option<String>,
    /// Shown to administrators only.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub bot: bool,
}

/// One event of an incident's timeline (GraphQL's `TimelineEventType`): its note as
/// written, when it happened, its tags (`Start time`, `Impact detected`, `Impact
/// mitigated`, `End time`, …) and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTimelineEvent {
    /// GraphQL's global id (`gid://gitlab/IncidentManagement::TimelineEvent/3`).
    pub id: String,
    pub note: String,
    pub occurred_at: Timestamp,
    pub tags: Vec<String>,
    /// None where GitLab does not say (a system event).
    pub author: Option<ApiUser>,
}

/// GitLab's API, for one instance; each call names its project.
#[async_trait]
pub trait Gitlab: Send + Sync {
    async fn issue(&self, id: IncidentId) -> Result<Option<ApiIssue>, ApiError>;
    async fn notes(&self, id: IncidentId) -> Result<Vec<ApiNote>, ApiError>;
    /// Adds a note to an issue.
    async fn add_note(&self, id: IncidentId, body: &str) -> Result<(), ApiError>;
    async fn note_awards(&self, id: IncidentId, note_id: u64) -> Result<Vec<ApiAward>, ApiError>;
    async fn label_events(&self, id: IncidentId) -> Result<Vec<ApiLabelEvent>, ApiError>;
    /// Copies the upload `/uploads/<secret>/<name>` of `project` into `store` at `key`,
    /// without holding it whole in memory; false if GitLab has no such upload. `name` is
    /// the file's own name, decoded (what the markdown percent-encodes): it is one
    /// path segment of the request, never more.
    async fn copy_upload(
        &self,
        project: u64,
        secret: &str,
        name: &str,
        store: &dyn ObjectStore,
        key: &str,
    ) -> Result<bool, ApiError>;
    /// Uploads a file to `project` (`POST /projects/:id/uploads`), answering the
    /// markdown GitLab gives for it (`![chart.png](/uploads/<secret>/chart.png)`).
    async fn upload(
        &self,
        project: u64,
        filename: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<String, ApiError> {
        let _ = (project, filename, content_type, body);
        Err(ApiError::Permanent(
            "this GitLab client does not upload files".into(),
        ))
    }
    /// The content of the project's issue template `name`.
    async fn issue_template(&self, project: u64, name: &str) -> Result<Option<String>, ApiError>;
    /// An issue whose description holds `marker`, open or closed.
    async fn find_issue(&self, project: u64, marker: &str) -> Result<Option<ApiIssue>, ApiError>;
    /// Opens an incident issue.
    async fn create_incident(
        &self,
        project: u64,
        title: &str,
        description: &str,
        labels: &str,
    ) -> Result<ApiIssue, ApiError>;
    async fn close_issue(&self, id: IncidentId) -> Result<(), ApiError>;
    /// Adds a note to an issue, internal (seen by project members only) or not, and
    /// answers it as GitLab made it.
    async fn create_note(
        &self,
        id: IncidentId,
        body: &str,
        internal: bool,
    ) -> Result<ApiNote, ApiError>;
    /// Replaces an issue's description.
    async fn set_description(&self, id: IncidentId, description: &str) -> Result<(), ApiError>;
    /// The project's open incident issues (`issue_type=incident`), newest first.
    async fn open_incidents(&self, project: u64) -> Result<Vec<ApiIssue>, ApiError>;
    /// Adds `labels` (comma-separated) to an issue; labels it has already stay.
    async fn add_labels(&self, id: IncidentId, labels: &str) -> Result<(), ApiError>;
    /// The timeline of the incident whose issue has the global id `issue`, in the
    /// project at `project_path` (`group/project`), oldest first. GitLab serves
    /// timelines on every tier, through GraphQL only.
    async fn timeline_events(
        &self,
        project_path: &str,
        issue: u64,
    ) -> Result<Vec<ApiTimelineEvent>, ApiError>;
    /// Adds an event to the timeline of the incident whose issue has the global id
    /// `issue`, tagged with `tags` (GitLab ignores tags the project does not have).
    async fn add_timeline_event(
        &self,
        issue: u64,
        note: &str,
        occurred_at: Timestamp,
        tags: &[&str],
    ) -> Result<(), ApiError>;
    /// Every member of the project, inherited memberships included.
    async fn members(&self, project: u64) -> Result<Vec<ApiMember>, ApiError>;
    /// A user's profile; `None` if there is no such user.
    async fn user(&self, id: u64) -> Result<Option<ApiUserProfile>, ApiError>;
    /// The issues linked to an issue (any link type).
    async fn issue_links(&self, id: IncidentId) -> Result<Vec<ApiLinkedIssue>, ApiError>;
    /// The users a search for `email` finds (`GET /users?search=`: names, usernames
    /// and public addresses; at most 20). Their profiles say whose public address
    /// it is.
    async fn search_users(&self, email: &str) -> Result<Vec<ApiUserProfile>, ApiError>;
    /// A file of a repository at `reference`, as text; `None` if there is no such
    /// project, file or ref. `project` is a path (`ops/oncall`) or an id.
    async fn repository_file(
        &self,
        project: &str,
        file: &str,
        reference: &str,
    ) -> Result<Option<String>, ApiError>;
}

/// GitLab's API where it is configured (`GITLAB_URL`, `GITLAB_TOKEN`): the client, and
/// who may publish by their role in a project.
#[derive(Clone)]
pub struct GitlabAccess {
    pub api: std::sync::Arc<dyn Gitlab>,
    pub roles: std::sync::Arc<dyn crate::ports::Authorizer>,
}
