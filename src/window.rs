//! Pure time arithmetic: the run's window end, first-run start, retention floor, chunks, and the
//! Zoom day range that covers a window whatever time zone Zoom's day boundaries are in.
//!
//! A [`Window`] `(start, end]` holds the events with `start < time <= end`. The cursor of a log type
//! is the end of the last window fully written, so consecutive windows neither overlap nor leave a
//! gap, same-second ties included.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Zoom's day boundaries may be in any zone from UTC-12 to UTC+14: query this much beyond a window.
pub const ZONE_SLACK: Duration = Duration::hours(14);

/// Long windows are pulled in chunks of at most this span, oldest first. A week keeps the extra
/// days each query covers small, and keeps one chunk well within a Lambda's time for large accounts.
pub const CHUNK_SPAN: Duration = Duration::days(7);

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
        (
            (self.start - ZONE_SLACK).date_naive(),
            (self.end + ZONE_SLACK).date_naive() + Duration::days(1),
        )
    }
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

/// `(start, end]` cut into chunks of at most [`CHUNK_SPAN`], oldest first; none if `end <= start`.
pub fn plan_chunks(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Window> {
    let mut chunks = Vec::new();
    let mut chunk_start = start;
    while chunk_start < end {
        let chunk_end = (chunk_start + CHUNK_SPAN).min(end);
        chunks.push(Window {
            start: chunk_start,
            end: chunk_end,
        });
        chunk_start = chunk_end;
    }
    chunks
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
    fn chunks_tile_the_window_oldest_first_without_gaps() {
        let start = at("2026-06-01T00:00:07Z");
        let end = at("2026-11-29T21:05:00Z");
        let chunks = plan_chunks(start, end);
        assert_eq!(chunks.first().unwrap().start, start);
        assert_eq!(chunks.last().unwrap().end, end);
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for c in &chunks {
            assert!(c.end - c.start <= CHUNK_SPAN);
            let (from, to) = c.query_days();
            assert!(
                to - from <= Duration::days(30),
                "one query spans at most a month"
            );
        }
    }

    #[test]
    fn an_empty_or_backward_window_has_no_chunks() {
        let t = at("2026-11-29T21:05:00Z");
        assert!(plan_chunks(t, t).is_empty());
        assert!(plan_chunks(t, t - Duration::seconds(1)).is_empty());
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
