//! A bucket on the local file system: `DIR/status/` and `DIR/state/` hold the same keys
//! S3 would. Writes go to a temporary file and are renamed into place, so a reader or
//! a crash never sees half an object; conditional writes are checked under a lock.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use openmic_core::errors::BackendError;
use openmic_core::ports::{
    Condition, Object, ObjectStore, PutOptions, check_key, content_type_for,
};

pub struct FsStore {
    root: PathBuf,
    write_lock: Mutex<()>,
}

impl FsStore {
    /// A store rooted at `root`, created if missing. Temporary files a crash left
    /// behind (a write cut short before its rename) are removed.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<FsStore> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        remove_leftovers(&root)?;
        Ok(FsStore {
            root,
            write_lock: Mutex::new(()),
        })
    }

    /// The file of a key; keys with empty, `.` or `..` segments are refused.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, BackendError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn etag_of(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..16])
}

/// Removes the `.tmp-…` files under `root` older than a minute: only a write in
/// progress has one, and a write takes milliseconds (the age spares the writes of
/// another runner on the same directory, such as `resync` beside `serve`).
fn remove_leftovers(root: &Path) -> std::io::Result<()> {
    let old = |entry: &std::fs::DirEntry| {
        entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60))
    };
    walk_files(root, |entry| {
        if is_temporary(entry) && old(entry) {
            tracing::warn!(file = %entry.path().display(), "removing a write a crash cut short");
            std::fs::remove_file(entry.path())?;
        }
        Ok(())
    })
}

/// A write's temporary file (`.tmp-…`), not an object.
fn is_temporary(entry: &std::fs::DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with(".tmp-")
}

/// Calls `visit` for every file under `start` (none if it does not exist).
fn walk_files(
    start: &Path,
    mut visit: impl FnMut(&std::fs::DirEntry) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut stack = vec![start.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                visit(&entry)?;
            }
        }
    }
    Ok(())
}

fn io_err(what: &str, key: &str, e: std::io::Error) -> BackendError {
    // A local disk error is not going to fix itself by retrying at once, but a full
    // disk or a busy file may; treat it as passing so nothing accepted is dropped.
    BackendError::Transient(format!("{what} {key}: {e}"))
}

async fn read_file(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `body` to `path` through a temporary file and a rename, synced to disk.
pub(crate) async fn write_atomic(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let (path, body) = (path.to_path_buf(), body.to_vec());
    tokio::task::spawn_blocking(move || write_file(&path, &body))
        .await
        .map_err(std::io::Error::other)?
}

/// The blocking write: a temporary file beside `path`, synced to disk and renamed into
/// place, so a reader or a crash never sees half of it.
pub(crate) fn write_file(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    write_file_with(path, |f| f.write_all(body))
}

/// As [`write_file`], the content written by `fill`.
fn write_file_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(nonce)));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        let out = fill(&mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(out)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Copies `from` into `to` through [`write_file_with`], a chunk at a time; returns the
/// etag of what was copied.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut src = std::fs::File::open(from)?;
    write_file_with(to, |f| {
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            f.write_all(&buf[..n])?;
        }
        Ok(hex::encode(&hash.finalize()[..16]))
    })
}

impl FsStore {
    /// Whether a conditional write may go ahead; called with the write lock held.
    async fn check_condition(
        &self,
        path: &Path,
        key: &str,
        condition: &Condition,
    ) -> Result<(), BackendError> {
        let ok = match condition {
            Condition::Always => true,
            Condition::IfNoneMatch => !tokio::fs::try_exists(path)
                .await
                .map_err(|e| io_err("stat", key, e))?,
            Condition::IfMatch(etag) => {
                let current = read_file(path).await.map_err(|e| io_err("read", key, e))?;
                current.map(|b| etag_of(&b)).as_deref() == Some(etag.as_str())
            }
        };
        if ok {
            Ok(())
        } else {
            Err(BackendError::PreconditionFailed(key.to_owned()))
        }
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        let path = self.path_of(key)?;
        let body = read_file(&path).await.map_err(|e| io_err("read", key, e))?;
        Ok(body.map(|b| Object {
            etag: etag_of(&b),
            body: Bytes::from(b),
            content_type: Some(content_type_for(key).to_owned()),
        }))
    }

    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError> {
        let path = self.path_of(key)?;
        let _guard = self.write_lock.lock().await;
        self.check_condition(&path, key, &opts.condition).await?;
        write_atomic(&path, &body)
            .await
            .map_err(|e| io_err("write", key, e))?;
        Ok(etag_of(&body))
    }

    async fn put_file(
        &self,
        key: &str,
        from: &Path,
        opts: PutOptions,
    ) -> Result<String, BackendError> {
        let path = self.path_of(key)?;
        let _guard = self.write_lock.lock().await;
        self.check_condition(&path, key, &opts.condition).await?;
        let from = from.to_path_buf();
        tokio::task::spawn_blocking(move || copy_file(&from, &path))
            .await
            .map_err(|e| BackendError::Transient(e.to_string()))?
            .map_err(|e| io_err("write", key, e))
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        let path = self.path_of(key)?;
        let _guard = self.write_lock.lock().await;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("delete", key, e)),
        }
        // Remove directories left empty, up to the root, as S3 has no directories.
        let mut dir = path.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            if d == self.root || tokio::fs::remove_dir(&d).await.is_err() {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            // Walk only the directory the prefix points into.
            let start_rel = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let start = if start_rel.is_empty() {
                root.clone()
            } else {
                root.join(start_rel)
            };
            walk_files(&start, |entry| {
                if is_temporary(entry) {
                    return Ok(());
                }
                if let Ok(rel) = entry.path().strip_prefix(&root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(&prefix) {
                        out.push(key);
                    }
                }
                Ok(())
            })
            .map_err(|e| io_err("list", &prefix, e))?;
            out.sort();
            Ok(out)
        })
        .await
        .map_err(|e| BackendError::Transient(format!("list {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_crash_s_temporary_files_go_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        s.put("a/b.json", Bytes::from_static(b"1"), PutOptions::json())
            .await
            .unwrap();
        drop(s);
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for name in ["a/.tmp-0123456789abcdef", ".tmp-fedcba9876543210"] {
            let f = std::fs::File::create(dir.path().join(name)).unwrap();
            f.set_modified(an_hour_ago).unwrap();
        }
        // A write of this moment (another runner's) is left alone.
        std::fs::write(dir.path().join("a/.tmp-00000000000000ff"), b"now").unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        assert!(!dir.path().join("a/.tmp-0123456789abcdef").exists());
        assert!(!dir.path().join(".tmp-fedcba9876543210").exists());
        assert!(dir.path().join("a/.tmp-00000000000000ff").exists());
        assert_eq!(&s.get("a/b.json").await.unwrap().unwrap().body[..], b"1");
    }

    #[tokio::test]
    async fn conditional_writes_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStore::open(dir.path()).unwrap();
        let e1 = s
            .put(
                "a/b.json",
                Bytes::from_static(b"1"),
                PutOptions::json().with_condition(Condition::IfNoneMatch),
            )
            .await
            .unwrap();
        let again = s
            .put(
                "a/b.json",
                Bytes::from_static(b"2"),
                PutOptions::json().with_condition(Condition::IfNoneMatch),
            )
            .await;
        assert_eq!(
            again,
            Err(BackendError::PreconditionFailed("a/b.json".into()))
        );
        s.put(
            "a/b.json",
            Bytes::from_static(b"2"),
            PutOptions::json().with_condition(Condition::IfMatch(e1.clone())),
        )
        .await
        .unwrap();
        let stale = s
            .put(
                "a/b.json",
                Bytes::from_static(b"3"),
                PutOptions::json().with_condition(Condition::IfMatch(e1)),
            )
            .await;
        assert!(matches!(stale, Err(BackendError::PreconditionFailed(_))));
        s.put("a/c/d.txt", Bytes::from_static(b"x"), PutOptions::json())
            .await
            .unwrap();
        s.put("ab.json", Bytes::from_static(b"x"), PutOptions::json())
            .await
            .unwrap();
        assert_eq!(s.list("a/").await.unwrap(), vec!["a/b.json", "a/c/d.txt"]);
        assert_eq!(s.delete_prefix("a/").await.unwrap(), 2);
        assert_eq!(s.list("").await.unwrap(), vec!["ab.json"]);
        assert!(
            !dir.path().join("a").exists(),
            "empty directories are removed"
        );
        assert_eq!(s.get("a/b.json").await.unwrap(), None);
        assert!(s.get("../etc/passwd").await.is_err());
        // From a file: the same etag as a read gives, and the same conditions.
        let src = dir.path().join("upload.bin");
        std::fs::write(&src, vec![7u8; 200_000]).unwrap();
        let once = PutOptions::json().with_condition(Condition::IfNoneMatch);
        let etag = s.put_file("f/u.bin", &src, once.clone()).await.unwrap();
        assert_eq!(s.get("f/u.bin").await.unwrap().unwrap().etag, etag);
        assert!(matches!(
            s.put_file("f/u.bin", &src, once).await,
            Err(BackendError::PreconditionFailed(_))
        ));
    }
}
