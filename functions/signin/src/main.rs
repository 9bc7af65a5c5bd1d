//! The sign-in function: `GET /login`, `/callback`, `/logout` for audience pages
//! (`AUDIENCES`), through CloudFront on the status page's host; a reader whose GitLab
//! groups grant audiences gets CloudFront's signed cookies for their prefixes
//! (`openmic_lambda::signin`). The pages themselves cost no invocation.

use openmic_core::config::Config;
use openmic_core::config::Function::Signin as Function;
use openmic_lambda::or_exit;

// One event at a time: the single-threaded runtime is all a function needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, aws) = openmic_aws::start(Function, Config::variables()).await;
    let signin = or_exit(openmic_lambda::signin::sign_in(&config, &aws).await);
    openmic_lambda::signin::run(signin).await
}
