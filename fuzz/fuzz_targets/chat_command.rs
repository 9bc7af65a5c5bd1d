//! `/incident` commands as typed in Slack and Mattermost, the chat routes' bodies and
//! headers, `CHAT_USERS`, `INCIDENT_SLA` and `Bridge:` lines (checks/chat_command.rs).
//! The check is shared with the corpus replay in tests/tests/fuzz_regressions.rs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/chat_command.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
