//! The notifier: each alert event read, applied to its [`super::record`] and written
//! back, and the notices the record owes sent to its channels ([`super::notify`]);
//! the tick sends digests, releases what a maintenance held and tells of widened
//! maintenances.
//!
//! Notices are sent at least once and, short of a crash between sending and recording
//! it, exactly once: the record first takes the event and the notice it owes
//! (`pending`), then each channel gets it (the record notes which did, `delivered`),
//! then the record drops it. Acknowledging an alert stops its reminders; silencing it
//! mutes it, every notice recorded (`muted`) and none sent, until the silence ends.
//! An alert a maintenance in progress holds ([`super::muting`]) goes to no channel
//! while it lasts, and to its channels, once, when it ends (the tick). Where the alert
//! has an incident issue, what was done on it goes on the issue's GitLab timeline
//! ([`super::timeline`]).

use std::sync::Arc;

use tracing::info;

use super::issues::{GitlabIncidents, IncidentIssues};
use super::links::Links;
use super::muting::{self, MUTED_KEY, Muted};
use super::record::{AlertRecord, Change, apply, record_key};
use super::{Alert, AlertStatus};
use crate::chat::Retries;
use crate::clock::{Clock, SystemClock};
use crate::compose::Backends;
use crate::config::alerting::ALERT_CHANNELS;
use crate::config::gitlab::{GITLAB_TOKEN, GITLAB_URL};
use crate::config::intake::GITLAB_PROJECT_ID;
use crate::config::oncall::ONCALL_CONFIG;
use crate::config::oncall::OnCallSource;
use crate::config::{Config, ConfigError};
use crate::errors::ProcessError;
use crate::gitlab::Gitlab;
use crate::maintenance::{MUTINGS_KEY, Mutings};
use crate::message::{Envelope, Source};
use crate::oncall::keeper::{GitlabFile, Keeper};
use crate::ports::{Mailer, ObjectStore, Outbound, Queue, Sms};
use crate::routing::channels::Channels;
use crate::routing::recipients::Recipients;
use crate::time::Timestamp;

/// The notifier handler: alert records, and their notices to the channels.
pub struct Notifier {
    pub config: Arc<Config>,
    pub state: Arc<dyn ObjectStore>,
    pub mailer: Arc<dyn Mailer>,
    pub issues: Option<Arc<dyn IncidentIssues>>,
    pub channels: Channels,
    /// Outbound HTTP, for chat and webhook channels and the pagers but SMS.
    pub outbound: Option<Arc<dyn Outbound>>,
    /// Text messages, for SMS channels ([`Notifier::with_sms`]).
    pub sms: Option<Arc<dyn Sms>>,
    /// The acknowledge and silence links (with `PUBLIC_API_URL`).
    pub links: Option<Links>,
    pub recipients: Recipients,
    /// How chat deliveries are retried.
    pub retries: Retries,
    pub clock: Arc<dyn Clock>,
    /// GitLab's API, where configured: the SLA label.
    pub gitlab: Option<Arc<dyn Gitlab>>,
    /// `INCIDENT_SLA` ([`super::sla`]).
    pub sla: crate::sla::SlaTargets,
    /// The on-call file (`ONCALL_CONFIG`), where escalation is set up.
    pub oncall: Option<Arc<crate::oncall::keeper::Keeper>>,
    /// The publish queue: component states from alerts (`COMPONENT_STATUS_FROM_ALERTS`).
    pub publish: Option<Arc<dyn Queue>>,
}

/// What handling an alert message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOutcome {
    pub change: Change,
    pub sent: Sent,
}

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticked {
    /// Alerts a maintenance held, let go.
    pub released: usize,
    /// What went out for them.
    pub sent: Sent,
    /// Storms' digests sent.
    pub digests: usize,
    /// Publishers' changes that widened a maintenance, told to the maintainers.
    pub widened: usize,
    /// Incidents past their SLA target, reminded.
    pub sla_missed: usize,
    /// On-call pages sent for steps that came due.
    pub pages: usize,
    /// Upstream pages read (`UPSTREAM_COMPONENTS`).
    pub upstream: usize,
}

/// What went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    pub mails: usize,
    /// Chat and webhook messages delivered.
    pub messages: usize,
    /// Notices held for a digest.
    pub digested: usize,
    /// Notices not sent: the alert is silenced.
    pub muted: usize,
    /// Chat and webhook deliveries given up on.
    pub failed: usize,
}

impl std::ops::AddAssign for Sent {
    fn add_assign(&mut self, o: Sent) {
        self.mails += o.mails;
        self.messages += o.messages;
        self.digested += o.digested;
        self.muted += o.muted;
        self.failed += o.failed;
    }
}

impl Notifier {
    pub async fn handle(&self, body: &str) -> Result<NotifyOutcome, ProcessError> {
        let envelope = Envelope::read(body, self.state.as_ref()).await?;
        if envelope.source != Source::Alert {
            return Err(ProcessError::Permanent(format!(
                "not an alert: {:?}",
                envelope.source
            )));
        }
        let alert: Alert = serde_json::from_str(envelope.payload.get())
            .map_err(|e| ProcessError::Permanent(format!("alert payload: {e}")))?;
        let at = crate::time::parse(&envelope.received_at).ok_or_else(|| {
            ProcessError::Permanent(format!("received_at {:?}", envelope.received_at))
        })?;
        // No fingerprint: every request is an alert of its own (as GitLab does).
        let fingerprint = alert
            .fingerprint
            .clone()
            .unwrap_or_else(|| format!("delivery:{}", envelope.delivery));
        let key = record_key(&fingerprint);
        let mutings = self.mutings().await?;
        // Listed before it can be held, so the tick always finds what is held.
        if alert.status == AlertStatus::Firing && muting::muting_for(&alert, &mutings, at).is_some()
        {
            self.hold(&key, true).await?;
        }
        let mut change = Change::Ignored;
        let mut was_held = false;
        let record = self
            .update(&key, |old| {
                was_held = old.as_ref().is_some_and(muting::held);
                let (mut new, c) = apply(
                    old,
                    &fingerprint,
                    &alert,
                    &envelope.delivery,
                    at,
                    self.config.alert_routing.renotify_after,
                );
                if let Some(r) = new.as_mut() {
                    muting::settle(r, c, &mutings, at);
                }
                change = c;
                new
            })
            .await?;
        info!(
            fingerprint = %fingerprint,
            change = ?change,
            muted_by = record.as_ref().and_then(|r| r.muted_by.as_ref()).map(|m| m.maintenance),
            "alert"
        );
        let Some(record) = record else {
            return Ok(NotifyOutcome {
                change,
                sent: Sent::default(),
            });
        };
        if was_held && !muting::held(&record) {
            self.hold(&key, false).await?;
        }
        self.follow_component(&key, &record).await?;
        let sent = self.deliver(&key, record).await?;
        if matches!(change, Change::New | Change::Repeat) {
            self.escalation_begin(&key).await?;
        }
        // What is not on the issue's timeline yet (a retry's too).
        self.write_timeline(&key).await?;
        Ok(NotifyOutcome { change, sent })
    }

    /// The maintenances the publisher keeps for muting (none before the first).
    async fn mutings(&self) -> Result<Mutings, ProcessError> {
        Ok(crate::document::read(self.state.as_ref(), MUTINGS_KEY)
            .await?
            .map(|(m, _)| m)
            .unwrap_or_default())
    }

    /// Adds a record to the muted list (or takes it off).
    async fn hold(&self, key: &str, held: bool) -> Result<(), ProcessError> {
        crate::document::update(self.state.as_ref(), MUTED_KEY, |old: Option<Muted>| {
            let mut muted = old.unwrap_or_default();
            if held {
                muted.alerts.insert(key.to_owned());
            } else {
                muted.alerts.remove(key);
            }
            Some(muted)
        })
        .await?;
        Ok(())
    }

    /// The scheduled work of a minute: the alerts a maintenance no longer holds (over,
    /// or narrowed by a publisher) are let go (each still firing goes to its channels
    /// now, once), the maintainers are told of a publisher's change that widened a
    /// maintenance, then the storms' digests that are due are sent, then incidents
    /// past their `INCIDENT_SLA` target are reminded and labelled ([`super::sla`]),
    /// and the upstream pages are read when due (`UPSTREAM_COMPONENTS`).
    /// All are tried; the first error is returned.
    pub async fn tick(&self) -> Result<Ticked, ProcessError> {
        let now = self.clock.now();
        let released = self.release_held(now).await;
        let widened = self.tell_widened().await;
        let digests = self.send_digests(now).await;
        let sla_missed = self.check_sla(now).await;
        let pages = self.escalation_tick().await;
        let upstream = self.upstream_tick(now).await;
        let (released, sent) = released?;
        Ok(Ticked {
            released,
            sent,
            widened: widened?,
            digests: digests?,
            sla_missed: sla_missed?,
            pages: pages?,
            upstream: upstream?,
        })
    }

    /// Tells the maintainers, once each, of the publishers' changes that made a
    /// maintenance mute more than before (`widened` in `index/maintenance.json`).
    /// A change is marked told before its mail goes; if the mail fails, the mark is
    /// taken back and the next tick tries again.
    async fn tell_widened(&self) -> Result<usize, ProcessError> {
        let mutings = self.mutings().await?;
        let due: Vec<(&crate::maintenance::Muting, String)> = mutings
            .maintenances
            .iter()
            .filter(|m| !m.widened.is_empty())
            .filter_map(|m| Some((m, muting::change_key(m.id, m.set_by.as_ref()?.at))))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let kept: std::collections::BTreeSet<u64> =
            mutings.maintenances.iter().map(|m| m.id).collect();
        let mut claimed = Vec::new();
        crate::document::update(self.state.as_ref(), muting::WIDENED_KEY, |old| {
            let mut told: muting::Told = old.unwrap_or_default();
            told.changes.retain(|k| {
                k.split_once('@')
                    .and_then(|(id, _)| id.parse::<u64>().ok())
                    .is_some_and(|id| kept.contains(&id))
            });
            claimed.clear();
            for (m, key) in &due {
                if told.changes.insert(key.clone()) {
                    claimed.push((*m, key.clone()));
                }
            }
            Some(told)
        })
        .await?;
        for (n, (m, _)) in claimed.iter().enumerate() {
            if let Err(e) = self.mail_widened(m).await {
                // This one and those after it are not told yet.
                let untold: Vec<&String> = claimed[n..].iter().map(|(_, k)| k).collect();
                crate::document::update(self.state.as_ref(), muting::WIDENED_KEY, |old| {
                    old.map(|mut told: muting::Told| {
                        told.changes.retain(|k| !untold.contains(&k));
                        told
                    })
                })
                .await?;
                return Err(e);
            }
            info!(maintenance = m.id, widened = ?m.widened, "maintainers told of a maintenance widened");
        }
        Ok(claimed.len())
    }

    async fn mail_widened(&self, m: &crate::maintenance::Muting) -> Result<(), ProcessError> {
        for r in self.recipients.maintainers().await {
            let mail = super::mail::maintenance_widened(&self.config, m, &r.address)
                .map_err(|e| ProcessError::permanent(&e))?;
            self.mailer.send(&mail).await?;
        }
        Ok(())
    }

    /// Lets go of the alerts their maintenance no longer holds at `now`; returns how
    /// many, and what went out.
    async fn release_held(&self, now: Timestamp) -> Result<(usize, Sent), ProcessError> {
        let Some((muted, _)) =
            crate::document::read::<Muted>(self.state.as_ref(), MUTED_KEY).await?
        else {
            return Ok((0, Sent::default()));
        };
        let mutings = self.mutings().await?;
        let (mut released, mut sent) = (0, Sent::default());
        for key in &muted.alerts {
            let record = self
                .update(key, |old| {
                    old.map(|mut r| {
                        muting::settle(&mut r, Change::Ignored, &mutings, now);
                        r
                    })
                })
                .await?;
            match record {
                Some(r) if muting::held(&r) => continue,
                Some(r) => {
                    self.hold(key, false).await?;
                    released += 1;
                    sent += self.deliver(key, r).await?;
                    self.escalation_begin(key).await?;
                    self.write_timeline(key).await?;
                }
                None => self.hold(key, false).await?,
            }
        }
        Ok((released, sent))
    }

    /// Reads, changes and conditionally writes a record.
    pub(super) async fn update(
        &self,
        key: &str,
        change: impl FnMut(Option<AlertRecord>) -> Option<AlertRecord>,
    ) -> Result<Option<AlertRecord>, ProcessError> {
        crate::document::update(self.state.as_ref(), key, change).await
    }

    /// The notifier for a configuration: its channels (`ALERT_CHANNELS`, which needs
    /// `outbound` for chat and webhooks), its links (with `PUBLIC_API_URL`, which then
    /// needs `ALERT_LINK_SECRET`), its recipients (`NOTIFY_ROLES`), and incident issues
    /// where `CREATE_INCIDENTS=true` (which then needs `GITLAB_URL`, `GITLAB_TOKEN` and
    /// `GITLAB_PROJECT_ID`).
    pub fn new(
        config: Arc<Config>,
        state: Arc<dyn ObjectStore>,
        mailer: Arc<dyn Mailer>,
        gitlab: Option<Arc<dyn Gitlab>>,
        outbound: Option<Arc<dyn Outbound>>,
    ) -> Result<Notifier, ConfigError> {
        let issues: Option<Arc<dyn IncidentIssues>> = if config.alert_routing.create_incidents {
            config.require(&[
                GITLAB_URL.name(),
                GITLAB_TOKEN.name(),
                GITLAB_PROJECT_ID.name(),
            ])?;
            let api = gitlab.clone().ok_or_else(|| GITLAB_TOKEN.missing())?;
            let project = config
                .home_project()
                .ok_or_else(|| GITLAB_PROJECT_ID.missing())?;
            Some(Arc::new(
                GitlabIncidents::new(api, project, config.alert_routing.incident_template.clone())
                    .with_logs(config.metrics.logs_url_template.clone()),
            ))
        } else {
            None
        };
        let channels = Channels::from_config(&config)?;
        if channels.any_http() && outbound.is_none() {
            return Err(ALERT_CHANNELS.invalid(
                "chat, webhook and push channels need outbound HTTP, which this process lacks",
            ));
        }
        let oncall = match &config.oncall.oncall_config {
            Some(OnCallSource::Gitlab {
                project,
                file,
                reference,
            }) => {
                let api = gitlab.clone().ok_or_else(|| {
                    ONCALL_CONFIG
                        .invalid("a file in a GitLab repository needs GITLAB_URL and GITLAB_TOKEN")
                })?;
                let source = GitlabFile {
                    api,
                    project: project.clone(),
                    file: file.clone(),
                    reference: reference.clone(),
                };
                let name = config.oncall.oncall_config.as_ref().map(OnCallSource::name);
                Some(Arc::new(Keeper::new(
                    name.unwrap_or_default(),
                    Arc::new(source),
                )))
            }
            // A local path: the local runner reads it.
            _ => None,
        };
        Ok(Notifier {
            links: Links::from_config(&config)?,
            sla: crate::sla::SlaTargets::from_config(&config)?,
            recipients: Recipients::new(&config, gitlab.clone())?,
            oncall,
            gitlab,
            config,
            state,
            mailer,
            issues,
            channels,
            outbound,
            sms: None,
            publish: None,
            retries: Retries::STANDARD,
            clock: Arc::new(SystemClock),
        })
    }

    /// The notifier with a way to send text messages (Amazon SNS), for SMS channels;
    /// without one, an SMS channel's every message fails, reported as a failing
    /// channel is.
    pub fn with_sms(mut self, sms: Arc<dyn Sms>) -> Notifier {
        self.sms = Some(sms);
        self
    }

    /// The ways out of this notifier, for [`crate::chat::first_delivered`] and its
    /// own channels.
    pub fn senders(&self) -> crate::chat::Senders {
        crate::chat::Senders {
            outbound: self.outbound.clone(),
            sms: self.sms.clone(),
            retries: self.retries,
        }
    }

    /// The notifier composed from a process's backends: the state bucket, the
    /// maintainers' mailer, GitLab's API where configured, outbound HTTPS for chat and
    /// webhook channels, the backends' clock.
    pub fn compose(config: Arc<Config>, backends: &Backends) -> Result<Notifier, ConfigError> {
        let notifier = Notifier::new(
            config,
            backends.state()?,
            backends.mailer()?,
            backends.gitlab.as_ref().map(|g| g.api.clone()),
            backends.outbound.clone(),
        )?
        .with_clock(backends.clock.clone())
        .with_publish(backends.publish.clone());
        notifier.check_metrics()?;
        Ok(match &backends.sms {
            Some(sms) => notifier.with_sms(sms.clone()),
            None => notifier,
        })
    }

    /// Component states from alerts and upstream components go to the publisher on
    /// its queue; upstream pages are read by outbound HTTP.
    fn check_metrics(&self) -> Result<(), ConfigError> {
        let m = &self.config.metrics;
        let queue = |name| ConfigError::Invalid {
            name,
            why: "the notifier hands the states to the publisher: it needs PUBLISH_QUEUE_URL"
                .into(),
        };
        if m.component_status_from_alerts && self.publish.is_none() {
            return Err(queue("COMPONENT_STATUS_FROM_ALERTS"));
        }
        if !m.upstream_components.is_empty() {
            if self.publish.is_none() {
                return Err(queue("UPSTREAM_COMPONENTS"));
            }
            if self.outbound.is_none() {
                return Err(ConfigError::Invalid {
                    name: "UPSTREAM_COMPONENTS",
                    why: "the pages are read by outbound HTTP, which this process lacks".into(),
                });
            }
        }
        Ok(())
    }

    /// The notifier with the publish queue, where component states from alerts go.
    pub fn with_publish(mut self, publish: Option<Arc<dyn Queue>>) -> Notifier {
        self.publish = publish;
        self
    }

    /// The notifier with another clock (tests move one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Notifier {
        self.clock = clock;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::errors::BackendError;
    use crate::mail::Mail;
    use crate::maintenance::{Muting, SetBy, Window};
    use crate::memory::{MemoryMailer, MemoryStore};

    /// A mailer that refuses its first `fails` mails for a passing reason.
    struct Flaky {
        fails: AtomicUsize,
        inner: MemoryMailer,
    }

    #[async_trait]
    impl Mailer for Flaky {
        async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
            if self
                .fails
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(BackendError::Transient("throttled".into()));
            }
            self.inner.send(mail).await
        }
    }

    fn muting(id: u64, at: &str, widened: &[&str]) -> Muting {
        Muting {
            id,
            title: format!("Maintenance {id}"),
            window: Window::parse_line("2026-12-01T02:00:00Z/PT4H").unwrap(),
            closed_at: None,
            components: vec!["Database".into()],
            mute: Some(r#"alertname=~"cache.*""#.into()),
            set_by: Some(SetBy {
                by: "alice".into(),
                at: crate::time::parse(at).unwrap(),
            }),
            widened: widened.iter().map(|w| (*w).to_owned()).collect(),
        }
    }

    async fn put_mutings(state: &MemoryStore, mutings: &Mutings) {
        state
            .put(
                MUTINGS_KEY,
                serde_json::to_vec(mutings).unwrap().into(),
                crate::ports::PutOptions::private_json(),
            )
            .await
            .unwrap();
    }

    /// Each widening is mailed to every maintainer once: a mail refused for a passing
    /// reason is tried again at the next tick (that one and those after it), and one
    /// told is never told again; a new change of the same maintenance is told anew.
    #[tokio::test]
    async fn a_widening_is_told_once_and_again_after_a_failed_mail() {
        let config = Config::from_lookup(|name| match name {
            "MAIL_FROM" => Some("openmic@status.example.com".into()),
            "MAINTAINER_EMAILS" => Some("oncall@example.com, lead@example.com".into()),
            _ => None,
        })
        .unwrap();
        let state = Arc::new(MemoryStore::new());
        let mailer = Arc::new(Flaky {
            fails: AtomicUsize::new(1),
            inner: MemoryMailer::default(),
        });
        let notifier =
            Notifier::new(Arc::new(config), state.clone(), mailer.clone(), None, None).unwrap();
        let mut mutings = Mutings {
            maintenances: vec![
                muting(7, "2026-12-01T02:15:00Z", &["the window"]),
                muting(8, "2026-12-01T02:15:00Z", &["the `Mute:` line"]),
                muting(9, "2026-12-01T02:15:00Z", &[]),
            ],
        };
        put_mutings(&state, &mutings).await;
        assert!(notifier.tick().await.is_err(), "the mail was refused");
        assert!(mailer.inner.take().is_empty());
        let ticked = notifier.tick().await.unwrap();
        assert_eq!(ticked.widened, 2);
        let sent = mailer.inner.take();
        let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "openmic: the maintenance Maintenance 7 now mutes more alerts",
                "openmic: the maintenance Maintenance 7 now mutes more alerts",
                "openmic: the maintenance Maintenance 8 now mutes more alerts",
                "openmic: the maintenance Maintenance 8 now mutes more alerts",
            ]
        );
        assert!(
            sent[0].text.contains("alice changed the maintenance"),
            "{}",
            sent[0].text
        );
        assert!(sent[0].text.contains("the window"), "{}", sent[0].text);
        assert_eq!(notifier.tick().await.unwrap().widened, 0, "told once");
        // A later change of maintenance 7: told; maintenance 8 gone: forgotten.
        mutings.maintenances = vec![muting(7, "2026-12-01T03:00:00Z", &["the components"])];
        put_mutings(&state, &mutings).await;
        assert_eq!(notifier.tick().await.unwrap().widened, 1);
        assert_eq!(mailer.inner.take().len(), 2);
        let (told, _) = crate::document::read::<muting::Told>(state.as_ref(), muting::WIDENED_KEY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            told.changes.into_iter().collect::<Vec<_>>(),
            ["7@2026-12-01T02:15:00.000Z", "7@2026-12-01T03:00:00.000Z"]
        );
    }
}
