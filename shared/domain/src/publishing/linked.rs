//! A postmortem written as an issue of its own ([`super::postmortem`]): a 🎤 on an
//! issue labelled `postmortem` makes its description, as a postmortem note, the
//! linked postmortem of each incident the issue is linked to (GitLab's issue links,
//! read through the API when the award's webhook comes).

use super::Publisher;
use super::incident::{AwardState, IncidentState, MICROPHONE, NoteState, Verdict};
use super::postmortem::is_postmortem_issue;
use super::resync::api_err;
use crate::document;
use crate::errors::ProcessError;
use crate::gitlab::ApiIssue;
use crate::ids::IncidentId;
use crate::intake::hooks::EmojiHook;

impl IncidentState {
    /// Takes `issue` (a postmortem of its own, linked to this incident) as a
    /// postmortem note carrying `by`'s 🎤 on it, `award`: of two of the same user's,
    /// the later; another issue taken before is replaced.
    pub fn take_linked_postmortem(&mut self, issue: &ApiIssue, by: &str, award: AwardState) {
        let mut microphones = self
            .linked_postmortem
            .take()
            .filter(|n| n.id == issue.id)
            .map(|n| n.microphones)
            .unwrap_or_default();
        let slot = microphones
            .entry(by.to_owned())
            .or_insert_with(|| award.clone());
        if (award.at, !award.awarded) > (slot.at, !slot.awarded) {
            *slot = award;
        }
        self.linked_postmortem = Some(NoteState {
            id: issue.id,
            body: format!(
                "# Postmortem\n\n{}",
                issue.description.as_deref().unwrap_or_default()
            ),
            created_at: issue.created_at,
            updated_at: issue.updated_at,
            system: false,
            internal: issue.confidential,
            microphones,
        });
    }
}

impl Publisher {
    /// A 🎤 given (or taken back) on issue `on`: where it is a postmortem of its own,
    /// it is taken by each incident it is linked to that openmic keeps, and those
    /// incidents are applied again. Needs API access; without, nothing.
    pub(super) async fn linked_postmortem(
        &self,
        on: IncidentId,
        hook: &EmojiHook,
        verdict: Verdict,
    ) -> Result<(), ProcessError> {
        let award = &hook.object_attributes;
        let on_issue = matches!(award.awardable_type.as_str(), "Issue" | "WorkItem");
        let Some(api) = self
            .gitlab
            .as_ref()
            .filter(|_| on_issue && award.name == MICROPHONE)
        else {
            return Ok(());
        };
        let Some(issue) = api.issue(on).await.map_err(api_err)? else {
            return Ok(());
        };
        if !is_postmortem_issue(&issue) {
            return Ok(());
        }
        let incoming = AwardState {
            awarded: award.action.as_deref() != Some("revoke"),
            at: award
                .updated_at
                .map_or(award.created_at, |u| u.max(award.created_at)),
            trusted: verdict.trusted_microphone,
            via_chat: false,
            publisher: verdict.may_publish,
        };
        let by = &hook.user.username;
        for link in api.issue_links(on).await.map_err(api_err)? {
            let id = IncidentId::new(link.project_id, link.iid);
            // Only an incident openmic keeps; never a state made for another issue.
            let kept = document::read::<IncidentState>(self.state.as_ref(), &id.state_key())
                .await?
                .is_some();
            if !kept {
                continue;
            }
            let state = self
                .update_state(id, |s| {
                    s.take_linked_postmortem(&issue, by, incoming.clone())
                })
                .await?;
            tracing::info!(incident = %id, "a linked postmortem issue's 🎤 taken");
            self.apply(&state).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publishing::postmortem::{is_postmortem, text};

    #[test]
    fn a_linked_postmortem_issue_is_taken_as_a_postmortem_note() {
        let t = |s: &str| crate::time::parse(s).unwrap();
        let issue = ApiIssue {
            id: 9005,
            iid: 5,
            title: "Postmortem: API errors".into(),
            description: Some("What happened.".into()),
            state: "opened".into(),
            confidential: false,
            created_at: t("2024-03-02T08:00:00Z"),
            updated_at: t("2024-03-02T08:00:00Z"),
            closed_at: None,
            labels: vec!["incident".into(), "PostMortem".into()],
            severity: None,
            web_url: None,
        };
        assert!(is_postmortem_issue(&issue));
        let award = |awarded, at: &str, publisher| AwardState {
            awarded,
            at: t(at),
            trusted: publisher,
            via_chat: false,
            publisher,
        };
        let mut s = IncidentState::new(1, 42);
        s.take_linked_postmortem(&issue, "alice", award(true, "2024-03-02T09:05:00Z", true));
        // An older revoke does not undo a later award; a later one does.
        s.take_linked_postmortem(&issue, "alice", award(false, "2024-03-02T09:00:00Z", true));
        let note = s.linked_postmortem.clone().unwrap();
        assert!(is_postmortem(&note.body) && text(&note.body).contains("What happened."));
        assert!(note.microphones["alice"].awarded);
        s.take_linked_postmortem(&issue, "alice", award(false, "2024-03-02T09:10:00Z", true));
        assert!(!s.linked_postmortem.clone().unwrap().microphones["alice"].awarded);
        // Another issue replaces it; its awards are its own.
        let other = ApiIssue {
            id: 9006,
            ..issue.clone()
        };
        s.take_linked_postmortem(&other, "bob", award(true, "2024-03-02T09:20:00Z", false));
        let note = s.linked_postmortem.unwrap();
        assert_eq!(note.id, 9006);
        assert_eq!(note.microphones.keys().collect::<Vec<_>>(), ["bob"]);
        let plain = ApiIssue {
            labels: vec!["incident".into()],
            ..issue
        };
        assert!(!is_postmortem_issue(&plain));
    }
}
