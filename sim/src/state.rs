//! The state shared by the HTTP handlers and the `Simulator` handle: everything behind one
//! std mutex (never held across an await), plus the stall gate, the public `Stats`, and adding
//! events.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::SimConfig;
use crate::faults::FaultPlan;
use crate::limits::RateLimiter;
use crate::log_type::LogType;
use crate::paging::PageTokens;
use crate::stall::StallGate;
use crate::store::{Arrival, EventStore};
use crate::tokens::Tokens;

/// Request counters since start, and the events still hidden when read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Requests to either report endpoint, whatever their outcome.
    pub report_requests: u64,
    pub activity_requests: u64,
    pub operation_requests: u64,
    /// Requests to `/oauth/token`, whatever their outcome.
    pub token_requests: u64,
    /// Successful refresh-token grants.
    pub refresh_grants: u64,
    /// Successful account-credentials grants.
    pub account_credentials_grants: u64,
    /// Successful authorization-code grants.
    pub authorization_code_grants: u64,
    /// Refresh grants refused because the token was not the current one.
    pub rejected_refresh: u64,
    /// 429 replies, from configured limits and from faults.
    pub rate_limited: u64,
    /// Stored events (both log types) that reports do not show yet: late arrivals.
    pub hidden_events: u64,
}

pub(crate) struct State {
    pub(crate) config: SimConfig,
    pub(crate) store: EventStore,
    pub(crate) tokens: Tokens,
    pub(crate) pages: PageTokens,
    pub(crate) faults: FaultPlan,
    pub(crate) limits: RateLimiter,
    pub(crate) stats: Stats,
}

impl State {
    /// Stores raw JSON objects byte-for-byte, each visible from `visible_at` if given, else as
    /// the late-arrival knobs decide; the count added, or why the first bad event was refused
    /// (the events before it stay added).
    pub(crate) fn add_events(
        &mut self,
        log_type: LogType,
        events: Vec<String>,
        visible_at: Option<DateTime<Utc>>,
    ) -> Result<usize, String> {
        let arrival = visible_at.map_or_else(|| Arrival::configured(&self.config), Arrival::At);
        let added = events.len();
        for raw in events {
            self.store.add(log_type, raw, arrival)?;
        }
        Ok(added)
    }

    /// The counters, with the events hidden right now.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            hidden_events: self.store.hidden(Utc::now()),
            ..self.stats.clone()
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) stalls: StallGate,
}

impl Shared {
    pub(crate) fn new(config: SimConfig) -> Shared {
        let state = State {
            faults: FaultPlan::new(config.seed),
            store: EventStore::new(config.seed),
            config,
            tokens: Tokens::default(),
            pages: PageTokens::default(),
            limits: RateLimiter::default(),
            stats: Stats::default(),
        };
        Shared {
            state: Mutex::new(state),
            stalls: StallGate::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
