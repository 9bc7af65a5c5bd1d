//! openmic's vocabulary, below every feature and adapter: time, ids, configuration,
//! errors, signatures, mail and queue messages (and how one is consumed), and the ports through which the domain
//! (`openmic`) talks to the world. No I/O here.

pub mod clock;
pub mod compose;
pub mod config;
pub mod consumer;
pub mod document;
pub mod errors;
pub mod gitlab;
pub mod html;
pub mod ids;
pub mod mail;
/// In-memory adapters of the ports, for tests (feature `memory`: the tests and the
/// local runner's enable it; no Lambda function compiles them).
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod message;
pub mod ports;
pub mod reply;
pub mod signing;
pub mod time;
