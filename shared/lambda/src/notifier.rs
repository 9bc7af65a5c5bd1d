//! The notifier function's run: batches from the alerts queue (alert records kept,
//! notices sent to their channels, and with `CREATE_INCIDENTS` GitLab incident issues
//! opened), the alert links from API Gateway (`GET|POST /alerts/ack`,
//! `/alerts/silence`), and the minute's tick (`{"openmic": "tick"}` from EventBridge)
//! that lets go of alerts a maintenance held and sends storms' digests.

use std::sync::Arc;

use openmic::alerts::actions::Actions;
use openmic::alerts::lifecycle::Notifier;
use openmic::chatops::Commands;
use openmic::compose::Backends;
use openmic::config::{Config, ConfigError};
use openmic_aws::Aws;
use openmic_aws::batch::{DeadLetters, handle_batch};
use openmic_http::invocation::{Invocation, Job, Queues};
use serde_json::{Value, json};

/// The notifier's backends on Lambda: the state bucket, the maintainers' mailer and
/// the queues chat jobs and notes published from chat go on
/// (`Aws::notifier_backends`), GitLab's API where configured (what its token cannot do
/// logged, in the background), outbound HTTPS for chat and webhook channels.
pub async fn backends(config: &Arc<Config>, aws: &Aws) -> Result<Backends, ConfigError> {
    let mut backends = aws.notifier_backends(config)?;
    backends.gitlab = openmic_gitlab::connect(config)?;
    let checked = config.clone();
    tokio::spawn(async move { openmic_gitlab::check_token(&checked).await });
    let web = openmic_web::Web::new().map_err(|e| {
        openmic::config::alerting::ALERT_CHANNELS.invalid(openmic::errors::Chain(&e).to_string())
    })?;
    backends.outbound = Some(Arc::new(web));
    Ok(backends)
}

/// Handles the function's invocations, one at a time: the alert links with `actions`
/// (its part of the one route table, as the local runner serves it); a message given
/// up on goes to `dead`.
pub async fn run(
    notifier: Notifier,
    actions: Actions,
    commands: Commands,
    dead: DeadLetters,
) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    let commands = Arc::new(commands);
    let links = openmic_http::links_router(Arc::new(actions), commands.clone());
    let (notifier, commands, dead) = (&notifier, &commands, &dead);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let links = links.clone();
        async move { handle(notifier, commands, links, dead, event.payload).await }
    }))
    .await
}

async fn handle(
    notifier: &Notifier,
    commands: &Commands,
    links: axum::Router,
    dead: &DeadLetters,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    let queues = Queues {
        alerts: notifier.config.aws.alert_queue_url.as_deref(),
        ..Queues::default()
    };
    match Invocation::parse(event, &queues)? {
        Invocation::Queue { batch, .. } => {
            // One queue, two kinds of message: alerts, and chat jobs.
            let response = handle_batch(batch, dead, |body| async move {
                match openmic::chatops::is_chat_job(&body) {
                    true => commands.handle(&body, notifier).await.map(|w| format!("{w:?}")),
                    false => notifier.handle(&body).await.map(|o| format!("{o:?}")),
                }
            })
            .await;
            Ok(serde_json::to_value(response)?)
        }
        Invocation::Http(event) => Ok(openmic_http::apigw::serve(links, *event).await),
        Invocation::Job(Job::Tick) => {
            let t = notifier.tick().await?;
            Ok(
                json!({ "released": t.released, "mails": t.sent.mails, "messages": t.sent.messages, "digests": t.digests, "pages": t.pages }),
            )
        }
        Invocation::Job(_) | Invocation::Feedback(_) => Err(
            "unknown event: expected an SQS batch, an API Gateway request or {\"openmic\": \"tick\"}"
                .into(),
        ),
    }
}
