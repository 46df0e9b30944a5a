//! What the `zoomlogs` CLI adds to the core: the choice of backends (a state file or a Secrets
//! Manager secret, a directory or an S3 bucket, in any combination), the `check` preflight, the
//! `status` report and the progress display of a long pull. This module opens the chosen state
//! store for each command; [`backends`], [`check`], [`status`] and [`progress`] do the rest.

pub mod accounts;
pub mod backends;
pub mod check;
mod marker;
pub mod progress;
pub mod status;

use chrono::{DateTime, Utc};

use crate::app::{Failure, run_once};
use crate::aws::{AwsClients, SecretsManagerStore};
use crate::config::Config;
use crate::local::StateFile;
use crate::pull::{RunRequest, RunSummary};
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
