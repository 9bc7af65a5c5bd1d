//! Adapters for the ports.

pub mod aws;
pub mod fs;
pub mod fs_queue;
pub mod policy;
