//! The alerts function: `POST /alerts` from API Gateway, one queue message per alert.

use std::sync::Arc;

use openmic_core::config::Function::Alerts;
use openmic_intake::Intake;
use openmic_lambda::or_exit;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // What intake reads: no other capability's setting is required of this function.
    let variables = openmic_intake::VARIABLES
        .iter()
        .chain(openmic_aws::VARIABLES);
    let (config, aws) = openmic_aws::start(Alerts, variables).await;
    let backends = or_exit(aws.intake_backends(&config, Alerts));
    let intake = or_exit(Intake::compose(config, &backends));
    openmic_lambda::serve(openmic_http::router(Arc::new(intake))).await
}
