//! `POST /alerts` bodies: `alerts::parse::parse` (Alertmanager webhook v4 and GitLab's
//! generic alert), then what happens to each alert behind the queue: its JSON round
//! trip (intake queues it, the notifier reads it back), the lifecycle, the mail,
//! whose headers no payload may add to, and every chat format's body.

#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use openmic::alerts::record::{Notice, apply};
use openmic::alerts::{Alert, mail, message, parse};
use openmic::{chat, i18n};
use openmic::config::Config;

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    Config::from_lookup(|k| {
        match k {
            "GITLAB_PROJECT_ID" => Some("42"),
            "MAIL_FROM" => Some("openmic@status.example.com"),
            "MAINTAINER_EMAILS" => Some("oncall@example.com"),
            "STATUS_PAGE_URL" => Some("https://status.example.com"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .expect("fuzz configuration is valid")
});

/// The header block of an RFC 5322 message.
fn headers(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_709_283_600, 0).expect("a valid time");
    let Ok(parsed) = parse::parse(data, now) else {
        return;
    };
    for alert in &parsed.alerts {
        // What intake queues and the notifier reads back.
        let Ok(raw) = serde_json::value::to_raw_value(alert) else {
            continue; // intake answers 400 for it
        };
        let back: Alert = serde_json::from_str(raw.get()).expect("a queued alert reads back");
        assert_eq!(&back, alert, "the alert's JSON round trip changed it");

        let fingerprint = alert.fingerprint.clone().unwrap_or_else(|| "none".into());
        let (record, _) = apply(
            None,
            &fingerprint,
            alert,
            "d1",
            now,
            Duration::from_secs(60),
        );
        let Some(record) = record else {
            continue; // a resolve with no open alert
        };
        for notice in [Notice::New, Notice::Reminder, Notice::Resolved] {
            let subject = message::subject(&record, notice, i18n::catalogue(CONFIG.site.page_language));
            assert!(
                !subject.chars().any(char::is_control),
                "a control character in the subject {subject:?}"
            );
            // Every chat format is JSON whatever the payload.
            if let Ok(message) = message::alert_message(&CONFIG, &record, notice, now, None) {
                for kind in chat::Kind::ALL {
                    let target = chat::Target {
                        to: Some("123456789".into()),
                        ..chat::Target::webhook(kind, "https://hooks.example.com/x")
                    };
                    match chat::outgoing(&target, &message) {
                        chat::Outgoing::Http(request) => {
                            serde_json::from_slice::<serde_json::Value>(&request.body)
                                .expect("a chat body is JSON");
                        }
                        // Within its segments, whatever the payload (the link is
                        // short here).
                        chat::Outgoing::Sms { text, .. } => {
                            let encoding = chat::sms::Encoding::of(&text);
                            assert!(encoding.segments(&text) <= chat::sms::MAX_SEGMENTS, "{text:?}");
                        }
                    }
                }
            }
            let Ok(m) = mail::compose(&CONFIG, &record, notice, now, &["oncall@example.com".to_owned()], None)
            else {
                continue;
            };
            let Ok(bytes) = m.to_rfc5322() else {
                continue;
            };
            let head = headers(&bytes);
            let starts = |name: &str| {
                head.split("\r\n")
                    .filter(|l| l.to_ascii_lowercase().starts_with(name))
                    .count()
            };
            assert_eq!(starts("subject:"), 1, "headers:\n{head}");
            assert_eq!(starts("to:"), 1, "headers:\n{head}");
            assert_eq!(starts("bcc:"), 0, "headers:\n{head}");
            assert_eq!(starts("cc:"), 0, "headers:\n{head}");
        }
    }
});
