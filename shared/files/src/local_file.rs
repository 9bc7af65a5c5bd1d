//! A file of configuration on this machine (the on-call file as a path), read at
//! every tick.

use std::path::PathBuf;

use async_trait::async_trait;
use openmic_core::errors::BackendError;
use openmic_core::ports::FileSource;

/// A local file.
#[derive(Debug, Clone)]
pub struct LocalFile(pub PathBuf);

#[async_trait]
impl FileSource for LocalFile {
    fn on_push(&self) -> bool {
        false
    }

    async fn fetch(&self) -> Result<Option<String>, BackendError> {
        match tokio::fs::read_to_string(&self.0).await {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackendError::Transient(format!(
                "{}: {e}",
                self.0.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_the_file_or_says_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oncall.yaml");
        let file = LocalFile(path.clone());
        assert_eq!(file.fetch().await.unwrap(), None);
        std::fs::write(&path, "people: {}\n").unwrap();
        assert_eq!(file.fetch().await.unwrap().as_deref(), Some("people: {}\n"));
        assert!(!file.on_push());
    }
}
