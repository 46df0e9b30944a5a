//! How long to wait before trying a Zoom call again, and waiting only while the deadline allows.
//!
//! Transient failures back off exponentially with jitter up to a cap; a rate limit waits for
//! Zoom's `Retry-After`, which may be seconds or a date-time. No wait may run past the run's
//! deadline: the caller gets [`SourceError::Deadline`] instead and stops cleanly.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngExt;
use tokio::time::Instant;

use crate::ports::SourceError;

/// Retry limits for calls to Zoom.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First backoff; each further attempt doubles it.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Transient failures (5xx, dropped connections, timeouts) tolerated for one call.
    pub max_transient_retries: u32,
    /// Per-second rate limits tolerated for one call that has no deadline (the CLI without
    /// `--run-seconds`); it then stops as at a deadline. A call with a deadline is retried for as
    /// long as the deadline allows.
    pub max_rate_limit_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_transient_retries: 5,
            max_rate_limit_retries: 20,
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (1-based), with jitter in its upper half.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exponential.min(self.max_delay);
        capped.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// Sleeps for `delay`, or fails at once if that would pass the deadline.
pub async fn wait(delay: Duration, deadline: Option<Instant>) -> Result<(), SourceError> {
    if deadline.is_some_and(|d| Instant::now() + delay > d) {
        return Err(SourceError::Deadline);
    }
    tokio::time::sleep(delay).await;
    Ok(())
}

/// Parses `Retry-After`: an RFC 3339 date-time (Zoom's daily limit), an HTTP date, or seconds.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_rfc2822(value))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let seconds = value.parse::<u32>().ok()?;
            Some(now + chrono::Duration::seconds(i64::from(seconds)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy = RetryPolicy::default();
        for retry in 1..=10 {
            let full = (policy.base_delay * 2u32.pow(retry - 1)).min(policy.max_delay);
            let d = policy.backoff(retry);
            assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
        }
    }

    #[test]
    fn retry_after_is_read_as_date_time_then_seconds() {
        let now: DateTime<Utc> = "2026-11-29T21:00:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("2026-11-30T00:00:00Z", now),
            Some("2026-11-30T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 00:00:00 GMT", now),
            Some("2026-11-30T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_retry_after(" 2 ", now),
            Some("2026-11-29T21:00:02Z".parse().unwrap())
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test]
    async fn a_wait_past_the_deadline_fails_at_once() {
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let result = wait(Duration::from_secs(3600), deadline).await;
        assert!(matches!(result, Err(SourceError::Deadline)));
        assert!(wait(Duration::from_millis(1), deadline).await.is_ok());
    }
}
