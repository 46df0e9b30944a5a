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

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Keys are folders and a file name: walk the folder the prefix names up to its last `/`.
        let folder = &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)];
        let mut pending = vec![folder.to_owned()];
        let mut keys = Vec::new();
        while let Some(folder) = pending.pop() {
            let path = self.path_of(folder.trim_end_matches('/'))?;
            let mut entries = match tokio::fs::read_dir(&path).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::new(format!("listing {}", path.display()), e)),
            };
            let failed = |e| StoreError::new(format!("listing {}", path.display()), e);
            while let Some(entry) = entries.next_entry().await.map_err(failed)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let key = format!("{folder}{name}");
                if entry.file_type().await.map_err(failed)?.is_dir() {
                    if name != ".partial" {
                        pending.push(format!("{key}/"));
                    }
                } else if key.starts_with(prefix) {
                    keys.push(key);
                }
            }
        }
        Ok(keys)
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
    async fn listing_finds_every_key_under_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        for key in ["z/a/1.gz", "z/a/b/2.gz", "z/ab/3.gz", "y/4.gz"] {
            sink.put(key, vec![], "t").await.unwrap();
        }
        let mut keys = sink.list("z/a").await.unwrap();
        keys.sort();
        assert_eq!(keys, ["z/a/1.gz", "z/a/b/2.gz", "z/ab/3.gz"]);
        assert_eq!(sink.list("z/a/b/").await.unwrap(), ["z/a/b/2.gz"]);
        assert!(sink.list("none/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        assert!(sink.put("../x", vec![], "t").await.is_err());
        assert!(sink.put("/etc/x", vec![], "t").await.is_err());
    }
}
