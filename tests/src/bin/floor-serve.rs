//! The floor of a burst's reply times: a bare axum server answering `POST /gitlab` with
//! 202 and `GET /healthz` with nothing queued, taking the same command line as
//! `openmic-local serve`, so the load driver runs it exactly as it runs openmic.
//!
//! floor-serve serve --listen ADDR [--data-dir DIR]

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let app = Router::new()
        .route(
            "/gitlab",
            post(|body: axum::body::Bytes| async move {
                let _ = body.len();
                (
                    axum::http::StatusCode::ACCEPTED,
                    axum::Json(json!({"queued": 1})),
                )
            }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"queued": 0})) }),
        );
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("--listen {listen}: {e}"));
    println!("floor-serve: listening on http://{listen}");
    axum::serve(listener, app).await.expect("the server runs");
}
