//! Adapters for the ports.

pub mod fs;
pub mod fs_queue;
pub mod policy;
