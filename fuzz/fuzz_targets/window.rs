//! `Window:` lines and the descriptions around them: `Window::parse_line` and
//! `Window::from_description` (checks/window.rs). The check is shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/window.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
