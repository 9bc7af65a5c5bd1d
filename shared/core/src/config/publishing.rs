//! The settings of publishing: the label that publishes, and who may.

use std::collections::BTreeSet;

use super::setting::{Setting, boolean, number, split_list, text};
use super::{ConfigError, Function as F, MicrophoneTrust, Rejected, Variable};

pub const PUBLISH_LABEL: Setting<String> = Setting {
    variable: Variable {
        name: "PUBLISH_LABEL",
        default: "`status-page`",
        meaning: "the label that publishes",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: text,
};

pub const PUBLISHERS: Setting<BTreeSet<String>> = Setting {
    variable: Variable {
        name: "PUBLISHERS",
        default: "none",
        meaning: "usernames allowed to publish, comma-separated",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: usernames,
};

pub const PUBLISH_MIN_ACCESS: Setting<u32> = Setting {
    variable: Variable {
        name: "PUBLISH_MIN_ACCESS",
        default: "`50`",
        meaning: "with API access: the least access level that may publish (`30` Developer, `40` Maintainer, `50` Owner)",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: number,
};

pub const MICROPHONE_TRUST: Setting<MicrophoneTrust> = Setting {
    variable: Variable {
        name: "MICROPHONE_TRUST",
        default: "`publishers`",
        meaning: "whose 🎤 publishes a comment: `anyone`, `publishers`, `developers`",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: microphone_trust,
};

pub const LINK_BACK: Setting<bool> = Setting {
    variable: Variable {
        name: "LINK_BACK",
        default: "`true`",
        meaning: "with API access (`api` scope), the first publication of an incident adds one note to its issue with the public page's URL",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: boolean,
};

/// What publishing reads.
pub const VARIABLES: &[Variable] = &[
    PUBLISH_LABEL.variable,
    PUBLISHERS.variable,
    PUBLISH_MIN_ACCESS.variable,
    MICROPHONE_TRUST.variable,
    LINK_BACK.variable,
];

/// Publishing's settings.
#[derive(Debug, Clone)]
pub struct PublishingSettings {
    pub publish_label: String,
    /// Usernames, without a leading `@`.
    pub publishers: BTreeSet<String>,
    pub publish_min_access: u32,
    pub microphone_trust: MicrophoneTrust,
    /// With API access, the first publication notes the public URL on the issue.
    pub link_back: bool,
}

impl PublishingSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<PublishingSettings, ConfigError> {
        Ok(PublishingSettings {
            publish_label: PUBLISH_LABEL.value(&get)?,
            publishers: PUBLISHERS.or_empty(&get)?,
            publish_min_access: PUBLISH_MIN_ACCESS.value(&get)?,
            microphone_trust: MICROPHONE_TRUST.value(&get)?,
            link_back: LINK_BACK.value(&get)?,
        })
    }
}

fn usernames(v: &str) -> Result<BTreeSet<String>, Rejected> {
    Ok(split_list(v)
        .map(|u| u.trim_start_matches('@').to_owned())
        .collect())
}

fn microphone_trust(v: &str) -> Result<MicrophoneTrust, Rejected> {
    match v.to_ascii_lowercase().as_str() {
        "anyone" => Ok(MicrophoneTrust::Anyone),
        "publishers" => Ok(MicrophoneTrust::Publishers),
        "developers" => Ok(MicrophoneTrust::Developers),
        _ => Err(Rejected(format!(
            "{v:?} is not one of anyone, publishers, developers"
        ))),
    }
}
