//! The operators' channels (`UPDATE_CHANNELS`): every public update subscribers are
//! told of also goes, once, to the operators' Slack, Microsoft Teams, Mattermost,
//! Discord, Google Chat or signed webhook, in the body each service documents
//! ([`crate::chat`]). These are the operators' own, set in the configuration, not
//! self-service.
//!
//! The list is written as `ALERT_CHANNELS` is, without email channels (readers
//! subscribe to mail themselves):
//!
//! ```json
//! [{"name": "status", "type": "slack", "url": "https://hooks.slack.com/services/…"},
//!  {"name": "db-team", "type": "teams", "url": "https://…", "match": "component=\"Database\""},
//!  {"name": "audit", "type": "webhook", "url": "https://…", "secret": "whsec_…"}]
//! ```
//!
//! A channel's `match` sees the update's `component` (each of its components in turn;
//! empty when it names none), `kind` (`published`, `comment`, `stage`, `closed`,
//! `reopened`, `announced`, `started`, `completed`), `stage` and `severity`.
//!
//! A delivery is recorded before it is sent (`deliveries/<update>/channel-<name's
//! hash>.json`, created only if absent), so a redelivered update posts to no channel
//! twice; a send that fails after its retries removes its record and fails the
//! message, so the queue tries it again later, and only the channels not yet told.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::fanout::DELIVERIES_PREFIX;
use super::update::{Update, UpdateKind};
use crate::chat::{self, Fact, Link, Message, Retries, Tone};
use crate::errors::{BackendError, ProcessError};
use crate::ports::{Condition, ObjectStore, Outbound, PutOptions};
use crate::routing::channels::{Channel, Channels, ChannelsError, Destination};
use crate::site::render::to_text;

/// Published text longer than this is shortened in a chat message, with the page's
/// link.
const MAX_TEXT_CHARS: usize = 1_500;

/// What is wrong with `UPDATE_CHANNELS`.
#[derive(Debug, thiserror::Error)]
pub enum UpdateChannelsError {
    #[error(transparent)]
    Channels(#[from] ChannelsError),
    #[error(
        "{0:?} is an email channel: readers subscribe to mail themselves, so \
         UPDATE_CHANNELS lists chat and webhook channels only"
    )]
    Mail(String),
    #[error(
        "{0:?} is a pager (sms, ntfy, pushover, telegram): pagers reach people on call \
         (ALERT_CHANNELS and the on-call file); UPDATE_CHANNELS lists chat and webhook \
         channels only"
    )]
    Pager(String),
}

/// The channels of `UPDATE_CHANNELS` and the way out to them.
pub struct UpdateChannels {
    channels: Vec<Channel>,
    outbound: Arc<dyn Outbound>,
    retries: Retries,
}

impl UpdateChannels {
    /// Reads `UPDATE_CHANNELS`; errors name the entry and what is wrong with it.
    pub fn parse(
        json: &str,
        outbound: Arc<dyn Outbound>,
    ) -> Result<UpdateChannels, UpdateChannelsError> {
        let Channels(channels) = Channels::parse(json)?;
        if let Some(c) = channels.iter().find(|c| c.is_mail()) {
            return Err(UpdateChannelsError::Mail(c.name.clone()));
        }
        if let Some(c) = channels
            .iter()
            .find(|c| matches!(&c.destination, Destination::Chat(t) if t.kind.is_pager()))
        {
            return Err(UpdateChannelsError::Pager(c.name.clone()));
        }
        Ok(UpdateChannels {
            channels,
            outbound,
            retries: Retries::STANDARD,
        })
    }

    /// With other retries (tests keep them short).
    pub fn with_retries(mut self, retries: Retries) -> UpdateChannels {
        self.retries = retries;
        self
    }

    /// The names of the channels that take `update`.
    pub fn route(&self, update: &Update) -> Vec<&str> {
        self.channels
            .iter()
            .filter(|c| takes(c, update))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Posts `update` to every channel that takes it and has not had it yet. A
    /// channel that fails does not hold back the others; the message fails after
    /// them all if one may take it later.
    pub async fn tell(
        &self,
        state: &dyn ObjectStore,
        update: &Update,
        site_title: &str,
        page: Option<&str>,
    ) -> Result<usize, ProcessError> {
        let message = message(update, site_title, page);
        let (mut told, mut retry) = (0, None);
        for channel in self.channels.iter().filter(|c| takes(c, update)) {
            let Destination::Chat(target) = &channel.destination else {
                continue;
            };
            let key = record_key(&update.id, &channel.name);
            let claim = PutOptions::private_json().with_condition(Condition::IfNoneMatch);
            let record = serde_json::json!({ "channel": channel.name }).to_string();
            match state.put(&key, Bytes::from(record), claim).await {
                Ok(_) => {}
                Err(BackendError::PreconditionFailed(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            match chat::send(self.outbound.as_ref(), target, &message, self.retries).await {
                Ok(d) => {
                    told += 1;
                    info!(channel = %channel.name, update = %update.id, attempts = d.attempts, "update posted");
                }
                Err(f) => {
                    warn!(channel = %channel.name, update = %update.id, reason = %f.reason, attempts = f.attempts, "update not posted");
                    if f.permanent {
                        // The service refuses this request: trying again cannot help,
                        // and the record keeps it from being tried.
                        continue;
                    }
                    if let Err(e) = state.delete(&key).await {
                        warn!(channel = %channel.name, error = %e, "a failed post's record stays; it is not retried");
                    }
                    retry = Some(format!("channel {}: {}", channel.name, f.reason));
                }
            }
        }
        match retry {
            Some(why) => Err(ProcessError::Retryable(why)),
            None => Ok(told),
        }
    }
}

/// Whether `channel` takes `update`: its matchers hold for one of the update's
/// components (or for none, when it names none).
fn takes(channel: &Channel, update: &Update) -> bool {
    let i = &update.incident;
    let components: Vec<Option<&str>> = match i.components.is_empty() {
        true => vec![None],
        false => i.components.iter().map(|c| Some(c.as_str())).collect(),
    };
    components.into_iter().any(|component| {
        channel.matchers.matches(|name| match name {
            "component" => component,
            "kind" => Some(update.kind.as_str()),
            "stage" => Some(i.stage.as_str()),
            "severity" => i.severity.as_deref(),
            _ => None,
        })
    })
}

fn record_key(update: &str, channel: &str) -> String {
    let hash = hex::encode(Sha256::digest(channel.as_bytes()));
    format!("{DELIVERIES_PREFIX}{update}/channel-{}.json", &hash[..16])
}

/// The chat message of an update: what happened, the incident's title, its public
/// text, stage, severity and components, and a link to its page.
pub fn message(update: &Update, site_title: &str, page: Option<&str>) -> Message {
    let i = &update.incident;
    let title = to_text(&i.title);
    let what = match update.kind {
        UpdateKind::Published => "New incident",
        UpdateKind::Comment => "Update",
        UpdateKind::Stage => "Stage changed",
        UpdateKind::Closed => "Resolved",
        UpdateKind::Reopened => "Reopened",
        UpdateKind::Announced => "Scheduled maintenance",
        UpdateKind::Started => "Maintenance started",
        UpdateKind::Completed => "Maintenance completed",
        UpdateKind::Postmortem => "Postmortem",
        UpdateKind::Component => "Component state",
    };
    let mut text = to_text(&update.html);
    if text.chars().count() > MAX_TEXT_CHARS {
        text = text.chars().take(MAX_TEXT_CHARS).collect::<String>() + " …";
    }
    let fact = |name: &str, value: String| Fact {
        name: name.into(),
        value,
    };
    let mut facts = vec![fact("Stage", i.stage.replace('_', " "))];
    if let Some(p) = &update.previous_stage {
        facts.push(fact("Was", p.replace('_', " ")));
    }
    if let Some(s) = &i.severity {
        facts.push(fact("Severity", s.clone()));
    }
    if !i.components.is_empty() {
        facts.push(fact("Affected", i.components.join(", ")));
    }
    if let Some(w) = &i.window {
        facts.push(fact(
            "Window",
            format!(
                "{} to {}",
                crate::time::format(&w.starts_at),
                crate::time::format(&w.ends_at)
            ),
        ));
    }
    let tone = match update.kind {
        UpdateKind::Closed | UpdateKind::Completed => Tone::Good,
        UpdateKind::Stage if i.stage == "resolved" => Tone::Good,
        UpdateKind::Component => match i.stage.as_str() {
            "operational" => Tone::Good,
            "major_outage" | "partial_outage" => Tone::Danger,
            _ => Tone::Warning,
        },
        UpdateKind::Announced | UpdateKind::Started | UpdateKind::Postmortem => Tone::Neutral,
        _ => match i.severity.as_deref() {
            Some("critical" | "high") | None => Tone::Danger,
            _ => Tone::Warning,
        },
    };
    Message {
        event: format!("status.{}", update.kind.as_str()),
        id: update.id.clone(),
        title: format!("{site_title}: {what}: {title}"),
        text,
        link: page.map(|p| match update.kind {
            UpdateKind::Component => Link {
                label: "See the status page".into(),
                url: format!("{p}/"),
            },
            _ => Link {
                label: "See the incident's page".into(),
                url: format!("{p}/{}", crate::site::incident_page_key(i.id)),
            },
        }),
        facts,
        buttons: vec![],
        tone,
        thread: Some(format!("incident-{}", i.id)),
        timestamp: update.at,
        since: None,
        alert: None,
        details: Some(serde_json::json!({
            "incident": i.id,
            "kind": update.kind.as_str(),
            "stage": i.stage,
            "components": i.components,
        })),
        image: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::memory::MemoryStore;
    use crate::ports::Answer;
    use crate::subscriptions::update::Subject;

    /// Answers each URL with the statuses scripted for it (200 once they run out), and
    /// counts the requests.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<HashMap<String, Vec<u16>>>,
        posts: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Outbound for Scripted {
        async fn post(
            &self,
            url: &str,
            _headers: &[(&str, String)],
            _body: Bytes,
        ) -> Result<Answer, BackendError> {
            self.posts.lock().unwrap().push(url.to_owned());
            let mut answers = self.answers.lock().unwrap();
            // Google Chat's URL gains its thread's key.
            let status = answers
                .iter_mut()
                .find(|(k, _)| url.starts_with(k.as_str()))
                .map(|(_, a)| a)
                .filter(|a| !a.is_empty())
                .map_or(200, |a| a.remove(0));
            Ok(Answer {
                status,
                body: String::new(),
                retry_after: None,
            })
        }
    }

    const QUICK: Retries = Retries {
        attempts: 2,
        backoff: Duration::from_millis(1),
        max_wait: Duration::from_millis(2),
    };

    fn update(kind: UpdateKind, components: &[&str]) -> Update {
        Update {
            id: format!("7.{}", kind.as_str()),
            kind,
            at: crate::time::parse("2026-12-01T09:00:00Z").unwrap(),
            incident: Subject {
                id: 7,
                title: "API &amp; web errors".into(),
                status: "opened".into(),
                stage: "investigating".into(),
                components: components.iter().map(|c| c.to_string()).collect(),
                severity: Some("high".into()),
                window: None,
            },
            html: "<p>We are <strong>looking</strong> into it.</p>".into(),
            previous_stage: None,
            audience: None,
        }
    }

    fn channels(out: Arc<Scripted>) -> UpdateChannels {
        UpdateChannels::parse(
            r#"[{"name": "all", "type": "slack", "url": "https://hooks.example.com/all"},
                {"name": "db", "type": "discord", "url": "https://hooks.example.com/db",
                 "match": "component=~\"Data.*\", kind!=\"comment\""},
                {"name": "flaky", "type": "googlechat", "url": "https://hooks.example.com/flaky"}]"#,
            out,
        )
        .unwrap()
        .with_retries(QUICK)
    }

    #[test]
    fn matchers_see_each_component_the_kind_stage_and_severity() {
        let c = channels(Arc::default());
        assert_eq!(
            c.route(&update(UpdateKind::Published, &["Web", "Database"])),
            ["all", "db", "flaky"]
        );
        assert_eq!(
            c.route(&update(UpdateKind::Comment, &["Database"])),
            ["all", "flaky"]
        );
        assert_eq!(
            c.route(&update(UpdateKind::Published, &[])),
            ["all", "flaky"]
        );
    }

    #[test]
    fn the_message_is_the_public_text() {
        let m = message(
            &update(UpdateKind::Published, &["Database"]),
            "Acme status",
            Some("https://status.example.com"),
        );
        assert_eq!(m.title, "Acme status: New incident: API & web errors");
        assert_eq!(m.text, "We are looking into it.");
        assert_eq!(m.event, "status.published");
        assert_eq!(
            m.link.unwrap().url,
            "https://status.example.com/incidents/7.html"
        );
        assert_eq!(m.tone, Tone::Danger);
        let closed = message(&update(UpdateKind::Closed, &[]), "Acme status", None);
        assert_eq!(closed.tone, Tone::Good);
        assert!(closed.link.is_none());
    }

    /// Every string in `v` that holds nothing, by its path.
    fn empty_strings(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.trim().is_empty() => out.push(path.to_owned()),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    empty_strings(x, &format!("{path}[{i}]"), out);
                }
            }
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    empty_strings(x, &format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }

    /// A closed incident's update says nothing but that it closed: no service gets an
    /// empty field (Discord refuses an empty embed description), and Discord's embed
    /// has no description at all.
    #[test]
    fn a_closed_incident_update_sends_no_empty_field() {
        let mut closed = update(UpdateKind::Closed, &[]);
        closed.html = String::new();
        closed.incident.severity = None;
        let m = message(&closed, "Acme status", None);
        assert_eq!(m.text, "");
        for kind in chat::Kind::ALL {
            if kind == chat::Kind::Webhook || kind == chat::Kind::Sms {
                continue;
            }
            let target = chat::Target {
                to: Some("123".into()),
                token: Some(crate::config::Secret::new("app-token")),
                ..chat::Target::webhook(kind, "https://hooks.example.com/x")
            };
            let request = chat::outgoing(&target, &m).http().unwrap();
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let mut empty = Vec::new();
            empty_strings(&body, kind.as_str(), &mut empty);
            assert_eq!(empty, Vec::<String>::new(), "{body}");
            if kind == chat::Kind::Discord {
                assert!(body["embeds"][0].get("description").is_none(), "{body}");
                assert_eq!(
                    body["embeds"][0]["title"],
                    "Acme status: Resolved: API \\& web errors"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_failing_channel_is_retried_alone_and_a_refusing_one_given_up() {
        let out = Arc::new(Scripted::default());
        out.answers.lock().unwrap().insert(
            "https://hooks.example.com/flaky".into(),
            vec![503, 503, 200],
        );
        out.answers
            .lock()
            .unwrap()
            .insert("https://hooks.example.com/db".into(), vec![404]);
        let c = channels(out.clone());
        let state = MemoryStore::new();
        let u = update(UpdateKind::Published, &["Database"]);
        // The flaky channel fails both tries: the message is to be retried; the
        // others were told, and the refusing one is not tried again.
        let first = c.tell(&state, &u, "Acme status", None).await;
        assert!(
            matches!(&first, Err(ProcessError::Retryable(m)) if m.contains("flaky")),
            "{first:?}"
        );
        let posts = out.posts.lock().unwrap().clone();
        assert_eq!(posts.len(), 4, "{posts:?}");
        // The retry posts to the flaky channel only; a third time posts nothing.
        assert_eq!(c.tell(&state, &u, "Acme status", None).await.unwrap(), 1);
        assert_eq!(c.tell(&state, &u, "Acme status", None).await.unwrap(), 0);
        let posts = out.posts.lock().unwrap().clone();
        assert_eq!(
            posts.iter().filter(|p| p.ends_with("/all")).count(),
            1,
            "{posts:?}"
        );
        assert_eq!(posts.iter().filter(|p| p.ends_with("/db")).count(), 1);
        assert_eq!(posts.iter().filter(|p| p.contains("/flaky")).count(), 3);
    }

    #[test]
    fn email_channels_are_refused() {
        let e = UpdateChannels::parse(
            r#"[{"name": "mail", "type": "email", "to": "ops@example.com"}]"#,
            Arc::new(Scripted::default()),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&e, UpdateChannelsError::Mail(name) if name == "mail"),
            "{e}"
        );
        assert!(
            e.to_string().contains("\"mail\" is an email channel"),
            "{e}"
        );
        for pager in [
            r#"{"name": "p", "type": "sms", "to": "+15550100"}"#,
            r#"{"name": "p", "type": "ntfy", "url": "https://ntfy.sh/ops"}"#,
        ] {
            let e = UpdateChannels::parse(&format!("[{pager}]"), Arc::new(Scripted::default()))
                .err()
                .unwrap();
            assert!(
                matches!(&e, UpdateChannelsError::Pager(name) if name == "p"),
                "{e}"
            );
        }
    }
}
