//! The notifier function: batches from the alerts queue; alert records kept, the
//! maintainers mailed (and, with `CREATE_INCIDENTS`, GitLab incident issues opened).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use openmic::alerts::lifecycle::Notifier;
use openmic::config::Function;
use openmic_aws::batch::handle_batch;
use openmic_aws::telemetry::or_exit;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let variables = openmic::variables()
        .chain(openmic_aws::VARIABLES)
        .chain(openmic_gitlab::VARIABLES);
    let (config, aws) = openmic_aws::start(Function::Notifier, variables).await;
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let mailer = Arc::new(or_exit(aws.mailer(&config)));
    let gitlab = or_exit(openmic_gitlab::connect(&config)).map(|g| g.api);
    let notifier = or_exit(Notifier::new(config, state, mailer, gitlab));
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(
            handle_batch(
                event.payload,
                |body| async move { notifier.handle(&body).await },
            )
            .await,
        )
    }))
    .await
}
