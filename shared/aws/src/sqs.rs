//! Queues on SQS FIFO.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

use super::batch::{DeadLetterQueue, DeadLetters, Letter, Message};
use super::classify;
use openmic_core::consumer::verdict::MAX_REASON_CHARS;
use openmic_core::errors::BackendError;
use openmic_core::ports::{OutMessage, Queue};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

/// A message received from SQS (by the local runner; on Lambda the event carries it).
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub receive_count: u32,
    /// Its FIFO group.
    pub group_id: String,
}

impl Received {
    /// As the consumer's message.
    pub fn message(&self) -> Message {
        Message {
            id: self.message_id.clone(),
            group: self.group_id.clone(),
            dedup_id: String::new(),
            body: Some(self.body.clone()),
            receive_count: self.receive_count,
        }
    }

    /// As a Lambda event's record (the tests hand receives to `batch::handle_batch`).
    pub fn record(&self) -> aws_lambda_events::event::sqs::SqsMessage {
        let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
        m.message_id = Some(self.message_id.clone());
        m.receipt_handle = Some(self.receipt_handle.clone());
        m.body = Some(self.body.clone());
        m.attributes
            .insert("MessageGroupId".into(), self.group_id.clone());
        m.attributes.insert(
            "ApproximateReceiveCount".into(),
            self.receive_count.to_string(),
        );
        m
    }
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    /// Checks that the queue exists and is FIFO; the error names `variable`.
    pub async fn check(&self, variable: &str) -> Result<(), String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::FifoQueue)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{variable}: queue {:?} cannot be used: {}",
                    self.url,
                    classify("get queue attributes", e)
                )
            })?;
        let fifo = out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::FifoQueue))
            .map(String::as_str);
        if fifo != Some("true") {
            return Err(format!(
                "{variable}: queue {:?} is not a FIFO queue",
                self.url
            ));
        }
        Ok(())
    }

    /// Receives up to `max` messages, waiting up to `wait_secs` for the first.
    pub async fn receive(&self, max: i32, wait_secs: i32) -> Result<Vec<Received>, BackendError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId,
            )
            .send()
            .await
            .map_err(|e| classify(&format!("receive from {}", self.url), e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| Received {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                group_id: m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// One receive (up to 10 messages, waiting up to `wait_secs` for the first)
    /// handled by the one consumer as Lambda handles a batch
    /// ([`openmic_core::consumer::consume`]: FIFO groups held back behind a failure, a
    /// panic contained to its message, what is given up on sent to the dead-letter
    /// queue with its reason); then what is done is deleted, and what failed is made
    /// visible again after `retry_secs`. Returns how many messages came.
    pub async fn consume<F, Fut, T>(
        &self,
        wait_secs: i32,
        retry_secs: i32,
        dead: &DeadLetters,
        handle: F,
    ) -> Result<usize, BackendError>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, openmic_core::errors::ProcessError>>,
        T: std::fmt::Debug,
    {
        let received = self.receive(10, wait_secs).await?;
        let messages = received.iter().map(Received::message).collect();
        let done = openmic_core::consumer::consume(messages, dead, handle).await;
        for (m, done) in received.iter().zip(done) {
            if !done {
                if let Err(e) = self.retry_after(&m.receipt_handle, retry_secs).await {
                    tracing::warn!(message_id = %m.message_id, error = %e, "could not make a failed message visible again; it comes back after the queue's visibility timeout");
                }
            } else if let Err(e) = self.delete(&m.receipt_handle).await {
                tracing::warn!(message_id = %m.message_id, error = %e, "could not delete a handled message");
            }
        }
        Ok(received.len())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), BackendError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("delete from {}", self.url), e))
    }

    /// Makes a received message visible again after `secs`.
    pub async fn retry_after(&self, receipt_handle: &str, secs: i32) -> Result<(), BackendError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs.max(0))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("change visibility on {}", self.url), e))
    }
}

/// Text SQS takes in a message attribute: XML's characters (no other control
/// characters, no lone surrogates), at most [`MAX_REASON_CHARS`].
fn attribute_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .take(MAX_REASON_CHARS)
        .collect()
}

/// The dead-letter queue a consumer sends what it gives up on to: the message as it
/// was (body and group), its reason and origin as message attributes (`reason`,
/// `queue`, `source-message-id`, `receive-count`), deduplicated by its message id.
#[async_trait]
impl DeadLetterQueue for SqsQueue {
    async fn bury(&self, letter: &Letter<'_>) -> Result<(), BackendError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let attribute = |kind: &str, value: String| {
            MessageAttributeValue::builder()
                .data_type(kind)
                .string_value(value)
                .build()
                .map_err(|e| BackendError::Permanent(format!("dead-letter attribute: {e}")))
        };
        let group = match letter.group_id {
            "" => "dead-letters",
            g => g,
        };
        let dedup: String = letter
            .message_id
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(128)
            .collect();
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(letter.body)
            .message_group_id(group)
            .message_deduplication_id(if dedup.is_empty() {
                "dead-letter".into()
            } else {
                dedup
            })
            .message_attributes(
                "reason",
                attribute("String", attribute_text(letter.reason))?,
            )
            .message_attributes("queue", attribute("String", attribute_text(letter.queue))?)
            .message_attributes(
                "source-message-id",
                attribute("String", attribute_text(letter.message_id))?,
            )
            .message_attributes(
                "receive-count",
                attribute("Number", letter.receive_count.to_string())?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&format!("send to the dead-letter queue {}", self.url), e))
    }

    fn location(&self) -> String {
        self.url.clone()
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), BackendError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        const MAX_ENTRIES: usize = 10;
        const MAX_BYTES: usize = 256 * 1024;
        let mut chunks: Vec<Vec<OutMessage>> = vec![];
        let mut size = 0;
        for m in messages {
            let len = m.body.len() + m.group_id.len() + m.dedup_id.len();
            match chunks.last_mut() {
                Some(c) if c.len() < MAX_ENTRIES && size + len <= MAX_BYTES => {
                    size += len;
                    c.push(m);
                }
                _ => {
                    size = len;
                    chunks.push(vec![m]);
                }
            }
        }
        // One call per chunk, a single message as a batch of one: one SQS operation
        // in every function that sends.
        for chunk in chunks {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .message_group_id(&m.group_id)
                        .message_deduplication_id(&m.dedup_id)
                        .build()
                        .map_err(|e| BackendError::Permanent(format!("batch entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify(&format!("send batch to {}", self.url), e))?;
            for failed in out.failed() {
                let i: usize = failed.id().parse().unwrap_or(usize::MAX);
                let Some(m) = chunk.get(i) else { continue };
                if failed.sender_fault() {
                    return Err(BackendError::Permanent(format!(
                        "send to {}: {} {}",
                        self.url,
                        failed.code(),
                        failed.message().unwrap_or("")
                    )));
                }
                self.send(m.clone()).await?;
            }
        }
        Ok(())
    }
}

impl SqsQueue {
    /// Messages waiting or in flight (approximate, as SQS counts them).
    pub async fn approximate_pending(&self) -> Result<usize, BackendError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| classify(&format!("attributes of {}", self.url), e))?;
        let attrs = out.attributes();
        let n = |k: QueueAttributeName| {
            attrs
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        Ok(n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }
}
