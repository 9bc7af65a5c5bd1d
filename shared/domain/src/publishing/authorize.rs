//! Who may publish, from configuration alone (`PUBLISHERS`, `MICROPHONE_TRUST`).
//! The GitLab API adapter decides by project role instead, where configured.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{Config, MicrophoneTrust};
use crate::ports::{Authorizer, BackendError};

pub struct ConfigAuthorizer {
    config: Arc<Config>,
}

impl ConfigAuthorizer {
    pub fn new(config: Arc<Config>) -> Self {
        ConfigAuthorizer { config }
    }
}

#[async_trait]
impl Authorizer for ConfigAuthorizer {
    async fn may_publish(
        &self,
        _project: u64,
        username: &str,
        _user_id: Option<u64>,
    ) -> Result<bool, BackendError> {
        Ok(self.config.is_publisher(username))
    }

    async fn trusts_microphone(
        &self,
        _project: u64,
        username: &str,
        _user_id: Option<u64>,
    ) -> Result<bool, BackendError> {
        Ok(match self.config.publishing.microphone_trust {
            MicrophoneTrust::Anyone => true,
            // Without the API there is no role to look up: publishers only.
            MicrophoneTrust::Publishers | MicrophoneTrust::Developers => {
                self.config.is_publisher(username)
            }
        })
    }
}
