//! A FIFO queue on disk under `DIR/queue/<name>/`, kept as an append-only log: an
//! accepted message is one record appended to the current segment file
//! (`<first sequence number>.log`), and a handled one is its sequence number appended
//! to the segment's `.acks` file. A record is a line of JSON
//! (`{"seq":"…","group_id":"…","dedup_id":"…","bytes":N}`), then the body's N bytes as
//! they are (a body is JSON itself: escaping it into a string cost more than all the
//! rest of the write), then a newline. A segment whose messages are all handled is deleted.
//! Opening the queue reads the segments back, so what was accepted survives a restart.
//! Deduplication ids are remembered for five minutes, as SQS FIFO does (in memory: a
//! restart forgets them, and the handlers' idempotence covers a repeat); messages that
//! keep failing move to `dead/`, one file each with the reason beside it. Each
//! delivery is counted on disk before the message is handed out (its sequence number
//! appended to the segment's `.receives` file): a start after the process stopped
//! while handling a message sees how often it was received, so a message that stops
//! the process each time is given up on after `MAX_RECEIVE_COUNT` receives instead of
//! stopping it forever.
//!
//! Why a log rather than a file per message: accepting is one `write` to a file already
//! open, where a file per message costs an inode, a directory entry and a rename, and
//! on a busy disk those wait behind the state store's syncs (a burst of webhooks felt
//! it in its reply times). The write goes to the page cache from the request's own
//! task; the segments are synced to disk in the background at least once a second
//! ([`FsQueue::sync`], run by the runner), as a database with a one-second group
//! commit does: a crash of the process loses nothing, a power cut at most the last
//! second. A record cut short by a power cut is the log's tail; it is skipped at open
//! (appending starts in a new segment), and a record that cannot be read anywhere else
//! goes to `dead/` with the reason.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tracing::warn;

use crate::store::write_file;
use openmic_core::consumer::{DeadLetterQueue, DeadLetters, Letter, Message, Receive};
use openmic_core::errors::BackendError;
use openmic_core::ports::{OutMessage, Queue};

/// SQS FIFO's deduplication window.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// A segment takes new messages until it is this long; then a new one starts.
const SEGMENT_BYTES: u64 = 4 << 20;

/// How a record begins: the sequence number as 20 digits in a string (so a record can
/// be written before its number is known, and patched in place).
const RECORD_HEAD: &[u8] = b"{\"seq\":\"00000000000000000000\"";
const SEQ_AT: usize = 8;

pub struct FsQueue {
    dir: PathBuf,
    log: Mutex<Log>,
    notify: Notify,
    /// Deduplication ids sent in the window, with when.
    seen: Mutex<HashMap<String, Instant>>,
}

struct Segment {
    /// Opened for reading and appending.
    file: Arc<File>,
    acks: Arc<File>,
    /// A line with a message's number for each time it was handed out.
    receives: Arc<File>,
    /// Bytes written (appends go here).
    len: u64,
    /// Written since the last sync.
    dirty: bool,
    /// Takes no more appends: read back at open (its tail may be cut short) or a write
    /// to it failed.
    sealed: bool,
}

/// Where a pending message's record is, in the segment its number falls in.
#[derive(Clone, Copy)]
struct Place {
    offset: u64,
    /// The whole record, its last newline included.
    len: usize,
}

struct Log {
    next_seq: u64,
    /// Segments by the sequence number they are named after (the first in them; each
    /// holds the numbers up to the next one's); the last takes appends.
    segments: BTreeMap<u64, Segment>,
    /// Messages accepted and not yet handled, in order.
    pending: BTreeMap<u64, Place>,
    /// Deliveries so far of each pending message (as the segments' `.receives` files
    /// count them).
    receives: HashMap<u64, u32>,
    /// A segment file was created or deleted since the last sync of the directory.
    dir_dirty: bool,
}

impl Log {
    /// The segment holding message `seq`, by its name.
    fn segment_of(&self, seq: u64) -> Option<(u64, &Segment)> {
        self.segments
            .range(..=seq)
            .next_back()
            .map(|(first, s)| (*first, s))
    }

    /// Whether the segment named `first` still holds a message not handled.
    fn holds_pending(&self, first: u64) -> bool {
        let end = self
            .segments
            .range(first + 1..)
            .next()
            .map_or(u64::MAX, |(next, _)| *next);
        self.pending.range(first..end).next().is_some()
    }
}

impl Segment {
    /// Opens (or creates) the segment named `first` and its acks.
    fn open(dir: &Path, first: u64, len: u64, sealed: bool) -> std::io::Result<Segment> {
        let open = |ext| {
            std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(segment_path(dir, first, ext))
        };
        Ok(Segment {
            file: Arc::new(open("log")?),
            acks: Arc::new(open("acks")?),
            receives: Arc::new(open("receives")?),
            len,
            dirty: !sealed,
            sealed,
        })
    }
}

fn segment_path(dir: &Path, first: u64, ext: &str) -> PathBuf {
    dir.join(format!("{}.{ext}", seq_id(first)))
}

/// A message taken from the queue, to be acknowledged or failed.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: OutMessage,
    /// 1 on the first delivery; counted on disk, so deliveries before a restart count.
    pub receive_count: u32,
    seq: u64,
}

impl Delivery {
    /// The message's sequence number, 20 digits: its id in logs and in `dead/`.
    pub fn id(&self) -> String {
        seq_id(self.seq)
    }
}

/// A record's first line.
#[derive(Serialize, Deserialize)]
struct Header<'a> {
    #[serde(skip_serializing)]
    seq: String,
    #[serde(borrow)]
    group_id: Cow<'a, str>,
    #[serde(borrow)]
    dedup_id: Cow<'a, str>,
    bytes: usize,
}

/// How reading a record from `bytes` went.
enum Read {
    /// A whole record of `len` bytes.
    Record {
        seq: u64,
        message: OutMessage,
        len: usize,
    },
    /// Not a record: the first `skip` bytes (a line) are damaged.
    Damaged { skip: usize, error: String },
    /// The bytes end before the record does.
    Short,
}

/// Where the first whole record beginning a line at or after `from` starts.
fn next_record(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        if let Read::Record { .. } = read_record(&bytes[at..]) {
            return Some(at);
        }
        at += memchr::memchr(b'\n', &bytes[at..])? + 1;
    }
    None
}

/// Reads the record at the start of `bytes`.
fn read_record(bytes: &[u8]) -> Read {
    let Some(nl) = memchr::memchr(b'\n', bytes) else {
        return Read::Short;
    };
    let damaged = |error: String| Read::Damaged {
        skip: nl + 1,
        error,
    };
    let header = match serde_json::from_slice::<Header>(&bytes[..nl]) {
        Ok(h) => h,
        Err(e) => return damaged(format!("record header: {e}")),
    };
    let seq = match header.seq.parse::<u64>() {
        Ok(seq) => seq,
        Err(e) => return damaged(format!("record seq {:?}: {e}", header.seq)),
    };
    let start = nl + 1;
    let Some(end) = start.checked_add(header.bytes) else {
        return damaged(format!("record length {}", header.bytes));
    };
    match bytes.get(end) {
        None => Read::Short,
        Some(b'\n') => match std::str::from_utf8(&bytes[start..end]) {
            Ok(body) => Read::Record {
                seq,
                message: OutMessage {
                    group_id: header.group_id.into_owned(),
                    dedup_id: header.dedup_id.into_owned(),
                    body: body.to_owned(),
                },
                len: end + 1,
            },
            Err(e) => damaged(format!("record body: {e}")),
        },
        Some(_) => damaged(format!("record of {} bytes runs on", header.bytes)),
    }
}

fn io_err(what: &str, e: std::io::Error) -> BackendError {
    BackendError::Transient(format!("queue {what}: {e}"))
}

fn lock_err<T>(_: T) -> BackendError {
    BackendError::Transient("queue lock poisoned".into())
}

fn seq_id(seq: u64) -> String {
    format!("{seq:020}")
}

impl FsQueue {
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<FsQueue> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("dead"))?;
        let mut log = Log {
            next_seq: 0,
            segments: BTreeMap::new(),
            pending: BTreeMap::new(),
            receives: HashMap::new(),
            dir_dirty: true,
        };
        let mut last = 0;
        let mut names: Vec<u64> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                name.to_str()?.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        names.sort_unstable();
        for first in names {
            last = last.max(Self::read_segment(&dir, first, &mut log)?);
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        // Sequence numbers keep growing across restarts: after the clock and after
        // every message already waiting.
        log.next_seq = (now.as_micros() as u64).max(last + 1);
        let queue = FsQueue {
            dir,
            log: Mutex::new(log),
            notify: Notify::new(),
            seen: Mutex::new(HashMap::new()),
        };
        queue.import_pending_files()?;
        Ok(queue)
    }

    /// Reads one segment back into `log`; returns the highest sequence number in it.
    /// A segment with nothing left to handle is deleted.
    fn read_segment(dir: &Path, first: u64, log: &mut Log) -> std::io::Result<u64> {
        let path = segment_path(dir, first, "log");
        let acks_path = segment_path(dir, first, "acks");
        let receives_path = segment_path(dir, first, "receives");
        let bytes = std::fs::read(&path)?;
        let numbers = |path: &Path| -> std::io::Result<Vec<u64>> {
            match std::fs::read_to_string(path) {
                Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        };
        let acked: std::collections::HashSet<u64> = numbers(&acks_path)?.into_iter().collect();
        let mut received: HashMap<u64, u32> = HashMap::new();
        for seq in numbers(&receives_path)? {
            let n = received.entry(seq).or_insert(0);
            *n = n.saturating_add(1);
        }
        let mut last = first;
        let mut offset = 0usize;
        while offset < bytes.len() {
            let at = offset as u64;
            match read_record(&bytes[offset..]) {
                Read::Record { seq, len, .. } => {
                    offset += len;
                    last = last.max(seq);
                    if !acked.contains(&seq) {
                        log.pending.insert(seq, Place { offset: at, len });
                        if let Some(&n) = received.get(&seq) {
                            log.receives.insert(seq, n);
                        }
                    }
                }
                bad => {
                    // A record that does not read, or runs past the end of the segment:
                    // damaged where it lies, or (with no whole record after it) the tail
                    // of a write cut short by a crash. Either way it is kept for a
                    // person to look at, off the queue, and reading goes on at the next
                    // whole record.
                    let (skip, error) = match bad {
                        Read::Damaged { skip, error } => (skip, error),
                        _ => (
                            memchr::memchr(b'\n', &bytes[offset..]).map_or(0, |n| n + 1),
                            "the record is cut short".into(),
                        ),
                    };
                    let end = next_record(&bytes, offset + skip).unwrap_or(bytes.len());
                    let id = format!("{}-{at}", seq_id(first));
                    bury(
                        dir,
                        &id,
                        &bytes[offset..end],
                        &format!("queue record {id} is unreadable: {error}"),
                    )?;
                    warn!(%id, %error, "queue: an unreadable record moved to dead/");
                    offset = end;
                }
            }
        }
        // Segments are read in order, so every message from `first` on is this one's.
        if log.pending.range(first..).next().is_none() {
            std::fs::remove_file(&path)?;
            let _ = std::fs::remove_file(&acks_path);
            let _ = std::fs::remove_file(&receives_path);
            return Ok(last);
        }
        let segment = Segment::open(dir, first, bytes.len() as u64, true)?;
        log.segments.insert(first, segment);
        Ok(last)
    }

    /// Messages left as one file each in `pending/` (how an earlier openmic kept its
    /// queue) join the log in their order, and the files go.
    fn import_pending_files(&self) -> std::io::Result<()> {
        let old = self.dir.join("pending");
        let Ok(entries) = std::fs::read_dir(&old) else {
            return Ok(());
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        for path in &names {
            let bytes = std::fs::read(path)?;
            match serde_json::from_slice::<OutMessage>(&bytes) {
                Ok(m) => self
                    .append(&m)
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
                Err(e) => {
                    let id = path.file_stem().unwrap_or_default().to_string_lossy();
                    bury(
                        &self.dir,
                        &id,
                        &bytes,
                        &format!("queue file {id}.json is unreadable: {e}"),
                    )?;
                }
            }
            std::fs::remove_file(path)?;
        }
        let _ = std::fs::remove_dir(&old);
        Ok(())
    }

    /// Resolves when a message may have arrived.
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Messages accepted and not yet handled (or dead-lettered).
    pub fn pending(&self) -> usize {
        self.log.lock().map(|l| l.pending.len()).unwrap_or(0)
    }

    /// Where messages given up on are kept (`dead/`).
    pub fn dead_dir(&self) -> PathBuf {
        self.dir.join("dead")
    }

    /// Messages given up on.
    pub fn dead(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("dead"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Appends one message to the log; the write lands in the page cache at once.
    fn append(&self, message: &OutMessage) -> Result<(), BackendError> {
        let header = Header {
            seq: String::new(),
            group_id: Cow::Borrowed(&message.group_id),
            dedup_id: Cow::Borrowed(&message.dedup_id),
            bytes: message.body.len(),
        };
        let mut line = Vec::with_capacity(RECORD_HEAD.len() + message.body.len() + 256);
        line.extend_from_slice(RECORD_HEAD);
        // `{"group_id":…}` goes on from the sequence number as `,"group_id":…}`.
        serde_json::to_writer(&mut line, &header)
            .map_err(|e| BackendError::Permanent(e.to_string()))?;
        line[RECORD_HEAD.len()] = b',';
        line.push(b'\n');
        line.extend_from_slice(message.body.as_bytes());
        line.push(b'\n');
        let mut log = self.log.lock().map_err(lock_err)?;
        let seq = log.next_seq;
        line[SEQ_AT..SEQ_AT + 20].copy_from_slice(seq_id(seq).as_bytes());
        let start_new = log
            .segments
            .last_key_value()
            .is_none_or(|(_, s)| s.sealed || s.len >= SEGMENT_BYTES);
        if start_new {
            let segment =
                Segment::open(&self.dir, seq, 0, false).map_err(|e| io_err("new segment", e))?;
            log.segments.insert(seq, segment);
            log.dir_dirty = true;
        }
        let Some((_, segment)) = log.segments.iter_mut().next_back() else {
            return Err(BackendError::Transient("queue: no segment".into()));
        };
        let offset = segment.len;
        if let Err(e) = (&*segment.file).write_all(&line) {
            // Whatever part of the line landed is cut off again, so the next line
            // starts clean; if even that fails, the next message starts a new segment.
            if segment.file.set_len(offset).is_err() {
                segment.sealed = true;
            }
            return Err(io_err("write", e));
        }
        segment.len += line.len() as u64;
        segment.dirty = true;
        log.next_seq = seq + 1;
        log.pending.insert(
            seq,
            Place {
                offset,
                len: line.len(),
            },
        );
        Ok(())
    }

    /// The oldest pending message.
    pub async fn next(&self) -> Result<Option<Delivery>, BackendError> {
        let Some((seq, place, file)) = self.pending_from(0, 1)?.pop() else {
            return Ok(None);
        };
        self.deliver(seq, place, file).await.map(Some)
    }

    /// Up to `max` of the oldest pending messages, in order, each counted as received
    /// (a record that no longer reads goes to `dead/` and is left out).
    pub async fn receive(&self, max: usize) -> Result<Vec<Delivery>, BackendError> {
        let mut out = Vec::new();
        for (seq, place, file) in self.pending_from(0, max)? {
            match self.deliver(seq, place, file).await {
                Ok(d) => out.push(d),
                Err(BackendError::Permanent(reason)) => {
                    warn!(%reason, "queue: an unreadable record moved to dead/")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Where the first `max` pending messages from `seq` on are.
    fn pending_from(
        &self,
        seq: u64,
        max: usize,
    ) -> Result<Vec<(u64, Place, Arc<File>)>, BackendError> {
        let log = self.log.lock().map_err(lock_err)?;
        log.pending
            .range(seq..)
            .take(max)
            .map(|(&seq, &place)| {
                let file = log
                    .segment_of(seq)
                    .map(|(_, s)| s.file.clone())
                    .ok_or_else(|| BackendError::Transient(format!("queue: segment of {seq}")))?;
                Ok((seq, place, file))
            })
            .collect()
    }

    /// Reads pending message `seq` and counts the receive.
    async fn deliver(
        &self,
        seq: u64,
        place: Place,
        file: Arc<File>,
    ) -> Result<Delivery, BackendError> {
        let message = self.read_at(seq, place, &file).await?;
        let receive_count = self.count_receive(seq)?;
        Ok(Delivery {
            message,
            receive_count,
            seq,
        })
    }

    /// Reads pending message `seq`; one that no longer reads goes to `dead/` (a
    /// permanent error).
    async fn read_at(
        &self,
        seq: u64,
        place: Place,
        file: &File,
    ) -> Result<OutMessage, BackendError> {
        let mut line = vec![0u8; place.len];
        file.read_exact_at(&mut line, place.offset)
            .map_err(|e| io_err("read", e))?;
        let id = seq_id(seq);
        match read_record(&line) {
            Read::Record { message, len, .. } if len == line.len() => Ok(message),
            other => {
                // Read back wrong (the disk, or someone editing the file): kept for a
                // person to look at, off the queue.
                let e = match other {
                    Read::Damaged { error, .. } => error,
                    _ => "not the record that was written".into(),
                };
                let reason = format!("queue record {id} is unreadable: {e}");
                self.bury_bytes(id, line, reason.clone()).await?;
                self.done(seq)?;
                Err(BackendError::Permanent(reason))
            }
        }
    }

    /// Counts a receive of message `seq` on disk before it is handed out: if the
    /// process stops while handling it, the next start knows it was received.
    fn count_receive(&self, seq: u64) -> Result<u32, BackendError> {
        let mut log = self.log.lock().map_err(lock_err)?;
        let first = log
            .segment_of(seq)
            .map(|(first, _)| first)
            .ok_or_else(|| BackendError::Transient(format!("queue: segment of {seq}")))?;
        if let Some(segment) = log.segments.get_mut(&first) {
            (&*segment.receives)
                .write_all(format!("{seq}\n").as_bytes())
                .map_err(|e| io_err("count a receive", e))?;
            segment.dirty = true;
        }
        let count = log.receives.entry(seq).or_insert(0);
        *count = count.saturating_add(1);
        Ok(*count)
    }

    /// One receive (up to `max` of the oldest messages) handled by the one consumer
    /// ([`openmic_core::consumer`]), as Lambda handles an SQS batch: FIFO groups held
    /// back behind a failure while the other groups go on, a panic contained to its
    /// message, what is given up on moved to `dead/` with its reason and the
    /// maintainers mailed once; what is done leaves the queue, what failed stays at
    /// its head for the next receive. A message held back is not counted as received
    /// (only what is handed to `handle` is), so a crash while handling one message
    /// counts against that message alone. Returns how many messages were looked at
    /// and how many of them failed.
    pub async fn consume<F, Fut, T>(
        &self,
        max: usize,
        dead: &DeadLetters,
        mut handle: F,
    ) -> Result<(usize, usize), BackendError>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, openmic_core::errors::ProcessError>>,
        T: std::fmt::Debug,
    {
        let pending = self.pending_from(0, max)?;
        let mut receive = Receive::new(dead);
        let mut failed = 0;
        for (seq, place, file) in &pending {
            let message = match self.read_at(*seq, *place, file).await {
                Ok(m) => m,
                Err(BackendError::Permanent(reason)) => {
                    warn!(%reason, "queue: an unreadable record moved to dead/");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut m = Message {
                id: seq_id(*seq),
                group: message.group_id.clone(),
                dedup_id: message.dedup_id.clone(),
                body: None,
                receive_count: 0,
            };
            if receive.holds_back(&m) {
                failed += 1;
                continue;
            }
            m.receive_count = self.count_receive(*seq)?;
            m.body = Some(message.body);
            if !receive.handle(m, &mut handle).await {
                failed += 1;
            } else if let Err(e) = self.done(*seq) {
                warn!(message_id = %seq_id(*seq), error = %e, "could not remove a handled message; it will be handled again");
            }
        }
        Ok((pending.len(), failed))
    }

    /// Takes a message off the log: its number goes to the segment's acks, and a
    /// segment with nothing left (other than the one taking appends) is deleted.
    fn done(&self, seq: u64) -> Result<(), BackendError> {
        let mut log = self.log.lock().map_err(lock_err)?;
        log.receives.remove(&seq);
        if log.pending.remove(&seq).is_none() {
            return Ok(());
        }
        let Some((first, segment)) = log.segment_of(seq) else {
            return Ok(());
        };
        let newest = log.segments.last_key_value().map(|(k, _)| *k);
        if (segment.sealed || newest != Some(first)) && !log.holds_pending(first) {
            log.segments.remove(&first);
            log.dir_dirty = true;
            std::fs::remove_file(segment_path(&self.dir, first, "log"))
                .map_err(|e| io_err("remove", e))?;
            let _ = std::fs::remove_file(segment_path(&self.dir, first, "acks"));
            let _ = std::fs::remove_file(segment_path(&self.dir, first, "receives"));
            return Ok(());
        }
        let Some(segment) = log.segments.get_mut(&first) else {
            return Ok(());
        };
        segment.dirty = true;
        (&*segment.acks)
            .write_all(format!("{seq}\n").as_bytes())
            .map_err(|e| io_err("ack", e))
    }

    /// [`bury`], off the runtime's threads.
    async fn bury_bytes(
        &self,
        id: String,
        body: Vec<u8>,
        reason: String,
    ) -> Result<(), BackendError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || bury(&dir, &id, &body, &reason))
            .await
            .map_err(|e| BackendError::Transient(e.to_string()))?
            .map_err(|e| io_err("dead-letter", e))
    }

    /// Done with a message: it leaves the queue.
    pub async fn ack(&self, d: &Delivery) -> Result<(), BackendError> {
        self.done(d.seq)
    }

    /// Gives up on a message: it moves to `dead/`, with the reason beside it.
    pub async fn dead_letter(&self, d: &Delivery, reason: &str) -> Result<(), BackendError> {
        let body =
            serde_json::to_vec(&d.message).map_err(|e| BackendError::Permanent(e.to_string()))?;
        self.bury_bytes(d.id(), body, reason.to_owned()).await?;
        self.done(d.seq)
    }

    /// Syncs what was written since the last call to disk (and the directory, if a
    /// segment came or went).
    pub async fn sync(&self) -> std::io::Result<()> {
        let (files, dir) = {
            let mut log = self.log.lock().map_err(|_| std::io::Error::other("lock"))?;
            let mut files = Vec::new();
            for s in log.segments.values_mut().filter(|s| s.dirty) {
                s.dirty = false;
                files.push(s.file.clone());
                files.push(s.acks.clone());
                files.push(s.receives.clone());
            }
            let dir = std::mem::take(&mut log.dir_dirty).then(|| self.dir.clone());
            (files, dir)
        };
        if files.is_empty() && dir.is_none() {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for f in &files {
                f.sync_data()?;
            }
            if let Some(dir) = dir {
                File::open(&dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// Writes a message given up on to the queue's `dead/` as `<id>.json`, with the reason
/// beside it in `<id>.json.reason`.
fn bury(dir: &Path, id: &str, body: &[u8], reason: &str) -> std::io::Result<()> {
    let dead = dir.join("dead");
    write_file(&dead.join(format!("{id}.json")), body)?;
    write_file(&dead.join(format!("{id}.json.reason")), reason.as_bytes())
}

/// The queue's own `dead/` as the consumer's dead letters: the message as it was
/// queued (`<id>.json`: group, deduplication id, body) and its reason beside it.
#[async_trait]
impl DeadLetterQueue for FsQueue {
    async fn bury(&self, letter: &Letter<'_>) -> Result<(), BackendError> {
        let message = OutMessage {
            group_id: letter.group_id.to_owned(),
            dedup_id: letter.dedup_id.to_owned(),
            body: letter.body.to_owned(),
        };
        let body =
            serde_json::to_vec(&message).map_err(|e| BackendError::Permanent(e.to_string()))?;
        self.bury_bytes(letter.message_id.to_owned(), body, letter.reason.to_owned())
            .await
    }

    fn location(&self) -> String {
        self.dead_dir().display().to_string()
    }
}

#[async_trait]
impl Queue for FsQueue {
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), BackendError> {
        for m in messages {
            self.send_one(m)?;
        }
        Ok(())
    }
}

impl FsQueue {
    /// Appends one message, unless its deduplication id was sent within the window.
    fn send_one(&self, message: OutMessage) -> Result<(), BackendError> {
        // Deduplication ids of the window, in memory: whoever inserts an id first sends.
        {
            let mut seen = self.seen.lock().map_err(lock_err)?;
            let now = Instant::now();
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
        if let Err(e) = self.append(&message) {
            if let Ok(mut seen) = self.seen.lock() {
                seen.remove(&message.dedup_id);
            }
            return Err(e);
        }
        self.notify.notify_one();
        Ok(())
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

    fn segments(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".log"))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn fifo_dedup_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        q.send(msg("issue:1", "a", "first\nline")).await.unwrap();
        q.send(msg("issue:1", "b", "second")).await.unwrap();
        q.send(msg("issue:1", "a", "first again")).await.unwrap();
        assert_eq!(q.pending(), 2);
        drop(q);
        let q = FsQueue::open(dir.path()).unwrap();
        let d = q.next().await.unwrap().unwrap();
        assert_eq!(d.message.body, "first\nline");
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
        assert_eq!(q.dead(), vec![format!("{}.json", d2.id())]);
        let buried: OutMessage = serde_json::from_slice(
            &std::fs::read(dir.path().join("dead").join(q.dead()[0].clone())).unwrap(),
        )
        .unwrap();
        assert_eq!(buried.body, "second");
        q.sync().await.unwrap();
        drop(q);
        let q = FsQueue::open(dir.path()).unwrap();
        assert_eq!(q.pending(), 0, "handled messages stay handled");
        assert!(
            segments(dir.path()).is_empty(),
            "a finished segment is deleted at open"
        );
        // Later numbers than anything before.
        q.send(msg("issue:1", "c", "third")).await.unwrap();
        assert!(q.next().await.unwrap().unwrap().id() > d2.id());
    }

    /// A process that stops while handling a message (dropped here mid-handle, as a
    /// crash leaves it) counts that receive: the next start sees it, so a message that
    /// stops the process each time reaches its last receive. Other messages keep their
    /// own counts, and an acknowledged message's count goes with it.
    #[tokio::test]
    async fn receives_are_counted_on_disk_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        q.send(msg("issue:1", "poison", "Window: 2026-12-1é"))
            .await
            .unwrap();
        q.send(msg("issue:2", "other", "fine")).await.unwrap();
        drop(q);
        for n in 1..=6u32 {
            let q = FsQueue::open(dir.path()).unwrap();
            let d = q.next().await.unwrap().unwrap();
            assert_eq!(d.message.dedup_id, "poison");
            assert_eq!(d.receive_count, n, "receive {n} counted before the crash");
            drop(q); // the process stops mid-handle: no ack, no sync
        }
        let q = FsQueue::open(dir.path()).unwrap();
        let d = q.next().await.unwrap().unwrap();
        assert_eq!(d.receive_count, 7);
        q.dead_letter(&d, "received 6 times without an outcome")
            .await
            .unwrap();
        let other = q.next().await.unwrap().unwrap();
        assert_eq!(
            (other.message.dedup_id.as_str(), other.receive_count),
            ("other", 1)
        );
        q.ack(&other).await.unwrap();
        assert_eq!(q.pending(), 0);
        let reason = std::fs::read_to_string(
            dir.path()
                .join("dead")
                .join(format!("{}.reason", q.dead()[0])),
        )
        .unwrap();
        assert_eq!(reason, "received 6 times without an outcome");
        q.sync().await.unwrap();
        drop(q);
        FsQueue::open(dir.path()).unwrap();
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "dead")
            .collect();
        assert!(
            left.is_empty(),
            "a finished segment goes with its counts: {left:?}"
        );
    }

    #[tokio::test]
    async fn a_cut_tail_and_a_damaged_record_lose_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        for n in 0..3 {
            let body = format!("{{\"n\": {n},\n \"text\": \"line\\nbreak\"}}");
            q.send(msg("g", &n.to_string(), &body)).await.unwrap();
        }
        drop(q);
        let seg = dir.path().join(&segments(dir.path())[0]);
        let text = std::fs::read_to_string(&seg).unwrap();
        // Each record: a header line, then a body of two lines.
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9, "{text}");
        let damaged = "{\"seq\":\"1\",\"group_id\":";
        lines[3] = damaged;
        std::fs::write(&seg, format!("{}\n{{\"seq\":\"9", lines.join("\n"))).unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        assert_eq!(q.pending(), 2, "the two whole records");
        let first = q.next().await.unwrap().unwrap();
        assert!(
            first.message.body.starts_with("{\"n\": 0,\n"),
            "{}",
            first.message.body
        );
        assert_eq!(first.message.group_id, "g");
        assert_eq!(first.message.dedup_id, "0");
        q.ack(&first).await.unwrap();
        let third = q.next().await.unwrap().unwrap();
        assert!(
            third.message.body.starts_with("{\"n\": 2,\n"),
            "{}",
            third.message.body
        );
        let dead = q.dead();
        assert_eq!(
            dead.len(),
            2,
            "the damaged record with its body, and the cut tail"
        );
        let read =
            |name: &str| std::fs::read_to_string(dir.path().join("dead").join(name)).unwrap();
        assert_eq!(
            read(&dead[0]),
            format!("{damaged}\n{}\n{}\n", lines[4], lines[5])
        );
        assert_eq!(read(&dead[1]), "{\"seq\":\"9");
        assert!(read(&format!("{}.reason", dead[0])).contains("record header"));
        assert!(read(&format!("{}.reason", dead[1])).contains("cut short"));
        // Appends after the cut tail go to a new segment, readable on the next open.
        q.send(msg("g", "new", "after")).await.unwrap();
        drop(q);
        let q = FsQueue::open(dir.path()).unwrap();
        assert_eq!(q.pending(), 2);
        assert_eq!(segments(dir.path()).len(), 2);
    }

    #[tokio::test]
    async fn a_length_past_the_end_is_damage_when_records_follow() {
        let dir = tempfile::tempdir().unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        for n in 0..3 {
            q.send(msg("g", &n.to_string(), &format!("m{n}")))
                .await
                .unwrap();
        }
        drop(q);
        let seg = dir.path().join(&segments(dir.path())[0]);
        let text = std::fs::read_to_string(&seg).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines[2] = lines[2].replace("\"bytes\":2}", "\"bytes\":999999}");
        std::fs::write(&seg, lines.join("\n") + "\n").unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        assert_eq!(q.pending(), 2);
        let d = q.next().await.unwrap().unwrap();
        q.ack(&d).await.unwrap();
        assert_eq!(q.next().await.unwrap().unwrap().message.body, "m2");
        assert_eq!(q.dead().len(), 1);
    }

    #[tokio::test]
    async fn segments_roll_over_and_go_when_handled() {
        let dir = tempfile::tempdir().unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        let body = "x".repeat(64 * 1024);
        let count = (SEGMENT_BYTES / body.len() as u64) as usize + 8;
        for n in 0..count {
            q.send(msg("g", &n.to_string(), &body)).await.unwrap();
        }
        assert_eq!(segments(dir.path()).len(), 2);
        let mut seen = 0;
        while let Some(d) = q.next().await.unwrap() {
            assert_eq!(d.receive_count, 1);
            q.ack(&d).await.unwrap();
            seen += 1;
        }
        assert_eq!(seen, count);
        assert_eq!(
            segments(dir.path()).len(),
            1,
            "the full segment was deleted"
        );
        q.sync().await.unwrap();
    }

    fn dead_letters(queue: &Arc<FsQueue>) -> DeadLetters {
        DeadLetters {
            queue: "publish",
            max_receive_count: 5,
            dlq: Some(queue.clone()),
            mailer: None,
            config: Arc::new(openmic_core::config::Config::default()),
        }
    }

    /// The ordering case on the files queue: in one receive, message 2 of a group is
    /// never handled after message 1 of that group failed; both stay, in order, for
    /// the next receive, while the other groups go on.
    #[tokio::test]
    async fn a_receive_holds_back_a_failed_group_and_lets_the_others_go_on() {
        use openmic_core::errors::ProcessError;
        let dir = tempfile::tempdir().unwrap();
        let q = Arc::new(FsQueue::open(dir.path()).unwrap());
        for (group, body) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2")] {
            q.send(msg(group, body, body)).await.unwrap();
        }
        let dead = dead_letters(&q);
        let mut seen = Vec::new();
        let (came, failed) = q
            .consume(10, &dead, |body| {
                seen.push(body.clone());
                async move {
                    match body.as_str() {
                        "a1" => Err(ProcessError::Retryable("GitLab answered 503".into())),
                        _ => Ok(()),
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!((came, failed), (4, 2));
        assert_eq!(
            seen,
            ["a1", "b1", "b2"],
            "a2 is not handled after a1 failed"
        );
        let next = q.receive(10).await.unwrap();
        let left: Vec<(&str, u32)> = next
            .iter()
            .map(|d| (d.message.body.as_str(), d.receive_count))
            .collect();
        // A message held back was not received: only a1 counts its failed receive.
        assert_eq!(left, [("a1", 2), ("a2", 1)], "both stay, in order");
        // Given up on: to dead/ with its reason, and the group goes on.
        let (came, failed) = q
            .consume(10, &dead, |body| async move {
                match body.as_str() {
                    "a1" => Err(ProcessError::Permanent("unreadable".into())),
                    _ => Ok(()),
                }
            })
            .await
            .unwrap();
        assert_eq!((came, failed), (2, 0));
        assert_eq!(q.pending(), 0);
        let dead = q.dead();
        assert_eq!(dead.len(), 1);
        let kept: OutMessage =
            serde_json::from_slice(&std::fs::read(q.dead_dir().join(&dead[0])).unwrap()).unwrap();
        assert_eq!(
            (
                kept.group_id.as_str(),
                kept.dedup_id.as_str(),
                kept.body.as_str()
            ),
            ("a", "a1", "a1")
        );
        let reason =
            std::fs::read_to_string(q.dead_dir().join(format!("{}.reason", dead[0]))).unwrap();
        assert!(reason.ends_with("unreadable"), "{reason}");
    }

    #[tokio::test]
    async fn messages_of_the_old_layout_join_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let pending = dir.path().join("pending");
        std::fs::create_dir_all(&pending).unwrap();
        for (name, body) in [
            ("00000000000000000002.json", "b"),
            ("00000000000000000001.json", "a"),
        ] {
            std::fs::write(
                pending.join(name),
                serde_json::to_vec(&msg("g", body, body)).unwrap(),
            )
            .unwrap();
        }
        std::fs::write(pending.join("00000000000000000003.json"), "not json").unwrap();
        let q = FsQueue::open(dir.path()).unwrap();
        assert_eq!(q.pending(), 2);
        assert_eq!(q.next().await.unwrap().unwrap().message.body, "a");
        assert_eq!(q.dead(), vec!["00000000000000000003.json".to_string()]);
        assert!(!pending.exists());
    }
}
