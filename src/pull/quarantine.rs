//! Events that cannot be placed in a window because they have no valid RFC 3339 `time`.
//!
//! Such an event is kept byte for byte in its own object under `<prefix>_quarantine/<log type>/`,
//! outside the log-type folders, named after its content and written once: seeing it again (every
//! query that covers it returns it) finds the object there. The run counts it and goes on.

use serde_json::value::RawValue;

use crate::keys::quarantine_key;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, Precondition, StoreError};

use super::CONTENT_TYPE;

/// Writes `event` to its quarantine object.
pub async fn keep<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
    event: &RawValue,
) -> Result<(), StoreError> {
    let mut line = event.get().as_bytes().to_vec();
    line.push(b'\n');
    let key = quarantine_key(prefix, log_type, &line);
    tracing::warn!(%log_type, key, "an event without a valid \"time\" was quarantined");
    match sink
        .put(&key, line, CONTENT_TYPE, Precondition::Absent)
        .await
    {
        Err(e) if !e.conflict => Err(e),
        _ => Ok(()),
    }
}
