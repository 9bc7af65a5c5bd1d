//! Logging: `tracing`, as JSON on Lambda and as text on a terminal.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Starts logging once. JSON when running on Lambda (or `OPENMIC_LOG_FORMAT=json`);
/// the levels from `RUST_LOG` (`debug`, or per target: `info,openmic=debug`; default
/// `info`). An unreadable `RUST_LOG` is said, and `info` used.
pub fn init() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("RUST_LOG={v:?} is not a list of levels ({e}); logging at info");
            Targets::new().with_default(tracing::Level::INFO)
        }),
        _ => Targets::new().with_default(tracing::Level::INFO),
    };
    let json = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        || std::env::var("OPENMIC_LOG_FORMAT").is_ok_and(|v| v == "json");
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .without_time()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
}

/// Stops the process at start with a message that names the problem (a missing or
/// invalid setting, an unreachable resource), with its causes.
pub fn or_exit<T, E: Into<Box<dyn std::error::Error>>>(result: Result<T, E>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            let e = e.into();
            let e = openmic_core::errors::Chain(&*e);
            tracing::error!(error = %e, "cannot start");
            eprintln!("openmic: cannot start: {e}");
            std::process::exit(1);
        }
    }
}
