//! openmic's shared library: the domain (GitLab and alert payloads, incident state,
//! rendering, the alert lifecycle), the ports it talks to, and their adapters.
//!
//! The Lambda functions in `functions/` and the local runner compose these pieces;
//! nothing here reads the environment except [`config::Config::from_env`].

pub mod adapters;
pub mod alerts;
pub mod auth;
pub mod batch;
pub mod config;
pub mod document;
pub mod gitlab;
pub mod gitlab_api;
pub mod incident;
pub mod intake;
pub mod mail;
pub mod message;
pub mod ports;
pub mod projects;
pub mod publisher;
pub mod render;
pub mod site;
pub mod status;
pub mod telemetry;
pub mod templates;
pub mod timefmt;
