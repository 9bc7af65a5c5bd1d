//! Delivering an alert's notices: every channel that takes the alert gets each notice
//! at once, side by side, so a slow or failing channel holds back none of the others.
//!
//! - A chat or webhook channel is tried with retries and backoff (one attempt while it
//!   is known to be failing); a delivery given up on is recorded on the channel and
//!   reported once per failing streak (an error in the log, and a mail to the
//!   maintainers), never retried with the queue message, so the alert's later
//!   notices are not held back behind it.
//! - Mail goes to each recipient on its own, with their own links; a mail the mailer
//!   refuses for a passing reason fails the queue message, which is retried, and the
//!   record remembers who already had it.
//! - A storm (`ALERT_DIGEST_AFTER`) holds notices for the channel's digest, which
//!   [`Notifier::tick`] sends.

use crate::metrics::chart::{Chart, NoChart, image};
use futures_util::future::join_all;
use sha2::{Digest, Sha256};
use tracing::{Instrument, error, info, warn};

use super::lifecycle::{Notifier, Sent};
use super::links::ActionLinks;
use super::record::{AlertRecord, Notice, Settled};
use super::storm::{
    Admission, ChannelState, DigestChart, DigestItem, Failing, channel_key, notice_id,
};
use super::{mail, message};
use crate::chat::{self, Failure, Retries, Target};
use crate::document;
use crate::errors::{Chain, ProcessError};
use crate::routing::channels::{Channel, Destination, MailTo};
use crate::routing::recipients::Recipient;
use crate::time::Timestamp;

/// What one channel did with a notice.
#[derive(Default)]
struct Outcome {
    /// Delivery units done: the channel's name once it is done, and each mail
    /// recipient's unit as they get it.
    units: Vec<String>,
    sent: Sent,
    error: Option<ProcessError>,
}

/// The unit of a mail recipient of a channel.
fn mail_unit(channel: &str, address: &str) -> String {
    let hash = hex::encode(&Sha256::digest(address.to_ascii_lowercase().as_bytes())[..8]);
    format!("mail:{channel}:{hash}")
}

/// Reads the call link of the alert's open incident issue into `record` (for this
/// notice's messages only); kept as it was if GitLab does not answer.
async fn refresh_call_link(record: &mut AlertRecord, issues: &dyn super::issues::IncidentIssues) {
    let Some(issue) = record.issue.as_mut().filter(|i| !i.closed) else {
        return;
    };
    match issues.call_link(issue).await {
        Ok(link) => issue.call_link = link,
        Err(e) => tracing::warn!(error = %e, "the incident's call link could not be read"),
    }
}

impl Notifier {
    /// Sends what the record owes, dropping each notice once every channel has it.
    pub(super) async fn deliver(
        &self,
        key: &str,
        mut record: AlertRecord,
    ) -> Result<Sent, ProcessError> {
        let mut sent = Sent::default();
        while let Some(&(notice, at)) = record.pending.first() {
            if let Some(issues) = &self.issues {
                record = self
                    .keep_issue(key, record, issues.as_ref(), notice)
                    .await?;
                refresh_call_link(&mut record, issues.as_ref()).await;
            }
            if let Some(until) = record.silenced_at(at) {
                info!(notice = notice.as_str(), until = %crate::time::format(&until), "silenced: recorded, not sent");
                sent.muted += 1;
                record = self.settle(key, notice, at, Settled::Muted).await?;
                continue;
            }
            let channels: Vec<&Channel> = self.channels.route(&record.alert).collect();
            if channels.is_empty() {
                info!(notice = notice.as_str(), "no channel takes this alert");
                record = self.settle(key, notice, at, Settled::Unrouted).await?;
                continue;
            }
            let chart = self.chart_for(&record, notice, at, &channels).await;
            if let (Some(Ok(c)), Some(issues)) = (&chart, &self.issues)
                && let Some(issue) = record.issue.clone().filter(|i| !i.chart)
            {
                // A chart the issue cannot take is logged; the notice goes on.
                match issues.attach_chart(&issue, c).await {
                    Ok(()) => {
                        record = self
                            .update(key, |old| {
                                old.map(|mut r| {
                                    if let Some(i) = r.issue.as_mut().filter(|i| i.iid == issue.iid)
                                    {
                                        i.chart = true;
                                    }
                                    r
                                })
                            })
                            .await?
                            .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))?;
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::errors::Chain(&e), "the chart was not uploaded to the incident issue")
                    }
                }
            }
            let image = self
                .chart_image(&record, at, &channels, chart.as_ref())
                .await;
            let outcomes =
                join_all(channels.iter().map(|c| {
                    self.to_channel(c, &record, notice, at, chart.as_ref(), image.as_ref())
                }))
                .await;
            let mut units = Vec::new();
            let mut failed = None;
            for o in outcomes {
                units.extend(o.units);
                sent += o.sent;
                if let Some(e) = o.error {
                    failed.get_or_insert(e);
                }
            }
            if let Some(e) = failed {
                // Who has it is kept, so the retry sends only what is missing.
                self.update(key, |old| {
                    old.map(|mut r| {
                        if r.pending.first() == Some(&(notice, at)) {
                            for u in &units {
                                if !r.delivered.contains(u) {
                                    r.delivered.push(u.clone());
                                }
                            }
                        }
                        r
                    })
                })
                .await?;
                return Err(e);
            }
            record = self.settle(key, notice, at, Settled::Sent).await?;
        }
        Ok(sent)
    }

    async fn settle(
        &self,
        key: &str,
        notice: Notice,
        at: Timestamp,
        how: Settled,
    ) -> Result<AlertRecord, ProcessError> {
        self.update(key, |old| {
            old.map(|mut r| {
                r.settle(notice, at, how);
                r
            })
        })
        .await?
        .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))
    }

    /// Opens the incident issue of a new alert, closes it on resolution.
    async fn keep_issue(
        &self,
        key: &str,
        mut record: AlertRecord,
        issues: &dyn super::issues::IncidentIssues,
        notice: Notice,
    ) -> Result<AlertRecord, ProcessError> {
        if notice == Notice::New && record.issue.is_none() {
            let link = issues.open(&record).await?;
            record = self
                .update(key, |old| {
                    old.map(|mut r| {
                        if r.thread_id == record.thread_id && r.issue.is_none() {
                            r.issue = Some(link.clone());
                        }
                        r
                    })
                })
                .await?
                .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))?;
        }
        if notice == Notice::Resolved
            && self.config.alert_routing.auto_close_incidents
            && let Some(issue) = record.issue.clone().filter(|i| !i.closed)
        {
            issues.close(&issue).await?;
            record = self
                .update(key, |old| {
                    old.map(|mut r| {
                        if let Some(i) = r.issue.as_mut().filter(|i| i.iid == issue.iid) {
                            i.closed = true;
                        }
                        r
                    })
                })
                .await?
                .ok_or_else(|| ProcessError::Retryable(format!("{key} vanished")))?;
        }
        Ok(record)
    }

    /// The links of a message to `channel` for `recipient` (empty for chat).
    fn links_for(
        &self,
        record_id: &str,
        generation: u32,
        channel: &str,
        recipient: &str,
        at: Timestamp,
    ) -> Option<ActionLinks> {
        self.links
            .as_ref()
            .map(|l| l.for_message(record_id, generation, channel, recipient, at))
    }

    /// The chart behind an alert for its first mail and its incident issue (with
    /// `PROMETHEUS_URL`, when a mail channel takes it or it has an issue): asked once
    /// for every channel, within the chart's budget; what keeps it from being drawn
    /// is logged and said in the mail.
    async fn chart_for(
        &self,
        record: &AlertRecord,
        notice: Notice,
        at: Timestamp,
        channels: &[&Channel],
    ) -> Option<Result<Chart, NoChart>> {
        let mailed = channels
            .iter()
            .any(|c| matches!(c.destination, Destination::Mail(_)));
        let issue = record.issue.as_ref().is_some_and(|i| !i.chart) && self.issues.is_some();
        if notice != Notice::New || !(mailed || issue || self.shows_images(channels)) {
            return None;
        }
        let alert = &record.alert;
        let image_url = (alert.source == crate::alerts::AlertSource::Grafana)
            .then(|| alert.links.get("image"))
            .flatten()
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = image_url {
            // Grafana's own image is the chart; nothing is drawn.
            let chart =
                crate::metrics::chart::grafana::chart(self.outbound.as_deref(), url, &alert.title)
                    .await;
            if let Err(e) = &chart {
                info!(reason = e.code(), "no chart: {e}");
            }
            return Some(chart);
        }
        let prometheus = self.config.metrics.prometheus.as_ref()?;
        let chart = crate::metrics::chart::query::chart(
            self.outbound.as_deref(),
            Some(prometheus),
            alert.generator_url.as_deref(),
            alert.starts_at.unwrap_or(at),
            None,
            at,
        )
        .await;
        if let Err(e) = &chart {
            info!(reason = e.code(), "no chart: {e}");
        }
        Some(chart)
    }

    /// Whether a chat channel among `channels` shows the chart by its link (with
    /// `PUBLIC_API_URL`, whose links sign it).
    fn shows_images(&self, channels: &[&Channel]) -> bool {
        self.links.is_some()
            && channels
                .iter()
                .any(|c| matches!(&c.destination, Destination::Chat(t) if t.kind.shows_images()))
    }

    /// The chart of chat messages: kept in the state bucket (never the status
    /// bucket) as `charts/<alert>/<generation>.png`, shown through its signed link,
    /// which works for [`image::LIFETIME`] after the message. A chart that cannot be
    /// kept is logged; the messages go without it.
    async fn chart_image(
        &self,
        record: &AlertRecord,
        at: Timestamp,
        channels: &[&Channel],
        chart: Option<&Result<Chart, NoChart>>,
    ) -> Option<chat::Image> {
        let Some(Ok(chart)) = chart else {
            return None;
        };
        let links = self
            .links
            .as_ref()
            .filter(|_| self.shows_images(channels))?;
        let key = image::ImageKey::new(self.config.alert_routing.link_secret.as_ref()?);
        let id = record.id();
        if let Err(e) = image::store(self.state.as_ref(), &id, record.generation, &chart.png).await
        {
            warn!(error = %Chain(&e), "the chart could not be kept for chat; the messages go without it");
            return None;
        }
        Some(chat::Image {
            url: key.url_for(&links.base, &id, record.generation, at),
            alt: chart.text.clone(),
        })
    }

    /// One notice to one channel, in the channel's span.
    async fn to_channel(
        &self,
        channel: &Channel,
        record: &AlertRecord,
        notice: Notice,
        at: Timestamp,
        chart: Option<&Result<Chart, NoChart>>,
        image: Option<&chat::Image>,
    ) -> Outcome {
        let span = tracing::info_span!("channel", channel = %channel.name);
        self.to_channel_in(channel, record, notice, at, chart, image)
            .instrument(span)
            .await
    }

    async fn to_channel_in(
        &self,
        channel: &Channel,
        record: &AlertRecord,
        notice: Notice,
        at: Timestamp,
        chart: Option<&Result<Chart, NoChart>>,
        image: Option<&chat::Image>,
    ) -> Outcome {
        let mut out = Outcome::default();
        if record.delivered.contains(&channel.name) {
            return out;
        }
        let item = DigestItem {
            id: notice_id(&record.id(), record.generation, notice, at),
            notice,
            at,
            record: record.id(),
            generation: record.generation,
            title: record.alert.title.clone(),
            environment: record.alert.environment.clone(),
            severity: record.alert.severity,
            logs: super::message::logs_link(
                self.config.metrics.logs_url_template.as_ref(),
                record,
                at,
            ),
            chart: match (&channel.destination, chart) {
                (Destination::Mail(_), Some(Ok(c))) => Some(DigestChart::Kept {
                    text: c.text.clone(),
                }),
                (Destination::Mail(_), Some(Err(why))) => Some(DigestChart::None {
                    why: why.to_string(),
                }),
                _ => None,
            },
        };
        let kept = matches!(item.chart, Some(DigestChart::Kept { .. }));
        let (admission, failing) = match self.admit(channel, item).await {
            Ok(a) => a,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        if admission == Admission::Digest {
            if let (true, Some(Ok(c))) = (kept, chart) {
                // The digest reads it back; one it cannot find says so.
                if let Err(e) =
                    image::store(self.state.as_ref(), &record.id(), record.generation, &c.png).await
                {
                    warn!(error = %Chain(&e), "the chart could not be kept for the digest");
                }
            }
            info!(
                notice = notice.as_str(),
                "storm: held for the channel's digest"
            );
            out.sent.digested += 1;
            out.units.push(channel.name.clone());
            return out;
        }
        match &channel.destination {
            Destination::Chat(target) => {
                let links = self.links_for(&record.id(), record.generation, &channel.name, "", at);
                let msg = match message::alert_message(
                    &self.config,
                    record,
                    notice,
                    at,
                    links.as_ref(),
                ) {
                    Ok(mut m) => {
                        if target.kind.shows_images() {
                            m.image = image.cloned();
                        }
                        m
                    }
                    Err(e) => {
                        out.error = Some(ProcessError::permanent(&e));
                        return out;
                    }
                };
                if self
                    .send_chat(channel, target, &msg, failing.is_some())
                    .await
                {
                    out.sent.messages += 1;
                } else {
                    out.sent.failed += 1;
                }
                out.units.push(channel.name.clone());
            }
            Destination::Mail(to) => {
                for group in self.mail_groups(to).await {
                    let unit = mail_unit(&channel.name, &group.join(","));
                    if record.delivered.contains(&unit) {
                        continue;
                    }
                    let one = group
                        .first()
                        .map(String::as_str)
                        .filter(|_| group.len() == 1);
                    let links = one.and_then(|r| {
                        self.links_for(&record.id(), record.generation, &channel.name, r, at)
                    });
                    let mut mail = match mail::compose(
                        &self.config,
                        record,
                        notice,
                        at,
                        &group,
                        links.as_ref(),
                    ) {
                        Ok(m) => m,
                        Err(e) => {
                            out.error = Some(ProcessError::permanent(&e));
                            return out;
                        }
                    };
                    if let Some(chart) = chart {
                        mail::add_chart(&mut mail, chart);
                    }
                    if let Err(e) = self.mailer.send(&mail).await {
                        out.error = Some(e.into());
                        return out;
                    }
                    out.sent.mails += 1;
                    out.units.push(unit);
                }
                out.units.push(channel.name.clone());
            }
        }
        out
    }

    /// Who gets one mail each: with links, every recipient alone (the links name who
    /// acted); without, everyone in one mail, as a mail to a list.
    async fn mail_groups(&self, to: &MailTo) -> Vec<Vec<String>> {
        let all = self
            .mail_recipients(to)
            .await
            .into_iter()
            .map(|r| r.address);
        if self.links.is_some() {
            all.map(|a| vec![a]).collect()
        } else {
            let all: Vec<String> = all.collect();
            if all.is_empty() { vec![] } else { vec![all] }
        }
    }

    /// Everyone a mail channel mails, each address once.
    pub(crate) async fn mail_recipients(&self, to: &MailTo) -> Vec<Recipient> {
        let mut list = if to.maintainers {
            self.recipients.maintainers().await
        } else {
            vec![]
        };
        for a in &to.addresses {
            if !list.iter().any(|r| r.address.eq_ignore_ascii_case(a)) {
                list.push(Recipient {
                    address: a.clone(),
                    username: None,
                });
            }
        }
        list
    }

    /// Lets the channel's storm state take a notice; also says whether the channel
    /// is failing.
    async fn admit(
        &self,
        channel: &Channel,
        item: DigestItem,
    ) -> Result<(Admission, Option<Failing>), ProcessError> {
        let limit = self.config.alert_routing.digest_after;
        let mut admission = Admission::Send;
        let state = document::update(self.state.as_ref(), &channel_key(&channel.name), |old| {
            let mut s: ChannelState = old.unwrap_or_default();
            admission = s.admit(item.clone(), limit);
            Some(s)
        })
        .await?;
        Ok((admission, state.and_then(|s| s.failing)))
    }

    /// Sends a chat message; false if it was given up on (and then recorded).
    pub(super) async fn send_chat(
        &self,
        channel: &Channel,
        target: &Target,
        msg: &chat::Message,
        failing: bool,
    ) -> bool {
        let mut senders = self.senders();
        if failing {
            senders.retries = Retries::ONCE;
        }
        match chat::ChannelSender::send(&senders, target, msg).await {
            Ok(d) => {
                info!(status = d.status, attempts = d.attempts, "delivered");
                if failing {
                    self.recovered(channel).await;
                }
                true
            }
            Err(f) => {
                self.failed(channel, target, &f).await;
                false
            }
        }
    }

    /// Records a channel's failure; the first of a streak is reported.
    async fn failed(&self, channel: &Channel, target: &Target, f: &Failure) {
        let now = self.clock.now();
        let mut report = None;
        let updated = document::update(self.state.as_ref(), &channel_key(&channel.name), |old| {
            let mut s: ChannelState = old.unwrap_or_default();
            let mut failing = s.failing.take().unwrap_or(Failing {
                since: now,
                reason: String::new(),
                failures: 0,
                reported: false,
            });
            failing.failures += 1;
            failing.reason = f.reason.clone();
            report = (!failing.reported).then(|| failing.clone());
            failing.reported = true;
            s.failing = Some(failing);
            Some(s)
        })
        .await;
        if let Err(e) = updated {
            warn!(error = %e, "the channel's failure could not be recorded");
        }
        let Some(failing) = report else {
            warn!(reason = %f.reason, attempts = f.attempts, "channel still failing; given up for this notice");
            return;
        };
        error!(reason = %f.reason, attempts = f.attempts, permanent = f.permanent, kind = target.kind.as_str(),
            "channel failing: given up for this notice; the others are not held back (reported once until it works again)");
        for r in self.recipients.maintainers().await {
            match mail::channel_failing(
                &self.config,
                &channel.name,
                target.kind.as_str(),
                &failing,
                &r.address,
            ) {
                Ok(m) => {
                    if let Err(e) = self.mailer.send(&m).await {
                        warn!(error = %e, "the mail saying the channel is failing could not be sent");
                    }
                }
                Err(e) => {
                    warn!(error = %Chain(&e), "the mail saying the channel is failing could not be written");
                }
            }
        }
    }

    async fn recovered(&self, channel: &Channel) {
        let result = document::update(self.state.as_ref(), &channel_key(&channel.name), |old| {
            old.map(|mut s: ChannelState| {
                s.failing = None;
                s
            })
        })
        .await;
        match result {
            Ok(_) => info!("channel works again"),
            Err(e) => warn!(error = %e, "the channel's recovery could not be recorded"),
        }
    }

    /// Sends the digests that are due at `now`; returns how many went.
    pub(super) async fn send_digests(&self, now: Timestamp) -> Result<usize, ProcessError> {
        let mut sent = 0;
        let mut failed = None;
        for channel in &self.channels.0 {
            let span = tracing::info_span!("digest", channel = %channel.name);
            match self.tick_channel(channel, now).instrument(span).await {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(sent),
        }
    }

    /// Sends the channel's digest if it is due; true if it went.
    async fn tick_channel(&self, channel: &Channel, now: Timestamp) -> Result<bool, ProcessError> {
        let limit = self.config.alert_routing.digest_after;
        let key = channel_key(&channel.name);
        let Some((state, _)) = document::read::<ChannelState>(self.state.as_ref(), &key).await?
        else {
            return Ok(false);
        };
        if !state.digest_due(now, limit) {
            return Ok(false);
        }
        let items = state.digest;
        match &channel.destination {
            Destination::Chat(target) => {
                match message::digest_message(&self.config, &channel.name, &items, limit, now) {
                    Ok(msg) => {
                        // Given up on or not, the digest is done: a failing channel is
                        // reported, not retried.
                        self.send_chat(channel, target, &msg, state.failing.is_some())
                            .await;
                    }
                    Err(e) => error!(error = %Chain(&e), "digest message"),
                }
            }
            Destination::Mail(to) => {
                if let Err(e) = self.mail_digest(channel, to, &items, now).await {
                    warn!(error = %e, "the digest mail could not be sent; it is tried again at the next tick");
                    return Err(e);
                }
            }
        }
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        document::update(self.state.as_ref(), &key, |old| {
            old.map(|mut s: ChannelState| {
                s.digest.retain(|i| !ids.contains(&i.id.as_str()));
                s
            })
        })
        .await?;
        info!(items = items.len(), "digest sent");
        Ok(true)
    }

    async fn mail_digest(
        &self,
        channel: &Channel,
        to: &MailTo,
        items: &[DigestItem],
        now: Timestamp,
    ) -> Result<(), ProcessError> {
        let charts = self.digest_charts(items).await;
        for r in self.mail_recipients(to).await {
            let links = |i: &DigestItem| {
                self.links_for(&i.record, i.generation, &channel.name, &r.address, i.at)
            };
            let mail = mail::digest(
                &self.config,
                &channel.name,
                items,
                &r.address,
                links,
                self.config.alert_routing.digest_after,
                now,
            )
            .map_err(|e| ProcessError::permanent(&e))?;
            let mut mail = mail;
            mail::add_digest_charts(&mut mail, &charts);
            self.mailer.send(&mail).await?;
        }
        Ok(())
    }

    /// The charts of a digest's items that have one, read back from the state
    /// bucket, or why each has none.
    async fn digest_charts(&self, items: &[DigestItem]) -> Vec<mail::DigestChartPart> {
        let mut out = Vec::new();
        for item in items {
            let chart = match &item.chart {
                None => continue,
                Some(DigestChart::None { why }) => Err(why.clone()),
                Some(DigestChart::Kept { text }) => {
                    let key = image::key(&item.record, item.generation);
                    match self.state.get(&key).await {
                        Ok(Some(o)) => Ok((o.body.to_vec(), text.clone())),
                        Ok(None) => Err("the chart is no longer kept".to_owned()),
                        Err(e) => {
                            warn!(error = %Chain(&e), "a digest's chart could not be read");
                            Err("the chart could not be read".to_owned())
                        }
                    }
                }
            };
            out.push(mail::DigestChartPart {
                title: item.title.clone(),
                chart,
            });
        }
        out
    }
}
