//! The `chat_command` fuzz target's check, shared with the corpus replay in
//! tests/tests/fuzz_regressions.rs: what a chat user types after `/incident`, and the
//! bodies and headers a stranger may send to the chat routes.
//!
//! - `Command::parse` and `Command::parse_slack` give a command or a named problem,
//!   never a panic; a command read holds what its form promises (a title of 1 to 255
//!   characters, components without commas, an iid above zero, a text, an http(s)
//!   call link), and a `declare` or `bridge` written back in its canonical form reads
//!   back to the same command;
//! - the replies to any text carry no Slack markup or mention (`<`, `>`, `@channel`)
//!   and no Mattermost mention;
//! - the forms, Slack's button presses, `CHAT_USERS`, `INCIDENT_SLA`, a `Bridge:`
//!   description and Slack's signature headers give a value or an error, never a
//!   panic; a body signed as Slack signs it verifies, and the same body altered does
//!   not.

use openmic::chat::commands::grammar::{Command, Problem};
use openmic::chat::commands::reply::{self, Visibility};
use openmic::chat::commands::{
    BlockActions, ChatUsers, Platform, SlaTargets, SlashCommand, bridge, sign_slack, verify_slack,
};
use openmic::config::Secret;

fn http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn command_holds(text: &str, parsed: &Result<Command, Problem>) {
    match parsed {
        Ok(Command::Declare {
            title,
            severity,
            components,
        }) => {
            let n = title.chars().count();
            assert!((1..=255).contains(&n), "{text:?}: title of {n} characters");
            for c in components {
                assert!(
                    !c.is_empty() && !c.contains(','),
                    "{text:?}: component {c:?}"
                );
            }
            if !title.contains('"') && title.trim() == title {
                let sev = match severity {
                    Some(s) => match s.as_str() {
                        "critical" => " sev1",
                        "high" => " sev2",
                        "medium" => " sev3",
                        _ => " sev4",
                    },
                    None => "",
                };
                // A component written back bare must read as one: no blanks, no
                // opening quote, and no severity word where a severity may stand.
                let bare = components.iter().all(|c| {
                    !c.contains(char::is_whitespace)
                        && !c.starts_with(['"', '\u{201c}', '\u{201e}'])
                });
                let first_reads_as_severity = severity.is_none()
                    && components.first().is_some_and(|c| {
                        matches!(
                            c.to_ascii_lowercase().as_str(),
                            "sev1" | "sev2" | "sev3" | "sev4"
                        )
                    });
                let canonical = if bare && !first_reads_as_severity {
                    Some(format!("declare \"{title}\"{sev} {}", components.join(" ")))
                } else {
                    None
                };
                if let Some(canonical) = canonical {
                    assert_eq!(
                        Command::parse(&canonical).as_ref(),
                        parsed.as_ref(),
                        "{text:?}: its canonical form {canonical:?} reads otherwise"
                    );
                }
            }
        }
        Ok(Command::Bridge { iid, url }) => {
            assert!(*iid > 0, "{text:?}");
            assert!(http(url), "{text:?}: call link {url:?}");
            let canonical = format!("bridge {iid} {url}");
            assert_eq!(
                Command::parse(&canonical).as_ref(),
                parsed.as_ref(),
                "{text:?}: {canonical:?}"
            );
        }
        Ok(Command::Update {
            iid, text: note, ..
        }) => {
            assert!(*iid > 0 && !note.trim().is_empty(), "{text:?}");
        }
        Ok(Command::Resolve { iid }) => assert!(*iid > 0, "{text:?}"),
        Ok(Command::Page { target, text: note }) => {
            assert!(!target.is_empty() && !note.trim().is_empty(), "{text:?}");
        }
        Ok(Command::Ack { alert }) => assert!(!alert.is_empty(), "{text:?}"),
        Ok(Command::List | Command::Help) => {}
        Err(p) => {
            assert!(
                !p.to_string().is_empty(),
                "{text:?}: a problem without words"
            );
            for platform in [Platform::Slack, Platform::Mattermost] {
                let body = reply::problem(platform, p);
                assert_eq!(body["response_type"], "ephemeral", "{text:?}");
            }
        }
    }
}

fn reply_is_inert(text: &str) {
    let slack = reply::reply(Platform::Slack, Visibility::InChannel, text);
    let s = slack["text"].as_str().expect("a text");
    assert!(!s.contains(['<', '>']), "{text:?}: Slack markup in {s:?}");
    for mention in ["@channel", "@here", "@everyone"] {
        assert!(!s.contains(mention), "{text:?}: {mention} in {s:?}");
    }
    let mm = reply::reply(Platform::Mattermost, Visibility::InChannel, text);
    let m = mm["text"].as_str().expect("a text");
    let mut chars = m.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@' {
            assert_eq!(
                chars.peek(),
                Some(&'\u{2060}'),
                "{text:?}: a mention in {m:?}"
            );
        }
    }
}

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    command_holds(&text, &Command::parse(&text));
    command_holds(&text, &Command::parse_slack(&text));
    reply_is_inert(&text);

    let _ = SlashCommand::parse(Platform::Slack, data);
    let _ = SlashCommand::parse(Platform::Mattermost, data);
    let _ = BlockActions::parse(data);
    let _ = ChatUsers::parse(&text);
    let _ = SlaTargets::parse(&text);
    if let Some(url) = bridge::from_description(&text) {
        assert!(http(&url), "{text:?}: call link {url:?}");
    }

    let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
    let now = 1_700_000_000;
    let signature = sign_slack(&secret, now, data);
    assert_eq!(
        verify_slack(&secret, Some(&now.to_string()), Some(&signature), data, now),
        Ok(()),
        "{text:?}: its own signature"
    );
    let mut altered = data.to_vec();
    altered.push(b'x');
    assert!(
        verify_slack(
            &secret,
            Some(&now.to_string()),
            Some(&signature),
            &altered,
            now
        )
        .is_err(),
        "{text:?}: an altered body verifies"
    );
    // The input as the headers.
    let (ts, sig) = text.split_once('\n').unwrap_or((&text, &text));
    let _ = verify_slack(&secret, Some(ts), Some(sig), data, now);
}
