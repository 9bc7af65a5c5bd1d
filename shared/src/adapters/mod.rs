//! Adapters for the ports.

pub mod fs;
pub mod aws;
pub mod fs_queue;
pub mod policy;
