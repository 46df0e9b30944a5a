//! `zoomlogs`: the puller on a laptop. `pull` runs once against local or AWS backends and prints
//! the summary as JSON; `authorize` onboards a user-authorized Zoom app.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use zoom_log_puller::app::{Failure, run_once};
use zoom_log_puller::config::Config;
use zoom_log_puller::local::{DirSink, StateFile};
use zoom_log_puller::pull::RunRequest;
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
    }
}
