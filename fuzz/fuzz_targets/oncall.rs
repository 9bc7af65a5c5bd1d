//! The on-call file (`OnCall::parse`) and what is read from it: who is on call, shifts,
//! gaps, the iCalendar feed, escalation (checks/oncall.rs). The check is shared with the
//! corpus replay in tests/tests/fuzz_regressions.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/oncall.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
