//! What of an issue decides what alerts do: whether it is a maintenance (its
//! `MAINTENANCE_LABEL`), the lines of its description that say when and what it mutes
//! ([`LINES`]: `Window:` and `Mute:`), and its components. Only a publisher's change
//! sets them; the publisher keeps them as a publisher last left them, and an edit by
//! anyone else that changes them waits for a publisher ([`Delivery::differences`]).
//!
//! A line added to [`LINES`] follows the same rule without more code.

use super::window::{self, Window};

/// The description lines that decide alert delivery, by name (any case, optionally
/// bold, as `Name: value`).
pub const LINES: &[&str] = &["window", "mute"];

/// The lines of `description` that decide alert delivery (those [`LINES`] names,
/// outside code blocks, without list markers), one per line, in order. Reading them
/// again gives the same lines, so what is kept reads as the description did.
pub fn lines_of(description: &str) -> String {
    let mut out = String::new();
    for line in window::lines(description) {
        if LINES.iter().any(|n| window::field(line, n).is_some()) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
    out
}

/// What decides alert delivery, named for a person: "its maintenance label, its
/// `Window:` and `Mute:` lines and its `component::` labels".
pub fn what_decides() -> String {
    let lines: Vec<String> = LINES
        .iter()
        .map(|n| format!("`{}:`", capitalised(n)))
        .collect();
    format!(
        "its maintenance label, its {} lines and its `component::` labels",
        lines.join(" and ")
    )
}

/// What decides the alerts of an issue, as read from it at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// It carries `MAINTENANCE_LABEL`.
    pub maintenance: bool,
    /// Its delivery lines ([`lines_of`]).
    pub lines: String,
    /// Its components (`component::` labels), sorted.
    pub components: Vec<String>,
}

impl Delivery {
    /// The delivery of an issue whose description (or its [`lines_of`]) is
    /// `description`.
    pub fn new(maintenance: bool, description: &str, components: Vec<String>) -> Delivery {
        Delivery {
            maintenance,
            lines: lines_of(description),
            components,
        }
    }

    /// The values of the lines named `name`, in order.
    fn values(&self, name: &str) -> Vec<&str> {
        window::lines(&self.lines)
            .filter_map(|l| window::field(l, name))
            .map(str::trim)
            .collect()
    }

    /// Its window, if it is a maintenance whose window can be read.
    pub fn window(&self) -> Option<Window> {
        match self.maintenance {
            true => Window::from_description(&self.lines).ok().flatten(),
            false => None,
        }
    }

    /// Its `Mute:` line.
    pub fn mute(&self) -> Option<String> {
        super::mute_line(&self.lines)
    }

    /// What differs between two deliveries, named for a person: empty when they decide
    /// alerts alike (the same values, however the lines are written).
    pub fn differences(&self, other: &Delivery) -> Vec<String> {
        let mut out = Vec::new();
        // Neither a maintenance: neither mutes anything, whatever its lines say.
        if !self.maintenance && !other.maintenance {
            return out;
        }
        if self.maintenance != other.maintenance {
            out.push("the maintenance label".to_owned());
        }
        for name in LINES {
            if self.values(name) != other.values(name) {
                out.push(format!("the `{}:` line", capitalised(name)));
            }
        }
        if self.components != other.components {
            out.push("the `component::` labels".to_owned());
        }
        out
    }
}

fn capitalised(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_that_decide_and_only_those() {
        let d = "We upgrade.\n\n- **Window:** 2026-12-01T02:00:00Z/PT2H\nOwner: ops\n\
                 ```\nMute: a=\"example\"\n```\nmute: env=\"prod\"\n";
        let lines = lines_of(d);
        assert_eq!(
            lines,
            "**Window:** 2026-12-01T02:00:00Z/PT2H\nmute: env=\"prod\""
        );
        assert_eq!(lines_of(&lines), lines, "read again, the same");
        let kept = Delivery::new(true, &lines, vec!["Database".into()]);
        let read = Delivery::new(true, d, vec!["Database".into()]);
        assert!(kept.differences(&read).is_empty());
        assert_eq!(kept.mute().as_deref(), Some("env=\"prod\""));
        assert!(kept.window().is_some());
        assert!(
            Delivery::new(false, d, vec![]).window().is_none(),
            "no maintenance"
        );
    }

    #[test]
    fn differences_are_in_values_not_in_writing() {
        let a = Delivery::new(
            true,
            "Window: 2026-12-01T02:00:00Z/PT2H\nMute: env=\"prod\"",
            vec!["Database".into()],
        );
        let same = Delivery::new(
            true,
            "Text.\n* **Mute:**   env=\"prod\"\n- window: 2026-12-01T02:00:00Z/PT2H",
            vec!["Database".into()],
        );
        // Order between different lines does not matter; their values do.
        assert!(
            a.differences(&same).is_empty(),
            "{:?}",
            a.differences(&same)
        );
        let wider = Delivery::new(
            false,
            "Window: 2026-12-01T02:00:00Z/P30D\nMute: alertname=~\".*\"",
            vec!["API".into(), "Database".into()],
        );
        assert!(
            Delivery::new(false, "Mute: a=\"b\"", vec![])
                .differences(&Delivery::default())
                .is_empty(),
            "no maintenance either way"
        );
        assert_eq!(
            what_decides(),
            "its maintenance label, its `Window:` and `Mute:` lines and its `component::` labels"
        );
        assert_eq!(
            a.differences(&wider),
            [
                "the maintenance label",
                "the `Window:` line",
                "the `Mute:` line",
                "the `component::` labels"
            ]
        );
    }
}
