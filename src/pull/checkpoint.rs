//! The checkpoint marker: the window a log type is writing, recorded before its first object.
//!
//! A marker `(start, end]` is written only once every event up to `start` is written, and is
//! replaced only by the next chunk's marker. After a crash at any instant, the next run finds it
//! and replays exactly that window, rewriting the same keys, before it goes on.

use serde::{Deserialize, Serialize};

use crate::keys::marker_key;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, StoreError};
use crate::window::Window;

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    log_type: String,
    #[serde(flatten)]
    window: Window,
}

/// The window recorded for `log_type`, if any.
pub async fn load<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
) -> Result<Option<Window>, StoreError> {
    let key = marker_key(prefix, log_type);
    let Some(bytes) = sink.get(&key).await? else {
        return Ok(None);
    };
    let marker: Marker = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::new(format!("reading checkpoint marker {key}"), e))?;
    Ok(Some(marker.window))
}

/// Records that `log_type` is about to write `window`.
pub async fn save<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
    window: Window,
) -> Result<(), StoreError> {
    let marker = Marker {
        log_type: log_type.name().to_owned(),
        window,
    };
    let body = serde_json::to_vec(&marker).expect("a marker always serializes");
    sink.put(&marker_key(prefix, log_type), body, "application/json")
        .await
}
