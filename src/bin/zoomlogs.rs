//! `zoomlogs`: the puller outside Lambda. `pull` runs once against a state file or a Secrets
//! Manager secret and a directory or an S3 bucket, and prints the summary as JSON; `check` is a
//! preflight of a setup; `status` reports cursors, lag and tokens; `authorize` onboards a
//! user-authorized Zoom app; `accounts` adds, lists and removes the accounts of a stack that
//! serves many (`ZOOM_SECRET_PREFIX`), and `--account NAME` points the others at one of them.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use tokio::net::TcpListener;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use zoom_log_puller::accounts::{AccountName, secret_id};
use zoom_log_puller::app::Failure;
use zoom_log_puller::authorize::{AppCredentials, AuthorizeError, authorize};
use zoom_log_puller::aws::{AwsClients, SecretsManagerStore};
use zoom_log_puller::cli::accounts::AccountsCommand;
use zoom_log_puller::cli::backends::{
    Output, OutputLocation, StateLocation, aws_clients_if_needed,
};
use zoom_log_puller::cli::progress::Progress;
use zoom_log_puller::config::{Config, ConfigError};
use zoom_log_puller::local::StateFile;
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
    /// SETTLE_SECONDS, ...). The state is a local file or a Secrets Manager secret, the output a
    /// local directory or an S3 bucket, in any combination. On a terminal, progress per log type
    /// is shown on standard error.
    Pull {
        #[command(flatten)]
        backends: Backends,
        /// The run's reference time (RFC 3339); defaults to now.
        #[arg(long)]
        reference_time: Option<DateTime<Utc>>,
        /// Stop starting work after this many seconds, keep what is written and record where to
        /// go on, as the Lambda does before its deadline (for a job with a time limit).
        #[arg(long)]
        run_seconds: Option<u64>,
    },
    /// Check a setup without changing anything a run depends on, and print a checklist.
    ///
    /// The state document parses; the OAuth grant works (a refresh happens only if the stored
    /// access token has expired, and stores the rotated refresh token as a run does); each report
    /// answers for today (scope and View reports); the output accepts a write and a read of a
    /// probe under LOG_PREFIX/_check/ (removed if these credentials may delete); the checkpoint
    /// markers agree with the cursors. Exits non-zero unless every check passes.
    ///
    /// It also measures, in at most 10 report requests, what Zoom does on this account and
    /// prints it as facts with their evidence: whether `to` is inclusive, whether a `to` after
    /// today is accepted, the order of a query's pages and the day boundaries' zone.
    Check {
        #[command(flatten)]
        backends: Backends,
        /// Print the whole result (checks, facts, verdict) as JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show each log type's cursor and lag, its open checkpoint and newest object (given
    /// --out-dir or --bucket), and the access token's expiry; never a token.
    Status {
        #[command(flatten)]
        backends: Backends,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
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
    /// The Zoom accounts of a stack that serves many (ZOOM_SECRET_PREFIX): add, list, remove.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
}

/// Where the state and the objects are: flags first, then ZOOM_SECRET_ID and LOG_BUCKET.
#[derive(Args)]
struct Backends {
    /// The state document (credentials, tokens, cursors) as a local JSON file.
    #[arg(long, conflicts_with = "secret_id")]
    state_file: Option<PathBuf>,
    /// The state document in this Secrets Manager secret (id or ARN; default ZOOM_SECRET_ID).
    #[arg(long)]
    secret_id: Option<String>,
    /// Objects as files under this directory, with the same keys as in S3.
    #[arg(long, conflicts_with = "bucket")]
    out_dir: Option<PathBuf>,
    /// Objects in this S3 bucket (default LOG_BUCKET; AWS_ENDPOINT_URL and S3_FORCE_PATH_STYLE
    /// for an S3-compatible store).
    #[arg(long)]
    bucket: Option<String>,
    /// One account of many: its secret <ZOOM_SECRET_PREFIX>NAME and its folders (account=NAME).
    #[arg(long, conflicts_with_all = ["state_file", "secret_id"])]
    account: Option<String>,
}

/// What a command printed, and whether it succeeded.
enum Report {
    Done(String),
    /// `check` found a problem: the checklist, and the verdict for the error line.
    CheckFailed {
        checklist: String,
        verdict: String,
    },
}

fn main() -> ExitCode {
    zoom_log_puller::memory::keep_large_buffers_out_of_the_heap();
    // One thread, as in the function: a pull waits on Zoom and the store, and worker threads only
    // added wake-ups between them.
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(cli_main()),
        Err(error) => {
            eprintln!("error: Internal: the async runtime could not start: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    let progress = match cli.command {
        Command::Pull { .. } => Progress::on_terminal(),
        _ => None,
    };
    init_logs(progress.as_ref());
    let result = run(cli, progress.as_ref()).await;
    if let Some(progress) = &progress {
        progress.finish();
    }
    match result {
        Ok(Report::Done(output)) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Ok(Report::CheckFailed { checklist, verdict }) => {
            print!("{checklist}");
            eprintln!("error: CheckFailed: {verdict}");
            ExitCode::FAILURE
        }
        Err(failure) => {
            eprintln!("error: {}: {failure}", failure.error_type());
            ExitCode::FAILURE
        }
    }
}

/// Log lines on standard error at `RUST_LOG` (default `info`); with a progress display, above it.
fn init_logs(progress: Option<&Progress>) {
    let writer = match progress {
        Some(progress) => BoxMakeWriter::new(progress.log_writer()),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .log_internal_errors(true)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    tracing_subscriber::registry()
        .with(logs)
        .with(progress.map(Progress::layer))
        .init();
}

async fn run(cli: Cli, progress: Option<&Progress>) -> Result<Report, Failure> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Pull {
            backends,
            reference_time,
            run_seconds,
        } => {
            let account = backends.account.clone();
            let (state, aws, output) = open(&config, backends, true).await?;
            let output = output.expect("pull requires an output");
            let now = Utc::now();
            let request = RunRequest {
                reference_time: reference_time.unwrap_or(now),
                now,
                deadline: run_seconds.map(|seconds| {
                    tokio::time::Instant::now() + std::time::Duration::from_secs(seconds)
                }),
            };
            if let Some(progress) = &progress {
                // The horizon is a nicety: without the window the lines show what they can.
                if let Ok(windows) =
                    zoom_log_puller::cli::windows(&config, &state, aws.as_ref(), &request).await
                {
                    for (log_type, start, end) in windows {
                        progress.set_window(log_type.name(), start, end);
                    }
                }
            }
            let mut summary = zoom_log_puller::cli::pull(
                &config,
                &http_client(),
                &state,
                aws.as_ref(),
                &output,
                request,
            )
            .await?;
            summary.account = account;
            Ok(Report::Done(
                serde_json::to_string_pretty(&summary).expect("a summary serializes"),
            ))
        }
        Command::Check { backends, json } => {
            let (state, aws, output) = open(&config, backends, true).await?;
            let output = output.expect("check requires an output");
            let checklist = zoom_log_puller::cli::check(
                &config,
                &http_client(),
                &state,
                aws.as_ref(),
                &output,
                Utc::now(),
            )
            .await;
            let rendered = if json {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&checklist.to_json()).expect("JSON serializes")
                )
            } else {
                checklist.render()
            };
            if checklist.all_passed() {
                Ok(Report::Done(rendered.trim_end().to_owned()))
            } else {
                Ok(Report::CheckFailed {
                    checklist: rendered,
                    verdict: checklist.verdict(),
                })
            }
        }
        Command::Status { backends, json } => {
            let (state, aws, output) = open(&config, backends, false).await?;
            let status = zoom_log_puller::cli::status(
                &config,
                &state,
                aws.as_ref(),
                output.as_ref(),
                Utc::now(),
            )
            .await?;
            Ok(Report::Done(if json {
                serde_json::to_string_pretty(&status).expect("a status serializes")
            } else {
                status.render().trim_end().to_owned()
            }))
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
            Ok(Report::Done(
                "authorized: the state document holds the app's first refresh token".to_owned(),
            ))
        }
        Command::Accounts { command } => {
            let outcome =
                zoom_log_puller::cli::accounts::run(&config, &http_client(), command, || {
                    client_secret()
                })
                .await?;
            Ok(if outcome.passed {
                Report::Done(outcome.text.trim_end().to_owned())
            } else {
                Report::CheckFailed {
                    checklist: outcome.text,
                    verdict: "the account was added, but its check failed".to_owned(),
                }
            })
        }
    }
}

/// The chosen state location, the AWS clients if a secret or a bucket is used, and the output
/// (required or not).
async fn open(
    config: &Config,
    backends: Backends,
    output_required: bool,
) -> Result<(StateLocation, Option<AwsClients>, Option<Output>), Failure> {
    let account = backends
        .account
        .as_deref()
        .map(AccountName::parse)
        .transpose()?;
    let secret_id = match &account {
        Some(account) => {
            let prefix = config.secret_prefix.as_deref().ok_or_else(|| ConfigError {
                variable: "ZOOM_SECRET_PREFIX",
                message: "is required by --account".into(),
            })?;
            Some(secret_id(prefix, account))
        }
        None => backends.secret_id,
    };
    let state = StateLocation::choose(backends.state_file, secret_id, config)?;
    let output = if output_required {
        Some(OutputLocation::require(
            backends.out_dir,
            backends.bucket,
            config,
        )?)
    } else {
        OutputLocation::choose(backends.out_dir, backends.bucket, config)
    };
    let aws = aws_clients_if_needed(&state, output.as_ref(), config).await;
    if let Some(account) = &account {
        zoom_log_puller::cli::require_account(&state, aws.as_ref(), account).await?;
    }
    let output = output.map(|location| Output::open(location, aws.as_ref()));
    let output = match account {
        Some(account) => output.map(|output| output.for_account(&config.prefix, account)),
        None => output,
    };
    Ok((state, aws, output))
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
