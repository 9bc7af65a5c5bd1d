//! The replies to a command, as Slack and Mattermost take them in the response to the
//! command (or posted to its `response_url`): `{"response_type", "text"}`, where
//! `ephemeral` shows the reply to whoever typed the command alone and `in_channel`
//! to the channel.
//!
//! Every text is escaped for the service by its chat rule: Slack's mrkdwn (`&`, `<`,
//! `>` as entities, so no `<!channel>`, `<@U…>` or `<url|label>` forms), with a word
//! joiner after each `@` so no `@channel`, `@here` or `@everyone` is read either;
//! Mattermost's markdown (punctuation backslash-escaped, a word joiner after `@`).
//! Text is cut whole at Slack's section limit.

use serde_json::{Value, json};

use super::Platform;
use super::grammar::{Problem, USAGE};
use crate::chat::mattermost::markdown;
use crate::chat::slack::mrkdwn;
use crate::chat::text::{Lines, Units, WORD_JOINER, escaped};

/// Who sees a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Whoever typed the command, alone.
    Ephemeral,
    /// The channel.
    InChannel,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Ephemeral => "ephemeral",
            Visibility::InChannel => "in_channel",
        }
    }
}

/// The longest reply text (Slack's limit on a section's text; Mattermost's posts
/// take more).
const MAX_TEXT: usize = 3000;

/// `text` escaped for `platform`.
pub fn escape(platform: Platform, text: &str) -> String {
    match platform {
        Platform::Slack => escaped(text, Lines::Many, MAX_TEXT, Units::Chars, |c, out| {
            mrkdwn(c, out);
            if c == '@' {
                out.push(WORD_JOINER);
            }
        }),
        Platform::Mattermost => escaped(text, Lines::Many, MAX_TEXT, Units::Chars, markdown),
    }
}

/// A reply of plain `text` (escaped here) for `platform`.
pub fn reply(platform: Platform, visibility: Visibility, text: &str) -> Value {
    json!({
        "response_type": visibility.as_str(),
        "text": escape(platform, text),
    })
}

/// The list of commands, one a line.
pub fn usage() -> String {
    let mut out = String::from("Commands of /incident:");
    for (form, what) in USAGE {
        out.push_str("\n  ");
        out.push_str(form);
        out.push_str(" : ");
        out.push_str(what);
    }
    out
}

/// The reply to `help`: the commands, to whoever asked.
pub fn help(platform: Platform) -> Value {
    reply(platform, Visibility::Ephemeral, &usage())
}

/// The reply to a command that could not be read: what is wrong, and (for an unknown
/// command) the commands; to whoever typed it.
pub fn problem(platform: Platform, problem: &Problem) -> Value {
    let text = match problem {
        Problem::Unknown(_) => format!("{problem}.\n{}", usage()),
        _ => format!("{problem}."),
    };
    reply(platform, Visibility::Ephemeral, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_ephemeral_or_in_channel() {
        let r = reply(Platform::Slack, Visibility::Ephemeral, "Declared #12");
        assert_eq!(
            r,
            json!({"response_type": "ephemeral", "text": "Declared #12"})
        );
        let r = reply(Platform::Mattermost, Visibility::InChannel, "ok");
        assert_eq!(r["response_type"], "in_channel");
    }

    #[test]
    fn slack_text_can_form_no_mention_or_link() {
        let hostile = "<!channel> @channel @here <@U123> <https://evil.example|bank> a&b";
        let text = reply(Platform::Slack, Visibility::InChannel, hostile)["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            text.contains("&lt;!channel&gt;") && text.contains("a&amp;b"),
            "{text}"
        );
        for word in ["@channel", "@here", "@U123"] {
            assert!(!text.contains(word), "{word} in {text}");
        }
        assert!(text.contains("@\u{2060}channel"));
    }

    #[test]
    fn mattermost_text_can_form_no_mention_or_markup() {
        let text = reply(
            Platform::Mattermost,
            Visibility::InChannel,
            "@all [x](https://e.example) **b**",
        )["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            !text.contains("@all") && text.contains("\\[x\\]") && text.contains("\\*\\*b"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_command_lists_the_commands_and_text_is_cut() {
        let p = Problem::Unknown("launch".into());
        let text = problem(Platform::Slack, &p)["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.starts_with("`launch` is not a command."), "{text}");
        for (form, _) in USAGE {
            let name = form.split(' ').next().unwrap();
            assert!(
                text.contains(&format!("  {name}")),
                "{name} missing from {text}"
            );
        }
        let other = problem(Platform::Slack, &Problem::BadUrl)["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!other.contains("declare"), "{other}");
        let long = reply(Platform::Slack, Visibility::Ephemeral, &"&".repeat(5000));
        let t = long["text"].as_str().unwrap();
        assert!(t.chars().count() <= MAX_TEXT && t.ends_with('…'));
        assert_eq!(help(Platform::Mattermost)["response_type"], "ephemeral");
    }
}
