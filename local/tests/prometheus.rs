//! The chart behind an alert with real parts: Debian's `prometheus` scrapes itself
//! every second and fires a rule on its own `up`, Debian's `prometheus-alertmanager`
//! posts the alert to `openmic-local serve`'s `/alerts` (bearer `ALERT_TOKEN`), and
//! openmic asks that Prometheus for the rule's range. The first mail holds the chart
//! inline (`cid:chart@openmic`, an 800×400 PNG that decodes) and its data as
//! `chart.csv`; the GitLab stand-in receives both uploads and the note on the incident
//! issue. Each process on a free loopback port with its data in a temporary directory,
//! killed when the test ends however it ends.
//!
//! Here, not in tests/tests: only this package's tests are handed the `openmic-local`
//! binary cargo has just built (`CARGO_BIN_EXE_openmic-local`).
//!
//! Without the binaries the test fails naming what to install (scripts/test installs
//! them): it never passes without running them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mail_parser::MimeHeaders;
use openmic_tests::ALERT_TOKEN;
use openmic_tests::serve::free_listen;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The rule's expression, on a metric every Prometheus has of itself.
const EXPR: &str = r#"up{job="prometheus"} > 0"#;
const GITLAB_TOKEN: &str = "glpat-prometheus-e2e";
/// How long everything may take, from the processes' start to the note on the issue:
/// the rule's 15 s `for` and ten times the rest on an idle machine, for a loaded one.
const DEADLINE: Duration = Duration::from_secs(180);

/// The installed binary `names[0]` (or one of the other names it goes by), found on
/// `PATH`; panics naming the packages to install when none is.
fn installed(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "`{}` is not installed: this test runs Debian's Prometheus and Alertmanager \
         (`apt-get install --no-install-recommends prometheus prometheus-alertmanager`; \
         scripts/test installs them when they are missing)",
        names[0]
    );
}

/// The processes a test started, each writing to its own log in `logs`; all killed
/// and reaped when dropped, so a failing assertion leaves nothing running.
struct Processes {
    logs: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Processes {
    fn new(logs: &Path) -> Processes {
        Processes {
            logs: logs.to_owned(),
            children: Vec::new(),
        }
    }

    fn spawn(&mut self, name: &'static str, mut command: Command) {
        let log = File::create(self.logs.join(format!("{name}.log"))).unwrap();
        command
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        self.children.push((name, child));
    }

    /// The end of each process' log, for a failure's message.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (name, _) in &self.children {
            let text =
                std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!("\n--- {name} (last lines)\n{}", tail.join("\n")));
        }
        out
    }

    /// Panics naming any process that has exited, with the logs.
    fn all_running(&mut self) {
        let mut exited = Vec::new();
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait().unwrap() {
                exited.push(format!("{name} exited ({status})"));
            }
        }
        assert!(exited.is_empty(), "{exited:?}{}", self.logs());
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `url` answers 200, every process still running, within the deadline.
async fn until_ready(
    processes: &mut Processes,
    client: &reqwest::Client,
    url: &str,
    until: Instant,
) {
    loop {
        processes.all_running();
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < until,
            "{url} did not answer{}",
            processes.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GitLab's API as openmic uses it for an incident issue: none open yet, issue 77
/// created, the chart's two uploads and the note that shows them.
async fn gitlab() -> MockServer {
    let gitlab = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": 9077, "iid": 77, "project_id": 42, "title": "PrometheusUp", "description": "",
            "state": "opened", "created_at": "2026-12-07T10:30:01.000Z",
            "updated_at": "2026-12-07T10:30:01.000Z", "labels": ["incident"], "confidential": false,
            "web_url": "https://gitlab.example.com/ops/api/-/issues/77"})))
        .mount(&gitlab)
        .await;
    for (file, secret) in [("chart.png", "a1"), ("chart.csv", "b2")] {
        Mock::given(method("POST"))
            .and(path("/api/v4/projects/42/uploads"))
            .and(BodyHas(
                format!("name=\"file\"; filename=\"{file}\"").into_bytes(),
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
                "alt": file, "url": format!("/uploads/{secret}/{file}"),
                "full_path": format!("/ops/api/uploads/{secret}/{file}"),
                "markdown": format!("![{file}](/uploads/{secret}/{file})")})))
            .mount(&gitlab)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/v4/projects/42/issues/77/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": 5, "body": "chart", "author": {"id": 1, "username": "openmic"},
            "created_at": "2026-12-07T10:30:02.000Z", "updated_at": "2026-12-07T10:30:02.000Z",
            "system": false, "internal": true})))
        .mount(&gitlab)
        .await;
    gitlab
}

/// The requests the stand-in received at `route` by POST.
async fn posted(gitlab: &MockServer, route: &str) -> Vec<wiremock::Request> {
    gitlab
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method == wiremock::http::Method::POST && r.url.path() == route)
        .collect()
}

/// The mails in the outbox, oldest first (`<time>-<id>.eml`).
fn outbox(data: &Path) -> Vec<PathBuf> {
    let mut mails: Vec<PathBuf> = std::fs::read_dir(data.join("outbox"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    mails.sort();
    mails
}

#[tokio::test]
async fn a_real_alertmanager_alert_mails_the_chart_from_a_real_prometheus() {
    let prometheus = installed(&["prometheus"]);
    let alertmanager = installed(&["prometheus-alertmanager", "alertmanager"]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("openmic");
    let (openmic_at, prometheus_at, alertmanager_at) =
        (free_listen(), free_listen(), free_listen());
    let gitlab = gitlab().await;
    let client = openmic_tests::http().build().unwrap();
    let mut processes = Processes::new(dir.path());
    let began = Instant::now();
    let until = began + DEADLINE;

    let mut serve = openmic_tests::serve::command(
        Path::new(env!("CARGO_BIN_EXE_openmic-local")),
        &data,
        &openmic_at,
    );
    serve
        .env("PROMETHEUS_URL", format!("http://{prometheus_at}"))
        .env("GITLAB_URL", gitlab.uri())
        .env("GITLAB_TOKEN", GITLAB_TOKEN)
        .env("CREATE_INCIDENTS", "true")
        .env("MAIL_FROM", "openmic@status.example.com")
        .env("MAINTAINER_EMAILS", "oncall@example.com");
    processes.spawn("openmic-local", serve);

    let config = |name: &str, text: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        file
    };
    // Grouped for a second, then posted; repeats are openmic's to handle.
    let am_config = config(
        "alertmanager.yml",
        format!(
            "route:\n  receiver: openmic\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n- name: openmic\n  webhook_configs:\n  - url: http://{openmic_at}/alerts\n    \
             send_resolved: true\n    http_config:\n      authorization:\n        type: Bearer\n        \
             credentials: {ALERT_TOKEN}\n"
        ),
    );
    let mut am = Command::new(&alertmanager);
    am.arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address={alertmanager_at}"))
        .arg(format!("--web.external-url=http://{alertmanager_at}"))
        // No gossip: its default port (9094) may be taken, and one instance needs none.
        .arg("--cluster.listen-address=");
    processes.spawn("alertmanager", am);

    // Firing 15 s after the first scrape, so that the range asked (in steps of a few
    // seconds) holds samples before the alert began as well as at it.
    let rules = config(
        "rules.yml",
        format!(
            "groups:\n- name: openmic-e2e\n  rules:\n  - alert: PrometheusUp\n    expr: '{EXPR}'\n    \
             for: 15s\n    labels:\n      severity: critical\n    annotations:\n      \
             summary: Prometheus scrapes itself\n"
        ),
    );
    let prom_config = config(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['{alertmanager_at}']\n\
             rule_files: ['{}']\n\
             scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: ['{prometheus_at}']\n",
            rules.display()
        ),
    );
    let mut prom = Command::new(&prometheus);
    prom.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prometheus_at}"))
        // Its alerts' generatorURL: where openmic's query goes.
        .arg(format!("--web.external-url=http://{prometheus_at}"));
    processes.spawn("prometheus", prom);

    until_ready(
        &mut processes,
        &client,
        &format!("http://{openmic_at}/healthz"),
        until,
    )
    .await;
    until_ready(
        &mut processes,
        &client,
        &format!("http://{alertmanager_at}/-/ready"),
        until,
    )
    .await;
    until_ready(
        &mut processes,
        &client,
        &format!("http://{prometheus_at}/-/ready"),
        until,
    )
    .await;

    // The mail, and the note that shows the uploads on the issue.
    let mail = loop {
        processes.all_running();
        let mails = outbox(&data);
        let noted = !posted(&gitlab, "/api/v4/projects/42/issues/77/notes")
            .await
            .is_empty();
        if let Some(first) = mails.first()
            && noted
        {
            break std::fs::read(first).unwrap();
        }
        assert!(
            Instant::now() < until,
            "after {DEADLINE:?}: {} mail(s), note on the issue: {noted}{}",
            mails.len(),
            processes.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let took = began.elapsed();

    let m = mail_parser::MessageParser::default().parse(&mail).unwrap();
    let subject = m.subject().unwrap_or_default().to_owned();
    assert!(subject.contains("Prometheus scrapes itself"), "{subject}");
    let html = m.body_html(0).unwrap().into_owned();
    let text = m.body_text(0).unwrap().into_owned();
    assert!(
        !text.contains("No chart:"),
        "the chart was not drawn: {text}"
    );
    assert!(html.contains("src=\"cid:chart@openmic\""), "{html}");
    assert!(text.contains(&format!("Chart of {EXPR}")), "{text}");
    assert!(text.contains("chart.csv"), "the CSV named: {text}");
    assert!(
        String::from_utf8_lossy(&mail).contains("multipart/related"),
        "the image is related to the HTML"
    );
    let png = m
        .attachments()
        .find(|a| a.content_id() == Some("chart@openmic"))
        .expect("the chart inline");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png.contents()))
        .read_info()
        .expect("the chart is a PNG");
    assert_eq!(
        (reader.info().width, reader.info().height),
        (800, 400),
        "the chart's size"
    );
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).expect("every row decodes");
    assert!(pixels.iter().any(|b| *b != pixels[0]), "something is drawn");

    let csv = m
        .attachments()
        .find(|a| a.attachment_name() == Some("chart.csv"))
        .expect("the CSV attached");
    let csv = String::from_utf8(csv.contents().to_vec()).unwrap();
    let mut rows = csv.split("\r\n").filter(|r| !r.is_empty());
    assert_eq!(rows.next(), Some("timestamp,series,value"), "{csv}");
    // Prometheus' own samples: its `up`, 1 while it scrapes itself.
    let series = format!("\"up{{instance=\"\"{prometheus_at}\"\",job=\"\"prometheus\"\"}}\",1");
    let samples: Vec<&str> = rows.collect();
    assert!(!samples.is_empty(), "{csv}");
    assert!(
        samples.iter().all(|r| r.ends_with(&series)),
        "{series} in every row: {csv}"
    );

    // Both uploads on the incident's project, each holding what the mail holds, and
    // the note on issue 77 showing them.
    let uploads = posted(&gitlab, "/api/v4/projects/42/uploads").await;
    let has = |r: &wiremock::Request, bytes: &[u8]| r.body.windows(bytes.len()).any(|w| w == bytes);
    let png_upload = uploads
        .iter()
        .find(|r| has(r, b"filename=\"chart.png\""))
        .expect("the PNG uploaded");
    assert!(has(png_upload, png.contents()), "the mail's PNG uploaded");
    let csv_upload = uploads
        .iter()
        .find(|r| has(r, b"filename=\"chart.csv\""))
        .expect("the CSV uploaded");
    assert!(has(csv_upload, csv.as_bytes()), "the mail's CSV uploaded");
    for upload in [png_upload, csv_upload] {
        assert_eq!(
            upload.headers.get("authorization").unwrap(),
            &format!("Bearer {GITLAB_TOKEN}")
        );
    }
    let notes = posted(&gitlab, "/api/v4/projects/42/issues/77/notes").await;
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&notes[0].body)
            .into_owned()
            .collect();
    let note = &form["body"];
    assert!(
        note.contains("![chart.png](/uploads/a1/chart.png)"),
        "{note}"
    );
    assert!(note.contains("/uploads/b2/chart.csv"), "{note}");
    eprintln!("the chart's mail and the issue's note {took:?} after the processes' start");
}

/// A request whose body (bytes, a PNG's too) holds these bytes.
struct BodyHas(Vec<u8>);

impl wiremock::Match for BodyHas {
    fn matches(&self, request: &wiremock::Request) -> bool {
        request
            .body
            .windows(self.0.len())
            .any(|w| w == self.0.as_slice())
    }
}
