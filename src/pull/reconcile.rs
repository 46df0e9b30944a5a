//! The one rule for writing into an hour the bucket may already hold: write only the surplus.
//!
//! Every rewrite (a replayed slice, a restarted query, a shortened band, a write that lost to another
//! writer, the re-check of late events) compares what Zoom lists for an hour with what the bucket
//! holds in that hour's partition, as multisets of events, and writes only what Zoom lists beyond
//! it, under new keys named after their content. Nothing is ever overwritten or deleted.
//!
//! Events are compared by a fixed-size digest of their canonical form (parsed, object keys sorted,
//! no insignificant whitespace), so memory holds 16 bytes per event, not the event, and a change in
//! how Zoom serializes an event (key order, spacing) is not a new event. A listed event that
//! matches nothing exactly but has the *identity* of a held event that nothing listed matched yet
//! (its `time` and the report's known fields) is the same event rendered differently (a new
//! field, another number format): it is counted as drift and not written. Pairing is greedy, which
//! is exact for counts: each listed event consumes at most one held event, exact matches first.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::slice::event_time;
use crate::keys::hour_prefix;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, StoreError};
use crate::window::Window;

/// 16 bytes of the SHA-256 of an event's canonical form, or of its identity.
pub type Digest = [u8; 16];

/// The fields Zoom documents for each report: with `time`, an event's identity.
fn known_fields(log_type: LogType) -> &'static [&'static str] {
    match log_type {
        LogType::Activity => &[
            "time",
            "email",
            "type",
            "ip_address",
            "client_type",
            "version",
        ],
        LogType::Operation => &[
            "time",
            "operator",
            "category_type",
            "action",
            "operation_detail",
        ],
    }
}

/// An event's two digests: its canonical form, and its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventDigest {
    pub canonical: Digest,
    pub identity: Digest,
}

impl EventDigest {
    /// The digests of one event's JSON text; `None` if it is not JSON.
    pub fn of(log_type: LogType, event: &str) -> Option<EventDigest> {
        let value: Value = serde_json::from_str(event).ok()?;
        let mut canonical = Vec::with_capacity(event.len());
        write_canonical(&value, &mut canonical);
        let mut identity = Vec::new();
        for field in known_fields(log_type) {
            write_canonical(value.get(field).unwrap_or(&Value::Null), &mut identity);
            identity.push(0);
        }
        Some(EventDigest {
            canonical: digest(&canonical),
            identity: digest(&identity),
        })
    }
}

fn digest(bytes: &[u8]) -> Digest {
    let full = Sha256::digest(bytes);
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// JSON with object keys sorted at every level and no whitespace; numbers and strings as
/// `serde_json` renders them. Written straight into `out`: no string is built per key or scalar.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(key, out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

/// A string or a scalar as compact JSON. Neither can fail: a `Vec` takes every byte, and a string
/// or a parsed scalar always serializes.
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(out, value);
}

/// How a listed event compares with what the bucket holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The bucket holds it: nothing to write.
    Held,
    /// The bucket holds the same event rendered differently: nothing to write, counted as drift.
    Drifted,
    /// The bucket does not hold it: write it.
    Surplus,
}

/// The events the bucket holds in one hour (within a window), not yet matched by a listed event.
#[derive(Debug, Default)]
pub struct Held {
    canonical: HashMap<Digest, u32>,
    identity: HashMap<Digest, u32>,
    /// Per identity, the canonical digests held with it (for drift pairing).
    by_identity: HashMap<Digest, Vec<Digest>>,
    /// Held events not yet matched.
    unmatched: u64,
}

impl Held {
    pub fn add(&mut self, event: EventDigest) {
        self.unmatched += 1;
        *self.canonical.entry(event.canonical).or_default() += 1;
        *self.identity.entry(event.identity).or_default() += 1;
        let forms = self.by_identity.entry(event.identity).or_default();
        if !forms.contains(&event.canonical) {
            forms.push(event.canonical);
        }
    }

    /// Matches one listed event against what is held, consuming what it matches.
    pub fn take(&mut self, event: EventDigest) -> Verdict {
        if take_one(&mut self.canonical, event.canonical) {
            take_one(&mut self.identity, event.identity);
            self.unmatched -= 1;
            return Verdict::Held;
        }
        if take_one(&mut self.identity, event.identity) {
            // Consume one held form of this identity, so an exact match cannot claim it again.
            if let Some(forms) = self.by_identity.get(&event.identity)
                && let Some(form) = forms
                    .iter()
                    .find(|f| self.canonical.get(*f).is_some_and(|n| *n > 0))
            {
                let form = *form;
                take_one(&mut self.canonical, form);
                self.unmatched -= 1;
            }
            return Verdict::Drifted;
        }
        Verdict::Surplus
    }

    /// Held events no listed event matched.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Whether every held event is matched: then every listed event is surplus, and nothing
    /// needs its digest.
    pub fn is_exhausted(&self) -> bool {
        self.unmatched == 0
    }

    /// Reads the events the bucket holds in `hour`'s partition whose time is in `window`,
    /// skipping the objects in `skip` (this writer's own, already matched); with the keys listed.
    pub async fn load<K: ObjectSink>(
        sink: &K,
        prefix: &str,
        log_type: LogType,
        hour: DateTime<Utc>,
        window: Window,
        skip: &[String],
    ) -> Result<(Held, Vec<String>), StoreError> {
        let folder = hour_prefix(prefix, log_type, hour);
        let mut held = Held::default();
        let keys = sink.list(&folder).await?;
        for key in &keys {
            if skip.contains(key) {
                continue;
            }
            let Some(body) = sink.get(key).await? else {
                continue;
            };
            let mut text = Vec::new();
            GzDecoder::new(&body[..])
                .read_to_end(&mut text)
                .map_err(|e| StoreError::new(format!("decompressing {key}"), e))?;
            for line in text.split(|&b| b == b'\n') {
                let Ok(line) = std::str::from_utf8(line) else {
                    continue;
                };
                let Ok(raw) = serde_json::from_str::<&serde_json::value::RawValue>(line) else {
                    continue;
                };
                if event_time(raw).is_some_and(|t| window.contains(t))
                    && let Some(digest) = EventDigest::of(log_type, line)
                {
                    held.add(digest);
                }
            }
        }
        Ok((held, keys))
    }
}

fn take_one(counts: &mut HashMap<Digest, u32>, key: Digest) -> bool {
    match counts.get_mut(&key) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> EventDigest {
        EventDigest::of(LogType::Activity, text).unwrap()
    }

    const A: &str = r#"{"email":"a@x","time":"2026-11-29T16:48:05Z","type":"Sign in"}"#;

    #[test]
    fn key_order_and_spacing_do_not_change_the_canonical_form() {
        let reordered = r#"{ "type": "Sign in", "time":"2026-11-29T16:48:05Z", "email":"a@x" }"#;
        assert_eq!(digest(A), digest(reordered));
    }

    #[test]
    fn the_canonical_form_sorts_keys_at_every_level_and_escapes_as_serde_json_does() {
        let value: Value = serde_json::from_str(
            r#"{ "b": "q\"\u00e9\n", "a": [1, 2.5, -0, null, true, {"z": 1, "y": {}}], "c": "" }"#,
        )
        .unwrap();
        let mut out = Vec::new();
        write_canonical(&value, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":[1,2.5,-0.0,null,true,{"y":{},"z":1}],"b":"q\"é\n","c":""}"#
        );
    }

    #[test]
    fn a_new_field_keeps_the_identity_but_not_the_canonical_form() {
        let grown = r#"{"email":"a@x","time":"2026-11-29T16:48:05Z","type":"Sign in","new":1}"#;
        assert_ne!(digest(A).canonical, digest(grown).canonical);
        assert_eq!(digest(A).identity, digest(grown).identity);
    }

    #[test]
    fn identical_rows_keep_their_multiplicity() {
        let mut held = Held::default();
        assert!(held.is_exhausted());
        held.add(digest(A));
        held.add(digest(A));
        assert!(!held.is_exhausted());
        assert_eq!(held.take(digest(A)), Verdict::Held);
        assert_eq!(held.take(digest(A)), Verdict::Held);
        assert!(held.is_exhausted());
        assert_eq!(held.take(digest(A)), Verdict::Surplus);
        assert_eq!(held.unmatched(), 0);
    }

    #[test]
    fn a_drifted_event_pairs_with_a_held_one_once_and_exact_matches_come_first() {
        let grown = r#"{"email":"a@x","time":"2026-11-29T16:48:05Z","type":"Sign in","new":1}"#;
        let mut held = Held::default();
        held.add(digest(A));
        held.add(digest(A));
        // Zoom now lists the drifted form first, then the old form, then a third event.
        assert_eq!(held.take(digest(grown)), Verdict::Drifted);
        assert_eq!(held.take(digest(A)), Verdict::Held);
        assert_eq!(held.take(digest(A)), Verdict::Surplus);
        assert_eq!(held.unmatched(), 0);
    }
}
