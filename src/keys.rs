//! Object keys: where each output object and each checkpoint marker lives.
//!
//! `<prefix><log type>/year=YYYY/month=MM/day=DD/hour=HH/<window start>_<window end>_<part>.json.gz`,
//! partitioned by the events' own hour (UTC). A first attempt names its parts after the slice's
//! window and the part number; a rewrite that reconciles an hour with the bucket names what it adds
//! after its content (`<window start>_<window end>_<content>`, or `late_<content>` for late events).
//! Every object is written once: a key is never reused for other bytes.
//!
//! When one deployment serves many accounts, each account's keys are these keys with the folder
//! `account=<name>/` put after the first folder under the prefix ([`account_key`]): log objects at
//! `<prefix><log type>/account=<name>/year=…`, markers at `<prefix>_checkpoints/account=<name>/…`,
//! quarantined events at `<prefix>_quarantine/account=<name>/<log type>/…`, the last run's record
//! at `<prefix>_runs/account=<name>/last-run.json`.

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

/// The key of the record of the function's last run ([`crate::runs`]), beside the checkpoint
/// markers and outside every log-type folder, so that a pipeline never ingests it.
pub fn run_record_key(prefix: &str) -> String {
    format!("{prefix}_runs/last-run.json")
}

/// The key of an event that cannot be placed in a window (it has no valid `time`): named after
/// its content, so seeing it again rewrites the same object.
pub fn quarantine_key(prefix: &str, log_type: LogType, event: &[u8]) -> String {
    format!("{prefix}_quarantine/{log_type}/{}.json", sha256_hex(event))
}

/// Where `key`, a key (or a listing prefix) of the layout above under `prefix`, lives for
/// account `account`: `account=<name>/` goes after the first folder under the prefix. `None` for
/// a key outside `prefix` or without a folder under it: such a key has no place in an account's
/// folders.
pub fn account_key(prefix: &str, account: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let (folder, inside) = rest.split_once('/')?;
    if folder.is_empty() {
        return None;
    }
    Some(format!("{prefix}{folder}/account={account}/{inside}"))
}

/// The key of the single-account layout that [`account_key`] put at `key` for `account`, or
/// `None` if `key` is not in that account's folders.
pub fn unaccount_key(prefix: &str, account: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let (folder, inside) = rest.split_once('/')?;
    let inside = inside.strip_prefix("account=")?.strip_prefix(account)?;
    let inside = inside.strip_prefix('/')?;
    Some(format!("{prefix}{folder}/{inside}"))
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
        assert_eq!(run_record_key("zoom/"), "zoom/_runs/last-run.json");
        assert_eq!(
            quarantine_key("zoom/", LogType::Activity, b"abc"),
            "zoom/_quarantine/Zoom.Activity/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json"
        );
    }

    #[test]
    fn an_accounts_keys_put_its_folder_after_the_log_type_folder() {
        let window = Window {
            start: "2026-11-29T20:40:00Z".parse().unwrap(),
            end: "2026-11-29T20:55:00Z".parse().unwrap(),
        };
        let hour = "2026-11-29T20:00:00Z".parse().unwrap();
        let key = object_key("zoom/", LogType::Activity, &window, hour, 0);
        assert_eq!(
            account_key("zoom/", "acme", &key).unwrap(),
            "zoom/Zoom.Activity/account=acme/year=2026/month=11/day=29/hour=20/20261129T204000Z_20261129T205500Z_0000.json.gz"
        );
        assert_eq!(
            account_key("zoom/", "acme", &marker_key("zoom/", LogType::Operation)).unwrap(),
            "zoom/_checkpoints/account=acme/Zoom.Operation.json"
        );
        assert_eq!(
            account_key(
                "zoom/",
                "acme",
                &quarantine_key("zoom/", LogType::Activity, b"abc")
            )
            .unwrap(),
            "zoom/_quarantine/account=acme/Zoom.Activity/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json"
        );
        assert_eq!(
            account_key("zoom/", "acme", &run_record_key("zoom/")).unwrap(),
            "zoom/_runs/account=acme/last-run.json"
        );
        assert_eq!(
            account_key("", "acme", &hour_prefix("", LogType::Operation, hour)).unwrap(),
            "Zoom.Operation/account=acme/year=2026/month=11/day=29/hour=20/"
        );
        for key in [&key, &marker_key("zoom/", LogType::Operation)] {
            let stored = account_key("zoom/", "acme", key).unwrap();
            assert_eq!(unaccount_key("zoom/", "acme", &stored).as_ref(), Some(key));
            assert_eq!(unaccount_key("zoom/", "acm", &stored), None);
            assert_eq!(unaccount_key("zoom/", "acme-eu", &stored), None);
        }
    }

    #[test]
    fn a_key_outside_the_layout_has_no_place_in_an_account() {
        assert_eq!(account_key("zoom/", "acme", "other/Zoom.Activity/x"), None);
        assert_eq!(account_key("zoom/", "acme", "zoom/Zoom.Activity"), None);
        assert_eq!(account_key("zoom/", "acme", "zoom//x"), None);
        assert_eq!(
            unaccount_key("zoom/", "acme", "zoom/Zoom.Activity/year=2026/x"),
            None
        );
    }
}
