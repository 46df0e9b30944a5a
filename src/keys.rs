//! Object keys: where each output object and each checkpoint marker lives.
//!
//! `<prefix><log type>/year=YYYY/month=MM/day=DD/hour=HH/<window start>_<window end>_<part>.json.gz`,
//! partitioned by the events' own hour (UTC). A first attempt names its parts after the slice's
//! window and the part number; a rewrite that reconciles an hour with the bucket names what it adds
//! after its content (`<window start>_<window end>_<content>`, or `late_<content>` for late events).
//! Every object is written once: a key is never reused for other bytes.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::log_type::LogType;
use crate::window::Window;

const COMPACT: &str = "%Y%m%dT%H%M%SZ";

/// The key of part `part` of the events of `hour` pulled in `window`.
pub fn object_key(
    prefix: &str,
    log_type: LogType,
    window: &Window,
    hour: DateTime<Utc>,
    part: u32,
) -> String {
    format!(
        "{}{}_{}_{part:04}.json.gz",
        hour_prefix(prefix, log_type, hour),
        window.start.format(COMPACT),
        window.end.format(COMPACT),
    )
}

/// The key of an object of events of `hour` pulled in `window` that the bucket lacked when a
/// rewrite reconciled the hour with it: named after its content, and `copy` (0 for the first)
/// numbers the hour's objects of the same content.
pub fn surplus_key(
    prefix: &str,
    log_type: LogType,
    window: &Window,
    hour: DateTime<Utc>,
    body: &[u8],
    copy: u32,
) -> String {
    format!(
        "{}{}_{}_{}{}.json.gz",
        hour_prefix(prefix, log_type, hour),
        window.start.format(COMPACT),
        window.end.format(COMPACT),
        &sha256_hex(body)[..32],
        copy_suffix(copy),
    )
}

fn copy_suffix(copy: u32) -> String {
    if copy == 0 {
        String::new()
    } else {
        format!("-{copy}")
    }
}

/// The folder of the objects of `hour`'s events (the hour's partition), ending in `/`.
pub fn hour_prefix(prefix: &str, log_type: LogType, hour: DateTime<Utc>) -> String {
    format!(
        "{prefix}{log_type}/year={:04}/month={:02}/day={:02}/hour={:02}/",
        hour.year(),
        hour.month(),
        hour.day(),
        hour.hour(),
    )
}

/// The key of an object of events Zoom reported late, found by a re-check of `hour`: named after
/// its content, and `copy` (0 for the first) numbers the hour's late objects of the same content.
pub fn late_key(
    prefix: &str,
    log_type: LogType,
    hour: DateTime<Utc>,
    body: &[u8],
    copy: u32,
) -> String {
    format!(
        "{}late_{}{}.json.gz",
        hour_prefix(prefix, log_type, hour),
        &sha256_hex(body)[..32],
        copy_suffix(copy),
    )
}

/// The SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The key of a log type's checkpoint marker, outside the log-type folder so that a pipeline
/// reading that folder never sees it.
pub fn marker_key(prefix: &str, log_type: LogType) -> String {
    format!("{prefix}_checkpoints/{log_type}.json")
}

/// The key of an event that cannot be placed in a window (it has no valid `time`): named after
/// its content, so seeing it again rewrites the same object.
pub fn quarantine_key(prefix: &str, log_type: LogType, event: &[u8]) -> String {
    format!("{prefix}_quarantine/{log_type}/{}.json", sha256_hex(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let window = Window {
            start: "2026-11-29T20:40:00Z".parse().unwrap(),
            end: "2026-11-29T20:55:00Z".parse().unwrap(),
        };
        let hour = "2026-11-29T20:00:00Z".parse().unwrap();
        assert_eq!(
            object_key("zoom/", LogType::Operation, &window, hour, 3),
            "zoom/Zoom.Operation/year=2026/month=11/day=29/hour=20/20261129T204000Z_20261129T205500Z_0003.json.gz"
        );
        assert_eq!(
            marker_key("zoom/", LogType::Activity),
            "zoom/_checkpoints/Zoom.Activity.json"
        );
        assert_eq!(
            quarantine_key("zoom/", LogType::Activity, b"abc"),
            "zoom/_quarantine/Zoom.Activity/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json"
        );
    }
}
