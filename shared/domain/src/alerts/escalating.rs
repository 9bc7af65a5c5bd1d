//! Escalation driven by the notifier: an alert a policy of the on-call file takes
//! starts escalating when it fires (its steps due at once are paged then), and the
//! tick pages each later step when it is due, until someone acknowledges the alert,
//! it resolves, or its incident issue is closed.
//!
//! - What was paged is kept with the alert's record (`escalation`, in the private
//!   state bucket), and claimed there with a conditional write before any page goes:
//!   a tick delivered twice, two ticks at once or a replayed alert page nobody twice
//!   (a crash between the claim and the page loses that page rather than repeating
//!   it).
//! - The alerts under escalation and when each is next due are listed in
//!   `oncall/escalating.json`, so a tick reads only the alerts with a step due.
//! - A person is paged by mail (the page carries the acknowledge link) and by their
//!   first phone method (SMS, ntfy, Pushover, Telegram, in the file's order) that
//!   takes the page: a method that fails falls through to the next, and each failure
//!   is recorded with the alert (never naming a contact detail). A `channel:` gets the
//!   page as any alert message.
//! - Where the alert has an incident issue, each page (and a step with nobody on call)
//!   becomes a note on it; acknowledging notes itself ([`crate::alerts::actions`]).
//!   Each page and step is kept with the alert (`paged`, `done`) and becomes an event
//!   of the issue's GitLab timeline ([`crate::alerts::timeline`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::alerts::lifecycle::Notifier;
use crate::alerts::links::ActionLinks;
use crate::alerts::record::{AlertRecord, Notice, RecordStatus};
use crate::alerts::{mail, message};
use crate::chat::{self, ChannelSender, Kind, Services, Target};
use crate::config::Config;
use crate::document;
use crate::errors::ProcessError;
use crate::i18n::{self, Catalogue};
use crate::ids::IncidentId;
use crate::mail::Mail;
use crate::oncall::escalation::{
    AlertState, Escalating, EscalationRecord, Page, Paged, Recipient, escalate, next_due,
    policy_for,
};
use crate::oncall::file::{Contact, ContactKind, OnCall, Target as Named};
use crate::ports::Mailer;
use crate::routing::channels::{Destination, label};
use crate::time::Timestamp;

/// The alerts under escalation, and when each is next due.
pub const ESCALATING_KEY: &str = "oncall/escalating.json";

/// The most failures an alert's escalation remembers.
const REMEMBERED_FAILURES: usize = 50;

/// The channel name the links of a page by mail carry ("who acted" is the person).
pub const PAGE_MAIL: &str = "on-call page by mail";
/// The channel name the links of a page by phone carry.
pub const PAGE_PHONE: &str = "on-call page by phone";

/// The alerts under escalation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// Record key, and when its next step is due.
    pub alerts: BTreeMap<String, Timestamp>,
}

/// What starting an alert's escalation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// No on-call file is set up (`ONCALL_CONFIG`).
    NoOnCall,
    /// The on-call file is set up, but none has been read that validates.
    NoFile,
    /// No record, or not firing, held by a maintenance or silenced: nobody is paged.
    Quiet,
    /// No policy of the file matches the alert's labels.
    NoPolicy,
    /// This firing escalates already, under `policy`: nothing more is paged now.
    Already { policy: String },
    /// Escalation began under `policy`: `pages` went at once, the next step is due at
    /// `next` (`None`: no step left to page).
    Began {
        policy: String,
        pages: usize,
        next: Option<Timestamp>,
    },
}

/// What one page did.
#[derive(Debug, Default)]
pub struct Sent {
    /// The methods (or the channel) that took it.
    pub by: Vec<&'static str>,
    /// Each method that failed and why, naming no contact detail.
    pub failures: Vec<String>,
}

/// What pages a person, whatever asks for the page (an escalation step, `/incident
/// page` from chat): a mail to each of their addresses, and the page to the first of
/// their phone methods (SMS, ntfy, Pushover, Telegram, in the file's order) that
/// takes it, a method that fails falling through to the next.
#[derive(Clone)]
pub struct Pager {
    pub config: Arc<Config>,
    pub mailer: Arc<dyn Mailer>,
    pub senders: chat::Senders,
}

impl Pager {
    /// Pages `name` through `contacts`: `mail` makes the mail for an address,
    /// `message` the page for the phone methods. Every address is mailed and the
    /// first phone method that takes the page is used.
    pub async fn reach(
        &self,
        name: &str,
        contacts: &[Contact],
        mail: impl Fn(&str) -> Result<Mail, String>,
        message: impl FnOnce() -> Result<chat::Message, String>,
    ) -> Sent {
        self.reach_by(name, contacts, mail, message, false).await
    }

    /// Reaches `name` one way only (a message that is no page, such as a shift
    /// start): by mail to their first address that takes it, else by their first
    /// phone method that takes it.
    pub async fn reach_first(
        &self,
        name: &str,
        contacts: &[Contact],
        mail: impl Fn(&str) -> Result<Mail, String>,
        message: impl FnOnce() -> Result<chat::Message, String>,
    ) -> Sent {
        self.reach_by(name, contacts, mail, message, true).await
    }

    /// Mail to each address (`one_way`: until one takes it, and then nothing more),
    /// then the phone methods.
    async fn reach_by(
        &self,
        name: &str,
        contacts: &[Contact],
        mail: impl Fn(&str) -> Result<Mail, String>,
        message: impl FnOnce() -> Result<chat::Message, String>,
        one_way: bool,
    ) -> Sent {
        let mut sent = Sent::default();
        for c in contacts.iter().filter(|c| c.kind == ContactKind::Email) {
            match self.send_mail(&c.address, &mail).await {
                Ok(()) if one_way => {
                    sent.by.push("email");
                    return sent;
                }
                Ok(()) => sent.by.push("email"),
                Err(why) => sent.failures.push(format!("email: {why}")),
            }
        }
        self.reach_phone(contacts, message, &mut sent).await;
        if sent.by.is_empty() {
            warn!(person = %name, "nobody could be reached by any method");
        }
        sent
    }

    /// The message `message` makes, to the first of the phone methods among
    /// `contacts` that takes it (none: nothing is made).
    async fn reach_phone(
        &self,
        contacts: &[Contact],
        message: impl FnOnce() -> Result<chat::Message, String>,
        sent: &mut Sent,
    ) {
        let phones: Vec<&Contact> = contacts
            .iter()
            .filter(|c| c.kind != ContactKind::Email)
            .collect();
        if !phones.is_empty() {
            match message() {
                Ok(msg) => self.page_phone(&phones, &msg, sent).await,
                Err(why) => sent.failures.push(why),
            }
        }
    }

    /// The mail `mail` makes for `address`, sent; a failure never names the address.
    pub async fn send_mail(
        &self,
        address: &str,
        mail: &impl Fn(&str) -> Result<Mail, String>,
    ) -> Result<(), String> {
        let m = mail(address)?;
        self.mailer
            .send(&m)
            .await
            .map_err(|e| e.to_string().replace(address, "[address]"))
    }

    /// The page to the first phone method that takes it.
    async fn page_phone(&self, phones: &[&Contact], msg: &chat::Message, sent: &mut Sent) {
        let services = match Services::from_config(&self.config) {
            Ok(s) => s,
            Err(e) => {
                sent.failures.push(e.to_string());
                return;
            }
        };
        let mut targets: Vec<Target> = Vec::new();
        for c in phones {
            let made = Kind::parse(c.kind.as_str())
                .ok_or_else(|| format!("{} is not a pager", c.kind.as_str()))
                .and_then(|k| Target::contact(k, &c.address, &services).map_err(|e| e.to_string()));
            match made {
                Ok(t) => targets.push(t),
                Err(why) => sent.failures.push(format!("{}: {why}", c.kind.as_str())),
            }
        }
        let paged = chat::first_delivered(&self.senders, &targets, msg).await;
        for (_, f) in &paged.failures {
            sent.failures.push(f.to_string());
        }
        if let Some((i, _)) = paged.delivered {
            sent.by.push(targets[i].kind.as_str());
        }
    }
}

impl Notifier {
    /// Starts the escalation of a firing alert that a policy takes, once per firing,
    /// and pages what is due at once. Says what came of it ([`Begun`]).
    pub async fn escalation_begin(&self, key: &str) -> Result<Begun, ProcessError> {
        let Some(keeper) = &self.oncall else {
            return Ok(Begun::NoOnCall);
        };
        let file = match keeper.current(self.state.as_ref()).await? {
            Some(file) => file,
            // Not read yet (a process that has not ticked): read it now.
            None => {
                self.refresh_oncall(keeper).await;
                match keeper.current(self.state.as_ref()).await? {
                    Some(file) => file,
                    None => return Ok(Begun::NoFile),
                }
            }
        };
        let Some((record, _)) = document::read::<AlertRecord>(self.state.as_ref(), key).await?
        else {
            return Ok(Begun::Quiet);
        };
        if let Some(e) = record
            .escalation
            .as_ref()
            .filter(|e| e.generation == record.generation)
        {
            return Ok(Begun::Already {
                policy: e.record.policy.clone().unwrap_or_default(),
            });
        }
        let now = self.clock.now();
        // Held by a maintenance or silenced: it pages nobody (a held alert begins when
        // its maintenance lets it go).
        let muted = crate::alerts::muting::held(&record) || record.silenced_at(now).is_some();
        if record.status != RecordStatus::Triggered || muted {
            return Ok(Begun::Quiet);
        }
        let Some(policy) = policy_for(&file, |n| label(&record.alert, n)) else {
            return Ok(Begun::NoPolicy);
        };
        let started = record.alert.starts_at.map_or(now, |s| s.min(now));
        let escalating = Escalating {
            generation: record.generation,
            started,
            record: EscalationRecord {
                policy: Some(policy.name.clone()),
                ..EscalationRecord::default()
            },
            failures: Vec::new(),
            paged: Vec::new(),
        };
        let next = next_due(policy, started, &escalating.record);
        // Listed first: the tick always finds an alert that escalates.
        self.list_escalating(key, next).await?;
        document::update(self.state.as_ref(), key, |old: Option<AlertRecord>| {
            let mut r = old?;
            let begun = r
                .escalation
                .as_ref()
                .is_some_and(|e| e.generation == r.generation);
            if !begun && r.generation == escalating.generation {
                r.escalation = Some(escalating.clone());
            }
            Some(r)
        })
        .await?;
        info!(policy = %policy.name, "alert escalating");
        let (pages, next) = match next {
            Some(due) if due <= now => {
                let (pages, next) = self.escalate_due(&file, key, now).await;
                self.list_escalating(key, next).await?;
                (pages?, next)
            }
            _ => (0, next),
        };
        Ok(Begun::Began {
            policy: policy.name.clone(),
            pages,
            next,
        })
    }

    /// The tick's part: the on-call file read again where due (its refusal told to the
    /// maintainers once), then every alert with a step due paged. Returns how many
    /// pages went; every alert is tried, the first error is returned.
    pub async fn escalation_tick(&self) -> Result<usize, ProcessError> {
        let Some(keeper) = &self.oncall else {
            return Ok(0);
        };
        let now = self.clock.now();
        self.refresh_oncall(keeper).await;
        let Some((file, revision)) = keeper.current_revision(self.state.as_ref()).await? else {
            return Ok(0);
        };
        if let Err(e) = self.tell_shifts(&file, &revision, now).await {
            warn!(error = %e, "shift starts and gaps could not be told");
        }
        let Some((open, _)) = document::read::<Open>(self.state.as_ref(), ESCALATING_KEY).await?
        else {
            return Ok(0);
        };
        let (mut pages, mut first) = (0, None);
        let mut visited = BTreeMap::new();
        for (key, due) in &open.alerts {
            if *due > now {
                continue;
            }
            let (paged, next) = self.escalate_due(&file, key, now).await;
            visited.insert(key.clone(), (*due, next));
            match paged {
                Ok(n) => pages += n,
                Err(e) => {
                    warn!(error = %e, "an alert's escalation failed; the next tick tries again");
                    first.get_or_insert(e);
                }
            }
        }
        // The list written once for every alert visited (it is read whole).
        if let Err(e) = self.relist(&visited).await {
            first.get_or_insert(e);
        }
        match first {
            Some(e) => Err(e),
            None => Ok(pages),
        }
    }

    /// Reads the on-call file again where due; its refusal is told to the maintainers
    /// once (tried again at each tick until told), and a failure to read it leaves
    /// the last good one in use.
    async fn refresh_oncall(&self, keeper: &crate::oncall::keeper::Keeper) {
        if let Err(e) = keeper.refresh(self.state.as_ref(), self.clock.now()).await {
            warn!(error = %e, "the on-call file could not be read; the last good one stays in use");
        }
        if let Err(e) = self.tell_refused(keeper).await {
            warn!(error = %e, "whether the on-call file's refusal is told is unknown");
        }
    }

    /// The alerts a tick visited listed with their next step's time (or taken off),
    /// each only if the list still has it as the tick read it.
    async fn relist(
        &self,
        visited: &BTreeMap<String, (Timestamp, Option<Timestamp>)>,
    ) -> Result<(), ProcessError> {
        if visited.is_empty() {
            return Ok(());
        }
        document::update(self.state.as_ref(), ESCALATING_KEY, |old: Option<Open>| {
            let mut open = old.unwrap_or_default();
            for (key, (read, next)) in visited {
                if open.alerts.get(key) != Some(read) {
                    continue;
                }
                match next {
                    Some(due) => open.alerts.insert(key.clone(), *due),
                    None => open.alerts.remove(key),
                };
            }
            Some(open)
        })
        .await?;
        Ok(())
    }

    /// Lists an alert as escalating with its next step's time, or takes it off.
    async fn list_escalating(
        &self,
        key: &str,
        next: Option<Timestamp>,
    ) -> Result<(), ProcessError> {
        list(self.state.as_ref(), key, next).await
    }

    /// Pages the steps of one alert that are due: claimed in its record first, then
    /// sent, then their outcome recorded, noted on its issue and written on its
    /// timeline. Returns how many pages went and when the tick is to visit it next
    /// (at once again when its timeline could not be written now); listing it then is
    /// the caller's.
    async fn escalate_due(
        &self,
        file: &OnCall,
        key: &str,
        now: Timestamp,
    ) -> (Result<usize, ProcessError>, Option<Timestamp>) {
        let mut next = None;
        let pages = self.escalate_steps(file, key, now, &mut next).await;
        (pages, next)
    }

    async fn escalate_steps(
        &self,
        file: &OnCall,
        key: &str,
        now: Timestamp,
        next: &mut Option<Timestamp>,
    ) -> Result<usize, ProcessError> {
        // Until the record says otherwise, the alert stays due.
        *next = Some(now);
        let IssueNow { closed, call_link } = self.issue_now(file, key, now).await?;
        let mut claimed: Vec<Page> = Vec::new();
        let mut nobody: Vec<(u32, u32, String)> = Vec::new();
        let mut due = None;
        let record = document::update(self.state.as_ref(), key, |old: Option<AlertRecord>| {
            let mut r = old?;
            claimed.clear();
            nobody.clear();
            due = None;
            let Some(esc) = r
                .escalation
                .clone()
                .filter(|e| e.generation == r.generation)
            else {
                return Some(r);
            };
            let Some(policy) = esc
                .record
                .policy
                .as_deref()
                .and_then(|name| file.policies.iter().find(|p| p.name == name))
            else {
                return Some(r);
            };
            let e = escalate(
                file,
                policy,
                &alert_state(&r, &esc, closed, now),
                &esc.record,
                now,
            );
            claimed = e.pages;
            nobody = e.nobody;
            due = next_due(policy, esc.started, &e.record);
            r.escalation = Some(Escalating {
                record: e.record,
                ..esc
            });
            Some(r)
        })
        .await?;
        *next = due;
        let Some(mut record) = record else {
            return Ok(0);
        };
        // The issue was read for its state just now: its call link comes with it.
        if let (false, Some(link), Some(issue)) = (claimed.is_empty(), call_link, &mut record.issue)
        {
            issue.call_link = link;
        }
        if let Some((why, _)) = record.escalation.as_ref().and_then(|e| e.record.stopped) {
            info!(why = ?why, "escalation stopped");
        }
        let sent = join_all(claimed.iter().map(|p| self.page(&record, p, now))).await;
        let failures: Vec<String> = claimed
            .iter()
            .zip(&sent)
            .flat_map(|(p, s)| {
                s.failures
                    .iter()
                    .map(move |f| format!("step {}, {}: {f}", p.step, who(english(), p)))
            })
            .collect();
        let paged: Vec<Paged> = claimed
            .iter()
            .zip(&sent)
            .map(|(p, s)| kept_page(p, s, now))
            .collect();
        if !paged.is_empty() {
            self.record_sent(key, failures, paged).await?;
        }
        for (r, k, schedule) in &nobody {
            warn!(round = r, step = k, schedule = %schedule, "a step found nobody on call");
        }
        self.note_pages(&record, &claimed, &sent, &nobody).await;
        if let Err(e) = self.write_timeline(key).await {
            // The tick tries again.
            *next = Some(now);
            return Err(e);
        }
        Ok(sent.iter().filter(|s| !s.by.is_empty()).count())
    }

    /// When the alert's incident issue was closed, if it has one that is, and its call
    /// link: asked of GitLab, once, only when a step is due (the issue says nothing
    /// otherwise).
    async fn issue_now(
        &self,
        file: &OnCall,
        key: &str,
        now: Timestamp,
    ) -> Result<IssueNow, ProcessError> {
        let unknown = IssueNow::default();
        // Without GitLab's API there is nothing to ask: the record is not read.
        let Some(api) = &self.gitlab else {
            return Ok(unknown);
        };
        let Some((r, _)) = document::read::<AlertRecord>(self.state.as_ref(), key).await? else {
            return Ok(unknown);
        };
        let (Some(esc), Some(issue)) = (&r.escalation, &r.issue) else {
            return Ok(unknown);
        };
        if issue.closed {
            return Ok(IssueNow {
                closed: Some(now),
                call_link: None,
            });
        }
        let due = esc
            .record
            .policy
            .as_deref()
            .and_then(|name| file.policies.iter().find(|p| p.name == name))
            .is_some_and(|p| {
                !escalate(file, p, &alert_state(&r, esc, None, now), &esc.record, now)
                    .pages
                    .is_empty()
            });
        let Some(project) = issue.project.or(self.config.home_project()).filter(|_| due) else {
            return Ok(unknown);
        };
        match api.issue(IncidentId::new(project, issue.iid)).await {
            Ok(Some(i)) => Ok(IssueNow {
                closed: (i.state == "closed").then(|| i.closed_at.unwrap_or(now).min(now)),
                call_link: Some(
                    i.description
                        .as_deref()
                        .and_then(crate::chat::commands::bridge::from_description),
                ),
            }),
            Ok(None) => Ok(unknown),
            Err(e) => {
                warn!(error = %e, "whether the incident issue is closed is unknown; paging");
                Ok(unknown)
            }
        }
    }

    /// Keeps the pages sent and the methods that failed with the alert's escalation.
    async fn record_sent(
        &self,
        key: &str,
        failures: Vec<String>,
        paged: Vec<Paged>,
    ) -> Result<(), ProcessError> {
        document::update(self.state.as_ref(), key, |old: Option<AlertRecord>| {
            let mut r = old?;
            if let Some(e) = r.escalation.as_mut() {
                e.paged.extend(paged.iter().cloned());
                e.failures.extend(failures.iter().cloned());
                let excess = e.failures.len().saturating_sub(REMEMBERED_FAILURES);
                e.failures.drain(..excess);
            }
            Some(r)
        })
        .await?;
        Ok(())
    }

    /// What pages a person, made of the notifier's mailer and senders.
    pub fn pager(&self) -> Pager {
        Pager {
            config: self.config.clone(),
            mailer: self.mailer.clone(),
            senders: self.senders(),
        }
    }

    /// Sends one page.
    async fn page(&self, record: &AlertRecord, page: &Page, now: Timestamp) -> Sent {
        match &page.to {
            Recipient::Person { name, contacts } => {
                let mail_links = self.page_links(record, name, PAGE_MAIL, now);
                let phone_links = self.page_links(record, name, PAGE_PHONE, now);
                // The alert's part, the same in the mail and on the phone: made once.
                let shared = message::Shared::new(&self.config, record, Notice::New, now);
                let mail = |address: &str| {
                    self.page_mail(&shared, record, page, address, mail_links.as_ref(), now)
                };
                let message = || {
                    page_message(
                        &self.config,
                        &shared,
                        record,
                        page,
                        phone_links.as_ref(),
                        now,
                    )
                };
                self.pager().reach(name, contacts, mail, message).await
            }
            Recipient::Channel(name) => self.page_channel(record, page, name, now).await,
        }
    }

    /// The links of a page to `person` by `medium` ([`PAGE_MAIL`], [`PAGE_PHONE`]).
    fn page_links(
        &self,
        record: &AlertRecord,
        person: &str,
        medium: &str,
        now: Timestamp,
    ) -> Option<ActionLinks> {
        self.links
            .as_ref()
            .map(|l| l.for_message(&record.id(), record.generation, medium, person, now))
    }

    /// The page as a mail to `address`: the alert's mail, saying which step this is.
    fn page_mail(
        &self,
        shared: &message::Shared,
        record: &AlertRecord,
        page: &Page,
        address: &str,
        links: Option<&ActionLinks>,
        now: Timestamp,
    ) -> Result<Mail, String> {
        let mut m = mail::compose_with(
            shared,
            &self.config,
            record,
            Notice::New,
            now,
            &[address.to_owned()],
            links,
        )
        .map_err(|e| e.to_string())?;
        page_mail_of(
            i18n::catalogue(self.config.site.page_language),
            &mut m,
            record,
            page,
            now,
        );
        Ok(m)
    }

    /// The page to a channel of `ALERT_CHANNELS`.
    async fn page_channel(
        &self,
        record: &AlertRecord,
        page: &Page,
        name: &str,
        now: Timestamp,
    ) -> Sent {
        let mut sent = Sent::default();
        let Some(channel) = self.channels.get(name) else {
            sent.failures
                .push(format!("there is no channel {name:?} in ALERT_CHANNELS"));
            return sent;
        };
        let shared = message::Shared::new(&self.config, record, Notice::New, now);
        match &channel.destination {
            Destination::Chat(target) => {
                let links = self
                    .links
                    .as_ref()
                    .map(|l| l.for_message(&record.id(), record.generation, name, "", now));
                let msg =
                    match page_message(&self.config, &shared, record, page, links.as_ref(), now) {
                        Ok(m) => m,
                        Err(why) => {
                            sent.failures.push(why);
                            return sent;
                        }
                    };
                match self.senders().send(target, &msg).await {
                    Ok(_) => sent.by.push("channel"),
                    Err(f) => sent.failures.push(f.to_string()),
                }
            }
            Destination::Mail(to) => {
                for r in self.mail_recipients(to).await {
                    let links = self.links.as_ref().map(|l| {
                        l.for_message(&record.id(), record.generation, name, &r.address, now)
                    });
                    let mail = |address: &str| {
                        self.page_mail(&shared, record, page, address, links.as_ref(), now)
                    };
                    match self.pager().send_mail(&r.address, &mail).await {
                        Ok(()) => sent.by.push("channel"),
                        Err(why) => sent.failures.push(format!("email: {why}")),
                    }
                }
            }
        }
        sent
    }

    /// Notes each page (and each step with nobody on call) on the alert's incident
    /// issue, if it has one.
    async fn note_pages(
        &self,
        record: &AlertRecord,
        pages: &[Page],
        sent: &[Sent],
        nobody: &[(u32, u32, String)],
    ) {
        let (Some(api), Some(issue)) = (&self.gitlab, &record.issue) else {
            return;
        };
        let Some(project) = issue.project.or(self.config.home_project()) else {
            return;
        };
        let id = IncidentId::new(project, issue.iid);
        let notes = pages
            .iter()
            .zip(sent)
            .map(|(p, s)| page_note(p, s))
            .chain(nobody.iter().map(|(r, k, s)| {
                format!(
                    "On-call page, {}: nobody is on call in schedule {}.",
                    step_name(english(), *r, *k),
                    code(s)
                )
            }));
        for body in notes {
            if let Err(e) = api.add_note(id, &body).await {
                warn!(error = %e, "the page could not be noted on the incident issue");
            }
        }
    }

    /// Tells the maintainers that the on-call file does not validate, if that is
    /// still to tell to any of them.
    async fn tell_refused(
        &self,
        keeper: &crate::oncall::keeper::Keeper,
    ) -> Result<(), ProcessError> {
        let Some(untold) = keeper.untold(self.state.as_ref()).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        let round = self
            .tell_maintainers(
                std::slice::from_ref(&untold.hash),
                &untold.reached,
                |_, to| refused_mail(&self.config, &keeper.name, &untold.problems, to, now),
            )
            .await;
        keeper
            .told(self.state.as_ref(), &untold.hash, &round.reached, round.all)
            .await
    }
}

/// Lists the alert of record `key` as escalating with its next step's time (the tick
/// visits it then), or takes it off.
pub async fn list(
    state: &dyn crate::ports::ObjectStore,
    key: &str,
    next: Option<Timestamp>,
) -> Result<(), ProcessError> {
    document::update(state, ESCALATING_KEY, |old: Option<Open>| {
        let mut open = old.unwrap_or_default();
        match next {
            Some(due) => open.alerts.insert(key.to_owned(), due),
            None => open.alerts.remove(key),
        };
        Some(open)
    })
    .await?;
    Ok(())
}

/// What GitLab said of an alert's incident issue before a step pages: whether it is
/// closed, and its call link (`None`: the issue was not read, the link kept stays).
#[derive(Debug, Default)]
struct IssueNow {
    closed: Option<Timestamp>,
    call_link: Option<Option<String>>,
}

/// What is kept of a page sent, in English as the notes and timeline events that
/// tell it afterwards.
fn kept_page(page: &Page, sent: &Sent, at: Timestamp) -> Paged {
    let en = i18n::catalogue(crate::config::Language::En);
    Paged {
        round: page.round,
        step: page.step,
        to: who(en, page),
        because: because(en, page),
        by: sent.by.iter().map(|b| (*b).to_owned()).collect(),
        at,
    }
}

/// What escalation needs to know of the alert now. An acknowledgement or a
/// resolution counts whenever it was recorded (a link's clock may run ahead of the
/// tick's).
fn alert_state(
    r: &AlertRecord,
    esc: &Escalating,
    closed: Option<Timestamp>,
    now: Timestamp,
) -> AlertState {
    AlertState {
        id: format!("{}/{}", r.id(), r.generation),
        started: esc.started,
        acknowledged: r.acknowledged().map(|a| a.at.min(now)),
        resolved: (r.status == RecordStatus::Resolved)
            .then(|| r.resolved_at.unwrap_or(now).min(now)),
        closed: closed.or_else(|| r.issue.as_ref().filter(|i| i.closed).map(|_| now)),
    }
}

/// `step 2` (`step 2, round 2` when the steps run again), in `cat`'s language.
pub(super) fn step_name(cat: &Catalogue, round: u32, step: u32) -> String {
    let step = step.to_string();
    if round == 0 {
        cat.format("oncall.page.step", &[("step", &step)])
    } else {
        let round = (round + 1).to_string();
        cat.format(
            "oncall.page.step_round",
            &[("step", &step), ("round", &round)],
        )
    }
}

fn who(cat: &Catalogue, page: &Page) -> String {
    match &page.to {
        Recipient::Person { name, .. } => name.clone(),
        Recipient::Channel(c) => cat.format("oncall.page.channel", &[("name", c)]),
    }
}

/// Why the recipient is paged: `on call in primary`.
fn because(cat: &Catalogue, page: &Page) -> String {
    match &page.because {
        Named::Schedule(s) => cat.format("oncall.page.on_call_in", &[("schedule", s)]),
        Named::Person(_) => cat.text("oncall.page.named").to_owned(),
        Named::Channel(_) => cat.text("oncall.page.policy_channel").to_owned(),
    }
}

/// `Page, step 2: <what>`.
fn page_lead(cat: &Catalogue, page: &Page, what: &str) -> String {
    cat.format(
        "oncall.page.lead",
        &[
            ("step", &step_name(cat, page.round, page.step)),
            ("what", what),
        ],
    )
}

/// What a page says beside the alert: the step, for how long it has fired, who was
/// paged before.
fn page_intro(cat: &Catalogue, record: &AlertRecord, page: &Page, now: Timestamp) -> String {
    let since = record.alert.starts_at.unwrap_or(record.first_seen);
    let lasting = cat.duration(now.signed_duration_since(since));
    let before = if page.paged_before.is_empty() {
        cat.text("oncall.page.nobody").to_owned()
    } else {
        page.paged_before.join(", ")
    };
    cat.format(
        "oncall.page.intro",
        &[
            ("step", &step_name(cat, page.round, page.step)),
            ("who", &who(cat, page)),
            ("why", &because(cat, page)),
            ("lasting", &lasting),
            ("before", &before),
        ],
    )
}

/// The alert's message as a page, in `PAGE_LANGUAGE`: its title names the step, its
/// text starts with what the page says (for how long included, so no pager adds a
/// line of its own for it).
fn page_message(
    config: &crate::config::Config,
    shared: &message::Shared,
    record: &AlertRecord,
    page: &Page,
    links: Option<&ActionLinks>,
    now: Timestamp,
) -> Result<chat::Message, String> {
    let cat = i18n::catalogue(config.site.page_language);
    let mut msg = message::alert_message_with(shared, record, Notice::New, now, links)
        .map_err(|e| e.to_string())?;
    let headline = cat.format(
        message::headline_new(record),
        &[("title", &crate::mail::header_safe(&record.alert.title))],
    );
    let what = match record.alert.environment.as_deref() {
        Some(env) => format!("{env}: {headline}"),
        None => headline,
    };
    msg.event = "alert.page".into();
    msg.id = format!("page-{}", short_hash(&page.key));
    msg.title = page_lead(cat, page, &what);
    msg.text = format!("{}\n\n{}", page_intro(cat, record, page, now), msg.text);
    msg.since = None;
    in_language(cat, &mut msg, record, links);
    // The call link right after the acknowledge link, so that a pager showing few
    // links shows it.
    if let Some(url) = record.issue.as_ref().and_then(|i| i.call_link.as_deref()) {
        msg.buttons.retain(|b| b.url != url);
        let at = msg.buttons.len().min(1);
        msg.buttons.insert(
            at,
            chat::Link {
                label: chat::CALL_LABEL.into(),
                url: url.to_owned(),
            },
        );
    }
    Ok(msg)
}

/// The alert message's English names of facts, with their catalogue keys.
const FACTS: [(&str, &str); 9] = [
    ("Severity", "alert.severity"),
    ("Environment", "alert.environment"),
    ("Started", "alert.started"),
    ("Ended", "alert.ended"),
    ("Events", "alert.events"),
    ("Service", "alert.service"),
    ("Hosts", "alert.hosts"),
    ("Values", "alert.values"),
    ("Acknowledged", "alert.acknowledged"),
];

/// The alert message's facts and links named in `cat`'s language, as its values
/// already are (a pager shows them all).
fn in_language(
    cat: &Catalogue,
    msg: &mut chat::Message,
    record: &AlertRecord,
    links: Option<&ActionLinks>,
) {
    for f in &mut msg.facts {
        if let Some((_, key)) = FACTS.iter().find(|(name, _)| *name == f.name) {
            f.name = cat.text(key).to_owned();
        }
    }
    let mut labels: Vec<(&str, String)> = Vec::new();
    if let Some(l) = links {
        labels.push((&l.ack, cat.text("alert.ack_button").to_owned()));
        for (length, url) in &l.silence {
            labels.push((
                url,
                cat.format("alert.silence_button", &[("length", length)]),
            ));
        }
    }
    if let Some(url) = record.alert.runbook.as_deref() {
        labels.push((url, cat.text("alert.runbook").to_owned()));
    }
    if let Some(issue) = &record.issue {
        labels.push((&issue.url, cat.text("alert.incident").to_owned()));
    }
    for b in msg.buttons.iter_mut().chain(msg.link.iter_mut()) {
        if let Some((_, label)) = labels.iter().find(|(url, _)| *url == b.url) {
            b.label = label.clone();
        }
    }
    if let (Some(link), Some(url)) = (msg.link.as_mut(), record.alert.generator_url.as_deref())
        && link.url == url
    {
        link.label = cat.text("alert.graph").to_owned();
    }
}

/// The alert's mail (in `PAGE_LANGUAGE`) made a page.
fn page_mail_of(cat: &Catalogue, m: &mut Mail, record: &AlertRecord, page: &Page, now: Timestamp) {
    let intro = page_intro(cat, record, page, now);
    m.subject = page_lead(cat, page, &m.subject);
    m.text = format!("{intro}\n\n{}", m.text);
    let para = format!(
        "<p><strong>{}</strong></p>",
        openmic_render::escape_text(&intro)
    );
    m.html = match m
        .html
        .find("<body")
        .and_then(|b| m.html[b..].find('>').map(|e| b + e + 1))
    {
        Some(at) => format!("{}{para}{}", &m.html[..at], &m.html[at..]),
        None => format!("{para}{}", m.html),
    };
    m.message_id = format!("<page-{}@openmic>", short_hash(&page.key));
    m.in_reply_to = None;
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Text as inline code in a note: no backtick or line end inside, so nothing in it
/// is markdown or a quick action.
pub(super) fn code(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c == '`' || c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    format!("`{}`", clean.trim())
}

/// The notes on the issue and the failures recorded are in English, as the rest of
/// what openmic notes on an issue.
fn english() -> &'static Catalogue {
    i18n::catalogue(i18n::Language::En)
}

/// The note of one page.
fn page_note(page: &Page, sent: &Sent) -> String {
    let lead = if page.step > 1 || page.round > 0 {
        format!(
            "Escalated to {}",
            step_name(english(), page.round, page.step)
        )
    } else {
        format!(
            "On-call page, {}",
            step_name(english(), page.round, page.step)
        )
    };
    let before = if page.paged_before.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = page.paged_before.iter().map(|p| code(p)).collect();
        format!(" Paged before: {}.", names.join(", "))
    };
    let how = if sent.by.is_empty() {
        "could not be paged by any method".to_owned()
    } else {
        format!("paged by {}", sent.by.join(", "))
    };
    let mut note = format!(
        "{lead}: {} ({}) {how}.{before}",
        code(&who(english(), page)),
        because(english(), page)
    );
    for f in &sent.failures {
        note.push_str(&format!("\n- failed: {}", code(f)));
    }
    note
}

/// The mail telling `to` that the on-call file `name` does not validate.
fn refused_mail(
    config: &crate::config::Config,
    name: &str,
    problems: &str,
    to: &str,
    now: Timestamp,
) -> Option<Mail> {
    let from = config.mail.mail_from.clone()?;
    let subject = format!(
        "openmic: the on-call file {} does not validate",
        crate::mail::header_safe(name)
    );
    let text = format!(
        "The on-call file {name} does not validate, so it is not used: the last one that did stays in use.\n\n{problems}\n\nFix the file and push it again.\n"
    );
    let html = format!(
        "<!DOCTYPE html><html><body><p>The on-call file <code>{}</code> does not validate, so it is not used: the last one that did stays in use.</p><pre>{}</pre><p>Fix the file and push it again.</p></body></html>",
        openmic_render::escape_text(name),
        openmic_render::escape_text(problems)
    );
    Some(Mail {
        parts: Vec::new(),
        from,
        to: vec![to.to_owned()],
        subject,
        text,
        html,
        date: now,
        message_id: format!(
            "<oncall-refused-{}@openmic>",
            short_hash(&format!("{problems}\n{to}"))
        ),
        in_reply_to: None,
        headers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_names_the_step_who_and_how_in_code_only() {
        let page = Page {
            round: 0,
            step: 2,
            to: Recipient::Person {
                name: "bob".into(),
                contacts: vec![],
            },
            because: Named::Schedule("secondary".into()),
            paged_before: vec!["alice".into(), "/close `x`".into()],
            key: "r/0/0/2/bob".into(),
        };
        let sent = Sent {
            by: vec!["email", "sms"],
            failures: vec!["ntfy: refused\n/close".into()],
        };
        assert_eq!(
            page_note(&page, &sent),
            "Escalated to step 2: `bob` (on call in secondary) paged by email, sms. Paged before: `alice`, `/close  x`.\n- failed: `ntfy: refused /close`"
        );
    }

    /// A page follows `PAGE_LANGUAGE`: the mail's subject and first line, the SMS
    /// and push title and text, and the acknowledge button.
    #[test]
    fn a_german_page_says_it_in_german() {
        use crate::alerts::{Alert, AlertSource, AlertStatus, Severity};
        let config = crate::config::Config::from_lookup(|n| match n {
            "PAGE_LANGUAGE" => Some("de".into()),
            "MAIL_FROM" => Some("openmic@example.com".into()),
            _ => None,
        })
        .unwrap();
        let t0 = crate::time::parse("2026-12-07T10:00:00Z").unwrap();
        let alert = Alert {
            source: AlertSource::Prometheus,
            fingerprint: Some("fp".into()),
            status: AlertStatus::Firing,
            title: "API down".into(),
            description: Some("5xx everywhere".into()),
            severity: Severity::Critical,
            environment: None,
            service: None,
            monitoring_tool: None,
            hosts: vec![],
            starts_at: Some(t0),
            ends_at: None,
            generator_url: None,
            runbook: None,
            labels: Default::default(),
            annotations: Default::default(),
            extra: Default::default(),
            links: Default::default(),
            quirks: vec![],
        };
        let (record, _) = crate::alerts::record::apply(
            None,
            "fp",
            &alert,
            "d1",
            t0,
            std::time::Duration::from_secs(3600),
        );
        let record = record.unwrap();
        let page = Page {
            round: 1,
            step: 2,
            to: Recipient::Person {
                name: "bob".into(),
                contacts: vec![],
            },
            because: Named::Schedule("secondary".into()),
            paged_before: vec![],
            key: "r/1/0/2/bob".into(),
        };
        let now = t0 + chrono::Duration::minutes(75);
        let intro = "Seit 1 Std. 15 Min. aktiv. Alarmierung der Rufbereitschaft, Stufe 2, Runde 2 (bob, hat Bereitschaft in secondary). Zuvor alarmiert: niemand.";
        let cat = i18n::catalogue(config.site.page_language);
        let mut m = mail::compose(
            &config,
            &record,
            Notice::New,
            now,
            &["bob@example.com".into()],
            None,
        )
        .unwrap();
        page_mail_of(cat, &mut m, &record, &page, now);
        assert_eq!(m.subject, "Alarmierung, Stufe 2, Runde 2: Alarm: API down");
        assert!(m.text.starts_with(intro), "{}", m.text);
        assert!(m.html.contains("Zuvor alarmiert: niemand."), "{}", m.html);
        let shared = message::Shared::new(&config, &record, Notice::New, now);
        let msg = page_message(&config, &shared, &record, &page, None, now).unwrap();
        assert_eq!(
            msg.title,
            "Alarmierung, Stufe 2, Runde 2: Neuer Alarm: API down"
        );
        assert!(msg.text.starts_with(intro), "{}", msg.text);
        let facts: Vec<(&str, &str)> = msg
            .facts
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(facts[0], ("Schweregrad", "kritisch"), "{facts:?}");
        assert_eq!(facts[1].0, "Beginn", "{facts:?}");
        let links = ActionLinks {
            ack: "https://api.example.com/alerts/ack?token=a".into(),
            silence: vec![(
                "1h",
                "https://api.example.com/alerts/silence?token=s".into(),
            )],
        };
        let linked = page_message(&config, &shared, &record, &page, Some(&links), now).unwrap();
        let labels: Vec<&str> = linked.buttons.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["Bestätigen", "Stumm für 1h"]);
        let sms = crate::chat::sms::text(&linked);
        assert!(
            sms.contains("Bestätigen: https://api.example.com/alerts/ack"),
            "{sms}"
        );
        assert!(sms.contains("\nSeit 1 Std. 15 Min. aktiv."), "{sms}");
        assert!(!sms.contains("for "), "no English line added: {sms}");
        // The note on the issue stays in English, as every note openmic writes.
        let sent = Sent {
            by: vec!["email"],
            failures: vec![],
        };
        assert!(page_note(&page, &sent).starts_with("Escalated to step 2, round 2: `bob`"));
    }

    /// Texts each number it is given.
    #[derive(Default)]
    struct Texts(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl crate::ports::Sms for Texts {
        async fn send_sms(
            &self,
            phone: &str,
            _text: &str,
        ) -> Result<(), crate::errors::BackendError> {
            self.0.lock().unwrap().push(phone.to_owned());
            Ok(())
        }
    }

    /// One way only: the mail when it goes, the first phone method when it fails.
    #[tokio::test]
    async fn reaching_first_takes_the_mail_else_the_phone() {
        let config = crate::config::Config::from_lookup(|_| None).unwrap();
        let mailer = Arc::new(crate::memory::MemoryMailer::default());
        let texts = Arc::new(Texts::default());
        let pager = Pager {
            config: Arc::new(config),
            mailer: mailer.clone(),
            senders: chat::Senders {
                outbound: None,
                sms: Some(texts.clone()),
                retries: chat::Retries::ONCE,
            },
        };
        let contacts = [
            Contact {
                kind: ContactKind::Email,
                address: "alice@example.com".into(),
            },
            Contact {
                kind: ContactKind::Sms,
                address: "+15550100".into(),
            },
        ];
        let mail = |to: &str| {
            Ok(Mail {
                parts: Vec::new(),
                from: "openmic@example.com".into(),
                to: vec![to.to_owned()],
                subject: "Your on-call shift in primary begins".into(),
                text: "From now.".into(),
                html: "<p>From now.</p>".into(),
                date: crate::time::parse("2026-12-07T09:00:00Z").unwrap(),
                message_id: "<shift@openmic>".into(),
                in_reply_to: None,
                headers: Vec::new(),
            })
        };
        let message = || Ok(crate::chat::tests::sample());
        let sent = pager.reach_first("alice", &contacts, mail, message).await;
        assert_eq!(sent.by, ["email"]);
        assert_eq!(mailer.take().len(), 1);
        assert!(texts.0.lock().unwrap().is_empty(), "one way only");
        mailer.fail_next(1);
        let sent = pager.reach_first("alice", &contacts, mail, message).await;
        assert_eq!(sent.by, ["sms"]);
        assert_eq!(sent.failures.len(), 1, "{:?}", sent.failures);
        assert!(!sent.failures[0].contains("alice@"), "{:?}", sent.failures);
        assert_eq!(*texts.0.lock().unwrap(), ["+15550100"]);
    }
}
