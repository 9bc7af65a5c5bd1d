//! The webhook function: `POST /gitlab` from API Gateway, checked and queued.

use std::sync::Arc;

use openmic::intake::Intake;
use openmic_aws::telemetry::or_exit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, aws) = openmic_aws::start().await;
    or_exit(config.require(&["GITLAB_WEBHOOK_SECRET", "GITLAB_PROJECT_ID"]));
    let queue = Arc::new(or_exit(aws.publish_queue(&config)));
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let intake = or_exit(Intake::new(config, Some(queue), None, Some(state)));
    lambda_http::run(openmic_http::router(Arc::new(intake))).await
}
