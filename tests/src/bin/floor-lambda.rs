//! The floor of a function's cold start and memory: the least a Rust Lambda function
//! can be, `lambda_runtime` answering every event with a fixed 202. `scripts/perf`
//! starts it as it starts the four functions and gives their figures beside its own.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, lambda_runtime::Error>(json!({
            "statusCode": 202,
            "headers": {"content-type": "application/json"},
            "body": "{\"queued\":1}",
            "isBase64Encoded": false,
        }))
    }))
    .await
}
