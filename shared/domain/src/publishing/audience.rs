//! Audience pages (`AUDIENCES`): the same site, rendered by the same publisher, for
//! one audience, written under `audiences/<name>/` of the private state bucket (never
//! the status bucket). Which incidents an audience sees is read from the issue's
//! `audience::<name>` labels: none, and the incident is on the public page and on every
//! audience's; one or more, and it is on those audiences' pages only. A label naming
//! an audience that is not configured withholds the incident everywhere.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::config::audiences::{AUDIENCE_LABEL_PREFIX, Audiences};
use crate::ports::{BackendError, Object, ObjectStore, PutOptions};

/// Where audience `name`'s pages are, in the state bucket (same keys below it as the
/// public site's in the status bucket).
pub fn pages_prefix(name: &str) -> String {
    format!("audiences/{name}/")
}

/// Where audience `name`'s own indexes are kept (its `index/…`), apart from its pages
/// so that nothing private of the index is ever served.
pub fn index_prefix(name: &str) -> String {
    format!("audience-index/{name}/")
}

/// Whom an incident is for, by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readers {
    /// No `audience::` label: the public page and every audience's.
    Everyone,
    /// Only these configured audiences.
    Only(Vec<String>),
    /// A label names an audience that is not configured: nowhere.
    Unknown(Vec<String>),
}

impl Readers {
    /// Reads the `audience::<name>` labels against the configured audiences.
    pub fn of(labels: &[String], audiences: &Audiences) -> Readers {
        let named: Vec<String> = labels
            .iter()
            .filter_map(|l| l.strip_prefix(AUDIENCE_LABEL_PREFIX))
            .map(|n| n.trim().to_owned())
            .collect();
        if named.is_empty() {
            return Readers::Everyone;
        }
        let unknown: Vec<String> = named
            .iter()
            .filter(|n| audiences.get(n).is_none())
            .cloned()
            .collect();
        match unknown.is_empty() {
            true => Readers::Only(named),
            false => Readers::Unknown(unknown),
        }
    }

    /// Whether the page of `audience` (`None`: the public page) shows the incident.
    pub fn see(&self, audience: Option<&str>) -> bool {
        match (self, audience) {
            (Readers::Everyone, _) => true,
            (Readers::Only(names), Some(a)) => names.iter().any(|n| n == a),
            _ => false,
        }
    }

    /// The problem said on the issue when a label names no configured audience.
    pub fn problem(&self) -> Option<String> {
        match self {
            Readers::Unknown(names) => Some(format!(
                "the label {} names no audience of AUDIENCES",
                names
                    .iter()
                    .map(|n| format!("`{AUDIENCE_LABEL_PREFIX}{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        }
    }
}

/// A store seen through a key mapping: every key under `prefix` of `inner`
/// (`Everything`), or only the keys starting with `only` moved there and the others
/// left as they are (`Only`).
pub struct Prefixed {
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    only: Option<&'static str>,
}

impl Prefixed {
    /// Every key under `prefix`.
    pub fn all(inner: Arc<dyn ObjectStore>, prefix: String) -> Prefixed {
        Prefixed {
            inner,
            prefix,
            only: None,
        }
    }

    /// The keys starting with `only` under `prefix`; the rest as they are.
    pub fn only(inner: Arc<dyn ObjectStore>, prefix: String, only: &'static str) -> Prefixed {
        Prefixed {
            inner,
            prefix,
            only: Some(only),
        }
    }

    fn moved(&self, key: &str) -> bool {
        self.only.is_none_or(|o| key.starts_with(o))
    }

    fn map(&self, key: &str) -> String {
        match self.moved(key) {
            true => format!("{}{key}", self.prefix),
            false => key.to_owned(),
        }
    }
}

#[async_trait]
impl ObjectStore for Prefixed {
    async fn get(&self, key: &str) -> Result<Option<Object>, BackendError> {
        self.inner.get(&self.map(key)).await
    }

    async fn put(&self, key: &str, body: Bytes, opts: PutOptions) -> Result<String, BackendError> {
        self.inner.put(&self.map(key), body, opts).await
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.inner.delete(&self.map(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        if !self.moved(prefix) {
            // A listing wider than what is moved would mix both.
            return match self.only.is_some_and(|o| o.starts_with(prefix)) {
                true => Err(BackendError::Permanent(format!(
                    "{prefix}: a listing across an audience's own keys"
                ))),
                false => self.inner.list(prefix).await,
            };
        }
        let keys = self.inner.list(&self.map(prefix)).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }

    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        opts: PutOptions,
    ) -> Result<String, BackendError> {
        self.inner.put_file(&self.map(key), path, opts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::audiences::parse_audiences;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn labels_decide_who_reads() {
        let a = parse_audiences("staff=ops; acme=customers/acme").unwrap();
        let everyone = Readers::of(&labels(&["incident", "status-page"]), &a);
        assert!(everyone.see(None) && everyone.see(Some("staff")) && everyone.see(Some("acme")));
        let staff = Readers::of(&labels(&["audience::staff"]), &a);
        assert!(!staff.see(None) && staff.see(Some("staff")) && !staff.see(Some("acme")));
        assert_eq!(staff.problem(), None);
        let unknown = Readers::of(&labels(&["audience::stafff"]), &a);
        assert!(!unknown.see(None) && !unknown.see(Some("staff")));
        assert_eq!(
            unknown.problem().as_deref(),
            Some("the label `audience::stafff` names no audience of AUDIENCES")
        );
        // Without AUDIENCES, any audience label is unknown: withheld, not public.
        let none = Readers::of(&labels(&["audience::staff"]), &Audiences::default());
        assert!(!none.see(None));
    }

    #[tokio::test]
    async fn prefixed_stores_keep_to_their_keys() {
        let inner: Arc<dyn ObjectStore> = Arc::new(crate::memory::MemoryStore::new());
        let pages = Prefixed::all(inner.clone(), pages_prefix("staff"));
        pages
            .put("index.html", Bytes::from_static(b"x"), PutOptions::json())
            .await
            .unwrap();
        assert!(
            inner
                .get("audiences/staff/index.html")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(pages.list("").await.unwrap(), vec!["index.html"]);
        let state = Prefixed::only(inner.clone(), index_prefix("staff"), "index/");
        state
            .put(
                "index/published.json",
                Bytes::from_static(b"{}"),
                PutOptions::json(),
            )
            .await
            .unwrap();
        state
            .put(
                "incidents/42/1.json",
                Bytes::from_static(b"{}"),
                PutOptions::json(),
            )
            .await
            .unwrap();
        assert!(
            inner
                .get("audience-index/staff/index/published.json")
                .await
                .unwrap()
                .is_some()
        );
        assert!(inner.get("incidents/42/1.json").await.unwrap().is_some());
        assert_eq!(
            state.list("index/").await.unwrap(),
            vec!["index/published.json"]
        );
        assert!(state.list("").await.is_err());
    }
}
