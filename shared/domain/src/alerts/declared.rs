//! Incidents declared from chat (`/incident declare`) page on call as alerts do: each
//! is a record in the alerts state that stands for the incident
//! ([`AlertRecord::declared`]), linked to the incident issue declare opened, routed
//! by the on-call file's policy matchers against labels that describe it, and
//! escalated by the same steps, ticks, acknowledgements and issue closing as an
//! alert ([`super::escalating`]).
//!
//! - Its labels ([`labels`]): `alertname` (the title), `severity` (`critical`,
//!   `high`, `medium`, `low` for `sev1`–`sev4`; `unknown` without one), `component`
//!   (the first component, when one is given), `source="chat"`, and `chat` (the
//!   service: `slack` or `mattermost`).
//! - Its key comes from the declare job's delivery id: a job delivered twice, or tried
//!   again, finds the record (and the issue) of the first, and pages nobody again.
//! - It owes no notice: no alert mail or chat message goes for it (the channel has
//!   declare's post), and no incident issue is opened for it (it has declare's). Its
//!   pages, and the acknowledgement, are notes on that issue and events of its
//!   timeline.

use std::collections::BTreeMap;

use tracing::warn;

use super::escalating::Begun;
use super::lifecycle::Notifier;
use super::record::{AlertRecord, Declaration, IssueLink, apply, record_key};
use super::{Alert, AlertSource, AlertStatus, Severity};
use crate::chat::commands::Platform;
use crate::document;
use crate::errors::ProcessError;
use crate::oncall::escalation::Paged;
use crate::time::Timestamp;

/// The fingerprint of a declared incident's record: this, then the job's delivery id.
pub const FINGERPRINT_PREFIX: &str = "chat-declare:";

/// An incident declared from chat, its issue opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The declare job's delivery id (its queue message's deduplication id).
    pub delivery: String,
    pub title: String,
    pub severity: Option<Severity>,
    pub components: Vec<String>,
    pub platform: Platform,
    /// Who declared it, as the GitLab user they act as: `@alice`.
    pub by: String,
    /// The incident issue declare opened.
    pub issue: IssueLink,
    pub at: Timestamp,
}

/// The key of the record of the incident declared by the job with `delivery`.
pub fn key(delivery: &str) -> String {
    record_key(&fingerprint(delivery))
}

fn fingerprint(delivery: &str) -> String {
    format!("{FINGERPRINT_PREFIX}{delivery}")
}

/// The labels the on-call file's policies see for a declared incident.
pub fn labels(
    title: &str,
    severity: Option<Severity>,
    components: &[String],
    platform: Platform,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("alertname".to_owned(), title.to_owned()),
        (
            "severity".to_owned(),
            severity.unwrap_or(Severity::Unknown).as_str().to_owned(),
        ),
        ("source".to_owned(), "chat".to_owned()),
        ("chat".to_owned(), platform.as_str().to_owned()),
    ]);
    if let Some(first) = components.first() {
        out.insert("component".to_owned(), first.clone());
    }
    out
}

/// The record that stands for a declared incident: firing since it was declared,
/// linked to its issue, owing no notice.
pub fn record(d: &Declared) -> Option<AlertRecord> {
    let fingerprint = fingerprint(&d.delivery);
    let alert = Alert {
        source: AlertSource::Generic,
        fingerprint: Some(fingerprint.clone()),
        status: AlertStatus::Firing,
        title: d.title.clone(),
        description: Some(format!("Declared by {} from {}.", d.by, d.platform.title())),
        severity: d.severity.unwrap_or(Severity::Unknown),
        environment: None,
        service: None,
        monitoring_tool: None,
        hosts: Vec::new(),
        starts_at: Some(d.at),
        ends_at: None,
        generator_url: None,
        runbook: None,
        labels: labels(&d.title, d.severity, &d.components, d.platform),
        annotations: BTreeMap::new(),
        links: BTreeMap::new(),
        extra: serde_json::Map::new(),
        quirks: Vec::new(),
    };
    let (record, _) = apply(
        None,
        &fingerprint,
        &alert,
        &d.delivery,
        d.at,
        std::time::Duration::MAX,
    );
    record.map(|mut r| {
        // The channel has declare's post: no alert notice goes.
        r.pending.clear();
        r.issue = Some(d.issue.clone());
        r.declared = Some(Declaration {
            by: d.by.clone(),
            platform: d.platform.as_str().to_owned(),
        });
        r
    })
}

/// What declaring an incident came to for on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The record's id: what the acknowledge link and `/incident ack` name.
    pub id: String,
    pub begun: Begun,
    /// The pages sent for it so far.
    pub paged: Vec<Paged>,
    /// The steps done so far that paged nobody (nobody on call in their schedules).
    pub steps_without_anyone: Vec<u32>,
}

impl Notifier {
    /// The incident issue of the incident the job with `delivery` declared, if that
    /// job was done before.
    pub async fn declared_issue(&self, delivery: &str) -> Result<Option<IssueLink>, ProcessError> {
        Ok(
            document::read::<AlertRecord>(self.state.as_ref(), &key(delivery))
                .await?
                .and_then(|(r, _)| r.issue),
        )
    }

    /// Keeps the record of a declared incident (the first one kept stays, for a job
    /// done twice) and starts its escalation where a policy of the on-call file takes
    /// it, paging what is due at once.
    pub async fn declare(&self, d: &Declared) -> Result<Routing, ProcessError> {
        let key = key(&d.delivery);
        let Some(fresh) = record(d) else {
            return Err(ProcessError::Permanent(
                "a declared incident made no record".into(),
            ));
        };
        let kept = document::update(self.state.as_ref(), &key, |old: Option<AlertRecord>| {
            Some(old.unwrap_or_else(|| fresh.clone()))
        })
        .await?;
        let id = kept.as_ref().map_or_else(|| fresh.id(), AlertRecord::id);
        let begun = match self.escalation_begin(&key).await {
            Ok(begun) => begun,
            Err(e) => {
                // What went before the failure (a page, then its timeline event
                // refused for a passing reason) stands; the tick goes on from there.
                warn!(error = %e, "a declared incident's escalation did not finish");
                let esc = document::read::<AlertRecord>(self.state.as_ref(), &key)
                    .await?
                    .and_then(|(r, _)| r.escalation);
                match esc {
                    Some(e) => Begun::Began {
                        policy: e.record.policy.unwrap_or_default(),
                        pages: e.paged.iter().filter(|p| !p.by.is_empty()).count(),
                        next: Some(self.clock.now()),
                    },
                    None => return Err(e),
                }
            }
        };
        let esc = document::read::<AlertRecord>(self.state.as_ref(), &key)
            .await?
            .and_then(|(r, _)| r.escalation);
        let (paged, steps_without_anyone) = match esc {
            Some(e) => (
                e.paged.clone(),
                e.record
                    .done
                    .iter()
                    .filter(|s| {
                        !e.paged
                            .iter()
                            .any(|p| p.step == s.step && p.round == s.round)
                    })
                    .map(|s| s.step)
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Routing {
            id,
            begun,
            paged,
            steps_without_anyone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(severity: Option<Severity>, components: &[&str]) -> Declared {
        Declared {
            delivery: "d1".into(),
            title: "DB down".into(),
            severity,
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            platform: Platform::Slack,
            by: "@alice".into(),
            issue: IssueLink {
                id: Some(5012),
                project: Some(42),
                iid: 12,
                url: "https://gitlab.example.com/ops/api/-/issues/12".into(),
                closed: false,
                call_link: None,
                chart: false,
            },
            at: crate::time::parse("2026-12-07T10:00:00Z").unwrap(),
        }
    }

    #[test]
    fn a_declared_incident_is_labelled_by_what_declare_was_given() {
        let d = declared(Some(Severity::Critical), &["API", "Database"]);
        let r = record(&d).unwrap();
        let labels: Vec<(&str, &str)> = r
            .alert
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("alertname", "DB down"),
                ("chat", "slack"),
                ("component", "API"),
                ("severity", "critical"),
                ("source", "chat"),
            ]
        );
        // It owes no notice, and is linked to declare's issue.
        assert!(r.pending.is_empty(), "{:?}", r.pending);
        assert_eq!(r.issue.as_ref().map(|i| i.iid), Some(12));
        assert_eq!(r.declared.as_ref().map(|d| d.by.as_str()), Some("@alice"));
        assert_eq!(r.alert.starts_at, Some(d.at));
        // Without a severity or a component: `unknown`, and no component label.
        let bare = record(&declared(None, &[])).unwrap();
        assert_eq!(bare.alert.labels["severity"], "unknown");
        assert!(!bare.alert.labels.contains_key("component"));
        // The same job, the same record.
        assert_eq!(key("d1"), crate::alerts::record::key_of(&r.id()));
        assert_ne!(key("d1"), key("d2"));
    }

    #[test]
    fn the_policies_see_the_labels_of_a_declared_incident() {
        let file = crate::oncall::OnCall::parse(
            r#"people:
  alice: {email: alice@example.com}
policies:
  api:
    match: 'source="chat", component="API"'
    steps:
      - {after: 0m, notify: ["person:alice"]}
  critical:
    match: 'severity="critical"'
    steps:
      - {after: 0m, notify: ["person:alice"]}
"#,
        )
        .unwrap();
        let name = |d: &Declared| {
            let r = record(d).unwrap();
            crate::oncall::escalation::policy_for(&file, |n| {
                crate::routing::channels::label(&r.alert, n)
            })
            .map(|p| p.name.clone())
        };
        assert_eq!(
            name(&declared(Some(Severity::Low), &["API"])).as_deref(),
            Some("api")
        );
        assert_eq!(
            name(&declared(Some(Severity::Critical), &["Web"])).as_deref(),
            Some("critical")
        );
        assert_eq!(name(&declared(Some(Severity::High), &[])), None);
    }
}
