//! The subscription routes' forms, JSON bodies and query strings, and the alert
//! links' queries (checks/form.rs). The check is shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/form.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
