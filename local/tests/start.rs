//! `openmic-local` refuses to start when it could do nothing of its work, naming why,
//! as it does for a missing or invalid variable.

use std::path::Path;
use std::time::Duration;

use openmic_tests::serve::{command, free_listen};

fn start(env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut c = command(
        Path::new(env!("CARGO_BIN_EXE_openmic-local")),
        dir.path(),
        &free_listen(),
    );
    c.env_remove("GITLAB_URL").env_remove("GITLAB_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openmic-local runs");
    // A refusal ends the process at once; one that starts is stopped here.
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn nobody_to_publish_stops_it_at_start_naming_why() {
    let out = start(&[("PUBLISHERS", "")]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it must not start: {text}");
    assert!(
        text.contains("nobody may publish") && text.contains("PUBLISHERS"),
        "{text}"
    );
    // The same settings with a publisher named start and serve.
    let out = start(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listening on"), "{text}");
}

#[test]
fn a_bad_rotation_value_stops_it_naming_the_variable() {
    let out = start(&[("ALERT_TOKEN", "one,two,three")]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("ALERT_TOKEN"), "{text}");
    assert!(!text.contains("three"), "the value is not echoed: {text}");
}
