//! Local adapters: the state document in a JSON file and objects in a directory, so the same core
//! runs on a laptop without AWS.

mod dir_sink;
mod state_file;

pub use dir_sink::DirSink;
pub use state_file::StateFile;

use std::path::Path;

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves half a
/// file behind.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}
