//! openmic's embedded backends, on one machine's file system: a bucket is a folder
//! (the same keys as S3), a queue an append-only log, the mailer an outbox of RFC 5322
//! files. `openmic-local` uses them by default.

pub mod local_file;
pub mod outbox;
pub mod queue;
pub mod store;

pub use local_file::LocalFile;
pub use outbox::OutboxMailer;
pub use queue::FsQueue;
pub use store::FsStore;
