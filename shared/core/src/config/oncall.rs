//! The settings of on call (docs/oncall.md): where the on-call file is.

use super::setting::Setting;
use super::{ConfigError, Function as F, Rejected, Variable};

/// Where the on-call file is (`ONCALL_CONFIG`): a file in a GitLab repository,
/// `<project path or id>:<file path>@<ref>` (`ops/oncall:oncall.yaml@main`), or a
/// local path (`openmic-local` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnCallSource {
    Path(String),
    Gitlab {
        /// A project's path (`ops/oncall`) or id (`42`).
        project: String,
        file: String,
        reference: String,
    },
}

impl OnCallSource {
    /// The GitLab form when the value has it (a project, `:`, a file, `@`, a ref, none
    /// of them empty, not starting with `/` or `.`), else a path.
    pub fn parse(value: &str) -> OnCallSource {
        let value = value.trim();
        let gitlab = value.split_once(':').and_then(|(project, rest)| {
            let (file, reference) = rest.rsplit_once('@')?;
            let ok = !project.is_empty()
                && !project.starts_with(['/', '.'])
                && !project.contains('\\')
                && !file.trim_matches('/').is_empty()
                && !reference.is_empty()
                && !reference.contains(':');
            ok.then(|| OnCallSource::Gitlab {
                project: project.trim_matches('/').to_owned(),
                file: file.trim_matches('/').to_owned(),
                reference: reference.to_owned(),
            })
        });
        gitlab.unwrap_or_else(|| OnCallSource::Path(value.to_owned()))
    }

    /// How the file is named to the maintainers: `ops/oncall:oncall.yaml@main`, or
    /// the path.
    pub fn name(&self) -> String {
        match self {
            OnCallSource::Path(p) => p.clone(),
            OnCallSource::Gitlab {
                project,
                file,
                reference,
            } => format!("{project}:{file}@{reference}"),
        }
    }
}

pub const ONCALL_CONFIG: Setting<OnCallSource> = Setting {
    variable: Variable {
        name: "ONCALL_CONFIG",
        default: "none",
        meaning: "the on-call file (see [On call](oncall.md)): `<project>:<file>@<ref>` in a GitLab repository (`ops/oncall:oncall.yaml@main`), read again when a Push Hook touches it; `openmic-local` also takes a local path",
        secret: false,
        read_by: &[F::Webhook, F::Notifier],
        required_by: &[],
    },
    parse: source,
};

/// What on call reads.
pub const VARIABLES: &[Variable] = &[ONCALL_CONFIG.variable];

/// On call's settings.
#[derive(Debug, Clone, Default)]
pub struct OnCallSettings {
    /// `ONCALL_CONFIG`: where the on-call file is.
    pub oncall_config: Option<OnCallSource>,
}

impl OnCallSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<OnCallSettings, ConfigError> {
        Ok(OnCallSettings {
            oncall_config: ONCALL_CONFIG.read(&get)?,
        })
    }
}

fn source(v: &str) -> Result<OnCallSource, Rejected> {
    Ok(OnCallSource::parse(v))
}

#[cfg(test)]
mod oncall_source_tests {
    use super::OnCallSource;

    #[test]
    fn the_gitlab_form_or_a_path() {
        assert_eq!(
            OnCallSource::parse("ops/oncall:oncall.yaml@main"),
            OnCallSource::Gitlab {
                project: "ops/oncall".into(),
                file: "oncall.yaml".into(),
                reference: "main".into()
            }
        );
        assert_eq!(
            OnCallSource::parse("42:team/oncall.yaml@release/1").name(),
            "42:team/oncall.yaml@release/1"
        );
        for path in [
            "oncall.yaml",
            "/etc/openmic/oncall.yaml",
            "./a:b@c",
            "x:@main",
            "x:f@",
        ] {
            assert_eq!(
                OnCallSource::parse(path),
                OnCallSource::Path(path.into()),
                "{path}"
            );
        }
    }
}
