//! The publisher function's run: batches from the publish queue (incident state
//! merged, the status bucket brought in line), the scheduled resync of every published
//! incident (`{"openmic": "resync"}` from EventBridge), the minute's tick that moves
//! maintenances to their stage (`{"openmic": "tick"}`), and the site rendered again
//! each day so its history moves on (`{"openmic": "render"}`).

use std::sync::Arc;

use openmic::compose::Backends;
use openmic::config::{Config, ConfigError};
use openmic::publishing::Publisher;
use openmic_aws::Aws;
use openmic_aws::batch::{DeadLetters, handle_batch};
use openmic_http::invocation::{Invocation, Job, Queues};
use serde_json::{Value, json};

/// The publisher's backends on Lambda: its buckets and queue
/// (`Aws::publisher_backends`), and GitLab's API where configured, its token's scopes
/// checked first (a token nobody could publish with stops the function).
pub async fn backends(config: &Arc<Config>, aws: &Aws) -> Result<Backends, ConfigError> {
    let mut backends = aws.publisher_backends(config)?;
    backends.gitlab = openmic_gitlab::connect(config)?;
    openmic_gitlab::check_token_at_start(config).await?;
    Ok(backends)
}

/// Handles the function's invocations, one at a time; a message given up on goes to
/// `dead`.
pub async fn run(publisher: Publisher, dead: DeadLetters) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
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
        publish: publisher.config.aws.publish_queue_url.as_deref(),
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
