//! The gate behind the Stall fault: holds requests until released (or until the client goes away
//! and the request is dropped), and lets sync callers wait until a request is being held.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

pub(crate) struct StallGate {
    held: Mutex<usize>,
    changed: Condvar,
    releases: watch::Sender<u64>,
}

impl StallGate {
    pub(crate) fn new() -> StallGate {
        StallGate {
            held: Mutex::new(0),
            changed: Condvar::new(),
            releases: watch::Sender::new(0),
        }
    }

    /// Waits for the next `release`.
    pub(crate) async fn hold(&self) {
        let mut released = self.releases.subscribe();
        let _held = Held::enter(self);
        // Fails only if the sender is gone, which cannot happen while `self` lives.
        let _ = released.changed().await;
    }

    /// True as soon as a request is being held, false if none is within `timeout`.
    pub(crate) fn wait_for_stall(&self, timeout: Duration) -> bool {
        let (held, _) = self
            .changed
            .wait_timeout_while(self.count(), timeout, |held| *held == 0)
            .unwrap_or_else(PoisonError::into_inner);
        *held > 0
    }

    /// Lets every held request go on.
    pub(crate) fn release(&self) {
        self.releases.send_modify(|generation| *generation += 1);
    }

    fn count(&self) -> MutexGuard<'_, usize> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts one held request for as long as it lives.
struct Held<'a>(&'a StallGate);

impl<'a> Held<'a> {
    fn enter(gate: &'a StallGate) -> Held<'a> {
        *gate.count() += 1;
        gate.changed.notify_all();
        Held(gate)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.0.count() -= 1;
        self.0.changed.notify_all();
    }
}
