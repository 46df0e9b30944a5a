//! Injected faults: the `Fault` catalogue, the schedule that assigns faults to report requests
//! (explicit by index, queued for the next ones, or random by configured rates) along with each
//! request's latency (the configured latency plus seeded random jitter), and how each fault turns
//! a report request into its reply.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::response::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};

use crate::config::SimConfig;
use crate::errors;
use crate::limits::{Limit, too_many_requests};
use crate::log_type::LogType;
use crate::state::Shared;

/// Something going wrong with one report request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// This HTTP status with a Zoom-style JSON error body.
    Status(u16),
    /// Headers, half the body, then the connection is cut.
    Drop,
    /// 429 for the per-second limit; with headers `Retry-After: 1`.
    RateLimitQps { headers: bool },
    /// 429 for the daily limit; with headers `Retry-After` is the next 00:00 UTC in RFC 3339.
    DailyLimit { headers: bool },
    /// If the request carries a page token: 400 code 300, and the token dies.
    ExpirePageToken,
    /// The real reply with its body cut in half.
    InvalidJson,
    /// HTTP 200 with a text/html "502 Bad Gateway" page.
    HtmlErrorPage,
    /// The real reply without its `activity_logs`/`operation_logs` array.
    MissingArray,
    /// 401 code 124 whatever the token.
    AccessTokenExpired,
    /// Held until `Simulator::release_stalls` or until the client goes away.
    Stall,
    /// The real reply, this much later.
    Delay(Duration),
}

/// Which fault, if any, each report request gets, and how long it waits first.
pub(crate) struct FaultPlan {
    at: HashMap<u64, Fault>,
    queued: VecDeque<Fault>,
    rng: StdRng,
}

impl FaultPlan {
    pub(crate) fn new(seed: u64) -> FaultPlan {
        FaultPlan {
            at: HashMap::new(),
            queued: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub(crate) fn schedule_at(&mut self, request: u64, fault: Fault) {
        self.at.insert(request, fault);
    }

    pub(crate) fn schedule_next(&mut self, fault: Fault) {
        self.queued.push_back(fault);
    }

    /// The fault for the report request with this 1-based index; only a request that presents a
    /// page token can draw a random `ExpirePageToken`.
    pub(crate) fn take(
        &mut self,
        request: u64,
        presents_page_token: bool,
        config: &SimConfig,
    ) -> Option<Fault> {
        if let Some(fault) = self.at.remove(&request) {
            return Some(fault);
        }
        if let Some(fault) = self.queued.pop_front() {
            return Some(fault);
        }
        if self.chance(config.error_rate_5xx) {
            let status = [500, 502, 503, 504].choose(&mut self.rng).copied();
            return status.map(Fault::Status);
        }
        if self.chance(config.drop_rate) {
            return Some(Fault::Drop);
        }
        (presents_page_token && self.chance(config.token_expiry_rate))
            .then_some(Fault::ExpirePageToken)
    }

    fn chance(&mut self, rate: f64) -> bool {
        self.rng.random_bool(rate.clamp(0.0, 1.0))
    }

    /// The configured latency plus a uniform random share of the configured jitter.
    pub(crate) fn latency(&mut self, config: &SimConfig) -> Duration {
        let jitter = config.latency_jitter;
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            jitter.mul_f64(self.rng.random_range(0.0..=1.0))
        };
        config.latency + extra
    }
}

/// The reply to a report request under `fault`; `serve(expire_page_token)` makes the real reply.
pub(crate) async fn apply(
    fault: Option<Fault>,
    shared: &Shared,
    serve: impl FnOnce(bool) -> Response,
) -> Response {
    let Some(fault) = fault else {
        return serve(false);
    };
    match fault {
        Fault::Status(status) => errors::http_status(status),
        Fault::Drop => drop_midway(serve(false)).await,
        Fault::RateLimitQps { headers } => {
            too_many_requests(&mut shared.lock(), Limit::Qps, headers)
        }
        Fault::DailyLimit { headers } => {
            too_many_requests(&mut shared.lock(), Limit::Daily, headers)
        }
        Fault::ExpirePageToken => serve(true),
        Fault::InvalidJson => truncate(serve(false)).await,
        Fault::HtmlErrorPage => html_bad_gateway(),
        Fault::MissingArray => without_array(serve(false)).await,
        Fault::AccessTokenExpired => errors::invalid_access_token(),
        Fault::Stall => {
            shared.stalls.hold().await;
            serve(false)
        }
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            serve(false)
        }
    }
}

/// A reply's head and its whole (in-memory) body.
async fn collect(response: Response) -> (Parts, Bytes) {
    let (parts, body) = response.into_parts();
    (parts, to_bytes(body, usize::MAX).await.unwrap_or_default())
}

/// Announces the full length, sends half the body, then fails the connection.
async fn drop_midway(response: Response) -> Response {
    let (mut parts, bytes) = collect(response).await;
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let half = bytes.slice(..bytes.len() / 2);
    let head = stream::once(async move { Ok::<Bytes, io::Error>(half) });
    let cut = stream::once(async {
        // Let the first half reach the client before the connection dies.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(io::Error::other("zoom-sim: connection dropped mid-body"))
    });
    Response::from_parts(parts, Body::from_stream(head.chain(cut)))
}

/// The same reply with the first half of its body only.
async fn truncate(response: Response) -> Response {
    let (mut parts, bytes) = collect(response).await;
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
}

/// The same reply without the event array, if it is a JSON object.
async fn without_array(response: Response) -> Response {
    let (mut parts, bytes) = collect(response).await;
    let Ok(mut page) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    for log_type in LogType::ALL {
        page.remove(log_type.array_key());
    }
    parts.headers.remove(CONTENT_LENGTH);
    let body = serde_json::to_vec(&page).expect("a JSON map serializes");
    Response::from_parts(parts, Body::from(body))
}

/// A gateway's error page, sent with status 200 so the client must check the content.
fn html_bad_gateway() -> Response {
    let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_the_configured_latency_plus_seeded_jitter() {
        let config = SimConfig {
            latency: Duration::from_millis(100),
            latency_jitter: Duration::from_millis(50),
            ..SimConfig::default()
        };
        let draws = |seed| {
            let mut plan = FaultPlan::new(seed);
            (0..200).map(|_| plan.latency(&config)).collect::<Vec<_>>()
        };
        let latencies = draws(1);
        let range = Duration::from_millis(100)..=Duration::from_millis(150);
        assert!(latencies.iter().all(|l| range.contains(l)), "{latencies:?}");
        let (low, high) = (latencies.iter().min(), latencies.iter().max());
        assert!(
            high.zip(low)
                .is_some_and(|(h, l)| *h - *l > Duration::from_millis(40))
        );
        assert_eq!(latencies, draws(1));
        assert_ne!(latencies, draws(2));

        let fixed = SimConfig {
            latency_jitter: Duration::ZERO,
            ..config
        };
        assert_eq!(
            FaultPlan::new(1).latency(&fixed),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn random_page_token_expiry_hits_only_requests_with_a_token() {
        let config = SimConfig {
            token_expiry_rate: 1.0,
            ..SimConfig::default()
        };
        let mut plan = FaultPlan::new(0);
        assert!(plan.take(1, false, &config).is_none());
        assert!(matches!(
            plan.take(2, true, &config),
            Some(Fault::ExpirePageToken)
        ));
        let sometimes = SimConfig {
            token_expiry_rate: 0.25,
            ..SimConfig::default()
        };
        let expired = (0..4000)
            .filter(|&n| plan.take(n, true, &sometimes).is_some())
            .count();
        assert!((800..1200).contains(&expired), "{expired} of 4000");
    }
}
