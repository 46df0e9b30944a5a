//! Objects as files under a local directory, with the same key layout as S3 (the CLI's `--out-dir`).
//! Files are written in `.partial/` first and renamed into place, so a process killed mid-write
//! leaves no half file among the objects.

use std::path::{Component, Path, PathBuf};

use super::write_atomically;
use crate::ports::{ObjectSink, StoreError};

#[derive(Clone, Debug)]
pub struct DirSink {
    root: PathBuf,
}

impl DirSink {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSink { root: root.into() }
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let relative = Path::new(key);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(StoreError::new(
                format!("mapping key {key:?} to a file"),
                "the key leaves the output directory",
            ));
        }
        Ok(self.root.join(relative))
    }
}

impl ObjectSink for DirSink {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &'static str,
    ) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let tmp = self.root.join(".partial").join(format!(
            "{}-{}",
            key.replace('/', "_"),
            std::process::id()
        ));
        write_atomically(&path, &tmp, &body)
            .await
            .map_err(|e| StoreError::new(format!("writing {}", path.display()), e))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::new(format!("reading {}", path.display()), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        sink.put("a/b/c.json.gz", b"x".to_vec(), "application/x-ndjson")
            .await
            .unwrap();
        assert_eq!(
            sink.get("a/b/c.json.gz").await.unwrap(),
            Some(b"x".to_vec())
        );
        assert_eq!(sink.get("a/b/none").await.unwrap(), None);
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        assert!(sink.put("../x", vec![], "t").await.is_err());
        assert!(sink.put("/etc/x", vec![], "t").await.is_err());
    }
}
