//! The settings of the time to resolve (`INCIDENT_SLA`).

use super::setting::{Setting, text};
use super::{ConfigError, Function as F, Variable};

/// As given (`critical=1h,high=4h,medium=1d`); the domain's `sla` reads it, and a
/// function that needs it fails at start when it cannot.
pub const INCIDENT_SLA: Setting<String> = Setting {
    variable: Variable {
        name: "INCIDENT_SLA",
        default: "none",
        meaning: "the time to resolve per severity (`critical=1h,high=4h,medium=1d`): an incident open past it gets the label `missed::SLA` and one reminder to its alert channels; the history shows time to resolve against it",
        secret: false,
        read_by: &[F::Publisher, F::Notifier],
        required_by: &[],
    },
    parse: text,
};

/// What the time to resolve reads.
pub const VARIABLES: &[Variable] = &[INCIDENT_SLA.variable];

/// The time to resolve's settings.
#[derive(Debug, Clone, Default)]
pub struct SlaSettings {
    /// `INCIDENT_SLA` as given.
    pub incident_sla: Option<String>,
}

impl SlaSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<SlaSettings, ConfigError> {
        Ok(SlaSettings {
            incident_sla: INCIDENT_SLA.read(&get)?,
        })
    }
}
