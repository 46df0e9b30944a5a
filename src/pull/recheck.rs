//! Late events: a re-check of the hours just behind the cursor, for events Zoom reported after the
//! cursor had passed them.
//!
//! The cursor trusts Zoom to list an event within `SETTLE_SECONDS` of its `time`; nothing documents
//! such a bound. So, at most once per `RECHECK_INTERVAL_MINUTES` (`I`), a run asks Zoom again for
//! the whole hours of `(cursor - RECHECK_HOURS - I, cursor]` that its own pull did not just read,
//! newest first (each hour is so re-checked at growing ages, the last one past `RECHECK_HOURS`), and compares each hour with
//! what the bucket holds in that hour's partition by the rule of [`super::reconcile`] (multisets of
//! canonical events, held as digests). Only the surplus is written, in new objects of that
//! partition named after their content. The bucket is read back for every hour, so a re-check
//! repeated after a crash at any instant finds its own writes and adds nothing. An event Zoom now
//! renders differently is drift, counted and not written. Nothing is ever deleted: an event the
//! bucket holds and Zoom no longer lists is counted.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::order::OrderTracker;
use super::pages::PageLoopGuard;
use super::slice::event_time;
use super::writer::{Naming, ObjectWriter, Written};
use super::{PullError, RunContext};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, PageRequest, ReportSource, SourceError};
use crate::window::{Window, ZONE_SLACK, hour_of, initial_start, may_be_after_zooms_today};

/// What a re-check found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recheck {
    /// The hours compared, `(start, end]`.
    pub window: Option<Window>,
    pub pages_fetched: u64,
    /// Events Zoom lists now that the bucket did not hold: written by this re-check.
    pub late_events: u64,
    /// The oldest of them at the time of the run, in seconds: how late Zoom reported them.
    pub late_event_max_age_seconds: Option<i64>,
    /// Events the bucket holds that Zoom no longer lists (kept, never deleted).
    pub vanished_events: u64,
    /// Events the bucket holds that Zoom now renders differently (not written again).
    pub drifted_events: u64,
    /// Queries ended by a page token that looped.
    pub page_loops: u64,
    /// The re-check stopped before its last hour (the deadline, or Zoom's daily limit).
    pub incomplete: bool,
}

/// Re-checks the hours of `(cursor - RECHECK_HOURS - RECHECK_INTERVAL_MINUTES, cursor]` of one
/// log type, but none after `read_from`, where this run's pull began reading. A refusal of its
/// `to` as a day after Zoom's today is recorded in the checkpoint, as a slice does, and the
/// re-check asks again for no later day.
pub async fn recheck<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    checkpoint: &Checkpoint<'_, K>,
    cursor: DateTime<Utc>,
    read_from: DateTime<Utc>,
) -> Result<Recheck, PullError> {
    // The horizon reaches one interval further back than RECHECK_HOURS: an hour then gets its
    // last re-check at an age between RECHECK_HOURS and RECHECK_HOURS + the interval, so an event
    // reported up to RECHECK_HOURS late is always found.
    let horizon =
        Duration::hours(i64::from(ctx.config.recheck_hours)) + ctx.config.recheck_interval;
    let first_hour = hour_of(cursor - horizon);
    // Never before where a first run would start: events before it were never wanted.
    let lookback = initial_start(ctx.reference_time, ctx.config.initial_lookback_days);
    loop {
        let ledger = checkpoint.ledger().await;
        let latest_to = ledger.latest_to(ctx.now);
        // While Zoom refuses later `to` days, only what the latest accepted day covers is asked.
        // What this run's pull has just read is not re-read: it is as complete as Zoom makes it.
        let end = ledger
            .held_at(ctx.now)
            .map_or(cursor, |held| cursor.min(held))
            .min(read_from);
        let window = Window {
            start: (first_hour - Duration::nanoseconds(1)).max(lookback),
            end,
        };
        if window.is_empty() {
            return Ok(Recheck::default());
        }
        let mut checker = HourChecker {
            ctx,
            checkpoint,
            log_type,
            object_max_events: ctx.config.object_max_events,
            latest_to,
            found: Recheck {
                window: Some(window),
                ..Recheck::default()
            },
        };
        match checker.page_through(window).await {
            Ok(()) => {}
            Err(PullError::Source(
                SourceError::Deadline
                | SourceError::RateLimited { .. }
                | SourceError::DailyLimit { .. }
                | SourceError::PageTokenExpired,
            )) => {
                // Not recorded as done: the next run re-checks again.
                checker.found.incomplete = true;
            }
            Err(PullError::Source(SourceError::Rejected { status: 400, .. }))
                if checker.found.pages_fetched == 0
                    && may_be_after_zooms_today(checker.query_to(window), ctx.now) =>
            {
                tracing::warn!(%log_type, to = %checker.query_to(window),
                    "Zoom refused a `to` day as later than its today; re-checking up to today");
                let inclusive = ctx.proves_to_inclusive(log_type).await;
                checkpoint
                    .refused_to(checker.query_to(window), ctx.now, inclusive)
                    .await?;
                continue;
            }
            Err(error) => return Err(error),
        }
        return Ok(checker.found);
    }
}

struct HourChecker<'c, 'r, R, K> {
    ctx: &'c RunContext<'r, R, K>,
    checkpoint: &'c Checkpoint<'r, K>,
    log_type: LogType,
    object_max_events: usize,
    latest_to: Option<NaiveDate>,
    found: Recheck,
}

impl<R: ReportSource, K: ObjectSink> HourChecker<'_, '_, R, K> {
    /// The `to` day that covers `window`, no later than Zoom accepts.
    fn query_to(&self, window: Window) -> NaiveDate {
        let safe = window.safe_to();
        self.latest_to.map_or(safe, |latest| safe.min(latest))
    }

    /// Pages through the horizon's query and writes, hour by hour, what the bucket lacks.
    async fn page_through(&mut self, window: Window) -> Result<(), PullError> {
        let written = Written::default();
        let result = self.compare_listing(window, &written).await;
        let late = written.events.load(Ordering::Relaxed);
        self.found.late_events = late;
        self.found.vanished_events = written.unmatched.load(Ordering::Relaxed);
        self.found.drifted_events = written.drifted.load(Ordering::Relaxed);
        let oldest = *written.oldest.lock().unwrap_or_else(|e| e.into_inner());
        if late > 0 {
            let age = oldest.map(|t| (self.ctx.now - t).num_seconds());
            tracing::warn!(log_type = %self.log_type, events = late, age_seconds = age,
                "events Zoom reported late were written");
            self.found.late_event_max_age_seconds = age;
        }
        if self.found.vanished_events > 0 {
            tracing::warn!(log_type = %self.log_type, vanished = self.found.vanished_events,
                "events written earlier are no longer listed by Zoom; they are kept");
        }
        if self.found.drifted_events > 0 {
            tracing::warn!(log_type = %self.log_type, drifted = self.found.drifted_events,
                "Zoom now renders events it listed before differently (a new field, another \
                 format); they are not written again");
        }
        result
    }

    async fn compare_listing(
        &mut self,
        window: Window,
        written: &Written,
    ) -> Result<(), PullError> {
        let ctx = self.ctx;
        let from = (window.start - ZONE_SLACK).date_naive();
        let to = self.query_to(window);
        let mut writer = ObjectWriter::new(
            ctx.sink,
            self.checkpoint,
            &ctx.config.prefix,
            self.log_type,
            window,
            Naming::Late,
            self.object_max_events,
            true,
            written,
        );
        let mut order = OrderTracker::default();
        let mut pages = PageLoopGuard::default();
        let mut probed = false;
        let mut page_token = None;
        loop {
            let request = PageRequest {
                log_type: self.log_type,
                from,
                to,
                page_token: page_token.take(),
                deadline: ctx.deadline,
            };
            let page = ctx.fetch_page(request).await?;
            self.found.pages_fetched += 1;
            if pages.repeats(self.log_type, &page) {
                self.found.page_loops += 1;
                break;
            }
            for event in &page.events {
                let Some(time) = event_time(event) else {
                    continue;
                };
                if order.observe(time) {
                    // Newest first so far: every hour after this event's is complete.
                    writer.close_hours_after(time).await?;
                }
                if window.contains(time) {
                    writer.add(time, event).await?;
                }
            }
            if !probed && let Some(first) = order.first_unproven(window.end) {
                probed = true;
                let (nothing_newer, pages) =
                    ctx.nothing_after(self.log_type, first, from, to).await?;
                self.found.pages_fetched += pages;
                if nothing_newer {
                    order.confirm_nothing_newer();
                }
            }
            if order.passed(window.start, window.end) {
                break;
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) if pages.loops(self.log_type, &token) => {
                    self.found.page_loops += 1;
                    break;
                }
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        writer.finish().await?;
        Ok(())
    }
}

/// Whether a log type's recent hours are due for a re-check at `now`.
pub fn due(rechecked_at: Option<DateTime<Utc>>, now: DateTime<Utc>, interval: Duration) -> bool {
    rechecked_at.is_none_or(|at| now - at >= interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_type_never_rechecked_is_due_and_then_after_the_interval() {
        let now: DateTime<Utc> = "2026-11-29T21:00:00Z".parse().unwrap();
        let interval = Duration::minutes(180);
        assert!(due(None, now, interval));
        assert!(!due(Some(now - Duration::minutes(179)), now, interval));
        assert!(due(Some(now - Duration::minutes(180)), now, interval));
        assert!(due(Some(now), now, Duration::zero()));
    }
}
