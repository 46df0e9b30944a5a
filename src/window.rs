//! Pure time arithmetic: the run's window end, first-run start, retention floor, slices, and the
//! Zoom day ranges that cover a window whatever time zone Zoom's day boundaries are in.
//!
//! A [`Window`] `(start, end]` holds the events with `start < time <= end`. The cursor of a log type
//! is the end of the last window fully written, so consecutive windows neither overlap nor leave a
//! gap, same-second ties included.
//!
//! A backlog is cut into slices that end at 23:00 UTC: a query whose `to` is that UTC day then
//! reaches only one hour past the slice, and the events of that hour prove that Zoom's day really
//! covers the slice (see [`Window::narrow_to`]).

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Zoom's day boundaries may be in any zone from UTC-12 to UTC+14: query this much beyond a window.
pub const ZONE_SLACK: Duration = Duration::hours(14);

/// A slice spans at most this many days, so that its query (plus the zone slack) stays well within
/// Zoom's one-month limit.
pub const MAX_SLICE_DAYS: i64 = 14;

/// Slices end at this hour of a UTC day.
const SLICE_END_HOUR: u32 = 23;

/// At this hour of a UTC day, that day has ended in every zone up to UTC+14.
const DAY_ENDED_EVERYWHERE_HOUR: u32 = 10;

/// Zoom answers queries for the last six months; stay a little inside that.
pub const RETENTION_DAYS: i64 = 179;

/// The events with `start < time <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, time: DateTime<Utc>) -> bool {
        self.start < time && time <= self.end
    }

    /// The `from`/`to` days that cover the window in any zone from UTC-12 to UTC+14, whether
    /// Zoom treats `to` as inclusive (as everybody assumes) or exclusive: `to` is one day later.
    pub fn query_days(&self) -> (NaiveDate, NaiveDate) {
        ((self.start - ZONE_SLACK).date_naive(), self.safe_to())
    }

    /// The `to` day that covers the window's end in every zone and either meaning of `to`.
    pub fn safe_to(&self) -> NaiveDate {
        (self.end + ZONE_SLACK).date_naive() + Duration::days(1)
    }

    /// A `to` day that covers the window's end if Zoom's days are UTC's (or west of it) and `to` is
    /// inclusive: the UTC day of the end. Cheaper than [`Window::safe_to`] for a window in the past,
    /// but only right if proven: by an event at or after the end among the query's results.
    /// `None` when it is no cheaper (the end's day is today or later).
    pub fn narrow_to(&self, today: NaiveDate) -> Option<NaiveDate> {
        let day = self.end.date_naive();
        (day < today).then_some(day)
    }

    /// The same window, ending before `hour` (`hour` excluded): what is left of it once every
    /// event at or after `hour` is written.
    pub fn below(&self, hour: DateTime<Utc>) -> Window {
        Window {
            start: self.start,
            end: self.end.min(hour - Duration::nanoseconds(1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The latest instant whose day is `day` or earlier in every zone up to UTC+14 (`day` 10:00
/// UTC): what a query whose inclusive `to` is `day` covers, wherever Zoom's day boundaries are.
pub fn covered_by_to(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(DAY_ENDED_EVERYWHERE_HOUR, 0, 0)
        .expect("a valid hour")
        .and_utc()
}

/// Whether `day` may be later than Zoom's today at `now`, in some zone from UTC-12 on: only then
/// can a refusal of it as `to` be a refusal of a future day rather than a final one.
pub fn may_be_after_zooms_today(day: NaiveDate, now: DateTime<Utc>) -> bool {
    day > (now - ZONE_BEHIND_UTC).date_naive()
}

/// The furthest west Zoom's day boundaries may be.
const ZONE_BEHIND_UTC: Duration = Duration::hours(12);

/// The start of the UTC hour of `time` (`time` itself at the edges of chrono's range, where the
/// truncation is undefined: event times there are quarantined before they get here).
pub fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time)
}

/// `E = min(reference, now) - settle`, truncated to the second.
pub fn window_end(reference: DateTime<Utc>, now: DateTime<Utc>, settle: Duration) -> DateTime<Utc> {
    truncate_to_second(reference.min(now) - settle)
}

/// Where a log type without a cursor starts.
pub fn initial_start(reference: DateTime<Utc>, lookback_days: u32) -> DateTime<Utc> {
    truncate_to_second(reference - Duration::days(i64::from(lookback_days)))
}

/// The earliest window start whose query Zoom still answers.
pub fn retention_floor(now: DateTime<Utc>) -> DateTime<Utc> {
    let first_day = now.date_naive() - Duration::days(RETENTION_DAYS);
    first_day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        + ZONE_SLACK
}

/// The next slice of `(start, limit]`: about `days` long, ending at 23:00 UTC (or at `limit`).
/// `None` if nothing is left.
pub fn next_slice(start: DateTime<Utc>, limit: DateTime<Utc>, days: i64) -> Option<Window> {
    if limit <= start {
        return None;
    }
    let target = start + Duration::days(days.clamp(1, MAX_SLICE_DAYS));
    let mut end = at_slice_hour(target.date_naive());
    if end > target {
        end -= Duration::days(1);
    }
    // Never a sliver: a slice is at least half a day unless the limit is nearer.
    if end < start + Duration::hours(12) {
        end += Duration::days(1);
    }
    Some(Window {
        start,
        end: end.min(limit),
    })
}

fn at_slice_hour(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(SLICE_END_HOUR, 0, 0)
        .expect("a valid hour")
        .and_utc()
}

fn truncate_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).expect("zero nanoseconds is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_day_that_may_be_after_zooms_today_is_a_refused_future_day() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let morning: DateTime<Utc> = "2026-11-30T05:00:00Z".parse().unwrap();
        let afternoon: DateTime<Utc> = "2026-11-30T13:00:00Z".parse().unwrap();
        assert!(may_be_after_zooms_today(day("2026-12-01"), afternoon));
        // Before 12:00 UTC, Zoom's today may still be UTC's yesterday; after it, nowhere.
        assert!(may_be_after_zooms_today(day("2026-11-30"), morning));
        assert!(!may_be_after_zooms_today(day("2026-11-30"), afternoon));
        assert!(!may_be_after_zooms_today(day("2026-11-29"), morning));
    }

    #[test]
    fn the_window_is_half_open() {
        let w = Window {
            start: at("2026-11-29T10:00:00Z"),
            end: at("2026-11-29T11:00:00Z"),
        };
        assert!(!w.contains(at("2026-11-29T10:00:00Z")));
        assert!(w.contains(at("2026-11-29T10:00:01Z")));
        assert!(w.contains(at("2026-11-29T11:00:00Z")));
        assert!(!w.contains(at("2026-11-29T11:00:01Z")));
    }

    #[test]
    fn the_window_end_is_the_earlier_clock_minus_settle_truncated() {
        let reference = at("2026-11-29T21:15:00.700Z");
        let now = at("2026-11-29T21:15:03.200Z");
        let end = window_end(reference, now, Duration::seconds(600));
        assert_eq!(end, at("2026-11-29T21:05:00Z"));
        // A late-delivered event uses its own time; a clock behind the event uses the clock.
        assert_eq!(
            window_end(now, reference, Duration::zero()),
            at("2026-11-29T21:15:00Z")
        );
    }

    #[test]
    fn query_days_cover_every_zone_from_minus_12_to_plus_14() {
        let w = Window {
            start: at("2026-11-29T10:00:00Z"),
            end: at("2026-11-29T11:00:00Z"),
        };
        let (from, to) = w.query_days();
        for offset_hours in -12..=14 {
            for t in [w.start + Duration::seconds(1), w.end] {
                let local_day = (t + Duration::hours(offset_hours)).date_naive();
                assert!(from <= local_day && local_day < to, "{offset_hours} {t}");
            }
        }
    }

    #[test]
    fn slices_tile_the_window_oldest_first_ending_at_23h_utc() {
        let start = at("2026-06-01T00:00:07Z");
        let end = at("2026-11-29T21:05:00Z");
        for days in [1, 3, 14, 400] {
            let mut slices = vec![];
            let mut from = start;
            while let Some(slice) = next_slice(from, end, days) {
                slices.push(slice);
                from = slice.end;
            }
            assert_eq!(slices.first().unwrap().start, start);
            assert_eq!(slices.last().unwrap().end, end);
            for s in &slices[..slices.len() - 1] {
                assert_eq!((s.end.hour(), s.end.minute(), s.end.second()), (23, 0, 0));
                assert!(s.end - s.start >= Duration::hours(12));
                assert!(s.end - s.start <= Duration::days(MAX_SLICE_DAYS.min(days) + 1));
                let (from, to) = s.query_days();
                assert!(
                    to - from <= Duration::days(30),
                    "one query spans at most a month"
                );
            }
        }
    }

    #[test]
    fn an_empty_or_backward_window_has_no_slice() {
        let t = at("2026-11-29T21:05:00Z");
        assert_eq!(next_slice(t, t, 1), None);
        assert_eq!(next_slice(t, t - Duration::seconds(1), 1), None);
    }

    #[test]
    fn the_narrow_to_is_the_end_day_only_for_past_days() {
        let w = Window {
            start: at("2026-11-20T23:00:00Z"),
            end: at("2026-11-21T23:00:00Z"),
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(w.narrow_to(today), NaiveDate::from_ymd_opt(2026, 11, 21));
        assert_eq!(
            w.narrow_to(NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()),
            None
        );
    }

    #[test]
    fn below_an_hour_excludes_the_hour_exactly() {
        let w = Window {
            start: at("2026-11-20T23:00:00Z"),
            end: at("2026-11-21T23:00:00Z"),
        };
        let rest = w.below(at("2026-11-21T05:00:00Z"));
        assert!(rest.contains(at("2026-11-21T04:59:59.999Z")));
        assert!(!rest.contains(at("2026-11-21T05:00:00Z")));
        assert!(w.below(at("2026-11-20T23:00:00Z")).is_empty());
        assert_eq!(
            hour_of(at("2026-11-21T04:59:59.999Z")),
            at("2026-11-21T04:00:00Z")
        );
    }

    #[test]
    fn the_retention_floor_keeps_queries_inside_six_months() {
        let now = at("2026-11-29T21:05:00Z");
        let floor = retention_floor(now);
        let (from, _) = Window {
            start: floor,
            end: now,
        }
        .query_days();
        assert_eq!(from, NaiveDate::from_ymd_opt(2026, 6, 3).unwrap());
        assert!(initial_start(now, 180) < floor);
        assert!(initial_start(now, 30) > floor);
    }
}
