//! Pulls one slice of a log type's backlog, from its recorded progress, newest hours first.
//!
//! The slice's pending part is pulled as *bands*: one query each, covering the band's days in
//! every time zone and filtered on each event's own `time`. While Zoom's order is newest first a
//! band is the whole pending part: hours are written as soon as an older hour begins, and at the
//! end of every page where the order is trusted the checkpoint records the hours written and the
//! page token to go on from, so a deadline, a dead page token or a fault loses at most the hour in
//! progress. Once the order is seen not to be newest first, the checkpoint records that the slice
//! is pulled in bands of whole hours, each held in memory until its query ends and then written
//! and recorded; when what a band holds outgrows its memory budget, it is written as parts right
//! away (objects are written once, and a retry of the band reconciles its hours with them), so
//! memory stays bounded at any size and in any order; a band that outgrows the run's time is
//! shortened to the longest newer part of it whose query asks for fewer days (its query's pages
//! are those of its days, whatever part of them it is), so every run makes progress where it can.
//! Events without a valid `time` go to quarantine and the slice goes on.
//!
//! A query for a band in the past first tries the cheaper `to` of [`Window::narrow_to`], which is
//! only used if its results prove it covers the band (on its first page, when hours are written
//! early; anywhere in the query, when the band is held in memory); otherwise the safe `to` is used.
//!
//! The safe `to` lies in the future. If Zoom refuses it (HTTP 400 to a first page whose `to` is
//! after today), the checkpoint records the latest day Zoom accepts; from then on queries ask for
//! no later day, and a slice whose pending part reaches past what that day covers in every zone
//! waits for Zoom's next day.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::checkpoint::{Checkpoint, Resume, Slice};
use super::order::OrderTracker;
use super::pages::PageLoopGuard;
use super::quarantine;
use super::writer::{Naming, ObjectWriter, Written};
use super::{PullError, RunContext};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, PageRequest, ReportSource, SourceError};
use crate::window::{Window, ZONE_SLACK, hour_of, may_be_after_zooms_today};

/// Attempts in a row at a slice that record no progress before its failure is final (a dead
/// page token; Zoom unavailable after the adapter's own retries ends it at once).
const MAX_ATTEMPTS_WITHOUT_PROGRESS: u32 = 8;

/// Why a slice stopped before it was done. The next run goes on from its recorded progress.
#[derive(Debug)]
pub enum SliceStop {
    DailyLimit {
        retry_after: Option<DateTime<Utc>>,
    },
    Deadline,
    /// Zoom's per-second limit (shared with the account's other apps) held until the deadline.
    RateLimited,
    /// The slice reaches past what Zoom's latest accepted `to` day covers.
    FutureDayRefused,
}

/// A log type's counts for the summary, and what its slices learn about Zoom, shared by the
/// slices pulled at once.
#[derive(Debug, Default)]
pub struct Tally {
    pub pages: AtomicU64,
    pub written: Written,
    pub quarantined: AtomicU64,
    /// Queries ended by a page token that looped.
    pub page_loops: AtomicU64,
    /// The log type's window in this run, for the progress display.
    pub window: Option<Window>,
    /// A narrow `to` failed its proof: this run uses the safe `to` from now on.
    narrow_failed: AtomicBool,
}

impl Tally {
    /// Nothing counted yet, for a log type whose window in this run is `window`.
    pub fn for_window(window: Option<Window>) -> Tally {
        Tally {
            window,
            ..Tally::default()
        }
    }
}

/// One query: its days, where it starts, and whether it is known to cover its band.
struct Query {
    from: NaiveDate,
    to: NaiveDate,
    page_token: Option<String>,
    /// Going on from a recorded page token: the first event's time the page had then.
    expect_first: Option<DateTime<Utc>>,
    covers_band: bool,
}

/// The oldest hour a query has seen so far, the page token of the page on which it began (`None`:
/// the query's first page), and that page's first event's time.
struct OldestHour {
    hour: DateTime<Utc>,
    began_on: Option<String>,
    page_first: Option<DateTime<Utc>>,
}

/// How a band's query ended, short of an error.
enum BandEnd {
    /// Every event of the band is written.
    Written,
    /// The narrow `to` was not proven to cover the band.
    NotCovered,
    /// The order broke while hours were being written early.
    OrderBroke,
}

/// Pulls the slice starting at `slice_start` until it is done or must stop.
pub async fn pull_slice<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    checkpoint: &Checkpoint<'_, K>,
    tally: &Tally,
    slice_start: DateTime<Utc>,
    replaying: bool,
    budget_bytes: usize,
) -> Result<Option<SliceStop>, PullError> {
    let mut puller = SlicePuller {
        ctx,
        log_type,
        checkpoint,
        tally,
        budget_bytes,
        dead_token: None,
        band_pages: 0,
    };
    puller.pull(slice_start, replaying).await
}

struct SlicePuller<'c, 'r, R, K> {
    ctx: &'c RunContext<'r, R, K>,
    log_type: LogType,
    checkpoint: &'c Checkpoint<'r, K>,
    tally: &'c Tally,
    budget_bytes: usize,
    /// The last page token Zoom refused: never recorded, never presented again.
    dead_token: Option<String>,
    /// Pages fetched for the band being pulled.
    band_pages: u64,
}

impl<R: ReportSource, K: ObjectSink> SlicePuller<'_, '_, R, K> {
    /// `replaying`: the slice was recorded by an earlier run, which may have written any of it.
    async fn pull(
        &mut self,
        slice_start: DateTime<Utc>,
        replaying: bool,
    ) -> Result<Option<SliceStop>, PullError> {
        let Some(first) = self.checkpoint.slice(slice_start).await else {
            return Ok(None);
        };
        let mut rewriting = replaying;
        // Whether this run fetched a page for the slice: until then, with nothing recorded, no
        // object of it exists.
        let mut fetched_any = false;
        let events_before = self.tally.written.events.load(Ordering::Relaxed);
        let mut attempts_without_progress = 0;
        loop {
            let Some(slice) = self.checkpoint.slice(slice_start).await else {
                return Ok(None);
            };
            let Some(pending) = slice.pending() else {
                let written = self.tally.written.events.load(Ordering::Relaxed) - events_before;
                self.checkpoint
                    .done(slice_start, events_per_day(written, first.pending()))
                    .await?;
                return Ok(None);
            };
            if self.ctx.deadline_is_near() {
                return Ok(Some(SliceStop::Deadline));
            }
            let ledger = self.checkpoint.ledger().await;
            let now = self.ctx.now;
            if let Some(held) = ledger.held_at(now)
                && pending.end > held
            {
                let untouched = !replaying && !fetched_any && slice.written_from.is_none();
                let last = ledger.slices.last().map(|s| s.window.start) == Some(slice_start);
                if untouched && last && held > slice_start {
                    // Planned before Zoom's refusal was known: end it where Zoom's today reaches.
                    self.checkpoint.cut_last(slice_start, held).await?;
                    continue;
                }
                return Ok(Some(SliceStop::FutureDayRefused));
            }
            let band = band(&slice, pending);
            let query = self.query(&slice, band, ledger.latest_to(now));
            let first_to = query.page_token.is_none().then_some(query.to);
            let outcome = self.pull_band(&slice, band, query, rewriting).await;
            let fetched_band = self.band_pages > 0;
            fetched_any |= fetched_band;
            rewriting = true;
            let progressed = self.checkpoint.slice(slice_start).await.as_ref() != Some(&slice);
            match outcome {
                Ok(BandEnd::Written) if band.start == pending.start => {
                    let written = self.tally.written.events.load(Ordering::Relaxed) - events_before;
                    self.checkpoint
                        .done(slice_start, events_per_day(written, first.pending()))
                        .await?;
                    return Ok(None);
                }
                Ok(BandEnd::Written) => {
                    self.checkpoint
                        .written_from(slice_start, band.start + Duration::nanoseconds(1), None)
                        .await?;
                    attempts_without_progress = 0;
                    continue;
                }
                Ok(BandEnd::NotCovered) => {
                    tracing::info!(log_type = %self.log_type,
                        "a narrow query did not prove it covers its days; using the safe range");
                    self.tally.narrow_failed.store(true, Ordering::Relaxed);
                }
                Ok(BandEnd::OrderBroke) => {
                    tracing::warn!(log_type = %self.log_type,
                        "events are not newest first; pulling the slice in bands held in memory");
                    self.checkpoint
                        .bands_of(slice_start, span_hours(pending))
                        .await?;
                }
                Err(PullError::Source(SourceError::DailyLimit { retry_after })) => {
                    return Ok(Some(SliceStop::DailyLimit { retry_after }));
                }
                Err(PullError::Source(SourceError::RateLimited { attempts })) => {
                    tracing::warn!(log_type = %self.log_type, attempts,
                        "Zoom's per-second limit held; stopping with what is written");
                    return Ok(Some(SliceStop::RateLimited));
                }
                Err(PullError::Source(SourceError::Rejected {
                    status: 400,
                    detail,
                })) if let Some(to) = first_to.filter(|to| may_be_after_zooms_today(*to, now)) => {
                    tracing::warn!(log_type = %self.log_type, %detail, %to,
                        "Zoom refused a `to` day as later than its today; asking for no later \
                         day than today (UTC), and holding the window at that day's 10:00 UTC \
                         until Zoom's next day");
                    let inclusive = self.ctx.proves_to_inclusive(self.log_type).await;
                    self.tally.pages.fetch_add(1, Ordering::Relaxed);
                    self.checkpoint.refused_to(to, now, inclusive).await?;
                }
                Err(PullError::Source(SourceError::Deadline)) => {
                    if slice.band_hours.is_some()
                        && fetched_band
                        && let Some(hours) = shorter_band_hours(band)
                    {
                        // The band did not fit in this run: the next run tries a shorter one that
                        // asks for fewer days.
                        self.checkpoint.bands_of(slice_start, hours).await?;
                    }
                    return Ok(Some(SliceStop::Deadline));
                }
                Err(PullError::Source(
                    error @ (SourceError::PageTokenExpired | SourceError::Unavailable { .. }),
                )) => {
                    attempts_without_progress = if progressed {
                        1
                    } else {
                        attempts_without_progress + 1
                    };
                    // Zoom unavailable after the adapter's own retries: another attempt only if
                    // this one got somewhere.
                    let unavailable = matches!(error, SourceError::Unavailable { .. });
                    if attempts_without_progress >= MAX_ATTEMPTS_WITHOUT_PROGRESS
                        || unavailable && !progressed
                    {
                        return Err(error.into());
                    }
                    tracing::warn!(log_type = %self.log_type, %error,
                        "the slice's query failed; going on from its recorded progress");
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Goes on from the slice's recorded page token if it is still good for the band, else asks
    /// for the band's days afresh.
    /// `latest_to`: the latest day Zoom accepts as `to`, if it refused a later one.
    fn query(&self, slice: &Slice, band: Window, latest_to: Option<NaiveDate>) -> Query {
        if let Some(resume) = &slice.resume
            && slice.band_hours.is_none()
            && self.dead_token.as_ref() != Some(&resume.page_token)
        {
            return Query {
                from: resume.from,
                to: resume.to,
                page_token: Some(resume.page_token.clone()),
                expect_first: resume.first_event,
                covers_band: true,
            };
        }
        let retention = (self.ctx.now - Duration::days(crate::window::RETENTION_DAYS)).date_naive();
        let from = (band.start - ZONE_SLACK).date_naive().max(retention);
        let narrow = (!self.tally.narrow_failed.load(Ordering::Relaxed))
            .then(|| band.narrow_to(self.ctx.now.date_naive()))
            .flatten();
        let to = narrow.unwrap_or_else(|| band.safe_to());
        Query {
            from,
            to: latest_to.map_or(to, |latest| to.min(latest)),
            page_token: None,
            expect_first: None,
            covers_band: narrow.is_none(),
        }
    }

    /// Pages one query and writes the band's events, recording progress as it goes.
    async fn pull_band(
        &mut self,
        slice: &Slice,
        band: Window,
        query: Query,
        rewriting: bool,
    ) -> Result<BandEnd, PullError> {
        let ctx = self.ctx;
        let mut writer = ObjectWriter::new(
            ctx.sink,
            self.checkpoint,
            &ctx.config.prefix,
            self.log_type,
            slice.window,
            Naming::Slice,
            self.checkpoint.ledger().await.object_max_events,
            rewriting,
            &self.tally.written,
        );
        let mut order = if query.page_token.is_some() {
            OrderTracker::resumed()
        } else {
            OrderTracker::default()
        };
        self.band_pages = 0;
        let mut covers_band = query.covers_band;
        let mut probed = false;
        let mut page_token = query.page_token.clone();
        let mut oldest_hour: Option<OldestHour> = None;
        // The hour above the band at which a page token to go on from was recorded.
        let mut resumed_above: Option<DateTime<Utc>> = None;
        let mut recorded_from = slice.written_from;
        let mut resume_dead = slice
            .resume
            .as_ref()
            .is_some_and(|r| Some(&r.page_token) == self.dead_token.as_ref());
        let close_hours_early = slice.band_hours.is_none();
        let mut loops = PageLoopGuard::default();
        loop {
            let request = PageRequest {
                log_type: self.log_type,
                from: query.from,
                to: query.to,
                page_token: page_token.clone(),
                deadline: ctx.deadline,
            };
            let page = match ctx.fetch_page(request).await {
                Err(SourceError::PageTokenExpired) => {
                    self.dead_token = page_token;
                    return Err(SourceError::PageTokenExpired.into());
                }
                result => result?,
            };
            self.tally.pages.fetch_add(1, Ordering::Relaxed);
            self.band_pages += 1;
            if loops.repeats(self.log_type, &page) {
                self.tally.page_loops.fetch_add(1, Ordering::Relaxed);
                break;
            }
            let page_first = page.events.iter().find_map(|e| event_time(e));
            if self.band_pages == 1 && query.expect_first.is_some_and(|t| page_first != Some(t)) {
                // Not the page recorded: Zoom's order changed since. Ask for the days afresh.
                tracing::warn!(log_type = %self.log_type,
                    "a recorded page token went on elsewhere than recorded; not using it");
                self.dead_token = page_token;
                return Err(SourceError::PageTokenExpired.into());
            }
            if !covers_band {
                covers_band = page
                    .events
                    .iter()
                    .any(|e| event_time(e).is_some_and(|t| t >= band.end));
                // Hours written early must be complete: then the proof must come first.
                if !covers_band && close_hours_early {
                    return Ok(BandEnd::NotCovered);
                }
            }
            for event in &page.events {
                let Some(time) = event_time(event) else {
                    quarantine::keep(ctx.sink, &ctx.config.prefix, self.log_type, event).await?;
                    self.tally.quarantined.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let newest_first = order.observe(time);
                let closing = close_hours_early && newest_first;
                if !newest_first && close_hours_early {
                    return Ok(BandEnd::OrderBroke);
                }
                if closing {
                    writer.close_hours_after(time).await?;
                    let hour = hour_of(time);
                    if oldest_hour.as_ref().is_none_or(|oldest| hour < oldest.hour) {
                        oldest_hour = Some(OldestHour {
                            hour,
                            began_on: page_token.clone(),
                            page_first,
                        });
                    }
                }
                if band.contains(time) {
                    writer.add(time, event).await?;
                }
                if !closing && writer.buffered_bytes() > self.budget_bytes {
                    // Write what is held as parts: every object is written once, and a retry of
                    // the band reconciles its hours with them, so memory stays within the budget
                    // however many events an hour holds.
                    writer.flush().await?;
                }
            }
            if close_hours_early
                && !probed
                && let Some(first) = order.first_unproven(band.end)
            {
                probed = true;
                let (nothing_newer, pages) = ctx
                    .nothing_after(self.log_type, first, query.from, query.to)
                    .await?;
                self.tally.pages.fetch_add(pages, Ordering::Relaxed);
                if nothing_newer {
                    order.confirm_nothing_newer();
                }
            }
            if close_hours_early
                && order.trusted(band.end)
                && let Some(OldestHour {
                    hour,
                    began_on,
                    page_first: began_with,
                }) = &oldest_hour
                && began_on.as_ref() != self.dead_token.as_ref()
            {
                // Every hour after the oldest one seen is complete and written. At the recorded
                // hour, a page token replaces a recorded one Zoom refused.
                let written_from = *hour + Duration::hours(1);
                let better = match recorded_from {
                    None => true,
                    Some(recorded) => {
                        written_from < recorded
                            || written_from == recorded && began_on.is_some() && resume_dead
                    }
                };
                let resume = began_on.clone().map(|page_token| Resume {
                    from: query.from,
                    to: query.to,
                    page_token,
                    first_event: *began_with,
                });
                if written_from <= band.end && better {
                    self.checkpoint
                        .written_from(slice.window.start, written_from, resume)
                        .await?;
                    recorded_from = Some(written_from);
                    resume_dead = false;
                } else if written_from > band.end
                    && resume.is_some()
                    && resumed_above.is_none_or(|above| *hour < above)
                {
                    // Still paging through events newer than the band (up to a day and a half of
                    // them with the safe `to`): where to go on is progress too, or a run too short
                    // for them would never reach the band.
                    self.checkpoint.resume(slice.window.start, resume).await?;
                    resumed_above = Some(*hour);
                    resume_dead = false;
                }
            }
            self.report_progress().await;
            if order.passed(band.start, band.end) {
                break;
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) if loops.loops(self.log_type, &token) => {
                    self.tally.page_loops.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        if !covers_band {
            return Ok(BandEnd::NotCovered);
        }
        writer.finish().await?;
        Ok(BandEnd::Written)
    }

    /// A trace event for the CLI's progress display (target `zoomlogs::progress`).
    /// With the run's window, how much of it is written: up to the cursor, and the hours of
    /// slices still open that are recorded as written.
    async fn report_progress(&self) {
        let ledger = self.checkpoint.ledger().await;
        let reached = ledger
            .written_through
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        let window = self.tally.window;
        let covered = window.map_or(0, |window| {
            let through = ledger.written_through.map_or(0, |t| {
                (t.min(window.end) - window.start).num_seconds().max(0)
            });
            let open: i64 = ledger
                .slices
                .iter()
                .filter_map(|s| {
                    let from = s.written_from?;
                    Some(
                        (s.window.end - from.max(s.window.start))
                            .num_seconds()
                            .max(0),
                    )
                })
                .sum();
            u64::try_from(through + open).unwrap_or(0)
        });
        tracing::trace!(
            target: "zoomlogs::progress",
            log_type = self.log_type.name(),
            pages = self.tally.pages.load(Ordering::Relaxed),
            events = self.tally.written.events.load(Ordering::Relaxed),
            reached,
            window_start = window.map(|w| w.start.to_rfc3339()).unwrap_or_default(),
            window_end = window.map(|w| w.end.to_rfc3339()).unwrap_or_default(),
            covered_seconds = covered,
        );
    }
}

/// The next band of the slice's `pending` part: all of it while the order is newest first, else
/// its newest `band_hours` whole hours.
/// A band below the slice's start begins on a whole hour, that hour included (a window excludes
/// its start, so the band starts a nanosecond before it).
fn band(slice: &Slice, pending: Window) -> Window {
    match slice.band_hours {
        None => pending,
        Some(hours) => {
            let first_hour = hour_of(pending.end) - Duration::hours(hours - 1);
            Window {
                start: pending.start.max(first_hour - Duration::nanoseconds(1)),
                end: pending.end,
            }
        }
    }
}

/// The hours of the band to try after `band` did not fit in a run: the longest newer part of it
/// whose query starts on a later day. A query costs the pages of its days, whatever part of them
/// the band is, so a shorter band within the same days would read the same pages again and fit no
/// better: `None` if every shorter band asks for the same days (the band stays as it is).
fn shorter_band_hours(band: Window) -> Option<i64> {
    let from_day = |start: DateTime<Utc>| (start - ZONE_SLACK).date_naive();
    let first_day = from_day(band.start);
    (1..span_hours(band)).rev().find(|hours| {
        let start = hour_of(band.end) - Duration::hours(hours - 1) - Duration::nanoseconds(1);
        from_day(start) > first_day
    })
}

fn span_hours(window: Window) -> i64 {
    (window.end - window.start).num_hours().max(1)
}

/// The density a finished slice showed, if it covered enough time to tell.
fn events_per_day(events: u64, covered: Option<Window>) -> Option<f64> {
    let span = covered.map(|w| w.end - w.start)?;
    (span >= Duration::hours(6)).then(|| events as f64 * 86_400.0 / span.num_seconds() as f64)
}

/// The earliest and the latest `time` taken as an event's own: Zoom keeps six months of reports,
/// and outside these, time arithmetic (an hour's partition) is not defined for every instant. An
/// event with a time outside them is quarantined like one without a time.
const PLAUSIBLE_TIMES: std::ops::Range<i64> = 946_684_800..7_258_118_400; // 2000-01-01 .. 2200-01-01

/// The event's `time`, which Zoom sends as RFC 3339 UTC with whole seconds; `None` if it has none,
/// or one outside [`PLAUSIBLE_TIMES`].
pub(super) fn event_time(event: &RawValue) -> Option<DateTime<Utc>> {
    #[derive(Deserialize)]
    struct Timed<'a> {
        #[serde(borrow)]
        time: Cow<'a, str>,
    }
    let timed: Timed = serde_json::from_str(event.get()).ok()?;
    DateTime::parse_from_rfc3339(&timed.time)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .filter(|t| PLAUSIBLE_TIMES.contains(&t.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn event_time_reads_rfc3339_in_any_offset() {
        let t = event_time(&raw(r#"{"email":"a@b","time":"2026-11-29T16:48:05Z"}"#)).unwrap();
        assert_eq!(t, "2026-11-29T16:48:05Z".parse::<DateTime<Utc>>().unwrap());
        let t = event_time(&raw(r#"{"time":"2026-11-29T17:48:05+01:00"}"#)).unwrap();
        assert_eq!(t, "2026-11-29T16:48:05Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn an_event_without_a_valid_time_has_none() {
        for text in [
            r#"{"email":"a"}"#,
            r#"{"time":"yesterday"}"#,
            r#"{"time":5}"#,
            r#"{"time":"0001-01-01T00:00:00Z"}"#,
            r#"{"time":"9999-12-31T23:59:59Z"}"#,
            "[]",
        ] {
            assert_eq!(event_time(&raw(text)), None, "{text}");
        }
    }

    #[test]
    fn a_band_that_did_not_fit_is_shortened_only_to_a_query_of_fewer_days() {
        let band = |start: &str, end: &str| Window {
            start: start.parse::<DateTime<Utc>>().unwrap() - Duration::nanoseconds(1),
            end: end.parse().unwrap(),
        };
        // 05:00 to 23:59: its query starts the day before (the zone slack). The longest newer part
        // whose query starts on the band's own day begins at 15:00.
        assert_eq!(
            shorter_band_hours(band("2026-11-20T05:00:00Z", "2026-11-20T23:59:59Z")),
            Some(9)
        );
        // 18:00 to 23:59 asks for the same days as any shorter part of it: it stays as it is.
        assert_eq!(
            shorter_band_hours(band("2026-11-20T18:00:00Z", "2026-11-20T23:59:59Z")),
            None
        );
    }

    #[test]
    fn density_needs_a_quarter_day_of_coverage() {
        let w = |hours| Window {
            start: "2026-11-20T00:00:00Z".parse().unwrap(),
            end: "2026-11-20T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(hours),
        };
        assert_eq!(events_per_day(100, Some(w(12))), Some(200.0));
        assert_eq!(events_per_day(100, Some(w(1))), None);
        assert_eq!(events_per_day(100, None), None);
    }
}
