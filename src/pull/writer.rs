//! Turns a chunk's events into gzipped NDJSON objects, one series of parts per event hour.
//!
//! Events are buffered per hour; a part is written when it holds `max_events` events, and the last
//! part of an hour when the hour is closed or the query ends. Parts are cut by event count, so the
//! number of parts of an hour depends only on how many events it has, never on their order: a
//! replay of the same hours rewrites exactly the keys of the first attempt. While events arrive
//! newest first, the caller closes each hour as soon as an older hour begins, so memory holds at
//! most one part per open hour, whatever the number of events; otherwise the caller watches
//! [`ObjectWriter::buffered_bytes`]. When rewriting (a replay after a crash, a restarted query), a
//! part whose object already holds the same bytes is not written again, so S3 sends no second
//! notification for it.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::value::RawValue;

use crate::keys::object_key;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, StoreError};
use crate::window::{Window, hour_of};

pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// What writers put into the sink, counted as each object is written.
#[derive(Debug, Default)]
pub struct Written {
    pub events: AtomicU64,
    pub objects: AtomicU64,
}

/// Buffers and writes the events of one slice's query; objects are named after the slice.
pub struct ObjectWriter<'a, K> {
    sink: &'a K,
    prefix: &'a str,
    log_type: LogType,
    window: Window,
    max_events: usize,
    open: BTreeMap<DateTime<Utc>, Part>,
    buffered: usize,
    rewriting: bool,
    written: &'a Written,
}

#[derive(Default)]
struct Part {
    index: u32,
    events: usize,
    lines: Vec<u8>,
}

impl<'a, K: ObjectSink> ObjectWriter<'a, K> {
    pub fn new(
        sink: &'a K,
        prefix: &'a str,
        log_type: LogType,
        window: Window,
        max_events: usize,
        rewriting: bool,
        written: &'a Written,
    ) -> Self {
        ObjectWriter {
            sink,
            prefix,
            log_type,
            window,
            max_events: max_events.max(1),
            open: BTreeMap::new(),
            buffered: 0,
            rewriting,
            written,
        }
    }

    /// The bytes of events held in memory, not yet written.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Adds one event; writes its hour's part if that part is now full.
    pub async fn add(&mut self, time: DateTime<Utc>, event: &RawValue) -> Result<(), StoreError> {
        let hour = hour_of(time);
        let part = self.open.entry(hour).or_default();
        let before = part.lines.len();
        append_line(&mut part.lines, event.get());
        self.buffered += part.lines.len() - before;
        part.events += 1;
        if part.events >= self.max_events {
            self.write_part(hour).await?;
        }
        Ok(())
    }

    /// Writes and forgets every open hour later than `time`'s hour: with events arriving newest
    /// first, those hours are complete.
    pub async fn close_hours_after(&mut self, time: DateTime<Utc>) -> Result<(), StoreError> {
        let hour = hour_of(time);
        while let Some((&newest, _)) = self.open.last_key_value() {
            if newest <= hour {
                break;
            }
            self.write_part(newest).await?;
            self.open.remove(&newest);
        }
        Ok(())
    }

    /// Writes the remaining parts of every hour.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        let hours: Vec<_> = self.open.keys().copied().collect();
        for hour in hours {
            self.write_part(hour).await?;
        }
        Ok(())
    }

    async fn write_part(&mut self, hour: DateTime<Utc>) -> Result<(), StoreError> {
        let part = self
            .open
            .get_mut(&hour)
            .expect("only open hours are written");
        if part.events == 0 {
            return Ok(());
        }
        let key = object_key(self.prefix, self.log_type, &self.window, hour, part.index);
        let body = gzip(&part.lines);
        let events = part.events as u64;
        self.buffered -= part.lines.len();
        part.index += 1;
        part.events = 0;
        part.lines.clear();
        if self.rewriting && self.sink.get(&key).await?.as_deref() == Some(&body[..]) {
            tracing::debug!(log_type = %self.log_type, key, events, "object already written");
        } else {
            self.sink.put(&key, body, CONTENT_TYPE).await?;
            tracing::debug!(log_type = %self.log_type, key, events, "object written");
        }
        self.written.events.fetch_add(events, Ordering::Relaxed);
        self.written.objects.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Appends the event as one NDJSON line. JSON strings cannot hold a raw line break, so any CR or LF
/// in the event is insignificant whitespace between tokens; a space keeps the line whole.
pub(super) fn append_line(lines: &mut Vec<u8>, event: &str) {
    let start = lines.len();
    lines.extend_from_slice(event.as_bytes());
    for byte in &mut lines[start..] {
        if matches!(*byte, b'\n' | b'\r') {
            *byte = b' ';
        }
    }
    lines.push(b'\n');
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_the_event_verbatim_plus_newline() {
        let mut lines = Vec::new();
        append_line(&mut lines, r#"{"a":  "x\ny",	"é":1}"#);
        assert_eq!(lines, b"{\"a\":  \"x\\ny\",\t\"\xc3\xa9\":1}\n");
    }

    #[test]
    fn raw_line_breaks_between_tokens_become_spaces() {
        let mut lines = Vec::new();
        append_line(&mut lines, "{\"a\":1,\r\n\"b\":2}");
        assert_eq!(lines, b"{\"a\":1,  \"b\":2}\n");
    }

    #[test]
    fn gzip_output_is_deterministic() {
        assert_eq!(gzip(b"same\n"), gzip(b"same\n"));
    }
}
