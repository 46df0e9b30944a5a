//! One function serving many Zoom accounts (`ZOOM_SECRET_PREFIX`), under the runtime emulator:
//! one simulator process hosts every account (told apart by client id), one moto server holds
//! every account's secret and the bucket, and several emulators invoke the release binary side by
//! side, as Lambda runs one schedule per account. The fan-out prints its figures
//! (`cargo test --test integration accounts -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};
use zoom_sim::{Fault, LogType, SimConfig, Simulator, generate_events};

use crate::support::assert_exactly_once_lines;
use crate::support::moto::{Moto, StoredObject};
use crate::support::rie::{Emulator, LambdaError};

const SECRET_PREFIX: &str = "zoom-log-puller/";
const BUCKET: &str = "audit-logs";
const PREFIX: &str = "zoom/";
const SETTLE_SECONDS: i64 = 60;
/// How many accounts the fan-out serves (about 20 s on 2 cores, moto's server the bottleneck).
const ACCOUNTS: usize = 100;

/// What state an account is in before the fan-out.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Cursors an hour back: one short window.
    UpToDate,
    /// No cursor yet: a first run over the last day.
    Backfilling,
    /// Its refresh token was revoked.
    Revoked,
    /// Its app lacks the report scope.
    MissingScope,
}

impl Kind {
    /// Six in ten up to date, two backfilling, one revoked, one missing a scope.
    fn of(i: usize) -> Kind {
        match i % 10 {
            0..=5 => Kind::UpToDate,
            6 | 7 => Kind::Backfilling,
            8 => Kind::Revoked,
            _ => Kind::MissingScope,
        }
    }

    fn error_type(self) -> Option<&'static str> {
        match self {
            Kind::Revoked => Some("AuthRevoked"),
            Kind::MissingScope => Some("MissingScope"),
            _ => None,
        }
    }
}

struct Account {
    name: String,
    kind: Kind,
    sim: Arc<Simulator>,
    /// Where the run's window starts: the cursor, or the lookback.
    start: DateTime<Utc>,
    initial_refresh_token: String,
}

struct Fleet {
    accounts: Vec<Account>,
    moto: Moto,
    api_url: String,
    oauth_url: String,
    reference: DateTime<Utc>,
}

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).expect("a valid time")
}

impl Fleet {
    async fn start(count: usize, events_per_log_type: usize) -> Fleet {
        Fleet::start_with(count, events_per_log_type, Kind::of).await
    }

    async fn start_with(
        count: usize,
        events_per_log_type: usize,
        kind_of: fn(usize) -> Kind,
    ) -> Fleet {
        let reference = whole_second(Utc::now());
        let configs = (0..count)
            .map(|i| SimConfig {
                client_id: format!("client-{i:03}"),
                scopes: if kind_of(i) == Kind::MissingScope {
                    vec![]
                } else {
                    SimConfig::default().scopes
                },
                ..SimConfig::default()
            })
            .collect();
        let sims = Simulator::start_many(configs);
        let api_url = sims[0].api_url();
        let oauth_url = sims[0].oauth_url();
        let moto = Moto::start();
        moto.create_bucket(BUCKET).await;
        let mut accounts = Vec::new();
        for (i, sim) in sims.into_iter().enumerate() {
            let kind = kind_of(i);
            let name = format!("acct-{i:03}");
            let start = match kind {
                Kind::Backfilling => reference - chrono::Duration::days(1),
                _ => reference - chrono::Duration::hours(1),
            };
            for (n, log_type) in LogType::ALL.into_iter().enumerate() {
                let events = generate_events(
                    log_type,
                    events_per_log_type,
                    start + chrono::Duration::minutes(1),
                    reference - chrono::Duration::minutes(3),
                    (i * 2 + n) as u64 + 1_000,
                );
                sim.add_events(log_type, events);
            }
            let initial_refresh_token = sim.authorize();
            let mut secret = json!({
                "client_id": format!("client-{i:03}"),
                "client_secret": SimConfig::default().client_secret,
                "refresh_token": initial_refresh_token,
            });
            if kind != Kind::Backfilling {
                let cursor = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                secret["cursors"] = json!({ "Zoom.Activity": cursor, "Zoom.Operation": cursor });
            }
            if kind == Kind::Revoked {
                sim.revoke_all();
            }
            moto.create_secret(&format!("{SECRET_PREFIX}{name}"), &secret.to_string())
                .await;
            accounts.push(Account {
                name,
                kind,
                sim: Arc::new(sim),
                start,
                initial_refresh_token,
            });
        }
        Fleet {
            accounts,
            moto,
            api_url,
            oauth_url,
            reference,
        }
    }

    fn emulator(&self) -> Emulator {
        Emulator::start(&[
            ("ZOOM_SECRET_PREFIX", SECRET_PREFIX.to_owned()),
            ("LOG_BUCKET", BUCKET.to_owned()),
            ("LOG_PREFIX", PREFIX.to_owned()),
            ("ZOOM_API_URL", self.api_url.clone()),
            ("ZOOM_OAUTH_URL", self.oauth_url.clone()),
            ("SETTLE_SECONDS", SETTLE_SECONDS.to_string()),
            ("INITIAL_LOOKBACK_DAYS", "1".to_owned()),
            ("RECHECK_HOURS", "0".to_owned()),
            ("S3_FORCE_PATH_STYLE", "true".to_owned()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "120".to_owned()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ])
    }

    fn event(&self, account: &str) -> Value {
        json!({
            "account": account,
            "time": self.reference.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }

    /// Invokes every name in `names` once, `at_a_time` emulators side by side; returns each
    /// name's result and everything the functions printed.
    async fn fan_out(
        &self,
        names: Vec<String>,
        at_a_time: usize,
    ) -> (BTreeMap<String, Result<Value, LambdaError>>, String) {
        let queue = Arc::new(Mutex::new(VecDeque::from(names)));
        let mut workers = Vec::new();
        for _ in 0..at_a_time {
            let emulator = self.emulator();
            let queue = Arc::clone(&queue);
            let reference = self.reference;
            workers.push(tokio::spawn(async move {
                let mut results = Vec::new();
                loop {
                    let Some(name) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let event = json!({
                        "account": name,
                        "time": reference.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    });
                    results.push((name, emulator.invoke(&event).await));
                }
                (results, emulator.output())
            }));
        }
        let mut results = BTreeMap::new();
        let mut output = String::new();
        for worker in workers {
            let (done, printed) = worker.await.expect("a worker");
            results.extend(done);
            output.push_str(&printed);
        }
        (results, output)
    }

    async fn objects_under(&self, prefix: &str) -> Vec<StoredObject> {
        self.moto.objects(BUCKET, prefix).await
    }

    /// Every healthy account's events of `(start, reference - settle]` are in its own partition
    /// exactly once; a broken account has nothing; no log object is outside an account partition
    /// of a healthy account.
    async fn assert_each_account_exactly_once(&self) {
        let end = self.reference - chrono::Duration::seconds(SETTLE_SECONDS);
        for log_type in LogType::ALL {
            let all: BTreeSet<String> = self
                .objects_under(&format!("{PREFIX}{}/", log_type.name()))
                .await
                .into_iter()
                .map(|o| o.key)
                .collect();
            let mut accounted = BTreeSet::new();
            for account in &self.accounts {
                let partition = format!("{PREFIX}{}/account={}/", log_type.name(), account.name);
                let objects = self.objects_under(&partition).await;
                let label = format!("{} {}", account.name, log_type.name());
                if account.kind.error_type().is_some() {
                    assert!(
                        objects.is_empty(),
                        "{label}: a failed account wrote {objects:?}"
                    );
                    continue;
                }
                let written = objects.iter().flat_map(StoredObject::lines).collect();
                accounted.extend(objects.into_iter().map(|o| o.key));
                assert_exactly_once_lines(
                    &label,
                    account.sim.events(log_type),
                    written,
                    account.start,
                    end,
                );
            }
            let stray: Vec<&String> = all.difference(&accounted).collect();
            assert!(
                stray.is_empty(),
                "objects outside the accounts' partitions: {stray:?}"
            );
        }
    }

    /// `zoomlogs accounts list ARGS` against the fleet's secrets and bucket.
    fn zoomlogs(&self, args: &[&str]) -> crate::support::Run {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_zoomlogs"))
            .args(args)
            .env_clear()
            .envs(crate::check::moto_env(&self.moto))
            .envs([
                ("ZOOM_SECRET_PREFIX", SECRET_PREFIX),
                ("LOG_BUCKET", BUCKET),
                ("LOG_PREFIX", PREFIX),
            ])
            .output()
            .expect("zoomlogs runs");
        crate::support::Run { output }
    }

    /// The run records in the bucket, by key.
    async fn run_records(&self) -> BTreeMap<String, Value> {
        self.objects_under(&format!("{PREFIX}_runs/"))
            .await
            .into_iter()
            .map(|o| {
                let record = serde_json::from_slice(&o.body).expect("a run record is JSON");
                (o.key, record)
            })
            .collect()
    }

    /// Each account's last run is recorded beside its markers, and `accounts list --json` shows
    /// it: ok for the healthy ones, the failure's errorType and message (as the last run and as
    /// the last error) for the broken ones; no record for a name without a secret or an invalid
    /// one, and no secret in any of it.
    async fn assert_last_runs_are_listed(&self) {
        let records = self.run_records().await;
        assert_eq!(
            records.len(),
            self.accounts.len(),
            "one record per account, none for a name without a secret: {:?}",
            records.keys()
        );
        let run = self.zoomlogs(&["accounts", "list", "--json"]);
        self.assert_no_secret_in(&run.all_output()).await;
        let listed = run.summary();
        let last_runs: BTreeMap<&str, &Value> = listed
            .as_array()
            .expect("a list")
            .iter()
            .map(|l| (l["account"].as_str().unwrap(), &l["status"]["last_run"]))
            .collect();
        for account in &self.accounts {
            let last_run = last_runs[account.name.as_str()];
            let key = format!("{PREFIX}_runs/account={}/last-run.json", account.name);
            assert_eq!(&records[&key], last_run, "{key}");
            let label = format!("{} ({:?}): {last_run}", account.name, account.kind);
            assert!(last_run["finished_at"].is_string(), "{label}");
            match account.kind.error_type() {
                None => {
                    assert_eq!(last_run["outcome"], "ok", "{label}");
                    assert!(last_run["last_error"].is_null(), "{label}");
                    assert_eq!(last_run["failures_in_a_row"], 0, "{label}");
                    let written = &last_run["events_written"];
                    let total: u64 = LogType::ALL
                        .iter()
                        .map(|t| written[t.name()].as_u64().expect("a count per log type"))
                        .sum();
                    assert!(total > 0, "{label}");
                }
                Some(expected) => {
                    assert_eq!(last_run["outcome"], "failed", "{label}");
                    assert_eq!(last_run["error_type"], expected, "{label}");
                    assert_eq!(last_run["last_error"]["error_type"], expected, "{label}");
                    assert!(
                        !last_run["last_error"]["error"].as_str().unwrap().is_empty(),
                        "{label}"
                    );
                    assert_eq!(last_run["failures_in_a_row"], 1, "{label}");
                }
            }
        }
    }

    /// No refresh token any account ever held, and no client secret, is in `output`.
    async fn assert_no_secret_in(&self, output: &str) {
        let mut secrets = vec![SimConfig::default().client_secret];
        for account in &self.accounts {
            secrets.push(account.initial_refresh_token.clone());
            secrets.extend(account.sim.current_refresh_token());
            let stored: Value = serde_json::from_str(
                &self
                    .moto
                    .secret(&format!("{SECRET_PREFIX}{}", account.name))
                    .await,
            )
            .expect("the secret is JSON");
            for field in ["refresh_token", "access_token"] {
                secrets.extend(stored[field].as_str().map(str::to_owned));
            }
        }
        for line in output.lines() {
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "a log line holds a secret: {}",
                    line.replace(secret.as_str(), "[THE SECRET]")
                );
            }
        }
    }
}

/// What a fan-out over `count` accounts measured.
async fn fan_out_over(count: usize, at_a_time: usize, events_per_log_type: usize) {
    let fleet = Fleet::start(count, events_per_log_type).await;
    let mut names: Vec<String> = fleet.accounts.iter().map(|a| a.name.clone()).collect();
    // A valid name with no secret, and a name that is not one: each fails alone, by its own type.
    names.push("ghost".to_owned());
    names.push("Acme/../acct-000".to_owned());
    let started = Instant::now();
    let (results, output) = fleet.fan_out(names, at_a_time).await;
    let wall = started.elapsed();

    for account in &fleet.accounts {
        let result = &results[&account.name];
        match (account.kind.error_type(), result) {
            (None, Ok(summary)) => {
                assert_eq!(summary["account"], account.name.as_str(), "{summary}");
                for log_type in summary["log_types"].as_array().expect("log types") {
                    assert!(log_type["stopped_early"].is_null(), "{summary}");
                }
            }
            (Some(expected), Err(error)) => {
                assert_eq!(error.error_type, expected, "{}: {error:?}", account.name);
            }
            (expected, result) => panic!(
                "{} ({:?}) should fail with {expected:?}, got {result:?}",
                account.name, account.kind
            ),
        }
    }
    let ghost = results["ghost"].as_ref().expect_err("no secret, no run");
    assert_eq!(ghost.error_type, "AccountNotFound");
    assert!(ghost.error_message.contains("ghost"), "{ghost:?}");
    let bad = results["Acme/../acct-000"]
        .as_ref()
        .expect_err("an invalid name runs nothing");
    assert_eq!(bad.error_type, "AccountInvalid");
    assert!(bad.error_message.contains("Acme/../acct-000"), "{bad:?}");

    fleet.assert_each_account_exactly_once().await;
    fleet.assert_no_secret_in(&output).await;
    // Every line about a run names its account.
    let run_lines: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("run finished") || l.contains("run failed"))
        .collect();
    assert_eq!(run_lines.len(), count + 2, "one line per invocation");
    for line in run_lines {
        let names_it = line.contains(r#""account":"acct-"#)
            || line.contains(r#""account":"ghost""#)
            || line.contains("AccountInvalid") && line.contains("Acme/../acct-000");
        assert!(names_it, "{line}");
    }
    if let Some(line) = output.lines().find(|l| l.contains("run finished")) {
        println!("a run's line: {line}");
    }
    let listing = Instant::now();
    fleet.assert_last_runs_are_listed().await;
    println!(
        "accounts list --json over {count} accounts: {:.1} s",
        listing.elapsed().as_secs_f64()
    );
    let ok = results.values().filter(|r| r.is_ok()).count();
    let (reports, tokens) = fleet.accounts.iter().fold((0, 0), |(r, t), a| {
        let stats = a.sim.stats();
        (r + stats.report_requests, t + stats.token_requests)
    });
    println!(
        "fan-out: {count} accounts (+2 refused names), {at_a_time} at a time, \
         {events_per_log_type} events per log type: {ok} succeeded, {} failed, wall {:.1} s; \
         {reports} report requests ({} accounts × 2 log types × 1 page is the minimum), \
         {tokens} token requests",
        results.len() - ok,
        wall.as_secs_f64(),
        fleet
            .accounts
            .iter()
            .filter(|a| a.kind.error_type().is_none())
            .count(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_accounts_eight_at_a_time_each_exactly_once_in_its_own_partition_and_only_the_broken_fail()
 {
    fan_out_over(ACCOUNTS, 8, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_overlapping_invocations_of_one_account_never_interleave_the_earlier_stops_overlapped()
{
    let fleet = Fleet::start(2, 30).await;
    let account = &fleet.accounts[0];
    assert_eq!(account.kind, Kind::UpToDate);
    let (first, second) = (fleet.emulator(), fleet.emulator());
    // The first invocation hangs at its first report request, after claiming its markers.
    account.sim.fault_next(Fault::Stall);
    let event = fleet.event(&account.name);
    let stalled_run = first.invoke(&event);
    tokio::pin!(stalled_run);
    let stalled = {
        let sim = Arc::clone(&account.sim);
        let stalled =
            tokio::task::spawn_blocking(move || sim.wait_for_stall(Duration::from_secs(60)));
        tokio::select! {
            result = &mut stalled_run => panic!("the first invocation ended before the stall: {result:?}"),
            stalled = stalled => stalled.unwrap(),
        }
    };
    assert!(stalled, "the first invocation never reached Zoom");
    // The second runs to the end meanwhile.
    let later = second
        .invoke(&event)
        .await
        .expect("the later invocation succeeds");
    assert_eq!(later["account"], account.name.as_str());
    account.sim.release_stalls();
    let earlier = stalled_run
        .await
        .expect("the earlier invocation stops cleanly");
    let stops: Vec<&Value> = earlier["log_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["stopped_early"])
        .collect();
    assert!(
        stops.iter().any(|s| s.as_str() == Some("overlapped")),
        "the earlier invocation did not stop as overlapped: {earlier}"
    );
    // The other account was never touched; this one's events are written exactly once.
    let end = fleet.reference - chrono::Duration::seconds(SETTLE_SECONDS);
    for log_type in LogType::ALL {
        let partition = format!("{PREFIX}{}/account={}/", log_type.name(), account.name);
        let written = fleet
            .objects_under(&partition)
            .await
            .iter()
            .flat_map(StoredObject::lines)
            .collect();
        assert_exactly_once_lines(
            log_type.name(),
            account.sim.events(log_type),
            written,
            account.start,
            end,
        );
        let other = format!(
            "{PREFIX}{}/account={}/",
            log_type.name(),
            fleet.accounts[1].name
        );
        assert!(fleet.objects_under(&other).await.is_empty());
    }
}

/// A revoked account that is authorized again runs ok, and its last error stays in view:
/// `status --account` shows the last run ok and the last error `AuthRevoked`, from the records the
/// function wrote (the first carried forward into the second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_recovers_keeps_its_last_error_in_view() {
    let fleet = Fleet::start_with(1, 10, |_| Kind::Revoked).await;
    let account = &fleet.accounts[0];
    let emulator = fleet.emulator();
    let failed = emulator
        .invoke(&fleet.event(&account.name))
        .await
        .expect_err("a revoked account fails");
    assert_eq!(failed.error_type, "AuthRevoked");

    let secret_id = format!("{SECRET_PREFIX}{}", account.name);
    let mut secret: Value = serde_json::from_str(&fleet.moto.secret(&secret_id).await).unwrap();
    secret["refresh_token"] = json!(account.sim.authorize());
    fleet
        .moto
        .clients()
        .secrets
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string(secret.to_string())
        .send()
        .await
        .expect("PutSecretValue");
    emulator
        .invoke(&fleet.event(&account.name))
        .await
        .expect("the authorized account runs");

    let status = fleet.zoomlogs(&["status", "--account", &account.name]);
    let text = status.all_output();
    assert!(status.succeeded(), "{text}");
    let line = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line: {text}"))
            .to_owned()
    };
    assert!(
        line("last run: ").contains(": ok; events written: "),
        "{text}"
    );
    let last_error = line("last error: ");
    assert!(last_error.contains("AuthRevoked: "), "{text}");
    assert!(last_error.contains("re-authorize"), "{text}");
    let listed = fleet.zoomlogs(&["accounts", "list"]);
    let row = listed.all_output();
    assert!(listed.succeeded(), "{row}");
    assert!(row.contains("last run "), "{row}");
    assert!(row.contains(": ok; last error "), "{row}");
    assert!(row.contains("AuthRevoked"), "{row}");
    fleet.assert_no_secret_in(&text).await;
    fleet.assert_no_secret_in(&row).await;
    println!("status --account after a recovery:\n{text}\naccounts list:\n{row}");
}

/// `zoomlogs accounts add` onboards a Server-to-Server account (secret, schedule, check),
/// `check --account` and `status --account` see its folders, `accounts list` shows it, and
/// `accounts remove` deletes the schedule and keeps the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_added_listed_checked_and_removed_with_the_cli() {
    use crate::check::{moto_env, zoomlogs};
    use crate::support::LocalPuller;

    let sim = Simulator::start(SimConfig::default());
    let moto = Moto::start();
    moto.create_bucket(BUCKET).await;
    let scheduler = aws_sdk_scheduler::Client::new(&Moto::sdk_config(&moto.endpoint()));
    scheduler
        .create_schedule_group()
        .name("zlp-accounts")
        .send()
        .await
        .expect("CreateScheduleGroup");
    let puller = LocalPuller::with_state(&sim, &json!({}));
    let mut env = moto_env(&moto);
    env.extend([
        ("ZOOM_SECRET_PREFIX", SECRET_PREFIX.to_owned()),
        ("LOG_BUCKET", BUCKET.to_owned()),
        ("ZOOM_CLIENT_SECRET", SimConfig::default().client_secret),
    ]);
    let cli = |args: &[&str]| tokio::task::block_in_place(|| zoomlogs(&puller, args, &env));

    let added = cli(&[
        "accounts",
        "add",
        "acme",
        "--client-id",
        &SimConfig::default().client_id,
        "--account-id",
        &SimConfig::default().account_id,
        "--schedule-group",
        "zlp-accounts",
        "--scheduler-role-arn",
        "arn:aws:iam::123456789012:role/zlp-scheduler",
        "--function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:zlp",
    ]);
    let printed = added.all_output();
    assert!(added.succeeded(), "{printed}");
    assert!(
        printed.contains("schedule zlp-accounts/acme: created"),
        "{printed}"
    );
    assert!(
        !printed.contains(&SimConfig::default().client_secret),
        "{printed}"
    );
    let secret: Value =
        serde_json::from_str(&moto.secret(&format!("{SECRET_PREFIX}acme")).await).unwrap();
    assert_eq!(
        secret["account_id"],
        SimConfig::default().account_id.as_str()
    );
    let schedule = scheduler
        .get_schedule()
        .name("acme")
        .group_name("zlp-accounts")
        .send()
        .await
        .expect("the schedule exists");
    let target = schedule.target().expect("a target");
    let input: Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({"account": "acme", "time": "<aws.scheduler.scheduled-time>"})
    );
    assert_eq!(
        target.arn(),
        "arn:aws:lambda:us-east-1:123456789012:function:zlp"
    );

    let checked = cli(&["check", "--account", "acme"]);
    assert!(checked.succeeded(), "{}", checked.all_output());
    assert!(
        checked.all_output().contains("zoom/_check/account=acme/"),
        "{}",
        checked.all_output()
    );
    let status = cli(&["status", "--account", "acme", "--json"]);
    assert!(status.succeeded(), "{}", status.all_output());
    assert!(
        status.summary()["state"]
            .as_str()
            .unwrap()
            .contains("zoom-log-puller/acme")
    );

    let t0 = whole_second(Utc::now());
    sim.add_events(
        LogType::Activity,
        generate_events(
            LogType::Activity,
            5,
            t0 - chrono::Duration::hours(3),
            t0 - chrono::Duration::hours(1),
            7,
        ),
    );
    let pulled = cli(&["pull", "--account", "acme"]);
    assert_eq!(pulled.summary()["account"], "acme");
    let written = moto
        .objects(BUCKET, &format!("{PREFIX}Zoom.Activity/account=acme/"))
        .await;
    assert_eq!(written.iter().flat_map(StoredObject::lines).count(), 5);
    assert_eq!(
        moto.objects(BUCKET, &format!("{PREFIX}Zoom.Activity/"))
            .await
            .len(),
        written.len(),
        "nothing outside the account's folder"
    );

    let listed = cli(&["accounts", "list", "--json"]);
    assert!(listed.succeeded(), "{}", listed.all_output());
    assert_eq!(listed.summary()[0]["account"], "acme");
    let refused = cli(&["status", "--account", "Acme"]);
    refused.assert_failed_with("AccountInvalid");
    // A valid name without a secret is the Lambda's typed error naming it, and nothing is written.
    for command in ["check", "status", "pull"] {
        let ghost = cli(&[command, "--account", "ghost"]);
        ghost.assert_failed_with("AccountNotFound");
        assert!(
            ghost
                .stderr()
                .contains("account ghost has no secret zoom-log-puller/ghost"),
            "{command}: {}",
            ghost.stderr()
        );
    }
    let ghost_objects = moto.objects(BUCKET, PREFIX).await;
    assert!(
        ghost_objects.iter().all(|o| !o.key.contains("ghost")),
        "nothing is written for an account that is not there"
    );

    let removed = cli(&[
        "accounts",
        "remove",
        "acme",
        "--schedule-group",
        "zlp-accounts",
    ]);
    assert!(removed.succeeded(), "{}", removed.all_output());
    assert!(
        scheduler
            .get_schedule()
            .name("acme")
            .group_name("zlp-accounts")
            .send()
            .await
            .is_err(),
        "the schedule is gone"
    );
    assert!(
        !moto
            .secret(&format!("{SECRET_PREFIX}acme"))
            .await
            .is_empty(),
        "the secret is kept"
    );
}

/// The bench row: `BENCH_ACCOUNTS` accounts (default 100), each a day behind with
/// `BENCH_EVENTS_PER_DAY` events (default 20,000, half per log type), through one function under
/// the emulator, 8 at a time: invocations, wall time, CPU seconds and peak RSS per function
/// process, Zoom calls against the minimum (one call per 300 events, per log type). Figures, and
/// exactly once per account. `cargo test --release --test integration bench_row -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a bench: minutes and about 1 GB for the simulator at the default size"]
async fn bench_row_many_accounts_a_day_behind() {
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let count = number("BENCH_ACCOUNTS", 100);
    let per_log_type = number("BENCH_EVENTS_PER_DAY", 20_000) / 2;
    let at_a_time = 8;
    let fleet = Fleet::start_with(count, per_log_type, |_| Kind::Backfilling).await;
    let names: Vec<String> = fleet.accounts.iter().map(|a| a.name.clone()).collect();
    let queue = Arc::new(Mutex::new(VecDeque::from(names)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..at_a_time {
        let emulator = fleet.emulator();
        let queue = Arc::clone(&queue);
        let event = fleet.event("placeholder");
        workers.push(tokio::spawn(async move {
            let mut invocations = 0;
            loop {
                let Some(name) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let mut event = event.clone();
                event["account"] = json!(name);
                let summary = emulator.invoke(&event).await.expect("the run succeeds");
                invocations += 1;
                for log_type in summary["log_types"].as_array().unwrap() {
                    if !log_type["stopped_early"].is_null() {
                        queue.lock().unwrap().push_back(name.clone());
                        break;
                    }
                }
            }
            let usage = crate::support::rie::function_usage(&emulator);
            (invocations, usage)
        }));
    }
    let (mut invocations, mut cpu, mut peak_kib) = (0, 0.0, 0);
    for worker in workers {
        let (n, usage) = worker.await.unwrap();
        invocations += n;
        if let Some((seconds, peak)) = usage {
            cpu += seconds;
            peak_kib = peak_kib.max(peak);
        }
    }
    let wall = started.elapsed();
    fleet.assert_each_account_exactly_once().await;
    let calls: u64 = fleet
        .accounts
        .iter()
        .map(|a| a.sim.stats().report_requests)
        .sum();
    let minimum = (count * 2 * per_log_type.div_ceil(300)) as u64;
    println!(
        "bench row: {count} accounts x {} events a day, {at_a_time} at a time: {invocations} \
         invocations, wall {:.1} s, CPU {:.2} s per invocation, peak RSS {} MB (the largest \
         function process over its invocations), Zoom report calls {calls} = {:.2} x the minimum {minimum}",
        per_log_type * 2,
        wall.as_secs_f64(),
        cpu / invocations as f64,
        peak_kib / 1024,
        calls as f64 / minimum as f64,
    );
}
