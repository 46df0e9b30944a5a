//! The state document in a local JSON file (the CLI's `--state-file`).
//!
//! The file holds the client secret and the refresh token, so a save replaces it without ever
//! widening who may read it: the new content goes to a temporary file beside it with the original's
//! permissions (`0600` for a file that did not exist), is flushed to disk, and only then renamed
//! over the original; the folder is flushed after the rename. A crash at any instant leaves either
//! the old document or the new one, never half of one, and never the rotated refresh token lost to
//! a power cut after the run reported it stored. A file keeps no versions: the state keeper tells
//! changes apart by content.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ports::{StateStore, StoreError, StoredDocument};

/// The permissions of a state file that did not exist before: its owner may read and write it.
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
            text,
            version: None,
        })
    }

    async fn save_versioned(&self, document: &str) -> Result<Option<String>, StoreError> {
        let path = self.path.clone();
        let bytes = document.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || replace_durably(&path, &bytes))
            .await
            .map_err(std::io::Error::other)
            .and_then(|written| written)
            .map_err(|e| StoreError::new(format!("writing {}", self.path.display()), e))?;
        Ok(None)
    }
}

/// Replaces `path` with `bytes`: temporary file with the original's permissions, fsync, rename,
/// fsync of the folder. The temporary file is removed if anything fails before the rename.
fn replace_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder)?;
    let permissions = match std::fs::metadata(path) {
        Ok(metadata) => Some(metadata.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = write_synced(&tmp, bytes, permissions);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the folder's entry is.
    File::open(&folder)?.sync_all()
}

/// Writes `bytes` to a fresh `tmp` that only its owner can open, gives it `permissions` (the
/// original file's, if there was one) and flushes it to disk.
fn write_synced(
    tmp: &Path,
    bytes: &[u8],
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(NEW_FILE_MODE);
    }
    let mut file = options.open(tmp)?;
    file.write_all(bytes)?;
    match permissions {
        Some(permissions) => file.set_permissions(permissions)?,
        // A leftover temporary file keeps its old mode through `open`: set the new file's mode.
        #[cfg(unix)]
        None => {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(NEW_FILE_MODE))?
        }
        #[cfg(not(unix))]
        None => {}
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
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }
}
