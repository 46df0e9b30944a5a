//! This tool's own pace: report requests are spaced evenly, leaving most of the account's shared
//! per-second limit to its other apps.
//!
//! Zoom's per-second limit is per account and shared with the account's other apps, so it can be
//! below the configured pace. The pace adapts: a per-second 429 halves it (never below
//! [`MIN_REQUESTS_PER_SECOND`]), and each success raises it by [`RECOVERY_STEP`] back up to the
//! configured pace. Several requests in flight when Zoom starts refusing all get a 429 for the
//! same overshoot, so only a 429 to a request sent after the last cut cuts again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The slowest pace a run falls to: one request every two seconds.
pub const MIN_REQUESTS_PER_SECOND: f64 = 0.5;
/// What each successful request adds back to the pace, in requests per second.
pub const RECOVERY_STEP: f64 = 0.1;

pub struct Pacer {
    /// The configured pace, the most it climbs back to.
    max: f64,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Requests per second now.
    rate: f64,
    next_slot: Instant,
    /// When the pace was last cut.
    last_cut: Option<Instant>,
}

impl Pacer {
    pub fn per_second(requests: u32) -> Pacer {
        let max = f64::from(requests.max(1));
        Pacer {
            max,
            inner: Mutex::new(Inner {
                rate: max,
                next_slot: Instant::now(),
                last_cut: None,
            }),
        }
    }

    /// Waits for this caller's slot; returns the instant the request may be sent.
    pub async fn wait_turn(&self) -> Instant {
        let slot = {
            let mut inner = self.lock();
            let slot = inner.next_slot.max(Instant::now());
            inner.next_slot = slot + interval(inner.rate);
            slot
        };
        tokio::time::sleep_until(slot).await;
        slot
    }

    /// Zoom's per-second limit refused a request sent at `sent_at`: halves the pace, unless it
    /// was already cut after that request was sent. Later slots move out to the new spacing.
    pub fn throttled(&self, sent_at: Instant) {
        let mut inner = self.lock();
        if inner.last_cut.is_some_and(|cut| sent_at < cut) {
            return;
        }
        let now = Instant::now();
        let before = inner.rate;
        inner.rate = (before / 2.0).max(MIN_REQUESTS_PER_SECOND);
        inner.last_cut = Some(now);
        inner.next_slot = inner.next_slot.max(now + interval(inner.rate));
        tracing::info!(
            from_per_second = before,
            to_per_second = inner.rate,
            "Zoom's per-second limit is below this pace; slowing down"
        );
    }

    /// A request succeeded: the pace creeps back towards the configured one.
    pub fn succeeded(&self) {
        let mut inner = self.lock();
        inner.rate = (inner.rate + RECOVERY_STEP).min(self.max);
    }

    /// The pace now, in requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.lock().rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The critical sections cannot panic; a poisoned lock still holds a consistent pace.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_interval() {
        let pacer = Pacer::per_second(4);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait_turn().await;
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_pace_down_to_the_floor_and_successes_bring_it_back() {
        let pacer = Pacer::per_second(10);
        for expected in [5.0, 2.5, 1.25, 0.625, 0.5, 0.5] {
            let sent = pacer.wait_turn().await;
            pacer.throttled(sent);
            assert_eq!(pacer.requests_per_second(), expected);
        }
        for _ in 0..200 {
            pacer.succeeded();
        }
        assert_eq!(pacer.requests_per_second(), 10.0);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_at_a_cut_do_not_cut_again() {
        let pacer = Pacer::per_second(8);
        let sent: Vec<Instant> =
            futures_util::future::join_all((0..4).map(|_| pacer.wait_turn())).await;
        tokio::time::advance(Duration::from_millis(10)).await;
        for at in sent {
            pacer.throttled(at);
        }
        assert_eq!(pacer.requests_per_second(), 4.0);
        let after = pacer.wait_turn().await;
        pacer.throttled(after);
        assert_eq!(pacer.requests_per_second(), 2.0);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_cut_the_next_request_waits_the_new_interval() {
        let pacer = Pacer::per_second(2);
        let sent = pacer.wait_turn().await;
        pacer.throttled(sent);
        let next = pacer.wait_turn().await;
        assert!(next - sent >= Duration::from_secs(1), "{:?}", next - sent);
    }
}
