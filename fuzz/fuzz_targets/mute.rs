//! `Mute:` matchers against an alert, and a maintenance's `Window:` and `Mute:`
//! lines through the publisher's reading path to the notifier's holding of alerts
//! (checks/mute.rs). The check is shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/mute.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
