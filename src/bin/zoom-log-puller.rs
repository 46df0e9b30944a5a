//! `zoom-log-puller`: the Lambda function (cargo-lambda packages it as `bootstrap`). Wiring only:
//! logs, settings, the AWS and HTTP clients built once, then the runtime loop over the handler.

use lambda_runtime::{Error, service_fn};

use zoom_log_puller::aws::{AwsClients, S3Sink, SecretsManagerStore};
use zoom_log_puller::config::{Config, ConfigError};
use zoom_log_puller::handler::{Handler, required};
use zoom_log_puller::zoom::http_client;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON lines when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT).
    lambda_runtime::tracing::init_default_subscriber();
    let handler = build().await.inspect_err(|e| {
        tracing::error!(variable = e.variable, error = %e, "the function cannot start");
    })?;
    lambda_runtime::run(service_fn(|event| handler.handle(event))).await
}

async fn build() -> Result<Handler<SecretsManagerStore, S3Sink>, ConfigError> {
    let config = Config::from_env()?;
    let secret_id = required(&config.secret_id, "ZOOM_SECRET_ID")?;
    let bucket = required(&config.bucket, "LOG_BUCKET")?;
    let aws = AwsClients::from_env(config.s3_force_path_style).await;
    let store = SecretsManagerStore::new(aws.secrets, secret_id);
    let sink = S3Sink::new(aws.s3, bucket);
    Ok(Handler::new(config, http_client(), store, sink))
}
