//! What the `zoomlogs` CLI adds to the core: the choice of backends (a state file or a Secrets
//! Manager secret, a directory or an S3 bucket, in any combination), the `check` preflight, the
//! `status` report and the progress display of a long pull. This module opens the chosen state
//! store for each command; [`backends`], [`check`], [`status`] and [`progress`] do the rest.

pub mod accounts;
pub mod backends;
pub mod check;
pub mod facts;
pub mod progress;
pub mod status;

use chrono::{DateTime, Utc};

use crate::accounts::{AccountError, AccountName};
use crate::app::{Failure, run_once};
use crate::aws::{AwsClients, SecretsManagerStore};
use crate::config::Config;
use crate::keys::marker_key;
use crate::local::StateFile;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, StoreError};
use crate::pull::{Marker, RunRequest, RunSummary, read_marker};
use backends::{Output, StateLocation};

/// The state store at `location`, handed to `$body` as `$store` (each store is its own type).
macro_rules! with_store {
    ($location:expr, $aws:expr, |$store:ident| $body:expr) => {
        match $location {
            StateLocation::File(path) => {
                let $store = StateFile::new(path);
                $body
            }
            StateLocation::Secret(id) => {
                let $store = SecretsManagerStore::new(secrets_client($aws), id);
                $body
            }
        }
    };
}

/// A time as the CLI prints it: RFC 3339 in UTC, whole seconds.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The checkpoint marker of `log_type` and its key, read by the checkpoint's own parser (the
/// one the run uses): `None` if there is none, `Err` inside if it does not read as one.
pub async fn load_marker<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
) -> Result<Option<(String, Result<Marker, String>)>, StoreError> {
    let key = marker_key(prefix, log_type);
    Ok(sink.get(&key).await?.map(|bytes| {
        let marker = read_marker(&bytes);
        (key, marker)
    }))
}

fn secrets_client(aws: Option<&AwsClients>) -> aws_sdk_secretsmanager::Client {
    aws.expect("AWS clients are built for a secret")
        .secrets
        .clone()
}

/// One run of the puller, as the Lambda does it, with the CLI's backends.
pub async fn pull(
    config: &Config,
    http: &reqwest::Client,
    state: &StateLocation,
    aws: Option<&AwsClients>,
    output: &Output,
    request: RunRequest,
) -> Result<RunSummary, Failure> {
    with_store!(state, aws, |store| run_once(
        config, http, store, output, request
    )
    .await)
}

/// Each configured log type's window `(start, end]` as this run will see it, as far as the state
/// tells before the run (for the progress display's horizon): from the cursor, or the initial
/// lookback without one, to the reference time minus the settle time.
pub async fn windows(
    config: &Config,
    state: &StateLocation,
    aws: Option<&AwsClients>,
    request: &RunRequest,
) -> Result<Vec<(LogType, DateTime<Utc>, DateTime<Utc>)>, Failure> {
    use crate::ports::StateStore as _;
    let bytes = with_store!(state, aws, |store| store.load().await)
        .map_err(crate::state::StateError::from)?;
    let doc = crate::state::StateDoc::parse(&bytes)?;
    let end = crate::window::window_end(request.reference_time, request.now, config.settle);
    Ok(config
        .log_types
        .iter()
        .map(|&log_type| {
            let start = doc
                .cursors
                .get(log_type.name())
                .copied()
                .unwrap_or_else(|| {
                    crate::window::initial_start(
                        request.reference_time,
                        config.initial_lookback_days,
                    )
                });
            (log_type, start, end)
        })
        .collect())
}

/// The preflight checklist.
pub async fn check(
    config: &Config,
    http: &reqwest::Client,
    state: &StateLocation,
    aws: Option<&AwsClients>,
    output: &Output,
    now: DateTime<Utc>,
) -> check::Checklist {
    let name = state.describe();
    with_store!(state, aws, |store| {
        check::run(config, http, store, &name, output, now).await
    })
}

/// Fails with the typed `AccountNotFound` naming `account` if its secret at `state` does not
/// exist, as the Lambda does, before a command reads or writes anything for it (`check` would
/// otherwise write its probe into the folders of an account that is not there). Any other error
/// reading the secret is left to the command, which reports it as for any secret.
pub async fn require_account(
    state: &StateLocation,
    aws: Option<&AwsClients>,
    account: &AccountName,
) -> Result<(), Failure> {
    use crate::ports::StateStore as _;
    let StateLocation::Secret(secret_id) = state else {
        return Ok(());
    };
    let store = SecretsManagerStore::new(secrets_client(aws), secret_id);
    match store.load().await {
        Err(e) if e.not_found => Err(AccountError::NoSecret {
            account: account.clone(),
            secret_id: secret_id.clone(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// The status report.
pub async fn status(
    config: &Config,
    state: &StateLocation,
    aws: Option<&AwsClients>,
    output: Option<&Output>,
    now: DateTime<Utc>,
) -> Result<status::Status, Failure> {
    let name = state.describe();
    Ok(with_store!(state, aws, |store| {
        status::read(config, store, &name, output, now).await
    })?)
}
