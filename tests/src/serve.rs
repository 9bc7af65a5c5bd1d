//! `openmic-local serve` as a process, for the load driver and the crash test: its
//! command line, the note hooks they send it, and what landed in its state.

use std::path::Path;

use crate::{ALERT_TOKEN, WEBHOOK_SECRET, event_file};

/// A loopback address with a port free a moment ago.
pub fn free_listen() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    format!("127.0.0.1:{port}")
}

/// `binary serve` on `listen` with its data in `dir` and the test secrets, publisher
/// `alice` and project 42.
pub fn command(binary: &Path, dir: &Path, listen: &str) -> std::process::Command {
    let mut c = std::process::Command::new(binary);
    c.args(["serve", "--listen", listen, "--data-dir"])
        .arg(dir)
        .env("GITLAB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("ALERT_TOKEN", ALERT_TOKEN)
        .env("PUBLISHERS", "alice")
        .env("GITLAB_PROJECT_ID", "42")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    c
}

/// Note hooks made from the story's note by bob, read once.
pub struct NoteHooks(serde_json::Value);

impl NoteHooks {
    pub fn load() -> NoteHooks {
        let raw = std::fs::read_to_string(event_file("gitlab-story", "002-note-by-bob.json"))
            .expect("the story's note event");
        let event: serde_json::Value = serde_json::from_str(&raw).expect("an API Gateway event");
        let body = event["body"].as_str().expect("a body");
        NoteHooks(serde_json::from_str(body).expect("a note hook"))
    }

    /// The body of note `id` saying `text`, on incident `iid`.
    pub fn body(&self, iid: u64, id: u64, text: &str) -> String {
        let mut b = self.0.clone();
        b["issue"]["iid"] = iid.into();
        b["issue"]["id"] = (5000 + iid).into();
        b["object_attributes"]["id"] = id.into();
        b["object_attributes"]["note"] = text.into();
        b.to_string()
    }
}

/// The ids of the notes in the incidents' state under `dir`, sorted, each as often as
/// it appears.
pub fn notes_in_state(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    // `incidents/<project>/<iid>.json`.
    let projects = std::fs::read_dir(dir.join("state/incidents"))
        .into_iter()
        .flatten()
        .flatten();
    for e in projects.flat_map(|p| std::fs::read_dir(p.path()).into_iter().flatten().flatten()) {
        // A write in progress, or one a kill cut short (`.tmp-…`): never read.
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(e.path()).expect("an incident's state");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("state is JSON");
        if let Some(notes) = v["notes"].as_object() {
            ids.extend(notes.keys().cloned());
        }
    }
    ids.sort();
    ids
}
