//! Which GitLab projects' events openmic takes: those `GITLAB_PROJECT_ID` lists or,
//! where it is unset (the local runner only), the first project it hears of, kept in
//! the state bucket so a restart keeps it. Projects are never mixed: an event of any
//! other project is refused with a message naming the variable.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OnceCell;

use openmic_core::config::Config;
use openmic_core::errors::{BackendError, ProcessError};
use openmic_core::ports::{Condition, ObjectStore, PutOptions};

/// The project a runner without `GITLAB_PROJECT_ID` took first.
pub const FIRST_PROJECT_KEY: &str = "index/project.json";

/// Why an event's project is not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Another project: 403, the message says why.
    #[error("{0}")]
    OtherProject(String),
    /// The state bucket could not say which project was taken first.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Behind the queue (the publisher), another project's event can never be taken.
impl From<Refused> for ProcessError {
    fn from(e: Refused) -> Self {
        match e {
            Refused::OtherProject(m) => ProcessError::Permanent(m),
            Refused::Backend(b) => b.into(),
        }
    }
}

pub struct Projects {
    listed: Vec<u64>,
    /// Where the first project seen is kept, when none is listed.
    state: Option<Arc<dyn ObjectStore>>,
    first: OnceCell<u64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct First {
    project: u64,
}

impl Projects {
    pub fn new(config: &Config, state: Option<Arc<dyn ObjectStore>>) -> Projects {
        Projects {
            listed: config.intake.gitlab_projects.clone(),
            state,
            first: OnceCell::new(),
        }
    }

    /// Takes or refuses an event of `project`.
    pub async fn admit(&self, project: u64) -> Result<(), Refused> {
        if !self.listed.is_empty() {
            if self.listed.contains(&project) {
                return Ok(());
            }
            return Err(Refused::OtherProject(format!(
                "events of project {project} are not accepted here (GITLAB_PROJECT_ID)"
            )));
        }
        let first = self
            .first
            .get_or_try_init(|| self.first_project(project))
            .await?;
        if *first == project {
            Ok(())
        } else {
            Err(Refused::OtherProject(format!(
                "events of project {project} are not accepted here: this openmic took project \
                 {first} first; set GITLAB_PROJECT_ID to the projects to take (one id or a \
                 comma-separated list)"
            )))
        }
    }

    /// The project taken first: as kept, or `candidate`, kept now.
    async fn first_project(&self, candidate: u64) -> Result<u64, BackendError> {
        let Some(state) = &self.state else {
            return Ok(candidate);
        };
        for _ in 0..openmic_core::document::CAS_ATTEMPTS {
            if let Some(kept) = state.get(FIRST_PROJECT_KEY).await? {
                let First { project } = serde_json::from_slice(&kept.body).map_err(|e| {
                    BackendError::Permanent(format!("{FIRST_PROJECT_KEY} is unreadable: {e}"))
                })?;
                return Ok(project);
            }
            // An earlier release kept no choice, but its incidents say which project
            // it served.
            let candidate = self.earlier_project(state).await?.unwrap_or(candidate);
            let body = serde_json::to_vec(&First { project: candidate })
                .map_err(|e| BackendError::Permanent(e.to_string()))?;
            let opts = PutOptions::private_json().with_condition(Condition::IfNoneMatch);
            match state.put(FIRST_PROJECT_KEY, Bytes::from(body), opts).await {
                Ok(_) => return Ok(candidate),
                // Another writer kept one first: read it.
                Err(BackendError::PreconditionFailed(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(BackendError::Transient(format!(
            "{FIRST_PROJECT_KEY}: too many concurrent writers"
        )))
    }

    /// The project of the first release's incident states (`incidents/<iid>.json`), if
    /// any are left to move.
    async fn earlier_project(
        &self,
        state: &Arc<dyn ObjectStore>,
    ) -> Result<Option<u64>, BackendError> {
        let keys = state.list(openmic_core::ids::STATE_PREFIX).await?;
        let Some(key) = keys
            .iter()
            .find(|k| openmic_core::ids::legacy_iid(k).is_some())
        else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        struct Earlier {
            project_id: u64,
        }
        Ok(state
            .get(key)
            .await?
            .and_then(|o| serde_json::from_slice::<Earlier>(&o.body).ok())
            .map(|e| e.project_id))
    }

    /// Keeps `project` as the one taken first, unless one is kept already (an upgrade
    /// keeps the project the earlier release's incidents belong to).
    pub async fn keep_first(&self, project: u64) -> Result<u64, BackendError> {
        if !self.listed.is_empty() {
            return Ok(project);
        }
        self.first_project(project).await
    }
}
