//! What a Lambda function is invoked with, parsed once into one type: an HTTP request
//! from API Gateway, a batch of a queue (named by the records' `eventSourceARN`), SES's
//! feedback through SNS, or a scheduled job (`{"openmic": "tick"|"resync"|"render"}`
//! from EventBridge). Each function then dispatches on it in one `match`. Anything
//! else is an [`UnknownInvocation`] naming what it is not, never a guess.

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

use crate::apigw;

/// The queues a function may be fed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Publish,
    Alerts,
    Updates,
}

impl QueueName {
    /// Its name in logs and mail.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Publish => "publish",
            QueueName::Alerts => "alerts",
            QueueName::Updates => "updates",
        }
    }
}

/// A scheduled job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The minute's tick: maintenances to their stage, held alerts let go, digests.
    Tick,
    /// Every published incident rebuilt from GitLab.
    Resync,
    /// The site rendered again (each day, so its history moves on).
    Render,
}

/// One invocation.
#[derive(Debug)]
pub enum Invocation {
    Http(Box<apigw::Event>),
    Queue {
        queue: QueueName,
        batch: SqsEvent,
    },
    /// SNS's records (SES's bounces and complaints), as they came.
    Feedback(Value),
    Job(Job),
}

/// An invocation that is none of those a function takes.
#[derive(Debug, thiserror::Error)]
pub enum UnknownInvocation {
    #[error("a batch from a queue this function is not fed by ({arn})")]
    Queue { arn: String },
    #[error("an SQS batch that does not read: {0}")]
    Batch(#[source] serde_json::Error),
    #[error("an API Gateway event that does not read: {0}")]
    Http(#[source] serde_json::Error),
    #[error("a scheduled job openmic does not have: {0:?}")]
    Job(String),
    #[error(
        "unknown event: expected an API Gateway request, an SQS or SNS batch, or {{\"openmic\": \"tick\"|\"resync\"|\"render\"}}"
    )]
    Other,
}

/// The URLs of the queues a function is fed by (from its configuration); a batch's
/// queue is the one whose name its records' `eventSourceARN` ends with.
#[derive(Debug, Default, Clone, Copy)]
pub struct Queues<'a> {
    pub publish: Option<&'a str>,
    pub alerts: Option<&'a str>,
    pub updates: Option<&'a str>,
}

impl Queues<'_> {
    fn named_by(&self, arn: &str) -> Option<QueueName> {
        let name = arn.rsplit(':').next()?;
        let of = |url: Option<&str>| {
            url.and_then(|u| u.trim_end_matches('/').rsplit('/').next())
                .is_some_and(|n| !n.is_empty() && n == name)
        };
        [
            (self.publish, QueueName::Publish),
            (self.alerts, QueueName::Alerts),
            (self.updates, QueueName::Updates),
        ]
        .into_iter()
        .find(|(url, _)| of(*url))
        .map(|(_, q)| q)
    }
}

impl Invocation {
    /// Parses what Lambda handed over.
    pub fn parse(event: Value, queues: &Queues<'_>) -> Result<Invocation, UnknownInvocation> {
        if let Some(job) = event.get("openmic") {
            return match job.as_str() {
                Some("tick") => Ok(Invocation::Job(Job::Tick)),
                Some("resync") => Ok(Invocation::Job(Job::Resync)),
                Some("render") => Ok(Invocation::Job(Job::Render)),
                _ => Err(UnknownInvocation::Job(job.to_string())),
            };
        }
        if let Some(records) = event.get("Records").and_then(Value::as_array) {
            let source =
                |r: &Value, key: &str| r.get(key).and_then(Value::as_str).map(str::to_owned);
            let first = records.first();
            if first.and_then(|r| source(r, "EventSource")).as_deref() == Some("aws:sns") {
                return Ok(Invocation::Feedback(event));
            }
            let arn = first
                .and_then(|r| source(r, "eventSourceARN"))
                .unwrap_or_default();
            let queue = queues
                .named_by(&arn)
                .ok_or(UnknownInvocation::Queue { arn })?;
            let batch = serde_json::from_value(event).map_err(UnknownInvocation::Batch)?;
            return Ok(Invocation::Queue { queue, batch });
        }
        if event.get("requestContext").is_some() {
            let http = serde_json::from_value(event).map_err(UnknownInvocation::Http)?;
            return Ok(Invocation::Http(Box::new(http)));
        }
        Err(UnknownInvocation::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PUBLISH: &str =
        "https://sqs.eu-central-1.amazonaws.com/123456789012/s-PublishQueue-AbC.fifo";
    const UPDATES: &str =
        "https://sqs.eu-central-1.amazonaws.com/123456789012/s-UpdateQueue-XyZ.fifo";

    fn queues() -> Queues<'static> {
        Queues {
            publish: Some(PUBLISH),
            alerts: None,
            updates: Some(UPDATES),
        }
    }

    fn batch(arn: &str) -> Value {
        json!({"Records": [{"messageId": "1", "body": "{}", "attributes": {"MessageGroupId": "g"},
            "eventSource": "aws:sqs", "eventSourceARN": arn}]})
    }

    #[test]
    fn each_kind_of_event_is_told_apart_once() {
        let q = queues();
        for (job, want) in [
            ("tick", Job::Tick),
            ("resync", Job::Resync),
            ("render", Job::Render),
        ] {
            match Invocation::parse(json!({"openmic": job}), &q) {
                Ok(Invocation::Job(j)) => assert_eq!(j, want),
                other => panic!("{job}: {other:?}"),
            }
        }
        let arn = "arn:aws:sqs:eu-central-1:123456789012:s-UpdateQueue-XyZ.fifo";
        match Invocation::parse(batch(arn), &q) {
            Ok(Invocation::Queue { queue, batch }) => {
                assert_eq!(queue, QueueName::Updates);
                assert_eq!(batch.records.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": "{}"}}]});
        assert!(matches!(
            Invocation::parse(sns, &q),
            Ok(Invocation::Feedback(_))
        ));
        let http = json!({"version": "2.0", "rawPath": "/subscribe",
            "requestContext": {"http": {"method": "GET", "path": "/subscribe"}}});
        assert!(matches!(
            Invocation::parse(http, &q),
            Ok(Invocation::Http(_))
        ));
    }

    #[test]
    fn unknown_input_is_a_named_error() {
        let q = queues();
        let other_queue = batch("arn:aws:sqs:eu-central-1:123456789012:s-AlertQueue-Q.fifo");
        let err = Invocation::parse(other_queue, &q).unwrap_err();
        assert!(err.to_string().contains("s-AlertQueue-Q.fifo"), "{err}");
        assert!(matches!(
            Invocation::parse(json!({"openmic": "reboot"}), &q),
            Err(UnknownInvocation::Job(j)) if j == "\"reboot\""
        ));
        assert!(matches!(
            Invocation::parse(json!({"hello": 1}), &q),
            Err(UnknownInvocation::Other)
        ));
        assert!(matches!(
            Invocation::parse(json!([1, 2]), &q),
            Err(UnknownInvocation::Other)
        ));
        // A queue's name must match whole, not as a suffix of another.
        let suffix = batch("arn:aws:sqs:eu-central-1:123456789012:PublishQueue-AbC.fifo");
        assert!(Invocation::parse(suffix, &q).is_err());
    }
}
