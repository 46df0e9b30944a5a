//! One run, composed: load the state document, build the Zoom source, pull, and name the failure.
//!
//! The CLI and the Lambda both call [`run_once`] with their own state store and object sink, and
//! report a [`Failure`] by its [`Failure::error_type`], the name an operator alarms on.

use crate::config::ConfigError;
use crate::ports::{ObjectSink, SourceError, StateStore};
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
    #[error("authorization failed: {0}")]
    Authorize(#[from] crate::authorize::AuthorizeError),
}

impl Failure {
    /// A stable name for the cause: the Lambda's `errorType`, the CLI's error prefix.
    pub fn error_type(&self) -> &'static str {
        match self {
            Failure::Config(_) => "ConfigInvalid",
            Failure::Authorize(_) => "AuthorizeFailed",
            Failure::State(e) => state_error_type(e),
            Failure::Run(RunError::SaveState(_)) => "StorageFailed",
            Failure::Run(RunError::Pull { source, .. }) => match source {
                PullError::Store(_) => "StorageFailed",
                PullError::Checkpoint(_) => "CheckpointInconsistent",
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

fn source_error_type(error: &SourceError) -> &'static str {
    match error {
        SourceError::AuthRevoked { .. } => "AuthRevoked",
        SourceError::MissingScope { .. } => "MissingScope",
        SourceError::NoPermission { .. } => "NoPermission",
        SourceError::TokenNotStored(_) => "TokenNotStored",
        SourceError::DailyLimit { .. } => "DailyLimit",
        SourceError::Deadline | SourceError::Unavailable { .. } | SourceError::PageTokenExpired => {
            "ZoomUnavailable"
        }
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
    Ok(pull::run(config, &source, &state, sink, request).await?)
}
