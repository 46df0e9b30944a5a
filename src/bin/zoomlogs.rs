//! `zoomlogs`: the puller on a laptop. `pull` runs once against local or AWS backends and prints
//! the summary as JSON; `authorize` onboards a user-authorized Zoom app.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use tokio::net::TcpListener;

use zoom_log_puller::app::{Failure, run_once};
use zoom_log_puller::authorize::{AppCredentials, AuthorizeError, authorize};
use zoom_log_puller::aws::{AwsClients, SecretsManagerStore};
use zoom_log_puller::config::Config;
use zoom_log_puller::local::{DirSink, StateFile};
use zoom_log_puller::pull::RunRequest;
use zoom_log_puller::secret::Secret;
use zoom_log_puller::zoom::http_client;

#[derive(Parser)]
#[command(version, about = "Pulls Zoom audit logs, every event exactly once.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pull every configured log type once and print the run summary as JSON.
    ///
    /// Settings come from the same environment variables as the Lambda (ZOOM_API_URL,
    /// SETTLE_SECONDS, ...); --state-file and --out-dir replace the secret and the bucket.
    Pull {
        /// The state document (credentials, tokens, cursors) as a local JSON file.
        #[arg(long)]
        state_file: PathBuf,
        /// Write objects under this directory, with the same keys as in S3.
        #[arg(long)]
        out_dir: PathBuf,
        /// The run's reference time (RFC 3339); defaults to now.
        #[arg(long)]
        reference_time: Option<DateTime<Utc>>,
    },
    /// Authorize a user-managed Zoom app and store its first refresh token.
    ///
    /// Prints a URL to open in a browser, waits for Zoom's redirect on
    /// http://localhost:PORT/callback (register that URL in the app), and writes client id, client
    /// secret and tokens into the state file or the Secrets Manager secret, keeping the cursors and
    /// every other field. The client secret is read from ZOOM_CLIENT_SECRET or, if unset, typed at
    /// a prompt without echo (or read from the first line of piped standard input); it is never
    /// printed.
    Authorize {
        #[arg(long)]
        client_id: String,
        /// Write a local state file.
        #[arg(
            long,
            conflicts_with = "secret_id",
            required_unless_present = "secret_id"
        )]
        state_file: Option<PathBuf>,
        /// Create or update this Secrets Manager secret (standard AWS environment).
        #[arg(long)]
        secret_id: Option<String>,
        /// The local port of the redirect URL (0 picks a free one).
        #[arg(long, default_value_t = 8765)]
        redirect_port: u16,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("error: {}: {failure}", failure.error_type());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<String, Failure> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Pull {
            state_file,
            out_dir,
            reference_time,
        } => {
            let now = Utc::now();
            let request = RunRequest {
                reference_time: reference_time.unwrap_or(now),
                now,
                deadline: None,
            };
            let summary = run_once(
                &config,
                &http_client(),
                StateFile::new(state_file),
                &DirSink::new(out_dir),
                request,
            )
            .await?;
            Ok(serde_json::to_string_pretty(&summary).expect("a summary serializes"))
        }
        Command::Authorize {
            client_id,
            state_file,
            secret_id,
            redirect_port,
        } => {
            let app = AppCredentials {
                client_id,
                client_secret: client_secret()?,
                token_url: config.oauth_url.clone(),
            };
            let listener = TcpListener::bind(("127.0.0.1", redirect_port))
                .await
                .map_err(AuthorizeError::Listener)?;
            let redirect_uri = format!(
                "http://localhost:{}/callback",
                listener
                    .local_addr()
                    .map_err(AuthorizeError::Listener)?
                    .port()
            );
            let announce =
                |url: &str| eprintln!("Open this URL in a browser and allow the app:\n{url}");
            let http = http_client();
            match (state_file, secret_id) {
                (Some(path), _) => {
                    let store = StateFile::new(path);
                    authorize(&http, &app, listener, &redirect_uri, &store, announce).await?
                }
                (None, Some(secret_id)) => {
                    let aws = AwsClients::from_env(config.s3_force_path_style).await;
                    let store = SecretsManagerStore::new(aws.secrets, secret_id);
                    authorize(&http, &app, listener, &redirect_uri, &store, announce).await?
                }
                (None, None) => unreachable!("clap requires one of them"),
            }
            Ok("authorized: the state document holds the app's first refresh token".to_owned())
        }
    }
}

/// The client secret from ZOOM_CLIENT_SECRET; else typed at a prompt on the terminal, not echoed;
/// else (standard input is a pipe or a file) the first line of standard input.
fn client_secret() -> Result<Secret, AuthorizeError> {
    if let Ok(secret) = std::env::var("ZOOM_CLIENT_SECRET") {
        return Ok(Secret::new(secret.trim()));
    }
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Client secret (not shown as you type): ")
            .map_err(|e| AuthorizeError::NoClientSecret(e.to_string()))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| AuthorizeError::NoClientSecret(e.to_string()))?;
        line
    };
    let secret = Secret::new(line.trim());
    if secret.is_empty() {
        return Err(AuthorizeError::NoClientSecret("the line was empty".into()));
    }
    Ok(secret)
}
