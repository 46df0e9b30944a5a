//! Local adapters: the state document in a JSON file and objects in a directory, so the same core
//! runs on a laptop without AWS.

mod dir_sink;
mod state_file;

pub use dir_sink::DirSink;
pub use state_file::StateFile;
