//! The simulator's knobs: limits, token lifetimes, injected-fault rates, page latency, late
//! arrival of events, and every variant of Zoom's undocumented or inconsistent behaviour
//! (day-boundary time zone, result order, whether `to` is inclusive, how the last page and a dead
//! refresh token look, whether the last page's token loops back to it, whether events are rendered
//! with their keys in another order and an unknown field).

use std::str::FromStr;
use std::time::Duration;

use crate::page_loop::PageLoop;

/// The order in which a report lists its events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Descending time, ties in insertion order (what everybody observes).
    #[default]
    NewestFirst,
    /// Ascending time, ties in insertion order.
    OldestFirst,
    /// A shuffle that depends only on the seed and the matched events.
    Shuffled,
    /// The days of the report's day-boundary time zone in ascending order, each day's events
    /// newest first, ties in insertion order.
    DaysAscending,
}

impl FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Order, String> {
        match s {
            "newest-first" => Ok(Order::NewestFirst),
            "oldest-first" => Ok(Order::OldestFirst),
            "shuffled" => Ok(Order::Shuffled),
            "days-ascending" => Ok(Order::DaysAscending),
            other => Err(format!(
                "unknown order {other:?} (newest-first, oldest-first, shuffled, days-ascending)"
            )),
        }
    }
}

/// How the last page of a report says that it is the last one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LastPage {
    /// `"next_page_token":""`.
    #[default]
    EmptyToken,
    /// No `next_page_token` field at all.
    NoToken,
}

/// How `/oauth/token` rejects a refresh token that is not the current one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefreshRejection {
    /// HTTP 400 `{"reason":"Invalid Token!","error":"invalid_grant"}` (today's behaviour).
    #[default]
    InvalidGrant,
    /// HTTP 401 with the same body (the behaviour before 2022).
    Unauthorized,
    /// HTTP 400 `{"reason":"Invalid Token!","error":"invalid_request"}`.
    InvalidRequest,
}

/// Everything tunable about the simulator; change it while running with `Simulator::set_config`.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub client_id: String,
    pub client_secret: String,
    /// The account id that `grant_type=account_credentials` must name.
    pub account_id: String,
    /// The scopes granted to every access token.
    pub scopes: Vec<String>,
    /// The largest page size served; larger requests are capped.
    pub page_size_cap: usize,
    pub order: Order,
    /// The UTC offset of the time zone of the `from`/`to` day boundaries.
    pub day_offset_minutes: i32,
    /// Whether the `to` day is part of the report. False plays an exclusive `to`: a query lists
    /// the events whose day (in the day boundaries' zone) is `from <= day < to`, so `from == to`
    /// lists nothing at all (`zoom-sim --to-exclusive`).
    pub to_inclusive: bool,
    /// Whether a `to` day later than today (in the day boundaries' zone) is refused: HTTP 400
    /// code 300. Nobody has documented what Zoom does; false accepts it.
    pub refuse_future_to: bool,
    /// Whether report pages echo `from` and `to`.
    pub echo_from_to: bool,
    pub last_page: LastPage,
    /// A fault: whether the last page of a query carries a `next_page_token` that leads back to
    /// the byte-identical last page, a number of times or forever (`zoom-sim --repeat-last-page
    /// N`, `--loop-page-token`). Read when a query's last page is first served.
    pub page_loop: PageLoop,
    /// Serialization drift: report pages show every event with its top-level keys in reverse
    /// order and an extra unknown field `"drift_field":true` at the end, values byte-for-byte as
    /// stored (`zoom-sim --drift-serialization`). Switchable while running; the stored events
    /// stay as they were.
    pub drift_serialization: bool,
    /// False plays an authorizing user without the report role permission: HTTP 400 code 200.
    pub report_permission: bool,
    pub refresh_rejection: RefreshRejection,
    pub page_token_ttl: Duration,
    pub access_token_ttl: Duration,
    /// Report requests allowed per second.
    pub qps_limit: Option<u32>,
    /// Report requests allowed per UTC day.
    pub daily_limit: Option<u64>,
    /// False: 429 replies carry no `X-RateLimit-*` or `Retry-After` headers, only the message.
    pub rate_limit_headers: bool,
    /// Probability that a report request gets a random 5xx.
    pub error_rate_5xx: f64,
    /// Probability that a report request's body is cut off mid-way.
    pub drop_rate: f64,
    /// Probability that a report request presenting a page token gets HTTP 400 code 300 and the
    /// token dies (`Fault::ExpirePageToken`).
    pub token_expiry_rate: f64,
    /// Added to every report request.
    pub latency: Duration,
    /// Each report request waits `latency` plus a uniform random share of this (seeded).
    pub latency_jitter: Duration,
    /// Share of added events that reach the report late: each event added without an explicit
    /// visibility instant (generated or raw, through `Simulator::add_events` or the admin API)
    /// is, with this probability, shown by report queries only from its `time` plus a delay drawn
    /// uniformly from [`late_delay_min`, `late_delay_max`]; the others are shown at once.
    /// Decided when the event is added (seeded).
    ///
    /// [`late_delay_min`]: SimConfig::late_delay_min
    /// [`late_delay_max`]: SimConfig::late_delay_max
    pub late_fraction: f64,
    /// The shortest delay of a late event after its `time`.
    pub late_delay_min: Duration,
    /// The longest delay of a late event after its `time`; below `late_delay_min` it counts as
    /// `late_delay_min`.
    pub late_delay_max: Duration,
    /// Report pages and token grants carry this many bytes of spaces after their opening `{`
    /// (the same JSON document), streamed without a `Content-Length`: an oversized answer.
    pub pad_response_bytes: usize,
    /// Seeds random faults, latency jitter, late arrival and the shuffled order.
    pub seed: u64,
}

impl SimConfig {
    /// A puller's state document for this simulator's app, holding `refresh_token`.
    pub fn state_document(&self, refresh_token: &str) -> String {
        serde_json::json!({
            "client_id": self.client_id, "client_secret": self.client_secret,
            "refresh_token": refresh_token,
        })
        .to_string()
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            port: 0,
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            account_id: "sim-account".into(),
            scopes: vec!["report:read:admin".into()],
            page_size_cap: 300,
            order: Order::NewestFirst,
            day_offset_minutes: 0,
            to_inclusive: true,
            refuse_future_to: false,
            echo_from_to: true,
            last_page: LastPage::EmptyToken,
            page_loop: PageLoop::Off,
            drift_serialization: false,
            report_permission: true,
            refresh_rejection: RefreshRejection::InvalidGrant,
            page_token_ttl: Duration::from_secs(15 * 60),
            access_token_ttl: Duration::from_secs(3600),
            qps_limit: None,
            daily_limit: None,
            rate_limit_headers: true,
            error_rate_5xx: 0.0,
            drop_rate: 0.0,
            token_expiry_rate: 0.0,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            late_fraction: 0.0,
            late_delay_min: Duration::from_secs(20 * 60),
            late_delay_max: Duration::from_secs(20 * 3600),
            pad_response_bytes: 0,
            seed: 0,
        }
    }
}
