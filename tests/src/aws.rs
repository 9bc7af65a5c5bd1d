//! A real S3/SQS/SES-compatible server for the tests: moto's server, started by
//! `scripts/test`, found through `OPENMIC_TEST_AWS_ENDPOINT`. Each test makes its own
//! buckets and queues with a unique suffix.

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use openmic_aws::Aws;

/// The server's URL; the README's test command (`scripts/test`) starts it.
pub fn endpoint() -> String {
    std::env::var("OPENMIC_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("OPENMIC_TEST_AWS_ENDPOINT is not set: run the tests with scripts/test, which starts moto's server")
    })
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(&endpoint()).await
}

/// The SDK configuration for an endpoint (the server, or a proxy in front of it), with
/// short timeouts so a hung call is cut quickly: 4 s an attempt, which moto's slowest
/// answer (a page of 1,000 keys on a busy machine) stays well inside.
pub async fn sdk_config_at(url: &str) -> aws_config::SdkConfig {
    use std::time::Duration;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(openmic_aws::http_client())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "openmic-tests",
        ))
        .load()
        .await
}

/// Buckets, FIFO queues (each with a dead-letter queue) and a verified sender.
pub struct Fixture {
    pub aws: Aws,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub status_bucket: String,
    pub state_bucket: String,
    pub publish_queue: String,
    pub alert_queue: String,
    pub publish_dlq: String,
    pub alert_dlq: String,
}

/// How many receives before SQS moves a message to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 3;

fn suffix() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Fixture {
    pub async fn new(name: &str) -> Fixture {
        let sdk = sdk_config().await;
        let aws = Aws::new(sdk.clone());
        let s3 = openmic_aws::s3_client(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let id = format!("{name}-{}", suffix());
        let status_bucket = format!("status-{id}");
        let state_bucket = format!("state-{id}");
        for b in [&status_bucket, &state_bucket] {
            s3.create_bucket()
                .bucket(b)
                .send()
                .await
                .expect("create bucket");
        }
        let make = |q: String, dlq_arn: Option<String>| {
            let sqs = sqs.clone();
            async move {
                let mut req = sqs
                    .create_queue()
                    .queue_name(q)
                    .attributes(QueueAttributeName::FifoQueue, "true")
                    .attributes(QueueAttributeName::VisibilityTimeout, "1");
                if let Some(arn) = dlq_arn {
                    req = req.attributes(
                        QueueAttributeName::RedrivePolicy,
                        format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}"#),
                    );
                }
                req.send()
                    .await
                    .expect("create queue")
                    .queue_url()
                    .unwrap()
                    .to_owned()
            }
        };
        let arn_of = |url: String| {
            let sqs = sqs.clone();
            async move {
                let out = sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .unwrap();
                out.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
            }
        };
        let publish_dlq = make(format!("publish-dlq-{id}.fifo"), None).await;
        let alert_dlq = make(format!("alerts-dlq-{id}.fifo"), None).await;
        let publish_queue = make(
            format!("publish-{id}.fifo"),
            Some(arn_of(publish_dlq.clone()).await),
        )
        .await;
        let alert_queue = make(
            format!("alerts-{id}.fifo"),
            Some(arn_of(alert_dlq.clone()).await),
        )
        .await;
        let ses = aws_sdk_sesv2::Client::new(&sdk);
        let _ = ses
            .create_email_identity()
            .email_identity("openmic@status.example.com")
            .send()
            .await;
        Fixture {
            aws,
            s3,
            sqs,
            status_bucket,
            state_bucket,
            publish_queue,
            alert_queue,
            publish_dlq,
            alert_dlq,
        }
    }

    /// Clients that reach the same server through `url` (a fault proxy).
    pub async fn aws_via(&self, url: &str) -> Aws {
        Aws::new(sdk_config_at(url).await)
    }

    /// The resource settings for a configuration.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STATUS_BUCKET", self.status_bucket.clone()),
            ("STATE_BUCKET", self.state_bucket.clone()),
            ("PUBLISH_QUEUE_URL", self.publish_queue.clone()),
            ("ALERT_QUEUE_URL", self.alert_queue.clone()),
        ]
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> openmic::config::Config {
        let env = self.env();
        let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(extra);
        crate::test_config(&all)
    }

    /// Every object of a bucket, by key.
    pub async fn objects(&self, bucket: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        let mut out = std::collections::BTreeMap::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.unwrap().contents() {
                let key = o.key().unwrap().to_owned();
                let body = self
                    .s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap();
                out.insert(key, body.into_bytes().to_vec());
            }
        }
        out
    }

    /// How many messages wait in a queue (visible or not).
    pub async fn depth(&self, url: &str) -> usize {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let a = out.attributes().unwrap();
        a[&QueueAttributeName::ApproximateNumberOfMessages]
            .parse::<usize>()
            .unwrap()
            + a[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
                .parse::<usize>()
                .unwrap()
    }
}

/// Everything the moto server recorded (`/moto-api/data.json`): mail, SMS and the rest.
pub async fn recorded() -> serde_json::Value {
    let url = format!("{}/moto-api/data.json", endpoint());
    // The server serialises all its state for this: under load from other tests it
    // can answer an error page; ask again.
    for attempt in 0.. {
        let body = http_get(&url).await;
        match serde_json::from_str(&body) {
            Ok(v) => return v,
            Err(e) if attempt == 9 => {
                panic!("moto data.json: {e}: {}", &body[..body.len().min(300)])
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(300)).await,
        }
    }
    unreachable!("the loop returns or panics")
}

/// Mail the server has accepted: each message's raw RFC 5322 text.
pub async fn sent_mail() -> Vec<String> {
    recorded().await["ses"]["RawMessage"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["raw_data"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The SMS the server recorded to `phone`, oldest first.
pub async fn sms_to(phone: &str) -> Vec<String> {
    recorded().await["sns"]["SMS"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["phone_number"] == phone)
        .map(|m| m["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A plain HTTP GET on loopback.
pub async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}
