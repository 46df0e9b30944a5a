//! The state document in a local JSON file (the CLI's `--state-file`).

use std::path::PathBuf;

use super::write_atomically;
use crate::ports::{StateStore, StoreError};

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
    async fn load(&self) -> Result<String, StoreError> {
        let operation = || format!("reading {}", self.path.display());
        tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::not_found(operation())
            } else {
                StoreError::new(operation(), e)
            }
        })
    }

    async fn save(&self, document: &str) -> Result<(), StoreError> {
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        write_atomically(&self.path, tmp.as_ref(), document.as_bytes())
            .await
            .map_err(|e| StoreError::new(format!("writing {}", self.path.display()), e))
    }
}
