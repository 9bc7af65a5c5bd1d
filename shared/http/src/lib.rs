//! openmic's HTTP edge: the intake routes (`POST /gitlab`, `POST /alerts`) for API
//! Gateway events, as the webhook and alerts functions answer them ([`apigw`]), and on
//! axum, as the local runner serves them beside the site (feature `router`), with API
//! Gateway event files as HTTP requests. What a route does with a delivery is the
//! domain's ([`openmic::intake`]); this crate reads the body within `MAX_BODY_BYTES`
//! and answers in JSON.

pub mod apigw;
#[cfg(feature = "router")]
mod router;
#[cfg(feature = "router")]
pub use router::*;
