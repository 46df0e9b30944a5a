//! Pulls one log type: continues the slices its checkpoint recorded, then plans new ones up to the
//! run's window end, oldest first, each recorded before it is written. Several slices are pulled
//! at once (`ZOOM_CONCURRENT_QUERIES`), so a backlog is bound by Zoom's rate limit rather than by
//! one page's round trip; a log type that is up to date has one slice, one query. The cursor moves
//! to the end of the slices done without a gap.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::Mutex;

use super::checkpoint::Checkpoint;
use super::recheck::{self, Recheck};
use super::slice::{SliceStop, Tally, pull_slice};
use super::{PullError, RunContext};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, ReportSource};
use crate::window::{Window, initial_start, next_slice, retention_floor, window_end};

/// A cursor later than the clock by more than this is an error, not a log type with nothing to do
/// (a mistyped edit, a tampered marker); within it, the clocks of two writers may just disagree.
pub(super) const CLOCK_SKEW: chrono::Duration = chrono::Duration::hours(1);

/// A slice is planned to hold about this many events (100 full pages), from the density the last
/// finished slice showed; without one, a slice is one day.
const SLICE_TARGET_EVENTS: f64 = 30_000.0;

/// Why a log type stopped before its window end. The next run continues from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Zoom's daily request quota is used up; it resets at 00:00 UTC.
    DailyLimit,
    /// The run's deadline is near.
    Deadline,
    /// Zoom's per-second rate limit, shared with the account's other apps, held until the run's
    /// deadline (or for many attempts without one): the pace adapts, the next run goes on.
    RateLimited,
    /// Zoom refuses `to` days after today: what is newer than today's 10:00 UTC (see `held_at`)
    /// waits for Zoom's next day.
    FutureDayRefused,
    /// Another run of the same log type changed its checkpoint marker first (two runs
    /// overlapped): this one stopped and left the log type to it. Not an error; nothing is lost.
    Overlapped,
}

/// What happened to one log type in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogTypeSummary {
    pub log_type: LogType,
    pub events_written: u64,
    pub objects_written: u64,
    pub pages_fetched: u64,
    /// The whole window this run set out to write, `(start, end]`.
    pub window: Option<Window>,
    /// Slices recorded by an earlier run and continued first: from the first one's start to the
    /// last one's end.
    pub replayed: Option<Window>,
    /// Events before this time had already left Zoom's six-month retention and could not be pulled.
    pub unavailable_before: Option<DateTime<Utc>>,
    pub cursor_before: Option<DateTime<Utc>>,
    pub cursor_after: Option<DateTime<Utc>>,
    pub stopped_early: Option<StopReason>,
    /// With a daily limit: when Zoom said requests are allowed again.
    pub retry_after: Option<DateTime<Utc>>,
    /// Zoom refuses `to` days after today, so events newer than this wait for its next day.
    pub held_at: Option<DateTime<Utc>>,
    /// Events without a valid `time`, kept under `<prefix>_quarantine/`.
    pub quarantined_events: u64,
    /// The most bytes of events one query held in memory at once (bounded by `BUFFER_BUDGET_MB`
    /// shared by the log type's queries, plus one page and one part).
    pub peak_buffered_bytes: u64,
    /// Queries ended because Zoom's page token looped (a repeated page, or a token seen before).
    pub page_loops: u64,
    /// The re-check of recent hours for events Zoom reported late, when one was due.
    pub recheck: Option<Recheck>,
    pub error: Option<String>,
}

impl LogTypeSummary {
    /// Nothing done yet, starting from `cursor`.
    pub fn new(log_type: LogType, cursor: Option<DateTime<Utc>>) -> Self {
        LogTypeSummary {
            log_type,
            events_written: 0,
            objects_written: 0,
            pages_fetched: 0,
            window: None,
            replayed: None,
            unavailable_before: None,
            cursor_before: cursor,
            cursor_after: cursor,
            stopped_early: None,
            retry_after: None,
            held_at: None,
            quarantined_events: 0,
            peak_buffered_bytes: 0,
            page_loops: 0,
            recheck: None,
            error: None,
        }
    }
}

/// The summary, and the failure that ended the log type, if any.
pub struct LogTypeOutcome {
    pub summary: LogTypeSummary,
    pub error: Option<PullError>,
}

pub async fn pull_log_type<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    cursor: Option<DateTime<Utc>>,
) -> LogTypeOutcome {
    let mut summary = LogTypeSummary::new(log_type, cursor);
    let error = pull_slices(ctx, log_type, &mut summary).await.err();
    summary.error = error.as_ref().map(ToString::to_string);
    LogTypeOutcome { summary, error }
}

/// Hands out the slices to pull: recorded ones first, then new ones from `start` (or the last
/// recorded slice) to `end`, planned and recorded on demand; none once any slice had to stop or
/// failed.
struct Planner<'c, 'a, K> {
    checkpoint: &'c Checkpoint<'a, K>,
    recorded: VecDeque<DateTime<Utc>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    stop: Option<SliceStop>,
    failed: bool,
}

impl<K: ObjectSink> Planner<'_, '_, K> {
    /// The next slice's start and whether an earlier run recorded it.
    async fn next(&mut self) -> Result<Option<(DateTime<Utc>, bool)>, PullError> {
        if self.stop.is_some() || self.failed {
            return Ok(None);
        }
        if let Some(start) = self.recorded.pop_front() {
            return Ok(Some((start, true)));
        }
        let ledger = self.checkpoint.ledger().await;
        let from = ledger
            .planned_until()
            .map_or(self.start, |t| t.max(self.start));
        let days = ledger.events_per_day.map_or(1, |per_day| {
            (SLICE_TARGET_EVENTS / per_day.max(1.0)).floor() as i64
        });
        let end = ledger
            .held_at(self.now)
            .map_or(self.end, |held| held.min(self.end));
        let Some(window) = next_slice(from, end, days) else {
            return Ok(None);
        };
        self.checkpoint.plan(window).await?;
        Ok(Some((window.start, false)))
    }
}

async fn pull_slices<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    summary: &mut LogTypeSummary,
) -> Result<(), PullError> {
    let prefix = &ctx.config.prefix;
    let loaded = Checkpoint::load(
        ctx.sink,
        prefix,
        log_type,
        summary.cursor_before,
        ctx.config.object_max_events,
    )
    .await;
    let checkpoint = match loaded {
        Err(PullError::Store(e)) if e.conflict => {
            tracing::warn!(%log_type, "another run claimed the checkpoint marker first; stopping");
            summary.stopped_early = Some(StopReason::Overlapped);
            return Ok(());
        }
        loaded => loaded?,
    };
    let ledger = checkpoint.ledger().await;
    if let Some(cursor) = ledger
        .written_through
        .filter(|cursor| *cursor > ctx.now + CLOCK_SKEW)
    {
        return Err(PullError::CursorInFuture {
            cursor,
            now: ctx.now,
        });
    }
    let recorded: VecDeque<_> = ledger.slices.iter().map(|s| s.window.start).collect();
    if let (Some(first), Some(last)) = (ledger.slices.first(), ledger.slices.last()) {
        let replayed = Window {
            start: first.window.start,
            end: last.window.end,
        };
        tracing::info!(%log_type, start = %replayed.start, end = %replayed.end,
            "continuing slices recorded by an earlier run");
        summary.replayed = Some(replayed);
    }
    summary.cursor_after = ledger.written_through.or(summary.cursor_before);

    let floor = retention_floor(ctx.now);
    let start = ledger
        .planned_until()
        .unwrap_or_else(|| initial_start(ctx.reference_time, ctx.config.initial_lookback_days));
    let first_pending = ledger.slices.iter().find_map(|s| s.pending());
    if first_pending.map_or(start, |w| w.start) < floor {
        tracing::warn!(%log_type, available_from = %floor,
            "events older than Zoom's six-month retention can no longer be pulled");
        summary.unavailable_before = Some(floor);
    }
    let end = window_end(ctx.reference_time, ctx.now, ctx.config.settle);
    summary.window = Some(Window {
        start: first_pending.map_or(start.max(floor), |w| w.start),
        end: end.max(ledger.planned_until().unwrap_or(end)),
    });

    let tally = Tally::for_window(summary.window);
    let planner = Mutex::new(Planner {
        checkpoint: &checkpoint,
        recorded,
        start: start.max(floor),
        end,
        now: ctx.now,
        stop: None,
        failed: false,
    });
    let workers = ctx.config.concurrent_queries.max(1);
    let budget = ctx.config.buffer_budget_bytes / workers;
    let results = join_all((0..workers).map(|_| async {
        loop {
            if ctx.deadline_is_near() {
                planner.lock().await.stop.get_or_insert(SliceStop::Deadline);
                return Ok(());
            }
            let next = planner.lock().await.next().await;
            let Some((slice, replaying)) = next? else {
                return Ok(());
            };
            match pull_slice(ctx, log_type, &checkpoint, &tally, slice, replaying, budget).await {
                Ok(None) => {}
                Ok(Some(stop)) => {
                    planner.lock().await.stop.get_or_insert(stop);
                    return Ok(());
                }
                Err(error) => {
                    planner.lock().await.failed = true;
                    return Err(error);
                }
            }
        }
    }))
    .await;

    match planner.into_inner().stop {
        Some(SliceStop::DailyLimit { retry_after }) => {
            summary.stopped_early = Some(StopReason::DailyLimit);
            summary.retry_after = retry_after;
        }
        Some(SliceStop::Deadline) => summary.stopped_early = Some(StopReason::Deadline),
        Some(SliceStop::RateLimited) => summary.stopped_early = Some(StopReason::RateLimited),
        Some(SliceStop::FutureDayRefused) => {
            summary.stopped_early = Some(StopReason::FutureDayRefused);
        }
        None => {}
    }
    if checkpoint.overlapped() {
        // The other run owns the log type now; what this one wrote is in the marker it shared.
        summary.stopped_early = Some(StopReason::Overlapped);
        summary.cursor_after = summary.cursor_before;
        summary.pages_fetched = tally.pages.load(Ordering::Relaxed);
        summary.events_written = tally.written.events.load(Ordering::Relaxed);
        summary.objects_written = tally.written.objects.load(Ordering::Relaxed);
        return Ok(());
    }
    let ledger = checkpoint.ledger().await;
    summary.held_at = ledger.held_at(ctx.now).filter(|held| *held < end);
    let written_through = ledger.written_through;
    summary.cursor_after = written_through.max(summary.cursor_after);
    summary.pages_fetched = tally.pages.load(Ordering::Relaxed);
    summary.events_written = tally.written.events.load(Ordering::Relaxed);
    summary.objects_written = tally.written.objects.load(Ordering::Relaxed);
    summary.quarantined_events = tally.quarantined.load(Ordering::Relaxed);
    summary.page_loops = tally.page_loops.load(Ordering::Relaxed);
    summary.peak_buffered_bytes = tally.written.peak_buffered.load(Ordering::Relaxed) as u64;
    results.into_iter().collect::<Result<(), PullError>>()?;

    let rechecked_at = ledger.rechecked_at;
    if let Some(cursor) = summary.cursor_after
        && ctx.config.recheck_hours > 0
        && summary.stopped_early.is_none()
        && recheck::due(rechecked_at, ctx.now, ctx.config.recheck_interval)
    {
        let read_from = summary.window.map_or(cursor, |w| w.start);
        match recheck_and_record(ctx, log_type, &checkpoint, cursor, read_from).await {
            Ok(found) => {
                summary.page_loops += found.page_loops;
                summary.recheck = Some(found);
            }
            // Another run claimed the log type during the re-check: it owns it now, as when that
            // happens during the pull.
            Err(_) if checkpoint.overlapped() => {
                summary.stopped_early = Some(StopReason::Overlapped);
                summary.cursor_after = summary.cursor_before;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The re-check, recorded as done in the checkpoint unless it stopped before its last hour.
async fn recheck_and_record<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    checkpoint: &Checkpoint<'_, K>,
    cursor: DateTime<Utc>,
    read_from: DateTime<Utc>,
) -> Result<Recheck, PullError> {
    let found = recheck::recheck(ctx, log_type, checkpoint, cursor, read_from).await?;
    if !found.incomplete {
        checkpoint.rechecked(ctx.now).await?;
    }
    Ok(found)
}
