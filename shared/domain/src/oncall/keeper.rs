//! The on-call file in use (`ONCALL_CONFIG`): the last one that validated, kept in
//! the private state bucket (`oncall/file.json`), never in the public one.
//!
//! - From a GitLab repository (`<project>:<file>@<ref>`), the file is read through the
//!   repository files API once at first, then again only after a Push Hook that
//!   touched it: intake queues such a push, the publisher marks it
//!   (`oncall/push.json`, [`pushed`]), and the notifier's next tick reads the file.
//! - From a local path (`openmic-local`), it is read at every tick.
//! - A file that does not validate changes nothing: the last good one stays in use,
//!   and its problems (each with its line) are told to the maintainers once per
//!   refused content (`oncall/loading.json` keeps a hash of each one refused, and
//!   forgets them when a good file comes). A refusal is kept to tell
//!   ([`Loading::untold`]) until every maintainer's mail went: a mail that fails is
//!   tried again at the next tick, and one that went is not sent again.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::file::OnCall;
use crate::document;
use crate::errors::{BackendError, ProcessError};
use crate::gitlab::Gitlab;
use crate::ports::{FileSource, ObjectStore};
use crate::time::Timestamp;

/// The file in use.
pub const FILE_KEY: &str = "oncall/file.json";
/// What was told of refused files, and the last push read.
pub const LOADING_KEY: &str = "oncall/loading.json";
/// The last push that touched the file.
pub const PUSH_KEY: &str = "oncall/push.json";

/// The file in use, as it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// Where it came from (`ONCALL_CONFIG`).
    pub source: String,
    pub text: String,
    pub at: Timestamp,
}

/// What loading remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Loading {
    /// A hash of each refused file told to the maintainers since the last good one.
    #[serde(default)]
    pub told: Vec<String>,
    /// The push last read (`start` for the first read without one).
    #[serde(default)]
    pub handled: Option<String>,
    /// The refusal still to tell to some maintainer.
    #[serde(default)]
    pub untold: Option<Untold>,
}

/// A refusal still to tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Untold {
    /// The refused file's hash.
    pub hash: String,
    /// Its problems, each with its line.
    pub problems: String,
    /// [`crate::alerts::telling::reached_key`] of each maintainer told already.
    #[serde(default)]
    pub reached: std::collections::BTreeSet<String>,
}

/// A push that touched the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pushed {
    pub delivery: String,
    pub at: String,
}

/// A file in a GitLab repository, through the repository files API.
pub struct GitlabFile {
    pub api: Arc<dyn Gitlab>,
    pub project: String,
    pub file: String,
    pub reference: String,
}

#[async_trait]
impl FileSource for GitlabFile {
    fn on_push(&self) -> bool {
        true
    }

    async fn fetch(&self) -> Result<Option<String>, BackendError> {
        Ok(self
            .api
            .repository_file(&self.project, &self.file, &self.reference)
            .await?)
    }
}

/// What reading the file again came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing to read (no push since the last read).
    Unchanged,
    /// A file that validates is in use.
    Loaded,
    /// Refused; `tell` holds its problems the first time this content is refused
    /// (then kept to tell until told: [`Keeper::untold`]).
    Refused { tell: Option<String> },
}

/// The file in use, read from the state bucket: what any capability that does not keep
/// it (the calendar feed, chat commands) reads; `None` when none validated yet.
pub async fn in_use(state: &dyn ObjectStore) -> Result<Option<OnCall>, ProcessError> {
    let kept = document::read::<Kept>(state, FILE_KEY).await?;
    Ok(kept.and_then(|(kept, _)| OnCall::parse(&kept.text).ok()))
}

/// The on-call file of a process: where it comes from, and the last one parsed.
pub struct Keeper {
    /// `ONCALL_CONFIG` as the maintainers wrote it.
    pub name: String,
    source: Arc<dyn FileSource>,
    cache: Mutex<Option<(String, Arc<OnCall>)>>,
}

fn digest(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

impl Keeper {
    pub fn new(name: impl Into<String>, source: Arc<dyn FileSource>) -> Keeper {
        Keeper {
            name: name.into(),
            source,
            cache: Mutex::new(None),
        }
    }

    /// The file in use: the last one that validated, if any did.
    pub async fn current(
        &self,
        state: &dyn ObjectStore,
    ) -> Result<Option<Arc<OnCall>>, ProcessError> {
        Ok(self.current_revision(state).await?.map(|(file, _)| file))
    }

    /// The file in use and its revision (a hash of its text: another file, another
    /// revision), if any file validated.
    pub async fn current_revision(
        &self,
        state: &dyn ObjectStore,
    ) -> Result<Option<(Arc<OnCall>, String)>, ProcessError> {
        let Some((kept, _)) = document::read::<Kept>(state, FILE_KEY).await? else {
            return Ok(None);
        };
        Ok(self.parsed(&kept.text))
    }

    /// `text` parsed, once per content, with its hash.
    fn parsed(&self, text: &str) -> Option<(Arc<OnCall>, String)> {
        let hash = digest(text);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((h, file)) = cache.as_ref()
            && *h == hash
        {
            return Some((file.clone(), hash));
        }
        let file = Arc::new(OnCall::parse(text).ok()?);
        *cache = Some((hash.clone(), file.clone()));
        Some((file, hash))
    }

    /// Reads the file again when it is due (at first, after a push, or always for a
    /// local file) and keeps it if it validates.
    pub async fn refresh(
        &self,
        state: &dyn ObjectStore,
        now: Timestamp,
    ) -> Result<Refreshed, ProcessError> {
        let mut mark = None;
        if self.source.on_push() {
            let push = document::read::<Pushed>(state, PUSH_KEY)
                .await?
                .map_or_else(|| "start".to_owned(), |(p, _)| p.delivery);
            let loading = document::read::<Loading>(state, LOADING_KEY)
                .await?
                .map(|(l, _)| l)
                .unwrap_or_default();
            if loading.handled.as_deref() == Some(push.as_str()) {
                return Ok(Refreshed::Unchanged);
            }
            mark = Some(push);
        }
        let text = self.source.fetch().await?;
        let outcome = self.offer(state, text.as_deref(), now).await?;
        if let Some(mark) = mark {
            document::update(state, LOADING_KEY, |old: Option<Loading>| {
                let mut l = old.unwrap_or_default();
                l.handled = Some(mark.clone());
                Some(l)
            })
            .await?;
        }
        Ok(outcome)
    }

    /// Takes `text` as the file if it validates; otherwise keeps the one in use and
    /// says what to tell, the first time this content is refused.
    pub async fn offer(
        &self,
        state: &dyn ObjectStore,
        text: Option<&str>,
        now: Timestamp,
    ) -> Result<Refreshed, ProcessError> {
        let Some(text) = text else {
            return self
                .refuse(state, "missing", "there is no such file".into())
                .await;
        };
        if let Err(e) = OnCall::parse(text) {
            return self.refuse(state, &digest(text), e.to_string()).await;
        }
        let kept = Kept {
            source: self.name.clone(),
            text: text.to_owned(),
            at: now,
        };
        document::update(state, FILE_KEY, |old: Option<Kept>| match old {
            Some(k) if k.text == text && k.source == self.name => Some(k),
            _ => Some(kept.clone()),
        })
        .await?;
        document::update(state, LOADING_KEY, |old: Option<Loading>| {
            let mut l = old.unwrap_or_default();
            l.told.clear();
            l.untold = None;
            Some(l)
        })
        .await?;
        Ok(Refreshed::Loaded)
    }

    async fn refuse(
        &self,
        state: &dyn ObjectStore,
        hash: &str,
        problems: String,
    ) -> Result<Refreshed, ProcessError> {
        let mut first = false;
        document::update(state, LOADING_KEY, |old: Option<Loading>| {
            let mut l = old.unwrap_or_default();
            first = !l.told.iter().any(|h| h == hash);
            if first {
                l.told.push(hash.to_owned());
                l.untold = Some(Untold {
                    hash: hash.to_owned(),
                    problems: problems.clone(),
                    reached: Default::default(),
                });
            }
            Some(l)
        })
        .await?;
        tracing::warn!(file = %self.name, told = !first, "the on-call file does not validate; the last good one stays in use");
        Ok(Refreshed::Refused {
            tell: first.then_some(problems),
        })
    }
}

impl Keeper {
    /// The refusal still to tell to some maintainer, if any.
    pub async fn untold(&self, state: &dyn ObjectStore) -> Result<Option<Untold>, ProcessError> {
        Ok(document::read::<Loading>(state, LOADING_KEY)
            .await?
            .and_then(|(l, _)| l.untold))
    }

    /// Keeps what telling the refusal `hash` did: every maintainer told (`all`), it
    /// is told; otherwise those `reached` are not told it again.
    pub async fn told(
        &self,
        state: &dyn ObjectStore,
        hash: &str,
        reached: &[String],
        all: bool,
    ) -> Result<(), ProcessError> {
        document::update(state, LOADING_KEY, |old: Option<Loading>| {
            let mut l = old?;
            match l.untold.as_mut().filter(|u| u.hash == hash) {
                Some(_) if all => l.untold = None,
                Some(u) => u.reached.extend(reached.iter().cloned()),
                None => {}
            }
            Some(l)
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    struct Fixed(Mutex<Option<String>>);

    #[async_trait]
    impl FileSource for Fixed {
        fn on_push(&self) -> bool {
            true
        }
        async fn fetch(&self) -> Result<Option<String>, BackendError> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    const GOOD: &str = "people:\n  alice: {email: alice@example.com}\n";
    const BAD: &str = "people:\n  alice: {email: alice@example.com, fax: \"1\"}\n";

    async fn push(state: &MemoryStore, id: &str) {
        let push = Pushed {
            delivery: id.into(),
            at: "2026-12-07T10:00:00Z".into(),
        };
        document::update(state, PUSH_KEY, |_: Option<Pushed>| Some(push.clone()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn read_at_first_then_after_each_push_and_a_bad_one_is_told_once() {
        let state = MemoryStore::new();
        let source = Arc::new(Fixed(Mutex::new(Some(GOOD.into()))));
        let keeper = Keeper::new("ops/oncall:oncall.yaml@main", source.clone());
        let now = crate::time::parse("2026-12-07T10:00:00Z").unwrap();
        assert_eq!(
            keeper.refresh(&state, now).await.unwrap(),
            Refreshed::Loaded
        );
        assert_eq!(
            keeper.refresh(&state, now).await.unwrap(),
            Refreshed::Unchanged,
            "no push since"
        );
        *source.0.lock().unwrap() = Some(BAD.into());
        push(&state, "push-1").await;
        let Refreshed::Refused { tell: Some(why) } = keeper.refresh(&state, now).await.unwrap()
        else {
            panic!("refused and told")
        };
        assert!(why.starts_with("line 2: \"fax\""), "{why}");
        // The good one stays.
        let file = keeper.current(&state).await.unwrap().unwrap();
        assert_eq!(file.people[0].contacts.len(), 1);
        // The same bad file pushed again: told no more.
        push(&state, "push-2").await;
        assert_eq!(
            keeper.refresh(&state, now).await.unwrap(),
            Refreshed::Refused { tell: None }
        );
        // A good one after it takes effect.
        *source.0.lock().unwrap() = Some(GOOD.replace("alice", "bob"));
        push(&state, "push-3").await;
        assert_eq!(
            keeper.refresh(&state, now).await.unwrap(),
            Refreshed::Loaded
        );
        let file = keeper.current(&state).await.unwrap().unwrap();
        assert_eq!(file.people[0].name, "bob");
    }
}
