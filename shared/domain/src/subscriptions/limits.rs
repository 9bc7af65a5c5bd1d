//! The limits on subscribe requests and confirmation mails, as documents in the state
//! bucket under `subscriber-limits/` (expired after a day), changed with conditional
//! writes; no address is stored, only keyed hashes:
//!
//! - per source and hour (`subscriber-limits/<hour>/<keyed hash>.json`): requests
//!   taken from one source, an IPv4 address or an IPv6 /64 (what one host is given:
//!   counting its addresses one by one would never end);
//! - per mailbox (`subscriber-limits/mailboxes/<keyed hash>.json`): when a
//!   confirmation last went to it, so it gets at most one an hour however its address
//!   is written ([`super::address::mailbox`]);
//! - per hour, whoever asks (`subscriber-limits/<hour>/confirmations.json`): the
//!   confirmation mails sent, at most `SUBSCRIBE_MAX_PER_HOUR`.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::address;
use super::subscriber::CONFIRMATION_INTERVAL;
use super::token::TokenKey;
use crate::document;
use crate::errors::ProcessError;
use crate::ports::ObjectStore;
use crate::time::Timestamp;

pub const PREFIX: &str = "subscriber-limits/";
const MAILBOXES: &str = "subscriber-limits/mailboxes/";
/// Subscribe requests taken from one source in an hour.
pub const PER_SOURCE_PER_HOUR: u32 = 20;
/// How long the limits' documents matter: they are removed after this (on AWS by the
/// state bucket's lifecycle rule, locally by the tick's sweep).
pub const KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counter {
    requests: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Mails {
    sent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Mailbox {
    /// The issue time of the last confirmation mailed to it.
    last: Timestamp,
    /// Which address it went to (a keyed hash): a request handled again is known by
    /// its address and time, another address of the mailbox in the same second is
    /// not it.
    to: String,
}

fn hour(now: Timestamp) -> String {
    now.format("%Y%m%d%H").to_string()
}

/// What a source is counted as: an IPv4 address as it is (an IPv4-mapped IPv6 address
/// as its IPv4 one), an IPv6 address by its /64; anything else as given.
pub fn source(given: &str) -> String {
    let given = given.trim();
    match given.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        Err(_) => given.to_owned(),
    }
}

/// The counter's key for a source in the hour of `now`.
pub fn key(key: &TokenKey, source: &str, now: Timestamp) -> String {
    format!(
        "{PREFIX}{}/{}.json",
        hour(now),
        key.keyed_hash("source", source)
    )
}

/// The key of the hour's count of confirmation mails.
pub fn mails_key(now: Timestamp) -> String {
    format!("{PREFIX}{}/confirmations.json", hour(now))
}

/// The key of a mailbox's last confirmation.
pub fn mailbox_key(key: &TokenKey, address: &str) -> String {
    format!(
        "{MAILBOXES}{}.json",
        key.keyed_hash("mailbox", &address::mailbox(address))
    )
}

/// Counts a request from `source` (none: where it came from is unknown, counted
/// together) by its [`source`]; whether it is within the cap.
pub async fn take(
    state: &dyn ObjectStore,
    token_key: &TokenKey,
    given: Option<&str>,
    now: Timestamp,
) -> Result<bool, ProcessError> {
    let key = key(token_key, &source(given.unwrap_or("unknown")), now);
    let mut within = false;
    document::update(state, &key, |old: Option<Counter>| {
        let n = old.map_or(0, |c| c.requests);
        within = n < PER_SOURCE_PER_HOUR;
        // Past the cap the counter stays as it is: nothing to write.
        Some(Counter {
            requests: n + u32::from(within),
        })
    })
    .await?;
    Ok(within)
}

/// Whether the hour of `now` has mailed `max` confirmations already.
pub async fn mails_spent(
    state: &dyn ObjectStore,
    now: Timestamp,
    max: u32,
) -> Result<bool, ProcessError> {
    let sent = document::read::<Mails>(state, &mails_key(now))
        .await?
        .map_or(0, |(m, _)| m.sent);
    Ok(sent >= max)
}

/// Counts a confirmation mail in the hour of `now`; whether it is within `max`.
pub async fn take_mail(
    state: &dyn ObjectStore,
    now: Timestamp,
    max: u32,
) -> Result<bool, ProcessError> {
    let mut within = false;
    document::update(state, &mails_key(now), |old: Option<Mails>| {
        let n = old.map_or(0, |m| m.sent);
        within = n < max;
        Some(Mails {
            sent: n + u32::from(within),
        })
    })
    .await?;
    Ok(within)
}

/// What claiming a mailbox for a confirmation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Claimed for the request issued then; `previous` is what to put back if its
    /// mail is not sent after all ([`release_mailbox`]).
    Claimed { previous: Option<Previous> },
    /// This very request claimed it before (a message handled again).
    Ours,
    /// A confirmation went to the mailbox less than an hour before (or a later
    /// request's did).
    TooSoon,
}

/// Claims `address`'s mailbox for the confirmation of a request issued at `issued`:
/// at most one an hour.
pub async fn claim_mailbox(
    state: &dyn ObjectStore,
    token_key: &TokenKey,
    address: &str,
    issued: Timestamp,
) -> Result<Claim, ProcessError> {
    let to = token_key.keyed_hash("address", &address.trim().to_lowercase());
    let mut claim = Claim::TooSoon;
    document::update(
        state,
        &mailbox_key(token_key, address),
        |old: Option<Mailbox>| {
            claim = match &old {
                Some(m) if m.last == issued && m.to == to => Claim::Ours,
                Some(m) if issued - m.last < CONFIRMATION_INTERVAL => Claim::TooSoon,
                _ => Claim::Claimed {
                    previous: old.clone().map(Previous),
                },
            };
            match claim {
                Claim::Claimed { .. } => Some(Mailbox {
                    last: issued,
                    to: to.clone(),
                }),
                _ => old,
            }
        },
    )
    .await?;
    Ok(claim)
}

/// A mailbox's claim before it was claimed anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous(Mailbox);

/// Puts a mailbox's claim back as it was, when its mail was not sent.
pub async fn release_mailbox(
    state: &dyn ObjectStore,
    token_key: &TokenKey,
    address: &str,
    issued: Timestamp,
    previous: Option<Previous>,
) -> Result<(), ProcessError> {
    let key = mailbox_key(token_key, address);
    let to = token_key.keyed_hash("address", &address.trim().to_lowercase());
    let mut gone = false;
    document::update(state, &key, |old: Option<Mailbox>| match old {
        Some(m) if m.last == issued && m.to == to => match &previous {
            Some(Previous(before)) => Some(before.clone()),
            None => {
                gone = true;
                Some(m)
            }
        },
        other => other,
    })
    .await?;
    if gone {
        state.delete(&key).await?;
    }
    Ok(())
}

/// Removes the limits' documents older than [`KEPT`] (what the state bucket's
/// lifecycle rule does on AWS); how many.
pub async fn sweep(state: &dyn ObjectStore, now: Timestamp) -> Result<usize, ProcessError> {
    let oldest = hour(now - KEPT);
    let mut removed = 0;
    for key in state.list(PREFIX).await? {
        let old = match key.strip_prefix(PREFIX).and_then(|k| k.split_once('/')) {
            Some(("mailboxes", _)) => document::read::<Mailbox>(state, &key)
                .await
                .map_or(true, |m| m.is_none_or(|(m, _)| now - m.last > KEPT)),
            // Hours as digits sort as they come.
            Some((h, _)) => h < oldest.as_str(),
            None => false,
        };
        if old {
            state.delete(&key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::memory::MemoryStore;

    fn at(s: &str) -> Timestamp {
        crate::time::parse(s).unwrap()
    }

    #[test]
    fn a_source_is_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(source("192.0.2.7"), "192.0.2.7");
        assert_eq!(source(" ::ffff:192.0.2.7 "), "192.0.2.7");
        for one_host in [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:0db8:0001:0002:1234:5678:9abc:def0",
        ] {
            assert_eq!(source(one_host), "2001:db8:1:2::/64", "{one_host}");
        }
        assert_eq!(source("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(source("not an address"), "not an address");
    }

    #[tokio::test]
    async fn twenty_requests_an_hour_from_one_64() {
        let state = MemoryStore::new();
        let k = TokenKey::new(&Secret::new("0123456789abcdef0123456789abcdef"));
        let now = at("2026-12-01T10:00:00Z");
        for i in 0..PER_SOURCE_PER_HOUR {
            let ip = format!("2001:db8:7:7:{i:x}::{i:x}");
            assert!(take(&state, &k, Some(&ip), now).await.unwrap(), "{ip}");
        }
        assert!(
            !take(&state, &k, Some("2001:db8:7:7:dead::beef"), now)
                .await
                .unwrap()
        );
        assert!(
            take(&state, &k, Some("2001:db8:7:8::1"), now)
                .await
                .unwrap(),
            "the next /64"
        );
        let next_hour = now + chrono::TimeDelta::hours(1);
        assert!(
            take(&state, &k, Some("2001:db8:7:7::1"), next_hour)
                .await
                .unwrap()
        );
        for key in state.keys() {
            assert!(!key.contains("2001") && !key.contains("db8"), "{key}");
        }
    }

    #[tokio::test]
    async fn one_confirmation_an_hour_per_mailbox_and_a_cap_per_hour() {
        let state = MemoryStore::new();
        let k = TokenKey::new(&Secret::new("0123456789abcdef0123456789abcdef"));
        let t0 = at("2026-12-01T10:00:00Z");
        let claimed = claim_mailbox(&state, &k, "victim+1@example.com", t0)
            .await
            .unwrap();
        assert_eq!(claimed, Claim::Claimed { previous: None });
        assert_eq!(
            claim_mailbox(&state, &k, "victim+1@example.com", t0)
                .await
                .unwrap(),
            Claim::Ours
        );
        // Another address of the mailbox in the same second is not the same request.
        assert_eq!(
            claim_mailbox(&state, &k, "victim+2@example.com", t0)
                .await
                .unwrap(),
            Claim::TooSoon
        );
        let t1 = t0 + chrono::TimeDelta::minutes(59);
        for other in [
            "victim+2@example.com",
            "Victim@Example.com",
            "victim@example.com",
        ] {
            assert_eq!(
                claim_mailbox(&state, &k, other, t1).await.unwrap(),
                Claim::TooSoon,
                "{other}"
            );
        }
        let t2 = t0 + chrono::TimeDelta::minutes(61);
        let Claim::Claimed {
            previous: Some(previous),
        } = claim_mailbox(&state, &k, "victim@example.com", t2)
            .await
            .unwrap()
        else {
            panic!("claimed, after the one at t0")
        };
        // A mail not sent after all gives the claim back.
        release_mailbox(&state, &k, "victim@example.com", t2, Some(previous))
            .await
            .unwrap();
        assert_eq!(
            claim_mailbox(&state, &k, "victim@example.com", t1)
                .await
                .unwrap(),
            Claim::TooSoon
        );
        assert!(matches!(
            claim_mailbox(&state, &k, "victim@example.com", t2)
                .await
                .unwrap(),
            Claim::Claimed { .. }
        ));
        for key in state.keys() {
            assert!(!key.contains("victim"), "{key}");
        }
        // The hour's cap.
        assert!(!mails_spent(&state, t0, 2).await.unwrap());
        assert!(take_mail(&state, t0, 2).await.unwrap());
        assert!(take_mail(&state, t0, 2).await.unwrap());
        assert!(mails_spent(&state, t0, 2).await.unwrap());
        assert!(!take_mail(&state, t0, 2).await.unwrap());
        assert!(
            !mails_spent(&state, t0 + chrono::TimeDelta::hours(1), 2)
                .await
                .unwrap()
        );
        // A day later the sweep removes them all.
        take(&state, &k, Some("192.0.2.1"), t0).await.unwrap();
        assert_eq!(sweep(&state, t2).await.unwrap(), 0);
        let removed = sweep(&state, t2 + KEPT + chrono::TimeDelta::hours(1))
            .await
            .unwrap();
        assert_eq!((removed, state.keys()), (3, Vec::<String>::new()));
    }
}
