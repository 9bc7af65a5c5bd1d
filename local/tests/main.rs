//! `openmic-local` as a user runs it, one module a file, built as one test binary
//! (tests/tests/main.rs checks that every file here is a module).

mod backup;
mod crash;
mod poison;
mod start;
