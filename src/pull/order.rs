//! Watches the order in which a query's events arrive, because Zoom does not document it.
//!
//! Three decisions depend on it. Closing an hour early (to keep memory flat) needs the order seen
//! so far to be newest first (non-increasing times); a later break only means rewriting. Recording
//! progress and stopping before the last page are for good, so they need the order to be
//! *trusted*: non-increasing with at least [`MIN_DECREASES`] strict decreases (a shuffled order
//! does not look like that by chance), and either a first event at or after the top of the window
//! or a run of events spanning more than a day. Those last conditions make "days ascending, each
//! day newest first" safe: there, every event after the first day is newer than the whole first
//! day, so when the first event is already past the window, the window's events all come in that
//! first day, newest first; a descending run longer than a day cannot be inside one day; and a
//! first page holding only events older than the window proves nothing.

use chrono::{DateTime, Duration, Utc};

/// Strict decreases needed before the order is trusted (a Zoom page holds up to 300 events).
pub const MIN_DECREASES: u32 = 20;

#[derive(Clone, Copy, Debug, Default)]
pub struct OrderTracker {
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    broken: bool,
    decreases: u32,
    /// The query goes on from a page of a query whose top was already proven.
    resumed: bool,
    /// The caller proved that the query's days hold nothing newer than its first event.
    nothing_newer: bool,
}

impl OrderTracker {
    /// A tracker for a query that goes on from a recorded page token: its first page is not the
    /// query's first, and the order was trusted when the token was recorded; it stays trusted
    /// while it stays newest first.
    pub fn resumed() -> Self {
        OrderTracker {
            resumed: true,
            ..OrderTracker::default()
        }
    }

    /// Records the next event's time; returns whether the order is still newest first.
    pub fn observe(&mut self, time: DateTime<Utc>) -> bool {
        if let Some(last) = self.last {
            if time > last {
                self.broken = true;
            } else if time < last {
                self.decreases += 1;
            }
        }
        self.first.get_or_insert(time);
        self.last = Some(time);
        !self.broken
    }

    /// Whether the order seen proves newest first for a window whose newest instant is `top`.
    pub fn trusted(&self, top: DateTime<Utc>) -> bool {
        let (Some(first), Some(last)) = (self.first, self.last) else {
            return false;
        };
        !self.broken
            && (self.resumed
                || self.decreases >= MIN_DECREASES
                    && (first >= top || self.nothing_newer || first - last > Duration::days(1)))
    }

    /// The query's first event, when only a proof that nothing newer exists stands between the
    /// order seen and trust in it for a window ending at `top`.
    pub fn first_unproven(&self, top: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let candidate = Self {
            nothing_newer: true,
            ..*self
        };
        (candidate.trusted(top) && !self.trusted(top)).then_some(self.first?)
    }

    /// Records the proof that the query's days hold no event newer than its first one.
    pub fn confirm_nothing_newer(&mut self) {
        self.nothing_newer = true;
    }

    /// Whether no later page can hold an event of the window `(start, top]`.
    pub fn passed(&self, start: DateTime<Utc>, top: DateTime<Utc>) -> bool {
        self.trusted(top) && self.last.is_some_and(|t| t <= start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    /// Observes `count` events one second apart, newest first, from `newest`.
    fn descending(order: &mut OrderTracker, newest: i64, count: i64) {
        for i in 0..count {
            assert!(order.observe(t(newest - i)));
        }
    }

    #[test]
    fn newest_first_passes_the_start_once_enough_older_events_are_seen() {
        let mut order = OrderTracker::default();
        descending(&mut order, 100, 10);
        assert!(!order.passed(t(95), t(99)), "too few events to trust");
        descending(&mut order, 90, 11);
        assert!(order.passed(t(95), t(99)));
        assert!(!order.passed(t(50), t(99)), "not yet past the start");
    }

    #[test]
    fn equal_times_alone_never_prove_the_order() {
        let mut order = OrderTracker::default();
        order.observe(t(1));
        order.observe(t(1));
        assert!(!order.passed(t(1), t(1)));
    }

    #[test]
    fn an_increase_breaks_the_order_for_good() {
        let mut order = OrderTracker::default();
        descending(&mut order, 100, 30);
        assert!(!order.observe(t(80)));
        assert!(!order.observe(t(1)));
        assert!(!order.passed(t(90), t(100)));
    }

    #[test]
    fn a_first_event_below_the_top_proves_nothing_within_a_day() {
        // Days ascending, each day newest first: the first page is an old day, newest first.
        let mut order = OrderTracker::default();
        descending(&mut order, 50, 30);
        assert!(!order.trusted(t(100)));
        assert!(!order.passed(t(60), t(100)));
        assert!(order.trusted(t(50)));
        assert_eq!(order.first_unproven(t(100)), Some(t(50)));
        // A descending run longer than a day spans two of Zoom's days: newest first after all.
        let mut longer = order;
        longer.observe(t(50 - 86_401));
        assert!(longer.trusted(t(100)));
        // So does a proof that no day of the query holds anything newer than the first event.
        order.confirm_nothing_newer();
        assert!(order.trusted(t(100)));
        assert_eq!(order.first_unproven(t(100)), None);
    }

    #[test]
    fn a_resumed_query_was_trusted_already() {
        let mut order = OrderTracker::resumed();
        descending(&mut order, 50, 2);
        assert!(order.passed(t(49), t(100)));
        order.observe(t(60));
        assert!(!order.trusted(t(100)));
    }
}
