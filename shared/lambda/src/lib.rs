//! The Lambda functions' edge: a function's `main` is its configuration
//! (`openmic_aws::start`), its backends ([`backends`]), the one composition of its
//! capabilities (`Intake::compose`, `Publisher::compose`, …, the same the local
//! runner's `App::compose` calls), and its run here: the one invocation
//! (`openmic_http::invocation`) dispatched to them.
//!
//! Features, one per function kind, so each compiles only what it runs: `intake` (the
//! webhook and alerts functions, on `openmic-intake` alone), `publisher`, `notifier`,
//! `subscriptions`.

use std::sync::Arc;

use openmic_aws::Aws;
pub use openmic_aws::telemetry::or_exit;
use openmic_core::compose::Backends;
#[cfg(any(feature = "publisher", feature = "notifier", feature = "subscriptions"))]
use openmic_core::config::Function;
use openmic_core::config::{Config, ConfigError};

#[cfg(feature = "notifier")]
pub mod notifier;
#[cfg(feature = "publisher")]
pub mod publisher;
#[cfg(feature = "subscriptions")]
pub mod subscriptions;

/// The backends of `function` on Lambda: its buckets, queues and mailers
/// ([`Aws::backends`]), GitLab's API for the publisher and the notifier (the token's
/// scopes checked: a token nobody could publish with stops the publisher; the
/// notifier logs what it cannot do, in the background), outbound HTTPS for the
/// notifier and the subscriptions function (chat and webhook channels).
pub async fn backends(
    config: &Arc<Config>,
    aws: &Aws,
    function: openmic_core::config::Function,
) -> Result<Backends, ConfigError> {
    #[allow(unused_mut)]
    let mut backends = aws.backends(config, function)?;
    #[cfg(feature = "gitlab")]
    if matches!(function, Function::Publisher | Function::Notifier) {
        backends.gitlab = openmic_gitlab::connect(config)?;
        if function == Function::Publisher {
            openmic_gitlab::check_token_at_start(config).await?;
        } else {
            let checked = config.clone();
            tokio::spawn(async move { openmic_gitlab::check_token(&checked).await });
        }
    }
    #[cfg(feature = "web")]
    if matches!(function, Function::Notifier | Function::Subscriptions) {
        let web = openmic_web::Web::new().map_err(|e| ConfigError::Invalid {
            name: "ALERT_CHANNELS",
            why: openmic_core::errors::Chain(&e).to_string(),
        })?;
        backends.outbound = Some(Arc::new(web));
    }
    Ok(backends)
}

/// What the consumer of `function`'s queue does with a message it gives up on: the
/// queue's dead-letter queue with the reason, and the maintainers told through the
/// function's own mailer where it has one (the notifier), else one made then.
#[cfg(any(feature = "publisher", feature = "notifier", feature = "subscriptions"))]
pub fn dead_letters(
    config: &Arc<Config>,
    aws: &Aws,
    function: Function,
    backends: &Backends,
) -> Result<openmic_aws::batch::DeadLetters, ConfigError> {
    let queue = match function {
        Function::Publisher => "publish",
        Function::Notifier => "alerts",
        _ => "updates",
    };
    aws.dead_letters(config, queue, backends.mailer.clone())
}

/// Answers API Gateway's events with `router` (the function's part of the one route
/// table), one at a time: the webhook and alerts functions.
#[cfg(feature = "intake")]
pub async fn serve(router: axum::Router) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    use openmic_http::apigw::{self, Event};
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let router = router.clone();
        async move {
            Ok::<serde_json::Value, lambda_runtime::Error>(
                apigw::serve(router, event.payload).await,
            )
        }
    }))
    .await
}
