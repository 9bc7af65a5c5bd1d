//! A FIFO queue on disk under `DIR/queue/<name>/`: an accepted message is a file in
//! `pending/` until it is handled, so it survives a restart of the runner.
//! Deduplication ids are remembered for five minutes, as SQS FIFO does (in memory: a
//! restart forgets them, and the handlers' idempotence covers a repeat); messages that
//! keep failing move to `dead/`.
//!
//! A send writes its file (through a rename, so never half of it) and returns; the
//! files are synced to disk in the background at least once a second ([`FsQueue::sync`],
//! run by the runner), as a database with a one-second group commit does: a crash of
//! the process loses nothing, a power cut at most the last second.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::{Mutex, Notify};

use super::fs::{write_atomic, write_file};
use crate::ports::{BackendError, OutMessage, Queue};

/// SQS FIFO's deduplication window.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

pub struct FsQueue {
    dir: PathBuf,
    seq: AtomicU64,
    lock: Mutex<HashMap<String, u32>>,
    notify: Notify,
    /// Files written and not yet synced to disk.
    unsynced: std::sync::Mutex<Vec<PathBuf>>,
    /// Deduplication ids sent in the window, with when.
    seen: std::sync::Mutex<HashMap<String, std::time::Instant>>,
    /// The names of the files in `pending/`, in order (read from disk at open).
    index: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// A message taken from the queue, to be acknowledged or failed.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The file name in `pending/`: also the message id in logs.
    pub id: String,
    pub message: OutMessage,
    /// 1 on the first delivery.
    pub receive_count: u32,
}

fn io_err(what: &str, e: std::io::Error) -> BackendError {
    BackendError::Transient(format!("queue {what}: {e}"))
}

impl FsQueue {
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<FsQueue> {
        let dir = dir.into();
        for sub in ["pending", "dead"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        // Sequence numbers keep growing across restarts: after the clock and after
        // every message already waiting.
        let waiting = Self::sorted(&dir.join("pending"))?;
        let last = waiting
            .last()
            .and_then(|n| n.trim_end_matches(".json").parse::<u64>().ok())
            .unwrap_or(0);
        Ok(FsQueue {
            dir,
            seq: AtomicU64::new((now.as_micros() as u64).max(last + 1)),
            lock: Mutex::new(HashMap::new()),
            notify: Notify::new(),
            unsynced: std::sync::Mutex::new(Vec::new()),
            seen: std::sync::Mutex::new(HashMap::new()),
            index: std::sync::Mutex::new(waiting.into_iter().collect()),
        })
    }

    /// Resolves when a message may have arrived.
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    fn sorted(dir: &Path) -> std::io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Messages accepted and not yet handled (or dead-lettered).
    pub fn pending(&self) -> usize {
        self.index.lock().map(|i| i.len()).unwrap_or(0)
    }

    fn forget(&self, id: &str) {
        if let Ok(mut index) = self.index.lock() {
            index.remove(id);
        }
    }

    /// Messages given up on.
    pub fn dead(&self) -> Vec<String> {
        Self::sorted(&self.dir.join("dead")).unwrap_or_default()
    }

    /// The oldest pending message.
    pub async fn next(&self) -> Result<Option<Delivery>, BackendError> {
        let mut counts = self.lock.lock().await;
        let first = self.index.lock().ok().and_then(|i| i.first().cloned());
        let Some(id) = first else {
            return Ok(None);
        };
        let path = self.dir.join("pending").join(&id);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| io_err("read", e))?;
        let message: OutMessage = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => {
                // Not ours or damaged: keep it for a person to look at, off the queue.
                let _ = tokio::fs::rename(&path, self.dir.join("dead").join(&id)).await;
                self.forget(&id);
                return Err(BackendError::Permanent(format!(
                    "queue file {id} is unreadable: {e}"
                )));
            }
        };
        let count = counts.entry(id.clone()).or_insert(0);
        *count += 1;
        Ok(Some(Delivery {
            id,
            message,
            receive_count: *count,
        }))
    }

    /// Done with a message: it leaves the queue.
    pub async fn ack(&self, d: &Delivery) -> Result<(), BackendError> {
        let mut counts = self.lock.lock().await;
        counts.remove(&d.id);
        self.forget(&d.id);
        match tokio::fs::remove_file(self.dir.join("pending").join(&d.id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("ack", e)),
        }
    }

    /// Gives up on a message: it moves to `dead/`, with the reason beside it.
    pub async fn dead_letter(&self, d: &Delivery, reason: &str) -> Result<(), BackendError> {
        let mut counts = self.lock.lock().await;
        counts.remove(&d.id);
        let from = self.dir.join("pending").join(&d.id);
        let to = self.dir.join("dead").join(&d.id);
        tokio::fs::rename(&from, &to)
            .await
            .map_err(|e| io_err("dead-letter", e))?;
        self.forget(&d.id);
        let _ = write_atomic(
            &self.dir.join("dead").join(format!("{}.reason", d.id)),
            reason.as_bytes(),
        )
        .await;
        Ok(())
    }
}

#[async_trait]
impl Queue for FsQueue {
    async fn send(&self, message: OutMessage) -> Result<(), BackendError> {
        // Deduplication ids of the window, in memory: whoever inserts an id first sends.
        {
            let mut seen = self
                .seen
                .lock()
                .map_err(|_| BackendError::Transient("queue lock".into()))?;
            let now = std::time::Instant::now();
            if seen.len() > 50_000 {
                seen.retain(|_, at| now.duration_since(*at) < DEDUP_WINDOW);
            }
            match seen.get(&message.dedup_id) {
                Some(at) if now.duration_since(*at) < DEDUP_WINDOW => return Ok(()),
                _ => {
                    seen.insert(message.dedup_id.clone(), now);
                }
            }
        }
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join("pending").join(format!("{seq:020}.json"));
        let body =
            serde_json::to_vec(&message).map_err(|e| BackendError::Permanent(e.to_string()))?;
        let written = path.clone();
        let result = tokio::task::spawn_blocking(move || write_file(&written, &body, false))
            .await
            .map_err(|e| BackendError::Transient(e.to_string()))
            .and_then(|r| r.map_err(|e| io_err("write", e)));
        if let Err(e) = result {
            if let Ok(mut seen) = self.seen.lock() {
                seen.remove(&message.dedup_id);
            }
            return Err(e);
        }
        if let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned())
            && let Ok(mut index) = self.index.lock()
        {
            index.insert(name);
        }
        if let Ok(mut list) = self.unsynced.lock() {
            list.push(path);
        }
        self.notify.notify_one();
        Ok(())
    }
}

impl FsQueue {
    /// Syncs the files written since the last call to disk (and their directory).
    pub async fn sync(&self) -> std::io::Result<()> {
        let files = match self.unsynced.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => return Ok(()),
        };
        if files.is_empty() {
            return Ok(());
        }
        let dir = self.dir.join("pending");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for f in &files {
                // A file already handled and removed needs no sync.
                if let Ok(file) = std::fs::File::open(f) {
                    file.sync_all()?;
                }
            }
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(group: &str, dedup: &str, body: &str) -> OutMessage {
        OutMessage {
            group_id: group.into(),
            dedup_id: dedup.into(),
            body: body.into(),
        }
    }

    #[tokio::test]
    async fn fifo_dedup_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        q.send(msg("issue:1", "a", "first")).await.unwrap();
        q.send(msg("issue:1", "b", "second")).await.unwrap();
        q.send(msg("issue:1", "a", "first again")).await.unwrap();
        assert_eq!(q.pending(), 2);
        drop(q);
        let q = FsQueue::open(dir.path()).unwrap();
        let d = q.next().await.unwrap().unwrap();
        assert_eq!(d.message.body, "first");
        assert_eq!(d.receive_count, 1);
        assert_eq!(
            q.next().await.unwrap().unwrap().receive_count,
            2,
            "not acked: delivered again"
        );
        q.ack(&d).await.unwrap();
        let d2 = q.next().await.unwrap().unwrap();
        assert_eq!(d2.message.body, "second");
        q.dead_letter(&d2, "bad").await.unwrap();
        assert_eq!(q.pending(), 0);
        assert_eq!(q.dead().len(), 1);
    }
}
