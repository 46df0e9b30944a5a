//! `GET /v2/report/{activities|operationlogs}`: request counting and faults, then access token,
//! scope, permission, rate limits, query validation, snapshot paging over the events visible at
//! the query's first page (with the page-loop fault knob on, a last page whose token leads back
//! to it), and a page body built by concatenating the stored raw events verbatim (or drifted).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State as Extract};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Months, NaiveDate, Utc};

use crate::config::LastPage;
use crate::drift;
use crate::errors;
use crate::faults::{self, Fault};
use crate::limits::too_many_requests;
use crate::log_type::LogType;
use crate::padding;
use crate::page_loop::Replay;
use crate::paging::{QueryKey, Snapshot};
use crate::state::{Shared, State};
use crate::store::DayRange;

const CLASSIC_SCOPE: &str = "report:read:admin";
const DEFAULT_PAGE_SIZE: usize = 30;
const MAX_RANGE_DAYS: i64 = 30;
const RETENTION_MONTHS: u32 = 6;
/// The `category_type` filter values of the operation-log report.
const CATEGORIES: &[&str] = &[
    "all",
    "user",
    "user_settings",
    "account",
    "billing",
    "im",
    "recording",
    "phone_contacts",
    "webinar",
    "sub_account",
    "role",
    "zoom_rooms",
];

pub(crate) async fn report(
    Extract(shared): Extract<Arc<Shared>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(log_type) = LogType::from_path(&path) else {
        return errors::http_status(404);
    };
    let presents_page_token = page_token(&query).is_some();
    let (fault, latency) = begin(&mut shared.lock(), log_type, presents_page_token);
    tokio::time::sleep(latency).await;
    faults::apply(fault, &shared, |expire_page_token| {
        serve(
            &mut shared.lock(),
            log_type,
            &headers,
            &query,
            expire_page_token,
        )
    })
    .await
}

/// Counts the request and picks its fault and latency.
fn begin(
    state: &mut State,
    log_type: LogType,
    presents_page_token: bool,
) -> (Option<Fault>, Duration) {
    state.stats.report_requests += 1;
    match log_type {
        LogType::Activity => state.stats.activity_requests += 1,
        LogType::Operation => state.stats.operation_requests += 1,
    }
    let fault = state.faults.take(
        state.stats.report_requests,
        presents_page_token,
        &state.config,
    );
    (fault, state.faults.latency(&state.config))
}

/// The real reply; `expire_page_token` kills a presented page token instead of using it.
fn serve(
    state: &mut State,
    log_type: LogType,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    expire_page_token: bool,
) -> Response {
    if !bearer(headers).is_some_and(|token| state.tokens.access_valid(token)) {
        return errors::invalid_access_token();
    }
    let granted = |scope: &str| state.config.scopes.iter().any(|s| s == scope);
    if !granted(CLASSIC_SCOPE) && !granted(log_type.granular_scope()) {
        let message = "Invalid access token, does not contain scopes:[report:read:admin].";
        return errors::api_error(StatusCode::BAD_REQUEST, 4711, message);
    }
    if !state.config.report_permission {
        return errors::api_error(StatusCode::BAD_REQUEST, 200, "No permission.");
    }
    let now = Utc::now();
    if let Err(limit) = state.limits.admit(&state.config, now) {
        let headers = state.config.rate_limit_headers;
        return too_many_requests(state, limit, headers);
    }
    let request = match ReportQuery::parse(log_type, query, state) {
        Ok(request) => request,
        Err(rejection) => return rejection.reply(),
    };
    let ttl = state.config.page_token_ttl;
    let (snapshot, offset, replay) = match &request.page_token {
        None => {
            let category = request.key.category.as_deref().filter(|c| *c != "all");
            let snapshot = state.store.select(
                log_type,
                &request.days,
                category,
                state.config.order,
                state.config.seed,
                now,
            );
            (snapshot, 0, None)
        }
        Some(token) if expire_page_token => {
            state.pages.kill(token);
            return errors::invalid_page_token();
        }
        Some(token) => match state.pages.resume(token, &request.key, ttl) {
            Some(resumed) => (resumed.snapshot, resumed.offset, resumed.replay),
            None => return errors::invalid_page_token(),
        },
    };
    let end = (offset + request.key.page_size).min(snapshot.len());
    let (events, next_page_token) = match (replay, &request.page_token) {
        (Some(Replay::End), _) => (&snapshot[..0], None),
        (Some(Replay::Again), Some(token)) => (&snapshot[offset..end], Some(token.clone())),
        _ => {
            let next = next_page_token(state, &request.key, &snapshot, offset, end);
            (&snapshot[offset..end], next)
        }
    };
    let body = page_body(state, &request.key, next_page_token.as_deref(), events);
    padding::padded_json(body, state.config.pad_response_bytes)
}

/// The token for the page after `offset..end`; on the last page, a loop token if the page-loop
/// fault knob says so, else none.
fn next_page_token(
    state: &mut State,
    key: &QueryKey,
    snapshot: &Snapshot,
    offset: usize,
    end: usize,
) -> Option<String> {
    let ttl = state.config.page_token_ttl;
    let snapshot = Snapshot::clone(snapshot);
    if end < snapshot.len() {
        return Some(state.pages.issue(key.clone(), snapshot, end, ttl));
    }
    let looping = state.config.page_loop.start()?;
    Some(
        state
            .pages
            .issue_loop(key.clone(), snapshot, offset, ttl, looping),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// `{"from":…,"to":…,"page_size":N,"next_page_token":…,"activity_logs":[raw,…]}`.
fn page_body(state: &State, key: &QueryKey, next: Option<&str>, events: &[u32]) -> String {
    let raw_len: usize = events
        .iter()
        .map(|&i| state.store.raw(key.log_type, i).len() + 1)
        .sum();
    let mut body = String::with_capacity(raw_len + 160);
    body.push('{');
    if state.config.echo_from_to {
        write!(body, r#""from":"{}","to":"{}","#, key.from, key.to).expect("String write");
    }
    write!(body, r#""page_size":{},"#, key.page_size).expect("String write");
    match (next, state.config.last_page) {
        (Some(token), _) => write!(body, r#""next_page_token":"{token}","#),
        (None, LastPage::EmptyToken) => write!(body, r#""next_page_token":"","#),
        (None, LastPage::NoToken) => Ok(()),
    }
    .expect("String write");
    write!(body, r#""{}":["#, key.log_type.array_key()).expect("String write");
    for (n, &i) in events.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        let raw = state.store.raw(key.log_type, i);
        if state.config.drift_serialization {
            body.push_str(&drift::render(raw));
        } else {
            body.push_str(raw);
        }
    }
    body.push_str("]}");
    body
}

/// A validated report query.
struct ReportQuery {
    key: QueryKey,
    days: DayRange,
    page_token: Option<String>,
}

impl ReportQuery {
    fn parse(
        log_type: LogType,
        query: &HashMap<String, String>,
        state: &State,
    ) -> Result<ReportQuery, Rejection> {
        let config = &state.config;
        let from = date(query, "from")?;
        let to = date(query, "to")?;
        if to < from {
            return Err(Rejection::Range(
                "The to date must not be earlier than the from date.",
            ));
        }
        if (to - from).num_days() > MAX_RANGE_DAYS {
            return Err(Rejection::Range(
                "The date range can only be up to one month.",
            ));
        }
        let today =
            (Utc::now() + chrono::Duration::minutes(config.day_offset_minutes.into())).date_naive();
        if config.refuse_future_to && to > today {
            return Err(Rejection::Range("The to date cannot be later than today."));
        }
        let oldest = Utc::now().date_naive() - Months::new(RETENTION_MONTHS);
        if from < oldest {
            return Err(Rejection::Range("Only provide report in recent 6 months."));
        }
        let page_size = match query.get("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(Rejection::Field("page_size"))?,
        }
        .min(config.page_size_cap);
        let category = match (log_type, query.get("category_type")) {
            (LogType::Operation, Some(c)) if !CATEGORIES.contains(&c.as_str()) => {
                return Err(Rejection::Field("category_type"));
            }
            (LogType::Operation, category) => category.cloned(),
            (LogType::Activity, _) => None,
        };
        let last = if config.to_inclusive {
            to
        } else {
            to.pred_opt().unwrap_or(NaiveDate::MIN)
        };
        Ok(ReportQuery {
            key: QueryKey {
                log_type,
                from,
                to,
                page_size,
                category,
            },
            days: DayRange {
                first: from,
                last,
                offset_minutes: config.day_offset_minutes,
            },
            page_token: page_token(query).map(str::to_owned),
        })
    }
}

/// The `next_page_token` a request presents; an empty one asks for the first page.
fn page_token(query: &HashMap<String, String>) -> Option<&str> {
    query
        .get("next_page_token")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
}

fn date(query: &HashMap<String, String>, field: &'static str) -> Result<NaiveDate, Rejection> {
    query
        .get(field)
        .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .ok_or(Rejection::Field(field))
}

/// Why a report query is refused.
enum Rejection {
    /// A missing or malformed query field.
    Field(&'static str),
    /// Dates out of the allowed range.
    Range(&'static str),
}

impl Rejection {
    fn reply(self) -> Response {
        match self {
            Rejection::Field(field) => errors::validation_failed(field),
            Rejection::Range(message) => errors::api_error(StatusCode::BAD_REQUEST, 300, message),
        }
    }
}
