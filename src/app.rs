//! One run, composed: load the state document, build the Zoom source, pull, and name the failure.
//!
//! The CLI and the Lambda both call [`run_once`] with their own state store and object sink, and
//! report a [`Failure`] by its [`Failure::error_type`], the name an operator alarms on.
//! Whether a rotated refresh token is lost (`TokenNotStored`, which sends the operator to
//! re-authorize) is decided after the run's final save, which may yet have stored it.

use crate::config::ConfigError;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, SourceError, StateStore, StoreError};
use crate::pull::{self, PullError, RunError, RunRequest, RunSummary};
use crate::state::{StateError, StateKeeper};
use crate::zoom::{RetryPolicy, ZoomReports};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// Storing a rotated refresh token failed, so the run stopped pulling; the end-of-run save
    /// stored it after all.
    #[error(
        "{log_type}: storing the rotated Zoom refresh token failed ({source}), so the run stopped; \
         the end-of-run save stored it, so the authorization is intact"
    )]
    TokenStoredLate {
        log_type: LogType,
        #[source]
        source: StoreError,
    },
    /// The run failed for another reason, and a rotated refresh token it holds was never stored.
    #[error(
        "a rotated Zoom refresh token could not be stored, so it is lost: re-authorize the app \
         (the run failed: {0})"
    )]
    TokenLost(#[source] RunError),
    #[error("authorization failed: {0}")]
    Authorize(#[from] crate::authorize::AuthorizeError),
    #[error(transparent)]
    Account(#[from] crate::accounts::AccountError),
}

impl Failure {
    /// A stable name for the cause: the Lambda's `errorType`, the CLI's error prefix.
    pub fn error_type(&self) -> &'static str {
        match self {
            Failure::Config(_) => "ConfigInvalid",
            Failure::Authorize(_) => "AuthorizeFailed",
            Failure::Account(e) => e.error_type(),
            Failure::State(e) => state_error_type(e),
            Failure::TokenStoredLate { .. } => "StorageFailed",
            Failure::TokenLost(_) => "TokenNotStored",
            Failure::Run(RunError::SaveState(_)) => "StorageFailed",
            Failure::Run(RunError::Pull { source, .. }) => match source {
                PullError::Store(_) => "StorageFailed",
                PullError::Checkpoint(_) => "CheckpointInconsistent",
                PullError::CursorInFuture { .. } => "CursorInFuture",
                PullError::Source(e) => source_error_type(e),
            },
        }
    }
}

fn state_error_type(error: &StateError) -> &'static str {
    match error {
        StateError::Malformed(_) | StateError::Incomplete(_) => "StateInvalid",
        StateError::Store(_) => "StorageFailed",
    }
}

/// The `errorType` of a run that failed with `error` (also what `zoomlogs check` names).
pub(crate) fn source_error_type(error: &SourceError) -> &'static str {
    match error {
        SourceError::AuthRevoked { .. } => "AuthRevoked",
        SourceError::MissingScope { .. } => "MissingScope",
        SourceError::NoPermission { .. } => "NoPermission",
        SourceError::TokenNotStored(_) => "TokenNotStored",
        SourceError::DailyLimit { .. } => "DailyLimit",
        SourceError::Deadline
        | SourceError::RateLimited { .. }
        | SourceError::Unavailable { .. }
        | SourceError::PageTokenExpired => "ZoomUnavailable",
        SourceError::Rejected { .. } => "ZoomRejected",
        SourceError::Malformed { .. } => "MalformedResponse",
        SourceError::State(e) => state_error_type(e),
    }
}

/// Loads the state from `store`, pulls every configured log type into `sink`, saves the state.
pub async fn run_once<S: StateStore, K: ObjectSink>(
    config: &crate::config::Config,
    http: &reqwest::Client,
    store: S,
    sink: &K,
    request: RunRequest,
) -> Result<RunSummary, Failure> {
    let state = StateKeeper::load(store).await?;
    let source = ZoomReports::new(http, config, &state, RetryPolicy::default());
    let result = pull::run(config, &source, &state, sink, request).await;
    let token_lost = state.has_unstored_grant().await;
    result.map_err(|error| run_failure(error, token_lost))
}

/// The failure to report, once the final save has shown whether a rotated token is stored.
fn run_failure(error: RunError, token_lost: bool) -> Failure {
    match error {
        RunError::Pull {
            log_type,
            source: PullError::Source(SourceError::TokenNotStored(source)),
        } if !token_lost => Failure::TokenStoredLate { log_type, source },
        RunError::Pull {
            source: PullError::Source(SourceError::TokenNotStored(_)),
            ..
        } => Failure::Run(error),
        error if token_lost => Failure::TokenLost(error),
        error => Failure::Run(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_not_stored() -> RunError {
        RunError::Pull {
            log_type: LogType::Activity,
            source: PullError::Source(SourceError::TokenNotStored(StoreError::new(
                "PutSecretValue",
                "injected",
            ))),
        }
    }

    #[test]
    fn token_not_stored_is_reported_only_while_the_token_is_unstored() {
        assert_eq!(
            run_failure(token_not_stored(), true).error_type(),
            "TokenNotStored"
        );
        let late = run_failure(token_not_stored(), false);
        assert_eq!(late.error_type(), "StorageFailed");
        assert!(late.to_string().contains("intact"), "{late}");
    }

    #[test]
    fn a_lost_token_outranks_the_failure_that_ended_the_run() {
        let other = || RunError::Pull {
            log_type: LogType::Operation,
            source: PullError::Source(SourceError::MissingScope {
                detail: "report:read:admin".into(),
            }),
        };
        assert_eq!(run_failure(other(), true).error_type(), "TokenNotStored");
        assert_eq!(run_failure(other(), false).error_type(), "MissingScope");
    }
}
