//! The publisher function: batches from the publish queue; incident state merged, the
//! status bucket brought in line.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use openmic::adapters::aws::Aws;
use openmic::adapters::policy::ConfigAuthorizer;
use openmic::batch::handle_batch;
use openmic::config::Config;
use openmic::publisher::Publisher;
use openmic::telemetry::{self, or_exit};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(or_exit(Config::from_env()));
    let aws = Aws::from_env().await;
    let publisher = Publisher {
        state: Arc::new(or_exit(aws.state_bucket(&config))),
        status: Arc::new(or_exit(aws.status_bucket(&config))),
        authorizer: Arc::new(ConfigAuthorizer::new(config.clone())),
        config,
    };
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(
            handle_batch(event.payload, |body| async move {
                publisher.handle(&body).await
            })
            .await,
        )
    }))
    .await
}
