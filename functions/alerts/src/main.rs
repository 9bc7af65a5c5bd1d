//! The alerts function: `POST /alerts` from API Gateway, one queue message per alert.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use openmic_aws::telemetry::or_exit;
use openmic_core::config::Function;
use openmic_http::apigw::{self, Event};
use openmic_intake::Intake;
use serde_json::Value;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // What intake reads: no other capability's setting is required of this function.
    let variables = openmic_intake::VARIABLES
        .iter()
        .chain(openmic_aws::VARIABLES);
    let (config, aws) = openmic_aws::start(Function::Alerts, variables).await;
    let queue = Arc::new(or_exit(aws.alert_queue(&config)));
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let intake = or_exit(Intake::new(config, None, Some(queue), Some(state)));
    // Its part of the one route table, as the local runner serves it.
    let router = openmic_http::router(Arc::new(intake));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let router = router.clone();
        async move { Ok::<Value, lambda_runtime::Error>(apigw::serve(router, event.payload).await) }
    }))
    .await
}
