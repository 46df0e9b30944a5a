//! `zoom-log-puller`: the Lambda function (cargo-lambda packages it as `bootstrap`). Wiring only:
//! logs, settings, the AWS and HTTP clients built once, then the runtime loop over the handler.
//! A setting it cannot start without is reported to Lambda as an init error (`ConfigInvalid`).

use lambda_runtime::{Error, service_fn};

use zoom_log_puller::accounts::Stores;
use zoom_log_puller::aws::{AwsClients, S3Sink, SecretsManagerStore};
use zoom_log_puller::config::{Config, ConfigError};
use zoom_log_puller::handler::{Handler, report_init_error, required};
use zoom_log_puller::zoom::http_client;

fn main() -> Result<(), Error> {
    zoom_log_puller::memory::keep_large_buffers_out_of_the_heap();
    // One thread: a run waits on Zoom and S3, and a 256 MB function has a fraction of a vCPU, so
    // a pool of worker threads only added wake-ups between them (in `make bench`'s busy-account
    // row, 0.58 → 0.44 CPU seconds per 100,000 events).
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Error> {
    // JSON lines when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT).
    lambda_runtime::tracing::init_default_subscriber();
    let http = http_client();
    let handler = match build(http.clone()).await {
        Ok(handler) => handler,
        Err(error) => {
            tracing::error!(variable = error.variable, error = %error, "the function cannot start");
            let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
            return Err(report_init_error(&http, &runtime_api, error).await.into());
        }
    };
    lambda_runtime::run(service_fn(|event| handler.handle(event))).await
}

async fn build(http: reqwest::Client) -> Result<Handler<SecretsManagerStore, S3Sink>, ConfigError> {
    let config = Config::from_env()?;
    let secret_id = match &config.secret_prefix {
        Some(_) => None,
        None => Some(required(&config.secret_id, "ZOOM_SECRET_ID")?),
    };
    let bucket = required(&config.bucket, "LOG_BUCKET")?;
    let aws = AwsClients::from_env(config.s3_force_path_style).await;
    let sink = S3Sink::new(aws.s3, bucket);
    let stores = match (secret_id, config.secret_prefix.clone()) {
        (Some(secret_id), _) => Stores::One(SecretsManagerStore::new(aws.secrets, secret_id)),
        (None, prefix) => Stores::per_account(prefix.unwrap_or_default(), move |secret_id| {
            SecretsManagerStore::new(aws.secrets.clone(), secret_id)
        }),
    };
    Ok(Handler::with_stores(config, http, stores, sink))
}
