//! What a process's services are composed from: the adapters behind the ports,
//! gathered once by whoever starts the process (a Lambda function's AWS clients, the
//! local runner's files, the tests' memory), and handed to the one composition of
//! each capability (`openmic_intake::Intake::compose`, `openmic::App::compose` and the
//! capabilities' own `compose`). A capability takes the backends it needs and fails,
//! naming the variable, when one of them is missing.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::config::aws::{STATE_BUCKET, STATUS_BUCKET};
use crate::config::mail::MAIL_FROM;
use crate::gitlab::GitlabAccess;
use crate::ports::{Mailer, ObjectStore, Outbound, Queue, Sms};

/// The adapters of one process; each is there when the process talks to it.
#[derive(Clone)]
pub struct Backends {
    /// The public bucket (`STATUS_BUCKET`).
    pub status: Option<Arc<dyn ObjectStore>>,
    /// The private bucket (`STATE_BUCKET`): records, claims of large bodies.
    pub state: Option<Arc<dyn ObjectStore>>,
    /// Where intake queues GitLab's events (`PUBLISH_QUEUE_URL`).
    pub publish: Option<Arc<dyn Queue>>,
    /// Where intake queues alerts (`ALERT_QUEUE_URL`).
    pub alerts: Option<Arc<dyn Queue>>,
    /// Where public updates are queued for subscribers and the operators' channels
    /// (`UPDATE_QUEUE_URL`): publishing writes it, subscriptions re-queue batches.
    pub updates: Option<Arc<dyn Queue>>,
    /// The maintainers' mail: alerts, and messages given up on.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Subscribers' mail (on SES: at the account's send rate).
    pub subscription_mailer: Option<Arc<dyn Mailer>>,
    /// GitLab's API, where `GITLAB_URL` and `GITLAB_TOKEN` are set.
    pub gitlab: Option<GitlabAccess>,
    /// Outbound HTTPS: chat and webhook channels.
    pub outbound: Option<Arc<dyn Outbound>>,
    /// Text messages (Amazon SNS): SMS channels and contact methods.
    pub sms: Option<Arc<dyn Sms>>,
    /// The time (tests move one by hand).
    pub clock: Arc<dyn Clock>,
}

impl Default for Backends {
    fn default() -> Self {
        Backends {
            status: None,
            state: None,
            publish: None,
            alerts: None,
            updates: None,
            mailer: None,
            subscription_mailer: None,
            gitlab: None,
            outbound: None,
            sms: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Backends {
    /// The state bucket, or the error naming its variable.
    pub fn state(&self) -> Result<Arc<dyn ObjectStore>, ConfigError> {
        self.state.clone().ok_or_else(|| STATE_BUCKET.missing())
    }

    /// The status bucket, or the error naming its variable.
    pub fn status(&self) -> Result<Arc<dyn ObjectStore>, ConfigError> {
        self.status.clone().ok_or_else(|| STATUS_BUCKET.missing())
    }

    /// The maintainers' mailer, or the error naming what it needs.
    pub fn mailer(&self) -> Result<Arc<dyn Mailer>, ConfigError> {
        self.mailer.clone().ok_or_else(|| MAIL_FROM.missing())
    }

    /// Subscribers' mailer, or the error naming what it needs.
    pub fn subscription_mailer(&self) -> Result<Arc<dyn Mailer>, ConfigError> {
        self.subscription_mailer
            .clone()
            .ok_or_else(|| MAIL_FROM.missing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_backend_names_its_variable() {
        let none = Backends::default();
        assert_eq!(
            none.state().err(),
            Some(ConfigError::Missing("STATE_BUCKET"))
        );
        assert_eq!(
            none.status().err(),
            Some(ConfigError::Missing("STATUS_BUCKET"))
        );
        assert_eq!(none.mailer().err(), Some(ConfigError::Missing("MAIL_FROM")));
        assert_eq!(
            none.subscription_mailer().err(),
            Some(ConfigError::Missing("MAIL_FROM"))
        );
        let store: Arc<dyn ObjectStore> = Arc::new(crate::memory::MemoryStore::default());
        let some = Backends {
            state: Some(store),
            ..Backends::default()
        };
        assert!(some.state().is_ok());
    }
}
