//! One typed configuration, read once from the environment (the names docs/configuration.md lists).

pub mod alerting;
pub mod chat;
pub mod metrics;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// A secret value: compared in constant time, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself, for the few places that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Constant-time comparison with what a caller presented.
    pub fn matches(&self, presented: &[u8]) -> bool {
        crate::signing::constant_time_eq(self.0.as_bytes(), presented)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A shared secret that callers present (`GITLAB_WEBHOOK_SECRET`, `ALERT_TOKEN`), given
/// as `current[,previous]`: during a rotation both are taken, so the sender can be
/// switched to the new value between two deploys without a request refused.
#[derive(Clone, PartialEq, Eq)]
pub struct Accepted {
    current: Secret,
    previous: Option<Secret>,
}

impl Accepted {
    pub fn new(current: impl Into<String>) -> Self {
        Accepted {
            current: Secret::new(current),
            previous: None,
        }
    }

    /// `current` or `current,previous` (blanks around each trimmed).
    pub fn parse(name: &'static str, value: &str) -> Result<Self, ConfigError> {
        let mut parts = value.split(',').map(str::trim);
        let current = parts.next().unwrap_or_default();
        let previous = parts.next().filter(|p| !p.is_empty());
        if current.is_empty() || parts.next().is_some() {
            return Err(ConfigError::Invalid {
                name,
                why: "give the secret, or during a rotation `new,previous` (two values at \
                      most, separated by a comma)"
                    .into(),
            });
        }
        Ok(Accepted {
            current: Secret::new(current),
            previous: previous.map(Secret::new),
        })
    }

    /// The value openmic itself sends or shows: the current one.
    pub fn expose(&self) -> &str {
        self.current.expose()
    }

    /// Whether `presented` is the current or the previous value, compared in constant
    /// time with both (which one matched is not told by the time taken).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let current = self.current.matches(presented);
        let previous = self.previous.as_ref().is_some_and(|p| p.matches(presented));
        current | previous
    }

    /// Whether a previous value is still taken (a rotation not finished).
    pub fn rotating(&self) -> bool {
        self.previous.is_some()
    }
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.rotating() {
            "Accepted(***, previous ***)"
        } else {
            "Accepted(***)"
        })
    }
}

/// Who may have their microphone awards publish a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MicrophoneTrust {
    /// Any user, as GitLab's own status page does.
    Anyone,
    /// Users allowed to publish.
    Publishers,
    /// Members with Developer access or more (needs the GitLab API; without it,
    /// publishers).
    Developers,
}

/// One of openmic's Lambda functions (the local runner reads what all of them read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    Webhook,
    Alerts,
    Publisher,
    Notifier,
    Subscriptions,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Webhook,
        Function::Alerts,
        Function::Publisher,
        Function::Notifier,
        Function::Subscriptions,
    ];

    /// Its binary: `openmic-webhook`, ...
    pub fn binary(self) -> &'static str {
        match self {
            Function::Webhook => "openmic-webhook",
            Function::Alerts => "openmic-alerts",
            Function::Publisher => "openmic-publisher",
            Function::Notifier => "openmic-notifier",
            Function::Subscriptions => "openmic-subscriptions",
        }
    }
}

/// One setting, declared by the capability (or adapter) that reads it: its
/// environment variable, its default as docs/configuration.md gives it, what it does,
/// which functions read it and which cannot start without it. The template, that
/// page's table and the functions' start-up checks all follow these declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// As docs/configuration.md says it: a value in backticks, `none`, or when it is
    /// required.
    pub default: &'static str,
    pub meaning: &'static str,
    /// Never shown: `NoEcho` in the template.
    pub secret: bool,
    pub read_by: &'static [Function],
    pub required_by: &'static [Function],
}

/// How published incidents are numbered (`id` and keys of the public data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PublicIds {
    /// GitLab's iid: `data/incident/<iid>.json`, as GitLab's own status page (one
    /// project).
    #[default]
    Iid,
    /// GitLab's global issue id, unique across projects (several projects).
    Global,
}

/// A language the status page, its feed and the mail are written in (`PAGE_LANGUAGE`);
/// each has a catalogue of every string in the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Language {
    #[default]
    En,
    De,
    Fr,
    Es,
    Pt,
    Ja,
}

impl Language {
    pub const ALL: [Language; 6] = [
        Language::En,
        Language::De,
        Language::Fr,
        Language::Es,
        Language::Pt,
        Language::Ja,
    ];

    /// Its BCP 47 tag, as `lang` attributes want it.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::Pt => "pt",
            Language::Ja => "ja",
        }
    }

    /// A language tag by its primary subtag, in any case: `de`, `de-AT`, `pt_BR`.
    pub fn parse(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }
}

/// A configuration error: names the variable and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
    /// Set as it is, the function could do nothing of its work.
    #[error("{0}")]
    Useless(String),
}

/// Every setting of docs/configuration.md. Which ones a function requires is up to the function
/// (see [`Config::require`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// `current[,previous]`.
    pub gitlab_webhook_secret: Option<Accepted>,
    pub gitlab_signing_token: Option<Secret>,
    /// `GITLAB_PROJECT_ID`: one project, or several sharing one page; empty (local
    /// runner only) takes the first project seen.
    pub gitlab_projects: Vec<u64>,
    /// `current[,previous]`.
    pub alert_token: Option<Accepted>,
    pub publish_label: String,
    /// `MAINTENANCE_LABEL`: the label of a scheduled maintenance.
    pub maintenance_label: String,
    pub publishers: BTreeSet<String>,
    pub publish_min_access: u32,
    pub microphone_trust: MicrophoneTrust,
    pub gitlab_url: Option<String>,
    pub gitlab_token: Option<Secret>,
    pub status_bucket: Option<String>,
    pub state_bucket: Option<String>,
    pub publish_queue_url: Option<String>,
    pub alert_queue_url: Option<String>,
    pub mail_from: Option<String>,
    pub maintainer_emails: Vec<String>,
    pub status_page_url: Option<String>,
    pub renotify_after: Duration,
    pub create_incidents: bool,
    pub incident_template: Option<String>,
    pub auto_close_incidents: bool,
    pub max_body_bytes: usize,
    /// With API access, the first publication notes the public URL on the issue.
    pub link_back: bool,
    /// `SUBSCRIPTIONS=on`: readers subscribe to updates by mail.
    pub subscriptions: bool,
    /// The HMAC key of the subscription links' tokens.
    pub subscription_secret: Option<Secret>,
    /// `SUBSCRIBE_MAX_PER_HOUR`: confirmation mails an hour, whoever asks.
    pub subscribe_max_per_hour: u32,
    /// Where the subscription routes and the alert links are served: the base of the
    /// links in mail and chat and of the subscribe form.
    pub public_api_url: Option<String>,
    /// The FIFO queue of public updates for subscribers.
    pub update_queue_url: Option<String>,
    /// The dead-letter queues of the publish, alerts and updates queues: where a
    /// consumer moves a message it gives up on, with the reason (SQS only; without
    /// one, the queue's own redrive moves it, without the reason).
    pub publish_dead_letter_queue_url: Option<String>,
    pub alert_dead_letter_queue_url: Option<String>,
    pub update_dead_letter_queue_url: Option<String>,
    /// `MAX_RECEIVE_COUNT`: receives of a message before it is given up on (the
    /// queues' `maxReceiveCount` on SQS; the files queue's locally).
    pub max_receive_count: u32,
    /// `UPDATE_CHANNELS` as given (JSON; it holds webhook URLs, so it is a secret).
    pub update_channels: Option<Secret>,
    /// The SES configuration set subscription mail goes out with (its bounce and
    /// complaint events come back).
    pub ses_configuration_set: Option<String>,
    /// Where alerts go and how (docs/alerts.md, "Alert routing").
    pub alert_routing: alerting::AlertRouting,
    /// Incidents run from chat (docs/chat.md).
    pub chat: chat::ChatSettings,
    /// Metrics in incidents (docs/alerts.md).
    pub metrics: metrics::MetricsSettings,
    /// `COMPONENTS`: the page's components in this order, shown even before their
    /// first incident; components of labels not listed follow.
    pub components: Vec<String>,
    /// `PAGE_TITLE`: the page's name (without it, the catalogue's "Service status").
    pub page_title: Option<String>,
    /// `PAGE_LANGUAGE`: of the pages, the feed and the mail.
    pub page_language: Language,
    /// `PAGE_LOGO_URL`: a path in the status bucket (`brand/logo.svg`), or a URL on
    /// the page's own origin: the page loads nothing from elsewhere.
    pub page_logo_url: Option<String>,
    /// `PAGE_ACCENT`: `#rrggbb`, lower case.
    pub page_accent: Option<String>,
    /// `INCIDENT_SLA` as given (`critical=1h,high=4h,medium=1d`); the domain's `sla`
    /// reads it, and a function that needs it fails at start when it cannot.
    pub incident_sla: Option<String>,
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// `SUBSCRIBE_MAX_PER_HOUR` unless set.
pub const DEFAULT_SUBSCRIBE_MAX_PER_HOUR: u32 = 200;

/// How often a queue message is received before it is given up on, unless
/// `MAX_RECEIVE_COUNT` says otherwise (the template's `maxReceiveCount`).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;

impl Default for Config {
    fn default() -> Self {
        Config {
            gitlab_webhook_secret: None,
            gitlab_signing_token: None,
            gitlab_projects: Vec::new(),
            alert_token: None,
            publish_label: "status-page".into(),
            maintenance_label: "maintenance".into(),
            publishers: BTreeSet::new(),
            publish_min_access: 50,
            microphone_trust: MicrophoneTrust::Publishers,
            gitlab_url: None,
            gitlab_token: None,
            status_bucket: None,
            state_bucket: None,
            publish_queue_url: None,
            alert_queue_url: None,
            mail_from: None,
            maintainer_emails: Vec::new(),
            status_page_url: None,
            renotify_after: Duration::from_secs(4 * 3600),
            create_incidents: false,
            incident_template: None,
            auto_close_incidents: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            link_back: true,
            subscriptions: false,
            subscription_secret: None,
            subscribe_max_per_hour: DEFAULT_SUBSCRIBE_MAX_PER_HOUR,
            public_api_url: None,
            update_queue_url: None,
            publish_dead_letter_queue_url: None,
            alert_dead_letter_queue_url: None,
            update_dead_letter_queue_url: None,
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            update_channels: None,
            ses_configuration_set: None,
            alert_routing: Default::default(),
            chat: Default::default(),
            metrics: Default::default(),
            components: Vec::new(),
            page_title: None,
            page_language: Language::En,
            page_logo_url: None,
            page_accent: None,
            incident_sla: None,
        }
    }
}

/// The shortest `SUBSCRIPTION_SECRET` taken.
pub const MIN_SUBSCRIPTION_SECRET_LEN: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests). Empty values
    /// count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut c = Config {
            gitlab_webhook_secret: get("GITLAB_WEBHOOK_SECRET")
                .map(|v| Accepted::parse("GITLAB_WEBHOOK_SECRET", &v))
                .transpose()?,
            gitlab_signing_token: get("GITLAB_SIGNING_TOKEN").map(Secret),
            ..Config::default()
        };
        if let Some(t) = &c.gitlab_signing_token {
            crate::signing::SigningKey::from_secret(t.expose()).map_err(|e| {
                ConfigError::Invalid {
                    name: "GITLAB_SIGNING_TOKEN",
                    why: e.to_string(),
                }
            })?;
        }
        if let Some(v) = get("GITLAB_PROJECT_ID") {
            for id in split_list(&v) {
                let id: u64 = parse_num("GITLAB_PROJECT_ID", id)?;
                if !c.gitlab_projects.contains(&id) {
                    c.gitlab_projects.push(id);
                }
            }
        }
        c.alert_token = get("ALERT_TOKEN")
            .map(|v| Accepted::parse("ALERT_TOKEN", &v))
            .transpose()?;
        if let Some(v) = get("PUBLISH_LABEL") {
            c.publish_label = v;
        }
        if let Some(v) = get("MAINTENANCE_LABEL") {
            c.maintenance_label = v;
        }
        c.publishers = get("PUBLISHERS")
            .map(|v| {
                split_list(&v)
                    .map(|u| u.trim_start_matches('@').to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(v) = get("PUBLISH_MIN_ACCESS") {
            c.publish_min_access = parse_num("PUBLISH_MIN_ACCESS", &v)?;
        }
        if let Some(v) = get("MICROPHONE_TRUST") {
            c.microphone_trust = match v.to_ascii_lowercase().as_str() {
                "anyone" => MicrophoneTrust::Anyone,
                "publishers" => MicrophoneTrust::Publishers,
                "developers" => MicrophoneTrust::Developers,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "MICROPHONE_TRUST",
                        why: format!("{v:?} is not one of anyone, publishers, developers"),
                    });
                }
            };
        }
        c.gitlab_url = get("GITLAB_URL").map(|v| v.trim_end_matches('/').to_owned());
        if let Some(url) = &c.gitlab_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: "GITLAB_URL",
                why: "must start with https:// or http://".into(),
            });
        }
        c.gitlab_token = get("GITLAB_TOKEN").map(Secret);
        c.status_bucket = get("STATUS_BUCKET");
        c.state_bucket = get("STATE_BUCKET");
        c.publish_queue_url = get("PUBLISH_QUEUE_URL");
        c.alert_queue_url = get("ALERT_QUEUE_URL");
        c.mail_from = get("MAIL_FROM");
        if let Some(from) = &c.mail_from {
            check_address("MAIL_FROM", from)?;
        }
        c.maintainer_emails = get("MAINTAINER_EMAILS")
            .map(|v| split_list(&v).map(str::to_owned).collect())
            .unwrap_or_default();
        for to in &c.maintainer_emails {
            check_address("MAINTAINER_EMAILS", to)?;
        }
        c.status_page_url = get("STATUS_PAGE_URL").map(|v| v.trim_end_matches('/').to_owned());
        if let Some(v) = get("RENOTIFY_AFTER") {
            c.renotify_after = parse_duration(&v).ok_or_else(|| ConfigError::Invalid {
                name: "RENOTIFY_AFTER",
                why: format!("{v:?} is not a duration such as 30m, 4h, 1d or 90s"),
            })?;
        }
        c.create_incidents = parse_bool("CREATE_INCIDENTS", get("CREATE_INCIDENTS"))?;
        c.incident_template = get("INCIDENT_TEMPLATE");
        c.auto_close_incidents = parse_bool("AUTO_CLOSE_INCIDENTS", get("AUTO_CLOSE_INCIDENTS"))?;
        if let Some(v) = get("MAX_BODY_BYTES") {
            c.max_body_bytes = parse_num("MAX_BODY_BYTES", &v)?;
        }
        if get("LINK_BACK").is_some() {
            c.link_back = parse_bool("LINK_BACK", get("LINK_BACK"))?;
        }
        c.subscriptions = parse_bool("SUBSCRIPTIONS", get("SUBSCRIPTIONS"))?;
        c.subscription_secret = get("SUBSCRIPTION_SECRET").map(Secret);
        if let Some(s) = &c.subscription_secret
            && s.expose().len() < MIN_SUBSCRIPTION_SECRET_LEN
        {
            return Err(ConfigError::Invalid {
                name: "SUBSCRIPTION_SECRET",
                why: format!(
                    "is shorter than {MIN_SUBSCRIPTION_SECRET_LEN} characters; use e.g. `openssl rand -hex 32`"
                ),
            });
        }
        if let Some(v) = get("SUBSCRIBE_MAX_PER_HOUR") {
            c.subscribe_max_per_hour = parse_num("SUBSCRIBE_MAX_PER_HOUR", &v)?;
        }
        c.public_api_url = get("PUBLIC_API_URL").map(|v| v.trim_end_matches('/').to_owned());
        if let Some(url) = &c.public_api_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: "PUBLIC_API_URL",
                why: "must start with https:// or http://".into(),
            });
        }
        c.update_queue_url = get("UPDATE_QUEUE_URL");
        c.publish_dead_letter_queue_url = get("PUBLISH_DEAD_LETTER_QUEUE_URL");
        c.alert_dead_letter_queue_url = get("ALERT_DEAD_LETTER_QUEUE_URL");
        c.update_dead_letter_queue_url = get("UPDATE_DEAD_LETTER_QUEUE_URL");
        if let Some(v) = get("MAX_RECEIVE_COUNT") {
            c.max_receive_count = parse_num("MAX_RECEIVE_COUNT", &v)?;
            // SQS takes a maxReceiveCount of 1 to 1000.
            if !(1..=1000).contains(&c.max_receive_count) {
                return Err(ConfigError::Invalid {
                    name: "MAX_RECEIVE_COUNT",
                    why: format!("{v:?} is not between 1 and 1000 (SQS's maxReceiveCount)"),
                });
            }
        }
        c.update_channels = get("UPDATE_CHANNELS").map(Secret);
        c.ses_configuration_set = get("SES_CONFIGURATION_SET");
        c.alert_routing = alerting::AlertRouting::read(get)?;
        c.chat = chat::ChatSettings::read(get)?;
        c.metrics = metrics::MetricsSettings::read(get)?;
        if let Some(v) = get("COMPONENTS") {
            for name in v
                .split([',', '\n'])
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                if !c.components.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                    c.components.push(name.to_owned());
                }
            }
        }
        c.page_title = get("PAGE_TITLE");
        c.incident_sla = get("INCIDENT_SLA");
        if let Some(v) = get("PAGE_LANGUAGE") {
            c.page_language = Language::parse(&v).ok_or_else(|| ConfigError::Invalid {
                name: "PAGE_LANGUAGE",
                why: format!(
                    "{v:?} is not one of {}",
                    Language::ALL.map(Language::code).join(", ")
                ),
            })?;
        }
        if let Some(v) = get("PAGE_LOGO_URL") {
            c.page_logo_url = Some(check_logo(&v, c.status_page_url.as_deref())?);
        }
        if let Some(v) = get("PAGE_ACCENT") {
            c.page_accent = Some(parse_colour(&v).ok_or_else(|| ConfigError::Invalid {
                name: "PAGE_ACCENT",
                why: format!("{v:?} is not a colour such as #0b57d0 or #07c"),
            })?);
        }
        Ok(c)
    }

    /// Fails with the first variable of `variables` that `function` requires and that is
    /// not set.
    pub fn require_for<'a>(
        &self,
        function: Function,
        variables: impl IntoIterator<Item = &'a Variable>,
    ) -> Result<(), ConfigError> {
        for v in variables {
            if v.required_by.contains(&function) {
                self.require(&[v.name])?;
            }
        }
        if function == Function::Publisher {
            self.check_can_publish()?;
        }
        Ok(())
    }

    /// Fails when nobody could ever publish: no `PUBLISHERS`, and no GitLab API to find
    /// the members holding `PUBLISH_MIN_ACCESS`.
    pub fn check_can_publish(&self) -> Result<(), ConfigError> {
        if !self.publishers.is_empty() || (self.gitlab_url.is_some() && self.gitlab_token.is_some())
        {
            return Ok(());
        }
        Err(ConfigError::Useless(
            "nobody may publish an incident: name GitLab users in PUBLISHERS \
             (comma-separated usernames), or set GITLAB_URL and GITLAB_TOKEN so that project \
             members with PUBLISH_MIN_ACCESS may"
                .into(),
        ))
    }

    /// Whether public updates are queued for someone: subscribers
    /// (`SUBSCRIPTIONS=on`) or the operators' channels (`UPDATE_CHANNELS`).
    pub fn sends_updates(&self) -> bool {
        self.subscriptions || self.update_channels.is_some()
    }

    /// Fails with the first of `names` that is not set.
    pub fn require(&self, names: &[&'static str]) -> Result<(), ConfigError> {
        for &name in names {
            let set = match name {
                "GITLAB_WEBHOOK_SECRET" => {
                    self.gitlab_webhook_secret.is_some() || self.gitlab_signing_token.is_some()
                }
                "GITLAB_SIGNING_TOKEN" => self.gitlab_signing_token.is_some(),
                "GITLAB_PROJECT_ID" => !self.gitlab_projects.is_empty(),
                "ALERT_TOKEN" => self.alert_token.is_some(),
                "GITLAB_URL" => self.gitlab_url.is_some(),
                "GITLAB_TOKEN" => self.gitlab_token.is_some(),
                "STATUS_BUCKET" => self.status_bucket.is_some(),
                "STATE_BUCKET" => self.state_bucket.is_some(),
                "PUBLISH_QUEUE_URL" => self.publish_queue_url.is_some(),
                "ALERT_QUEUE_URL" => self.alert_queue_url.is_some(),
                "MAIL_FROM" => self.mail_from.is_some(),
                "MAINTAINER_EMAILS" => !self.maintainer_emails.is_empty(),
                "STATUS_PAGE_URL" => self.status_page_url.is_some(),
                "SUBSCRIPTION_SECRET" => self.subscription_secret.is_some(),
                "PUBLIC_API_URL" => self.public_api_url.is_some(),
                "UPDATE_QUEUE_URL" => self.update_queue_url.is_some(),
                "ALERT_LINK_SECRET" => self.alert_routing.link_secret.is_some(),
                _ => true,
            };
            if !set {
                return Err(ConfigError::Missing(name));
            }
        }
        Ok(())
    }

    /// How incidents are numbered in public: GitLab's iid with one project, its global
    /// issue id with several (iids repeat across projects).
    pub fn public_ids(&self) -> PublicIds {
        if self.gitlab_projects.len() > 1 {
            PublicIds::Global
        } else {
            PublicIds::Iid
        }
    }

    /// Where the pages' subscribe form posts: `<PUBLIC_API_URL>/subscribe`, with
    /// `SUBSCRIPTIONS=on`.
    pub fn subscribe_url(&self) -> Option<String> {
        let api = self
            .public_api_url
            .as_deref()
            .filter(|_| self.subscriptions)?;
        Some(format!("{api}/subscribe"))
    }

    /// The project whose API serves alerts' incident issues: the first listed.
    pub fn home_project(&self) -> Option<u64> {
        self.gitlab_projects.first().copied()
    }

    /// Whether `username` may publish by the `PUBLISHERS` list.
    pub fn is_publisher(&self, username: &str) -> bool {
        self.publishers.contains(username)
    }
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_num<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, ConfigError> {
    v.parse().map_err(|_| ConfigError::Invalid {
        name,
        why: format!("{v:?} is not a number"),
    })
}

fn parse_bool(name: &'static str, v: Option<String>) -> Result<bool, ConfigError> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name,
            why: format!("{other:?} is not true or false"),
        }),
    }
}

/// Whether `SSL_CERT_FILE` or `SSL_CERT_DIR` names certificates to trust: the
/// operator's word, which every HTTPS client then takes over the roots compiled into a
/// function (a self-managed GitLab or an S3-compatible store behind a private authority).
pub fn certificates_named() -> bool {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Whether `addr` is a plain email address (`local@domain.tld`, nothing around it).
pub fn is_address(addr: &str) -> bool {
    addr.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !addr
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

fn check_address(name: &'static str, addr: &str) -> Result<(), ConfigError> {
    if is_address(addr) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name,
            why: format!("{addr:?} is not an email address"),
        })
    }
}

/// `#rrggbb` or `#rgb`, in lower case as `#rrggbb`.
fn parse_colour(v: &str) -> Option<String> {
    let hex = v.trim().strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let full = match hex.len() {
        6 => hex.to_owned(),
        3 => hex.chars().flat_map(|c| [c, c]).collect(),
        _ => return None,
    };
    Some(format!("#{}", full.to_ascii_lowercase()))
}

/// The logo: a path in the status bucket (kept without its leading `/`), or an
/// http(s) URL on the page's own origin (`STATUS_PAGE_URL`), so that the page still
/// loads nothing from elsewhere.
fn check_logo(v: &str, page: Option<&str>) -> Result<String, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid {
        name: "PAGE_LOGO_URL",
        why,
    };
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        let origin = |u: &str| {
            let (scheme, rest) = u.split_once("://")?;
            let host = rest.split(['/', '?', '#']).next()?;
            Some(format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ))
        };
        return match page.and_then(origin) {
            Some(own) if origin(v).as_ref() == Some(&own) => Ok(v.to_owned()),
            _ => Err(invalid(format!(
                "{v:?} is not on the status page's own site ({}): the page loads nothing from elsewhere; put the logo in the status bucket (for example brand/logo.svg) and give its path",
                page.unwrap_or("STATUS_PAGE_URL is not set")
            ))),
        };
    }
    let path = v.trim_start_matches('/');
    let bad = v.starts_with("//")
        || path.is_empty()
        || path.split('/').any(|s| s == ".." || s.is_empty())
        || path
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"'<>\\:?#".contains(c));
    if bad {
        return Err(invalid(format!(
            "{v:?} is neither a path in the status bucket (such as brand/logo.svg) nor an https URL on the status page's site"
        )));
    }
    Ok(path.to_owned())
}

/// `90s`, `30m`, `4h`, `1d`, or plain seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_lists() {
        let c = load(&[("PUBLISHERS", "alice, @bob"), ("RENOTIFY_AFTER", "30m")]).unwrap();
        assert_eq!(c.publish_label, "status-page");
        assert!(c.is_publisher("alice") && c.is_publisher("bob") && !c.is_publisher("eve"));
        assert_eq!(c.renotify_after, Duration::from_secs(1800));
        assert_eq!(c.max_body_bytes, 6 * 1024 * 1024);
        assert!(c.link_back);
        assert_eq!(c.public_ids(), PublicIds::Iid);
        let c = load(&[("GITLAB_PROJECT_ID", "42, 7,42"), ("LINK_BACK", "false")]).unwrap();
        assert_eq!(c.gitlab_projects, vec![42, 7]);
        assert_eq!(c.public_ids(), PublicIds::Global);
        assert!(!c.link_back);
        let e = load(&[("GITLAB_PROJECT_ID", "42,ops/api")]).unwrap_err();
        assert!(e.to_string().contains("GITLAB_PROJECT_ID"), "{e}");
        assert_eq!(
            c.require(&["STATUS_BUCKET"]),
            Err(ConfigError::Missing("STATUS_BUCKET"))
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let e = load(&[("MAX_BODY_BYTES", "lots")]).unwrap_err();
        assert!(e.to_string().contains("MAX_BODY_BYTES"), "{e}");
        let e = load(&[("MICROPHONE_TRUST", "everybody")]).unwrap_err();
        assert!(e.to_string().contains("MICROPHONE_TRUST"), "{e}");
        let e = load(&[("MAINTAINER_EMAILS", "ops@example.com, nobody")]).unwrap_err();
        assert!(e.to_string().contains("MAINTAINER_EMAILS"), "{e}");
        let e = load(&[("SUBSCRIPTIONS", "maybe")]).unwrap_err();
        assert!(e.to_string().contains("SUBSCRIPTIONS"), "{e}");
        let e = load(&[("SUBSCRIPTION_SECRET", "short")]).unwrap_err();
        assert!(e.to_string().contains("SUBSCRIPTION_SECRET"), "{e}");
        assert!(
            !e.to_string().contains("short\""),
            "the value is not shown: {e}"
        );
        let e = load(&[("PUBLIC_API_URL", "api.example.com")]).unwrap_err();
        assert!(e.to_string().contains("PUBLIC_API_URL"), "{e}");
        let c = load(&[
            ("SUBSCRIPTIONS", "on"),
            ("PUBLIC_API_URL", "https://api.example.com/"),
        ])
        .unwrap();
        assert!(c.subscriptions);
        assert_eq!(c.public_api_url.as_deref(), Some("https://api.example.com"));
    }

    #[test]
    fn the_page_settings() {
        let c = load(&[
            ("COMPONENTS", "API, Web app,\nPayments, api"),
            ("PAGE_LANGUAGE", "pt-BR"),
            ("PAGE_ACCENT", "#F60"),
            ("PAGE_LOGO_URL", "/brand/logo.svg"),
        ])
        .unwrap();
        assert_eq!(c.components, vec!["API", "Web app", "Payments"]);
        assert_eq!(c.page_language, Language::Pt);
        assert_eq!(c.page_accent.as_deref(), Some("#ff6600"));
        assert_eq!(c.page_logo_url.as_deref(), Some("brand/logo.svg"));
        assert_eq!(load(&[]).unwrap().page_language, Language::En);
        let e = load(&[("PAGE_LANGUAGE", "klingon")]).unwrap_err();
        assert!(
            e.to_string().contains("PAGE_LANGUAGE") && e.to_string().contains("de, fr"),
            "{e}"
        );
        let e = load(&[("PAGE_ACCENT", "orange")]).unwrap_err();
        assert!(e.to_string().contains("PAGE_ACCENT"), "{e}");
        // The logo comes from the page's own site only.
        let own = load(&[
            ("STATUS_PAGE_URL", "https://status.example.com"),
            ("PAGE_LOGO_URL", "https://STATUS.example.com/brand/logo.png"),
        ])
        .unwrap();
        assert_eq!(
            own.page_logo_url.as_deref(),
            Some("https://STATUS.example.com/brand/logo.png")
        );
        for bad in [
            "https://cdn.example.net/logo.png",
            "//cdn.example.net/logo.png",
            "javascript:alert(1)",
            "../state/x.png",
        ] {
            let e = load(&[
                ("STATUS_PAGE_URL", "https://status.example.com"),
                ("PAGE_LOGO_URL", bad),
            ])
            .unwrap_err();
            assert!(e.to_string().contains("PAGE_LOGO_URL"), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = load(&[("GITLAB_WEBHOOK_SECRET", "hunter2-very-secret")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_publisher_that_nobody_could_use_does_not_start() {
        let none = load(&[]).unwrap();
        let e = none.require_for(Function::Publisher, []).unwrap_err();
        assert!(e.to_string().contains("PUBLISHERS") && e.to_string().contains("GITLAB_TOKEN"));
        // Other functions publish nothing and need no publisher.
        assert!(none.require_for(Function::Webhook, []).is_ok());
        let named = load(&[("PUBLISHERS", "alice")]).unwrap();
        assert!(named.require_for(Function::Publisher, []).is_ok());
        let roles = load(&[
            ("GITLAB_URL", "https://gitlab.example.com"),
            ("GITLAB_TOKEN", "glpat-x"),
        ])
        .unwrap();
        assert!(roles.require_for(Function::Publisher, []).is_ok());
        let url_only = load(&[("GITLAB_URL", "https://gitlab.example.com")]).unwrap();
        assert!(url_only.check_can_publish().is_err());
    }

    #[test]
    fn shared_secrets_take_a_previous_value_during_a_rotation() {
        let c = load(&[
            ("GITLAB_WEBHOOK_SECRET", "new-secret, old-secret"),
            ("ALERT_TOKEN", "only-token"),
        ])
        .unwrap();
        let hook = c.gitlab_webhook_secret.unwrap();
        assert!(hook.matches(b"new-secret") && hook.matches(b"old-secret"));
        assert!(!hook.matches(b"new-secret, old-secret") && !hook.matches(b""));
        assert_eq!(hook.expose(), "new-secret");
        assert!(hook.rotating());
        assert!(!format!("{hook:?}").contains("secret"));
        let alerts = c.alert_token.unwrap();
        assert!(alerts.matches(b"only-token") && !alerts.rotating());
        // A trailing comma is no previous value; three values are a mistake.
        assert!(
            !load(&[("ALERT_TOKEN", "a,")])
                .unwrap()
                .alert_token
                .unwrap()
                .rotating()
        );
        for bad in ["a,b,c", ",old"] {
            let e = load(&[("ALERT_TOKEN", bad)]).unwrap_err().to_string();
            assert!(
                e.contains("ALERT_TOKEN") && e.contains("new,previous"),
                "{e}"
            );
            assert!(!e.contains("old"), "the value is not echoed: {e}");
        }
    }
}
