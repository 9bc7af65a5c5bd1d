//! The subscriptions function: the subscription routes from API Gateway, batches from
//! the updates queue and SES's bounces and complaints from SNS
//! (`openmic_lambda::subscriptions`).

use openmic::config::Function::Subscriptions as Function;
use openmic::subscriptions::Subscriptions;
use openmic_lambda::or_exit;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let variables = openmic::variables().chain(openmic_aws::VARIABLES);
    let (config, aws) = openmic_aws::start(Function, variables).await;
    let backends = or_exit(openmic_lambda::subscriptions::backends(&config, &aws).await);
    let dead = or_exit(openmic_lambda::dead_letters(
        &config, &aws, Function, &backends,
    ));
    let subscriptions = or_exit(Subscriptions::compose(config, &backends));
    openmic_lambda::subscriptions::run(subscriptions, dead).await
}
