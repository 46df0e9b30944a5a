//! Turns a query's events into gzipped NDJSON objects, one series of parts per event hour, each
//! object written once and never overwritten.
//!
//! Events are buffered per hour; a part is written when it holds `max_events` events, and the last
//! part of an hour when the hour is closed or the query ends. While events arrive newest first, the
//! caller closes each hour as soon as an older hour begins, so memory holds at most one part per
//! open hour, whatever the number of events; otherwise the caller watches
//! [`ObjectWriter::buffered_bytes`].
//!
//! Every object is put with `If-None-Match: *`. A first attempt at a slice names its parts after
//! the slice's window and the part's number. Where the bucket may already hold some of an hour (a
//! replay after a crash, a restarted query, a shortened band: the writer is *reconciling*), or where
//! a first put finds its key taken (another writer got there first), the hour follows the one rule
//! of [`super::reconcile`]: what the bucket holds of the hour is read, and only the surplus is
//! written, in parts named after their content. So no key is written twice, and a consumer of
//! every S3 object-created notification sees each event once, as a listing of the bucket does.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::value::RawValue;

use super::checkpoint::Checkpoint;
use super::reconcile::{EventDigest, Held, Verdict};
use crate::keys::{late_key, object_key, surplus_key};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, Precondition, StoreError};
use crate::window::{Window, hour_of};

pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// What writers put into the sink, counted as each object is written.
#[derive(Debug, Default)]
pub struct Written {
    pub events: AtomicU64,
    pub objects: AtomicU64,
    /// Listed events the bucket already held (reconciling hours only).
    pub held: AtomicU64,
    /// Listed events the bucket held in another rendering (reconciling hours only).
    pub drifted: AtomicU64,
    /// Held events of closed reconciling hours that nothing listed matched.
    pub unmatched: AtomicU64,
    /// The oldest event written.
    pub oldest: Mutex<Option<DateTime<Utc>>>,
    /// The most bytes of events one writer held in memory at once.
    pub peak_buffered: AtomicUsize,
}

/// How a writer names its objects.
#[derive(Clone, Copy, Debug)]
pub enum Naming {
    /// A slice's objects: `<window>_<part>` on a first attempt, `<window>_<content>` when
    /// reconciling.
    Slice,
    /// Late events found by a re-check: `late_<content>`; always reconciling.
    Late,
}

/// Buffers and writes the events of one query; objects are named after `window`, and reconciling
/// compares only the events of `window`.
pub struct ObjectWriter<'a, K> {
    sink: &'a K,
    /// Checked before every write: the log type is still this run's.
    checkpoint: &'a Checkpoint<'a, K>,
    prefix: &'a str,
    log_type: LogType,
    window: Window,
    naming: Naming,
    max_events: usize,
    open: BTreeMap<DateTime<Utc>, Part>,
    buffered: usize,
    reconciling: bool,
    written: &'a Written,
}

#[derive(Default)]
struct Part {
    index: u32,
    events: usize,
    lines: Vec<u8>,
    oldest: Option<DateTime<Utc>>,
    /// What the bucket holds of the hour and no listed event matched yet, once reconciling.
    held: Option<Held>,
    /// Keys this writer wrote for the hour.
    own_keys: Vec<String>,
    /// Keys the hour's partition held when it was read to reconcile.
    listed_keys: Vec<String>,
}

impl<'a, K: ObjectSink> ObjectWriter<'a, K> {
    /// `reconciling`: the bucket may already hold events of the window (see the module doc).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sink: &'a K,
        checkpoint: &'a Checkpoint<'a, K>,
        prefix: &'a str,
        log_type: LogType,
        window: Window,
        naming: Naming,
        max_events: usize,
        reconciling: bool,
        written: &'a Written,
    ) -> Self {
        ObjectWriter {
            sink,
            checkpoint,
            prefix,
            log_type,
            window,
            naming,
            max_events: max_events.max(1),
            open: BTreeMap::new(),
            buffered: 0,
            reconciling: reconciling || matches!(naming, Naming::Late),
            written,
        }
    }

    /// The bytes of events held in memory, not yet written.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Adds one event; writes its hour's part if that part is now full.
    ///
    /// Callers build this future for every event, so its rare steps (opening an hour, writing a
    /// part) are boxed futures of their own: inline, they made it large enough that moving it
    /// into place cost more CPU than the event's own work.
    pub async fn add(&mut self, time: DateTime<Utc>, event: &RawValue) -> Result<(), StoreError> {
        let hour = hour_of(time);
        if !self.open.contains_key(&hour) {
            Box::pin(self.open_hour(hour)).await?;
        }
        let part = self.open.get_mut(&hour).ok_or_else(|| missing(hour))?;
        if let Some(held) = &mut part.held
            && !held.is_exhausted()
            && let Some(digest) = EventDigest::of(self.log_type, event.get())
        {
            match held.take(digest) {
                Verdict::Held => {
                    self.written.held.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Verdict::Drifted => {
                    self.written.drifted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Verdict::Surplus => {}
            }
        }
        let before = part.lines.len();
        append_line(&mut part.lines, event.get());
        self.buffered += part.lines.len() - before;
        self.written
            .peak_buffered
            .fetch_max(self.buffered, Ordering::Relaxed);
        part.events += 1;
        part.oldest = Some(part.oldest.map_or(time, |t| t.min(time)));
        if part.events >= self.max_events {
            Box::pin(self.write_part(hour)).await?;
        }
        Ok(())
    }

    async fn open_hour(&mut self, hour: DateTime<Utc>) -> Result<(), StoreError> {
        let (held, listed_keys) = if self.reconciling {
            let (held, keys) = self.load_held(hour, &[]).await?;
            (Some(held), keys)
        } else {
            (None, Vec::new())
        };
        self.open.insert(
            hour,
            Part {
                held,
                listed_keys,
                ..Part::default()
            },
        );
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
            Box::pin(self.close(newest)).await?;
        }
        Ok(())
    }

    /// Writes what every open hour holds as parts, keeping the hours open: for a caller whose
    /// hours are not complete yet and whose memory budget is reached. A retry of the same hours
    /// must then reconcile them with the bucket.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let hours: Vec<_> = self.open.keys().copied().collect();
        for hour in hours {
            self.write_part(hour).await?;
        }
        Ok(())
    }

    /// Writes the remaining parts of every hour.
    pub async fn finish(mut self) -> Result<(), StoreError> {
        let hours: Vec<_> = self.open.keys().copied().collect();
        for hour in hours {
            self.close(hour).await?;
        }
        Ok(())
    }

    async fn close(&mut self, hour: DateTime<Utc>) -> Result<(), StoreError> {
        self.write_part(hour).await?;
        if let Some(part) = self.open.remove(&hour)
            && let Some(held) = part.held
        {
            self.written
                .unmatched
                .fetch_add(held.unmatched(), Ordering::Relaxed);
        }
        Ok(())
    }

    async fn load_held(
        &self,
        hour: DateTime<Utc>,
        skip: &[String],
    ) -> Result<(Held, Vec<String>), StoreError> {
        Held::load(
            self.sink,
            self.prefix,
            self.log_type,
            hour,
            self.window,
            skip,
        )
        .await
    }

    async fn write_part(&mut self, hour: DateTime<Utc>) -> Result<(), StoreError> {
        let part = self.open.get_mut(&hour).ok_or_else(|| missing(hour))?;
        if part.events == 0 {
            return Ok(());
        }
        let mut lines = std::mem::take(&mut part.lines);
        let mut events = std::mem::take(&mut part.events);
        let oldest = part.oldest.take();
        self.buffered -= lines.len();
        if part.held.is_none() {
            let key = object_key(self.prefix, self.log_type, &self.window, hour, part.index);
            part.index += 1;
            self.checkpoint.fence().await?;
            match self
                .sink
                .put(&key, gzip(&lines), CONTENT_TYPE, Precondition::Absent)
                .await
            {
                Ok(_) => {
                    part.own_keys.push(key.clone());
                    self.count(&key, events, oldest);
                    return Ok(());
                }
                Err(e) if e.conflict => {
                    tracing::warn!(log_type = %self.log_type, key,
                        "another writer wrote this object first; writing only what it lacks");
                }
                Err(e) => return Err(e),
            }
            // Reconcile the hour from here on: what the bucket holds, less this writer's own.
            let own = part.own_keys.clone();
            let (mut held, listed_keys) = self.load_held(hour, &own).await?;
            let mut surplus = Vec::new();
            events = 0;
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let text = std::str::from_utf8(line).unwrap_or_default();
                match EventDigest::of(self.log_type, text).map(|d| held.take(d)) {
                    Some(Verdict::Held) => {
                        self.written.held.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Verdict::Drifted) => {
                        self.written.drifted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        surplus.extend_from_slice(line);
                        surplus.push(b'\n');
                        events += 1;
                    }
                }
            }
            let part = self.open.get_mut(&hour).ok_or_else(|| missing(hour))?;
            part.held = Some(held);
            part.listed_keys = listed_keys;
            lines = surplus;
            if events == 0 {
                return Ok(());
            }
        }
        let body = gzip(&lines);
        // Named after the content, and numbered among the hour's objects of the same content
        // (identical rows can make two parts alike).
        for copy in 0.. {
            let key = match self.naming {
                Naming::Slice => {
                    surplus_key(self.prefix, self.log_type, &self.window, hour, &body, copy)
                }
                Naming::Late => late_key(self.prefix, self.log_type, hour, &body, copy),
            };
            self.checkpoint.fence().await?;
            match self
                .sink
                .put(&key, body.clone(), CONTENT_TYPE, Precondition::Absent)
                .await
            {
                Ok(_) => {
                    if let Some(part) = self.open.get_mut(&hour) {
                        part.own_keys.push(key.clone());
                    }
                    self.count(&key, events, oldest);
                    return Ok(());
                }
                Err(e) if e.conflict => {
                    let part = self.open.get(&hour).ok_or_else(|| missing(hour))?;
                    if !part.own_keys.contains(&key) && !part.listed_keys.contains(&key) {
                        // Not there when the hour was read, not written by this writer: this
                        // very put, retried after its answer was lost, or another writer's.
                        tracing::debug!(log_type = %self.log_type, key, "object already written");
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn count(&self, key: &str, events: usize, oldest: Option<DateTime<Utc>>) {
        tracing::debug!(log_type = %self.log_type, key, events, "object written");
        self.written
            .events
            .fetch_add(events as u64, Ordering::Relaxed);
        self.written.objects.fetch_add(1, Ordering::Relaxed);
        if let Some(oldest) = oldest
            && let Ok(mut min) = self.written.oldest.lock()
        {
            *min = Some(min.map_or(oldest, |m| m.min(oldest)));
        }
    }
}

fn missing(hour: DateTime<Utc>) -> StoreError {
    StoreError::new(
        format!("writing the hour {hour}"),
        "the hour is not open (a bug)",
    )
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

/// The gzip level of every object. Measured on the simulator's Zoom-shaped lines: level 3 makes
/// objects about 7 times smaller than their lines, level 6 (the default) 8.6 times, at twice the
/// CPU; compression was the largest share of a busy account's CPU.
const GZIP_LEVEL: u32 = 3;

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        Compression::new(GZIP_LEVEL),
    );
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
