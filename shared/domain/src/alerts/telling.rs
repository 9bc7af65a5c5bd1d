//! Telling the maintainers something once: a thing is told to a maintainer only once
//! their mail went, and each mail that went is remembered (as a digest of what and to
//! whom, never the address), so a tick after a failed mail tells again only those
//! it did not reach, and nobody twice.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};
use tracing::warn;

use crate::alerts::lifecycle::Notifier;
use crate::mail::Mail;

/// The digest saying that `what` reached `address`.
pub fn reached_key(what: &str, address: &str) -> String {
    hex::encode(&Sha256::digest(format!("{what}\n{address}").as_bytes())[..16])
}

/// What a round of telling did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// [`reached_key`] of each thing told to each maintainer reached now.
    pub reached: Vec<String>,
    /// Every maintainer now has every thing.
    pub all: bool,
}

impl Notifier {
    /// Mails each maintainer the things of `whats` (keys) not yet in `reached` for
    /// them: `mail` makes the mail of those things (by index) for an address, or
    /// `None` when no mail can be made at all (no `MAIL_FROM`: nothing will ever
    /// go, so nothing is kept to try again).
    pub async fn tell_maintainers(
        &self,
        whats: &[String],
        reached: &BTreeSet<String>,
        mail: impl Fn(&[usize], &str) -> Option<Mail>,
    ) -> Round {
        let mut round = Round {
            reached: Vec::new(),
            all: true,
        };
        for r in self.recipients.maintainers().await {
            let due: Vec<usize> = (0..whats.len())
                .filter(|i| !reached.contains(&reached_key(&whats[*i], &r.address)))
                .collect();
            if due.is_empty() {
                continue;
            }
            let Some(m) = mail(&due, &r.address) else {
                warn!("MAIL_FROM is not set: the maintainers cannot be told");
                return Round::default_all();
            };
            match self.mailer.send(&m).await {
                Ok(()) => round
                    .reached
                    .extend(due.iter().map(|i| reached_key(&whats[*i], &r.address))),
                Err(e) => {
                    warn!(error = %e.to_string().replace(&r.address, "[address]"), subject = %m.subject, "a mail to a maintainer could not be sent; the next tick tries again");
                    round.all = false;
                }
            }
        }
        round
    }
}

impl Round {
    fn default_all() -> Round {
        Round {
            reached: Vec::new(),
            all: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::config::Config;
    use crate::errors::BackendError;
    use crate::memory::{MemoryMailer, MemoryStore};
    use crate::oncall::keeper::Keeper;
    use crate::ports::FileSource;
    use crate::time::Timestamp;

    /// A local on-call file (read at every tick).
    struct Local(&'static str);

    #[async_trait]
    impl FileSource for Local {
        fn on_push(&self) -> bool {
            false
        }
        async fn fetch(&self) -> Result<Option<String>, BackendError> {
            Ok(Some(self.0.to_owned()))
        }
    }

    struct At(Timestamp);

    impl crate::clock::Clock for At {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    /// A Monday; the weekend ahead is nobody's.
    const WEEKDAYS: &str = "people:\n  alice: {email: alice@example.com}\nschedules:\n  primary:\n    time_zone: UTC\n    layers:\n      - {participants: [alice], rotation: 1d, handoff: \"2026-12-07T09:00\", restrict: [\"Mon-Fri\"]}\n";
    const BAD: &str = "people:\n  alice: {email: alice@example.com, fax: \"1\"}\n";

    fn notifier(file: &'static str, mailer: Arc<MemoryMailer>) -> Notifier {
        let config = Config::from_lookup(|name| match name {
            "MAIL_FROM" => Some("openmic@status.example.com".into()),
            "MAINTAINER_EMAILS" => Some("oncall@example.com, lead@example.com".into()),
            _ => None,
        })
        .unwrap();
        let mut n = Notifier::new(
            Arc::new(config),
            Arc::new(MemoryStore::new()),
            mailer,
            None,
            None,
        )
        .unwrap()
        .with_clock(Arc::new(At(
            crate::time::parse("2026-12-07T10:00:00Z").unwrap()
        )));
        n.oncall = Some(Arc::new(Keeper::new("oncall.yaml", Arc::new(Local(file)))));
        n
    }

    /// Who got mails whose subject holds `about`, sorted.
    fn sent_to(mailer: &MemoryMailer, about: &str) -> Vec<String> {
        let mut to: Vec<String> = mailer
            .take()
            .into_iter()
            .filter(|m| m.subject.contains(about))
            .flat_map(|m| m.to)
            .collect();
        to.sort();
        to
    }

    #[tokio::test]
    async fn a_bad_file_is_told_to_each_maintainer_exactly_once_when_a_mail_fails_once() {
        let mailer = Arc::new(MemoryMailer::default());
        let notifier = notifier(BAD, mailer.clone());
        mailer.fail_next(1);
        notifier.escalation_tick().await.unwrap();
        assert_eq!(
            sent_to(&mailer, "does not validate"),
            ["lead@example.com"],
            "the first mail failed; the second went"
        );
        notifier.escalation_tick().await.unwrap();
        assert_eq!(
            sent_to(&mailer, "does not validate"),
            ["oncall@example.com"],
            "tried again for the one not told, and only for them"
        );
        notifier.escalation_tick().await.unwrap();
        assert!(mailer.take().is_empty(), "told once");
    }

    #[tokio::test]
    async fn a_gap_is_told_to_each_maintainer_exactly_once_when_a_mail_fails_once() {
        let mailer = Arc::new(MemoryMailer::default());
        let notifier = notifier(WEEKDAYS, mailer.clone());
        mailer.fail_next(1);
        notifier.escalation_tick().await.unwrap();
        assert_eq!(sent_to(&mailer, "nobody is on call"), ["lead@example.com"]);
        notifier.escalation_tick().await.unwrap();
        let again = mailer.take();
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(again[0].to, ["oncall@example.com"]);
        assert!(
            again[0]
                .text
                .contains("primary: nobody on call from 2026-12-12 00:00 UTC"),
            "{}",
            again[0].text
        );
        notifier.escalation_tick().await.unwrap();
        assert!(mailer.take().is_empty(), "told once");
    }
}
