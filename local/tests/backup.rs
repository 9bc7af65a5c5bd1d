//! `openmic-local backup` and `restore` as a user runs them: the first release's data
//! directory (tests/fixtures/release-1) to one file and back, byte for byte; a
//! directory in use refused without `--force`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let key = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(key, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (key, body) in tree(from) {
        let path = to.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

fn openmic_local(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_openmic-local"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

#[test]
fn backup_and_restore_round_trip_a_data_directory() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/release-1");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_tree(&fixture.join("state"), &data.join("state"));
    copy_tree(&fixture.join("status"), &data.join("status"));
    std::fs::create_dir_all(data.join("queue/publish")).unwrap();
    std::fs::write(data.join("queue/publish/1.json"), b"{\"pending\": 1}").unwrap();
    let file = tmp.path().join("openmic-backup.tar");
    let (d, f) = (data.to_str().unwrap(), file.to_str().unwrap());

    let out = openmic_local(&["backup", "--data-dir", d, "--to", f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let (state, status) = (
        tree(&fixture.join("state")).len(),
        tree(&fixture.join("status")).len(),
    );
    let counted = format!("state: {state} files, status: {status} files, queue: 1 files");
    assert!(said.contains(&counted), "{said}");

    let restored = tmp.path().join("restored");
    let r = restored.to_str().unwrap();
    let out = openmic_local(&["restore", "--data-dir", r, "--from", f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&restored), tree(&data));

    // Again into the same, now in use: refused, named, nothing changed.
    std::fs::write(restored.join("state/index/extra.json"), b"{}").unwrap();
    let out = openmic_local(&["restore", "--data-dir", r, "--from", f]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    assert!(restored.join("state/index/extra.json").exists());

    let out = openmic_local(&["restore", "--data-dir", r, "--from", f, "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&restored), tree(&data));

    // Not a backup at all.
    let out = openmic_local(&[
        "restore",
        "--data-dir",
        r,
        "--from",
        fixture.join("README.md").to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(tree(&restored), tree(&data), "a bad file changes nothing");
}
