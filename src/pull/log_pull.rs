//! Pulls one log type: settles its window from the cursor and the checkpoint marker, then pulls
//! the window chunk by chunk, oldest first, recording each chunk before writing it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::checkpoint::{self, Marker};
use super::chunk::{ChunkCounts, pull_chunk};
use super::{PullError, RunContext};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, ReportSource, SourceError};
use crate::window::{Window, initial_start, plan_chunks, retention_floor, window_end};

/// Why a log type stopped before its window end. The next run continues from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Zoom's daily request quota is used up; it resets at 00:00 UTC.
    DailyLimit,
    /// The run's deadline is near.
    Deadline,
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
    /// A window recorded by an interrupted run and replayed first.
    pub replayed: Option<Window>,
    /// Events before this time had already left Zoom's six-month retention and could not be pulled.
    pub unavailable_before: Option<DateTime<Utc>>,
    pub cursor_before: Option<DateTime<Utc>>,
    pub cursor_after: Option<DateTime<Utc>>,
    pub stopped_early: Option<StopReason>,
    /// With a daily limit: when Zoom said requests are allowed again.
    pub retry_after: Option<DateTime<Utc>>,
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
    let error = pull_windows(ctx, log_type, &mut summary).await.err();
    summary.error = error.as_ref().map(ToString::to_string);
    LogTypeOutcome { summary, error }
}

async fn pull_windows<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    summary: &mut LogTypeSummary,
) -> Result<(), PullError> {
    let prefix = &ctx.config.prefix;
    let replay = match (
        checkpoint::load(ctx.sink, prefix, log_type).await?,
        summary.cursor_before,
    ) {
        (Some(marker), None) => Some(marker),
        (Some(marker), Some(cursor)) if marker.window.start >= cursor => Some(marker),
        (Some(marker), Some(cursor)) if marker.window.end <= cursor => None,
        (Some(marker), Some(cursor)) => {
            return Err(PullError::Checkpoint(format!(
                "marker window ({}, {}] straddles the cursor {cursor}",
                marker.window.start, marker.window.end
            )));
        }
        (None, _) => None,
    };
    if let Some(Marker { window, .. }) = replay {
        // Everything up to the marker's start was written before the marker was.
        summary.cursor_after = Some(window.start);
        summary.replayed = Some(window);
        tracing::info!(%log_type, start = %window.start, end = %window.end, "replaying an interrupted window");
    }

    let mut start = replay
        .map(|m| m.window.end)
        .or(summary.cursor_before)
        .unwrap_or_else(|| initial_start(ctx.reference_time, ctx.config.initial_lookback_days));
    let floor = retention_floor(ctx.now);
    if start < floor {
        tracing::warn!(%log_type, cursor = %start, available_from = %floor,
            "events older than Zoom's six-month retention can no longer be pulled");
        summary.unavailable_before = Some(floor);
        start = floor;
    }
    let end = window_end(ctx.reference_time, ctx.now, ctx.config.settle);
    let planned = plan_chunks(start, end).into_iter().map(|window| Marker {
        window,
        object_max_events: ctx.config.object_max_events,
    });
    let chunks: Vec<Marker> = replay.into_iter().chain(planned).collect();
    summary.window = chunks
        .first()
        .zip(chunks.last())
        .map(|(first, last)| Window {
            start: first.window.start,
            end: last.window.end,
        });

    let mut counts = ChunkCounts::default();
    let mut result = Ok(());
    for chunk in chunks {
        if ctx.deadline_is_near() {
            summary.stopped_early = Some(StopReason::Deadline);
            break;
        }
        let replaying = Some(chunk) == replay;
        if !replaying && let Err(e) = checkpoint::save(ctx.sink, prefix, log_type, chunk).await {
            result = Err(e.into());
            break;
        }
        match pull_chunk(ctx, log_type, chunk, replaying, &mut counts).await {
            Ok(()) => summary.cursor_after = Some(chunk.window.end),
            Err(PullError::Source(SourceError::DailyLimit { retry_after })) => {
                summary.stopped_early = Some(StopReason::DailyLimit);
                summary.retry_after = retry_after;
                break;
            }
            Err(PullError::Source(SourceError::Deadline)) => {
                summary.stopped_early = Some(StopReason::Deadline);
                break;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    summary.pages_fetched = counts.pages;
    summary.events_written = counts.written.events;
    summary.objects_written = counts.written.objects;
    result
}
