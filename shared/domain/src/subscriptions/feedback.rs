//! What SES says about delivered mail (its bounce and complaint notifications, by
//! SNS): a permanent bounce or a complaint stops all mail to the address. The shapes
//! are SES's documented ones, of event publishing (`eventType`) and of identity
//! notifications (`notificationType`); fields SES may add are ignored.

use serde::Deserialize;

use super::address::SubscriberId;
use super::subscriber::Feedback;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    notification_type: Option<String>,
    #[serde(default)]
    bounce: Option<Bounce>,
    #[serde(default)]
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    #[serde(default)]
    bounce_type: String,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// What a notification means for subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Stop mail to these.
    Stop(Vec<(SubscriberId, Feedback)>),
    /// Nothing to do (a transient bounce, a delivery): the kind, for the log.
    Nothing(String),
}

/// Why a message is not an SES notification.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("not an SES notification")]
    Unreadable(#[source] serde_json::Error),
    #[error("not an SES notification: no eventType or notificationType")]
    NoType,
}

/// Reads one SES notification (the `Message` of an SNS record).
pub fn read(message: &str) -> Result<Verdict, FeedbackError> {
    let n: Notification = serde_json::from_str(message).map_err(FeedbackError::Unreadable)?;
    let kind = n
        .event_type
        .or(n.notification_type)
        .ok_or(FeedbackError::NoType)?;
    // A recipient may be written `Name <address>`.
    let id = |r: &Recipient| {
        let a = r.email_address.trim();
        let a = match (a.rfind('<'), a.rfind('>')) {
            (Some(l), Some(g)) if l < g => &a[l + 1..g],
            _ => a,
        };
        SubscriberId::of(a)
    };
    match (kind.as_str(), n.bounce, n.complaint) {
        ("Bounce", Some(b), _) if b.bounce_type == "Permanent" => Ok(Verdict::Stop(
            b.bounced_recipients
                .iter()
                .map(|r| (id(r), Feedback::Bounce))
                .collect(),
        )),
        ("Bounce", Some(b), _) => Ok(Verdict::Nothing(format!("{} bounce", b.bounce_type))),
        ("Complaint", _, Some(c)) => Ok(Verdict::Stop(
            c.complained_recipients
                .iter()
                .map(|r| (id(r), Feedback::Complaint))
                .collect(),
        )),
        (other, _, _) => Ok(Verdict::Nothing(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shapes of SES's documentation: "Examples of event data that Amazon SES
    // publishes to Amazon SNS" and "Amazon SNS notification examples for Amazon SES".
    const EVENT_BOUNCE: &str = r#"{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":"recipient@example.com","action":"failed","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2017-08-05T00:41:02.669Z","feedbackId":"01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000","reportingMTA":"dsn; mta.example.com"},"mail":{"timestamp":"2017-08-05T00:40:02.012Z","source":"Sender Name <sender@example.com>","sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/sender@example.com","sendingAccountId":"123456789012","messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000","destination":["recipient@example.com"],"headersTruncated":false,"tags":{"ses:configuration-set":["ConfigSet"]}}}"#;
    const NOTIFICATION_COMPLAINT: &str = r#"{"notificationType":"Complaint","complaint":{"userAgent":"AnyCompany Feedback Loop (V0.01)","complainedRecipients":[{"emailAddress":"Richard Roe <Richard@Example.com>"}],"complaintFeedbackType":"abuse","arrivalDate":"2016-01-27T14:59:38.237Z","timestamp":"2016-01-27T14:59:38.237Z","feedbackId":"000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"},"mail":{"timestamp":"2016-01-27T14:59:38.237Z","messageId":"000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000","source":"john@example.com","destination":["richard@example.com"]}}"#;
    const TRANSIENT: &str = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull","bouncedRecipients":[{"emailAddress":"jane@example.com"}],"timestamp":"2016-01-27T14:59:38.237Z","feedbackId":"x"},"mail":{}}"#;

    #[test]
    fn permanent_bounces_and_complaints_stop_mail() {
        assert_eq!(
            read(EVENT_BOUNCE).ok(),
            Some(Verdict::Stop(vec![(
                SubscriberId::of("recipient@example.com"),
                Feedback::Bounce
            )]))
        );
        assert_eq!(
            read(NOTIFICATION_COMPLAINT).ok(),
            Some(Verdict::Stop(vec![(
                SubscriberId::of("richard@example.com"),
                Feedback::Complaint
            )]))
        );
        assert_eq!(
            read(TRANSIENT).ok(),
            Some(Verdict::Nothing("Transient bounce".into()))
        );
        assert_eq!(
            read(r#"{"eventType":"Delivery","mail":{}}"#).ok(),
            Some(Verdict::Nothing("Delivery".into()))
        );
        assert!(matches!(read("{}"), Err(FeedbackError::NoType)));
        let e = read("not json").unwrap_err();
        assert!(matches!(e, FeedbackError::Unreadable(_)));
        assert!(
            crate::errors::Chain(&e)
                .to_string()
                .starts_with("not an SES notification: expected ident"),
            "{}",
            crate::errors::Chain(&e)
        );
    }
}
