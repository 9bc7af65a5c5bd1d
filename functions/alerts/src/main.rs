//! The alerts function: `POST /alerts` from API Gateway, one queue message per alert.

use std::sync::Arc;

use openmic::intake::Intake;
use openmic_aws::telemetry::or_exit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, aws) = openmic_aws::start().await;
    or_exit(config.require(&["ALERT_TOKEN"]));
    let queue = Arc::new(or_exit(aws.alert_queue(&config)));
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let intake = or_exit(Intake::new(config, None, Some(queue), Some(state)));
    lambda_http::run(openmic_http::router(Arc::new(intake))).await
}
