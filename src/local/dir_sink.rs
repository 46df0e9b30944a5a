//! Objects as files under a local directory, with the same key layout as S3 (the CLI's `--out-dir`).
//! Files are written in `.partial/` first and renamed into place, so a process killed mid-write
//! leaves no half file among the objects. Writes are conditional as on S3: a file written once is
//! linked into place only if no file has its name (an atomic no-replace), and a replacement
//! compares the file's content tag (its SHA-256) under an advisory lock shared by every process
//! writing to the directory.

use std::path::{Component, Path, PathBuf};

use std::fs::File;

use crate::keys::sha256_hex;
use crate::ports::{ObjectSink, Precondition, StoreError, StoredObject};

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
        precondition: Precondition,
    ) -> Result<Option<String>, StoreError> {
        let path = self.path_of(key)?;
        let tmp = self.root.join(".partial").join(format!(
            "{}-{}",
            key.replace('/', "_"),
            std::process::id()
        ));
        let lock = self.root.join(".partial").join(".lock");
        let etag = etag_of(&body);
        let failed = |e| StoreError::new(format!("writing {}", path.display()), e);
        let written = tokio::task::spawn_blocking({
            let path = path.clone();
            move || write_if(&path, &tmp, &lock, &body, &precondition)
        })
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?;
        match written {
            Ok(true) => Ok(Some(etag)),
            Ok(false) => Err(StoreError::conflict(format!("writing {}", path.display()))),
            Err(e) => Err(failed(e)),
        }
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(Some(StoredObject {
                etag: Some(etag_of(&body)),
                body,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::new(format!("reading {}", path.display()), e)),
        }
    }

    async fn etag(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get_tagged(key).await?.and_then(|object| object.etag))
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

/// A file's tag: its content's SHA-256, so two writers of the same bytes agree.
fn etag_of(body: &[u8]) -> String {
    sha256_hex(body)
}

/// Writes `body` to `path` if `precondition` holds; `Ok(false)` if it does not.
fn write_if(
    path: &Path,
    tmp: &Path,
    lock: &Path,
    body: &[u8],
    precondition: &Precondition,
) -> std::io::Result<bool> {
    for dir in [path.parent(), tmp.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(tmp, body)?;
    let placed = match precondition {
        Precondition::Absent => match std::fs::hard_link(tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
        Precondition::Matches(etag) => {
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock)?;
            lock.lock()?;
            let current = match std::fs::read(path) {
                Ok(bytes) => Some(etag_of(&bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            if current.as_deref() == Some(etag) {
                std::fs::rename(tmp, path).map(|()| true)
            } else {
                Ok(false)
            }
        }
    };
    let _ = std::fs::remove_file(tmp);
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        sink.put(
            "a/b/c.json.gz",
            b"x".to_vec(),
            "application/x-ndjson",
            Precondition::Absent,
        )
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
            sink.put(key, vec![], "t", Precondition::Absent)
                .await
                .unwrap();
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
        assert!(
            sink.put("../x", vec![], "t", Precondition::Absent)
                .await
                .is_err()
        );
        assert!(
            sink.put("/etc/x", vec![], "t", Precondition::Absent)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_file_is_written_once_and_replaced_only_by_the_writer_of_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        let first = sink
            .put("k", b"one".to_vec(), "t", Precondition::Absent)
            .await
            .unwrap()
            .unwrap();
        let again = sink
            .put("k", b"two".to_vec(), "t", Precondition::Absent)
            .await;
        assert!(again.unwrap_err().conflict);
        let second = sink
            .put(
                "k",
                b"two".to_vec(),
                "t",
                Precondition::Matches(first.clone()),
            )
            .await
            .unwrap()
            .unwrap();
        let stale = sink
            .put("k", b"three".to_vec(), "t", Precondition::Matches(first))
            .await;
        assert!(stale.unwrap_err().conflict);
        let stored = sink.get_tagged("k").await.unwrap().unwrap();
        assert_eq!((stored.body, stored.etag), (b"two".to_vec(), Some(second)));
    }
}
