//! openmic's HTTP edge: the intake routes (`POST /gitlab`, `POST /alerts`) and the
//! alert links (`GET|POST /alerts/ack`, `/alerts/silence`) for API Gateway events, as
//! the webhook, alerts and notifier functions answer them ([`apigw`]), and on axum, as
//! the local runner serves them beside the site (feature `router`), with API Gateway
//! event files as HTTP requests. What a route does is the domain's
//! ([`openmic::intake`], [`openmic::alerts::actions`]); this crate asks intake whether
//! a request's headers admit it ([`openmic::intake::Intake::before_body`]: the token or
//! signature headers, the declared size) before it reads or decodes the body, then
//! reads it within `MAX_BODY_BYTES` and answers in JSON (pages for the links).

pub mod apigw;
pub mod invocation;
#[cfg(feature = "router")]
mod router;
#[cfg(feature = "router")]
pub use router::*;
