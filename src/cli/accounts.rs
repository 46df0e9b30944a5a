//! `zoomlogs accounts add|list|remove`: the accounts of a stack that serves many
//! (`ZOOM_SECRET_PREFIX`). An account is its secret `<ZOOM_SECRET_PREFIX><name>` and its
//! EventBridge Scheduler schedule `<name>` in the stack's schedule group, whose input names it.
//!
//! `add` writes the secret (the browser authorization of a user-managed app, or the credentials of
//! a Server-to-Server app, keeping the cursors of an account added before), creates the schedule,
//! and runs `check` on the account's folders. `list` shows each account's status (cursor lag, the
//! newest object, the token's expiry, and the last run and last error from its run record,
//! [`crate::runs`]), those whose last run failed first. `remove` deletes the schedule, and the secret only when
//! asked; it never touches the logs.

use std::fmt::Write as _;

use aws_sdk_scheduler::error::SdkError;
use aws_sdk_scheduler::operation::create_schedule::CreateScheduleError;
use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleError;
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::accounts::{AccountName, secret_id};
use crate::app::Failure;
use crate::authorize::{AppCredentials, AuthorizeError, authorize};
use crate::aws::{AwsClients, AwsError, SecretsManagerStore};
use crate::cli::backends::{Output, OutputLocation, StateLocation};
use crate::cli::status::Status;
use crate::config::{Config, ConfigError};
use crate::ports::{StateStore, StoreError};
use crate::runs::Outcome as RunOutcome;
use crate::secret::Secret;

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Onboard a Zoom account: write its secret, create its schedule, check it.
    ///
    /// A user-managed app is authorized in the browser (as `zoomlogs authorize`); with
    /// --account-id, a Server-to-Server app's credentials are stored instead. The client secret is
    /// read as `zoomlogs authorize` reads it (ZOOM_CLIENT_SECRET, a prompt, or standard input) and
    /// never printed. Takes the stack's outputs: ScheduleGroupName, SchedulerRoleArn, FunctionArn.
    Add(AddArgs),
    /// Every account under ZOOM_SECRET_PREFIX: its cursors' lag, newest object, last run and
    /// last error (the last two from the run records in the bucket).
    List {
        /// The bucket (default LOG_BUCKET), to show each account's newest object and last run.
        #[arg(long)]
        bucket: Option<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Delete an account's schedule; its secret only with --delete-secret; never its logs.
    Remove {
        name: String,
        /// The stack's ScheduleGroupName output.
        #[arg(long)]
        schedule_group: String,
        /// Also delete the secret (recoverable for 7 days; its cursors go with it).
        #[arg(long)]
        delete_secret: bool,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The account's name: 1 to 63 lowercase letters, digits and hyphens.
    pub name: String,
    #[arg(long)]
    pub client_id: String,
    /// A Server-to-Server OAuth app's account id (no browser authorization).
    #[arg(long)]
    pub account_id: Option<String>,
    /// The stack's ScheduleGroupName output.
    #[arg(long)]
    pub schedule_group: String,
    /// The stack's SchedulerRoleArn output.
    #[arg(long)]
    pub scheduler_role_arn: String,
    /// The stack's FunctionArn output.
    #[arg(long)]
    pub function_arn: String,
    /// How often the account's runs happen.
    #[arg(long, default_value = "rate(15 minutes)")]
    pub schedule: String,
    /// The schedule's flexible time window (the stack's ScheduleWindowMinutes output).
    #[arg(long, default_value_t = 10)]
    pub window_minutes: i32,
    /// The bucket for the final check (default LOG_BUCKET).
    #[arg(long)]
    pub bucket: Option<String>,
    /// The local port of the redirect URL of a user-managed app (0 picks a free one).
    #[arg(long, default_value_t = 8765)]
    pub redirect_port: u16,
}

/// What a command printed, and whether it succeeded (a failed check after `add`).
pub struct Outcome {
    pub text: String,
    pub passed: bool,
}

/// The input of an account's schedule: Scheduler fills in the time.
pub fn schedule_input(account: &AccountName) -> String {
    json!({ "account": account.as_str(), "time": "<aws.scheduler.scheduled-time>" }).to_string()
}

fn secret_prefix(config: &Config) -> Result<&str, ConfigError> {
    config.secret_prefix.as_deref().ok_or_else(|| ConfigError {
        variable: "ZOOM_SECRET_PREFIX",
        message:
            "is required by `zoomlogs accounts` (the stack's SecretPrefix, e.g. zoom-log-puller/)"
                .into(),
    })
}

fn storage(error: StoreError) -> Failure {
    Failure::State(crate::state::StateError::Store(error))
}

async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Runs an `accounts` command; `client_secret` reads the app's client secret when `add` needs it.
pub async fn run(
    config: &Config,
    http: &reqwest::Client,
    command: AccountsCommand,
    client_secret: impl FnOnce() -> Result<Secret, AuthorizeError>,
) -> Result<Outcome, Failure> {
    let prefix = secret_prefix(config)?.to_owned();
    let sdk = sdk_config().await;
    let aws = AwsClients::new(&sdk, config.s3_force_path_style);
    let scheduler = aws_sdk_scheduler::Client::new(&sdk);
    match command {
        AccountsCommand::Add(args) => {
            add(config, http, &prefix, &aws, &scheduler, args, client_secret).await
        }
        AccountsCommand::List { bucket, json } => {
            list(config, &prefix, &aws, bucket, json, Utc::now()).await
        }
        AccountsCommand::Remove {
            name,
            schedule_group,
            delete_secret,
        } => {
            let account = AccountName::parse(&name)?;
            remove(
                &prefix,
                &aws,
                &scheduler,
                &account,
                &schedule_group,
                delete_secret,
            )
            .await
        }
    }
}

async fn add(
    config: &Config,
    http: &reqwest::Client,
    prefix: &str,
    aws: &AwsClients,
    scheduler: &aws_sdk_scheduler::Client,
    args: AddArgs,
    client_secret: impl FnOnce() -> Result<Secret, AuthorizeError>,
) -> Result<Outcome, Failure> {
    let account = AccountName::parse(&args.name)?;
    let bucket = OutputLocation::require(None, args.bucket.clone(), config)?;
    let secret_id = secret_id(prefix, &account);
    let store = SecretsManagerStore::new(aws.secrets.clone(), &secret_id);
    let client_secret = client_secret()?;
    let mut text = String::new();
    match &args.account_id {
        Some(account_id) => {
            store_server_to_server(&store, &args.client_id, &client_secret, account_id)
                .await
                .map_err(storage)?;
            let _ = writeln!(
                text,
                "secret {secret_id}: Server-to-Server credentials stored"
            );
        }
        None => {
            let app = AppCredentials {
                client_id: args.client_id.clone(),
                client_secret,
                token_url: config.oauth_url.clone(),
            };
            let listener = TcpListener::bind(("127.0.0.1", args.redirect_port))
                .await
                .map_err(AuthorizeError::Listener)?;
            let port = listener
                .local_addr()
                .map_err(AuthorizeError::Listener)?
                .port();
            let redirect_uri = format!("http://localhost:{port}/callback");
            let announce =
                |url: &str| eprintln!("Open this URL in a browser and allow the app:\n{url}");
            authorize(http, &app, listener, &redirect_uri, &store, announce).await?;
            let _ = writeln!(text, "secret {secret_id}: authorized");
        }
    }
    let created = create_schedule(scheduler, &account, &args)
        .await
        .map_err(storage)?;
    let _ = writeln!(
        text,
        "schedule {}/{account}: {}",
        args.schedule_group,
        if created { "created" } else { "exists, kept" }
    );
    let output = Output::open(bucket, Some(aws)).for_account(&config.prefix, account.clone());
    let state = StateLocation::Secret(secret_id);
    let checklist = crate::cli::check(config, http, &state, Some(aws), &output, Utc::now()).await;
    let _ = write!(text, "{}", checklist.render());
    Ok(Outcome {
        text,
        passed: checklist.all_passed(),
    })
}

/// Writes a Server-to-Server app's credentials, keeping every other field of an existing secret.
async fn store_server_to_server(
    store: &SecretsManagerStore,
    client_id: &str,
    client_secret: &Secret,
    account_id: &str,
) -> Result<(), StoreError> {
    let (mut document, version) = match store.load_versioned().await {
        Ok(stored) => {
            let document: Value = serde_json::from_str(&stored.text)
                .map_err(|e| StoreError::new("GetSecretValue (the secret is not JSON)", e))?;
            (document, stored.version)
        }
        Err(e) if e.not_found => (json!({}), None),
        Err(e) => return Err(e),
    };
    document["client_id"] = json!(client_id);
    document["client_secret"] = json!(client_secret.expose());
    document["account_id"] = json!(account_id);
    store
        .save_versioned(&document.to_string(), version.as_deref())
        .await
        .map(drop)
}

/// Creates the account's schedule; `false` if one of that name is already in the group.
async fn create_schedule(
    scheduler: &aws_sdk_scheduler::Client,
    account: &AccountName,
    args: &AddArgs,
) -> Result<bool, StoreError> {
    let operation = || format!("CreateSchedule {}/{account}", args.schedule_group);
    let invalid = |e: aws_sdk_scheduler::error::BuildError| StoreError::new(operation(), e);
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Flexible)
        .maximum_window_in_minutes(args.window_minutes)
        .build()
        .map_err(invalid)?;
    let target = Target::builder()
        .arn(&args.function_arn)
        .role_arn(&args.scheduler_role_arn)
        .input(schedule_input(account))
        .build()
        .map_err(invalid)?;
    let created = scheduler
        .create_schedule()
        .name(account.as_str())
        .group_name(&args.schedule_group)
        .schedule_expression(&args.schedule)
        .flexible_time_window(window)
        .target(target)
        .state(ScheduleState::Enabled)
        .description(format!("zoom-log-puller: Zoom account {account}"))
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), CreateScheduleError::ConflictException(_)) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::new(operation(), AwsError::from(e))),
    }
}

/// One account in `accounts list`.
#[derive(serde::Serialize)]
struct Listed {
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn list(
    config: &Config,
    prefix: &str,
    aws: &AwsClients,
    bucket: Option<String>,
    as_json: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, Failure> {
    let names = secret_names(aws, prefix).await.map_err(storage)?;
    let location = OutputLocation::choose(None, bucket, config);
    let mut listed = Vec::new();
    for name in names {
        let Some(short) = name.strip_prefix(prefix) else {
            continue;
        };
        let account = match AccountName::parse(short) {
            Ok(account) => account,
            Err(e) => {
                listed.push(Listed {
                    account: short.to_owned(),
                    status: None,
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        let output = location
            .clone()
            .map(|l| Output::open(l, Some(aws)).for_account(&config.prefix, account.clone()));
        let state = StateLocation::Secret(name.clone());
        let status = crate::cli::status(config, &state, Some(aws), output.as_ref(), now).await;
        listed.push(match status {
            Ok(status) => Listed {
                account: account.to_string(),
                status: Some(status),
                error: None,
            },
            Err(failure) => Listed {
                account: account.to_string(),
                status: None,
                error: Some(format!("{}: {failure}", failure.error_type())),
            },
        });
    }
    let text = if as_json {
        serde_json::to_string_pretty(&listed).expect("the list serializes")
    } else {
        render(&listed)
    };
    Ok(Outcome { text, passed: true })
}

/// One line per account: those whose last run failed first, then the worst cursor lag first.
fn render(listed: &[Listed]) -> String {
    let mut rows: Vec<((bool, i64), String)> = listed
        .iter()
        .map(|l| match &l.status {
            Some(status) => {
                let lags: Vec<String> = status
                    .log_types
                    .iter()
                    .map(|t| match t.lag_seconds {
                        Some(lag) => format!("{} {}", t.log_type, human(lag)),
                        None => format!("{} no cursor yet", t.log_type),
                    })
                    .collect();
                let worst = status
                    .log_types
                    .iter()
                    .map(|t| t.lag_seconds.unwrap_or(i64::MAX))
                    .max()
                    .unwrap_or(0);
                let newest = status
                    .log_types
                    .iter()
                    .filter_map(|t| t.newest_object.as_ref())
                    .map(|o| o.age_seconds)
                    .min()
                    .map_or("no object seen".to_owned(), |age| {
                        format!("newest object {} ago", human(age))
                    });
                let problems: Vec<&String> =
                    status.log_types.iter().flat_map(|t| &t.errors).collect();
                let mut row = format!("{:<24} lag: {}; {newest}", l.account, lags.join(", "));
                if !problems.is_empty() {
                    let _ = write!(row, "; problems: {problems:?}");
                }
                let _ = write!(row, "; {}", last_run_cell(status));
                let failed = status
                    .last_run
                    .as_ref()
                    .is_some_and(|r| r.outcome == RunOutcome::Failed);
                ((failed, worst), row)
            }
            None => (
                (true, i64::MAX),
                format!(
                    "{:<24} error: {}",
                    l.account,
                    l.error.as_deref().unwrap_or("unknown")
                ),
            ),
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = format!(
        "{} accounts: those whose last run failed first, then the worst cursor lag first\n",
        rows.len()
    );
    for (_, row) in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// The account's last run and last error, from its run record ([`crate::runs`]).
fn last_run_cell(status: &Status) -> String {
    if status.output.is_none() {
        return "last run not known (--bucket or LOG_BUCKET shows it)".to_owned();
    }
    if let Some(why) = &status.last_run_unreadable {
        return format!("last run unreadable: {why}");
    }
    let Some(record) = &status.last_run else {
        return "no run recorded yet".to_owned();
    };
    let ago = |at: DateTime<Utc>| human((status.now - at).num_seconds().max(0));
    let outcome = match record.outcome {
        RunOutcome::Ok => "ok".to_owned(),
        RunOutcome::StoppedEarly => format!("stopped early ({})", record.stops()),
        RunOutcome::Failed => format!("FAILED ({} in a row)", record.failures_in_a_row.max(1)),
    };
    let mut cell = format!("last run {} ago: {outcome}", ago(record.finished_at));
    match &record.last_error {
        Some(e) => {
            let _ = write!(
                cell,
                "; last error {} ago: {}: {}",
                ago(e.at),
                e.error_type,
                e.error
            );
        }
        None => cell.push_str("; no error recorded"),
    }
    cell
}

fn human(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// The names of every secret under `prefix`.
async fn secret_names(aws: &AwsClients, prefix: &str) -> Result<Vec<String>, StoreError> {
    use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
    let filter = Filter::builder()
        .key(FilterNameStringType::Name)
        .values(prefix)
        .build();
    let mut pages = aws
        .secrets
        .list_secrets()
        .filters(filter)
        .into_paginator()
        .send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| StoreError::new("ListSecrets", AwsError::from(e)))?;
        names.extend(
            page.secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned))
                .filter(|n| n.starts_with(prefix)),
        );
    }
    names.sort();
    Ok(names)
}

async fn remove(
    prefix: &str,
    aws: &AwsClients,
    scheduler: &aws_sdk_scheduler::Client,
    account: &AccountName,
    group: &str,
    delete_secret: bool,
) -> Result<Outcome, Failure> {
    let mut text = String::new();
    let deleted = scheduler
        .delete_schedule()
        .name(account.as_str())
        .group_name(group)
        .send()
        .await;
    match deleted {
        Ok(_) => {
            let _ = writeln!(text, "schedule {group}/{account}: deleted");
        }
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), DeleteScheduleError::ResourceNotFoundException(_)) =>
        {
            let _ = writeln!(text, "schedule {group}/{account}: there was none");
        }
        Err(e) => {
            let error = StoreError::new(
                format!("DeleteSchedule {group}/{account}"),
                AwsError::from(e),
            );
            return Err(storage(error));
        }
    }
    let secret_id = secret_id(prefix, account);
    if delete_secret {
        aws.secrets
            .delete_secret()
            .secret_id(&secret_id)
            .recovery_window_in_days(7)
            .send()
            .await
            .map_err(|e| {
                storage(StoreError::new(
                    format!("DeleteSecret {secret_id}"),
                    AwsError::from(e),
                ))
            })?;
        let _ = writeln!(
            text,
            "secret {secret_id}: deleted (restorable for 7 days with `aws secretsmanager restore-secret`)"
        );
    } else {
        let _ = writeln!(
            text,
            "secret {secret_id}: kept (--delete-secret deletes it); its logs are kept either way"
        );
    }
    Ok(Outcome {
        text: text.trim_end().to_owned(),
        passed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_input_names_the_account_and_lets_scheduler_fill_in_the_time() {
        let input = schedule_input(&AccountName::parse("campus-berlin").unwrap());
        let value: Value = serde_json::from_str(&input).unwrap();
        assert_eq!(
            value,
            json!({"account": "campus-berlin", "time": "<aws.scheduler.scheduled-time>"})
        );
    }

    #[test]
    fn lags_read_in_the_largest_whole_unit() {
        assert_eq!(human(59), "59 s");
        assert_eq!(human(900), "15 min");
        assert_eq!(human(3 * 3600), "3 h");
        assert_eq!(human(5 * 86_400), "5 d");
    }
}
