//! The `window` fuzz target's check, shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs: a `Window:` line (`Window::parse_line`) and the
//! description around it (`Window::from_description`) give a window or a named
//! problem, never a panic; a window read ends after it starts, within the longest
//! window openmic takes; and its canonical form reads back to the same window.

use openmic::maintenance::{Window, window::MAX_WINDOW_DAYS};

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let line = Window::parse_line(&text);
    if let Ok(w) = &line {
        assert!(
            w.ends_at > w.starts_at,
            "{text:?}: {w:?} ends before it starts"
        );
        assert!(
            w.ends_at - w.starts_at <= chrono::Duration::days(MAX_WINDOW_DAYS),
            "{text:?}: {w:?} is longer than {MAX_WINDOW_DAYS} days"
        );
        let iso =
            |t: &openmic::time::Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let canonical = format!("{}/{}", iso(&w.starts_at), iso(&w.ends_at));
        assert_eq!(
            Window::parse_line(&canonical).as_ref(),
            Ok(w),
            "{text:?}: its canonical form {canonical:?} reads otherwise"
        );
        // As the publisher keeps it for the notifier (`index/maintenance.json`): it
        // reads back, to the millisecond it is written with.
        let json = serde_json::to_string(w).expect("a window serialises");
        let back: Window = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{text:?}: its JSON {json} does not read back: {e}"));
        let ms = |t: &openmic::time::Timestamp| t.timestamp_millis();
        assert_eq!(
            (ms(&back.starts_at), ms(&back.ends_at)),
            (ms(&w.starts_at), ms(&w.ends_at)),
            "{text:?}: {json}"
        );
    } else if let Err(e) = &line {
        assert!(!e.0.is_empty(), "{text:?}: an error without a reason");
    }
    // As the publisher reads it: the line in a description, and the text itself as
    // one (any number of lines, code blocks, list markers).
    let described = Window::from_description(&format!("Maintenance\n\n- **Window:** {text}\n"));
    if !text.contains(['\n', '\r']) {
        // One line: the description's window is the line's (`**` and list markers
        // aside, which the line itself may not start with).
        if !text.trim_start().starts_with(['*', '`', '-']) && !text.trim().is_empty() {
            assert_eq!(
                described.as_ref().ok().cloned().flatten().as_ref(),
                line.as_ref().ok(),
                "{text:?}: the description reads another window than the line"
            );
        }
    }
    let _ = Window::from_description(&text);
}
