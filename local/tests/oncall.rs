//! `openmic-local oncall`: who is on call per schedule of a local file, as a user runs
//! it (the binary, `ONCALL_CONFIG` or `--config`, `--at`).

use std::process::{Command, Output};

const FILE: &str = r#"
people:
  alice: {email: alice@example.com}
  bob: {email: bob@example.com, sms: "+15550100"}
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - participants: [alice, bob]
        rotation: 1w
        handoff: "2026-12-07T09:00"
        restrict: ["Mon-Fri 09:00-18:00"]
    overrides:
      - {who: bob, from: "2026-12-24T00:00", to: "2026-12-27T00:00"}
  secondary:
    time_zone: America/New_York
    layers:
      - {participants: [bob], rotation: 1d, handoff: "2026-12-01T08:00"}
"#;

fn oncall(args: &[&str], env: Option<&std::path::Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_openmic-local"));
    c.arg("oncall").args(args).env_remove("ONCALL_CONFIG");
    if let Some(path) = env {
        c.env("ONCALL_CONFIG", path);
    }
    c.output().expect("openmic-local runs")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn prints_who_is_on_call_per_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oncall.yaml");
    std::fs::write(&path, FILE).unwrap();
    // Monday 2026-12-07, 10:00 in Berlin (alice's week, the first); bob every day in
    // New York.
    let monday = oncall(&["--at", "2026-12-07T09:00:00Z"], Some(&path));
    assert_eq!(stdout(&monday), "primary\talice\nsecondary\tbob\n");
    // Saturday: the restriction leaves primary with nobody.
    let saturday = oncall(&["--at", "2026-12-12T12:00:00Z"], Some(&path));
    assert_eq!(stdout(&saturday), "primary\t-\nsecondary\tbob\n");
    // Christmas Eve, a Thursday of alice's week: bob's override wins; --config too.
    let path_arg = path.to_str().unwrap();
    let eve = oncall(
        &["--at", "2026-12-24T10:00:00Z", "--config", path_arg],
        None,
    );
    assert_eq!(stdout(&eve), "primary\tbob\nsecondary\tbob\n");
    // Without --at, now: one line per schedule, whoever it is.
    let now = stdout(&oncall(&[], Some(&path)));
    assert_eq!(now.lines().count(), 2, "{now}");
    assert!(
        now.starts_with("primary\t") && now.contains("\nsecondary\t"),
        "{now}"
    );
}

#[test]
fn a_bad_file_or_time_is_named_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oncall.yaml");
    std::fs::write(
        &path,
        FILE.replace("Europe/Berlin", "Europe/Berln")
            .replace("[alice, bob]", "[alice, mallory]"),
    )
    .unwrap();
    let out = oncall(&["--at", "2026-12-07T09:00:00Z"], Some(&path));
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 7: \"Europe/Berln\" is not an IANA time zone"),
        "{err}"
    );
    assert!(err.contains("line 9: \"mallory\" is not a person"), "{err}");
    assert!(!err.contains("1555"), "{err}");
    let bad_time = oncall(&["--at", "tomorrow"], Some(&path));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("--at \"tomorrow\""));
    let none = oncall(&[], None);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("ONCALL_CONFIG"));
    let missing = oncall(&[], Some(&dir.path().join("nope.yaml")));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.yaml"));
}

/// `--calendars`: each person's signed calendar link, under PUBLIC_API_URL; without
/// the link secret, a message naming what is missing.
#[test]
fn prints_each_persons_calendar_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oncall.yaml");
    std::fs::write(&path, FILE).unwrap();
    let run = |secret: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_openmic-local"));
        c.args(["oncall", "--calendars", "--config", path.to_str().unwrap()])
            .env_remove("ONCALL_CONFIG")
            .env_remove("ALERT_LINK_SECRET")
            .env("PUBLIC_API_URL", "https://api.example.com");
        if let Some(s) = secret {
            c.env("ALERT_LINK_SECRET", s);
        }
        c.output().expect("openmic-local runs")
    };
    let out = stdout(&run(Some("calendar-links-secret-0123")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("alice\thttps://api.example.com/oncall/alice.ics?token="),
        "{out}"
    );
    assert!(lines[1].starts_with("bob\thttps://api.example.com/oncall/bob.ics?token="));
    // Another secret, other links.
    assert_ne!(stdout(&run(Some("another-secret-0123456789"))), out);
    let none = run(None);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("ALERT_LINK_SECRET"));
}
