//! The settings of the AWS adapters (beside the SDK's own `AWS_*`): the buckets, the
//! queues and their dead letters, and the SES configuration set.

use super::setting::{Setting, number, text};
use super::{ConfigError, Function as F, Rejected, Variable};

/// The functions that keep state: all but the sign-in, which reads only its key.
const STATEFUL: &[F] = &[
    F::Webhook,
    F::Alerts,
    F::Publisher,
    F::Notifier,
    F::Subscriptions,
];

pub const STATUS_BUCKET: Setting<String> = Setting {
    variable: Variable {
        name: "STATUS_BUCKET",
        default: "required on AWS",
        meaning: "the public bucket",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[F::Publisher],
    },
    parse: text,
};

pub const STATE_BUCKET: Setting<String> = Setting {
    variable: Variable {
        name: "STATE_BUCKET",
        default: "required on AWS",
        meaning: "the private bucket",
        secret: false,
        read_by: STATEFUL,
        required_by: STATEFUL,
    },
    parse: text,
};

pub const PUBLISH_QUEUE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "PUBLISH_QUEUE_URL",
        default: "required on AWS",
        meaning: "the FIFO queue of GitLab's events (and of notes published from chat)",
        secret: false,
        read_by: &[F::Webhook, F::Notifier],
        required_by: &[F::Webhook],
    },
    parse: text,
};

pub const ALERT_QUEUE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "ALERT_QUEUE_URL",
        default: "required on AWS",
        meaning: "the FIFO queue of alerts (and of chat commands' work)",
        secret: false,
        read_by: &[F::Alerts, F::Notifier],
        required_by: &[F::Alerts],
    },
    parse: text,
};

pub const UPDATE_QUEUE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "UPDATE_QUEUE_URL",
        default: "required on AWS with `SUBSCRIPTIONS=on`",
        meaning: "the FIFO queue of public updates for subscribers",
        secret: false,
        read_by: &[F::Publisher, F::Subscriptions],
        required_by: &[F::Subscriptions],
    },
    parse: text,
};

pub const PUBLISH_DEAD_LETTER_QUEUE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "PUBLISH_DEAD_LETTER_QUEUE_URL",
        default: "none (the template sets it)",
        meaning: "the publish queue's dead-letter queue: a GitLab event the publisher gives up on goes there with its reason",
        secret: false,
        read_by: &[F::Publisher],
        required_by: &[],
    },
    parse: text,
};

pub const ALERT_DEAD_LETTER_QUEUE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "ALERT_DEAD_LETTER_QUEUE_URL",
        default: "none (the template sets it)",
        meaning: "the alerts queue's dead-letter queue: an alert the notifier gives up on goes there with its reason",
        secret: false,
        read_by: &[F::Notifier],
        required_by: &[],
    },
    parse: text,
};

pub const UPDATE_DEAD_LETTER_QUEUE_URL: Setting<String> = Setting {
    variable: Variable {
        name: "UPDATE_DEAD_LETTER_QUEUE_URL",
        default: "none (the template sets it)",
        meaning: "the updates queue's dead-letter queue: an update the subscriptions function gives up on goes there with its reason",
        secret: false,
        read_by: &[F::Subscriptions],
        required_by: &[],
    },
    parse: text,
};

pub const MAX_RECEIVE_COUNT: Setting<u32> = Setting {
    variable: Variable {
        name: "MAX_RECEIVE_COUNT",
        default: "`5`",
        meaning: "receives of a queue message before it is given up on: moved to the dead letters with its reason, and the maintainers mailed (the queues' `maxReceiveCount`; locally the files queue's)",
        secret: false,
        read_by: &[F::Publisher, F::Notifier, F::Subscriptions],
        required_by: &[],
    },
    parse: receive_count,
};

pub const SES_CONFIGURATION_SET: Setting<String> = Setting {
    variable: Variable {
        name: "SES_CONFIGURATION_SET",
        default: "none (the template makes one)",
        meaning: "the SES configuration set subscription mail is sent with; its bounces and complaints come back by SNS",
        secret: false,
        read_by: &[F::Subscriptions],
        required_by: &[],
    },
    parse: text,
};

/// What the AWS adapters read.
pub const VARIABLES: &[Variable] = &[
    STATUS_BUCKET.variable,
    STATE_BUCKET.variable,
    PUBLISH_QUEUE_URL.variable,
    ALERT_QUEUE_URL.variable,
    UPDATE_QUEUE_URL.variable,
    PUBLISH_DEAD_LETTER_QUEUE_URL.variable,
    ALERT_DEAD_LETTER_QUEUE_URL.variable,
    UPDATE_DEAD_LETTER_QUEUE_URL.variable,
    MAX_RECEIVE_COUNT.variable,
    SES_CONFIGURATION_SET.variable,
];

/// The buckets and queues.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub status_bucket: Option<String>,
    pub state_bucket: Option<String>,
    pub publish_queue_url: Option<String>,
    pub alert_queue_url: Option<String>,
    /// The FIFO queue of public updates for subscribers.
    pub update_queue_url: Option<String>,
    /// The dead-letter queues of the publish, alerts and updates queues: where a
    /// consumer moves a message it gives up on, with the reason (SQS only; without
    /// one, the queue's own redrive moves it, without the reason).
    pub publish_dead_letter_queue_url: Option<String>,
    pub alert_dead_letter_queue_url: Option<String>,
    pub update_dead_letter_queue_url: Option<String>,
    /// Receives of a message before it is given up on (the queues' `maxReceiveCount`
    /// on SQS; the files queue's locally).
    pub max_receive_count: u32,
    /// The SES configuration set subscription mail goes out with (its bounce and
    /// complaint events come back).
    pub ses_configuration_set: Option<String>,
}

impl AwsSettings {
    /// Reads the settings through `get` (empty values already count as unset).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<AwsSettings, ConfigError> {
        Ok(AwsSettings {
            status_bucket: STATUS_BUCKET.read(&get)?,
            state_bucket: STATE_BUCKET.read(&get)?,
            publish_queue_url: PUBLISH_QUEUE_URL.read(&get)?,
            alert_queue_url: ALERT_QUEUE_URL.read(&get)?,
            update_queue_url: UPDATE_QUEUE_URL.read(&get)?,
            publish_dead_letter_queue_url: PUBLISH_DEAD_LETTER_QUEUE_URL.read(&get)?,
            alert_dead_letter_queue_url: ALERT_DEAD_LETTER_QUEUE_URL.read(&get)?,
            update_dead_letter_queue_url: UPDATE_DEAD_LETTER_QUEUE_URL.read(&get)?,
            max_receive_count: MAX_RECEIVE_COUNT.value(&get)?,
            ses_configuration_set: SES_CONFIGURATION_SET.read(&get)?,
        })
    }
}

/// SQS takes a `maxReceiveCount` of 1 to 1000.
fn receive_count(v: &str) -> Result<u32, Rejected> {
    let n = number(v)?;
    if !(1..=1000).contains(&n) {
        return Err(Rejected(format!(
            "{v:?} is not between 1 and 1000 (SQS's maxReceiveCount)"
        )));
    }
    Ok(n)
}
