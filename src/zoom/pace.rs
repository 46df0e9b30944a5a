//! This tool's own pace: report requests are spaced evenly, leaving most of the account's shared
//! per-second limit to its other apps.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct Pacer {
    interval: Duration,
    next_slot: Mutex<Instant>,
}

impl Pacer {
    pub fn per_second(requests: u32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / requests.max(1),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this caller's slot.
    pub async fn wait_turn(&self) {
        let mut next_slot = self.next_slot.lock().await;
        let slot = (*next_slot).max(Instant::now());
        *next_slot = slot + self.interval;
        drop(next_slot);
        tokio::time::sleep_until(slot).await;
    }
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
}
