//! The checkpoint marker: the window a log type is writing, recorded before its first object.
//!
//! A marker `(start, end]` is written only once every event up to `start` is written, and is
//! replaced only by the next chunk's marker. After a crash at any instant, the next run finds it
//! and replays exactly that window, rewriting the same keys, before it goes on. The marker also
//! keeps the part size the window was cut with, so a replay cuts the same parts even if
//! `OBJECT_MAX_EVENTS` changed in between.

use serde::{Deserialize, Serialize};

use crate::keys::marker_key;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, StoreError};
use crate::window::Window;

/// A chunk as recorded before it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    #[serde(flatten)]
    pub window: Window,
    /// Parts of an hour are cut after this many events.
    pub object_max_events: usize,
}

#[derive(Serialize, Deserialize)]
struct MarkerFile {
    log_type: String,
    #[serde(flatten)]
    marker: Marker,
}

/// The chunk recorded for `log_type`, if any.
pub async fn load<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
) -> Result<Option<Marker>, StoreError> {
    let key = marker_key(prefix, log_type);
    let Some(bytes) = sink.get(&key).await? else {
        return Ok(None);
    };
    let file: MarkerFile = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::new(format!("reading checkpoint marker {key}"), e))?;
    Ok(Some(file.marker))
}

/// Records that `log_type` is about to write `marker`'s chunk.
pub async fn save<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
    marker: Marker,
) -> Result<(), StoreError> {
    let file = MarkerFile {
        log_type: log_type.name().to_owned(),
        marker,
    };
    let body = serde_json::to_vec(&file).expect("a marker always serializes");
    sink.put(&marker_key(prefix, log_type), body, "application/json")
        .await
}
