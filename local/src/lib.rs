//! The local runner: the same router and handlers as the Lambda functions (intake, the
//! alert links, the subscription routes with `SUBSCRIPTIONS=on`, the tick of
//! maintenances and digests), composed with the embedded backends (`DIR/status/`,
//! `DIR/state/`, `DIR/queue/`, `DIR/outbox/`: subscribers' mail too) or with the AWS
//! clients.

pub mod backup;
pub mod oncall;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use openmic::App;
use openmic::alerts::actions::Actions;
use openmic::alerts::lifecycle::Notifier;
use openmic::chatops::Commands;
use openmic::clock::{Clock, SystemClock};
use openmic::compose::Backends;
use openmic::config::aws as settings;
use openmic::config::oncall::OnCallSource;
use openmic::config::{Accepted, Config, Secret, alerting, intake};
use openmic::errors::ProcessError;
use openmic::intake::{Intake, Reply};
use openmic::oncall::keeper::Keeper;
use openmic::ports::SignIn;
use openmic::ports::{Mailer, ObjectStore, Queue};
use openmic::publishing::Publisher;
use openmic::subscriptions::Subscriptions;
use openmic_aws::batch::DeadLetters;
use openmic_aws::{Aws, sqs::SqsQueue};
use openmic_files::{FsQueue, FsStore, OutboxMailer};
use openmic_gitlab::oidc::GitlabSignIn;
pub use openmic_http::api_gateway_request;
use serde_json::json;
use tower::ServiceExt;
use tracing::{Instrument, error, info_span, warn};

/// Which backends the runner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Files under the data directory.
    Embedded,
    /// S3, SQS and SES (any compatible endpoint: `AWS_ENDPOINT_URL`).
    Aws,
}

/// The queues, on disk or on SQS (updates only with `SUBSCRIPTIONS=on`).
pub enum Queues {
    Embedded {
        publish: Arc<FsQueue>,
        alerts: Arc<FsQueue>,
        updates: Option<Arc<FsQueue>>,
    },
    Aws {
        publish: SqsQueue,
        alerts: SqsQueue,
        updates: Option<SqsQueue>,
        /// What each consumer does with a message it gives up on (its dead-letter
        /// queue, the maintainers' mail).
        dead: Box<[DeadLetters; 3]>,
    },
}

impl Queues {
    /// Each queue with its consumer, in the order a drain goes through them (updates
    /// last: publishing makes them).
    fn embedded(&self) -> Vec<(Arc<FsQueue>, Consumer)> {
        let Queues::Embedded {
            publish,
            alerts,
            updates,
        } = self
        else {
            return Vec::new();
        };
        let mut all = vec![
            (publish.clone(), Consumer::Publisher),
            (alerts.clone(), Consumer::Notifier),
        ];
        all.extend(updates.clone().map(|u| (u, Consumer::Subscriptions)));
        all
    }

    fn sqs(&self) -> Vec<(&SqsQueue, Consumer, &DeadLetters)> {
        let Queues::Aws {
            publish,
            alerts,
            updates,
            dead,
        } = self
        else {
            return Vec::new();
        };
        let [p, a, u] = &**dead;
        let mut all = vec![
            (publish, Consumer::Publisher, p),
            (alerts, Consumer::Notifier, a),
        ];
        all.extend(updates.as_ref().map(|q| (q, Consumer::Subscriptions, u)));
        all
    }
}

/// Which consumer a queue feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumer {
    Publisher,
    Notifier,
    Subscriptions,
}

impl Consumer {
    /// Its queue's name in logs and mail, as the Lambda functions say it.
    fn queue(self) -> &'static str {
        match self {
            Consumer::Publisher => "publish",
            Consumer::Notifier => "alerts",
            Consumer::Subscriptions => "updates",
        }
    }
}

pub struct Runner {
    pub config: Arc<Config>,
    pub status: Arc<dyn ObjectStore>,
    pub state: Arc<dyn ObjectStore>,
    pub publisher: Publisher,
    pub notifier: Notifier,
    pub subscriptions: Arc<Subscriptions>,
    /// The alert links (`/alerts/ack`, `/alerts/silence`).
    pub actions: Arc<Actions>,
    /// The chat routes (`/chat/…`) and their jobs.
    pub commands: Arc<Commands>,
    pub queues: Queues,
    intake: Arc<Intake>,
    /// The maintainers' mail: alerts, and messages given up on.
    mailer: Arc<dyn Mailer>,
    /// Sign-in with GitLab for audience pages (`AUDIENCES`).
    pub signin: Option<Arc<GitlabSignIn>>,
}

/// An issue on the command line: `IID` (of the first project of `GITLAB_PROJECT_ID`)
/// or `PROJECT/IID`.
pub fn issue_arg(arg: &str, config: &Config) -> Result<openmic::ids::IncidentId, String> {
    let bad = || format!("{arg:?}: give an issue as IID or PROJECT/IID");
    match arg.split_once('/') {
        Some((p, i)) => Ok(openmic::ids::IncidentId::new(
            p.trim().parse().map_err(|_| bad())?,
            i.trim().parse().map_err(|_| bad())?,
        )),
        None => {
            let iid = arg.trim().parse().map_err(|_| bad())?;
            let project = config.home_project().ok_or_else(|| {
                format!("{arg:?}: set GITLAB_PROJECT_ID, or give the issue as PROJECT/IID")
            })?;
            Ok(openmic::ids::IncidentId::new(project, iid))
        }
    }
}

/// A random secret for settings the user left unset (printed once at start).
pub fn generated_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| {
        eprintln!("openmic-local: no randomness for a secret: {e}");
        std::process::exit(1)
    });
    hex::encode(bytes)
}

/// Local defaults for what the environment leaves unset: generated secrets (reported
/// through `generated`), a local sender and recipient for the outbox, the status page
/// at the listen address.
pub fn local_config(
    mut config: Config,
    listen: Option<&str>,
    generated: &mut Vec<(&'static str, String)>,
) -> Config {
    if config.intake.gitlab_webhook_secret.is_none() && config.intake.gitlab_signing_token.is_none()
    {
        let s = generated_secret();
        generated.push((intake::GITLAB_WEBHOOK_SECRET.name(), s.clone()));
        config.intake.gitlab_webhook_secret = Some(Accepted::new(s));
    }
    if config.intake.alert_token.is_none() {
        let s = generated_secret();
        generated.push((intake::ALERT_TOKEN.name(), s.clone()));
        config.intake.alert_token = Some(Accepted::new(s));
    }
    if config.mail.mail_from.is_none() {
        config.mail.mail_from = Some("openmic@localhost.localdomain".into());
    }
    if config.mail.maintainer_emails.is_empty() {
        config.mail.maintainer_emails = vec!["maintainers@localhost.localdomain".into()];
    }
    let here = format!("http://{}", listen.unwrap_or("127.0.0.1:8080"));
    if config.site.status_page_url.is_none() {
        config.site.status_page_url = Some(here.clone());
    }
    // The acknowledge and silence links and the subscription routes are served here.
    if config.subscriptions.public_api_url.is_none() {
        config.subscriptions.public_api_url = Some(here);
    }
    if config.alert_routing.link_secret.is_none() {
        let s = generated_secret();
        generated.push((alerting::ALERT_LINK_SECRET.name(), s.clone()));
        config.alert_routing.link_secret = Some(Secret::new(s));
    }
    config
}

/// With `SUBSCRIPTIONS=on` or `AUDIENCES` and no `SUBSCRIPTION_SECRET`: the key kept
/// in `DIR/subscription-secret`, made on first use, so that links mailed earlier (and
/// the audience feeds' signed links) still work after a restart.
pub fn kept_subscription_secret(dir: &Path, config: &mut Config) -> std::io::Result<()> {
    let wanted = config.subscriptions.enabled || !config.audiences.audiences.is_empty();
    if !wanted || config.subscriptions.subscription_secret.is_some() {
        return Ok(());
    }
    let path = dir.join("subscription-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => s.trim().to_owned(),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{}: shorter than 32 characters; remove it to make a new one",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            let s = generated_secret() + &generated_secret();
            write_private(&path, &s)?;
            s
        }
        Err(e) => return Err(e),
    };
    config.subscriptions.subscription_secret = Some(Secret::new(secret));
    Ok(())
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

impl Runner {
    /// The runner on the embedded backends under `dir`.
    pub fn embedded(dir: &Path, config: Config) -> std::io::Result<Runner> {
        Runner::embedded_at(dir, config, Arc::new(SystemClock))
    }

    /// The runner on the embedded backends under `dir`, on `clock` (tests move one by
    /// hand).
    pub fn embedded_at(
        dir: &Path,
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Runner> {
        kept_subscription_secret(dir, &mut config)?;
        let config = Arc::new(config);
        let status: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.join("status"))?);
        let state: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.join("state"))?);
        let publish = Arc::new(FsQueue::open(dir.join("queue").join("publish"))?);
        let alerts = Arc::new(FsQueue::open(dir.join("queue").join("alerts"))?);
        let mailer: Arc<dyn Mailer> = Arc::new(OutboxMailer::open(dir.join("outbox"))?);
        let updates = match config.sends_updates() {
            true => Some(Arc::new(FsQueue::open(dir.join("queue").join("updates"))?)),
            false => None,
        };
        let queues = Queues::Embedded {
            publish: publish.clone(),
            alerts: alerts.clone(),
            updates: updates.clone(),
        };
        let backends = Backends {
            status: Some(status),
            state: Some(state),
            mailer: Some(mailer.clone()),
            subscription_mailer: Some(mailer),
            publish: Some(publish),
            alerts: Some(alerts),
            updates: updates.map(|u| u as Arc<dyn Queue>),
            clock,
            ..Backends::default()
        };
        Runner::compose(config, backends, queues).map_err(std::io::Error::other)
    }

    /// The runner on AWS clients from the environment; every resource is checked
    /// first, and a missing one fails with the variable that names it.
    pub async fn aws(config: Config) -> Result<Runner, String> {
        Runner::aws_with(config, Aws::from_env().await).await
    }

    /// The runner on the given AWS clients.
    pub async fn aws_with(config: Config, aws: Aws) -> Result<Runner, String> {
        let config = Arc::new(config);
        let status = aws.status_bucket(&config).map_err(|e| e.to_string())?;
        let state = aws.state_bucket(&config).map_err(|e| e.to_string())?;
        let publish = aws.publish_queue(&config).map_err(|e| e.to_string())?;
        let alerts = aws.alert_queue(&config).map_err(|e| e.to_string())?;
        let mailer = aws.mailer(&config).map_err(|e| e.to_string())?;
        status.check(settings::STATUS_BUCKET.name()).await?;
        state.check(settings::STATE_BUCKET.name()).await?;
        publish.check(settings::PUBLISH_QUEUE_URL.name()).await?;
        alerts.check(settings::ALERT_QUEUE_URL.name()).await?;
        let updates = match config.sends_updates() {
            true => {
                let q = aws.update_queue(&config).map_err(|e| e.to_string())?;
                q.check(settings::UPDATE_QUEUE_URL.name()).await?;
                Some(q)
            }
            false => None,
        };
        let subscription_mailer = aws
            .subscription_mailer(&config)
            .map_err(|e| e.to_string())?;
        let mailer: Arc<dyn Mailer> = Arc::new(mailer);
        let dead = |queue| {
            aws.dead_letters(&config, queue, Some(mailer.clone()))
                .map_err(|e| e.to_string())
        };
        let queues = Queues::Aws {
            publish: publish.clone(),
            alerts: alerts.clone(),
            updates: updates.clone(),
            dead: Box::new([dead("publish")?, dead("alerts")?, dead("updates")?]),
        };
        let backends = Backends {
            status: Some(Arc::new(status)),
            state: Some(Arc::new(state)),
            mailer: Some(mailer),
            subscription_mailer: Some(Arc::new(subscription_mailer)),
            publish: Some(Arc::new(publish)),
            alerts: Some(Arc::new(alerts)),
            updates: updates.map(|u| Arc::new(u) as Arc<dyn Queue>),
            sms: Some(Arc::new(aws.sms())),
            ..Backends::default()
        };
        Runner::compose(config, backends, queues).map_err(|e| e.to_string())
    }

    /// The runner on `backends` (GitLab's API and outbound HTTPS added here, as every
    /// runner has them): every capability through the one composition,
    /// [`App::compose`].
    fn compose(
        config: Arc<Config>,
        mut backends: Backends,
        queues: Queues,
    ) -> Result<Runner, openmic::config::ConfigError> {
        backends.gitlab = openmic_gitlab::connect(&config)?;
        let web = openmic_web::Web::new().map_err(|e| {
            openmic::config::alerting::ALERT_CHANNELS
                .invalid(openmic::errors::Chain(&e).to_string())
        })?;
        backends.outbound = Some(Arc::new(web));
        let mailer = backends.mailer()?;
        let App {
            config,
            intake,
            publisher,
            mut notifier,
            actions,
            subscriptions,
            commands,
        } = App::compose(config, &backends)?;
        // The on-call file as a local path: read here, at every tick.
        if let Some(OnCallSource::Path(path)) = &config.oncall.oncall_config
            && notifier.oncall.is_none()
        {
            let source = Arc::new(openmic_files::LocalFile(path.into()));
            notifier.oncall = Some(Arc::new(Keeper::new(path.clone(), source)));
        }
        // Sessions are signed with a secret of this process: a restart asks readers
        // to sign in again.
        let signin = GitlabSignIn::from_config(
            &config,
            generated_secret().as_bytes(),
            backends.clock.clone(),
        )?
        .map(Arc::new);
        // An audience's subscription needs a session holding the audience.
        if let Some(s) = &signin {
            subscriptions.with_signin(s.clone() as Arc<dyn SignIn>);
        }
        Ok(Runner {
            signin,
            status: backends.status()?,
            state: backends.state()?,
            config,
            publisher,
            notifier,
            subscriptions,
            actions,
            commands,
            queues,
            intake,
            mailer,
        })
    }

    /// The intake router alone (what the Lambda functions serve).
    pub fn intake_router(&self) -> Router {
        openmic_http::router(self.intake.clone())
    }

    /// Intake, the alert links, the chat routes, the subscription routes,
    /// `GET /healthz`, and the status bucket at `/`.
    pub fn app(self: &Arc<Self>) -> Router {
        let runner = self.clone();
        let site = self.clone();
        let signin = match &self.signin {
            Some(s) => openmic_http::signin_routes(s.clone() as Arc<dyn SignIn>),
            None => Router::new(),
        };
        openmic_http::routes(&self.intake)
            .merge(signin)
            .merge(openmic_http::subscription_routes(
                self.subscriptions.clone(),
            ))
            .merge(openmic_http::link_routes(self.actions.clone()))
            .merge(openmic_http::chat_routes(self.commands.clone()))
            .route(
                "/healthz",
                get(move || {
                    let runner = runner.clone();
                    async move {
                        openmic_http::response(Reply::json(
                            StatusCode::OK,
                            json!({ "queued": runner.pending().await }),
                        ))
                    }
                }),
            )
            .fallback(move |method: Method, request: Request| {
                let site = site.clone();
                async move { serve_site(&site, method, request).await }
            })
            .with_state(self.intake.clone())
    }

    /// The scheduled work of a minute: maintenances moved to their stage, alerts a
    /// maintenance held let go, and with `SUBSCRIPTIONS=on` subscribe requests past
    /// their 48 hours and old limit counters removed (what the state bucket's
    /// lifecycle rules do on AWS).
    pub async fn tick(&self) -> Result<(), ProcessError> {
        self.publisher.tick().await?;
        self.notifier.tick().await?;
        if self.subscriptions.enabled() {
            self.subscriptions.sweep().await?;
        }
        Ok(())
    }

    /// Accepted events not yet fully processed.
    pub async fn pending(&self) -> usize {
        let mut n = self
            .queues
            .embedded()
            .iter()
            .map(|(q, _)| q.pending())
            .sum();
        for (q, _, _) in self.queues.sqs() {
            n += q.approximate_pending().await.unwrap_or(0);
        }
        n
    }

    async fn handle(&self, consumer: Consumer, body: &str) -> Result<String, ProcessError> {
        match consumer {
            Consumer::Publisher => self.publisher.handle(body).await.map(|o| format!("{o:?}")),
            // One queue, two kinds of message: alerts, and chat jobs.
            Consumer::Notifier if openmic::chatops::is_chat_job(body) => self
                .commands
                .handle(body, &self.notifier)
                .await
                .map(|w| format!("{w:?}")),
            Consumer::Notifier => self.notifier.handle(body).await.map(|o| format!("{o:?}")),
            Consumer::Subscriptions => self
                .subscriptions
                .handle(body)
                .await
                .map(|o| format!("{o:?}")),
        }
    }

    /// What the consumer of a disk queue does with a message it gives up on: the
    /// queue's `dead/`, with its reason, and the maintainers' mail.
    fn fs_dead_letters(&self, queue: &Arc<FsQueue>, consumer: Consumer) -> DeadLetters {
        DeadLetters {
            queue: consumer.queue(),
            max_receive_count: self.config.aws.max_receive_count,
            dlq: Some(queue.clone()),
            mailer: Some(self.mailer.clone()),
            config: self.config.clone(),
        }
    }

    /// One receive from a disk queue, handled by the one consumer as Lambda handles
    /// an SQS batch ([`FsQueue::consume`]). Returns how many messages came and how
    /// many failed (they stay for a retry).
    async fn receive_fs(
        &self,
        queue: &Arc<FsQueue>,
        consumer: Consumer,
    ) -> Result<(usize, usize), openmic::ports::BackendError> {
        let dead = self.fs_dead_letters(queue, consumer);
        queue
            .consume(10, &dead, |body| async move {
                self.handle(consumer, &body).await
            })
            .await
    }

    /// Handles every message waiting, retrying passing failures with a short backoff,
    /// until the queues are empty.
    pub async fn drain(&self) {
        for (queue, consumer) in self.queues.embedded() {
            let mut backoff = Duration::from_millis(50);
            loop {
                match self.receive_fs(&queue, consumer).await {
                    Ok((0, _)) => break,
                    Ok((_, 0)) => backoff = Duration::from_millis(50),
                    Ok(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        error!(error = %e, "queue");
                        break;
                    }
                }
            }
        }
        for (queue, consumer, dead) in self.queues.sqs() {
            // Until a receive comes back empty or nothing is left.
            while queue.approximate_pending().await.map_or(true, |n| n > 0) {
                match self.receive_sqs(queue, consumer, dead, 1).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        error!(error = %e, "queue");
                        break;
                    }
                }
            }
        }
    }

    /// One receive from SQS, handled by the one consumer as Lambda handles a batch
    /// ([`SqsQueue::consume`]); failures are made visible again after a second.
    /// Returns how many messages came.
    async fn receive_sqs(
        &self,
        queue: &SqsQueue,
        consumer: Consumer,
        dead: &DeadLetters,
        wait_secs: i32,
    ) -> Result<usize, openmic::ports::BackendError> {
        queue
            .consume(wait_secs, 1, dead, |body| async move {
                self.handle(consumer, &body).await
            })
            .await
    }

    /// Runs the consumers until the process stops.
    pub async fn run_workers(self: Arc<Self>) {
        let mut workers = Vec::new();
        let fs = self.queues.embedded();
        for (queue, consumer) in &fs {
            workers.push(tokio::spawn(fs_worker(
                self.clone(),
                queue.clone(),
                *consumer,
            )));
        }
        if !fs.is_empty() {
            workers.push(tokio::spawn(syncer(
                fs.into_iter().map(|(q, _)| q).collect(),
            )));
        }
        for (_, consumer, _) in self.queues.sqs() {
            workers.push(tokio::spawn(sqs_worker(self.clone(), consumer)));
        }
        workers.push(tokio::spawn(ticker(self.clone())));
        for w in workers {
            let _ = w.await;
        }
    }

    /// Feeds one API Gateway event file through the router; with `wait`, handles every
    /// queued message before returning. `${GITLAB_WEBHOOK_SECRET}` and `${ALERT_TOKEN}`
    /// in the file stand for the runner's own secrets.
    pub async fn replay(&self, path: &Path) -> Result<u16, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let request = api_gateway_request(&text, &self.config)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let response = self
            .intake_router()
            .oneshot(request)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.drain().await;
        Ok(response.status().as_u16())
    }
}

/// The scheduled work, as EventBridge's minute on AWS: every 30 seconds here, so a
/// window's start or end shows within half a minute.
async fn ticker(runner: Arc<Runner>) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        if let Err(e) = runner.tick().instrument(info_span!("tick")).await {
            warn!(error = %e, "tick");
        }
    }
}

/// Syncs what the queues accepted to disk, once a second.
async fn syncer(queues: Vec<Arc<FsQueue>>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for q in &queues {
            if let Err(e) = q.sync().await {
                error!(error = %e, "queue sync");
            }
        }
    }
}

async fn fs_worker(runner: Arc<Runner>, queue: Arc<FsQueue>, consumer: Consumer) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match runner.receive_fs(&queue, consumer).await {
            Ok((0, _)) => {
                tokio::select! {
                    _ = queue.wait() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Ok((_, 0)) => backoff = Duration::from_millis(100),
            Ok(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                error!(error = %e, "queue");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn sqs_worker(runner: Arc<Runner>, consumer: Consumer) {
    loop {
        let Some((queue, _, dead)) = runner
            .queues
            .sqs()
            .into_iter()
            .find(|(_, c, _)| *c == consumer)
        else {
            return;
        };
        if let Err(e) = runner.receive_sqs(queue, consumer, dead, 10).await {
            error!(error = %e, "queue");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// `GET /...`: an object of the status bucket; `/` and directories mean `index.html`.
async fn serve_site(runner: &Runner, method: Method, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if method != Method::GET && method != Method::HEAD {
        return openmic_http::response(Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {path}"),
        ));
    }
    let mut key = path.trim_start_matches('/').to_owned();
    if key.is_empty() || key.ends_with('/') {
        key.push_str("index.html");
    }
    // `/<audience>/…`: that audience's page, from the state store, to its readers.
    let mut store = &runner.status;
    let mut private = false;
    let mut feed_link: Option<String> = None;
    let first = key.split('/').next().unwrap_or("");
    if let (Some(signin), Some(audience)) =
        (&runner.signin, runner.config.audiences.audiences.get(first))
    {
        let cookies = openmic_http::cookie_header(request.headers());
        if key == audience.name {
            // `/staff`: its page is `/staff/`.
            return openmic_http::response(
                Reply::html(StatusCode::MOVED_PERMANENTLY, String::new())
                    .with_header("location", format!("/{key}/")),
            );
        }
        if let Err(reply) = signin.admit(&audience.name, &path, cookies.as_deref()) {
            return openmic_http::response(reply);
        }
        // The reader's own signed link to the audience's feeds, in its pages.
        feed_link = match (
            signin.session(cookies.as_deref()),
            &runner.config.subscriptions.subscription_secret,
        ) {
            (Ok(Some(session)), Some(secret)) => Some(openmic::subscriptions::feeds::signed_query(
                secret.expose(),
                &audience.name,
                &session.user,
            )),
            _ => None,
        };
        if key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return openmic_http::response(Reply::error(
                StatusCode::NOT_FOUND,
                format!("no route for {method} {path}"),
            ));
        }
        key = format!("audiences/{key}");
        store = &runner.state;
        private = true;
    }
    let (status, object) = match store.get(&key).await {
        Ok(Some(o)) => (StatusCode::OK, o),
        Ok(None) | Err(openmic::ports::BackendError::Permanent(_)) => {
            // As CloudFront does: the site's own 404 page, when there is one.
            match runner.status.get(openmic::site::NOT_FOUND_KEY).await {
                Ok(Some(page)) => {
                    key = openmic::site::NOT_FOUND_KEY.to_owned();
                    (StatusCode::NOT_FOUND, page)
                }
                _ => {
                    return openmic_http::response(Reply::error(
                        StatusCode::NOT_FOUND,
                        format!("no route for {method} {path}"),
                    ));
                }
            }
        }
        Err(e) => {
            return openmic_http::response(Reply::failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "the status bucket is unavailable",
                &format_args!("{key}: {e}"),
            ));
        }
    };
    let content_type = object
        .content_type
        .clone()
        .unwrap_or_else(|| openmic::ports::content_type_for(&key).to_owned());
    let body = match (&feed_link, content_type.starts_with("text/html")) {
        // Feed readers carry no cookies: the page's feed links carry the reader's
        // signature instead.
        (Some(q), true) => {
            let html = String::from_utf8_lossy(&object.body);
            let signed = format!(".atom?{}\"", q.replace('&', "&amp;"));
            bytes::Bytes::from(html.replace(".atom\"", &signed))
        }
        _ => object.body,
    };
    let mut response = if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(match private {
            // A reader's own: no shared cache keeps it.
            true => "private, no-store",
            false => openmic::ports::DATA_CACHE_CONTROL,
        }),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' https: http:; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    );
    response
}

/// Renders the site again just after each midnight (UTC), so its history moves on
/// by a day even when nothing is published.
pub async fn render_daily(runner: Arc<Runner>) {
    loop {
        let now = chrono::Utc::now();
        let next = (now.date_naive() + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 5)
            .map(|t| t.and_utc())
            .unwrap_or(now + chrono::Duration::days(1));
        tokio::time::sleep((next - now).to_std().unwrap_or(Duration::from_secs(60))).await;
        if let Err(e) = runner.publisher.write_list().await {
            warn!(error = %e, "the daily rendering of the site failed; the next change renders it");
        }
    }
}

/// The data directory's default.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("openmic-data")
}
