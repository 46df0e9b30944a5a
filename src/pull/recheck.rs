//! Late events: a re-check of the hours just behind the cursor, for events Zoom reported after the
//! cursor had passed them.
//!
//! The cursor trusts Zoom to list an event within `SETTLE_SECONDS` of its `time`; nothing documents
//! such a bound. So, at most once per `RECHECK_INTERVAL_MINUTES`, a run asks Zoom again for the
//! whole hours of `(cursor - RECHECK_HOURS, cursor]`, newest first, and compares each hour, as
//! multisets of byte-exact lines, with what the bucket holds in that hour's partition. Only the
//! surplus is written, in new objects of that partition named after their content. The bucket is
//! read back for every hour, so a re-check repeated after a crash at any instant finds its own
//! writes and adds nothing; an hour compared on a partial view of Zoom's events (the order was not
//! newest first and memory ran short) can only find fewer late events, never write one twice.
//! Nothing is ever deleted: an event the bucket holds and Zoom no longer lists is counted.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use flate2::read::GzDecoder;
use serde::Serialize;

use super::checkpoint::Checkpoint;
use super::order::OrderTracker;
use super::slice::event_time;
use super::writer::{CONTENT_TYPE, append_line, gzip};
use super::{PullError, RunContext};
use crate::keys::{hour_prefix, late_key};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, PageRequest, ReportSource, SourceError, StoreError};
use crate::window::{
    Window, ZONE_SLACK, covered_by_to, hour_of, initial_start, may_be_after_zooms_today,
};

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
    /// The re-check stopped before its last hour (the deadline, or Zoom's daily limit).
    pub incomplete: bool,
}

/// Each line of an hour, counted.
type Lines = HashMap<Vec<u8>, u64>;

/// The lines of an hour that Zoom listed, and their bytes.
#[derive(Default)]
struct Listed {
    lines: Lines,
    bytes: usize,
}

/// Re-checks the hours of `(cursor - RECHECK_HOURS, cursor]` of one log type. A refusal of its
/// `to` as a day after Zoom's today is recorded in the checkpoint, as a slice does, and the
/// re-check asks again for no later day.
pub async fn recheck<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    checkpoint: &Checkpoint<'_, K>,
    cursor: DateTime<Utc>,
) -> Result<Recheck, PullError> {
    let first_hour = hour_of(cursor - Duration::hours(i64::from(ctx.config.recheck_hours)));
    // Never before where a first run would start: events before it were never wanted.
    let lookback = initial_start(ctx.reference_time, ctx.config.initial_lookback_days);
    loop {
        let latest_to = checkpoint.ledger().await.latest_to(ctx.now);
        // While Zoom refuses later `to` days, only what the latest accepted day covers is asked.
        let end = latest_to.map_or(cursor, |day| cursor.min(covered_by_to(day)));
        let window = Window {
            start: (first_hour - Duration::nanoseconds(1)).max(lookback),
            end,
        };
        let mut checker = HourChecker {
            ctx,
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
                checkpoint
                    .refused_to(checker.query_to(window), ctx.now)
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

    async fn page_through(&mut self, window: Window) -> Result<(), PullError> {
        let ctx = self.ctx;
        let from = (window.start - ZONE_SLACK).date_naive();
        let to = self.query_to(window);
        let mut order = OrderTracker::default();
        let mut hours: BTreeMap<DateTime<Utc>, Listed> = BTreeMap::new();
        let mut flushed = false;
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
            for event in &page.events {
                let Some(time) = event_time(event) else {
                    continue;
                };
                if order.observe(time) {
                    // Newest first so far: every hour after this event's is complete.
                    let complete = hours.split_off(&(hour_of(time) + Duration::hours(1)));
                    for (hour, listed) in complete {
                        self.compare(hour, listed.lines, order.trusted(window.end))
                            .await?;
                    }
                }
                if window.contains(time) {
                    let mut line = Vec::new();
                    append_line(&mut line, event.get());
                    let listed = hours.entry(hour_of(time)).or_default();
                    listed.bytes += line.len();
                    *listed.lines.entry(line).or_default() += 1;
                }
            }
            if hours.values().map(|h| h.bytes).sum::<usize>() > ctx.config.buffer_budget_bytes {
                // A partial view can only find fewer late events: compare what is held, go on.
                for (hour, listed) in std::mem::take(&mut hours) {
                    self.compare(hour, listed.lines, false).await?;
                }
                flushed = true;
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
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        let complete = !flushed && !order.is_broken();
        for (hour, listed) in hours {
            self.compare(hour, listed.lines, complete).await?;
        }
        Ok(())
    }

    /// Writes what Zoom lists for `hour` beyond what the bucket holds; `complete`: `listed` is all
    /// of Zoom's events of the hour, so a shortfall means events Zoom no longer lists.
    async fn compare(
        &mut self,
        hour: DateTime<Utc>,
        mut listed: Lines,
        complete: bool,
    ) -> Result<(), PullError> {
        let held = self.held(hour).await?;
        let mut vanished = 0;
        for (line, count) in &held {
            match listed.get_mut(line) {
                Some(listed_count) if *listed_count > *count => *listed_count -= count,
                Some(listed_count) => {
                    vanished += *count - *listed_count;
                    listed.remove(line);
                }
                None => vanished += count,
            }
        }
        // An hour cut by the horizon's start is compared in part only.
        let whole_hour = self.found.window.is_some_and(|w| hour > w.start);
        if complete && whole_hour && vanished > 0 {
            tracing::warn!(log_type = %self.log_type, %hour, vanished,
                "events written earlier are no longer listed by Zoom; they are kept");
            self.found.vanished_events += vanished;
        }
        let mut late: Vec<(Vec<u8>, u64)> = listed.into_iter().collect();
        if late.is_empty() {
            return Ok(());
        }
        late.sort();
        let mut lines = late
            .iter()
            .flat_map(|(line, count)| std::iter::repeat_n(line, *count as usize));
        loop {
            let part: Vec<&Vec<u8>> = lines.by_ref().take(self.object_max_events).collect();
            if part.is_empty() {
                break;
            }
            self.write_late(hour, &part).await?;
        }
        Ok(())
    }

    async fn write_late(
        &mut self,
        hour: DateTime<Utc>,
        lines: &[&Vec<u8>],
    ) -> Result<(), StoreError> {
        let oldest = lines
            .iter()
            .filter_map(|line| line_time(line))
            .min()
            .unwrap_or(hour);
        let body = gzip(
            &lines
                .iter()
                .flat_map(|line| line.iter().copied())
                .collect::<Vec<u8>>(),
        );
        let key = late_key(&self.ctx.config.prefix, self.log_type, hour, &body);
        self.ctx.sink.put(&key, body, CONTENT_TYPE).await?;
        let age = (self.ctx.now - oldest).num_seconds();
        tracing::warn!(log_type = %self.log_type, key, events = lines.len(), age_seconds = age,
            "events Zoom reported late were written");
        self.found.late_events += lines.len() as u64;
        self.found.late_event_max_age_seconds =
            self.found.late_event_max_age_seconds.max(Some(age));
        Ok(())
    }

    /// The lines the bucket holds in `hour`'s partition, counted.
    async fn held(&self, hour: DateTime<Utc>) -> Result<Lines, StoreError> {
        let sink = self.ctx.sink;
        let folder = hour_prefix(&self.ctx.config.prefix, self.log_type, hour);
        let mut held = Lines::new();
        for key in sink.list(&folder).await? {
            let Some(body) = sink.get(&key).await? else {
                continue;
            };
            let mut text = Vec::new();
            GzDecoder::new(&body[..])
                .read_to_end(&mut text)
                .map_err(|e| StoreError::new(format!("decompressing {key}"), e))?;
            for line in text.split_inclusive(|&b| b == b'\n') {
                *held.entry(line.to_vec()).or_default() += 1;
            }
        }
        Ok(held)
    }
}

/// The `time` of a written line.
fn line_time(line: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(line).ok()?;
    let raw = serde_json::value::RawValue::from_string(text.trim_end().to_owned()).ok()?;
    event_time(&raw)
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

    #[test]
    fn a_written_line_gives_back_its_time() {
        assert_eq!(
            line_time(b"{\"time\":\"2026-11-29T16:48:05Z\"}\n"),
            Some("2026-11-29T16:48:05Z".parse().unwrap())
        );
        assert_eq!(line_time(b"{}\n"), None);
    }
}
