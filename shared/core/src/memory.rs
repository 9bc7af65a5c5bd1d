//! In-process backends: a bucket, a queue and a mailer held in memory, for unit
//! tests and benches that run the domain without a file system or a network.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use crate::errors::BackendError;
use crate::mail::Mail;
use crate::ports::{Condition, Mailer, Object, ObjectStore, OutMessage, PutOptions, Queue};

/// A bucket in memory, with the same conditional writes as S3.
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, (Bytes, u64, String)>>,
    version: std::sync::atomic::AtomicU64,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Bytes, u64, String)>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        crate::ports::check_key(key)?;
        Ok(self.lock().get(key).map(|(body, v, ct)| Object {
            body: body.clone(),
            etag: v.to_string(),
            content_type: Some(ct.clone()),
        }))
    }

    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError> {
        crate::ports::check_key(key)?;
        let mut objects = self.lock();
        let current = objects.get(key).map(|(_, v, _)| v.to_string());
        let holds = match &opts.condition {
            Condition::Always => true,
            Condition::IfNoneMatch => current.is_none(),
            Condition::IfMatch(etag) => current.as_ref() == Some(etag),
        };
        if !holds {
            return Err(BackendError::PreconditionFailed(key.to_owned()));
        }
        let v = self
            .version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        objects.insert(key.to_owned(), (body, v, opts.content_type));
        Ok(v.to_string())
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        crate::ports::check_key(key)?;
        self.lock().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        Ok(self
            .lock()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        _opts: PutOptions,
    ) -> Result<String, BackendError> {
        Err(BackendError::Permanent(format!(
            "{key}: the memory store takes no files ({})",
            path.display()
        )))
    }
}

/// A queue that keeps what it is sent, in order.
#[derive(Default)]
pub struct MemoryQueue(Mutex<Vec<OutMessage>>);

impl MemoryQueue {
    /// Takes every message sent so far.
    pub fn take(&self) -> Vec<OutMessage> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), BackendError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(messages);
        Ok(())
    }
}

/// A mailer that keeps each message as its RFC 5322 bytes would go out, with an
/// optional send rate to report, and that can be made to refuse the next few mails
/// ([`MemoryMailer::fail_next`]).
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Mail>>,
    pub rate: Option<f64>,
    failing: std::sync::atomic::AtomicUsize,
}

impl MemoryMailer {
    pub fn with_rate(rate: f64) -> MemoryMailer {
        MemoryMailer {
            rate: Some(rate),
            ..MemoryMailer::default()
        }
    }

    /// Refuses the next `n` mails, for a passing reason.
    pub fn fail_next(&self, n: usize) {
        self.failing.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Takes every mail sent so far.
    pub fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: &Mail) -> Result<(), BackendError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self
            .failing
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(BackendError::Transient("throttled".into()));
        }
        // Built as the real mailers build it, so a mail they refuse fails here too.
        mail.to_rfc5322()?;
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(mail.clone());
        Ok(())
    }

    async fn max_send_rate(&self) -> Result<Option<f64>, BackendError> {
        Ok(self.rate)
    }
}
