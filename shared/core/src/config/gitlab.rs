//! The settings of GitLab's API.

use super::setting::{Setting, http_url, secret};
use super::{ConfigError, Function as F, Secret, Variable};

pub const GITLAB_URL: Setting<String> = Setting {
    variable: Variable {
        name: "GITLAB_URL",
        default: "none",
        meaning: "GitLab's address, for its API (attachments, roles, resync, the note back, incident issues) and the sign-in to audience pages",
        secret: false,
        read_by: &[F::Publisher, F::Notifier, F::Signin],
        required_by: &[],
    },
    parse: http_url,
};

pub const GITLAB_TOKEN: Setting<Secret> = Setting {
    variable: Variable {
        name: "GITLAB_TOKEN",
        default: "none",
        meaning: "a token for GitLab's API: a project access token, or on GitLab.com Free a bot user's personal access token; scope `api` (see [GitLab's API](#gitlabs-api-optional))",
        secret: true,
        read_by: &[F::Publisher, F::Notifier],
        required_by: &[],
    },
    parse: secret,
};

/// What the GitLab API client reads.
pub const VARIABLES: &[Variable] = &[GITLAB_URL.variable, GITLAB_TOKEN.variable];

/// GitLab's API settings.
#[derive(Debug, Clone, Default)]
pub struct GitlabSettings {
    /// Without a trailing `/`.
    pub gitlab_url: Option<String>,
    pub gitlab_token: Option<Secret>,
}

impl GitlabSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<GitlabSettings, ConfigError> {
        Ok(GitlabSettings {
            gitlab_url: GITLAB_URL.read(&get)?,
            gitlab_token: GITLAB_TOKEN.read(&get)?,
        })
    }
}
