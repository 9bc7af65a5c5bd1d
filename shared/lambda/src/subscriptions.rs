//! The subscriptions function's run: the subscription routes from API Gateway,
//! batches from the updates queue (each update planned, then mailed to subscribers in
//! batches at SES's send rate, and posted to the operators' channels of
//! `UPDATE_CHANNELS`), and SES's bounces and complaints from SNS.

use std::sync::Arc;

use openmic::compose::Backends;
use openmic::config::{Config, ConfigError};
use openmic::subscriptions::Subscriptions;
use openmic_aws::Aws;
use openmic_aws::batch::{DeadLetters, handle_batch};
use openmic_aws::sns::handle_sns;
use openmic_http::apigw;
use openmic_http::invocation::{Invocation, Queues};
use serde_json::{Value, json};

/// The subscriptions function's backends on Lambda: the state bucket, subscribers'
/// mailer and the updates queue (`Aws::subscriptions_backends`), outbound HTTPS for
/// the operators' channels (`UPDATE_CHANNELS`).
pub async fn backends(config: &Arc<Config>, aws: &Aws) -> Result<Backends, ConfigError> {
    let mut backends = aws.subscriptions_backends(config)?;
    let web = openmic_web::Web::new().map_err(|e| {
        openmic::config::alerting::ALERT_CHANNELS.invalid(openmic::errors::Chain(&e).to_string())
    })?;
    backends.outbound = Some(Arc::new(web));
    Ok(backends)
}

/// Handles the function's invocations, one at a time (its routes its part of the one
/// route table, as the local runner serves it); an update given up on goes to `dead`.
pub async fn run(
    subscriptions: Subscriptions,
    dead: DeadLetters,
) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    let subscriptions = Arc::new(subscriptions);
    let routes = openmic_http::subscriptions_router(subscriptions.clone());
    let (subscriptions, dead) = (&subscriptions, &dead);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let routes = routes.clone();
        async move { handle(subscriptions, routes, dead, event.payload).await }
    }))
    .await
}

async fn handle(
    subscriptions: &Subscriptions,
    routes: axum::Router,
    dead: &DeadLetters,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    let queues = Queues {
        updates: subscriptions.config.aws.update_queue_url.as_deref(),
        ..Queues::default()
    };
    match Invocation::parse(event, &queues)? {
        Invocation::Feedback(event) => {
            let handled =
                handle_sns(event, |m| async move { subscriptions.feedback(&m).await }).await?;
            Ok(json!({ "handled": handled }))
        }
        Invocation::Queue { batch, .. } => {
            let response = handle_batch(batch, dead, |body| async move {
                subscriptions.handle(&body).await
            })
            .await;
            Ok(serde_json::to_value(response)?)
        }
        Invocation::Http(event) => Ok(apigw::serve(routes, *event).await),
        Invocation::Job(_) => Err(
            "unknown event: expected an API Gateway request, an SQS batch or SES's feedback from SNS"
                .into(),
        ),
    }
}
