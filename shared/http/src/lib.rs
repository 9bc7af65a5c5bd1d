//! openmic's HTTP edge: the intake routes (`POST /gitlab`, `POST /alerts`) and the
//! alert links (`GET|POST /alerts/ack`, `/alerts/silence`) for API Gateway events, as
//! the webhook, alerts and notifier functions answer them ([`apigw`]), and on axum, as
//! the local runner serves them beside the site (feature `router`), with API Gateway
//! event files as HTTP requests. What a route does is the domain's
//! (`openmic_intake`, `openmic::alerts::actions`); this crate asks intake whether
//! a request's headers admit it (`openmic_intake::Intake::before_body`: the token or
//! signature headers, the declared size) before it reads or decodes the body, then
//! reads it within `MAX_BODY_BYTES` and answers in JSON (pages for the links).
//!
//! Features: `intake` (the intake routes, on `openmic-intake` only: the webhook and
//! alerts functions), `links` and `subscriptions` (the routes that need the whole
//! domain, `openmic`), `router` (all of them).

pub mod apigw;
pub mod invocation;
#[cfg(feature = "intake")]
mod router;
#[cfg(feature = "intake")]
pub use router::*;
