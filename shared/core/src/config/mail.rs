//! The settings of mail, which several capabilities send (alerts, subscriptions, the
//! notice of a queue message given up on): they receive these, declared here once.

use super::setting::{Setting, address, addresses};
use super::{ConfigError, Function as F, Variable};

pub const MAIL_FROM: Setting<String> = Setting {
    variable: Variable {
        name: "MAIL_FROM",
        default: "required by the notifier and subscriptions",
        meaning: "the sender of alert mail, of subscription mail and of the maintainers' notice of a queue message given up on",
        secret: false,
        read_by: &[F::Publisher, F::Notifier, F::Subscriptions],
        required_by: &[F::Notifier, F::Subscriptions],
    },
    parse: address,
};

pub const MAINTAINER_EMAILS: Setting<Vec<String>> = Setting {
    variable: Variable {
        name: "MAINTAINER_EMAILS",
        default: "required by the notifier",
        meaning: "the recipients of alert mail and of the notice of a queue message given up on, comma-separated",
        secret: false,
        read_by: &[F::Publisher, F::Notifier, F::Subscriptions],
        required_by: &[F::Notifier],
    },
    parse: addresses,
};

/// What mail reads.
pub const VARIABLES: &[Variable] = &[MAIL_FROM.variable, MAINTAINER_EMAILS.variable];

/// Mail's settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The sender of every mail openmic sends.
    pub mail_from: Option<String>,
    /// The maintainers: alert mail, and the notice of a message given up on.
    pub maintainer_emails: Vec<String>,
}

impl MailSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<MailSettings, ConfigError> {
        Ok(MailSettings {
            mail_from: MAIL_FROM.read(&get)?,
            maintainer_emails: MAINTAINER_EMAILS.or_empty(&get)?,
        })
    }
}
