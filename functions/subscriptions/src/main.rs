//! The subscriptions function: the subscription routes from API Gateway, batches
//! from the updates queue (each update planned, then mailed to subscribers in
//! batches at SES's send rate, and posted to the operators' channels of
//! `UPDATE_CHANNELS`), and SES's bounces and complaints from SNS.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use openmic::config::Function;
use openmic::ports::Queue;
use openmic::subscriptions::Subscriptions;
use openmic_aws::batch::{DeadLetters, handle_batch};
use openmic_aws::sns::handle_sns;
use openmic_aws::telemetry::or_exit;
use openmic_http::apigw;
use openmic_http::invocation::{Invocation, Queues};
use serde_json::{Value, json};

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let variables = openmic::variables().chain(openmic_aws::VARIABLES);
    let (config, aws) = openmic_aws::start(Function::Subscriptions, variables).await;
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let mailer = Arc::new(or_exit(aws.subscription_mailer(&config)));
    let queue = match config.subscriptions {
        true => Some(Arc::new(or_exit(aws.update_queue(&config))) as Arc<dyn Queue>),
        false => None,
    };
    // The operators' channels (UPDATE_CHANNELS) are reached over HTTPS.
    let web = Arc::new(or_exit(openmic_web::Web::new()));
    // An update given up on goes to the updates queue's dead-letter queue with its
    // reason, and the maintainers are told (clients made only then).
    let dead = or_exit(aws.dead_letters(&config, "updates", None));
    let subscriptions = or_exit(
        Subscriptions::new(config, state, mailer, queue).and_then(|s| s.with_channels(web)),
    );
    let subscriptions = Arc::new(subscriptions);
    // Its part of the one route table, as the local runner serves it.
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
        updates: subscriptions.config.update_queue_url.as_deref(),
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
