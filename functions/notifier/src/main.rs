//! The notifier function: batches from the alerts queue (alerts and chat jobs), the
//! alert links and the chat routes from API Gateway and the minute's tick of held
//! alerts and digests (`openmic_lambda::notifier`).

use openmic::alerts::actions::Actions;
use openmic::alerts::lifecycle::Notifier;
use openmic::chatops::Commands;
use openmic::config::Function::Notifier as Function;
use openmic_lambda::or_exit;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let variables = openmic::variables()
        .chain(openmic_aws::VARIABLES)
        .chain(openmic_gitlab::VARIABLES);
    let (config, aws) = openmic_aws::start(Function, variables).await;
    let backends = or_exit(openmic_lambda::notifier::backends(&config, &aws).await);
    let dead = or_exit(openmic_lambda::dead_letters(
        &config, &aws, Function, &backends,
    ));
    let actions = or_exit(Actions::compose(config.clone(), &backends));
    let commands = or_exit(Commands::compose(config.clone(), &backends));
    let notifier = or_exit(Notifier::compose(config, &backends));
    openmic_lambda::notifier::run(notifier, actions, commands, dead).await
}
