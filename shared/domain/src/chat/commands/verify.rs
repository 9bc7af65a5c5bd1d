//! Who sent a command: Slack's request signature (v0), Mattermost's command token.
//!
//! Slack signs every request to an app (slash commands, interactivity) as it documents
//! in "Verifying requests from Slack": the base string `v0:{X-Slack-Request-Timestamp}:
//! {raw body}`, HMAC-SHA256 with the app's signing secret (`SLACK_SIGNING_SECRET`),
//! hex, sent as `X-Slack-Signature: v0=<hex>`. A request whose timestamp is more than
//! five minutes from now, before or after, is refused whatever its signature: a
//! captured request replayed later proves nothing. The MAC is the project's one
//! HMAC ([`TokenSigner`]), compared in constant time.
//!
//! Mattermost sends the command's token in the form (`token`); it is compared in
//! constant time with `MATTERMOST_COMMAND_TOKEN` (during a rotation, `new,previous`).
//!
//! Nothing here names the secret, the token presented or the signature in an error.

use crate::config::{Accepted, Secret};
use crate::signing::{SIGNATURE_TOLERANCE_SECS, TokenSigner};

/// The header with the request's Unix time.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// The header with the request's signature.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";

/// Why a request is not taken as Slack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlackVerifyError {
    #[error("the request has no {0} header")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error(
        "the request's timestamp is more than five minutes from now (a replay, or a clock far off)"
    )]
    Stale,
    #[error("the request's signature is not the signing secret's over its timestamp and body")]
    BadSignature,
}

/// Unix seconds as Slack writes them: ASCII digits only (no sign, no blanks), at
/// most what an `i64` holds.
fn unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `v0=<hex of 32 bytes>` (a signature of another version is not one we read).
fn v0_tag(header: &str) -> Option<[u8; 32]> {
    let hex_text = header.strip_prefix("v0=")?;
    let mut tag = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut tag).ok()?;
    Some(tag)
}

/// The MAC of one request (`v0:{timestamp}:{body}`).
fn mac(secret: &Secret, timestamp: &str, body: &[u8]) -> [u8; 32] {
    TokenSigner::new(secret.expose().as_bytes()).mac(&[b"v0:", timestamp.as_bytes(), b":", body])
}

/// `v0=<hex>` for a request at `timestamp` with `body`, as Slack signs it (for a
/// stand-in of Slack, and tests).
pub fn sign_slack(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, &timestamp.to_string(), body))
    )
}

/// Checks a request's `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers
/// against its raw `body`, `now` in Unix seconds. The timestamp is judged before the
/// signature: a replay is refused as stale whatever it carries.
pub fn verify_slack(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SlackVerifyError> {
    let ts_text = timestamp.ok_or(SlackVerifyError::MissingHeader(TIMESTAMP_HEADER))?;
    let ts = unix_seconds(ts_text).ok_or(SlackVerifyError::Malformed(TIMESTAMP_HEADER))?;
    // `abs_diff`: a timestamp far in the past or future is stale, never an overflow.
    if now.abs_diff(ts) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SlackVerifyError::Stale);
    }
    let signature = signature.ok_or(SlackVerifyError::MissingHeader(SIGNATURE_HEADER))?;
    let tag = v0_tag(signature).ok_or(SlackVerifyError::Malformed(SIGNATURE_HEADER))?;
    let signer = TokenSigner::new(secret.expose().as_bytes());
    if signer.verify(&[b"v0:", ts_text.as_bytes(), b":", body], &tag) {
        Ok(())
    } else {
        Err(SlackVerifyError::BadSignature)
    }
}

/// Why a request is not taken as Mattermost's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MattermostTokenError {
    #[error("the request has no command token")]
    Missing,
    #[error("the request's command token is not this command's")]
    Wrong,
}

/// Checks the `token` a Mattermost command request carries against
/// `MATTERMOST_COMMAND_TOKEN`, in constant time.
pub fn verify_mattermost(
    expected: &Accepted,
    presented: Option<&str>,
) -> Result<(), MattermostTokenError> {
    let presented = presented
        .filter(|t| !t.is_empty())
        .ok_or(MattermostTokenError::Missing)?;
    if expected.matches(presented.as_bytes()) {
        Ok(())
    } else {
        Err(MattermostTokenError::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's worked example in "Verifying requests from Slack"
    /// (api.slack.com/authentication/verifying-requests-from-slack): its signing
    /// secret, timestamp, body and the signature it gives.
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const AT: i64 = 1_531_420_618;

    fn check(
        ts: Option<&str>,
        sig: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<(), SlackVerifyError> {
        verify_slack(&Secret::new(SLACK_SECRET), ts, sig, body.as_bytes(), now)
    }

    #[test]
    fn slacks_documented_example_verifies_and_signs_the_same() {
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIG), SLACK_BODY, AT),
            Ok(())
        );
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIG), SLACK_BODY, AT + 300),
            Ok(())
        );
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIG), SLACK_BODY, AT - 300),
            Ok(())
        );
        assert_eq!(
            sign_slack(&Secret::new(SLACK_SECRET), AT, SLACK_BODY.as_bytes()),
            SLACK_SIG
        );
    }

    #[test]
    fn a_replay_six_minutes_later_or_earlier_is_stale() {
        for now in [AT + 360, AT - 360, AT + 301, i64::MAX, i64::MIN] {
            assert_eq!(
                check(Some(SLACK_TS), Some(SLACK_SIG), SLACK_BODY, now),
                Err(SlackVerifyError::Stale),
                "{now}"
            );
        }
        // Stale whatever the signature: the timestamp is judged first.
        assert_eq!(
            check(Some(SLACK_TS), Some("v0=00"), SLACK_BODY, AT + 360),
            Err(SlackVerifyError::Stale)
        );
    }

    #[test]
    fn a_changed_body_timestamp_secret_or_signature_is_refused() {
        let changed_body = SLACK_BODY.replace("text=", "text=declare");
        assert_eq!(
            check(Some(SLACK_TS), Some(SLACK_SIG), &changed_body, AT),
            Err(SlackVerifyError::BadSignature)
        );
        assert_eq!(
            check(Some("1531420619"), Some(SLACK_SIG), SLACK_BODY, AT),
            Err(SlackVerifyError::BadSignature)
        );
        assert_eq!(
            verify_slack(
                &Secret::new("other"),
                Some(SLACK_TS),
                Some(SLACK_SIG),
                SLACK_BODY.as_bytes(),
                AT
            ),
            Err(SlackVerifyError::BadSignature)
        );
        let flipped = SLACK_SIG.replace("a2114d", "a2114e");
        assert_eq!(
            check(Some(SLACK_TS), Some(&flipped), SLACK_BODY, AT),
            Err(SlackVerifyError::BadSignature)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        assert_eq!(
            check(None, Some(SLACK_SIG), SLACK_BODY, AT),
            Err(SlackVerifyError::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            check(Some(SLACK_TS), None, SLACK_BODY, AT),
            Err(SlackVerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for ts in [
            "",
            " 1531420618",
            "+1531420618",
            "-1",
            "1531420618.5",
            "99999999999999999999",
            "١٥",
        ] {
            assert_eq!(
                check(Some(ts), Some(SLACK_SIG), SLACK_BODY, AT),
                Err(SlackVerifyError::Malformed(TIMESTAMP_HEADER)),
                "{ts:?}"
            );
        }
        let short = &SLACK_SIG[..SLACK_SIG.len() - 2];
        let v1 = SLACK_SIG.replace("v0=", "v1=");
        let upper_prefix = SLACK_SIG.replace("v0=", "V0=");
        let not_hex = SLACK_SIG.replace('a', "g");
        for sig in ["", "v0=", short, &v1, &upper_prefix, &not_hex, "v0=é"] {
            assert_eq!(
                check(Some(SLACK_TS), Some(sig), SLACK_BODY, AT),
                Err(SlackVerifyError::Malformed(SIGNATURE_HEADER)),
                "{sig:?}"
            );
        }
        // No error names the secret or what was presented.
        let e = check(Some(SLACK_TS), Some(&flip(SLACK_SIG)), SLACK_BODY, AT).unwrap_err();
        assert!(!e.to_string().contains(SLACK_SECRET) && !e.to_string().contains("a2114d"));
    }

    fn flip(sig: &str) -> String {
        sig.replace("b503", "b504")
    }

    #[test]
    fn mattermost_tokens_are_compared_whole_with_current_and_previous() {
        let accepted = Accepted::parse(
            "MATTERMOST_COMMAND_TOKEN",
            "xr3j5x3p4pfk7kk6ck7b4e6ghh,oldtoken",
        )
        .unwrap();
        assert_eq!(
            verify_mattermost(&accepted, Some("xr3j5x3p4pfk7kk6ck7b4e6ghh")),
            Ok(())
        );
        assert_eq!(verify_mattermost(&accepted, Some("oldtoken")), Ok(()));
        for wrong in [
            "xr3j5x3p4pfk7kk6ck7b4e6gh",
            "xr3j5x3p4pfk7kk6ck7b4e6ghh ",
            "XR3J5X3P4PFK7KK6CK7B4E6GHH",
        ] {
            assert_eq!(
                verify_mattermost(&accepted, Some(wrong)),
                Err(MattermostTokenError::Wrong),
                "{wrong}"
            );
        }
        assert_eq!(
            verify_mattermost(&accepted, None),
            Err(MattermostTokenError::Missing)
        );
        assert_eq!(
            verify_mattermost(&accepted, Some("")),
            Err(MattermostTokenError::Missing)
        );
    }
}
