//! Watches the order in which a query's events arrive, because Zoom does not document it.
//!
//! Two decisions depend on it. Closing an hour early (to keep memory flat) needs the order seen so
//! far to be newest first (non-increasing times). Stopping paging before the last page needs more:
//! non-increasing times with at least one strict decrease, so that a query whose first events all
//! share one second, or an oldest-first order, never ends paging early.

use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
pub struct OrderTracker {
    last: Option<DateTime<Utc>>,
    broken: bool,
    strictly_decreased: bool,
}

impl OrderTracker {
    /// Records the next event's time; returns whether the order is still newest first.
    pub fn observe(&mut self, time: DateTime<Utc>) -> bool {
        if let Some(last) = self.last {
            if time > last {
                self.broken = true;
            } else if time < last {
                self.strictly_decreased = true;
            }
        }
        self.last = Some(time);
        !self.broken
    }

    /// Whether the events seen so far prove newest-first order and the oldest is at or before
    /// `start`: then no later page can hold an event after `start`.
    pub fn passed(&self, start: DateTime<Utc>) -> bool {
        !self.broken && self.strictly_decreased && self.last.is_some_and(|t| t <= start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn newest_first_passes_the_start_once_an_older_event_is_seen() {
        let mut order = OrderTracker::default();
        assert!(order.observe(t(10)));
        assert!(order.observe(t(10)));
        assert!(!order.passed(t(5)));
        assert!(order.observe(t(5)));
        assert!(order.passed(t(5)));
    }

    #[test]
    fn equal_times_alone_never_prove_the_order() {
        let mut order = OrderTracker::default();
        order.observe(t(1));
        order.observe(t(1));
        assert!(!order.passed(t(1)));
    }

    #[test]
    fn an_increase_breaks_the_order_for_good() {
        let mut order = OrderTracker::default();
        order.observe(t(5));
        order.observe(t(3));
        assert!(!order.observe(t(4)));
        assert!(!order.observe(t(1)));
        assert!(!order.passed(t(10)));
    }
}
