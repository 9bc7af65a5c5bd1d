//! The alerts story: two alerts fire in one Alertmanager batch, one repeats, one
//! resolves, an unknown one resolves, a generic alert arrives, bad tokens and malformed
//! bodies are refused. The records and every mail are checked, on the embedded
//! outbox and through SES on the local server.

use std::collections::BTreeMap;

use mail_parser::MessageParser;
use openmic_local::Runner;
use openmic_tests::aws::{Fixture, sent_mail};
use openmic_tests::*;
use serde_json::json;

/// A mail as a reader sees it.
#[derive(Debug)]
struct Seen {
    from: String,
    to: Vec<String>,
    subject: String,
    text: String,
    html: String,
    in_reply_to: Option<String>,
}

fn read_mail(raw: &[u8]) -> Seen {
    let m = MessageParser::default()
        .parse(raw)
        .expect("an RFC 5322 message");
    let addrs = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    };
    Seen {
        from: addrs(m.from()).join(","),
        to: addrs(m.to()),
        subject: m.subject().unwrap_or_default().to_owned(),
        text: m
            .body_text(0)
            .map(|t| t.replace("\r\n", "\n"))
            .unwrap_or_default(),
        html: m
            .body_html(0)
            .map(|t| t.replace("\r\n", "\n"))
            .unwrap_or_default(),
        in_reply_to: m.in_reply_to().as_text().map(str::to_owned),
    }
}

fn outbox(dir: &std::path::Path) -> Vec<Seen> {
    tree(&dir.join("outbox"))
        .values()
        .map(|raw| read_mail(raw))
        .collect()
}

const SUBJECTS: [&str; 4] = [
    "Alert: production: High error rate on api-1:9100",
    "Alert: production: High error rate on api-2:9100",
    "Alert: production: High error rate on api-1:9100 (resolved)",
    "Alert: staging: Incident title",
];

fn check_mails(mails: &[Seen], recipients: &[&str]) {
    let mut by_subject: BTreeMap<&str, &Seen> = BTreeMap::new();
    for m in mails {
        assert!(
            by_subject.insert(m.subject.as_str(), m).is_none(),
            "one mail per subject: {}",
            m.subject
        );
    }
    assert_eq!(by_subject.keys().copied().collect::<Vec<_>>(), {
        let mut s = SUBJECTS.to_vec();
        s.sort();
        s
    });
    for m in mails {
        assert_eq!(m.from, "openmic@status.example.com");
        assert_eq!(m.to, recipients);
        for part in [&m.text, &m.html] {
            assert!(
                part.contains("https://status.example.com"),
                "status page link in {}:\n{part}",
                m.subject
            );
            assert!(
                part.contains("https://gitlab.example.com/projects/42"),
                "project in {}:\n{part}",
                m.subject
            );
        }
    }
    let api1 = by_subject[SUBJECTS[0]];
    assert!(api1.text.contains("Severity:    critical"), "{}", api1.text);
    assert!(
        api1.text.contains("Started:     5 Mar 2024, 10:00 UTC"),
        "{}",
        api1.text
    );
    assert!(
        api1.text
            .contains("Runbook:     https://runbooks.example.com/high-error-rate")
    );
    assert!(
        api1.text
            .contains("Graph:       http://prometheus.example.com:9090/graph?g0.expr=rate")
    );
    assert!(api1.text.contains("Hosts:       api-1:9100"));
    assert!(
        api1.text
            .contains("5xx ratio above 5% on api-1:9100 for 10 minutes.")
    );
    assert!(
        api1.html
            .contains(r#"<a href="https://runbooks.example.com/high-error-rate">"#),
        "{}",
        api1.html
    );
    assert!(api1.in_reply_to.is_none());

    // Payload HTML is escaped in the HTML part and kept as text in the text part.
    let api2 = by_subject[SUBJECTS[1]];
    assert!(
        api2.html
            .contains("&lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        api2.html
    );
    assert!(!api2.html.contains("<script"), "{}", api2.html);
    assert!(
        api2.text
            .contains("<b>bold</b> <script>alert(1)</script>\nsecond line"),
        "{}",
        api2.text
    );

    let resolved = by_subject[SUBJECTS[2]];
    assert!(
        resolved
            .text
            .starts_with("Resolved: High error rate on api-1:9100"),
        "{}",
        resolved.text
    );
    assert!(
        resolved.text.contains("Ended:       5 Mar 2024, 10:30 UTC"),
        "{}",
        resolved.text
    );
    assert!(
        resolved.text.contains("Events:      2"),
        "{}",
        resolved.text
    );
    assert!(
        resolved
            .in_reply_to
            .as_deref()
            .is_some_and(|r| r.starts_with("alert-")),
        "{:?}",
        resolved.in_reply_to
    );

    let generic = by_subject[SUBJECTS[3]];
    assert!(
        generic.text.contains("Severity:    high"),
        "{}",
        generic.text
    );
    assert!(generic.text.contains("Short description of the incident"));
    assert!(generic.text.contains("Hosts:       value"));
    assert!(generic.text.contains("Service:     service affected"));
}

async fn replay_story(runner: &Runner) {
    let statuses: Vec<u16> = replay_all(runner, &event_files("alerts"))
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(statuses, vec![202, 202, 202, 202, 202, 401, 401, 400, 400]);
}

#[tokio::test]
async fn alert_story_on_the_embedded_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    replay_story(&runner).await;
    check_mails(
        &outbox(dir.path()),
        &["oncall@example.com", "lead@example.com"],
    );

    let state = tree(&dir.path().join("state"));
    let records: BTreeMap<String, serde_json::Value> = state
        .iter()
        .filter(|(k, _)| k.starts_with("alerts/"))
        .map(|(_, v)| {
            let r: serde_json::Value = serde_json::from_slice(v).unwrap();
            (r["fingerprint"].as_str().unwrap().to_owned(), r)
        })
        .collect();
    assert_eq!(
        records.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "a1b2c3d4e5f60001",
            "a1b2c3d4e5f60002",
            "d19381d4e8ebca87b55cda6e8eee7385"
        ],
        "the unknown alert's resolve made no record"
    );
    let r1 = &records["a1b2c3d4e5f60001"];
    assert_eq!(
        (
            &r1["status"],
            &r1["event_count"],
            &r1["resolved_at"],
            &r1["pending"]
        ),
        (
            &json!("resolved"),
            &json!(2),
            &json!("2024-03-05T10:30:00Z"),
            &json!([])
        )
    );
    assert!(r1["last_notified"].is_string());
    let r2 = &records["a1b2c3d4e5f60002"];
    assert_eq!(
        (&r2["status"], &r2["event_count"]),
        (&json!("triggered"), &json!(1))
    );
    let g = &records["d19381d4e8ebca87b55cda6e8eee7385"];
    assert_eq!(
        (
            &g["status"],
            &g["alert"]["environment"],
            &g["alert"]["extra"]["foo"]["bar"]["baz"]
        ),
        (&json!("triggered"), &json!("staging"), &json!(42))
    );
}

#[tokio::test]
async fn mail_in_the_page_language() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("PAGE_LANGUAGE", "de")]);
    replay_story(&runner).await;
    let mails = outbox(dir.path());
    let mut subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "Alarm: production: High error rate on api-1:9100",
            "Alarm: production: High error rate on api-1:9100 (behoben)",
            "Alarm: production: High error rate on api-2:9100",
            "Alarm: staging: Incident title",
        ]
    );
    let resolved = mails
        .iter()
        .find(|m| m.subject.ends_with("(behoben)"))
        .unwrap();
    // The labels line up whatever their length in the language.
    assert!(
        resolved
            .text
            .starts_with("Behoben: High error rate on api-1:9100\n")
    );
    let column = resolved
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Titel:"))
        .map(|rest| "Titel:".len() + rest.len() - rest.trim_start().len())
        .expect("a title line");
    for (label, value) in [
        ("Titel:", "High error rate on api-1:9100"),
        ("Schweregrad:", "kritisch"),
        ("Beginn:", "5. März 2024, 10:00 UTC"),
        ("Ende:", "5. März 2024, 10:30 UTC"),
        ("Statusseite:", "https://status.example.com"),
    ] {
        let line = format!("{label:<column$}{value}");
        assert!(
            resolved.text.lines().any(|l| l == line),
            "{line:?} in\n{}",
            resolved.text
        );
    }
    assert!(
        resolved.html.contains("<html lang=\"de\">"),
        "{}",
        resolved.html
    );
    assert!(
        resolved.html.contains("<th align=\"left\">Umgebung</th>"),
        "{}",
        resolved.html
    );
    assert!(
        resolved
            .text
            .contains("Gesendet von openmic für den Fingerabdruck a1b2c3d4e5f60001."),
        "{}",
        resolved.text
    );
}

#[tokio::test]
async fn repeats_mail_again_only_after_renotify_after_and_refire_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[("RENOTIFY_AFTER", "0s")]);
    let fire = event_file("alerts", "002-one-repeats.json");
    let resolve = event_file("alerts", "003-one-resolves.json");
    replay_all(&runner, std::slice::from_ref(&fire)).await;
    resend_all(&runner, std::slice::from_ref(&fire), "repeat").await;
    let subjects: Vec<String> = outbox(dir.path()).into_iter().map(|m| m.subject).collect();
    assert_eq!(
        subjects,
        vec![
            "Alert: production: High error rate on api-1:9100",
            "Alert: production: High error rate on api-1:9100 (still firing)"
        ]
    );
    // Resolve, then the same fingerprint fires again: a new alert with a new thread.
    replay_all(&runner, &[resolve]).await;
    resend_all(&runner, &[fire], "refire").await;
    let mails = outbox(dir.path());
    assert_eq!(mails.len(), 4);
    assert_eq!(
        mails[3].subject,
        "Alert: production: High error rate on api-1:9100"
    );
    assert!(mails[3].in_reply_to.is_none());
    let state = tree(&dir.path().join("state"));
    let record = state
        .iter()
        .find(|(k, _)| k.starts_with("alerts/"))
        .map(|(_, v)| serde_json::from_slice::<serde_json::Value>(v).unwrap())
        .unwrap();
    assert_eq!(
        (
            &record["generation"],
            &record["event_count"],
            &record["status"]
        ),
        (&json!(1), &json!(1), &json!("triggered"))
    );

    // With the default 4h, a repeat sends nothing.
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let fire = event_file("alerts", "002-one-repeats.json");
    replay_all(&runner, std::slice::from_ref(&fire)).await;
    resend_all(&runner, &[fire.clone(), fire], "repeat").await;
    assert_eq!(outbox(dir.path()).len(), 1);
}

#[tokio::test]
async fn generic_alerts_without_fingerprint_are_new_each_time_and_headers_stay_single_line() {
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let event = |key: &str| {
        json!({"version": "2.0", "rawPath": "/alerts",
            "headers": {"authorization": format!("Bearer {ALERT_TOKEN}"), "content-type": "application/json", "idempotency-key": key},
            "requestContext": {"http": {"method": "POST", "path": "/alerts"}},
            "body": json!({"title": "Disk full\r\nBcc: victim@example.com", "hosts": ["db-1", "db-2"], "start_time": 1709632800000u64}).to_string(),
            "isBase64Encoded": false})
        .to_string()
    };
    for key in ["g1", "g2"] {
        let (status, reply) = send_text(&runner, &event(key)).await;
        assert_eq!((status, reply), (202, json!({"queued": 1})));
        runner.drain().await;
    }
    let mails = outbox(dir.path());
    assert_eq!(mails.len(), 2, "no fingerprint: a new alert per request");
    for m in &mails {
        assert_eq!(m.subject, "Alert: Disk full Bcc: victim@example.com");
        assert_eq!(
            m.to,
            vec!["oncall@example.com", "lead@example.com"],
            "no recipient added"
        );
        assert!(m.text.contains("Hosts:       db-1, db-2"));
        assert!(
            m.text.contains("Started:     5 Mar 2024, 10:00 UTC"),
            "{}",
            m.text
        );
    }
    let raw = tree(&dir.path().join("outbox"));
    for bytes in raw.values() {
        let text = String::from_utf8_lossy(bytes);
        let headers = text.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{headers}"
        );
    }
}

#[tokio::test]
async fn basic_auth_and_token_refusals() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let runner = embedded(dir.path(), &[]);
    let with_auth = |auth: &str| {
        json!({"version": "2.0", "rawPath": "/alerts", "headers": {"authorization": auth},
            "requestContext": {"http": {"method": "POST", "path": "/alerts"}},
            "body": "{\"title\":\"t\"}", "isBase64Encoded": false})
        .to_string()
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{ALERT_TOKEN}"))
    );
    assert_eq!(send_text(&runner, &with_auth(&basic)).await.0, 202);
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(":nope")
    );
    for (auth, msg) in [
        (wrong.as_str(), "invalid alert token"),
        ("Bearer ", "Authorization must be Bearer <token> or Basic"),
        ("Token abc", "Authorization must be Bearer <token> or Basic"),
        (&format!("Bearer {ALERT_TOKEN}x")[..], "invalid alert token"),
        (
            &format!("Bearer {}", &ALERT_TOKEN[..ALERT_TOKEN.len() - 1])[..],
            "invalid alert token",
        ),
    ] {
        let (status, reply) = send_text(&runner, &with_auth(auth)).await;
        assert_eq!(
            (status, reply["error"].as_str()),
            (401, Some(msg)),
            "{auth}"
        );
    }
    assert_eq!(runner.pending().await, 1);
}

#[tokio::test]
async fn alert_story_through_ses() {
    let fx = Fixture::new("alerts").await;
    let tag = fx.state_bucket.trim_start_matches("state-").to_owned();
    let to_a = format!("oncall+{tag}@example.com");
    let to_b = format!("lead+{tag}@example.com");
    let recipients = format!("{to_a},{to_b}");
    let runner = Runner::aws_with(
        fx.config(&[("MAINTAINER_EMAILS", &recipients)]),
        fx.aws.clone(),
    )
    .await
    .unwrap();
    replay_story(&runner).await;
    let mails: Vec<Seen> = sent_mail()
        .await
        .iter()
        .filter(|raw| raw.contains(&to_a))
        .map(|raw| read_mail(raw.as_bytes()))
        .collect();
    check_mails(&mails, &[to_a.as_str(), to_b.as_str()]);
    assert_eq!(fx.depth(&fx.alert_queue).await, 0);
}
