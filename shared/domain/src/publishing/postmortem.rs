//! The postmortem: after an incident is closed, a note whose first line is a heading
//! `Postmortem` (`# Postmortem`, `## Post-mortem: API errors`, …) and that a publisher
//! marked with 🎤 becomes the incident's postmortem: its own section on the page, not a
//! comment.
//!
//! Such a note is never an ordinary published comment. While the incident is open it
//! is held: nothing of it is public until the issue is closed, and then (its 🎤 still
//! standing) it appears as the postmortem. A reopened incident shows no postmortem
//! until it is closed again. Of several, the latest note is the postmortem. Only a
//! publisher's 🎤 counts (`PUBLISHERS`, or `PUBLISH_MIN_ACCESS` with API access),
//! whatever `MICROPHONE_TRUST` says.
//!
//! Or the postmortem is written as an issue of its own, labelled `postmortem` and
//! linked to the incident (GitLab's issue links): a publisher's 🎤 on that issue makes
//! its description the incident's postmortem, the same way, as if it were such a note
//! (with API access, which reads the issue and its links when the award comes).
//!
//! This module reads a note's text and tells a postmortem issue; `linked`
//! takes such an issue for the incidents it is linked to; which note is the
//! postmortem is [`super::incident::IncidentState::postmortem`].

use crate::gitlab::ApiIssue;

/// The label of an issue that is the postmortem of the incidents it is linked to.
pub const LABEL: &str = "postmortem";

/// The names a postmortem's heading may carry, compared without case.
const NAMES: [&str; 3] = ["postmortem", "post-mortem", "post mortem"];

/// The text of an ATX heading line (`#` to `######`, then a space), without its
/// closing `#`s.
fn heading(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let line = &line[indent..];
    let hashes = line.len() - line.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim_end())
}

/// Whether a heading's text names a postmortem: one of [`NAMES`], alone or followed by
/// `:` or a dash and more words.
fn names_postmortem(text: &str) -> bool {
    NAMES.iter().any(|name| {
        let Some(head) = text.get(..name.len()) else {
            return false;
        };
        if !head.eq_ignore_ascii_case(name) {
            return false;
        }
        let rest = &text[name.len()..];
        rest.is_empty() || rest.starts_with(':') || rest.trim_start().starts_with(['-', '–', '—'])
    })
}

/// Whether a note's first line (blank lines skipped) is a `Postmortem` heading.
pub fn is_postmortem(body: &str) -> bool {
    body.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(heading)
        .is_some_and(names_postmortem)
}

/// What a postmortem publishes: the note without its heading line (the page gives the
/// section its own heading).
pub fn text(body: &str) -> &str {
    let mut rest = body;
    while let Some((line, after)) = rest.split_once('\n') {
        if line.trim().is_empty() {
            rest = after;
            continue;
        }
        return after;
    }
    // The heading alone.
    ""
}

/// Whether `issue` is a postmortem of its own: labelled `postmortem` (any case).
pub fn is_postmortem_issue(issue: &ApiIssue) -> bool {
    issue.labels.iter().any(|l| l.eq_ignore_ascii_case(LABEL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postmortem_begins_with_its_heading() {
        for yes in [
            "# Postmortem\n\nWhat happened.",
            "## postmortem",
            "\n\n### Post-mortem: API errors on 1 March\ntext",
            "# Post mortem — the database\n",
            "  # Postmortem #",
            "###### POSTMORTEM",
        ] {
            assert!(is_postmortem(yes), "{yes:?}");
        }
        for no in [
            "Postmortem",
            "#Postmortem",
            "    # Postmortem",
            "####### Postmortem",
            "# Postmortems are due",
            "# The postmortem",
            "Update\n# Postmortem",
            "```\n# Postmortem\n```",
            "",
            "# Pöstmortem",
            "# é",
        ] {
            assert!(!is_postmortem(no), "{no:?}");
        }
    }

    #[test]
    fn its_text_is_what_follows_the_heading() {
        assert_eq!(text("# Postmortem\n\nWhat happened."), "\nWhat happened.");
        assert_eq!(text("\n# Postmortem\nA\nB"), "A\nB");
        assert_eq!(text("# Postmortem"), "");
    }
}
