//! On call (docs/oncall.md): who is on call, and whom an alert pages until
//! someone answers. Pure rules, no I/O:
//!
//! - [`file`]: the on-call file (YAML: people, schedules, policies) read and
//!   validated, each problem named with its line;
//! - [`schedule`]: who is on call in a schedule at an instant (layers, restrictions,
//!   overrides, handoffs in local wall-clock time), a person's shifts, coverage gaps;
//! - [`escalation`]: which steps of a policy are due for an alert, and the pages they
//!   send, from a small record kept with the alert;
//! - [`ics`]: a person's shifts as an iCalendar feed.

pub mod escalation;
pub mod file;
pub mod ics;
pub mod schedule;

pub use escalation::{AlertState, Escalation, EscalationRecord, Page, Recipient, escalate};
pub use file::{FileError, OnCall};
pub use schedule::{Gap, Shift, gaps, on_call, on_call_now, shifts};
