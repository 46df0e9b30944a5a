//! `zoomlogs status`: what an operator asks of a deployment at a glance, read without changing
//! anything. Per log type the cursor and its lag, the open checkpoint marker if any, and (given the
//! output) the newest object and its age; for the grant, the access token's expiry and when the
//! refresh token last rotated; and (given the output) the function's last run and last error from
//! the run record ([`crate::runs`]). It never shows a token or the client secret: only times,
//! names, and error messages, which hold neither.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::backends::Output;
use super::{load_marker, rfc3339};
use crate::config::Config;
use crate::ports::StateStore;
use crate::runs::{Outcome, RunRecord};
use crate::state::{StateDoc, StateError};

/// Everything `status` reports, as printed with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub now: DateTime<Utc>,
    /// Where the state document is.
    pub state: String,
    /// Where the objects are; `null` when not given, and then nothing is known of markers or objects.
    pub output: Option<String>,
    /// `user_authorized` or `server_to_server`.
    pub app: &'static str,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// Negative once expired.
    pub access_token_expires_in_seconds: Option<i64>,
    /// `null` when the state records no rotation time (or the app has no refresh token).
    pub refresh_token_rotated_at: Option<DateTime<Utc>>,
    /// The function's last run of this account ([`crate::runs`]), given the output: `null` before
    /// its first recorded run.
    pub last_run: Option<RunRecord>,
    /// Why the last run's record could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_unreadable: Option<String>,
    pub log_types: Vec<LogTypeStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogTypeStatus {
    pub log_type: String,
    pub cursor: Option<DateTime<Utc>>,
    /// From the cursor to now.
    pub lag_seconds: Option<i64>,
    /// What the checkpoint marker says is written: every event at or before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_through: Option<DateTime<Utc>>,
    /// The checkpoint marker's window that is not fully written yet, if any.
    pub open_checkpoint: Option<Checkpoint>,
    pub newest_object: Option<NewestObject>,
    /// What stops the log type: a cursor or `written_through` later than the clock (the log type
    /// writes nothing until the clock passes it), a marker inconsistent with the cursor.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Why the marker or the newest object could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Checkpoint {
    pub key: String,
    /// The first open slice's start and the last slice's end.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// How many slices are open.
    pub slices: usize,
    /// In the first open slice, every event at or after this hour is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_from: Option<DateTime<Utc>>,
    /// The run that claimed the marker last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Whether the cursor agrees with the marker (see `zoomlogs check`).
    pub consistent: bool,
}

/// What is wrong with a time that should be in the past, if it is later than `now`.
pub(crate) fn in_the_future(what: &str, time: DateTime<Utc>, now: DateTime<Utc>) -> Option<String> {
    (time > now).then(|| {
        format!(
            "CursorInFuture: {what} {} is later than the clock ({}): the log type writes nothing \
             until the clock passes it",
            rfc3339(time),
            rfc3339(now)
        )
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct NewestObject {
    pub key: String,
    pub last_modified: DateTime<Utc>,
    pub age_seconds: i64,
}

/// Reads the state (and the output, if given) and reports.
pub async fn read<S: StateStore>(
    config: &Config,
    store: S,
    store_name: &str,
    output: Option<&Output>,
    now: DateTime<Utc>,
) -> Result<Status, StateError> {
    let doc = StateDoc::parse(&store.load().await?)?;
    let mut log_types = Vec::new();
    for &log_type in &config.log_types {
        let cursor = doc.cursors.get(log_type.name()).copied();
        let mut status = LogTypeStatus {
            log_type: log_type.name().to_owned(),
            cursor,
            lag_seconds: cursor.map(|c| (now - c).num_seconds()),
            written_through: None,
            open_checkpoint: None,
            newest_object: None,
            problems: cursor
                .and_then(|c| in_the_future("the cursor", c, now))
                .into_iter()
                .collect(),
            errors: Vec::new(),
        };
        if let Some(output) = output {
            match load_marker(output, &config.prefix, log_type).await {
                Ok(Some((key, Ok(marker)))) => {
                    let ledger = &marker.ledger;
                    status.written_through = ledger.written_through;
                    if let Some(problem) = ledger
                        .written_through
                        .and_then(|w| in_the_future("the marker's written_through", w, now))
                    {
                        status.problems.push(problem);
                    }
                    let consistent = ledger.agrees_with(cursor);
                    if let Err(why) = &consistent {
                        status
                            .problems
                            .push(format!("CheckpointInconsistent: {why}"));
                    }
                    let open = ledger.open_slices(cursor);
                    if let (Some(first), Some(last)) = (open.first(), open.last()) {
                        status.open_checkpoint = Some(Checkpoint {
                            key,
                            start: first.window.start,
                            end: last.window.end,
                            slices: open.len(),
                            written_from: first.written_from,
                            claim: marker.claim.clone(),
                            consistent: consistent.is_ok(),
                        });
                    }
                }
                Ok(None) => {}
                Ok(Some((key, Err(why)))) => status.errors.push(format!(
                    "the checkpoint marker {key} is not readable as one: {why}"
                )),
                Err(e) => status.errors.push(e.to_string()),
            }
            let folder = format!("{}{}/", config.prefix, log_type.name());
            match output.newest_object(&folder).await {
                Ok(newest) => {
                    status.newest_object = newest.map(|o| NewestObject {
                        age_seconds: (now - o.modified).num_seconds(),
                        key: o.key,
                        last_modified: o.modified,
                    });
                }
                Err(e) => status.errors.push(e.to_string()),
            }
        }
        log_types.push(status);
    }
    let (last_run, last_run_unreadable) = match output {
        Some(output) => match crate::runs::read(output, &config.prefix).await {
            Ok(record) => (record, None),
            Err(why) => (None, Some(why)),
        },
        None => (None, None),
    };
    Ok(Status {
        now,
        state: store_name.to_owned(),
        output: output.map(|o| o.describe("")),
        app: if doc.account_id.is_some() {
            "server_to_server"
        } else {
            "user_authorized"
        },
        access_token_expires_at: doc.access_token_expires_at,
        access_token_expires_in_seconds: doc
            .access_token_expires_at
            .map(|t| (t - now).num_seconds()),
        refresh_token_rotated_at: doc.refresh_token_rotated_at,
        last_run,
        last_run_unreadable,
        log_types,
    })
}

impl Status {
    /// The report for a person.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "state: {}", self.state);
        let _ = writeln!(
            out,
            "output: {}",
            self.output.as_deref().unwrap_or(
                "not given (--bucket or --out-dir show checkpoints and the newest objects)"
            )
        );
        let app = match self.app {
            "server_to_server" => "Server-to-Server app",
            _ => "user-authorized app",
        };
        let expiry = match (
            self.access_token_expires_at,
            self.access_token_expires_in_seconds,
        ) {
            (Some(at), Some(left)) if left >= 0 => {
                format!("expires {} (in {})", rfc3339(at), duration(left))
            }
            (Some(at), Some(left)) => {
                format!("expired {} ({} ago)", rfc3339(at), duration(-left))
            }
            _ => "none stored".into(),
        };
        let _ = writeln!(out, "grant: {app}; access token {expiry}");
        let rotated = match (self.app, self.refresh_token_rotated_at) {
            ("server_to_server", _) => "not applicable (no refresh token)".to_owned(),
            (_, Some(at)) => format!(
                "{} ({} ago)",
                rfc3339(at),
                duration((self.now - at).num_seconds())
            ),
            (_, None) => "unknown (the state records no rotation time)".to_owned(),
        };
        let _ = writeln!(out, "refresh token last rotated: {rotated}");
        let (last_run, last_error) = match (&self.output, &self.last_run_unreadable) {
            (None, _) => (
                "not known (--bucket or --out-dir shows the function's last run)".to_owned(),
                "not known".to_owned(),
            ),
            (Some(_), Some(why)) => (format!("unreadable: {why}"), "not known".to_owned()),
            (Some(_), None) => (
                last_run_text(self.last_run.as_ref(), self.now),
                last_error_text(self.last_run.as_ref(), self.now),
            ),
        };
        let _ = writeln!(out, "last run: {last_run}");
        let _ = writeln!(out, "last error: {last_error}");
        for lt in &self.log_types {
            let _ = writeln!(out, "{}", lt.log_type);
            let cursor = match (lt.cursor, lt.lag_seconds) {
                (Some(c), Some(lag)) => format!("{} (lag {})", rfc3339(c), duration(lag)),
                _ => "none yet (the first run starts INITIAL_LOOKBACK_DAYS back)".into(),
            };
            let _ = writeln!(out, "  cursor: {cursor}");
            for problem in &lt.problems {
                let _ = writeln!(out, "  PROBLEM: {problem} (see `zoomlogs check`)");
            }
            if self.output.is_none() {
                continue;
            }
            if let Some(w) = lt.written_through {
                let _ = writeln!(out, "  marker: written through {}", rfc3339(w));
            }
            let checkpoint = match &lt.open_checkpoint {
                Some(c) => {
                    let slices = match c.slices {
                        1 => " in 1 slice".to_owned(),
                        n => format!(" in {n} slices"),
                    };
                    let slices = match c.written_from {
                        Some(h) => format!("{slices}, written from {} on", rfc3339(h)),
                        None => slices,
                    };
                    let verdict = if c.consistent {
                        ""
                    } else {
                        "; INCONSISTENT with the cursor, see `zoomlogs check`"
                    };
                    format!(
                        "open ({}, {}]{slices}{verdict}",
                        rfc3339(c.start),
                        rfc3339(c.end)
                    )
                }
                None => "none open".into(),
            };
            let _ = writeln!(out, "  checkpoint: {checkpoint}");
            let newest = match &lt.newest_object {
                Some(o) => format!(
                    "{} (written {}, {} ago)",
                    o.key,
                    rfc3339(o.last_modified),
                    duration(o.age_seconds)
                ),
                None => "none".into(),
            };
            let _ = writeln!(out, "  newest object: {newest}");
            for error in &lt.errors {
                let _ = writeln!(out, "  error: {error}");
            }
        }
        out
    }
}

/// The last run for a person: when, and how it ended.
pub(crate) fn last_run_text(record: Option<&RunRecord>, now: DateTime<Utc>) -> String {
    let Some(record) = record else {
        return "none recorded (the function records each run it makes)".to_owned();
    };
    let when = format!(
        "{} ({} ago)",
        rfc3339(record.finished_at),
        duration((now - record.finished_at).num_seconds())
    );
    let events = || {
        let counts: Vec<String> = record
            .events_written
            .iter()
            .map(|(log_type, n)| format!("{log_type} {n}"))
            .collect();
        format!("events written: {}", counts.join(", "))
    };
    match record.outcome {
        Outcome::Ok => format!("{when}: ok; {}", events()),
        Outcome::StoppedEarly => format!(
            "{when}: stopped early ({}), the next run goes on; {}",
            record.stops(),
            events()
        ),
        Outcome::Failed => {
            let in_a_row = match record.failures_in_a_row {
                0 | 1 => String::new(),
                n => format!(" ({n} failed runs in a row)"),
            };
            format!(
                "{when}: FAILED {}{in_a_row}",
                record.error_type.as_deref().unwrap_or("unknown")
            )
        }
    }
}

/// The latest failure for a person: when, its `errorType` and its message.
pub(crate) fn last_error_text(record: Option<&RunRecord>, now: DateTime<Utc>) -> String {
    match record.and_then(|r| r.last_error.as_ref()) {
        Some(e) => format!(
            "{} ({} ago): {}: {}",
            rfc3339(e.at),
            duration((now - e.at).num_seconds()),
            e.error_type,
            e.error
        ),
        None => "none recorded".to_owned(),
    }
}

/// `3 d 4 h`, `2 h 5 min`, `7 min`, `12 s`: the two largest units.
fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_run_reads_as_its_outcome_and_the_last_error_as_its_type_and_message() {
        use crate::runs::{RecordedError, RunRecord};
        let now: DateTime<Utc> = "2026-11-29T21:00:00Z".parse().unwrap();
        let at = |minutes: i64| now - chrono::Duration::minutes(minutes);
        let stopped = RunRecord {
            finished_at: at(5),
            outcome: Outcome::StoppedEarly,
            stopped_early: [("Zoom.Activity".to_owned(), "daily_limit".to_owned())].into(),
            error_type: None,
            error: None,
            events_written: [("Zoom.Activity".to_owned(), 7)].into(),
            last_ok_at: Some(at(5)),
            last_error: Some(RecordedError {
                at: at(180),
                error_type: "AuthRevoked".into(),
                error: "re-authorize the app".into(),
            }),
            failures_in_a_row: 0,
        };
        assert_eq!(
            last_run_text(Some(&stopped), now),
            "2026-11-29T20:55:00Z (5 min ago): stopped early (Zoom.Activity daily_limit), \
             the next run goes on; events written: Zoom.Activity 7"
        );
        assert_eq!(
            last_error_text(Some(&stopped), now),
            "2026-11-29T18:00:00Z (3 h 0 min ago): AuthRevoked: re-authorize the app"
        );
        let failed = RunRecord::failed("MissingScope", "lacks a scope".into(), at(1)).after(Some(
            &RunRecord {
                failures_in_a_row: 2,
                ..stopped
            },
        ));
        assert_eq!(
            last_run_text(Some(&failed), now),
            "2026-11-29T20:59:00Z (1 min ago): FAILED MissingScope (3 failed runs in a row)"
        );
        assert!(last_error_text(Some(&failed), now).ends_with("MissingScope: lacks a scope"));
        assert!(last_run_text(None, now).starts_with("none recorded"));
        assert_eq!(last_error_text(None, now), "none recorded");
    }

    #[test]
    fn durations_show_their_two_largest_units() {
        assert_eq!(duration(12), "12 s");
        assert_eq!(duration(7 * 60 + 3), "7 min");
        assert_eq!(duration(2 * 3600 + 5 * 60), "2 h 5 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 60), "3 d 4 h");
        assert_eq!(duration(-5), "0 s");
    }
}
