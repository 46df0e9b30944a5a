//! Local adapters: the state document in a JSON file and objects in a directory, so the same core
//! runs on a laptop without AWS.

mod dir_sink;
mod state_file;

pub use dir_sink::DirSink;
pub use state_file::StateFile;

use std::path::Path;

/// Writes `bytes` to `path` through the temporary file `tmp` (on the same file system) and a
/// rename, so a crash never leaves half a file at `path`.
async fn write_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    for dir in [path.parent(), tmp.parent()].into_iter().flatten() {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::write(tmp, bytes).await?;
    tokio::fs::rename(tmp, path).await
}
