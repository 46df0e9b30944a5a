//! The record of an account's last run, so an operator sees each account's last outcome and last
//! error without searching the function's logs.
//!
//! The Lambda handler writes it at the end of every invocation that reached an account (one that
//! named no account, an invalid one, or one without a secret has none to record for): at
//! [`run_record_key`] (`<LOG_PREFIX>_runs/last-run.json`, and for one account of many
//! `<LOG_PREFIX>_runs/account=<name>/last-run.json` through the account's sink), beside the
//! checkpoint markers and outside every log-type folder, so no pipeline ingests it. It holds when
//! the run finished, its outcome (`ok`, `stopped_early` with each log type's reason, `failed` with
//! the `errorType` and message), and the events written per log type. The last failure, when the
//! last run that did not fail finished, and how many runs in a row failed are carried forward from
//! the record before, so "last error 3 h ago: AuthRevoked" stays visible after the account
//! recovered. `zoomlogs status` and `zoomlogs accounts list` show it.
//!
//! The record is read and written back with a compare-and-swap (`If-Match` on the ETag read,
//! `If-None-Match: *` for the first), retried a few times on a conflict, so two overlapping
//! invocations never drop each other's error. Writing it is the run's last act and cannot change
//! the run's result: the caller only logs a failure to write it. Messages are the errors' own
//! texts, which never hold a token or the client secret.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::run_record_key;
use crate::ports::{ObjectSink, Precondition, StoreError};
use crate::pull::RunSummary;

/// How often a write that lost the compare-and-swap to another invocation's is tried again.
const ATTEMPTS: usize = 3;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every log type reached its window's end.
    Ok,
    /// A success in which at least one log type stopped before its window's end (daily limit,
    /// deadline, rate limit, overlapped...); the next run goes on.
    StoppedEarly,
    /// The invocation failed with a typed error.
    Failed,
}

/// A failure as the record keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedError {
    /// When the run that failed finished.
    pub at: DateTime<Utc>,
    /// The Lambda `errorType`, the name an operator alarms on.
    pub error_type: String,
    pub error: String,
}

/// `last-run.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub finished_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// Each log type that stopped early, and why (`daily_limit`, `deadline`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stopped_early: BTreeMap<String, String>,
    /// This run's failure, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Events written per log type (none for a failed run: what it wrote before failing counts,
    /// and the next run's summary shows it).
    #[serde(default)]
    pub events_written: BTreeMap<String, u64>,
    /// When the last run that did not fail finished: this one, or carried forward.
    #[serde(default)]
    pub last_ok_at: Option<DateTime<Utc>>,
    /// The latest failure: this run's, or carried forward from the records before.
    #[serde(default)]
    pub last_error: Option<RecordedError>,
    /// How many runs in a row failed, this one included (0 after a run that did not fail).
    #[serde(default)]
    pub failures_in_a_row: u32,
}

impl RunRecord {
    /// The log types that stopped early and why, for a person: `Zoom.Activity deadline, …`.
    pub fn stops(&self) -> String {
        let stops: Vec<String> = self
            .stopped_early
            .iter()
            .map(|(log_type, why)| format!("{log_type} {why}"))
            .collect();
        stops.join(", ")
    }

    /// The record of a run that returned `summary` (it may have stopped early).
    pub fn succeeded(summary: &RunSummary, finished_at: DateTime<Utc>) -> RunRecord {
        let stopped_early: BTreeMap<String, String> = summary
            .log_types
            .iter()
            .filter_map(|s| {
                let reason = serde_json::to_value(s.stopped_early?).ok()?;
                Some((s.log_type.to_string(), reason.as_str()?.to_owned()))
            })
            .collect();
        RunRecord {
            finished_at,
            outcome: if stopped_early.is_empty() {
                Outcome::Ok
            } else {
                Outcome::StoppedEarly
            },
            stopped_early,
            error_type: None,
            error: None,
            events_written: summary
                .log_types
                .iter()
                .map(|s| (s.log_type.to_string(), s.events_written))
                .collect(),
            last_ok_at: Some(finished_at),
            last_error: None,
            failures_in_a_row: 0,
        }
    }

    /// The record of a run that failed with `error_type` and `error` (the error's message).
    pub fn failed(error_type: &str, error: String, finished_at: DateTime<Utc>) -> RunRecord {
        RunRecord {
            finished_at,
            outcome: Outcome::Failed,
            stopped_early: BTreeMap::new(),
            error_type: Some(error_type.to_owned()),
            error: Some(error.clone()),
            events_written: BTreeMap::new(),
            last_ok_at: None,
            last_error: Some(RecordedError {
                at: finished_at,
                error_type: error_type.to_owned(),
                error,
            }),
            failures_in_a_row: 1,
        }
    }

    /// This record with what `previous`, the record it replaces, carries forward: the last
    /// failure (unless this run failed, which makes its own the last), when the last run that did
    /// not fail finished (unless this one did not), and the count of failures in a row.
    pub fn after(mut self, previous: Option<&RunRecord>) -> RunRecord {
        let Some(previous) = previous else {
            return self;
        };
        if self.outcome == Outcome::Failed {
            self.last_ok_at = previous.last_ok_at;
            self.failures_in_a_row = previous.failures_in_a_row.saturating_add(1);
        } else {
            self.last_error = previous.last_error.clone();
        }
        self
    }
}

/// The last run's record under `prefix` in `sink`: `None` if no run was recorded, `Err` naming the
/// key if it cannot be read or does not parse.
pub async fn read<K: ObjectSink>(sink: &K, prefix: &str) -> Result<Option<RunRecord>, String> {
    let key = run_record_key(prefix);
    let Some(bytes) = sink.get(&key).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("the run record {key} does not parse: {e}"))
}

/// Writes `record`, carrying forward what the record it replaces holds ([`RunRecord::after`]), and
/// returns what was written. A record that does not parse is replaced as if there were none.
pub async fn record<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    record: RunRecord,
) -> Result<RunRecord, StoreError> {
    let key = run_record_key(prefix);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let stored = sink.get_tagged(&key).await?;
        let (previous, precondition) = match stored {
            None => (None, Precondition::Absent),
            Some(object) => {
                let etag = object.etag.ok_or_else(|| {
                    StoreError::new(
                        format!("GetObject {key}"),
                        "the store gave no ETag, so the record cannot be replaced safely",
                    )
                })?;
                let previous = serde_json::from_slice::<RunRecord>(&object.body)
                    .inspect_err(|e| {
                        tracing::warn!(key = %key, error = %e, "the last run's record does not parse; replacing it");
                    })
                    .ok();
                (previous, Precondition::Matches(etag))
            }
        };
        let next = record.clone().after(previous.as_ref());
        let body = serde_json::to_vec_pretty(&next).expect("a run record serializes");
        match sink.put(&key, body, "application/json", precondition).await {
            Ok(_) => return Ok(next),
            Err(e) if e.conflict && attempt < ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::DirSink;
    use crate::log_type::LogType;
    use crate::pull::{LogTypeSummary, StopReason};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn summary(stops: &[(LogType, Option<StopReason>, u64)]) -> RunSummary {
        RunSummary {
            reference_time: at("2026-11-29T21:00:00Z"),
            log_types: stops
                .iter()
                .map(|&(log_type, stop, events)| LogTypeSummary {
                    stopped_early: stop,
                    events_written: events,
                    ..LogTypeSummary::new(log_type, None)
                })
                .collect(),
            state_saved: true,
            account: None,
        }
    }

    fn ok(finished: &str) -> RunRecord {
        RunRecord::succeeded(
            &summary(&[(LogType::Activity, None, 3), (LogType::Operation, None, 0)]),
            at(finished),
        )
    }

    fn revoked(finished: &str) -> RunRecord {
        RunRecord::failed(
            "AuthRevoked",
            "the Zoom authorization is revoked or invalid".into(),
            at(finished),
        )
    }

    #[test]
    fn a_success_says_ok_and_counts_the_events_per_log_type() {
        let record = ok("2026-11-29T21:01:00Z");
        assert_eq!(record.outcome, Outcome::Ok);
        assert_eq!(record.events_written["Zoom.Activity"], 3);
        assert_eq!(record.events_written["Zoom.Operation"], 0);
        assert_eq!(record.last_ok_at, Some(at("2026-11-29T21:01:00Z")));
        assert_eq!((record.error_type, record.last_error), (None, None));
    }

    #[test]
    fn a_stop_names_each_log_type_that_stopped_and_why() {
        let record = RunRecord::succeeded(
            &summary(&[
                (LogType::Activity, Some(StopReason::DailyLimit), 5),
                (LogType::Operation, None, 1),
            ]),
            at("2026-11-29T21:01:00Z"),
        );
        assert_eq!(record.outcome, Outcome::StoppedEarly);
        assert_eq!(
            record.stopped_early,
            BTreeMap::from([("Zoom.Activity".to_owned(), "daily_limit".to_owned())])
        );
        assert_eq!(record.last_ok_at, Some(at("2026-11-29T21:01:00Z")));
    }

    #[test]
    fn the_last_error_is_carried_forward_through_later_successes() {
        let first = ok("2026-11-29T20:00:00Z").after(None);
        let failed = revoked("2026-11-29T20:15:00Z").after(Some(&first));
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.error_type.as_deref(), Some("AuthRevoked"));
        assert_eq!(failed.last_ok_at, Some(at("2026-11-29T20:00:00Z")));
        assert_eq!(failed.failures_in_a_row, 1);
        let again = revoked("2026-11-29T20:30:00Z").after(Some(&failed));
        assert_eq!(again.failures_in_a_row, 2);
        assert_eq!(again.last_ok_at, Some(at("2026-11-29T20:00:00Z")));
        assert_eq!(
            again.last_error.as_ref().unwrap().at,
            at("2026-11-29T20:30:00Z")
        );

        let recovered = ok("2026-11-29T20:45:00Z").after(Some(&again));
        assert_eq!(recovered.outcome, Outcome::Ok);
        assert_eq!(recovered.failures_in_a_row, 0);
        assert_eq!((&recovered.error_type, &recovered.error), (&None, &None));
        assert_eq!(recovered.last_ok_at, Some(at("2026-11-29T20:45:00Z")));
        let later = ok("2026-11-29T21:00:00Z").after(Some(&recovered));
        let kept = later.last_error.expect("the last error is kept");
        assert_eq!(kept.error_type, "AuthRevoked");
        assert_eq!(kept.at, at("2026-11-29T20:30:00Z"));
    }

    #[test]
    fn a_new_failure_replaces_the_last_error() {
        let revoked = revoked("2026-11-29T20:00:00Z").after(None);
        let recovered = ok("2026-11-29T20:15:00Z").after(Some(&revoked));
        let scope = RunRecord::failed(
            "MissingScope",
            "the Zoom app lacks a required scope".into(),
            at("2026-11-29T20:30:00Z"),
        )
        .after(Some(&recovered));
        let last = scope.last_error.unwrap();
        assert_eq!(last.error_type, "MissingScope");
        assert_eq!(last.at, at("2026-11-29T20:30:00Z"));
        assert_eq!(scope.failures_in_a_row, 1);
    }

    #[tokio::test]
    async fn records_are_read_back_and_carry_forward_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        assert_eq!(read(&sink, "zoom/").await.unwrap(), None);
        record(&sink, "zoom/", revoked("2026-11-29T20:00:00Z"))
            .await
            .unwrap();
        let written = record(&sink, "zoom/", ok("2026-11-29T20:15:00Z"))
            .await
            .unwrap();
        let stored = read(&sink, "zoom/").await.unwrap().unwrap();
        assert_eq!(stored, written);
        assert_eq!(stored.outcome, Outcome::Ok);
        assert_eq!(stored.last_error.unwrap().error_type, "AuthRevoked");
        assert!(dir.path().join("zoom/_runs/last-run.json").exists());
    }

    #[tokio::test]
    async fn a_record_that_does_not_parse_is_replaced_and_reported_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        let key = run_record_key("zoom/");
        sink.put(&key, b"not json".to_vec(), "t", Precondition::Absent)
            .await
            .unwrap();
        let error = read(&sink, "zoom/").await.unwrap_err();
        assert!(error.contains(&key), "{error}");
        record(&sink, "zoom/", ok("2026-11-29T20:15:00Z"))
            .await
            .unwrap();
        assert_eq!(
            read(&sink, "zoom/").await.unwrap().unwrap().outcome,
            Outcome::Ok
        );
    }

    /// A sink whose first conditional put of the record loses to another invocation's write, made
    /// just before it: the retry must read that write and keep its error.
    struct Racing {
        inner: DirSink,
        raced: std::sync::atomic::AtomicBool,
    }

    impl ObjectSink for Racing {
        async fn put(
            &self,
            key: &str,
            body: Vec<u8>,
            content_type: &'static str,
            precondition: Precondition,
        ) -> Result<Option<String>, StoreError> {
            if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let other = revoked("2026-11-29T20:10:00Z").after(None);
                let other = serde_json::to_vec(&other).unwrap();
                self.inner
                    .put(key, other, content_type, Precondition::Absent)
                    .await?;
            }
            self.inner.put(key, body, content_type, precondition).await
        }

        async fn get_tagged(
            &self,
            key: &str,
        ) -> Result<Option<crate::ports::StoredObject>, StoreError> {
            self.inner.get_tagged(key).await
        }

        async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            self.inner.list(prefix).await
        }

        async fn etag(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.inner.etag(key).await
        }
    }

    #[tokio::test]
    async fn an_overlapping_invocations_error_survives_the_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Racing {
            inner: DirSink::new(dir.path()),
            raced: false.into(),
        };
        let written = record(&sink, "zoom/", ok("2026-11-29T20:15:00Z"))
            .await
            .unwrap();
        assert_eq!(written.outcome, Outcome::Ok);
        assert_eq!(written.last_error.unwrap().error_type, "AuthRevoked");
        assert_eq!(written.last_ok_at, Some(at("2026-11-29T20:15:00Z")));
    }
}
