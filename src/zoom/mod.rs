//! The Zoom adapter: a [`ReportSource`] over Zoom's report API.
//!
//! Each page request is paced, authorized by the [`TokenKeeper`], sent, and classified. A 401
//! renews the access token once; per-second rate limits and transient failures are retried with
//! backoff within the run's deadline; a daily limit, a missing scope or a revoked authorization
//! come back as typed errors without retrying. Neither a page request nor a token refresh starts
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
use response::{Failure, read_response};
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
        let body = response.bytes().await.map_err(|e| {
            Failure::Transient(format!("reading the body failed: {}", e.without_url()))
        })?;
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
            self.pacer.wait_turn().await;
            if past_deadline() {
                return Err(SourceError::Deadline);
            }
            let failure = match self.attempt(&request, page_size, &token).await {
                Ok(page) => return Ok(page),
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
                    if throttled > self.retry.max_rate_limit_retries {
                        return Err(SourceError::Unavailable {
                            detail: format!("still rate limited after {throttled} attempts"),
                        });
                    }
                    let delay = retry_after.unwrap_or_else(|| self.retry.backoff(throttled));
                    tracing::info!(log_type = %request.log_type, delay_ms = delay.as_millis() as u64, "rate limited; waiting");
                    wait(delay, request.deadline).await?;
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
