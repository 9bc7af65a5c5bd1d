//! The Lambda functions' edge: a function's `main` is its configuration
//! (`openmic_aws::start`), its backends (`Aws::intake_backends`, or its module's
//! `backends`: its AWS clients, GitLab's API, outbound HTTPS), the one composition of its
//! capabilities (`Intake::compose`, `Publisher::compose`, …, the same the local
//! runner's `App::compose` calls), and its run here: the one invocation
//! (`openmic_http::invocation`) dispatched to them.
//!
//! Features, one per function kind, so each compiles only what it runs: `intake` (the
//! webhook and alerts functions, on `openmic-intake` alone), `publisher`, `notifier`,
//! `subscriptions`, `signin` (the sign-in to audience pages, on `openmic-gitlab`'s
//! OpenID Connect and `openmic-aws`'s CloudFront cookies, nothing of `openmic`).

pub use openmic_aws::telemetry::or_exit;
#[cfg(any(feature = "publisher", feature = "notifier", feature = "subscriptions"))]
use {
    openmic_aws::Aws,
    openmic_core::compose::Backends,
    openmic_core::config::{Config, ConfigError, Function},
    std::sync::Arc,
};

#[cfg(feature = "notifier")]
pub mod notifier;
#[cfg(feature = "publisher")]
pub mod publisher;
#[cfg(feature = "signin")]
pub mod signin;
#[cfg(feature = "subscriptions")]
pub mod subscriptions;

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
/// table), one at a time: the webhook, alerts and sign-in functions.
#[cfg(any(feature = "intake", feature = "signin"))]
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
