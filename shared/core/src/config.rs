//! One typed configuration, read once from the environment (the names docs/configuration.md lists).
//!
//! Each variable is declared once, as a [`Setting`] in the module of the capability
//! (or adapter) it belongs to: its name, its default as the docs give it, what it
//! means, which functions read and require it, and its parser. Each module's settings
//! struct is read from its own declarations (`PublishingSettings::read`), an unset
//! variable taking its documented default through the same parser; [`Config`] is the
//! composition of those structs, and a capability that uses another's variable
//! receives it here (`config.mail.mail_from`).

pub mod alerting;
pub mod audiences;
pub mod aws;
pub mod chat;
pub mod gitlab;
pub mod intake;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod oncall;
pub mod publishing;
pub mod setting;
pub mod site;
pub mod sla;
pub mod subscriptions;

use std::fmt;
use std::time::Duration;

pub use setting::{Rejected, Setting};

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

    /// `current` or `current,previous` (blanks around each trimmed), an error naming
    /// `name`.
    pub fn parse(name: &'static str, value: &str) -> Result<Self, ConfigError> {
        Accepted::read(value).map_err(|r| ConfigError::Invalid { name, why: r.0 })
    }

    /// `current` or `current,previous` (blanks around each trimmed).
    pub fn read(value: &str) -> Result<Self, Rejected> {
        let mut parts = value.split(',').map(str::trim);
        let current = parts.next().unwrap_or_default();
        let previous = parts.next().filter(|p| !p.is_empty());
        if current.is_empty() || parts.next().is_some() {
            return Err(Rejected::new(
                "give the secret, or during a rotation `new,previous` (two values at \
                 most, separated by a comma)",
            ));
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
    /// Sign-in to audience pages on AWS (`/login`, `/callback`, `/logout`): CloudFront
    /// signed cookies for the audiences a reader's GitLab groups grant.
    Signin,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Function::Webhook,
        Function::Alerts,
        Function::Publisher,
        Function::Notifier,
        Function::Subscriptions,
        Function::Signin,
    ];

    /// Its binary: `openmic-webhook`, ...
    pub fn binary(self) -> &'static str {
        match self {
            Function::Webhook => "openmic-webhook",
            Function::Alerts => "openmic-alerts",
            Function::Publisher => "openmic-publisher",
            Function::Notifier => "openmic-notifier",
            Function::Subscriptions => "openmic-subscriptions",
            Function::Signin => "openmic-signin",
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
    /// As docs/configuration.md says it: a value in backticks (what an unset variable
    /// takes, read by its setting's parser), `none`, or when it is required.
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

/// Every setting of docs/configuration.md: each capability's settings, read from its
/// own declarations ([`Setting`]). Which ones a function requires is up to the
/// function (see [`Config::require`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Who may deliver to `POST /gitlab` and `POST /alerts`, which projects, how much.
    pub intake: intake::IntakeSettings,
    /// The label that publishes, and who may.
    pub publishing: publishing::PublishingSettings,
    /// The status page.
    pub site: site::SiteSettings,
    /// The sender and the maintainers, for every mail openmic sends.
    pub mail: mail::MailSettings,
    /// Where alerts go and how (docs/alerts.md).
    pub alert_routing: alerting::AlertRouting,
    /// Where the on-call file is (docs/oncall.md).
    pub oncall: oncall::OnCallSettings,
    /// Readers' subscriptions and the operators' channels (docs/subscriptions.md).
    pub subscriptions: subscriptions::SubscriptionSettings,
    /// Scheduled maintenance.
    pub maintenance: maintenance::MaintenanceSettings,
    /// Incidents run from chat (docs/chat.md).
    pub chat: chat::ChatSettings,
    /// The time to resolve per severity.
    pub sla: sla::SlaSettings,
    /// The buckets and queues.
    pub aws: aws::AwsSettings,
    /// GitLab's API.
    pub gitlab: gitlab::GitlabSettings,
    /// Metrics in incidents (docs/alerts.md).
    pub metrics: metrics::MetricsSettings,
    /// Audience pages and the sign-in their readers use.
    pub audiences: audiences::AudienceSettings,
}

impl Default for Config {
    /// As nothing set: every declared default.
    fn default() -> Self {
        Config::from_lookup(|_| None).expect("the declared defaults are read (tested)")
    }
}

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
        let config = Config {
            intake: intake::IntakeSettings::read(get)?,
            publishing: publishing::PublishingSettings::read(get)?,
            site: site::SiteSettings::read(get)?,
            mail: mail::MailSettings::read(get)?,
            alert_routing: alerting::AlertRouting::read(get)?,
            oncall: oncall::OnCallSettings::read(get)?,
            subscriptions: subscriptions::SubscriptionSettings::read(get)?,
            maintenance: maintenance::MaintenanceSettings::read(get)?,
            chat: chat::ChatSettings::read(get)?,
            sla: sla::SlaSettings::read(get)?,
            aws: aws::AwsSettings::read(get)?,
            gitlab: gitlab::GitlabSettings::read(get)?,
            metrics: metrics::MetricsSettings::read(get)?,
            audiences: audiences::AudienceSettings::read(get)?,
        };
        config.check_component_audiences()?;
        Ok(config)
    }

    /// Every audience a `COMPONENTS` entry is marked for is one of `AUDIENCES`: a
    /// component for no configured audience would be on no page at all.
    fn check_component_audiences(&self) -> Result<(), ConfigError> {
        let unknown: Vec<String> = self
            .site
            .component_entries
            .iter()
            .flat_map(|c| c.audiences.iter().map(move |a| (c, a)))
            .filter(|(_, a)| self.audiences.audiences.get(a).is_none())
            .map(|(c, a)| format!("{:?} is marked `audience::{a}`", c.name))
            .collect();
        match unknown.is_empty() {
            true => Ok(()),
            false => Err(site::COMPONENTS.invalid(format!(
                "{}, which names no audience of AUDIENCES",
                unknown.join(", ")
            ))),
        }
    }

    /// Every declared variable, in docs/configuration.md's order: the domain's
    /// capabilities, then the adapters'.
    pub fn variables() -> impl Iterator<Item = &'static Variable> {
        [
            intake::VARIABLES,
            publishing::VARIABLES,
            site::VARIABLES,
            mail::VARIABLES,
            alerting::VARIABLES,
            oncall::VARIABLES,
            subscriptions::VARIABLES,
            maintenance::VARIABLES,
            chat::VARIABLES,
            sla::VARIABLES,
            metrics::VARIABLES,
            audiences::VARIABLES,
            aws::VARIABLES,
            gitlab::VARIABLES,
        ]
        .into_iter()
        .flatten()
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
        let api = self.gitlab.gitlab_url.is_some() && self.gitlab.gitlab_token.is_some();
        if !self.publishing.publishers.is_empty() || api {
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
        self.subscriptions.enabled || self.subscriptions.update_channels.is_some()
    }

    /// Fails with the first of `names` that is not set.
    pub fn require(&self, names: &[&'static str]) -> Result<(), ConfigError> {
        for &name in names {
            if !self.is_set(name) {
                return Err(ConfigError::Missing(name));
            }
        }
        Ok(())
    }

    /// Whether the variable `name` is set, for those a function may require (others
    /// count as set).
    fn is_set(&self, name: &str) -> bool {
        let (i, a, s) = (&self.intake, &self.aws, &self.subscriptions);
        let set = [
            (
                intake::GITLAB_WEBHOOK_SECRET.name(),
                i.gitlab_webhook_secret.is_some() || i.gitlab_signing_token.is_some(),
            ),
            (
                intake::GITLAB_SIGNING_TOKEN.name(),
                i.gitlab_signing_token.is_some(),
            ),
            (
                intake::GITLAB_PROJECT_ID.name(),
                !i.gitlab_projects.is_empty(),
            ),
            (intake::ALERT_TOKEN.name(), i.alert_token.is_some()),
            (gitlab::GITLAB_URL.name(), self.gitlab.gitlab_url.is_some()),
            (
                gitlab::GITLAB_TOKEN.name(),
                self.gitlab.gitlab_token.is_some(),
            ),
            (aws::STATUS_BUCKET.name(), a.status_bucket.is_some()),
            (aws::STATE_BUCKET.name(), a.state_bucket.is_some()),
            (aws::PUBLISH_QUEUE_URL.name(), a.publish_queue_url.is_some()),
            (aws::ALERT_QUEUE_URL.name(), a.alert_queue_url.is_some()),
            (aws::UPDATE_QUEUE_URL.name(), a.update_queue_url.is_some()),
            (mail::MAIL_FROM.name(), self.mail.mail_from.is_some()),
            (
                mail::MAINTAINER_EMAILS.name(),
                !self.mail.maintainer_emails.is_empty(),
            ),
            (
                site::STATUS_PAGE_URL.name(),
                self.site.status_page_url.is_some(),
            ),
            (
                subscriptions::SUBSCRIPTION_SECRET.name(),
                s.subscription_secret.is_some(),
            ),
            (
                subscriptions::PUBLIC_API_URL.name(),
                s.public_api_url.is_some(),
            ),
            (
                alerting::ALERT_LINK_SECRET.name(),
                self.alert_routing.link_secret.is_some(),
            ),
        ];
        set.iter()
            .find(|(n, _)| *n == name)
            .is_none_or(|(_, set)| *set)
    }

    /// How incidents are numbered in public: GitLab's iid with one project, its global
    /// issue id with several (iids repeat across projects).
    pub fn public_ids(&self) -> PublicIds {
        if self.intake.gitlab_projects.len() > 1 {
            PublicIds::Global
        } else {
            PublicIds::Iid
        }
    }

    /// Where the pages' subscribe form posts: `<PUBLIC_API_URL>/subscribe`, with
    /// `SUBSCRIPTIONS=on`.
    pub fn subscribe_url(&self) -> Option<String> {
        let s = &self.subscriptions;
        let api = s.public_api_url.as_deref().filter(|_| s.enabled)?;
        Some(format!("{api}/subscribe"))
    }

    /// The project whose API serves alerts' incident issues: the first listed.
    pub fn home_project(&self) -> Option<u64> {
        self.intake.gitlab_projects.first().copied()
    }

    /// Whether `username` may publish by the `PUBLISHERS` list.
    pub fn is_publisher(&self, username: &str) -> bool {
        self.publishing.publishers.contains(username)
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

    /// With nothing set, every declaration is read once and its default, when the
    /// docs give one, goes through its parser: a default the parser refuses fails here.
    #[test]
    fn every_declared_default_is_read_by_its_parser() {
        let asked = std::sync::Mutex::new(Vec::new());
        let c = Config::from_lookup(|name| {
            asked.lock().unwrap().push(name.to_owned());
            None
        });
        assert!(c.is_ok(), "{c:?}");
        let mut asked = asked.into_inner().unwrap();
        let mut declared: Vec<String> = Config::variables().map(|v| v.name.to_owned()).collect();
        asked.sort();
        declared.sort();
        assert_eq!(asked, declared, "each declared variable is read once");
        declared.dedup();
        assert_eq!(asked.len(), declared.len(), "a variable is declared twice");
        let with_value = Config::variables()
            .filter(|v| v.default_value().is_some())
            .count();
        assert!(with_value >= 15, "only {with_value} defaults are values");
    }

    #[test]
    fn the_defaults_are_the_docs_values() {
        let c = Config::default();
        assert_eq!(c.publishing.publish_label, "status-page");
        assert_eq!(c.publishing.publish_min_access, 50);
        assert_eq!(c.publishing.microphone_trust, MicrophoneTrust::Publishers);
        assert!(c.publishing.link_back);
        assert_eq!(c.maintenance.maintenance_label, "maintenance");
        assert_eq!(c.intake.max_body_bytes, 6 * 1024 * 1024);
        assert_eq!(c.aws.max_receive_count, 5);
        assert_eq!(c.subscriptions.subscribe_max_per_hour, 200);
        assert!(!c.subscriptions.enabled && !c.sends_updates());
        assert_eq!(c.site.page_language, Language::En);
        assert_eq!(
            c.chat.slack_response_origin.as_str(),
            "https://hooks.slack.com/"
        );
        assert!(c.mail.mail_from.is_none() && c.site.page_title.is_none());
        assert_eq!(
            c.require(&[aws::STATE_BUCKET.name(), "NOT_A_SETTING"]),
            Err(ConfigError::Missing("STATE_BUCKET"))
        );
    }

    #[test]
    fn defaults_and_lists() {
        let c = load(&[("PUBLISHERS", "alice, @bob"), ("RENOTIFY_AFTER", "30m")]).unwrap();
        assert_eq!(c.publishing.publish_label, "status-page");
        assert!(c.is_publisher("alice") && c.is_publisher("bob") && !c.is_publisher("eve"));
        assert_eq!(c.alert_routing.renotify_after, Duration::from_secs(1800));
        assert_eq!(c.intake.max_body_bytes, 6 * 1024 * 1024);
        assert!(c.publishing.link_back);
        assert_eq!(c.public_ids(), PublicIds::Iid);
        let c = load(&[("GITLAB_PROJECT_ID", "42, 7,42"), ("LINK_BACK", "false")]).unwrap();
        assert_eq!(c.intake.gitlab_projects, vec![42, 7]);
        assert_eq!(c.public_ids(), PublicIds::Global);
        assert!(!c.publishing.link_back);
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
        assert!(c.subscriptions.enabled);
        assert_eq!(
            c.subscriptions.public_api_url.as_deref(),
            Some("https://api.example.com")
        );
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
        assert_eq!(c.site.components, vec!["API", "Web app", "Payments"]);
        assert_eq!(c.site.components_for(Some("staff")), c.site.components);
        assert!(c.site.hidden_from(None).is_empty());
        // A component marked for an audience AUDIENCES does not name: on no page.
        let e = load(&[
            ("AUDIENCES", "staff=ops"),
            ("COMPONENTS", "API, Internal DB [audience::staf]"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("COMPONENTS")
                && e.contains(
                    "\"Internal DB\" is marked `audience::staf`, which names no audience"
                ),
            "{e}"
        );
        let marked = load(&[
            ("AUDIENCES", "staff=ops"),
            ("COMPONENTS", "API, Internal DB [audience::staff]"),
        ])
        .unwrap();
        assert_eq!(marked.site.components, vec!["API"]);
        assert_eq!(c.site.page_language, Language::Pt);
        assert_eq!(c.site.page_accent.as_deref(), Some("#ff6600"));
        assert_eq!(c.site.page_logo_url.as_deref(), Some("brand/logo.svg"));
        assert_eq!(load(&[]).unwrap().site.page_language, Language::En);
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
            own.site.page_logo_url.as_deref(),
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
        let hook = c.intake.gitlab_webhook_secret.unwrap();
        assert!(hook.matches(b"new-secret") && hook.matches(b"old-secret"));
        assert!(!hook.matches(b"new-secret, old-secret") && !hook.matches(b""));
        assert_eq!(hook.expose(), "new-secret");
        assert!(hook.rotating());
        assert!(!format!("{hook:?}").contains("secret"));
        let alerts = c.intake.alert_token.unwrap();
        assert!(alerts.matches(b"only-token") && !alerts.rotating());
        // A trailing comma is no previous value; three values are a mistake.
        assert!(
            !load(&[("ALERT_TOKEN", "a,")])
                .unwrap()
                .intake
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
