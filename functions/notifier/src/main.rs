//! The notifier function: batches from the alerts queue; alert records kept, the
//! maintainers mailed (and, with `CREATE_INCIDENTS`, GitLab incident issues opened).

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use openmic::alerts::lifecycle::Notifier;
use openmic::config::Function;
use openmic_aws::batch::handle_batch;
use openmic_aws::telemetry::or_exit;
use serde_json::{Value, json};

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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(notifier, event.payload).await
    }))
    .await
}

/// A batch from the alerts queue, or the minute's tick (`{"openmic": "tick"}` from
/// EventBridge) that lets go of alerts a maintenance held.
async fn handle(notifier: &Notifier, event: Value) -> Result<Value, lambda_runtime::Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        let response =
            handle_batch(batch, |body| async move { notifier.handle(&body).await }).await;
        return Ok(serde_json::to_value(response)?);
    }
    if event.get("openmic").and_then(Value::as_str) == Some("tick") {
        let mails = notifier.tick().await?;
        return Ok(json!({ "mails": mails }));
    }
    Err("unknown event: expected an SQS batch or {\"openmic\": \"tick\"}".into())
}
