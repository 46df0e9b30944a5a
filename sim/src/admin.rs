//! The `/_sim/*` admin endpoints for the demo and the binary: add or generate events, authorize
//! the app, read the stats, schedule faults and release stalled requests.
//!
//! - `POST /_sim/events` with `{"log_type":"Zoom.Activity","events":[{…},…]}` stores the raw
//!   objects byte-for-byte, or with `{"log_type":…,"count":N,"minutes_back":M}` generates N events
//!   over the last M minutes (default 60). Either form may add `"visible_at":"<RFC 3339>"`: reports
//!   show the whole batch only from that instant on, whatever the events' `time` (late arrival,
//!   staged deterministically); without it the late-arrival knobs decide per event. Replies
//!   `{"added":N}`.
//! - `POST /_sim/authorize` → `{"refresh_token":…}`: a new refresh token, earlier ones revoked.
//! - `GET /_sim/stats` → the `Stats` counters, with `hidden_events`: events not visible yet.
//! - `POST /_sim/faults` with a fault in its wire form (see `ScheduleFault`) → 204.
//! - `POST /_sim/release-stalls` → 204.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use crate::events::generate_events;
use crate::faults::Fault;
use crate::log_type::LogType;
use crate::state::Shared;

const DEFAULT_MINUTES_BACK: i64 = 60;

/// `{"log_type":"Zoom.Activity","count":N,"minutes_back":M}` or `{"log_type":…,"events":[…]}`,
/// either with an optional `"visible_at":"<RFC 3339>"`.
#[derive(Deserialize)]
pub(crate) struct AddEvents {
    log_type: String,
    count: Option<usize>,
    minutes_back: Option<i64>,
    events: Option<Vec<Box<RawValue>>>,
    visible_at: Option<DateTime<Utc>>,
}

pub(crate) async fn add_events(
    Extract(shared): Extract<Arc<Shared>>,
    Json(request): Json<AddEvents>,
) -> Response {
    let Some(log_type) = LogType::from_name(&request.log_type) else {
        let message = format!("unknown log_type {:?}", request.log_type);
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let mut state = shared.lock();
    let events = match request.events {
        Some(raw) => raw.into_iter().map(|e| e.get().to_owned()).collect(),
        None => {
            let end = Utc::now();
            let minutes_back = request.minutes_back.unwrap_or(DEFAULT_MINUTES_BACK);
            let seed = state.config.seed ^ state.store.len(log_type) as u64;
            let count = request.count.unwrap_or(0);
            generate_events(
                log_type,
                count,
                end - TimeDelta::minutes(minutes_back),
                end,
                seed,
            )
        }
    };
    match state.add_events(log_type, events, request.visible_at) {
        Ok(added) => Json(json!({ "added": added })).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

pub(crate) async fn authorize(Extract(shared): Extract<Arc<Shared>>) -> Response {
    let refresh_token = shared.lock().tokens.authorize();
    Json(json!({ "refresh_token": refresh_token })).into_response()
}

pub(crate) async fn stats(Extract(shared): Extract<Arc<Shared>>) -> Response {
    Json(shared.lock().stats()).into_response()
}

/// The wire form of a `Fault`: `{"fault":"status","status":503}`, `{"fault":"delay","millis":500}`,
/// `{"fault":"daily_limit","headers":false}`, …; `"at":N` targets report request N, else the next.
#[derive(Deserialize)]
pub(crate) struct ScheduleFault {
    #[serde(flatten)]
    fault: FaultSpec,
    at: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
enum FaultSpec {
    Status {
        status: u16,
    },
    Drop,
    RateLimitQps {
        #[serde(default = "yes")]
        headers: bool,
    },
    DailyLimit {
        #[serde(default = "yes")]
        headers: bool,
    },
    ExpirePageToken,
    InvalidJson,
    HtmlErrorPage,
    MissingArray,
    AccessTokenExpired,
    Stall,
    Delay {
        millis: u64,
    },
}

fn yes() -> bool {
    true
}

impl From<FaultSpec> for Fault {
    fn from(spec: FaultSpec) -> Fault {
        match spec {
            FaultSpec::Status { status } => Fault::Status(status),
            FaultSpec::Drop => Fault::Drop,
            FaultSpec::RateLimitQps { headers } => Fault::RateLimitQps { headers },
            FaultSpec::DailyLimit { headers } => Fault::DailyLimit { headers },
            FaultSpec::ExpirePageToken => Fault::ExpirePageToken,
            FaultSpec::InvalidJson => Fault::InvalidJson,
            FaultSpec::HtmlErrorPage => Fault::HtmlErrorPage,
            FaultSpec::MissingArray => Fault::MissingArray,
            FaultSpec::AccessTokenExpired => Fault::AccessTokenExpired,
            FaultSpec::Stall => Fault::Stall,
            FaultSpec::Delay { millis } => Fault::Delay(Duration::from_millis(millis)),
        }
    }
}

pub(crate) async fn schedule_fault(
    Extract(shared): Extract<Arc<Shared>>,
    Json(request): Json<ScheduleFault>,
) -> StatusCode {
    let mut state = shared.lock();
    match request.at {
        Some(index) => state.faults.schedule_at(index, request.fault.into()),
        None => state.faults.schedule_next(request.fault.into()),
    }
    StatusCode::NO_CONTENT
}

pub(crate) async fn release_stalls(Extract(shared): Extract<Arc<Shared>>) -> StatusCode {
    shared.stalls.release();
    StatusCode::NO_CONTENT
}
