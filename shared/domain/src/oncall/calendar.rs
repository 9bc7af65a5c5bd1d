//! `GET /oncall/<person>.ics?token=`: a person's shifts over the next 90 days as an
//! iCalendar feed ([`super::ics`]), from the on-call file in use.
//!
//! The token is the person's own, signed with `ALERT_LINK_SECRET` under a context of
//! its own (nothing signed for another use passes for it), over the person's name and
//! their `calendar` word in the file: changing that word revokes every link made
//! before. It never expires, as calendar apps keep one address. A GET only reads.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::StatusCode;

use super::file::Person;
use super::schedule::{FEED_DAYS, shifts};
use crate::config::Config;
use crate::ports::ObjectStore;
use crate::reply::Reply;
use crate::signing::TokenSigner;
use crate::time::Timestamp;

/// What the MAC covers before the person.
const CONTEXT: &[u8] = b"openmic on-call calendar v1\n";

/// The route, with the file's name (`<person>.ics`) after it.
pub const ROUTE_PREFIX: &str = "/oncall/";

/// The calendar links: making their tokens, and serving the feeds.
pub struct Calendar {
    key: Option<TokenSigner>,
    state: Arc<dyn ObjectStore>,
}

impl Calendar {
    /// Links signed with `ALERT_LINK_SECRET`; without it every link is refused.
    pub fn new(config: &Config, state: Arc<dyn ObjectStore>) -> Calendar {
        Calendar {
            key: config
                .alert_routing
                .link_secret
                .as_ref()
                .map(|s| TokenSigner::new(s.expose().as_bytes())),
            state,
        }
    }

    fn mac(key: &TokenSigner, person: &Person) -> [u8; 32] {
        let word = person.calendar.as_deref().unwrap_or("");
        key.mac(&[
            CONTEXT,
            &(person.name.len() as u64).to_be_bytes(),
            person.name.as_bytes(),
            word.as_bytes(),
        ])
    }

    /// The token of `person`'s link.
    pub fn token(&self, person: &Person) -> Option<String> {
        self.key.as_ref().map(|k| B64.encode(Self::mac(k, person)))
    }

    /// `<base>/oncall/<person>.ics?token=…`.
    pub fn link(&self, base: &str, person: &Person) -> Option<String> {
        Some(link_with(self.key.as_ref()?, base, person))
    }

    /// The feed of `file_name` (`<person>.ics`, decoded) for `token` at `now`: 404 for
    /// no such person (or no on-call file), 403 for a token that is not the person's.
    pub async fn feed(&self, file_name: &str, token: Option<&str>, now: Timestamp) -> Reply {
        let Some(name) = file_name.strip_suffix(".ics") else {
            return Reply::error(StatusCode::NOT_FOUND, "a calendar is <person>.ics");
        };
        let file = match super::keeper::in_use(self.state.as_ref()).await {
            Ok(file) => file,
            Err(e) => {
                return Reply::failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the on-call file cannot be read now; try again",
                    &e,
                );
            }
        };
        let Some(file) = file else {
            return Reply::error(StatusCode::NOT_FOUND, "there is no on-call file");
        };
        let Some(key) = &self.key else {
            return Reply::error(StatusCode::NOT_FOUND, "calendar links are off");
        };
        // An unknown person and a wrong token answer alike: a link names no one else.
        let granted = file.person(name).filter(|p| {
            token
                .and_then(|t| B64.decode(t.trim()).ok())
                .is_some_and(|tag| {
                    key.verify(
                        &[
                            CONTEXT,
                            &(p.name.len() as u64).to_be_bytes(),
                            p.name.as_bytes(),
                            p.calendar.as_deref().unwrap_or("").as_bytes(),
                        ],
                        &tag,
                    )
                })
        });
        let Some(person) = granted else {
            return Reply::error(
                StatusCode::FORBIDDEN,
                "this calendar link is not valid (revoked, or altered)",
            );
        };
        let to = now + chrono::Duration::days(FEED_DAYS);
        let body = super::ics::calendar(&person.name, &shifts(&file, &person.name, now, to), now);
        Reply {
            content_type: "text/calendar; charset=utf-8",
            body,
            ..Reply::html(StatusCode::OK, String::new())
        }
        .with_header("cache-control", "private, max-age=300")
        .with_header("referrer-policy", "no-referrer")
    }
}

/// `person`'s link under `base`, signed with `secret` (`ALERT_LINK_SECRET`).
pub fn link(secret: &str, base: &str, person: &Person) -> String {
    link_with(&TokenSigner::new(secret.as_bytes()), base, person)
}

fn link_with(key: &TokenSigner, base: &str, person: &Person) -> String {
    let token = B64.encode(Calendar::mac(key, person));
    let name: String = url::form_urlencoded::byte_serialize(person.name.as_bytes()).collect();
    format!(
        "{}{ROUTE_PREFIX}{}.ics?token={token}",
        base.trim_end_matches('/'),
        name.replace('+', "%20")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::oncall::file::OnCall;
    use crate::oncall::keeper::{FILE_KEY, Kept};
    use crate::ports::PutOptions;

    const FILE: &str = "people:\n  alice: {email: alice@example.com, calendar: one}\n  bob: {email: bob@example.com}\nschedules:\n  primary:\n    time_zone: UTC\n    layers:\n      - {participants: [alice, bob], rotation: 1w, handoff: \"2026-12-07T09:00\"}\n";

    async fn calendar(text: &str) -> Calendar {
        let state = Arc::new(MemoryStore::new());
        let kept = Kept {
            source: "oncall.yaml".into(),
            text: text.into(),
            at: crate::time::parse("2026-12-07T00:00:00Z").unwrap(),
        };
        state
            .put(
                FILE_KEY,
                serde_json::to_vec(&kept).unwrap().into(),
                PutOptions::private_json(),
            )
            .await
            .unwrap();
        let config = Config::from_lookup(|n| {
            (n == "ALERT_LINK_SECRET").then(|| "calendar-test-secret-0123".to_owned())
        })
        .unwrap();
        Calendar::new(&config, state)
    }

    #[tokio::test]
    async fn the_persons_own_token_and_no_other_and_a_new_word_revokes_it() {
        let now = crate::time::parse("2026-12-07T10:00:00Z").unwrap();
        let cal = calendar(FILE).await;
        let file = OnCall::parse(FILE).unwrap();
        let alice = file.person("alice").unwrap();
        let bob = file.person("bob").unwrap();
        let link = cal.link("https://api.example.com/", alice).unwrap();
        assert!(
            link.starts_with("https://api.example.com/oncall/alice.ics?token="),
            "{link}"
        );
        let token = cal.token(alice).unwrap();
        assert!(link.ends_with(&token));
        assert_eq!(
            super::link(
                "calendar-test-secret-0123",
                "https://api.example.com",
                alice
            ),
            link
        );
        let ok = cal.feed("alice.ics", Some(&token), now).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert!(ok.content_type.starts_with("text/calendar"));
        assert!(ok.body.contains("SUMMARY:On call: primary"), "{}", ok.body);
        // Alice's token is not Bob's; no token, a forged one, a missing person.
        let bob_token = cal.token(bob).unwrap();
        assert_ne!(bob_token, token);
        for (name, t) in [
            ("bob.ics", Some(token.as_str())),
            ("alice.ics", None),
            ("alice.ics", Some("AAAA")),
            ("mallory.ics", Some(token.as_str())),
        ] {
            assert_eq!(
                cal.feed(name, t, now).await.status,
                StatusCode::FORBIDDEN,
                "{name}"
            );
        }
        assert_eq!(
            cal.feed("alice", Some(&token), now).await.status,
            StatusCode::NOT_FOUND
        );
        // A new word in the file revokes the links made before.
        let revoked = calendar(&FILE.replace("calendar: one", "calendar: two")).await;
        assert_eq!(
            revoked.feed("alice.ics", Some(&token), now).await.status,
            StatusCode::FORBIDDEN
        );
    }
}
