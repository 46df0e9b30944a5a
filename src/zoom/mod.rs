//! The Zoom adapter: a [`ReportSource`] over Zoom's report API.
//!
//! Each page request is paced, authorized by the [`TokenKeeper`], sent, and classified. A 401
//! renews the access token once; transient failures are retried with backoff within the run's
//! deadline; a per-second rate limit slows the shared pace and is retried for as long as the
//! deadline allows (each wait at most [`MAX_RATE_LIMIT_WAIT`]), then stops the log type cleanly
//! with [`SourceError::RateLimited`] (without a deadline, after [`RetryPolicy`]'s
//! `max_rate_limit_retries`), which the run reports as `stopped_early: rate_limited`; a daily limit, a missing scope or a revoked authorization come back
//! as typed errors without retrying or waiting. A response body is read up to a cap
//! ([`MAX_REPORT_BODY_BYTES`]; past it, [`SourceError::Malformed`]), never whole whatever its size. Neither a page request nor a token refresh starts
//! after the request's deadline; one that started before it ends within [`REQUEST_TIMEOUT`] (a
//! page) or [`REFRESH_WORST_CASE`] (a refresh and the store of its rotated token), which is what
//! the run's deadline margin is sized from.

mod oauth;
mod pace;
mod response;
mod retry;
mod tokens;

pub use oauth::{Grant, OAuthError, Tokens, request_tokens};
pub use retry::RetryPolicy;
pub use tokens::TokenKeeper;

use std::time::Duration;

use chrono::Utc;

use crate::config::Config;
use crate::ports::{Page, PageRequest, ReportSource, SourceError, StateStore};
use crate::state::{SAVE_WORST_CASE, StateKeeper};
use pace::Pacer;
pub use response::MAX_REPORT_BODY_BYTES;
use response::{BodyError, Failure, read_capped, read_response};
use retry::wait;

/// Zoom returns at most this many events per page.
const PAGE_SIZE: &str = "300";
/// One HTTP request may take this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a token refresh can run on after the deadline, having started just before it: its
/// request, then storing the rotated refresh token (or the reload after `invalid_grant`, shorter).
pub const REFRESH_WORST_CASE: Duration = REQUEST_TIMEOUT.saturating_add(SAVE_WORST_CASE);

/// The HTTP client every Zoom call goes through (rustls, timeouts, no redirects).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("zoom-log-puller/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds")
}

/// The longest wait after a per-second rate limit, whatever `Retry-After` says.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The wait before retrying a per-second 429: Zoom's `Retry-After` or the backoff, whichever is
/// longer, never more than [`MAX_RATE_LIMIT_WAIT`].
fn throttle_delay(retry_after: Option<Duration>, backoff: Duration) -> Duration {
    retry_after
        .unwrap_or_default()
        .max(backoff)
        .min(MAX_RATE_LIMIT_WAIT)
}

/// Zoom's reports, for one run.
pub struct ZoomReports<'a, S> {
    http: &'a reqwest::Client,
    api_url: &'a str,
    tokens: TokenKeeper<'a, S>,
    pacer: Pacer,
    retry: RetryPolicy,
}

impl<'a, S: StateStore> ZoomReports<'a, S> {
    pub fn new(
        http: &'a reqwest::Client,
        config: &'a Config,
        state: &'a StateKeeper<S>,
        retry: RetryPolicy,
    ) -> Self {
        ZoomReports {
            http,
            api_url: &config.api_url,
            tokens: TokenKeeper::new(http, &config.oauth_url, state, retry.clone()),
            pacer: Pacer::per_second(config.max_requests_per_second),
            retry,
        }
    }

    /// This run's pace now, in requests per second: the configured one, or less while Zoom's
    /// per-second limit is below it.
    pub fn requests_per_second(&self) -> f64 {
        self.pacer.requests_per_second()
    }

    /// The first page of `request` with at most one event: what `zoomlogs check` asks to prove
    /// the scope and the *View reports* permission without reading a full page.
    pub async fn fetch_one_event(&self, request: PageRequest) -> Result<Page, SourceError> {
        self.fetch(request, "1").await
    }

    async fn attempt(
        &self,
        request: &PageRequest,
        page_size: &str,
        token: &crate::secret::Secret,
    ) -> Result<Page, Failure> {
        let url = format!("{}/{}", self.api_url, request.log_type.path());
        let from = request.from.to_string();
        let to = request.to.to_string();
        let mut query = vec![
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("page_size", page_size),
        ];
        if let Some(page_token) = &request.page_token {
            query.push(("next_page_token", page_token));
        }
        let sent = self
            .http
            .get(&url)
            .bearer_auth(token.expose())
            .query(&query)
            .send()
            .await;
        let response =
            sent.map_err(|e| Failure::Transient(format!("request failed: {}", e.without_url())))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = match read_capped(response, MAX_REPORT_BODY_BYTES).await {
            Ok(body) => body,
            Err(BodyError::Read(e)) => {
                return Err(Failure::Transient(format!(
                    "reading the body failed: {}",
                    e.without_url()
                )));
            }
            Err(BodyError::TooLarge { cap }) => {
                return Err(Failure::Final(SourceError::Malformed {
                    detail: BodyError::too_large(status.as_u16(), cap),
                }));
            }
        };
        read_response(request.log_type, status, &headers, &body, Utc::now())
    }
}

impl<S: StateStore> ReportSource for ZoomReports<'_, S> {
    async fn fetch_page(&self, request: PageRequest) -> Result<Page, SourceError> {
        self.fetch(request, PAGE_SIZE).await
    }
}

impl<S: StateStore> ZoomReports<'_, S> {
    async fn fetch(&self, request: PageRequest, page_size: &str) -> Result<Page, SourceError> {
        let past_deadline = || {
            request
                .deadline
                .is_some_and(|d| tokio::time::Instant::now() >= d)
        };
        if past_deadline() {
            return Err(SourceError::Deadline);
        }
        let mut token = self.tokens.access_token(request.deadline).await?;
        let (mut renewed, mut transient, mut throttled) = (false, 0, 0);
        loop {
            let sent_at = self.pacer.wait_turn().await;
            if past_deadline() {
                return Err(SourceError::Deadline);
            }
            let failure = match self.attempt(&request, page_size, &token).await {
                Ok(page) => {
                    self.pacer.succeeded();
                    return Ok(page);
                }
                Err(failure) => failure,
            };
            match failure {
                Failure::AccessTokenRejected if !renewed => {
                    tracing::info!(log_type = %request.log_type, "access token rejected; renewing it once");
                    renewed = true;
                    token = self.tokens.renew(&token, request.deadline).await?;
                }
                Failure::AccessTokenRejected => {
                    return Err(SourceError::AuthRevoked {
                        detail: "Zoom rejected a freshly issued access token".into(),
                    });
                }
                Failure::Throttled { retry_after } => {
                    throttled += 1;
                    self.pacer.throttled(sent_at);
                    let limited = SourceError::RateLimited {
                        attempts: throttled,
                    };
                    if request.deadline.is_none() && throttled > self.retry.max_rate_limit_retries {
                        tracing::warn!(log_type = %request.log_type, attempts = throttled, "still rate limited; stopping cleanly");
                        return Err(limited);
                    }
                    let delay = throttle_delay(retry_after, self.retry.backoff(throttled));
                    tracing::info!(log_type = %request.log_type, delay_ms = delay.as_millis() as u64, attempt = throttled, "rate limited; waiting");
                    // A wait that would pass the deadline: the run stops cleanly, rate limited.
                    wait(delay, request.deadline).await.map_err(|_| limited)?;
                }
                Failure::Transient(detail) => {
                    transient += 1;
                    if transient > self.retry.max_transient_retries {
                        return Err(SourceError::Unavailable { detail });
                    }
                    tracing::warn!(log_type = %request.log_type, %detail, attempt = transient, "transient failure; retrying");
                    wait(self.retry.backoff(transient), request.deadline).await?;
                }
                Failure::Final(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::NaiveDate;
    use zoom_sim::{SimConfig, Simulator};

    use super::*;
    use crate::log_type::LogType;
    use crate::pull::fakes::UnversionedStore;

    /// A simulator with `sim_config`, a run's config pacing at `per_second`, and its state.
    struct Zoom {
        sim: Simulator,
        config: Config,
        http: reqwest::Client,
        store: UnversionedStore,
    }

    impl Zoom {
        fn start(sim_config: SimConfig, per_second: u32) -> Zoom {
            let sim = Simulator::start(sim_config);
            let (api_url, oauth_url) = (sim.api_url(), sim.oauth_url());
            let config = Config::from_lookup(|name| match name {
                "ZOOM_API_URL" => Some(api_url.clone()),
                "ZOOM_OAUTH_URL" => Some(oauth_url.clone()),
                "ZOOM_MAX_REQUESTS_PER_SECOND" => Some(per_second.to_string()),
                _ => None,
            })
            .unwrap();
            let document = SimConfig::default().state_document(&sim.authorize());
            Zoom {
                sim,
                config,
                http: http_client(),
                store: UnversionedStore(Mutex::new(document)),
            }
        }
    }

    fn first_page(deadline: Option<tokio::time::Instant>) -> PageRequest {
        let day = Utc::now().date_naive();
        PageRequest {
            log_type: LogType::Activity,
            from: day.pred_opt().unwrap_or(NaiveDate::MIN),
            to: day,
            page_token: None,
            deadline,
        }
    }

    fn events(sim: &Simulator, count: usize) {
        let now = Utc::now();
        let events = (0..count)
            .map(|n| {
                format!(
                    r#"{{"email":"alice@example.com","time":"{}","type":"Sign in"}}"#,
                    (now - chrono::Duration::minutes(n as i64 + 1)).format("%Y-%m-%dT%H:%M:%SZ")
                )
            })
            .collect();
        sim.add_events(zoom_sim::LogType::Activity, events);
    }

    #[tokio::test]
    async fn a_report_body_past_the_cap_is_malformed_by_its_size_and_a_padded_one_under_it_reads() {
        let zoom = Zoom::start(
            SimConfig {
                pad_response_bytes: oauth::MAX_TOKEN_BODY_BYTES / 2,
                ..SimConfig::default()
            },
            50,
        );
        events(&zoom.sim, 3);
        let state = StateKeeper::load(&zoom.store).await.unwrap();
        let reports = ZoomReports::new(&zoom.http, &zoom.config, &state, RetryPolicy::default());
        // The token grant is padded too, within its cap.
        let page = reports.fetch_page(first_page(None)).await.unwrap();
        assert_eq!(page.events.len(), 3);

        zoom.sim
            .set_config(|c| c.pad_response_bytes = MAX_REPORT_BODY_BYTES);
        let error = reports.fetch_page(first_page(None)).await.unwrap_err();
        let SourceError::Malformed { detail } = &error else {
            panic!("{error:?}");
        };
        assert!(
            detail.contains(&format!("more than {MAX_REPORT_BODY_BYTES} bytes")),
            "{detail}"
        );
        assert!(!detail.contains("alice"), "{detail}");
        assert_eq!(crate::app::source_error_type(&error), "MalformedResponse");
    }

    #[tokio::test]
    async fn a_token_response_past_its_cap_is_malformed_by_its_size_and_quotes_nothing() {
        let zoom = Zoom::start(
            SimConfig {
                pad_response_bytes: oauth::MAX_TOKEN_BODY_BYTES,
                ..SimConfig::default()
            },
            50,
        );
        let state = StateKeeper::load(&zoom.store).await.unwrap();
        let reports = ZoomReports::new(&zoom.http, &zoom.config, &state, RetryPolicy::default());
        let error = reports.fetch_page(first_page(None)).await.unwrap_err();
        let SourceError::Malformed { detail } = &error else {
            panic!("{error:?}");
        };
        assert!(
            detail.contains(&format!("more than {} bytes", oauth::MAX_TOKEN_BODY_BYTES)),
            "{detail}"
        );
        assert!(!detail.contains("sim-"), "{detail}");
        assert_eq!(zoom.sim.stats().report_requests, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_per_second_limit_below_the_pace_slows_it_and_every_request_gets_its_page() {
        let zoom = Zoom::start(
            SimConfig {
                qps_limit: Some(2),
                ..SimConfig::default()
            },
            10,
        );
        events(&zoom.sim, 2);
        let state = StateKeeper::load(&zoom.store).await.unwrap();
        let reports = ZoomReports::new(&zoom.http, &zoom.config, &state, RetryPolicy::default());
        let deadline = Some(tokio::time::Instant::now() + Duration::from_secs(120));
        let queries = (0..5).map(|_| async {
            let mut pages = Vec::new();
            for _ in 0..2 {
                pages.push(reports.fetch_page(first_page(deadline)).await);
            }
            pages
        });
        let pages: Vec<_> = futures_util::future::join_all(queries)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(pages.len(), 10);
        for page in pages {
            assert_eq!(page.expect("every request gets its page").events.len(), 2);
        }
        assert!(zoom.sim.stats().rate_limited > 0, "Zoom's limit was met");
        assert!(
            reports.requests_per_second() < 10.0,
            "the pace went down: {}",
            reports.requests_per_second()
        );
    }

    #[tokio::test]
    async fn without_a_deadline_a_per_second_limit_that_never_lifts_stops_as_rate_limited() {
        let zoom = Zoom::start(
            SimConfig {
                qps_limit: Some(0),
                rate_limit_headers: false,
                ..SimConfig::default()
            },
            50,
        );
        let state = StateKeeper::load(&zoom.store).await.unwrap();
        let retry = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_rate_limit_retries: 3,
            ..RetryPolicy::default()
        };
        let reports = ZoomReports::new(&zoom.http, &zoom.config, &state, retry);
        let error = reports.fetch_page(first_page(None)).await.unwrap_err();
        assert!(
            matches!(error, SourceError::RateLimited { attempts: 4 }),
            "{error:?}"
        );
        assert_eq!(zoom.sim.stats().rate_limited, 4);
    }

    #[tokio::test]
    async fn a_daily_limit_returns_at_once_with_zooms_retry_time_even_without_a_deadline() {
        let zoom = Zoom::start(
            SimConfig {
                daily_limit: Some(0),
                ..SimConfig::default()
            },
            50,
        );
        let state = StateKeeper::load(&zoom.store).await.unwrap();
        let reports = ZoomReports::new(&zoom.http, &zoom.config, &state, RetryPolicy::default());
        let error = reports.fetch_page(first_page(None)).await.unwrap_err();
        let SourceError::DailyLimit {
            retry_after: Some(at),
        } = error
        else {
            panic!("{error:?}");
        };
        assert!(at > Utc::now());
        assert_eq!(zoom.sim.stats().rate_limited, 1, "asked once, never again");
    }

    #[test]
    fn a_per_second_wait_is_zooms_or_the_backoff_and_never_more_than_a_minute() {
        let s = Duration::from_secs;
        assert_eq!(throttle_delay(Some(s(1)), s(4)), s(4));
        assert_eq!(throttle_delay(Some(s(3)), s(1)), s(3));
        assert_eq!(throttle_delay(None, s(2)), s(2));
        assert_eq!(throttle_delay(Some(s(86_400)), s(1)), MAX_RATE_LIMIT_WAIT);
    }
}
