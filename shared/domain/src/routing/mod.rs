//! Routing: where a notice goes. Any capability with news for operators uses it
//! (alerts their notices, subscriptions the public updates, maintenance and
//! publishing a maintenance's `Mute:` line); it knows nothing of what is sent.
//!
//! - [`matchers`]: Alertmanager's label matchers (`env="prod", alertname=~"Disk.*"`);
//! - [`channels`]: the channels of `ALERT_CHANNELS` (mail, chat, signed webhooks),
//!   each with the matchers that decide what it gets;
//! - [`recipients`]: who "the maintainers" a mail channel names are.

pub mod channels;
pub mod matchers;
pub mod recipients;
