//! Every chat body openmic sends, valid as each service reads it: every kind of
//! message (an alert firing, still firing and resolved, a Grafana alert with all its
//! links, a storm's digest, each kind of status update, a closed incident's with
//! nothing to say, and hostile ones: mentions and links in every field, targets that
//! are not http(s) or hold each link syntax's delimiters, 10,000 characters of text,
//! right-to-left overrides) is written for each service to a temporary folder.
//! Slack's, Mattermost's and Google Chat's documented limits are checked here; the
//! Teams cards and Discord embeds go through the services' own libraries
//! (`adaptivecards` under Teams' host config, `@discordjs/builders`) in
//! tests/browser/chat-bodies.mjs.

use std::path::Path;

use openmic::alerts::links::Links;
use openmic::alerts::message::{alert_message, digest_message};
use openmic::alerts::record::{AlertRecord, IssueLink, Notice, apply};
use openmic::alerts::storm::DigestItem;
use openmic::alerts::{Severity, parse};
use openmic::chat::{self, Kind, Message, Target};
use openmic::config::Config;
use openmic::subscriptions::Update;
use serde_json::{Value, json};

const NOW: &str = "2024-03-05T10:00:00Z";

fn config() -> Config {
    let env = [
        ("PUBLIC_API_URL", "https://api.example.com"),
        ("ALERT_LINK_SECRET", "test-link-secret-0123456789abcdef"),
        ("STATUS_PAGE_URL", "https://status.example.com"),
        ("GITLAB_URL", "https://gitlab.example.com"),
        ("GITLAB_PROJECT_ID", "7"),
        // Every alert message carries a "View logs" link too, braces and quotes in it.
        (
            "LOGS_URL_TEMPLATE",
            "https://logs.example.com/explore?q={job=\"node\"}&host={labels.instance}&from={starts_at}&to={ends_at}",
        ),
    ];
    Config::from_lookup(|name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

/// The record of the first alert in `body`, with an incident issue.
fn record(body: &Value) -> AlertRecord {
    let now = openmic::time::parse(NOW).unwrap();
    let parsed = parse::parse(body.to_string().as_bytes(), now).unwrap();
    let alert = &parsed.alerts[0];
    let (record, _) = apply(
        None,
        "fp-1",
        alert,
        "delivery-1",
        now,
        std::time::Duration::from_secs(3600),
    );
    let mut record = record.unwrap();
    record.issue = Some(IssueLink {
        chart: false,
        id: Some(9012),
        project: Some(7),
        iid: 12,
        url: "https://gitlab.example.com/ops/incidents/-/issues/12".into(),
        closed: false,
        call_link: None,
    });
    record
}

fn alert_of(config: &Config, record: &AlertRecord, notice: Notice, links: bool) -> Message {
    let now = openmic::time::parse(NOW).unwrap();
    let links = links.then(|| {
        Links::from_config(config).unwrap().unwrap().for_message(
            &record.id(),
            record.generation,
            "ops",
            "ops",
            now,
        )
    });
    alert_message(config, record, notice, now, links.as_ref()).unwrap()
}

fn alertmanager(labels: Value, annotations: Value, generator: &str) -> Value {
    json!({"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "openmic", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "https://alertmanager.example.com", "alerts": [{
            "status": "firing", "labels": labels, "annotations": annotations,
            "startsAt": NOW, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": generator, "fingerprint": "fp-1"}]})
}

fn grafana(title: &str, links: [&str; 5]) -> Value {
    json!({"receiver": "openmic", "status": "firing", "orgId": 1, "alerts": [{
        "status": "firing",
        "labels": {"alertname": title, "grafana_folder": "ops", "severity": "critical",
                   "instance": "db-1", "env": "production"},
        "annotations": {"summary": format!("{title} on db-1"), "description": "CPU above 90% for 5 minutes.",
                        "runbook_url": "https://runbooks.example.com/cpu"},
        "startsAt": NOW, "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": links[0], "fingerprint": "fp-1",
        "silenceURL": links[1], "dashboardURL": links[2], "panelURL": links[3], "imageURL": links[4],
        "values": {"B": 93.2}, "valueString": "[ var='B' labels={instance=db-1} value=93.2 ]"}],
        "groupLabels": {}, "commonLabels": {"alertname": title}, "commonAnnotations": {},
        "externalURL": "https://grafana.example.com/", "version": "1", "groupKey": "{}:{}",
        "truncatedAlerts": 0, "title": format!("[FIRING:1] {title}"), "state": "alerting",
        "message": "**Firing**"})
}

/// Text that tries every service's mentions and links.
const HOSTILE: &str = "Disk <!channel> <!here|x> <!subteam^S0123> <@U123> <#C1> <@&42> \
    <users/all> @here \\@all @\u{200B}everyone [re-login](https://evil.example/sso) \
    <https://evil.example|click> **b** \u{202E}gnp.exe\u{202C} \u{2066}x\u{2069}";

/// 10,000 characters with links, escapes and mentions at every offset.
fn long_text() -> String {
    let unit = "a&<@[x](https://evil.example/p) 😀 <!here> ";
    unit.repeat(10_000 / unit.chars().count() + 1)
        .chars()
        .take(10_000)
        .collect()
}

fn update(kind: &str, title: &str, html: &str, stage: &str, extra: Value) -> Update {
    let mut u = json!({
        "id": format!("7.{kind}"), "kind": kind, "at": NOW,
        "incident": {"id": 7, "title": title, "status": if kind == "closed" { "closed" } else { "opened" },
                     "stage": stage, "components": ["API", "Web"], "severity": "high"},
        "html": html,
    });
    if let (Some(u), Some(extra)) = (u.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if k == "window" {
                u["incident"]
                    .as_object_mut()
                    .unwrap()
                    .insert(k.clone(), v.clone());
            } else {
                u.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(u).unwrap()
}

/// Every message kind, by name.
fn messages() -> Vec<(String, Message)> {
    let config = config();
    let mut out: Vec<(String, Message)> = Vec::new();

    let plain = record(&alertmanager(
        json!({"alertname": "HighErrorRate", "severity": "critical", "env": "production",
               "service": "api", "instance": "api-1"}),
        json!({"summary": "Error rate above 5%", "description": "5xx at 7% for 10 minutes.",
               "runbook_url": "https://runbooks.example.com/errors"}),
        "https://prometheus.example.com/graph?g0.expr=rate(http_errors_total[5m])",
    ));
    out.push((
        "alert-firing".into(),
        alert_of(&config, &plain, Notice::New, true),
    ));
    let mut reminded = plain.clone();
    reminded.event_count = 4;
    out.push((
        "alert-reminder".into(),
        alert_of(&config, &reminded, Notice::Reminder, true),
    ));
    out.push((
        "alert-resolved".into(),
        alert_of(&config, &plain, Notice::Resolved, false),
    ));

    let grafana_links = [
        "https://grafana.example.com/alerting/grafana/abc/view",
        "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHigh+CPU",
        "https://grafana.example.com/d/x/cpu?orgId=1",
        "https://grafana.example.com/d/x/cpu?orgId=1&viewPanel=2",
        "https://grafana.example.com/render/d-solo/x?panelId=2",
    ];
    let g = record(&grafana("High CPU", grafana_links));
    out.push((
        "grafana-all-links".into(),
        alert_of(&config, &g, Notice::New, true),
    ));

    let hostile_links = [
        "https://x/graph>* <!channel> *<https://evil.example/phish",
        "javascript:alert(document.cookie)",
        "https://grafana.example.com/d/x (1)|y)?q=ä ö&r=<b>",
        "data:text/html,<script>alert(1)</script>",
        "https://bank.example@evil.example/",
    ];
    let h = record(&grafana(HOSTILE, hostile_links));
    out.push((
        "hostile-grafana".into(),
        alert_of(&config, &h, Notice::New, true),
    ));
    let mut long = record(&alertmanager(
        json!({"alertname": HOSTILE, "severity": "high", "env": format!("prod {HOSTILE}"),
               "instance": "[a](javascript:alert(1)) @channel"}),
        json!({"summary": HOSTILE, "description": long_text(), "runbook_url": "javascript:alert(1)"}),
        "https://x/graph>* <!channel> *<https://evil.example/phish",
    ));
    out.push((
        "hostile-long".into(),
        alert_of(&config, &long, Notice::New, true),
    ));
    long.alert.description = Some(String::new());
    out.push((
        "hostile-resolved".into(),
        alert_of(&config, &long, Notice::Resolved, false),
    ));

    let now = openmic::time::parse(NOW).unwrap();
    let items: Vec<DigestItem> = (0..60)
        .map(|i| DigestItem {
            id: format!("n{i}"),
            notice: if i % 3 == 0 {
                Notice::Resolved
            } else {
                Notice::New
            },
            at: now,
            record: format!("r{i}"),
            generation: 0,
            title: if i == 5 {
                HOSTILE.into()
            } else {
                format!("Disk {i} full")
            },
            environment: Some("production".into()),
            severity: Severity::High,
            logs: None,
            chart: None,
        })
        .collect();
    out.push((
        "digest".into(),
        digest_message(&config, "ops", &items, None, now).unwrap(),
    ));

    let page = Some("https://status.example.com");
    let text = "<p>We are <strong>looking</strong> into it.</p>";
    let message = openmic::subscriptions::channels::message;
    for (kind, stage, html, extra) in [
        ("published", "investigating", text, json!({})),
        (
            "comment",
            "identified",
            "<p>Fixed a <a href=\"https://x\">thing</a>.</p>",
            json!({}),
        ),
        (
            "stage",
            "monitoring",
            "",
            json!({"previous_stage": "identified"}),
        ),
        ("closed", "resolved", "", json!({})),
        ("reopened", "investigating", "", json!({})),
        (
            "announced",
            "investigating",
            text,
            json!({"window": {"starts_at": "2024-03-06T10:00:00Z", "ends_at": "2024-03-06T12:00:00Z"}}),
        ),
        ("started", "investigating", "", json!({})),
        ("completed", "resolved", "", json!({})),
    ] {
        let u = update(kind, "API &amp; web errors", html, stage, extra);
        out.push((format!("status-{kind}"), message(&u, "Acme status", page)));
    }
    let hostile_html = format!(
        "<p>{}</p>",
        long_text().replace('<', "&lt;").replace('&', "&amp;")
    );
    let u = update(
        "published",
        &HOSTILE.replace('<', "&lt;"),
        &hostile_html,
        "investigating",
        json!({}),
    );
    out.push(("status-hostile".into(), message(&u, "Acme status", page)));
    let u = update(
        "closed",
        &HOSTILE.replace('<', "&lt;"),
        "",
        "resolved",
        json!({}),
    );
    out.push((
        "status-hostile-closed".into(),
        message(&u, "Acme status", None),
    ));
    out
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn http(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// Slack's documented Block Kit limits.
fn slack_valid(b: &Value) -> Result<(), String> {
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    check((1..=40_000).contains(&chars(&b["text"])), "text".into())?;
    let blocks = b["blocks"].as_array().ok_or("no blocks")?;
    check(
        !blocks.is_empty() && blocks.len() <= 50,
        format!("{} blocks", blocks.len()),
    )?;
    for (i, block) in blocks.iter().enumerate() {
        match block["type"].as_str() {
            Some("header") => {
                check(
                    block["text"]["type"] == "plain_text",
                    format!("{i}: header type"),
                )?;
                check(
                    (1..=150).contains(&chars(&block["text"]["text"])),
                    format!("{i}: header"),
                )?;
            }
            Some("section") => {
                if let Some(fields) = block["fields"].as_array() {
                    check((1..=10).contains(&fields.len()), format!("{i}: fields"))?;
                    for f in fields {
                        check(
                            (1..=2000).contains(&chars(&f["text"])),
                            format!("{i}: field {f}"),
                        )?;
                    }
                } else {
                    check(
                        (1..=3000).contains(&chars(&block["text"]["text"])),
                        format!("{i}: section"),
                    )?;
                }
            }
            Some("actions") => {
                let elements = block["elements"].as_array().ok_or("elements")?;
                check((1..=25).contains(&elements.len()), format!("{i}: elements"))?;
                for e in elements {
                    check(
                        (1..=75).contains(&chars(&e["text"]["text"])),
                        format!("{i}: button {e}"),
                    )?;
                    // A link button (an http(s) `url`, at most 3000), or one that acts
                    // through openmic's interactivity route (`action_id` at most 255,
                    // `value` at most 2000, as Block Kit's button element allows).
                    let link = http(&e["url"]) && chars(&e["url"]) <= 3000;
                    let action = e.get("url").is_none()
                        && (1..=255).contains(&chars(&e["action_id"]))
                        && chars(&e["value"]) <= 2000;
                    check(link || action, format!("{i}: url or action {e}"))?;
                }
            }
            Some("context") => {
                let elements = block["elements"].as_array().ok_or("elements")?;
                check((1..=10).contains(&elements.len()), format!("{i}: context"))?;
                for e in elements {
                    check(
                        (1..=3000).contains(&chars(&e["text"])),
                        format!("{i}: context {e}"),
                    )?;
                }
            }
            other => return Err(format!("{i}: a block of type {other:?}")),
        }
    }
    Ok(())
}

/// Mattermost's documented limits: a post's message 16,383 characters, an
/// attachment's fallback given, its links http(s).
fn mattermost_valid(b: &Value) -> Result<(), String> {
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
    check((1..=16_383).contains(&chars(&b["text"])), "text")?;
    let a = &b["attachments"][0];
    check(chars(&a["fallback"]) >= 1, "fallback")?;
    check(chars(&a["title"]) >= 1, "title")?;
    check(
        a.get("text").is_none() || (1..=16_383).contains(&chars(&a["text"])),
        "attachment text",
    )?;
    check(
        a.get("title_link").is_none() || http(&a["title_link"]),
        "title_link",
    )?;
    for f in a["fields"].as_array().ok_or("fields")? {
        check(chars(&f["title"]) >= 1 && chars(&f["value"]) >= 1, "field")?;
    }
    Ok(())
}

/// Google Chat's documented limits: `text` 4096 characters, a message 32,000 bytes,
/// 100 widgets a card, a button's text given and its link http(s).
fn googlechat_valid(b: &Value, bytes: usize) -> Result<(), String> {
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
    check((1..=4096).contains(&chars(&b["text"])), "text")?;
    check(bytes <= 32_000, "size")?;
    let card = &b["cardsV2"][0]["card"];
    check(chars(&card["header"]["title"]) >= 1, "header")?;
    let widgets = card["sections"][0]["widgets"].as_array().ok_or("widgets")?;
    check(widgets.len() <= 100, "widgets")?;
    for w in widgets {
        if let Some(buttons) = w["buttonList"]["buttons"].as_array() {
            for button in buttons {
                check((1..=40).contains(&chars(&button["text"])), "button text")?;
                check(http(&button["onClick"]["openLink"]["url"]), "button link")?;
            }
        }
        if let Some(t) = w.get("textParagraph") {
            check(chars(&t["text"]) >= 1, "paragraph")?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_body_is_valid_as_the_service_reads_it() {
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        browser.join("node_modules/adaptivecards").exists()
            && browser.join("node_modules/@discordjs/builders").exists(),
        "adaptivecards and @discordjs/builders are not installed: run scripts/test, which installs tests/browser's packages"
    );
    let dir = tempfile::tempdir().unwrap();
    let messages = messages();
    let kinds = [
        Kind::Slack,
        Kind::Teams,
        Kind::Mattermost,
        Kind::Discord,
        Kind::GoogleChat,
    ];
    for kind in kinds {
        std::fs::create_dir_all(dir.path().join(kind.as_str())).unwrap();
    }
    let mut problems = Vec::new();
    for (name, m) in &messages {
        let links = m.link.iter().chain(&m.buttons).count();
        for kind in kinds {
            let target = Target::webhook(kind, "https://hooks.example.com/x");
            let raw = chat::outgoing(&target, m).http().expect("HTTP").body;
            let b: Value = serde_json::from_slice(&raw).unwrap();
            let valid = match kind {
                Kind::Slack => slack_valid(&b),
                Kind::Mattermost => mattermost_valid(&b),
                Kind::GoogleChat => googlechat_valid(&b, raw.len()),
                // Teams' documented limit for a message is 28 KB; its library checks
                // the rest.
                Kind::Teams if raw.len() > 28 * 1024 => Err(format!("{} bytes", raw.len())),
                Kind::Teams => {
                    // No link lost: each is an action, a run that opens it, or its label.
                    let card = &b["attachments"][0]["content"];
                    let titles: Vec<&str> = card["actions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|a| a["title"].as_str())
                        .collect();
                    let text = card["body"].to_string();
                    let shown = m
                        .link
                        .iter()
                        .chain(&m.buttons)
                        .filter(|l| titles.contains(&l.label.as_str()) || text.contains(&l.label))
                        .count();
                    if shown == links {
                        Ok(())
                    } else {
                        Err(format!("{shown} of {links} links shown"))
                    }
                }
                _ => Ok(()),
            };
            if let Err(why) = valid {
                problems.push(format!("{}/{name}: {why}\n{b}", kind.as_str()));
            }
            std::fs::write(
                dir.path().join(kind.as_str()).join(format!("{name}.json")),
                &raw,
            )
            .unwrap();
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));

    // The Grafana alert's twelve links (its logs link among them): six actions and six
    // runs in Teams.
    let (_, g) = messages
        .iter()
        .find(|(n, _)| n == "grafana-all-links")
        .unwrap();
    assert_eq!(g.link.iter().chain(&g.buttons).count(), 12);
    let body = |kind, m: &Message| -> Value {
        let t = Target::webhook(kind, "https://hooks.example.com/x");
        serde_json::from_slice(&chat::outgoing(&t, m).http().expect("HTTP").body).unwrap()
    };
    let teams = body(Kind::Teams, g);
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["actions"].as_array().unwrap().len(), 6);
    let runs: Vec<&Value> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["inlines"].as_array().unwrap())
        .filter(|r| r.get("selectAction").is_some())
        .collect();
    assert_eq!(runs.len(), 6, "{card}");
    // Links whose target cannot be made safe are dropped, their labels kept as text.
    let (_, h) = messages
        .iter()
        .find(|(n, _)| n == "hostile-grafana")
        .unwrap();
    let slack = body(Kind::Slack, h);
    let blocks = slack["blocks"].as_array().unwrap();
    let context = blocks.iter().find(|b| b["type"] == "context").unwrap();
    assert_eq!(
        context["elements"][0]["text"],
        "Image · Panel · Grafana silence"
    );
    let discord = body(Kind::Discord, h);
    let description = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.ends_with(" · Image · Panel · Grafana silence"),
        "{description}"
    );
    assert!(!description.contains("javascript") && !description.contains("data:"));

    let out = tokio::process::Command::new("node")
        .arg(browser.join("chat-bodies.mjs"))
        .arg(dir.path())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the services' libraries refuse bodies:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = messages.len();
    assert!(
        stdout.contains(&format!("teams: {n} cards, discord: {n} embeds, 0 failed")),
        "{stdout}"
    );
}
