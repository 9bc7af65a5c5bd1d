//! The notifier function: batches from the alerts queue (alert records kept, notices
//! sent to their channels, and with `CREATE_INCIDENTS` GitLab incident issues opened),
//! the alert links from API Gateway (`GET|POST /alerts/ack`, `/alerts/silence`), and
//! the minute's tick (`{"openmic": "tick"}` from EventBridge) that lets go of alerts a
//! maintenance held and sends storms' digests. Which one an event is, its shape says.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use openmic::alerts::actions::Actions;
use openmic::alerts::lifecycle::Notifier;
use openmic::config::Function;
use openmic::ports::Mailer;
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
    let (config, aws) = openmic_aws::start(Function::Notifier, variables).await;
    let state = Arc::new(or_exit(aws.state_bucket(&config)));
    let mailer = Arc::new(or_exit(aws.mailer(&config)));
    // A message given up on goes to the alerts queue's dead-letter queue with its
    // reason, and the maintainers are told through the same mailer.
    let dead =
        or_exit(aws.dead_letters(&config, "alerts", Some(mailer.clone() as Arc<dyn Mailer>)));
    let gitlab = or_exit(openmic_gitlab::connect(&config)).map(|g| g.api);
    // What GITLAB_TOKEN cannot do is logged, in the background.
    let checked = config.clone();
    tokio::spawn(async move { openmic_gitlab::check_token(&checked).await });
    let web = Arc::new(or_exit(openmic_web::Web::new()));
    let actions = Actions::new(config.clone(), state.clone(), gitlab.clone());
    // Its part of the one route table (the alert links), as the local runner serves it.
    let links = openmic_http::links_router(Arc::new(actions));
    // SMS channels and contact methods go through SNS (the client is made here, used
    // only when one pages).
    let notifier = or_exit(Notifier::new(config, state, mailer, gitlab, Some(web)))
        .with_sms(Arc::new(aws.sms()));
    let (notifier, dead) = (&notifier, &dead);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let links = links.clone();
        async move { handle(notifier, links, dead, event.payload).await }
    }))
    .await
}

async fn handle(
    notifier: &Notifier,
    links: axum::Router,
    dead: &DeadLetters,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    let queues = Queues {
        alerts: notifier.config.alert_queue_url.as_deref(),
        ..Queues::default()
    };
    match Invocation::parse(event, &queues)? {
        Invocation::Queue { batch, .. } => {
            let response = handle_batch(batch, dead, |body| async move {
                notifier.handle(&body).await
            })
            .await;
            Ok(serde_json::to_value(response)?)
        }
        Invocation::Http(event) => Ok(openmic_http::apigw::serve(links, *event).await),
        Invocation::Job(Job::Tick) => {
            let t = notifier.tick().await?;
            Ok(
                json!({ "released": t.released, "mails": t.sent.mails, "messages": t.sent.messages, "digests": t.digests }),
            )
        }
        Invocation::Job(_) | Invocation::Feedback(_) => Err(
            "unknown event: expected an SQS batch, an API Gateway request or {\"openmic\": \"tick\"}"
                .into(),
        ),
    }
}
