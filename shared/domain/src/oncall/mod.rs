//! On call (docs/oncall.md): who is on call, and whom an alert pages until
//! someone answers. The rules are pure; the file in use and the pages go through
//! the ports:
//!
//! - [`file`]: the on-call file (YAML: people, schedules, policies) read and
//!   validated, each problem named with its line;
//! - [`schedule`]: who is on call in a schedule at an instant (layers, restrictions,
//!   overrides, handoffs in local wall-clock time), a person's shifts, coverage gaps;
//! - [`escalation`]: which steps of a policy are due for an alert, and the pages they
//!   send, from a small record kept with the alert;
//! - [`ics`]: a person's shifts as an iCalendar feed;
//! - [`calendar`]: `GET /oncall/<person>.ics?token=`, the signed feed of a person's
//!   shifts;
//! - [`keeper`]: the file in use (`ONCALL_CONFIG`), read again after a push, a file
//!   that does not validate refused and told once;
//! - escalation and shifts told are driven by the notifier
//!   ([`crate::alerts::escalating`], [`crate::alerts::shifts`]).

pub mod calendar;
pub mod escalation;
pub mod file;
pub mod ics;
pub mod keeper;
pub mod schedule;

/// What on call reads.
pub use crate::config::oncall::VARIABLES;

pub use escalation::{AlertState, Escalation, EscalationRecord, Page, Recipient, escalate};
pub use file::{FileError, OnCall};
pub use schedule::{Coverage, Gap, Shift, coverage, gaps, on_call, on_call_now, shifts};
