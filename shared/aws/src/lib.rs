//! The AWS adapters: S3 buckets, SQS FIFO queues, SES mail, SNS text messages. The
//! same code talks to AWS or to any compatible endpoint (`AWS_ENDPOINT_URL`). Each
//! service is a feature (`s3`, `sqs`, `ses`, `sns`, `sms`): a function compiles the
//! SDKs of those it talks to.

pub mod batch;
#[cfg(feature = "cloudfront")]
pub mod cloudfront;
pub mod https;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "sms")]
pub mod sms;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;
pub mod telemetry;

#[cfg(feature = "sdk")]
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
#[cfg(feature = "sdk")]
use aws_smithy_runtime_api::client::result::SdkError;
#[cfg(feature = "sdk")]
use aws_smithy_types::error::display::DisplayErrorContext;
#[cfg(feature = "sdk")]
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[cfg(all(feature = "s3", feature = "sqs"))]
use std::sync::Arc;

#[cfg(all(feature = "s3", feature = "sqs"))]
use openmic_core::compose::Backends;
use openmic_core::config::{Config, ConfigError, Function, Variable};

/// What the AWS adapters read (beside the SDK's own `AWS_*`).
pub use openmic_core::config::aws::VARIABLES;
#[cfg(feature = "sdk")]
use openmic_core::errors::BackendError;

/// The shared SDK configuration from the environment, by the SDK's full chain
/// (profiles, SSO, IMDS, web identity, `AWS_ENDPOINT_URL`): what `openmic-local
/// --backend aws` uses on a workstation.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts())
        .load()
        .await
}

/// The SDK configuration of a Lambda function: Lambda gives a function its region and
/// its role's credentials in the environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and `AWS_ENDPOINT_URL` may point
/// elsewhere. Nothing else is looked up, so none of the SDK's other credential
/// sources (profiles, SSO, STS, IMDS) is part of a function.
pub fn lambda_config() -> aws_config::SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_types::sdk_config::SharedCredentialsProvider;
    let region = std::env::var("AWS_REGION").ok();
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let mut b = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region.clone().map(aws_types::region::Region::new))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(https_client(Roots::for_lambda(
            endpoint.as_deref(),
            region.as_deref(),
            openmic_core::config::certificates_named(),
        )))
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .retry_config(aws_config::retry::RetryConfig::standard())
        .timeout_config(timeouts());
    if let Some(url) = endpoint {
        b = b.endpoint_url(url);
    }
    b.build()
}

/// The HTTP client of the SDK clients on a workstation (`openmic-local --backend aws`):
/// hyper on rustls with ring, trusting the system's certificates.
pub fn http_client() -> aws_types::sdk_config::SharedHttpClient {
    https_client(Roots::System)
}

/// Amazon Trust Services' roots (see the file's head).
const AMAZON_ROOTS: &str = include_str!("amazon-roots.pem");

/// The root certificates the SDK's HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// Amazon Trust Services' five roots, compiled in: every AWS service endpoint's
    /// certificate chains to one of them, and nothing is read from disk at start (the
    /// system's store is a few hundred certificates, read and parsed for each client).
    Amazon,
    /// The system's certificates: for an endpoint that may not be AWS's own.
    System,
}

impl Roots {
    /// What a function trusts: Amazon's roots, unless `AWS_ENDPOINT_URL` sends the SDK
    /// over HTTPS elsewhere (an S3-compatible store, a proxy), the region is in a
    /// partition whose endpoints may chain to other authorities (China, the isolated
    /// and sovereign clouds), or `SSL_CERT_FILE` or `SSL_CERT_DIR` names other
    /// certificates. A plain `http://` endpoint uses no certificate at all.
    pub fn for_lambda(
        endpoint: Option<&str>,
        region: Option<&str>,
        certificates_named: bool,
    ) -> Roots {
        let elsewhere = endpoint.is_some_and(|url| {
            !url.trim_start()
                .get(..7)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
        });
        let partition = region.unwrap_or_default();
        let other_partition = ["cn-", "us-iso", "eusc-"]
            .iter()
            .any(|prefix| partition.starts_with(prefix));
        match elsewhere || other_partition || certificates_named {
            true => Roots::System,
            false => Roots::Amazon,
        }
    }
}

/// hyper on rustls with ring, HTTP/1.1 (see `https`), trusting `roots`.
fn https_client(roots: Roots) -> aws_types::sdk_config::SharedHttpClient {
    https::client(match roots {
        Roots::Amazon => https::Trust::Pem(AMAZON_ROOTS),
        Roots::System => https::Trust::System,
    })
}

/// No call hangs: a stuck attempt is cut and retried by the SDK, well inside the
/// functions' timeouts and the queues' visibility timeouts.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

#[cfg(feature = "s3")]
/// An S3 client; path-style addressing when an endpoint is set (S3-compatible servers).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(sdk);
    if sdk.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

#[cfg(feature = "sdk")]
/// Classes an SDK error: throttling, 5xx, timeouts and connection failures pass;
/// anything else (missing bucket or queue, access denied, bad request) does not.
pub(crate) fn classify<E>(what: &str, err: SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let message = format!("{what}: {}", DisplayErrorContext(&err));
    let transient_code = code.as_deref().is_some_and(|c| {
        matches!(
            c,
            "SlowDown"
                | "Throttling"
                | "ThrottlingException"
                | "RequestThrottled"
                | "TooManyRequestsException"
                | "RequestTimeout"
                | "InternalError"
                | "ServiceUnavailable"
                | "KMSThrottlingException"
        )
    });
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            BackendError::Transient(message)
        }
        _ if status == Some(412) || code.as_deref() == Some("PreconditionFailed") => {
            BackendError::PreconditionFailed(what.to_owned())
        }
        // S3 answers 409 ConditionalRequestConflict when two conditional writes race.
        _ if status == Some(409) && code.as_deref() == Some("ConditionalRequestConflict") => {
            BackendError::PreconditionFailed(what.to_owned())
        }
        _ if transient_code || status.is_some_and(|s| s == 429 || s >= 500) => {
            BackendError::Transient(message)
        }
        _ => BackendError::Permanent(message),
    }
}

/// The clients and resources of one process, built once at start from the
/// configuration; each getter fails with the name of the variable it needs.
#[derive(Clone)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    /// Each client is made when a store or queue first needs it, so a function builds
    /// only the clients it uses (the notifier no SQS client, for one).
    #[cfg(feature = "s3")]
    s3: std::sync::OnceLock<aws_sdk_s3::Client>,
    #[cfg(feature = "sqs")]
    sqs: std::sync::OnceLock<aws_sdk_sqs::Client>,
}

impl Aws {
    pub async fn from_env() -> Aws {
        Aws::new(load_config().await)
    }

    pub fn new(sdk: aws_config::SdkConfig) -> Aws {
        Aws {
            sdk,
            #[cfg(feature = "s3")]
            s3: std::sync::OnceLock::new(),
            #[cfg(feature = "sqs")]
            sqs: std::sync::OnceLock::new(),
        }
    }

    #[cfg(feature = "s3")]
    fn s3(&self) -> aws_sdk_s3::Client {
        self.s3.get_or_init(|| s3_client(&self.sdk)).clone()
    }

    #[cfg(feature = "sqs")]
    fn sqs(&self) -> aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk))
            .clone()
    }

    #[cfg(feature = "s3")]
    pub fn status_bucket(&self, config: &Config) -> Result<s3::S3Store, ConfigError> {
        let name = config
            .aws
            .status_bucket
            .clone()
            .ok_or_else(|| openmic_core::config::aws::STATUS_BUCKET.missing())?;
        check_bucket_name(openmic_core::config::aws::STATUS_BUCKET.name(), &name)?;
        Ok(s3::S3Store::new(self.s3(), name))
    }

    #[cfg(feature = "s3")]
    pub fn state_bucket(&self, config: &Config) -> Result<s3::S3Store, ConfigError> {
        let name = config
            .aws
            .state_bucket
            .clone()
            .ok_or_else(|| openmic_core::config::aws::STATE_BUCKET.missing())?;
        check_bucket_name(openmic_core::config::aws::STATE_BUCKET.name(), &name)?;
        Ok(s3::S3Store::new(self.s3(), name))
    }

    #[cfg(feature = "sqs")]
    pub fn publish_queue(&self, config: &Config) -> Result<sqs::SqsQueue, ConfigError> {
        let url = config
            .aws
            .publish_queue_url
            .clone()
            .ok_or_else(|| openmic_core::config::aws::PUBLISH_QUEUE_URL.missing())?;
        check_queue_url(openmic_core::config::aws::PUBLISH_QUEUE_URL.name(), &url)?;
        Ok(sqs::SqsQueue::new(self.sqs(), url))
    }

    #[cfg(feature = "sqs")]
    pub fn alert_queue(&self, config: &Config) -> Result<sqs::SqsQueue, ConfigError> {
        let url = config
            .aws
            .alert_queue_url
            .clone()
            .ok_or_else(|| openmic_core::config::aws::ALERT_QUEUE_URL.missing())?;
        check_queue_url(openmic_core::config::aws::ALERT_QUEUE_URL.name(), &url)?;
        Ok(sqs::SqsQueue::new(self.sqs(), url))
    }

    /// The queue of public updates for subscribers.
    #[cfg(feature = "sqs")]
    pub fn update_queue(&self, config: &Config) -> Result<sqs::SqsQueue, ConfigError> {
        let url = config
            .aws
            .update_queue_url
            .clone()
            .ok_or_else(|| openmic_core::config::aws::UPDATE_QUEUE_URL.missing())?;
        check_queue_url(openmic_core::config::aws::UPDATE_QUEUE_URL.name(), &url)?;
        Ok(sqs::SqsQueue::new(self.sqs(), url))
    }

    /// The backends of an intake function (the one composition takes them): the state
    /// bucket (claims of large bodies), and the publish queue for the webhook, the
    /// alerts queue for the alerts function. Each fails naming the variable it lacks.
    /// One method a function, not one for all: a function links only the clients it
    /// calls for, whatever features the build unified.
    #[cfg(all(feature = "s3", feature = "sqs"))]
    pub fn intake_backends(
        &self,
        config: &Config,
        function: Function,
    ) -> Result<Backends, ConfigError> {
        let queue = |q: sqs::SqsQueue| Some(Arc::new(q) as Arc<dyn openmic_core::ports::Queue>);
        let mut backends = Backends {
            state: Some(Arc::new(self.state_bucket(config)?)),
            ..Backends::default()
        };
        match function {
            Function::Webhook => backends.publish = queue(self.publish_queue(config)?),
            Function::Alerts => backends.alerts = queue(self.alert_queue(config)?),
            _ => {}
        }
        Ok(backends)
    }

    /// The publisher's backends: both buckets, and the updates queue where
    /// `UPDATE_QUEUE_URL` is set (public updates sent on).
    #[cfg(all(feature = "s3", feature = "sqs"))]
    pub fn publisher_backends(&self, config: &Config) -> Result<Backends, ConfigError> {
        let updates = match config.aws.update_queue_url {
            Some(_) => Some(Arc::new(self.update_queue(config)?) as _),
            None => None,
        };
        Ok(Backends {
            state: Some(Arc::new(self.state_bucket(config)?)),
            status: Some(Arc::new(self.status_bucket(config)?)),
            updates,
            ..Backends::default()
        })
    }

    /// The notifier's backends: the state bucket, the maintainers' mailer, the alerts
    /// and publish queues where their URLs are set (chat jobs, notes published from
    /// chat), and (with `sms`) SNS for text messages.
    #[cfg(all(feature = "s3", feature = "ses", feature = "sqs"))]
    pub fn notifier_backends(&self, config: &Config) -> Result<Backends, ConfigError> {
        // Chat jobs go on the alerts queue, notes published from chat on the publish
        // queue: where the function is given them.
        let alerts = match &config.aws.alert_queue_url {
            Some(_) => Some(Arc::new(self.alert_queue(config)?) as _),
            None => None,
        };
        let publish = match &config.aws.publish_queue_url {
            Some(_) => Some(Arc::new(self.publish_queue(config)?) as _),
            None => None,
        };
        Ok(Backends {
            state: Some(Arc::new(self.state_bucket(config)?)),
            mailer: Some(Arc::new(self.mailer(config)?)),
            alerts,
            publish,
            #[cfg(feature = "sms")]
            sms: Some(Arc::new(self.sms())),
            ..Backends::default()
        })
    }

    /// The subscriptions function's backends: the state bucket, subscribers' mailer,
    /// and with `SUBSCRIPTIONS=on` the updates queue (batches re-queued).
    #[cfg(all(feature = "s3", feature = "sqs", feature = "ses"))]
    pub fn subscriptions_backends(&self, config: &Config) -> Result<Backends, ConfigError> {
        let updates = match config.subscriptions.enabled {
            true => Some(Arc::new(self.update_queue(config)?) as _),
            false => None,
        };
        Ok(Backends {
            state: Some(Arc::new(self.state_bucket(config)?)),
            subscription_mailer: Some(Arc::new(self.subscription_mailer(config)?)),
            updates,
            ..Backends::default()
        })
    }

    /// What the consumer of `queue` (`publish`, `alerts`, `updates`) does with a
    /// message it gives up on: its dead-letter queue (`*_DEAD_LETTER_QUEUE_URL`) and
    /// the maintainers' mail through `mailer`, or an SES mailer of its own with
    /// `MAIL_FROM` and `MAINTAINER_EMAILS`. Neither client is made before a message
    /// is first given up on, so a function starts as fast as before.
    #[cfg(all(feature = "sqs", feature = "ses"))]
    pub fn dead_letters(
        &self,
        config: &std::sync::Arc<Config>,
        queue: &'static str,
        mailer: Option<std::sync::Arc<dyn openmic_core::ports::Mailer>>,
    ) -> Result<batch::DeadLetters, ConfigError> {
        let (variable, url) = match queue {
            "publish" => (
                openmic_core::config::aws::PUBLISH_DEAD_LETTER_QUEUE_URL.name(),
                &config.aws.publish_dead_letter_queue_url,
            ),
            "alerts" => (
                openmic_core::config::aws::ALERT_DEAD_LETTER_QUEUE_URL.name(),
                &config.aws.alert_dead_letter_queue_url,
            ),
            _ => (
                openmic_core::config::aws::UPDATE_DEAD_LETTER_QUEUE_URL.name(),
                &config.aws.update_dead_letter_queue_url,
            ),
        };
        let dlq = match url {
            Some(url) => {
                check_queue_url(variable, url)?;
                Some(std::sync::Arc::new(Lazy {
                    aws: self.clone(),
                    url: url.clone(),
                })
                    as std::sync::Arc<dyn batch::DeadLetterQueue>)
            }
            None => None,
        };
        let mailer = mailer.or_else(|| {
            (config.mail.mail_from.is_some() && !config.mail.maintainer_emails.is_empty()).then(
                || {
                    std::sync::Arc::new(Lazy {
                        aws: self.clone(),
                        url: String::new(),
                    }) as std::sync::Arc<dyn openmic_core::ports::Mailer>
                },
            )
        });
        Ok(batch::DeadLetters {
            queue,
            max_receive_count: config.aws.max_receive_count,
            dlq,
            mailer,
            config: config.clone(),
        })
    }

    #[cfg(feature = "ses")]
    pub fn mailer(&self, config: &Config) -> Result<ses::SesMailer, ConfigError> {
        config.require(&[
            openmic_core::config::mail::MAIL_FROM.name(),
            openmic_core::config::mail::MAINTAINER_EMAILS.name(),
        ])?;
        Ok(ses::SesMailer::new(aws_sdk_sesv2::Client::new(&self.sdk)))
    }

    /// Text messages through SNS, for SMS channels and contact methods.
    #[cfg(feature = "sms")]
    pub fn sms(&self) -> sms::SnsSms {
        sms::SnsSms::new(aws_sdk_sns::Client::new(&self.sdk))
    }

    /// The subscribers' mailer: at the account's send rate, with
    /// `SES_CONFIGURATION_SET`.
    #[cfg(feature = "ses")]
    pub fn subscription_mailer(&self, config: &Config) -> Result<ses::SesMailer, ConfigError> {
        config.require(&[openmic_core::config::mail::MAIL_FROM.name()])?;
        Ok(ses::SesMailer::paced(
            aws_sdk_sesv2::Client::new(&self.sdk),
            config.aws.ses_configuration_set.clone(),
        ))
    }
}

/// A dead-letter queue (at `url`) or the maintainers' SES mailer, whose client is
/// made on first use: a function that never gives up on a message never makes it.
#[cfg(all(feature = "sqs", feature = "ses"))]
struct Lazy {
    aws: Aws,
    url: String,
}

#[cfg(all(feature = "sqs", feature = "ses"))]
#[async_trait::async_trait]
impl batch::DeadLetterQueue for Lazy {
    async fn bury(&self, letter: &batch::Letter<'_>) -> Result<(), BackendError> {
        sqs::SqsQueue::new(self.aws.sqs(), self.url.clone())
            .bury(letter)
            .await
    }

    fn location(&self) -> String {
        self.url.clone()
    }
}

#[cfg(all(feature = "sqs", feature = "ses"))]
#[async_trait::async_trait]
impl openmic_core::ports::Mailer for Lazy {
    async fn send(&self, mail: &openmic_core::mail::Mail) -> Result<(), BackendError> {
        ses::SesMailer::new(aws_sdk_sesv2::Client::new(&self.aws.sdk))
            .send(mail)
            .await
    }
}

/// S3's bucket naming rules, checked before any request.
pub fn check_bucket_name(variable: &'static str, name: &str) -> Result<(), ConfigError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name: variable,
            why: format!("{name:?} is not a valid S3 bucket name (3 to 63 of a-z, 0-9, '-', '.')"),
        })
    }
}

/// A queue URL: `https://sqs.<region>.amazonaws.com/<account>/<name>.fifo` or the same
/// path on another endpoint; the queue must be FIFO.
pub fn check_queue_url(variable: &'static str, url: &str) -> Result<(), ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid {
        name: variable,
        why: format!("{url:?} {why}"),
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(invalid("is not a queue URL"));
    }
    if !url.trim_end_matches('/').ends_with(".fifo") {
        return Err(invalid("is not a FIFO queue (its name must end in .fifo)"));
    }
    Ok(())
}

/// A Lambda function's start: logging, the configuration (or a stop naming what is
/// missing or wrong: every variable of `variables` that `function` requires), and the
/// AWS clients.
pub async fn start<'a>(
    function: Function,
    variables: impl IntoIterator<Item = &'a Variable>,
) -> (std::sync::Arc<Config>, Aws) {
    crate::telemetry::init();
    let config = crate::telemetry::or_exit(Config::from_env());
    crate::telemetry::or_exit(config.require_for(function, variables));
    (std::sync::Arc::new(config), Aws::new(lambda_config()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amazon_roots_are_five_parsable_trust_anchors() {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        // The SDK's HTTP client parses these when it builds a connector and panics on
        // one it cannot read: every one must be a certificate rustls takes as a root.
        let certs = CertificateDer::pem_slice_iter(AMAZON_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        assert_eq!(certs.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn functions_trust_amazon_unless_the_endpoint_partition_or_operator_says_otherwise() {
        let us = Some("eu-central-1");
        assert_eq!(Roots::for_lambda(None, us, false), Roots::Amazon);
        assert_eq!(Roots::for_lambda(None, None, false), Roots::Amazon);
        assert_eq!(
            Roots::for_lambda(None, Some("us-gov-west-1"), false),
            Roots::Amazon
        );
        // Plain HTTP (a local emulator) needs no certificate.
        assert_eq!(
            Roots::for_lambda(Some("http://127.0.0.1:5000"), us, false),
            Roots::Amazon
        );
        assert_eq!(
            Roots::for_lambda(Some(" HTTP://moto:5000"), us, false),
            Roots::Amazon
        );
        // HTTPS elsewhere may chain to any authority.
        assert_eq!(
            Roots::for_lambda(Some("https://minio.example.com"), us, false),
            Roots::System
        );
        assert_eq!(
            Roots::for_lambda(Some("minio.example.com"), us, false),
            Roots::System
        );
        for region in [
            "cn-north-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eusc-de-east-1",
        ] {
            assert_eq!(
                Roots::for_lambda(None, Some(region), false),
                Roots::System,
                "{region}"
            );
        }
        // Certificates named in the environment are the operator's choice.
        assert_eq!(Roots::for_lambda(None, us, true), Roots::System);
    }

    #[cfg(feature = "sqs")]
    #[test]
    fn a_client_builds_on_either_store() {
        // An SDK client builds its connector, roots and all, when it is made: where a
        // root it cannot read would panic.
        for roots in [Roots::Amazon, Roots::System] {
            let sdk = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_types::region::Region::new("eu-central-1"))
                .http_client(https_client(roots))
                .build();
            let _ = aws_sdk_sqs::Client::new(&sdk);
        }
    }
}
