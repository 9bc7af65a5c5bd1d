//! Logging: `tracing`, as JSON on Lambda and as text on a terminal.

use tracing_subscriber::EnvFilter;

/// Starts logging once. JSON when running on Lambda (or `OPENMIC_LOG_FORMAT=json`);
/// the level from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var("OPENMIC_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

/// Stops the process at start with a message that names the problem (a missing or
/// invalid setting, an unreachable resource).
pub fn or_exit<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("openmic: cannot start: {e}");
            std::process::exit(1);
        }
    }
}
