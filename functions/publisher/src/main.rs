//! The publisher function: batches from the publish queue (incident state merged, the
//! status bucket brought in line), the scheduled resync of every published incident
//! (`{"openmic": "resync"}` from EventBridge), the minute's tick that moves
//! maintenances to their stage (`{"openmic": "tick"}`), and the site rendered again
//! each day so its history moves on (`{"openmic": "render"}`). With
//! the updates queue, each public change is queued for the subscriptions function.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use openmic::config::Function;
use openmic::publishing::Publisher;
use openmic_aws::batch::{DeadLetters, handle_batch};
use openmic_aws::telemetry::or_exit;
use openmic_http::invocation::{Invocation, Job, Queues};
use serde_json::{Value, json};

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let variables = openmic::variables()
        .chain(openmic_aws::VARIABLES)
        .chain(openmic_gitlab::VARIABLES);
    let (config, aws) = openmic_aws::start(Function::Publisher, variables).await;
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let status = Arc::new(or_exit(aws.status_bucket(&config)));
    let gitlab = or_exit(openmic_gitlab::connect(&config));
    // What GITLAB_TOKEN cannot do is logged; a token nobody could publish with stops it.
    or_exit(openmic_gitlab::check_token_at_start(&config).await);
    // What becomes public is queued for the subscriptions function, which mails
    // subscribers (SUBSCRIPTIONS=on) and posts to the operators' channels
    // (UPDATE_CHANNELS); with neither, it drops the message.
    let updates = config
        .update_queue_url
        .is_some()
        .then(|| Arc::new(or_exit(aws.update_queue(&config))));
    // A message given up on goes to the publish queue's dead-letter queue with its
    // reason, and the maintainers are told (clients made only then).
    let dead = or_exit(aws.dead_letters(&config, "publish", None));
    let mut publisher = Publisher::new(config, state, status, gitlab);
    if let Some(queue) = updates {
        publisher = publisher.with_updates(queue);
    }
    let (publisher, dead) = (&publisher, &dead);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Stop resyncing 10 s before the function's own deadline.
        let left = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let deadline =
            std::time::Instant::now() + left.saturating_sub(std::time::Duration::from_secs(10));
        handle(publisher, dead, event.payload, deadline).await
    }))
    .await
}

async fn handle(
    publisher: &Publisher,
    dead: &DeadLetters,
    event: Value,
    deadline: std::time::Instant,
) -> Result<Value, lambda_runtime::Error> {
    let queues = Queues {
        publish: publisher.config.publish_queue_url.as_deref(),
        ..Queues::default()
    };
    match Invocation::parse(event, &queues)? {
        Invocation::Queue { batch, .. } => {
            let response = handle_batch(batch, dead, |body| async move {
                publisher.handle(&body).await
            })
            .await;
            Ok(serde_json::to_value(response)?)
        }
        Invocation::Job(Job::Tick) => {
            let moved = publisher.tick().await?;
            Ok(json!({ "moved": moved }))
        }
        Invocation::Job(Job::Resync) => {
            let results = publisher.resync_published_until(Some(deadline)).await?;
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            Ok(json!({ "resynced": results.len() - failed, "failed": failed }))
        }
        Invocation::Job(Job::Render) => {
            publisher.check_layout().await?;
            publisher.write_list().await?;
            Ok(json!({ "rendered": true }))
        }
        Invocation::Http(_) | Invocation::Feedback(_) => Err(
            "unknown event: expected an SQS batch, {\"openmic\": \"resync\"}, {\"openmic\": \"tick\"} or {\"openmic\": \"render\"}".into(),
        ),
    }
}
