//! The state document in a local JSON file (the CLI's `--state-file`).
//!
//! A file's version is the SHA-256 of its text, and a save is a compare-and-swap: under an
//! exclusive advisory lock on a sidecar file (`<file>.lock`), the file is read, its version compared
//! with the one the writer expects, and only then replaced; another version is a conflict and
//! nothing is written. So a `zoomlogs pull` from cron beside a `zoomlogs check` never overwrites a
//! newer state file (both take the lock; a reader needs none, as a replacement is a rename).
//!
//! The file holds the client secret and the refresh token, so a save replaces it without ever
//! widening who may read it: the new content goes to a temporary file beside it, created new
//! (`O_EXCL`, `O_NOFOLLOW`: never an existing file or a planted link) with mode `0600` before any
//! byte is written, then given the original's permissions, flushed to disk, and only then renamed
//! over the original; the folder is flushed after the rename. A crash at any instant leaves either
//! the old document or the new one, never half of one, and never the rotated refresh token lost to
//! a power cut after the run reported it stored.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ports::{StateStore, StoreError, StoredDocument};

/// The permissions of a state file that did not exist before (and of every temporary copy, from
/// its creation): its owner may read and write it.
#[cfg(unix)]
const NEW_FILE_MODE: u32 = 0o600;

#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateFile { path: path.into() }
    }
}

/// A text's version: its SHA-256, in hex.
fn version_of(text: &[u8]) -> String {
    Sha256::digest(text)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Why a save wrote nothing.
enum Refused {
    Conflict,
    Io(std::io::Error),
}

impl StateStore for StateFile {
    async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
        let operation = || format!("reading {}", self.path.display());
        let text = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::not_found(operation())
            } else {
                StoreError::new(operation(), e)
            }
        })?;
        Ok(StoredDocument {
            version: Some(version_of(text.as_bytes())),
            text,
        })
    }

    async fn save_versioned(
        &self,
        document: &str,
        expected: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let path = self.path.clone();
        let bytes = document.as_bytes().to_vec();
        let expected = expected.map(str::to_owned);
        let operation = || format!("writing {}", self.path.display());
        tokio::task::spawn_blocking(move || swap(&path, &bytes, expected.as_deref()))
            .await
            .map_err(|e| StoreError::new(operation(), std::io::Error::other(e)))?
            .map_err(|refused| match refused {
                Refused::Conflict => StoreError::conflict(operation()),
                Refused::Io(e) => StoreError::new(operation(), e),
            })?;
        Ok(Some(version_of(document.as_bytes())))
    }
}

/// Under the sidecar lock: replaces `path` with `bytes` if its version is still `expected` (or
/// unconditionally without one).
fn swap(path: &Path, bytes: &[u8], expected: Option<&str>) -> Result<(), Refused> {
    let folder = folder_of(path);
    std::fs::create_dir_all(&folder).map_err(Refused::Io)?;
    let lock = lock_file(path).map_err(Refused::Io)?;
    lock.lock().map_err(Refused::Io)?;
    if let Some(expected) = expected {
        let current = match std::fs::read(path) {
            Ok(text) => Some(version_of(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Refused::Io(e)),
        };
        if current.as_deref() != Some(expected) {
            return Err(Refused::Conflict);
        }
    }
    replace_durably(path, &folder, bytes).map_err(Refused::Io)
    // The lock is released when `lock` closes.
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `<path>.lock`, opened (created `0600` if missing) for locking; it holds nothing.
fn lock_file(path: &Path) -> std::io::Result<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(NEW_FILE_MODE).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(PathBuf::from(name))
}

/// Replaces `path` with `bytes`: a new temporary file, the original's permissions, fsync, rename,
/// fsync of the folder. The temporary file is removed if anything fails before the rename.
fn replace_durably(path: &Path, folder: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = match std::fs::metadata(path) {
        Ok(metadata) => Some(metadata.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // Under the lock, a temporary file of this name is a leftover of a crashed save: remove it (a
    // link is removed, not followed), as the new one must be created new.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let written = write_synced(&tmp, bytes, permissions);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the folder's entry is.
    File::open(folder)?.sync_all()
}

/// Creates `tmp` new, readable by its owner only from its first instant, writes `bytes`, gives it
/// `permissions` (the original file's, if there was one) and flushes it to disk.
fn write_synced(
    tmp: &Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(NEW_FILE_MODE).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(tmp)?;
    file.write_all(bytes)?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)?;
    }
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn a_new_state_file_is_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        StateFile::new(&path).save("{\"a\":1}").await.unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(StateFile::new(&path).load().await.unwrap(), "{\"a\":1}");
    }

    #[tokio::test]
    async fn a_rewritten_state_file_keeps_its_permissions_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for original in [0o640, 0o400] {
            std::fs::write(&path, "{}").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(original)).unwrap();
            StateFile::new(&path).save("{\"b\":2}").await.unwrap();
            assert_eq!(mode(&path), original);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"b\":2}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut names: Vec<_> = names
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["state.json", "state.json.lock"]);
    }

    #[tokio::test]
    async fn a_second_keeper_of_one_file_merges_the_first_keepers_write_instead_of_overwriting_it()
    {
        use crate::state::StateKeeper;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"client_id":"c","client_secret":"s","refresh_token":"r1","cursors":{}}"#,
        )
        .unwrap();
        let check = StateKeeper::load(StateFile::new(&path)).await.unwrap();
        let pull = StateKeeper::load(StateFile::new(&path)).await.unwrap();

        // `zoomlogs check` rotates the refresh token and stores it.
        check
            .update(|doc| doc.refresh_token = Some(crate::secret::Secret::new("r2")))
            .await;
        assert!(check.save().await.unwrap());
        // `zoomlogs pull` from cron, loaded before, saves its cursor.
        let cursor: chrono::DateTime<chrono::Utc> = "2026-11-29T21:30:00Z".parse().unwrap();
        pull.update(|doc| {
            doc.cursors.insert("Zoom.Activity".into(), cursor);
        })
        .await;
        assert!(pull.save().await.unwrap());

        let saved =
            crate::state::StateDoc::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.refresh_token, Some(crate::secret::Secret::new("r2")));
        assert_eq!(saved.cursors["Zoom.Activity"], cursor);
    }

    #[tokio::test]
    async fn a_save_waiting_on_another_writers_lock_merges_what_that_writer_wrote() {
        use crate::secret::Secret;
        use crate::state::{StateDoc, StateKeeper};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let original = r#"{"client_id":"c","client_secret":"s","refresh_token":"r1","cursors":{}}"#;
        std::fs::write(&path, original).unwrap();
        let pull = StateKeeper::load(StateFile::new(&path)).await.unwrap();
        let cursor: chrono::DateTime<chrono::Utc> = "2026-11-29T21:30:00Z".parse().unwrap();
        pull.update(|doc| {
            doc.cursors.insert("Zoom.Activity".into(), cursor);
        })
        .await;

        // Another writer (`zoomlogs check`) holds the lock while it rotates the token.
        let lock = lock_file(&path).unwrap();
        lock.lock().unwrap();
        let save = pull.save();
        tokio::pin!(save);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(300), &mut save)
                .await
                .is_err(),
            "the save waits for the lock"
        );
        let mut rotated = StateDoc::parse(original).unwrap();
        rotated.refresh_token = Some(Secret::new("r2"));
        std::fs::write(&path, rotated.to_json()).unwrap();
        lock.unlock().unwrap();

        assert!(save.await.unwrap());
        let saved = StateDoc::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.refresh_token, Some(Secret::new("r2")));
        assert_eq!(saved.cursors["Zoom.Activity"], cursor);
    }

    #[tokio::test]
    async fn a_save_that_expects_another_version_of_the_file_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let file = StateFile::new(&path);
        file.save("{\"a\":1}").await.unwrap();
        let first = file.load_versioned().await.unwrap().version;
        let second = file
            .save_versioned("{\"a\":2}", first.as_deref())
            .await
            .unwrap();
        assert_eq!(second, file.load_versioned().await.unwrap().version);

        let error = file
            .save_versioned("{\"a\":3}", first.as_deref())
            .await
            .unwrap_err();
        assert!(error.conflict, "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":2}");
    }

    #[tokio::test]
    async fn a_link_planted_at_the_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "untouched").unwrap();
        let tmp = dir
            .path()
            .join(format!("state.json.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&elsewhere, &tmp).unwrap();

        StateFile::new(&path).save("{\"a\":1}").await.unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}");
        assert_eq!(mode(&path), 0o600);
    }
}
