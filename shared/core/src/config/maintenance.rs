//! The settings of scheduled maintenance.

use super::setting::{Setting, text};
use super::{ConfigError, Function as F, Variable};

pub const MAINTENANCE_LABEL: Setting<String> = Setting {
    variable: Variable {
        name: "MAINTENANCE_LABEL",
        default: "`maintenance`",
        meaning: "the label that makes an issue a scheduled maintenance (its window in a line `Window: <start>/<end>`)",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: text,
};

/// What maintenance reads.
pub const VARIABLES: &[Variable] = &[MAINTENANCE_LABEL.variable];

/// Maintenance's settings.
#[derive(Debug, Clone)]
pub struct MaintenanceSettings {
    /// The label of a scheduled maintenance.
    pub maintenance_label: String,
}

impl MaintenanceSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<MaintenanceSettings, ConfigError> {
        Ok(MaintenanceSettings {
            maintenance_label: MAINTENANCE_LABEL.value(&get)?,
        })
    }
}
