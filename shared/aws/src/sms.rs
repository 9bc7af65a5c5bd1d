//! Text messages through Amazon SNS: `Publish` with `PhoneNumber` and `Message`,
//! sent as transactional (`AWS.SNS.SMS.SMSType`), the type SNS delivers ahead of
//! promotional traffic and past the quiet hours some countries set for marketing. A
//! page is one message; SNS splits a long one into segments itself.
//!
//! The number is a person's contact detail: an error never names it (SNS writes it
//! into some of its error messages, which are rewritten here).

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::classify;
use openmic_core::errors::BackendError;
use openmic_core::ports::Sms;

#[derive(Clone)]
pub struct SnsSms {
    client: Client,
}

impl SnsSms {
    pub fn new(client: Client) -> Self {
        SnsSms { client }
    }
}

/// `e` without `phone` (nor its digits without the `+`).
fn without(e: BackendError, phone: &str) -> BackendError {
    let clean = |s: String| {
        let digits = phone.trim_start_matches('+');
        let s = s.replace(phone, "[number]");
        if digits.len() >= 6 {
            s.replace(digits, "[number]")
        } else {
            s
        }
    };
    match e {
        BackendError::Transient(m) => BackendError::Transient(clean(m)),
        BackendError::Permanent(m) => BackendError::Permanent(clean(m)),
        BackendError::PreconditionFailed(m) => BackendError::PreconditionFailed(clean(m)),
    }
}

#[async_trait]
impl Sms for SnsSms {
    async fn send_sms(&self, phone: &str, text: &str) -> Result<(), BackendError> {
        let transactional = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| BackendError::Permanent(format!("SNS Publish: {e}")))?;
        self.client
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", transactional)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| without(classify("SNS Publish", e), phone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_never_names_the_number() {
        let e = without(
            BackendError::Permanent(
                "SNS Publish: InvalidParameter: Invalid parameter: PhoneNumber Reason: +15550100 (15550100) is not valid".into(),
            ),
            "+15550100",
        );
        assert_eq!(
            e.to_string(),
            "SNS Publish: InvalidParameter: Invalid parameter: PhoneNumber Reason: [number] ([number]) is not valid"
        );
    }
}
