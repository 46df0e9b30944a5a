//! The checkpoint: the one rule of what a log type has written, and the marker object that keeps it.
//!
//! A log type's backlog is cut into slices, oldest first. Each slice is recorded in the marker
//! before any of its objects is written, and its window names those objects for good. Inside a
//! slice, events are written newest first, whole UTC hours at a time: `written_from = H` means
//! every event of the slice at or after `H` is written, so what is left is the slice's window
//! below `H` ([`Slice::pending`]). With it the marker keeps the page token that goes on from there.
//! A slice whose pending part is empty is done; the end of the leading run of done slices is the
//! new cursor, and `written_through` keeps it in the marker too, so a cursor that failed to reach
//! the secret is recovered.
//!
//! Every change is saved before the run relies on it, so after a crash at any instant the next run
//! finds exactly what was recorded and redoes only the pending parts, under the same keys.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::PullError;
use crate::keys::marker_key;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, Precondition, StoreError};
use crate::window::{Window, covered_by_to};

/// Where a query that was writing a slice can go on: the same `from`/`to` and the page token of
/// the page on which its oldest unwritten hour began, and that page's first event's time, by which
/// a later run knows the page again (if Zoom changed its order since, the token leads elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub page_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event: Option<DateTime<Utc>>,
}

/// One slice of a log type's backlog and how much of it is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    #[serde(flatten)]
    pub window: Window,
    /// Every event of the slice at or after this hour is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// Set once Zoom's order was seen not newest first: the slice is then pulled in bands of at
    /// most this many hours, each held in memory until its query ends (written as parts past the
    /// memory budget), shortened when a band outgrows the run's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band_hours: Option<i64>,
    /// Nothing of the slice is left to write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
}

impl Slice {
    fn new(window: Window) -> Slice {
        Slice {
            window,
            written_from: None,
            resume: None,
            band_hours: None,
            done: false,
        }
    }

    /// The part of the slice still to write, or `None` when it is done.
    pub fn pending(&self) -> Option<Window> {
        if self.done {
            return None;
        }
        let left = match self.written_from {
            Some(hour) => self.window.below(hour),
            None => self.window,
        };
        (!left.is_empty()).then_some(left)
    }
}

/// Zoom refused a query whose `to` was `day`, at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedTo {
    pub day: NaiveDate,
    pub at: DateTime<Utc>,
    /// Zoom was seen to treat `to` as inclusive (a `from == to` query listed events). Unless it
    /// was, a query up to a day is taken to cover only the days before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub to_inclusive: bool,
}

/// A refusal of today (UTC) as `to` means Zoom's day boundaries are west of UTC and its today is
/// still UTC's yesterday; today is asked for again this long after it was refused.
const ASK_FOR_TODAY_AGAIN_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// A refusal is relied on this long; then a later day is asked for again, so that one refusal for
/// another reason, or a Zoom that changed its mind, does not hold the window for good.
const TRUST_A_REFUSAL_FOR: chrono::Duration = chrono::Duration::days(1);

/// What the marker holds for one log type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Every event with `time <=` this is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_through: Option<DateTime<Utc>>,
    /// Parts of an hour are cut after this many events (fixed while slices are open, so a replay
    /// cuts the same parts even if `OBJECT_MAX_EVENTS` changed).
    pub object_max_events: usize,
    /// Events per day seen in the last finished slice: how long the next slice is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_day: Option<f64>,
    /// The last time Zoom refused a `to` day as later than its today: queries ask for no later
    /// day than [`Ledger::latest_to`], and what is newer than that day's 10:00 UTC waits for
    /// Zoom's next day (see [`Ledger::held_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_to: Option<RefusedTo>,
    /// When the log type's recent hours were last re-checked for events Zoom reported late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rechecked_at: Option<DateTime<Utc>>,
    /// Recorded slices, oldest first, each starting where the previous one ends.
    #[serde(default)]
    pub slices: Vec<Slice>,
}

impl Ledger {
    /// The ledger as a run with `cursor` must continue it: slices at or before the cursor are
    /// dropped, and a cursor inside a slice is refused (someone edited one of the two).
    fn resumed_at(mut self, cursor: Option<DateTime<Utc>>) -> Result<Ledger, String> {
        let Some(cursor) = cursor.max(self.written_through) else {
            return Ok(self);
        };
        if let Some(slice) = self
            .slices
            .iter()
            .find(|s| s.window.start < cursor && cursor < s.window.end)
        {
            return Err(format!(
                "marker slice ({}, {}] straddles the cursor {cursor}",
                slice.window.start, slice.window.end
            ));
        }
        self.slices.retain(|s| s.window.end > cursor);
        self.written_through = Some(cursor);
        Ok(self)
    }

    /// The latest `to` day to ask Zoom for at `now`, if it refused a later one within
    /// [`TRUST_A_REFUSAL_FOR`]: today (UTC), or yesterday within [`ASK_FOR_TODAY_AGAIN_AFTER`] of
    /// Zoom refusing today.
    pub fn latest_to(&self, now: DateTime<Utc>) -> Option<NaiveDate> {
        let refused = self
            .refused_to
            .filter(|r| now - r.at < TRUST_A_REFUSAL_FOR)?;
        let today = now.date_naive();
        let today_refused = refused.day <= today && now - refused.at < ASK_FOR_TODAY_AGAIN_AFTER;
        Some(if today_refused {
            today - chrono::Duration::days(1)
        } else {
            today
        })
    }

    /// How far the log type can be pulled at `now` while Zoom refuses later `to` days: what a
    /// query up to [`Ledger::latest_to`] covers in every zone, with `to` inclusive if Zoom was
    /// seen to treat it so, else exclusive (then it covers only the day before).
    pub fn held_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = self.latest_to(now)?;
        let inclusive = self.refused_to.is_some_and(|r| r.to_inclusive);
        let last_day_listed = if inclusive {
            latest
        } else {
            latest.pred_opt()?
        };
        Some(covered_by_to(last_day_listed))
    }

    /// Whether a run with `cursor` can continue this ledger: `Err` says which slice straddles the
    /// cursor (the run would fail with the checkpoint inconsistent). Read-only, for `check` and
    /// `status`: the same rule the run applies.
    pub fn agrees_with(&self, cursor: Option<DateTime<Utc>>) -> Result<(), String> {
        self.clone().resumed_at(cursor).map(|_| ())
    }

    /// The slices a run with `cursor` still has to write (those ending after the cursor and after
    /// `written_through`), oldest first; empty when the marker has no open window.
    pub fn open_slices(&self, cursor: Option<DateTime<Utc>>) -> Vec<Slice> {
        let written = cursor.max(self.written_through);
        self.slices
            .iter()
            .filter(|s| written.is_none_or(|w| s.window.end > w))
            .cloned()
            .collect()
    }

    /// Where the next slice starts, if any is recorded or written.
    pub fn planned_until(&self) -> Option<DateTime<Utc>> {
        self.slices
            .last()
            .map(|s| s.window.end)
            .or(self.written_through)
    }

    /// Folds the leading done slices into `written_through`.
    fn fold_done(&mut self) {
        let done = self.slices.iter().take_while(|s| s.done).count();
        if let Some(last) = self.slices.drain(..done).next_back() {
            self.written_through = Some(last.window.end);
        }
    }

    fn slice_mut(&mut self, start: DateTime<Utc>) -> Option<&mut Slice> {
        self.slices.iter_mut().find(|s| s.window.start == start)
    }
}

/// The marker file: the ledger and its log type. Markers written before slices existed hold one
/// window as `start`/`end`; they are read as a ledger of that one slice.
#[derive(Serialize, Deserialize)]
struct MarkerFile {
    log_type: String,
    /// The run that wrote the marker last (a random id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<String>,
    #[serde(flatten)]
    ledger: Ledger,
    #[serde(default, skip_serializing)]
    start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing)]
    end: Option<DateTime<Utc>>,
}

/// A checkpoint marker as anyone reads it (the run, `zoomlogs check`, `zoomlogs status`): one
/// parser, one meaning. A marker from before slices reads as a ledger of its one slice.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// The log type the marker names.
    pub log_type: String,
    /// The run that claimed the marker last (a random id); `None` in markers from before claims.
    pub claim: Option<String>,
    pub ledger: Ledger,
}

/// Reads a checkpoint marker's bytes. The error says where the bytes stop being a marker (line,
/// column and kind), never the bytes themselves.
pub fn read_marker(bytes: &[u8]) -> Result<Marker, String> {
    let file = parse_marker(bytes).map_err(|e| {
        let why = match e.classify() {
            serde_json::error::Category::Syntax => "it is not JSON",
            serde_json::error::Category::Eof => "it is cut off",
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            serde_json::error::Category::Io => "it could not be read",
        };
        format!("{why} (line {}, column {})", e.line(), e.column())
    })?;
    Ok(Marker {
        log_type: file.log_type.clone(),
        claim: file.claim.clone(),
        ledger: file.into_ledger(),
    })
}

fn parse_marker(bytes: &[u8]) -> Result<MarkerFile, serde_json::Error> {
    serde_json::from_slice::<MarkerFile>(bytes)
}

impl MarkerFile {
    fn into_ledger(self) -> Ledger {
        let mut ledger = self.ledger;
        if let (Some(start), Some(end)) = (self.start, self.end) {
            ledger.written_through = Some(start);
            ledger.slices = vec![Slice::new(Window { start, end })];
        }
        ledger
    }
}

/// A log type's ledger for one run, saved to its marker object after every change by
/// compare-and-swap: created with `If-None-Match: *`, then replaced with `If-Match` on the ETag
/// this run read or wrote last. The marker is the log type's lock: a run claims it as it loads it
/// (a write carrying the run's own claim id, so no two runs' markers have one ETag), and checks
/// before every log object it writes that the marker is still the one it wrote last
/// ([`Checkpoint::fence`]). A run whose swap or check fails was overlapped by another run of the
/// same log type (the CLI beside the Lambda, a retried event, a stack without reserved
/// concurrency): it writes nothing more for the log type and stops, and the other run goes on from
/// what the marker holds. A crashed run holds no lease: the next run claims the marker at once.
pub struct Checkpoint<'a, K> {
    sink: &'a K,
    key: String,
    log_type: LogType,
    claim: String,
    ledger: Mutex<Marked>,
    overlapped: AtomicBool,
}

/// The ledger and the ETag of the marker that holds it (`None`: no marker yet).
struct Marked {
    ledger: Ledger,
    etag: Option<String>,
}

impl<'a, K: ObjectSink> Checkpoint<'a, K> {
    /// Reads the marker and continues it from `cursor`. Without a marker, a ledger starts empty
    /// with the configured part size.
    pub async fn load(
        sink: &'a K,
        prefix: &str,
        log_type: LogType,
        cursor: Option<DateTime<Utc>>,
        object_max_events: usize,
    ) -> Result<Checkpoint<'a, K>, PullError> {
        let key = marker_key(prefix, log_type);
        let stored = sink.get_tagged(&key).await?;
        let etag = stored.as_ref().and_then(|s| s.etag.clone());
        let ledger = match stored {
            Some(stored) => parse_marker(&stored.body)
                .map_err(|e| StoreError::new(format!("reading checkpoint marker {key}"), e))?
                .into_ledger(),
            None => Ledger {
                object_max_events,
                ..Ledger::default()
            },
        };
        let mut ledger = ledger.resumed_at(cursor).map_err(PullError::Checkpoint)?;
        if ledger.slices.is_empty() {
            ledger.object_max_events = object_max_events;
        }
        let checkpoint = Checkpoint {
            sink,
            key,
            log_type,
            claim: format!("{:016x}", rand::random::<u64>()),
            ledger: Mutex::new(Marked { ledger, etag }),
            overlapped: AtomicBool::new(false),
        };
        checkpoint.change(|_| {}).await?;
        Ok(checkpoint)
    }

    /// Fails with a conflict, and marks the run overlapped, unless the marker is still the one
    /// this run wrote last: another run has claimed the log type.
    pub async fn fence(&self) -> Result<(), StoreError> {
        let marked = self.ledger.lock().await;
        if !self.overlapped() {
            let current = self.sink.etag(&self.key).await?;
            if current.is_some() && current == marked.etag {
                return Ok(());
            }
            tracing::warn!(log_type = %self.log_type, key = self.key,
                "another run claimed the checkpoint marker; this run stops the log type");
            self.overlapped.store(true, Ordering::SeqCst);
        }
        Err(StoreError::conflict(format!(
            "checking checkpoint marker {}",
            self.key
        )))
    }

    pub async fn ledger(&self) -> Ledger {
        self.ledger.lock().await.ledger.clone()
    }

    /// Whether another run changed the marker since this run read it: this run must stop.
    pub fn overlapped(&self) -> bool {
        self.overlapped.load(Ordering::SeqCst)
    }

    /// The slice starting at `start`; `None` once it is done and folded into `written_through`.
    pub async fn slice(&self, start: DateTime<Utc>) -> Option<Slice> {
        let marked = self.ledger.lock().await;
        marked
            .ledger
            .slices
            .iter()
            .find(|s| s.window.start == start)
            .cloned()
    }

    /// Records a new slice after the last one; nothing of it may be written before this returns.
    pub async fn plan(&self, window: Window) -> Result<(), StoreError> {
        self.change(|ledger| ledger.slices.push(Slice::new(window)))
            .await
    }

    /// Records that every event of the slice starting at `slice` at or after `hour` is written.
    pub async fn written_from(
        &self,
        slice: DateTime<Utc>,
        hour: DateTime<Utc>,
        resume: Option<Resume>,
    ) -> Result<(), StoreError> {
        self.change(|ledger| {
            if let Some(slice) = ledger.slice_mut(slice) {
                slice.written_from = Some(hour);
                slice.resume = resume;
                slice.done = slice.pending().is_none();
            }
        })
        .await
    }

    /// Records where the query of the slice starting at `slice` can go on, nothing more written.
    pub async fn resume(
        &self,
        slice: DateTime<Utc>,
        resume: Option<Resume>,
    ) -> Result<(), StoreError> {
        self.change(|ledger| {
            if let Some(slice) = ledger.slice_mut(slice) {
                slice.resume = resume;
            }
        })
        .await
    }

    /// Records that the slice starting at `slice` is to be pulled in bands of at most `hours`.
    pub async fn bands_of(&self, slice: DateTime<Utc>, hours: i64) -> Result<(), StoreError> {
        self.change(|ledger| {
            if let Some(slice) = ledger.slice_mut(slice) {
                slice.band_hours = Some(hours.max(1));
                slice.resume = None;
            }
        })
        .await
    }

    /// Records that Zoom refused a query whose `to` was `day`, at `at`, and whether it was seen
    /// to treat `to` as inclusive.
    pub async fn refused_to(
        &self,
        day: NaiveDate,
        at: DateTime<Utc>,
        to_inclusive: bool,
    ) -> Result<(), StoreError> {
        let refused = RefusedTo {
            day,
            at,
            to_inclusive,
        };
        self.change(|ledger| ledger.refused_to = Some(refused))
            .await
    }

    /// Ends the last slice, if it starts at `slice`, at `end` instead: only for a slice nothing
    /// has been written for, since a slice's window names its objects.
    pub async fn cut_last(
        &self,
        slice: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.change(|ledger| {
            if let Some(last) = ledger.slices.last_mut()
                && last.window.start == slice
            {
                last.window.end = end;
            }
        })
        .await
    }

    /// Records that the recent hours were re-checked at `at`.
    pub async fn rechecked(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.change(|ledger| ledger.rechecked_at = Some(at)).await
    }

    /// Records that the slice starting at `slice` is completely written.
    pub async fn done(
        &self,
        slice: DateTime<Utc>,
        events_per_day: Option<f64>,
    ) -> Result<(), StoreError> {
        self.change(|ledger| {
            if let Some(slice) = ledger.slice_mut(slice) {
                slice.done = true;
                slice.resume = None;
            }
            if events_per_day.is_some() {
                ledger.events_per_day = events_per_day;
            }
        })
        .await
    }

    async fn change(&self, change: impl FnOnce(&mut Ledger)) -> Result<(), StoreError> {
        let mut marked = self.ledger.lock().await;
        if self.overlapped() {
            return Err(StoreError::conflict(format!(
                "updating checkpoint marker {}",
                self.key
            )));
        }
        let mut changed = marked.ledger.clone();
        change(&mut changed);
        changed.fold_done();
        let file = MarkerFile {
            log_type: self.log_type.name().to_owned(),
            claim: Some(self.claim.clone()),
            ledger: changed,
            start: None,
            end: None,
        };
        let body = serde_json::to_vec(&file)
            .map_err(|e| StoreError::new(format!("serializing marker {}", self.key), e))?;
        let precondition = marked
            .etag
            .clone()
            .map_or(Precondition::Absent, Precondition::Matches);
        let etag = match self
            .sink
            .put(&self.key, body, "application/json", precondition)
            .await
        {
            Ok(etag) => etag,
            Err(e) if e.conflict => {
                tracing::warn!(log_type = %self.log_type, key = self.key,
                    "another run changed the checkpoint marker; this run stops the log type");
                self.overlapped.store(true, Ordering::SeqCst);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        marked.ledger = file.ledger;
        marked.etag = etag;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: at(start),
            end: at(end),
        }
    }

    fn ledger(slices: Vec<Slice>) -> Ledger {
        Ledger {
            written_through: Some(slices[0].window.start),
            object_max_events: 7,
            events_per_day: None,
            refused_to: None,
            rechecked_at: None,
            slices,
        }
    }

    #[test]
    fn after_a_refused_future_day_zoom_is_asked_for_today_and_after_a_refused_today_for_yesterday()
    {
        let mut ledger = ledger(vec![Slice::new(window(
            "2026-11-20T23:00:00Z",
            "2026-11-21T23:00:00Z",
        ))]);
        let now = at("2026-11-30T05:15:00Z");
        assert_eq!(ledger.latest_to(now), None);
        assert_eq!(ledger.held_at(now), None);
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        ledger.refused_to = Some(RefusedTo {
            day: day("2026-12-01"),
            at: now,
            to_inclusive: true,
        });
        assert_eq!(ledger.latest_to(now), Some(day("2026-11-30")));
        assert_eq!(ledger.held_at(now), Some(at("2026-11-30T10:00:00Z")));
        // Unless `to` was seen inclusive, a query up to today lists yesterday at most.
        ledger.refused_to = ledger.refused_to.map(|r| RefusedTo {
            to_inclusive: false,
            ..r
        });
        assert_eq!(ledger.held_at(now), Some(at("2026-11-29T10:00:00Z")));
        ledger.refused_to = Some(RefusedTo {
            day: day("2026-11-30"),
            at: now,
            to_inclusive: true,
        });
        assert_eq!(ledger.latest_to(now), Some(day("2026-11-29")));
        assert_eq!(
            ledger.latest_to(now + chrono::Duration::minutes(59)),
            Some(day("2026-11-29"))
        );
        // Zoom's today may have begun since: it is asked for again.
        assert_eq!(
            ledger.latest_to(now + chrono::Duration::hours(1)),
            Some(day("2026-11-30"))
        );
        assert_eq!(
            ledger.latest_to(now + chrono::Duration::hours(23)),
            Some(day("2026-12-01"))
        );
        // A day later, the safe range is asked for again.
        assert_eq!(ledger.latest_to(now + chrono::Duration::hours(24)), None);
    }

    #[test]
    fn pending_is_the_window_below_the_written_hours() {
        let mut slice = Slice::new(window("2026-11-20T23:00:00Z", "2026-11-21T23:00:00Z"));
        assert_eq!(slice.pending(), Some(slice.window));
        slice.written_from = Some(at("2026-11-21T10:00:00Z"));
        let left = slice.pending().unwrap();
        assert!(left.contains(at("2026-11-21T09:59:59Z")));
        assert!(!left.contains(at("2026-11-21T10:00:00Z")));
        slice.written_from = Some(at("2026-11-20T23:00:00Z"));
        assert_eq!(slice.pending(), None, "the start is exclusive");
        slice.written_from = Some(at("2026-11-21T01:00:00Z"));
        slice.done = true;
        assert_eq!(slice.pending(), None);
    }

    #[test]
    fn a_cursor_at_a_slice_boundary_drops_the_slices_before_it() {
        let a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        let b = Slice::new(window("2026-11-20T23:00:00Z", "2026-11-21T23:00:00Z"));
        let resumed = ledger(vec![a, b.clone()])
            .resumed_at(Some(at("2026-11-20T23:00:00Z")))
            .unwrap();
        assert_eq!(resumed.slices, vec![b]);
        assert_eq!(resumed.written_through, Some(at("2026-11-20T23:00:00Z")));
    }

    #[test]
    fn a_cursor_behind_the_marker_is_carried_forward_to_what_the_marker_says_is_written() {
        let a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        let mut l = ledger(vec![a]);
        l.written_through = Some(at("2026-11-19T23:00:00Z"));
        let resumed = l
            .clone()
            .resumed_at(Some(at("2026-11-01T00:00:00Z")))
            .unwrap();
        assert_eq!(resumed, l);
        assert_eq!(l.clone().resumed_at(None).unwrap(), l);
    }

    #[test]
    fn a_cursor_inside_a_slice_is_refused() {
        let a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        let error = ledger(vec![a])
            .resumed_at(Some(at("2026-11-20T12:00:00Z")))
            .unwrap_err();
        assert!(error.contains("straddles"), "{error}");
    }

    #[test]
    fn a_cursor_past_every_slice_leaves_an_empty_ledger() {
        let a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        let resumed = ledger(vec![a])
            .resumed_at(Some(at("2026-11-21T00:00:00Z")))
            .unwrap();
        assert!(resumed.slices.is_empty());
        assert_eq!(resumed.planned_until(), Some(at("2026-11-21T00:00:00Z")));
    }

    #[test]
    fn leading_done_slices_fold_into_written_through() {
        let mut a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        let b = Slice::new(window("2026-11-20T23:00:00Z", "2026-11-21T23:00:00Z"));
        let mut c = Slice::new(window("2026-11-21T23:00:00Z", "2026-11-22T23:00:00Z"));
        a.done = true;
        c.done = true;
        let mut l = ledger(vec![a, b.clone(), c.clone()]);
        l.fold_done();
        assert_eq!(l.written_through, Some(at("2026-11-20T23:00:00Z")));
        assert_eq!(l.slices, vec![b, c]);
    }

    #[test]
    fn a_marker_from_before_slices_reads_as_one_slice() {
        let text = r#"{"log_type":"Zoom.Activity","start":"2026-11-19T23:00:00Z","end":"2026-11-20T23:00:00Z","object_max_events":7}"#;
        let ledger = serde_json::from_str::<MarkerFile>(text)
            .unwrap()
            .into_ledger();
        assert_eq!(ledger.written_through, Some(at("2026-11-19T23:00:00Z")));
        assert_eq!(
            ledger.slices,
            vec![Slice::new(window(
                "2026-11-19T23:00:00Z",
                "2026-11-20T23:00:00Z"
            ))]
        );
        assert_eq!(ledger.object_max_events, 7);
    }

    #[test]
    fn a_marker_round_trips() {
        let mut a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        a.written_from = Some(at("2026-11-20T05:00:00Z"));
        a.resume = Some(Resume {
            from: NaiveDate::from_ymd_opt(2026, 11, 19).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            page_token: "abc".into(),
            first_event: Some(at("2026-11-20T04:59:59Z")),
        });
        let l = ledger(vec![a]);
        let file = MarkerFile {
            log_type: "Zoom.Activity".into(),
            claim: Some("run".into()),
            ledger: l.clone(),
            start: None,
            end: None,
        };
        let text = serde_json::to_string(&file).unwrap();
        assert!(!text.contains("\"start\":null"), "{text}");
        let back = serde_json::from_str::<MarkerFile>(&text)
            .unwrap()
            .into_ledger();
        assert_eq!(back, l);
    }

    #[test]
    fn the_marker_of_a_complete_run_reads_with_its_claim_and_refusal() {
        let text = r#"{"log_type":"Zoom.Activity","claim":"00ab","written_through":"2026-11-21T23:00:00Z","object_max_events":50,"refused_to":{"day":"2026-11-23","at":"2026-11-22T01:00:00Z","to_inclusive":true},"slices":[]}"#;
        let marker = read_marker(text.as_bytes()).unwrap();
        assert_eq!(marker.claim.as_deref(), Some("00ab"));
        assert!(marker.ledger.slices.is_empty());
        assert!(marker.ledger.refused_to.unwrap().to_inclusive);
        let through = at("2026-11-21T23:00:00Z");
        assert_eq!(marker.ledger.written_through, Some(through));
        assert_eq!(marker.ledger.agrees_with(Some(through)), Ok(()));
        assert!(marker.ledger.open_slices(Some(through)).is_empty());
        let error = read_marker(br#"{"client_secret":"s3cr3t-value"}"#).unwrap_err();
        assert!(!error.contains("s3cr3t"), "{error}");
    }

    #[test]
    fn an_open_slice_is_open_and_a_cursor_inside_it_disagrees() {
        let mut a = Slice::new(window("2026-11-19T23:00:00Z", "2026-11-20T23:00:00Z"));
        a.written_from = Some(at("2026-11-20T10:00:00Z"));
        let l = ledger(vec![a.clone()]);
        assert_eq!(l.open_slices(Some(at("2026-11-19T23:00:00Z"))), vec![a]);
        assert!(l.agrees_with(Some(at("2026-11-20T12:00:00Z"))).is_err());
        assert!(l.open_slices(Some(at("2026-11-20T23:00:00Z"))).is_empty());
    }
}
