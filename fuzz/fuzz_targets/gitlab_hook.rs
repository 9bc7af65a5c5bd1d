//! GitLab hook bodies: `Hook::parse` with each `X-Gitlab-Event` value openmic accepts
//! (and none, and one it does not), then what the publisher does with a parsed hook:
//! the merge into a fresh incident state (applying it twice changes nothing), the
//! state's JSON round trip (the publisher stores it and reads it back), and the public
//! rendering.
//!
//! Input: the first byte picks the event header, the rest is the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use openmic::intake::hooks::{ACCEPTED_EVENTS, Hook, HookError};
use openmic::publishing::incident::{IncidentState, Labels, Verdict};

const LABELS: Labels = Labels {
    publish: "status-page",
    maintenance: "maintenance",
};

/// The event for a selector byte: the five accepted values, none, or a foreign one.
fn event(selector: u8) -> Option<&'static str> {
    match selector % 8 {
        i @ 0..=4 => Some(ACCEPTED_EVENTS[i as usize]),
        5 => None,
        6 => Some("Push Hook"),
        _ => Some("issue hook"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let event = event(selector);
    let hook = match Hook::parse(event, body) {
        Ok(hook) => hook,
        Err(HookError::Ignored(_) | HookError::Malformed(_)) => return,
    };
    assert!(
        event.is_none_or(|e| ACCEPTED_EVENTS.contains(&e)),
        "parsed a hook for the event {event:?}"
    );
    // Everything intake and the publisher ask of a parsed hook.
    let iid = hook.iid();
    let project = hook.project_id();
    let _ = &hook.user().username;

    for verdict in [
        Verdict::default(),
        Verdict {
            may_publish: true,
            trusted_microphone: true,
        },
    ] {
        let mut once = IncidentState::new(iid, project);
        once.merge(&hook, event, LABELS, verdict);
        let mut twice = once.clone();
        twice.merge(&hook, event, LABELS, verdict);
        assert_eq!(
            once, twice,
            "merging the same event twice changed the state"
        );

        let json = serde_json::to_vec(&once).expect("state serialises");
        let back: IncidentState = serde_json::from_slice(&json).expect("state reads back");
        assert_eq!(back, once, "the state's JSON round trip changed it");

        let published = once.published();
        let _ = once.published_notes();
        if once.issue.as_ref().is_some_and(|i| i.confidential) {
            assert!(!published, "a confidential issue is published");
            assert!(once.published_notes().is_empty());
        }
        if published
            && let Some(r) =
                openmic::publishing::public::render_incident(
                    &once,
                    once.iid,
                    Some("https://gitlab.example.com"),
                    None,
                )
        {
            let json = serde_json::to_string(&r.incident).expect("incident serialises");
            assert!(
                !json.to_ascii_lowercase().contains("<script"),
                "a script in the public incident: {json}"
            );
        }
    }
});
