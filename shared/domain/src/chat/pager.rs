//! What every pager says, whatever its format: the title, for how long (from the
//! message's `since` to its `timestamp`), the text, the facts, and the links, the
//! buttons first: the first of them, an alert's acknowledge link, is the one a pager
//! puts forward (ntfy's `click`, Pushover's `url`, the SMS's one link).

use super::Message;
use super::text::Shown;

/// How long `secs` is, in at most two units: `45s`, `12m`, `2h 5m`, `3d 4h`.
pub(crate) fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// How long what the message tells of had gone on at its time (`12m`), if it says
/// since when.
pub(crate) fn lasting(m: &Message) -> Option<String> {
    let since = m.since?;
    let secs = m.timestamp.signed_duration_since(since).num_seconds();
    Some(duration(secs))
}

/// `Since 2024-03-05 09:48 UTC (12m)`, if the message says since when.
pub(crate) fn since_line(m: &Message) -> Option<String> {
    let since = m.since?;
    let how_long = lasting(m)?;
    Some(format!(
        "Since {} ({how_long})",
        since.format("%Y-%m-%d %H:%M UTC")
    ))
}

/// The links a pager shows: the buttons, then the message's own link, each with its
/// safe target or none.
pub(crate) fn links(m: &Message) -> Vec<Shown<'_>> {
    m.buttons.iter().chain(&m.link).map(Shown::of).collect()
}

/// The label of an incident's call link among a message's buttons (the alert
/// message's template gives it the same).
pub const CALL_LABEL: &str = "Join the call";

/// The incident's call link a message carries, if it has one with a safe target.
pub(crate) fn call(m: &Message) -> Option<String> {
    m.buttons
        .iter()
        .filter(|b| b.label == CALL_LABEL)
        .find_map(|b| Shown::of(b).url)
}

/// The link a pager puts forward: the first of [`links`] with a safe target.
pub(crate) fn action(m: &Message) -> Option<(&str, String)> {
    links(m)
        .into_iter()
        .find_map(|l| l.url.map(|url| (l.label, url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_two_units_at_most() {
        for (secs, want) in [
            (0, "0s"),
            (-5, "0s"),
            (45, "45s"),
            (60, "1m"),
            (12 * 60 + 30, "12m"),
            (3_600, "1h"),
            (2 * 3_600 + 5 * 60, "2h 5m"),
            (86_400, "1d"),
            (3 * 86_400 + 4 * 3_600 + 59, "3d 4h"),
            (i64::MAX, "106751991167300d 15h"),
        ] {
            assert_eq!(duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn the_first_safe_button_is_put_forward() {
        let m = crate::chat::tests::sample();
        assert_eq!(lasting(&m).as_deref(), Some("12m"));
        assert_eq!(
            since_line(&m).as_deref(),
            Some("Since 2024-03-05 09:48 UTC (12m)")
        );
        assert_eq!(
            action(&m),
            Some((
                "Acknowledge",
                "https://api.example.com/alerts/ack?token=abc".to_owned()
            ))
        );
        let mut h = crate::chat::tests::hostile();
        h.buttons.remove(0);
        // Neither `javascript:` nor `data:`: the dashboard's, encoded.
        assert_eq!(action(&h).map(|(l, _)| l), Some("Dashboard"));
        assert_eq!(lasting(&h), None);
    }
}
