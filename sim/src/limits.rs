//! Zoom's Heavy-category rate limits: a per-second and a per-UTC-day budget over report requests,
//! and the 429 replies with or without their `X-RateLimit-*` / `Retry-After` headers.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::config::SimConfig;
use crate::errors;
use crate::state::State;

const QPS_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";
const DAILY_MESSAGE: &str = "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request.";
/// The limits shown in headers when a rate-limit fault fires without a configured limit (Pro).
const DEFAULT_QPS: u64 = 10;
const DEFAULT_DAILY: u64 = 30_000;

/// Which limit a request hit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Limit {
    Qps,
    Daily,
}

#[derive(Default)]
pub(crate) struct RateLimiter {
    second: i64,
    in_second: u32,
    day: Option<NaiveDate>,
    in_day: u64,
}

impl RateLimiter {
    /// Counts the request if both budgets allow it.
    pub(crate) fn admit(&mut self, config: &SimConfig, now: DateTime<Utc>) -> Result<(), Limit> {
        if self.second != now.timestamp() {
            self.second = now.timestamp();
            self.in_second = 0;
        }
        if self.day != Some(now.date_naive()) {
            self.day = Some(now.date_naive());
            self.in_day = 0;
        }
        if config
            .qps_limit
            .is_some_and(|limit| self.in_second >= limit)
        {
            return Err(Limit::Qps);
        }
        if config.daily_limit.is_some_and(|limit| self.in_day >= limit) {
            return Err(Limit::Daily);
        }
        self.in_second += 1;
        self.in_day += 1;
        Ok(())
    }
}

/// The 429 reply for `limit`, counted in the stats.
pub(crate) fn too_many_requests(state: &mut State, limit: Limit, headers: bool) -> Response {
    state.stats.rate_limited += 1;
    let (message, kind, max, retry_after) = match limit {
        Limit::Qps => (
            QPS_MESSAGE,
            "QPS",
            state.config.qps_limit.map_or(DEFAULT_QPS, u64::from),
            "1".to_owned(),
        ),
        Limit::Daily => (
            DAILY_MESSAGE,
            "Daily-limit",
            state.config.daily_limit.unwrap_or(DEFAULT_DAILY),
            next_utc_midnight(Utc::now()),
        ),
    };
    let mut response = errors::api_error(StatusCode::TOO_MANY_REQUESTS, 429, message);
    if headers {
        let h = response.headers_mut();
        h.insert("x-ratelimit-category", HeaderValue::from_static("Heavy"));
        h.insert("x-ratelimit-type", HeaderValue::from_static(kind));
        h.insert("x-ratelimit-limit", HeaderValue::from(max));
        h.insert("x-ratelimit-remaining", HeaderValue::from(0));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&retry_after).expect("ASCII header value"),
        );
    }
    response
}

/// When the daily budget resets, as RFC 3339: `2026-11-30T00:00:00Z`.
fn next_utc_midnight(now: DateTime<Utc>) -> String {
    let tomorrow = now.date_naive() + Days::new(1);
    format!("{tomorrow}T00:00:00Z")
}
