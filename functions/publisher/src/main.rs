//! The publisher function: batches from the publish queue, the scheduled resync, the
//! minute's tick of maintenances and the daily rendering (`openmic_lambda::publisher`).
//! With the updates queue, each public change is queued for the subscriptions function.

use openmic::config::Function::Publisher as Function;
use openmic::publishing::Publisher;
use openmic_lambda::or_exit;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let variables = openmic::variables()
        .chain(openmic_aws::VARIABLES)
        .chain(openmic_gitlab::VARIABLES);
    let (config, aws) = openmic_aws::start(Function, variables).await;
    let backends = or_exit(openmic_lambda::publisher::backends(&config, &aws).await);
    let dead = or_exit(openmic_lambda::dead_letters(
        &config, &aws, Function, &backends,
    ));
    let publisher = or_exit(Publisher::compose(config, &backends));
    openmic_lambda::publisher::run(publisher, dead).await
}
