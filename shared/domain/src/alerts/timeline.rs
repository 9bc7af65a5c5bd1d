//! GitLab's incident timeline for an alert's incident issue (with API access): what
//! openmic did on the alert becomes an event each, as the publisher's own are
//! written ([`crate::timeline::write_events`]):
//!
//! - the alert fired (once its incident issue is opened or found again), or the
//!   incident was declared from chat ([`super::declared`]);
//! - each escalation step reached, and each page (to whom, why, by which methods);
//! - the acknowledgement (who, and from where: a link in which message, a chat button
//!   or a chat command);
//! - the alert resolved.
//!
//! Each event is written once per firing: its name is claimed in the alert's record
//! (`timeline_written`) with a conditional write before it is written, so a retry, a
//! replay or two writers at once never write it twice (a crash between the claim and
//! the write loses it rather than repeating it). A passing failure gives back the
//! claims of what was not written and fails the caller for a retry (the queue
//! message's, or the notifier's next tick); GitLab refusing (no `api` scope, an old
//! GitLab) is logged and not tried again.

use tracing::warn;

use super::escalating::{self, code, step_name};
use super::lifecycle::Notifier;
use super::record::{ActionRecord, AlertRecord, RecordStatus, Via};
use crate::document;
use crate::errors::ProcessError;
use crate::gitlab::{ApiError, Gitlab};
use crate::ids::IncidentId;
use crate::ports::ObjectStore;
use crate::time::Timestamp;
use crate::timeline::{Event, write_events};

/// The event names of an alert's timeline.
const FIRED: &str = "fired";
const ACKNOWLEDGED: &str = "acknowledged";
const RESOLVED: &str = "resolved";

/// Every event of the alert's current firing, in order: none without an incident
/// issue.
pub fn events(record: &AlertRecord) -> Vec<Event> {
    if record.issue.is_none() {
        return Vec::new();
    }
    let a = &record.alert;
    let fired = match &record.declared {
        Some(d) => {
            let service = crate::chat::commands::Platform::parse(&d.platform)
                .map_or(d.platform.as_str(), |p| p.title());
            format!(
                "Incident declared by {} in {service}: {} ({}).",
                code(&d.by),
                code(&a.title),
                a.severity.as_str()
            )
        }
        None => format!("Alert fired: {} ({}).", code(&a.title), a.severity.as_str()),
    };
    let mut out = vec![Event::new(
        FIRED,
        fired,
        a.starts_at.unwrap_or(record.first_seen),
    )];
    if let Some(esc) = record
        .escalation
        .as_ref()
        .filter(|e| e.generation == record.generation)
    {
        let policy = esc.record.policy.as_deref().unwrap_or_default();
        for d in &esc.record.done {
            // The notes openmic writes on GitLab are in English.
            let step = step_name(
                crate::i18n::catalogue(crate::config::Language::En),
                d.round,
                d.step,
            );
            let note = if d.round == 0 && d.step == 1 {
                format!("Escalation began under policy {}: {step}.", code(policy))
            } else {
                format!("Escalated to {step} of policy {}.", code(policy))
            };
            out.push(Event::new(
                format!("step/{}/{}", d.round, d.step),
                note,
                d.at,
            ));
            for p in esc
                .paged
                .iter()
                .filter(|p| p.round == d.round && p.step == d.step)
            {
                let how = if p.by.is_empty() {
                    "could not be paged by any method".to_owned()
                } else {
                    format!("paged by {}", p.by.join(", "))
                };
                out.push(Event::new(
                    format!("page/{}/{}/{}", p.round, p.step, p.to),
                    format!("{} ({}) {how}, {step}.", code(&p.to), p.because),
                    p.at,
                ));
            }
        }
    }
    if let Some(ack) = record.acknowledged() {
        out.push(Event::new(ACKNOWLEDGED, acknowledged(ack), ack.at));
    }
    if record.status == RecordStatus::Resolved {
        out.push(Event::new(
            RESOLVED,
            "Alert resolved.",
            record.resolved_at.unwrap_or(record.last_seen),
        ));
    }
    out.sort_by_key(|e| e.at);
    out
}

/// `Acknowledged by alice from the link in its on-call page by mail.`
fn acknowledged(ack: &ActionRecord) -> String {
    // A mail recipient's link names their address: never on the timeline.
    let by = if ack.by.contains('@') && !ack.by.starts_with('@') {
        "a mail recipient".to_owned()
    } else {
        code(&ack.by)
    };
    // A chat action's channel is its service (`slack`).
    let service = crate::chat::commands::Platform::parse(&ack.channel)
        .map_or(ack.channel.as_str(), |p| p.title());
    let from = match ack.via {
        Via::Link => format!("from the link in its {} message", ack.channel),
        Via::Button => format!("with the Acknowledge button in {service}"),
        Via::Command => format!("with the ack command in {service}"),
    };
    format!("Acknowledged by {by} {from}.")
}

/// Writes on the alert's incident timeline what is not there yet; returns how many
/// events were written (or refused by GitLab). `home` is the project of issues whose
/// record names none (`GITLAB_PROJECT_ID`'s first).
pub async fn write(
    api: &dyn Gitlab,
    state: &dyn ObjectStore,
    home: Option<u64>,
    key: &str,
) -> Result<usize, ProcessError> {
    let mut claimed: Vec<Event> = Vec::new();
    let record = document::update(state, key, |old: Option<AlertRecord>| {
        let mut r = old?;
        claimed = events(&r)
            .into_iter()
            .filter(|e| !r.timeline_written.contains(&e.name))
            .collect();
        r.timeline_written
            .extend(claimed.iter().map(|e| e.name.clone()));
        Some(r)
    })
    .await?;
    let (Some(record), false) = (record, claimed.is_empty()) else {
        return Ok(0);
    };
    let what = record.id();
    let issue = match issue_id(api, &record, home).await {
        Ok(Some(id)) => id,
        Ok(None) => {
            warn!(alert = %what, "the incident issue is not known to GitLab; no timeline events");
            return Ok(claimed.len());
        }
        Err(e) => {
            unclaim(state, key, &claimed, &[]).await?;
            return Err(e);
        }
    };
    let written = write_events(api, issue, &claimed, &what).await;
    match written.failed {
        Some(e) => {
            unclaim(state, key, &claimed, &written.done).await?;
            Err(e)
        }
        None => Ok(written.done.len()),
    }
}

/// As [`write`], for callers no queue retries (a link, a chat action): a passing
/// failure is logged and left to the notifier's next tick, which visits every alert
/// listed as escalating.
pub async fn write_or_defer(
    api: &dyn Gitlab,
    state: &dyn ObjectStore,
    home: Option<u64>,
    key: &str,
    now: Timestamp,
) {
    let Err(e) = write(api, state, home, key).await else {
        return;
    };
    warn!(error = %e, "the alert's timeline events wait for the next tick");
    if let Err(e) = escalating::list(state, key, Some(now)).await {
        warn!(error = %e, "the alert could not be listed for the next tick");
    }
}

/// GitLab's global id of the alert's issue: kept since it was opened, else asked.
async fn issue_id(
    api: &dyn Gitlab,
    record: &AlertRecord,
    home: Option<u64>,
) -> Result<Option<u64>, ProcessError> {
    let Some(issue) = &record.issue else {
        return Ok(None);
    };
    if let Some(id) = issue.id {
        return Ok(Some(id));
    }
    let Some(project) = issue.project.or(home) else {
        return Ok(None);
    };
    match api.issue(IncidentId::new(project, issue.iid)).await {
        Ok(found) => Ok(found.map(|i| i.id)),
        Err(ApiError::Transient(m)) => Err(ProcessError::Retryable(m)),
        Err(e) => {
            warn!(error = %e, "the incident issue could not be read");
            Ok(None)
        }
    }
}

/// Gives back the claims of the events in `claimed` not `done`.
async fn unclaim(
    state: &dyn ObjectStore,
    key: &str,
    claimed: &[Event],
    done: &[String],
) -> Result<(), ProcessError> {
    document::update(state, key, |old: Option<AlertRecord>| {
        let mut r = old?;
        r.timeline_written
            .retain(|n| done.contains(n) || !claimed.iter().any(|e| &e.name == n));
        Some(r)
    })
    .await?;
    Ok(())
}

impl Notifier {
    /// Writes the alert's timeline events not written yet (with GitLab's API and
    /// `CREATE_INCIDENTS`); a passing failure fails the caller for a retry.
    pub(super) async fn write_timeline(&self, key: &str) -> Result<usize, ProcessError> {
        let (Some(api), Some(_)) = (&self.gitlab, &self.issues) else {
            return Ok(0);
        };
        write(
            api.as_ref(),
            self.state.as_ref(),
            self.config.home_project(),
            key,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::links::LinkAction;
    use crate::alerts::record::{IssueLink, apply};
    use crate::oncall::escalation::{Done, Escalating, EscalationRecord, Paged};

    fn t(minutes: i64) -> Timestamp {
        crate::time::parse("2026-12-07T10:00:00Z").unwrap() + chrono::Duration::minutes(minutes)
    }

    fn record() -> AlertRecord {
        let alert: crate::alerts::Alert = serde_json::from_value(serde_json::json!({
            "source": "prometheus", "title": "API `down`", "status": "firing", "severity": "critical",
            "starts_at": "2026-12-07T10:00:00Z", "labels": {}}))
        .unwrap();
        let (r, _) = apply(
            None,
            "fp",
            &alert,
            "d1",
            t(0),
            std::time::Duration::from_secs(3600),
        );
        let mut r = r.unwrap();
        r.issue = Some(IssueLink {
            chart: false,
            id: Some(9077),
            project: Some(42),
            iid: 77,
            url: String::new(),
            closed: false,
            call_link: None,
        });
        let done = |step, at, who: &str| Done {
            round: 0,
            step,
            at: t(at),
            people: vec![who.to_owned()],
        };
        let paged = |step, at, who: &str, because: &str, by: &[&str]| Paged {
            round: 0,
            step,
            to: who.to_owned(),
            because: because.to_owned(),
            by: by.iter().map(|b| (*b).to_owned()).collect(),
            at: t(at),
        };
        r.escalation = Some(Escalating {
            generation: 0,
            started: t(0),
            record: EscalationRecord {
                policy: Some("critical".into()),
                done: vec![done(1, 0, "alice"), done(2, 10, "bob")],
                stopped: None,
            },
            failures: vec![],
            paged: vec![
                paged(1, 0, "alice", "on call in primary", &["email", "sms"]),
                paged(2, 10, "bob", "on call in secondary", &[]),
            ],
        });
        r
    }

    fn ack(by: &str, channel: &str, via: Via) -> ActionRecord {
        ActionRecord {
            action: LinkAction::Ack,
            by: by.into(),
            channel: channel.into(),
            at: t(12),
            generation: 0,
            until: None,
            noted: false,
            via,
        }
    }

    #[test]
    fn the_story_of_a_firing_in_order_with_nothing_of_markdown() {
        let mut r = record();
        r.record_action(ack("alice", escalating::PAGE_MAIL, Via::Link));
        let got: Vec<(String, String, i64)> = events(&r)
            .into_iter()
            .map(|e| (e.name, e.note, (e.at - t(0)).num_minutes()))
            .collect();
        let want = [
            ("fired", "Alert fired: `API  down` (critical).", 0),
            (
                "step/0/1",
                "Escalation began under policy `critical`: step 1.",
                0,
            ),
            (
                "page/0/1/alice",
                "`alice` (on call in primary) paged by email, sms, step 1.",
                0,
            ),
            ("step/0/2", "Escalated to step 2 of policy `critical`.", 10),
            (
                "page/0/2/bob",
                "`bob` (on call in secondary) could not be paged by any method, step 2.",
                10,
            ),
            (
                "acknowledged",
                "Acknowledged by `alice` from the link in its on-call page by mail message.",
                12,
            ),
        ];
        let want: Vec<(String, String, i64)> = want
            .iter()
            .map(|(n, note, m)| ((*n).to_owned(), (*note).to_owned(), *m))
            .collect();
        assert_eq!(got, want);
        // Resolved: one more. An issue-less alert has none.
        r.status = RecordStatus::Resolved;
        r.resolved_at = Some(t(30));
        assert_eq!(events(&r).last().unwrap().name, "resolved");
        r.issue = None;
        assert!(events(&r).is_empty());
    }

    #[test]
    fn an_acknowledgement_says_from_where_and_never_an_address() {
        assert_eq!(
            acknowledged(&ack("@alice", "slack", Via::Button)),
            "Acknowledged by `@alice` with the Acknowledge button in Slack."
        );
        assert_eq!(
            acknowledged(&ack("@alice", "mattermost", Via::Command)),
            "Acknowledged by `@alice` with the ack command in Mattermost."
        );
        assert_eq!(
            acknowledged(&ack("oncall@example.com", "ops-mail", Via::Link)),
            "Acknowledged by a mail recipient from the link in its ops-mail message."
        );
    }

    #[test]
    fn an_earlier_firings_escalation_is_not_this_ones() {
        let mut r = record();
        r.generation = 1;
        let names: Vec<String> = events(&r).into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["fired"]);
    }
}
