//! The Lambda edge, and the only module that knows `lambda_runtime`: turns an EventBridge
//! scheduled event into a [`RunRequest`] and the run's result into the JSON [`RunSummary`] or a
//! typed Lambda error.
//!
//! The event's `time` is the run's reference time. An event without one (a manual test invoke
//! with `{}`) runs at the clock's time, with a warning; a `time` that is not RFC 3339 is an
//! `InvalidEvent` error and nothing runs. No new work starts once the invocation has less than
//! `DEADLINE_MARGIN_SECONDS` left. A failure's `errorType` is [`Failure::error_type`], the name an
//! operator alarms on; a daily-limit stop is a success whose summary says `stopped_early`. A
//! successful run also prints its metrics, one Embedded Metric Format line per log type. Every
//! invocation that reached an account ends by writing that account's last-run record
//! ([`crate::runs`]); a failure to write it is a warning, never the invocation's result.
//!
//! With `ZOOM_SECRET_PREFIX` the function serves many accounts: the event names its account
//! (`{"account": "<name>", "time": …}`), the run reads that account's secret and writes under its
//! folders ([`crate::accounts`]), the summary names it, and every log line of the invocation
//! carries it in the `account` span. A bad name is `AccountInvalid` and reads nothing.
//!
//! A function that cannot start (a missing or malformed setting) tells Lambda so through the
//! runtime API's init error endpoint ([`report_init_error`]), so every invocation fails with
//! `errorType` `ConfigInvalid` and a message naming the variable, not with `Runtime.ExitError`.

use std::time::{Duration, SystemTime};

use std::panic::AssertUnwindSafe;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

use crate::accounts::{AccountError, AccountName, AccountSink, Stores};
use crate::app::Failure;
use crate::config::{Config, ConfigError};
use crate::metrics::emf_lines;
use crate::ports::{ObjectSink, StateStore};
use crate::pull::{RunRequest, RunSummary};
use crate::runs::RunRecord;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the event's \"time\" {value} is not an RFC 3339 time: {reason}")]
    InvalidEvent { value: String, reason: String },
    #[error(transparent)]
    Run(#[from] Failure),
    /// The run panicked: a bug. The message quotes nothing of the panic, whose text may hold data
    /// from Zoom, S3 or the secret; the panic itself is in the function's log.
    #[error(
        "the run stopped on an internal error (a bug; the function's log has the details); \
         what it had written and stored is kept, and the next run resumes from the stored state"
    )]
    Internal,
}

impl HandlerError {
    /// The Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::InvalidEvent { .. } => "InvalidEvent",
            HandlerError::Run(failure) => failure.error_type(),
            HandlerError::Internal => "Internal",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// A setting the Lambda cannot run without, or a [`ConfigError`] naming its variable.
pub fn required(value: &Option<String>, variable: &'static str) -> Result<String, ConfigError> {
    value.clone().ok_or_else(|| ConfigError {
        variable,
        message: "is required by the Lambda function".into(),
    })
}

/// Reports a setting the function cannot start without to Lambda's init error endpoint
/// (`POST /2018-06-01/runtime/init/error` on `runtime_api`, the `AWS_LAMBDA_RUNTIME_API` address):
/// Lambda then answers the invocation with `errorType` `ConfigInvalid` and the error's message.
/// Returns the error for the caller to exit with; a failed report is logged, not hidden.
pub async fn report_init_error(
    http: &reqwest::Client,
    runtime_api: &str,
    error: ConfigError,
) -> HandlerError {
    let error = HandlerError::from(Failure::from(error));
    let diagnostic = Diagnostic {
        error_type: error.error_type().to_owned(),
        error_message: error.to_string(),
    };
    let sent = http
        .post(format!(
            "http://{runtime_api}/2018-06-01/runtime/init/error"
        ))
        .header("Lambda-Runtime-Function-Error-Type", &diagnostic.error_type)
        .json(&diagnostic)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    if let Err(e) = sent {
        tracing::error!(error = %e.without_url(), "the init error could not be reported to Lambda");
    }
    error
}

/// Everything an invocation needs, built once per process.
pub struct Handler<S, K> {
    config: Config,
    http: reqwest::Client,
    stores: Stores<S>,
    sink: K,
}

impl<S: StateStore, K: ObjectSink> Handler<S, K> {
    pub fn new(config: Config, http: reqwest::Client, store: S, sink: K) -> Self {
        Handler::with_stores(config, http, Stores::One(store), sink)
    }

    /// A handler for one account ([`Stores::One`]) or many ([`Stores::PerAccount`]).
    pub fn with_stores(config: Config, http: reqwest::Client, stores: Stores<S>, sink: K) -> Self {
        Handler {
            config,
            http,
            stores,
            sink,
        }
    }

    /// One invocation: one run over every configured log type, and one log line about it.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<RunSummary, HandlerError> {
        let account = crate::accounts::account_of(&event.payload);
        let span = crate::accounts::span(&account);
        self.handle_account(account, event).instrument(span).await
    }

    async fn handle_account(
        &self,
        account: Result<Option<AccountName>, AccountError>,
        event: LambdaEvent<Value>,
    ) -> Result<RunSummary, HandlerError> {
        let recorded = account.as_ref().ok().cloned();
        let result = catch_panic(self.run(account, event)).await;
        match &result {
            Ok(summary) => {
                let per_log_type: Vec<String> = summary
                    .log_types
                    .iter()
                    .map(|s| {
                        format!(
                            "{}: {} events, {} objects, {} pages",
                            s.log_type, s.events_written, s.objects_written, s.pages_fetched
                        )
                    })
                    .collect();
                tracing::info!(
                    reference_time = %summary.reference_time.to_rfc3339(),
                    counts = %per_log_type.join("; "),
                    events_written = summary.log_types.iter().map(|s| s.events_written).sum::<u64>(),
                    stopped_early = summary.log_types.iter().any(|s| s.stopped_early.is_some()),
                    state_saved = summary.state_saved,
                    "run finished"
                );
                // CloudWatch reads an EMF document only as a bare JSON line on standard output.
                for line in emf_lines(summary, Utc::now()) {
                    println!("{line}");
                }
            }
            Err(error) => tracing::error!(
                error_type = error.error_type(),
                error = %error,
                "run failed"
            ),
        }
        if let Some(account) = recorded {
            self.record_run(account, &result).await;
        }
        result
    }

    /// Records how the run of `account` ended ([`crate::runs`]), unless it failed for want of an
    /// account to run for; a failure to record is logged and changes nothing else.
    async fn record_run(
        &self,
        account: Option<AccountName>,
        result: &Result<RunSummary, HandlerError>,
    ) {
        let now = Utc::now();
        let record = match result {
            Ok(summary) => RunRecord::succeeded(summary, now),
            Err(HandlerError::Run(Failure::Account(_))) => return,
            Err(error) => RunRecord::failed(error.error_type(), error.to_string(), now),
        };
        let prefix = &self.config.prefix;
        let written = match account {
            None => crate::runs::record(&self.sink, prefix, record).await,
            Some(account) => {
                let sink = AccountSink::new(&self.sink, prefix, account);
                crate::runs::record(&sink, prefix, record).await
            }
        };
        if let Err(error) = written {
            tracing::warn!(error = %error, "the run's record could not be written; the run's result stands");
        }
    }

    async fn run(
        &self,
        account: Result<Option<AccountName>, AccountError>,
        event: LambdaEvent<Value>,
    ) -> Result<RunSummary, HandlerError> {
        let account = account.map_err(Failure::from)?;
        let now = Utc::now();
        let reference_time = reference_time(&event.payload)?.unwrap_or_else(|| {
            tracing::warn!(reference_time = %now.to_rfc3339(), "the event has no \"time\"; using the clock");
            now
        });
        let work_time = work_time(
            event.context.deadline(),
            SystemTime::now(),
            self.config.deadline_margin,
        );
        if work_time.is_zero() {
            tracing::error!(
                deadline_margin_s = self.config.deadline_margin.as_secs(),
                "the function's timeout leaves no time before DEADLINE_MARGIN_SECONDS; \
                 raise the timeout or lower the margin, or no run will ever make progress"
            );
        }
        let request = RunRequest {
            reference_time,
            now,
            deadline: Some(tokio::time::Instant::now() + work_time),
        };
        let run = self
            .stores
            .run(account, &self.config, &self.http, &self.sink, request);
        Ok(run.await?)
    }
}

/// `work`'s result, or [`HandlerError::Internal`] if it panics, so the Lambda's `errorType` is a
/// documented name and not the Rust type of the panic payload (what `lambda_runtime` reports for
/// a panic it catches itself).
async fn catch_panic<T>(
    work: impl Future<Output = Result<T, HandlerError>>,
) -> Result<T, HandlerError> {
    // Nothing the future borrows is used after a panic: the run's state is its own.
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(_payload) => {
            // The payload is not logged here: the panic hook already printed it to the log.
            tracing::error!(error_type = "Internal", "the run panicked");
            Err(HandlerError::Internal)
        }
    }
}

/// The event's `time`: `None` if it has none, an error if it is not RFC 3339.
fn reference_time(payload: &Value) -> Result<Option<DateTime<Utc>>, HandlerError> {
    let Some(time) = payload.get("time").filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    let invalid = |reason: String| HandlerError::InvalidEvent {
        value: time.to_string(),
        reason,
    };
    let text = time
        .as_str()
        .ok_or_else(|| invalid("it is not a string".into()))?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| invalid(e.to_string()))
}

/// How long the run may start new work: the time left before the Lambda deadline, less the margin.
fn work_time(lambda_deadline: SystemTime, now: SystemTime, margin: Duration) -> Duration {
    lambda_deadline
        .duration_since(now)
        .unwrap_or_default()
        .saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::eventbridge::EventBridgeEvent;

    const SCHEDULED: &[u8] = include_bytes!("../events/scheduled.json");

    #[test]
    fn the_sample_scheduled_event_round_trips() {
        let parsed: EventBridgeEvent = serde_json::from_slice(SCHEDULED).unwrap();
        assert_eq!(parsed.detail_type, "Scheduled Event");
        assert_eq!(parsed.source, "aws.events");
        let original: Value = serde_json::from_slice(SCHEDULED).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), original);
    }

    #[test]
    fn the_reference_time_is_the_events_time() {
        let parsed: EventBridgeEvent = serde_json::from_slice(SCHEDULED).unwrap();
        let payload: Value = serde_json::from_slice(SCHEDULED).unwrap();
        assert_eq!(reference_time(&payload).unwrap(), parsed.time);
        assert!(parsed.time.is_some());
    }

    #[test]
    fn an_event_without_a_time_falls_back_to_the_clock() {
        assert_eq!(reference_time(&serde_json::json!({})).unwrap(), None);
        assert_eq!(
            reference_time(&serde_json::json!({"time": null})).unwrap(),
            None
        );
        assert_eq!(
            reference_time(&serde_json::json!("not an object")).unwrap(),
            None
        );
    }

    #[test]
    fn an_unparsable_time_is_an_invalid_event() {
        for time in [
            serde_json::json!("yesterday"),
            serde_json::json!(1_700_000_000),
        ] {
            let error = reference_time(&serde_json::json!({ "time": time })).unwrap_err();
            assert_eq!(error.error_type(), "InvalidEvent");
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, "InvalidEvent");
            assert!(
                diagnostic.error_message.contains("time"),
                "{}",
                diagnostic.error_message
            );
        }
    }

    #[test]
    fn a_time_with_an_offset_is_taken_as_utc() {
        let payload = serde_json::json!({"time": "2026-11-29T22:15:00+01:00"});
        let expected: DateTime<Utc> = "2026-11-29T21:15:00Z".parse().unwrap();
        assert_eq!(reference_time(&payload).unwrap(), Some(expected));
    }

    #[test]
    fn work_time_leaves_the_margin_and_never_goes_negative() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let margin = Duration::from_secs(20);
        let deadline = now + Duration::from_secs(900);
        assert_eq!(work_time(deadline, now, margin), Duration::from_secs(880));
        assert_eq!(
            work_time(now + Duration::from_secs(5), now, margin),
            Duration::ZERO
        );
        assert_eq!(
            work_time(now - Duration::from_secs(5), now, margin),
            Duration::ZERO
        );
    }

    #[test]
    fn failures_keep_their_error_type_at_the_lambda_edge() {
        let failure = Failure::Config(ConfigError {
            variable: "LOG_TYPES",
            message: "names no log type".into(),
        });
        let diagnostic = Diagnostic::from(HandlerError::from(failure));
        assert_eq!(diagnostic.error_type, "ConfigInvalid");
        assert!(diagnostic.error_message.contains("LOG_TYPES"));
    }

    #[tokio::test]
    async fn a_panic_is_an_internal_error_that_quotes_nothing_of_it() {
        let work = async {
            let payload = "alice@example.com token-s3cr3t";
            if !payload.is_empty() {
                panic!("{payload}");
            }
            Ok::<(), HandlerError>(())
        };
        let error = catch_panic(work).await.unwrap_err();
        assert_eq!(error.error_type(), "Internal");
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "Internal");
        assert!(!diagnostic.error_message.contains("alice"));
        assert!(!diagnostic.error_message.contains("s3cr3t"));
        assert!(diagnostic.error_message.contains("internal error"));
    }

    #[tokio::test]
    async fn results_pass_through_the_panic_guard_unchanged() {
        assert_eq!(catch_panic(async { Ok(7) }).await.unwrap(), 7);
        let error = catch_panic(async {
            Err::<(), _>(HandlerError::InvalidEvent {
                value: "x".into(),
                reason: "y".into(),
            })
        })
        .await
        .unwrap_err();
        assert_eq!(error.error_type(), "InvalidEvent");
    }

    #[test]
    fn a_missing_required_setting_names_its_variable() {
        let error = required(&None, "LOG_BUCKET").unwrap_err();
        assert_eq!(error.variable, "LOG_BUCKET");
        assert!(error.to_string().contains("LOG_BUCKET"));
        assert_eq!(required(&Some("b".into()), "LOG_BUCKET").unwrap(), "b");
    }
}
