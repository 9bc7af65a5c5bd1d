//! `openmic-local backup` and `restore`: a data directory's state in one tar file.
//!
//! A backup holds `state/`, `status/` and `queue/` (events taken and not yet
//! processed: nothing accepted is lost) and the kept `subscription-secret`, not the
//! `outbox/` of mail already sent, nor a write's temporary file (`.tmp-…`). Restore
//! unpacks into a directory that is empty or missing (or, with `force`, replaces those
//! parts of one), and takes nothing a backup does not hold: an entry outside those
//! parts, a link or a device is refused by name before anything is put in place.

use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};

/// The folders of a data directory a backup holds.
pub const FOLDERS: [&str; 3] = ["state", "status", "queue"];
/// The single files of a data directory a backup holds.
pub const FILES: [&str; 1] = ["subscription-secret"];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not an openmic data directory (it has neither state/ nor status/)", .0.display())]
    NotADataDirectory(PathBuf),
    #[error(
        "{}: the directory is not empty; restore into an empty or new directory, or give --force to replace its state/, status/ and queue/ with the backup's",
        .0.display()
    )]
    NotEmpty(PathBuf),
    #[error("{}: {entry:?} is not part of an openmic backup ({why})", file.display())]
    Foreign {
        file: PathBuf,
        entry: String,
        why: &'static str,
    },
    #[error("{}: holds neither state/ nor status/, so it is not an openmic backup", .0.display())]
    NotABackup(PathBuf),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How many files went into or came out of a backup, per part.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub state: usize,
    pub status: usize,
    pub queue: usize,
    pub secret: bool,
}

impl Counts {
    fn add(&mut self, part: &str) {
        match part {
            "state" => self.state += 1,
            "status" => self.status += 1,
            "queue" => self.queue += 1,
            _ => self.secret = true,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "state: {} files, status: {} files, queue: {} files, subscription-secret: {}",
            self.state,
            self.status,
            self.queue,
            if self.secret { "yes" } else { "no" }
        )
    }
}

/// A write's temporary file (openmic-files), never part of a backup.
fn is_temporary(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with(".tmp-")
}

/// Writes the backup of `data_dir` to `to` (through a temporary file beside it, so a
/// failed backup leaves no partial file under that name).
pub fn backup(data_dir: &Path, to: &Path) -> Result<Counts, BackupError> {
    if !FOLDERS[..2].iter().any(|f| data_dir.join(f).is_dir()) {
        return Err(BackupError::NotADataDirectory(data_dir.to_path_buf()));
    }
    let partial = partial_name(to);
    let result = write_backup(data_dir, &partial);
    match result {
        Ok(counts) => {
            fs::rename(&partial, to).map_err(io_at(to))?;
            Ok(counts)
        }
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn partial_name(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

fn write_backup(data_dir: &Path, file: &Path) -> Result<Counts, BackupError> {
    let out = File::create(file).map_err(io_at(file))?;
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut counts = Counts::default();
    for folder in FOLDERS {
        let dir = data_dir.join(folder);
        if dir.is_dir() {
            append_tree(&mut tar, &dir, Path::new(folder), folder, &mut counts)?;
        }
    }
    for name in FILES {
        let path = data_dir.join(name);
        if path.is_file() {
            tar.append_path_with_name(&path, name)
                .map_err(io_at(&path))?;
            counts.add(name);
        }
    }
    let out = tar.into_inner().map_err(io_at(file))?;
    out.sync_all().map_err(io_at(file))?;
    Ok(counts)
}

/// `dir` and everything under it, as `name/...`; links and other special files are
/// left out (openmic writes none).
fn append_tree(
    tar: &mut tar::Builder<File>,
    dir: &Path,
    name: &Path,
    part: &str,
    counts: &mut Counts,
) -> Result<(), BackupError> {
    tar.append_dir(name, dir).map_err(io_at(dir))?;
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io_at(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_at(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io_at(&path))?;
        if is_temporary(&entry.file_name()) {
            continue;
        }
        let inner = name.join(entry.file_name());
        if kind.is_dir() {
            append_tree(tar, &path, &inner, part, counts)?;
        } else if kind.is_file() {
            tar.append_path_with_name(&path, &inner)
                .map_err(io_at(&path))?;
            counts.add(part);
        }
    }
    Ok(())
}

/// Restores the backup `from` into `data_dir`: an empty or missing directory, or with
/// `force` one whose `state/`, `status/` and `queue/` (and `subscription-secret`, when
/// the backup has one) are replaced. The backup is unpacked beside them first, so a
/// file that is not a whole backup changes nothing.
pub fn restore(data_dir: &Path, from: &Path, force: bool) -> Result<Counts, BackupError> {
    if !force && !is_empty_or_missing(data_dir)? {
        return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
    }
    fs::create_dir_all(data_dir).map_err(io_at(data_dir))?;
    let staging = data_dir.join(format!(".restore-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_at(&staging))?;
    }
    let unpacked = unpack(from, &staging);
    let counts = match unpacked {
        Ok(counts) => counts,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let moved = put_in_place(&staging, data_dir);
    let _ = fs::remove_dir_all(&staging);
    moved?;
    Ok(counts)
}

fn is_empty_or_missing(dir: &Path) -> Result<bool, BackupError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_at(dir)(e)),
    }
}

fn unpack(from: &Path, staging: &Path) -> Result<Counts, BackupError> {
    let file = File::open(from).map_err(io_at(from))?;
    let mut archive = tar::Archive::new(file);
    archive.set_overwrite(false);
    fs::create_dir_all(staging).map_err(io_at(staging))?;
    let mut counts = Counts::default();
    let mut parts = 0;
    for entry in archive.entries().map_err(io_at(from))? {
        let mut entry = entry.map_err(io_at(from))?;
        let path = entry.path().map_err(io_at(from))?.into_owned();
        let foreign = |why| BackupError::Foreign {
            file: from.to_path_buf(),
            entry: path.display().to_string(),
            why,
        };
        let part = part_of(&path).map_err(foreign)?;
        let kind = entry.header().entry_type();
        let is_single_file = FILES.contains(&part);
        match kind {
            tar::EntryType::Directory if !is_single_file => {}
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if !is_single_file && path.components().count() < 2 {
                    return Err(foreign("a file where a folder belongs"));
                }
                counts.add(part);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(foreign("a link"));
            }
            _ => return Err(foreign("neither a file nor a folder")),
        }
        if ["state", "status"].contains(&part) {
            parts += 1;
        }
        let target = staging.join(&path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        entry.unpack(&target).map_err(io_at(&target))?;
    }
    if parts == 0 {
        return Err(BackupError::NotABackup(from.to_path_buf()));
    }
    Ok(counts)
}

/// The part of a backup an entry belongs to: its first component, one of
/// [`FOLDERS`] or [`FILES`]; every component a plain name.
fn part_of(path: &Path) -> Result<&'static str, &'static str> {
    let mut components = path.components();
    let first = match components.next() {
        Some(Component::Normal(first)) => first,
        Some(Component::RootDir | Component::Prefix(_)) => return Err("an absolute path"),
        Some(Component::ParentDir) => return Err("a path out of the directory"),
        Some(Component::CurDir) | None => return Err("an empty path"),
    };
    for c in components {
        match c {
            Component::Normal(name) if !is_temporary(name) => {}
            Component::Normal(_) => return Err("a temporary file"),
            Component::ParentDir => return Err("a path out of the directory"),
            _ => return Err("not a plain relative path"),
        }
    }
    let first = first.to_str().unwrap_or_default();
    FOLDERS
        .iter()
        .chain(FILES.iter())
        .find(|p| **p == first)
        .copied()
        .ok_or("only state/, status/, queue/ and subscription-secret are")
}

fn put_in_place(staging: &Path, data_dir: &Path) -> Result<(), BackupError> {
    for name in FOLDERS.iter().chain(FILES.iter()) {
        let from = staging.join(name);
        let to = data_dir.join(name);
        let in_backup = from.exists();
        let is_folder = FOLDERS.contains(name);
        // A folder is replaced whole; the single file only by the backup's own.
        if is_folder && to.exists() {
            fs::remove_dir_all(&to).map_err(io_at(&to))?;
        }
        if in_backup {
            if !is_folder && to.exists() {
                fs::remove_file(&to).map_err(io_at(&to))?;
            }
            fs::rename(&from, &to).map_err(io_at(&to))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let key = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                    out.insert(key, fs::read(&p).unwrap());
                }
            }
        }
        if root.exists() {
            walk(root, root, &mut out);
        }
        out
    }

    fn write(path: &Path, body: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }

    /// A data directory with a bit of everything.
    fn data_dir(dir: &Path) {
        write(&dir.join("state/incidents/42/1.json"), b"{\"iid\": 1}");
        write(&dir.join("state/subscribers/ab.json"), b"{}");
        write(&dir.join("status/index.html"), "<p>ünïcode</p>".as_bytes());
        write(&dir.join("status/incidents/1.html"), b"<p>1</p>");
        write(&dir.join("queue/publish/0001.json"), b"{\"queued\": true}");
        write(&dir.join("subscription-secret"), b"0123456789abcdef");
        write(&dir.join("outbox/0001.eml"), b"Subject: sent");
        write(&dir.join("state/.tmp-00000000000000ff"), b"half");
    }

    /// A tar file's entries: path and body (None: a symlink).
    type Entries<'a> = Vec<(&'a str, Option<&'a [u8]>)>;

    /// A tar file holding `entries` (path, body; a body of None is a symlink).
    fn hostile(path: &Path, entries: &[(&str, Option<&[u8]>)]) {
        let mut b = tar::Builder::new(File::create(path).unwrap());
        for (name, body) in entries {
            let mut h = tar::Header::new_gnu();
            match body {
                Some(body) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(body.len() as u64);
                    h.set_mode(0o644);
                    // Written raw: the builder's own path checks would refuse `..`.
                    let bytes = name.as_bytes();
                    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
                    h.set_cksum();
                    b.append(&h, *body).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    h.set_link_name("/etc/passwd").unwrap();
                    let bytes = name.as_bytes();
                    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
                    h.set_cksum();
                    b.append(&h, io::empty()).unwrap();
                }
            }
        }
        b.finish().unwrap();
    }

    #[test]
    fn a_backup_restores_what_it_took_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("data");
        data_dir(&src);
        let file = tmp.path().join("backup.tar");
        let counts = backup(&src, &file).unwrap();
        assert_eq!(
            counts,
            Counts {
                state: 2,
                status: 2,
                queue: 1,
                secret: true
            }
        );
        assert!(!partial_name(&file).exists());

        let dst = tmp.path().join("restored");
        assert_eq!(restore(&dst, &file, false).unwrap(), counts);
        let mut want = tree(&src);
        want.retain(|k, _| !k.starts_with("outbox/") && !k.contains(".tmp-"));
        assert_eq!(tree(&dst), want);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(
                src.join("subscription-secret"),
                fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            backup(&src, &file).unwrap();
            let again = tmp.path().join("again");
            restore(&again, &file, false).unwrap();
            let mode = fs::metadata(again.join("subscription-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "the secret stays readable by its owner only"
            );
        }
    }

    #[test]
    fn restore_refuses_a_directory_in_use_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("data");
        data_dir(&src);
        let file = tmp.path().join("backup.tar");
        backup(&src, &file).unwrap();

        let dst = tmp.path().join("in-use");
        write(&dst.join("state/incidents/42/9.json"), b"{\"iid\": 9}");
        write(&dst.join("outbox/0009.eml"), b"Subject: kept");
        let err = restore(&dst, &file, false).unwrap_err();
        assert!(matches!(err, BackupError::NotEmpty(_)), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(
            dst.join("state/incidents/42/9.json").exists(),
            "nothing changed"
        );

        restore(&dst, &file, true).unwrap();
        let got = tree(&dst);
        assert!(
            !got.contains_key("state/incidents/42/9.json"),
            "state/ replaced whole"
        );
        assert_eq!(got["state/incidents/42/1.json"], b"{\"iid\": 1}");
        assert_eq!(
            got["outbox/0009.eml"], b"Subject: kept",
            "the outbox is not the backup's"
        );
        assert!(!got.keys().any(|k| k.starts_with(".restore-")), "{got:?}");
    }

    #[test]
    fn restore_refuses_what_a_backup_never_holds_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("evil");
        let cases: [(&str, Entries, &str); 6] = [
            (
                "up",
                vec![("state/a.json", Some(b"{}")), ("../evil", Some(b"x"))],
                "../evil",
            ),
            (
                "inner-up",
                vec![("state/../../evil", Some(b"x"))],
                "state/../../evil",
            ),
            ("absolute", vec![("/tmp/evil", Some(b"x"))], "/tmp/evil"),
            (
                "link",
                vec![("state/a.json", Some(b"{}")), ("status/passwd", None)],
                "status/passwd",
            ),
            (
                "foreign",
                vec![("state/a.json", Some(b"{}")), ("outbox/1.eml", Some(b"x"))],
                "outbox/1.eml",
            ),
            ("file-for-folder", vec![("state", Some(b"x"))], "state"),
        ];
        for (name, entries, entry) in cases {
            let file = tmp.path().join(format!("{name}.tar"));
            hostile(&file, &entries);
            let dst = tmp.path().join(format!("dst-{name}"));
            let err = restore(&dst, &file, false).unwrap_err();
            assert!(
                matches!(&err, BackupError::Foreign { entry: e, .. } if e == entry),
                "{name}: {err}"
            );
            assert!(err.to_string().contains(entry), "{name}: {err}");
            assert_eq!(tree(&dst), BTreeMap::new(), "{name}: nothing restored");
            assert!(!outside.exists(), "{name}: nothing written outside");
        }
        // A tar of something else altogether.
        let file = tmp.path().join("empty.tar");
        hostile(&file, &[("queue/publish/1.json", Some(b"{}"))]);
        let err = restore(&tmp.path().join("dst-empty"), &file, false).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup(_)), "{err}");
    }

    #[test]
    fn backup_refuses_what_is_not_a_data_directory() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("src/notes.txt"), b"hello");
        let to = tmp.path().join("b.tar");
        let err = backup(&tmp.path().join("src"), &to).unwrap_err();
        assert!(matches!(err, BackupError::NotADataDirectory(_)), "{err}");
        assert!(!to.exists() && !partial_name(&to).exists());
    }
}
