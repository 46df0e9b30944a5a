//! End to end as Lambda runs it: the release `zoom-log-puller` binary under the Runtime Interface
//! Emulator, invoked with `events/scheduled.json`, against the Zoom simulator and moto's S3 and
//! Secrets Manager. Each test owns its simulator, moto server and emulator, so tests run in
//! parallel; assertions are about what ends up in S3 and in the secret, never about timings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Value, json};
use zoom_sim::{Fault, LogType, SimConfig, Simulator, generate_events};

use crate::support::moto::{FailingProxy, Injected, Moto, StoredObject};
use crate::support::rie::{Emulator, LambdaError, scheduled_event};
use crate::support::{assert_exactly_once_lines, event_time};

const SECRET_ID: &str = "zoom-log-puller/test";
const BUCKET: &str = "audit-logs";
const PREFIX: &str = "zoom/";
/// Events younger than this are left for a later run.
const SETTLE_SECONDS: i64 = 60;

/// One simulator, one moto server with the bucket and the secret, and the tokens handed out.
struct Fixture {
    sim: Arc<Simulator>,
    moto: Moto,
    initial_secret: String,
    initial_refresh_token: String,
}

impl Fixture {
    async fn start(config: SimConfig) -> Fixture {
        let (client_id, client_secret) = (config.client_id.clone(), config.client_secret.clone());
        let sim = Arc::new(Simulator::start(config));
        let moto = Moto::start();
        moto.create_bucket(BUCKET).await;
        let initial_refresh_token = sim.authorize();
        let initial_secret = json!({
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": initial_refresh_token,
            "owner": "secops",
            "runbook": {"url": "https://wiki.example.com/zoom", "reviewed": ["2026-11-01"]},
        })
        .to_string();
        moto.create_secret(SECRET_ID, &initial_secret).await;
        Fixture {
            sim,
            moto,
            initial_secret,
            initial_refresh_token,
        }
    }

    /// An emulator with the function's environment; `overrides` replace or add variables.
    fn emulator(&self, overrides: &[(&'static str, String)]) -> Emulator {
        let mut env: BTreeMap<&str, String> = BTreeMap::from([
            ("ZOOM_SECRET_ID", SECRET_ID.to_owned()),
            ("LOG_BUCKET", BUCKET.to_owned()),
            ("LOG_PREFIX", PREFIX.to_owned()),
            ("ZOOM_API_URL", self.sim.api_url()),
            ("ZOOM_OAUTH_URL", self.sim.oauth_url()),
            ("SETTLE_SECONDS", SETTLE_SECONDS.to_string()),
            ("INITIAL_LOOKBACK_DAYS", "1".to_owned()),
            ("S3_FORCE_PATH_STYLE", "true".to_owned()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "120".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ]);
        env.extend(overrides.iter().cloned());
        Emulator::start(&env.into_iter().collect::<Vec<_>>())
    }

    async fn secret(&self) -> Value {
        serde_json::from_str(&self.moto.secret(SECRET_ID).await).expect("the secret is JSON")
    }

    /// The objects in a log type's folder (the checkpoint markers live outside it).
    async fn log_objects(&self, log_type: LogType) -> Vec<StoredObject> {
        let prefix = format!("{PREFIX}{}/", log_type.name());
        self.moto.objects(BUCKET, &prefix).await
    }

    /// Every event of the simulator with `start < time <= end` is in the log type's folder
    /// exactly once, byte for byte, in the object of its hour, and nothing else is there.
    async fn assert_exactly_once(
        &self,
        log_type: LogType,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        let mut written = Vec::new();
        for object in self.log_objects(log_type).await {
            assert_eq!(
                object.content_type.as_deref(),
                Some("application/x-ndjson"),
                "{}",
                object.key
            );
            assert!(object.key.ends_with(".json.gz"), "{}", object.key);
            for line in object.lines() {
                let hour = event_time(&line);
                let partition = format!(
                    "year={:04}/month={:02}/day={:02}/hour={:02}/",
                    hour.year(),
                    hour.month(),
                    hour.day(),
                    hour.hour()
                );
                assert!(
                    object.key.contains(&partition),
                    "{line} is in {}",
                    object.key
                );
                written.push(line);
            }
        }
        assert_exactly_once_lines(
            log_type.name(),
            self.sim.events(log_type),
            written,
            start,
            end,
        );
    }

    /// Like [`Fixture::assert_exactly_once`], for every PUT the bucket ever took (a versioned
    /// bucket keeps one version per PUT): what a consumer of every object-created notification
    /// ingests.
    async fn assert_every_put_exactly_once(
        &self,
        log_type: LogType,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        let prefix = format!("{PREFIX}{}/", log_type.name());
        let versions = self.moto.object_versions(BUCKET, &prefix).await;
        let written = versions.iter().flat_map(StoredObject::lines).collect();
        assert_exactly_once_lines(
            log_type.name(),
            self.sim.events(log_type),
            written,
            start,
            end,
        );
    }

    /// No line the function or the emulator printed holds the client secret or a token.
    fn assert_no_secret_in(&self, output: &str, more: &[String]) {
        let mut secrets = vec![
            SimConfig::default().client_secret,
            self.initial_refresh_token.clone(),
        ];
        secrets.extend(self.sim.current_refresh_token());
        secrets.extend(more.iter().cloned());
        assert!(!output.is_empty(), "the emulator captured no output");
        for line in output.lines() {
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "a log line holds a secret: {}",
                    redact(line, secret)
                );
            }
        }
    }
}

fn redact(line: &str, secret: &str) -> String {
    line.replace(secret, "[THE SECRET]")
}

/// The access and refresh tokens stored in the secret.
fn stored_tokens(secret: &Value) -> Vec<String> {
    ["access_token", "refresh_token"]
        .iter()
        .filter_map(|k| secret[k].as_str().map(str::to_owned))
        .collect()
}

/// The CloudWatch Embedded Metric Format documents printed, one bare JSON line each.
fn emf_documents(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|doc| doc.get("_aws").is_some())
        .collect()
}

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).expect("a valid time")
}

/// The end of the window of a run scheduled at `reference` (a whole second, not in the future):
/// the reference time minus `SETTLE_SECONDS`, whatever the function reports.
fn window_end(reference: DateTime<Utc>) -> DateTime<Utc> {
    reference - chrono::Duration::seconds(SETTLE_SECONDS)
}

/// Where a first run scheduled at `reference` starts, with `INITIAL_LOOKBACK_DAYS` = `days`.
fn lookback_start(reference: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    reference - chrono::Duration::days(days)
}

/// A scheduled event for now, and its reference time.
fn scheduled_now() -> (Value, DateTime<Utc>) {
    let reference = whole_second(Utc::now());
    (scheduled_event(reference), reference)
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("not a time: {value}"))
}

/// The summary of one log type in a run summary.
fn summary_of(summary: &Value, log_type: LogType) -> &Value {
    summary["log_types"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["log_type"] == log_type.name()))
        .unwrap_or_else(|| panic!("no {} in {summary}", log_type.name()))
}

fn succeeded(result: Result<Value, LambdaError>) -> Value {
    result.unwrap_or_else(|e| panic!("the invocation failed: {e:?}"))
}

/// Waits (never more than a few seconds) until `cursor` is settled history with room after it,
/// then returns the last settled second.
async fn settled_after(cursor: DateTime<Utc>) -> DateTime<Utc> {
    let settled = || whole_second(Utc::now()) - chrono::Duration::seconds(SETTLE_SECONDS);
    while settled() < cursor + chrono::Duration::seconds(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    settled()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_invocations_write_every_event_once_and_keep_the_rotated_token() {
    let f = Fixture::start(SimConfig::default()).await;
    let t0 = whole_second(Utc::now());
    let hours = |h: i64| t0 - chrono::Duration::hours(h);
    let minutes = |m: i64| t0 - chrono::Duration::minutes(m);
    // Settled history, history older than the first run's lookback, and events not yet settled.
    f.sim.add_events(
        LogType::Activity,
        generate_events(LogType::Activity, 700, hours(20), minutes(3), 1),
    );
    f.sim.add_events(
        LogType::Operation,
        generate_events(LogType::Operation, 250, hours(20), minutes(3), 2),
    );
    f.sim.add_events(
        LogType::Activity,
        generate_events(LogType::Activity, 30, hours(72), hours(48), 3),
    );
    f.sim.add_events(
        LogType::Operation,
        generate_events(
            LogType::Operation,
            20,
            t0 - chrono::Duration::seconds(30),
            t0,
            4,
        ),
    );
    let emulator = f.emulator(&[]);

    let (mut event, first_reference) = scheduled_now();
    let first_summary = succeeded(emulator.invoke(&event).await);
    let start = lookback_start(first_reference, 1);
    let mut cursor = BTreeMap::new();
    for log_type in LogType::ALL {
        let s = summary_of(&first_summary, log_type);
        assert!(s["events_written"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(time(&s["window"]["start"]), start, "{s}");
        assert_eq!(
            time(&s["window"]["end"]),
            window_end(first_reference),
            "{s}"
        );
        assert_eq!(time(&s["cursor_after"]), window_end(first_reference), "{s}");
        cursor.insert(log_type.name(), window_end(first_reference));
    }

    // Two more runs, each after new events that settled since the previous one.
    for (round, seed) in [(1, 10), (2, 20)] {
        let since = *cursor.values().max().unwrap();
        let until = settled_after(since).await;
        f.sim.add_events(
            LogType::Activity,
            generate_events(LogType::Activity, 150 * round, since, until, seed),
        );
        f.sim.add_events(
            LogType::Operation,
            generate_events(LogType::Operation, 40, since, until, seed + 1),
        );
        let reference;
        (event, reference) = scheduled_now();
        let summary = succeeded(emulator.invoke(&event).await);
        for log_type in LogType::ALL {
            let s = summary_of(&summary, log_type);
            assert_eq!(
                time(&s["window"]["start"]),
                cursor[log_type.name()],
                "no gap, no overlap: {s}"
            );
            assert_eq!(time(&s["cursor_after"]), window_end(reference), "{s}");
            assert!(s["events_written"].as_u64().unwrap() > 0, "{s}");
            cursor.insert(log_type.name(), window_end(reference));
        }
    }

    // The same scheduled event again: no log object to write, nothing to store (the run claims
    // the checkpoint markers, which are not logs).
    let log_objects = || async {
        let mut objects = f.log_objects(LogType::Activity).await;
        objects.extend(f.log_objects(LogType::Operation).await);
        objects
    };
    let objects_before = log_objects().await;
    let versions_before = f.moto.secret_versions(SECRET_ID).await;
    let again = succeeded(emulator.invoke(&event).await);
    for log_type in LogType::ALL {
        let s = summary_of(&again, log_type);
        assert_eq!(
            (s["events_written"].as_u64(), s["objects_written"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
    }
    assert_eq!(log_objects().await, objects_before);
    assert_eq!(f.moto.secret_versions(SECRET_ID).await, versions_before);

    for log_type in LogType::ALL {
        f.assert_exactly_once(log_type, start, cursor[log_type.name()])
            .await;
    }
    let secret = f.secret().await;
    assert_eq!(
        secret["refresh_token"].as_str(),
        f.sim.current_refresh_token().as_deref()
    );
    assert_ne!(secret["refresh_token"], f.initial_refresh_token.as_str());
    let initial: Value = serde_json::from_str(&f.initial_secret).unwrap();
    for kept in ["client_id", "client_secret", "owner", "runbook"] {
        assert_eq!(secret[kept], initial[kept], "{kept} is kept as it was");
    }
    for log_type in LogType::ALL {
        assert_eq!(
            time(&secret["cursors"][log_type.name()]),
            cursor[log_type.name()]
        );
    }
    // Four successful runs: one metrics line per log type each, the first counting its events.
    let metrics = emf_documents(&emulator.output());
    assert_eq!(metrics.len(), 8, "{metrics:?}");
    for log_type in LogType::ALL {
        let first = metrics.iter().find(|m| m["LogType"] == log_type.name());
        let written = first.and_then(|m| m["EventsWritten"].as_u64());
        assert_eq!(
            written,
            summary_of(&first_summary, log_type)["events_written"].as_u64()
        );
    }
    f.assert_no_secret_in(&emulator.output(), &stored_tokens(&secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_killed_mid_invocation_leaves_every_event_exactly_once_after_the_next_run() {
    let f = Fixture::start(SimConfig {
        page_size_cap: 100,
        ..SimConfig::default()
    })
    .await;
    let t0 = whole_second(Utc::now());
    let from = t0 - chrono::Duration::hours(20);
    let to = t0 - chrono::Duration::minutes(3);
    f.sim.add_events(
        LogType::Activity,
        generate_events(LogType::Activity, 600, from, to, 5),
    );
    f.sim.add_events(
        LogType::Operation,
        generate_events(LogType::Operation, 400, from, to, 6),
    );
    // Pages have been fetched and objects written when the fourth report request hangs.
    f.sim.fault_at(4, Fault::Stall);
    let first_time = whole_second(Utc::now());
    let emulator = f.emulator(&[("OBJECT_MAX_EVENTS", "50".to_owned())]);

    let crashed = {
        let event = scheduled_event(first_time);
        let invocation = emulator.invoke(&event);
        let sim = Arc::clone(&f.sim);
        let stalled =
            tokio::task::spawn_blocking(move || sim.wait_for_stall(Duration::from_secs(120)));
        tokio::pin!(invocation);
        tokio::select! {
            result = &mut invocation => panic!("the invocation ended before the stall: {result:?}"),
            stalled = stalled => assert!(stalled.unwrap(), "the function never reached the stalled request"),
        }
        emulator.kill_function();
        invocation.await
    };
    assert!(
        crashed.is_err(),
        "a killed function cannot succeed: {crashed:?}"
    );
    let secret = f.secret().await;
    assert!(
        secret
            .get("cursors")
            .is_none_or(|c| c.as_object().is_some_and(|c| c.is_empty())),
        "{secret}"
    );
    assert!(
        !f.log_objects(LogType::Activity).await.is_empty()
            || !f.log_objects(LogType::Operation).await.is_empty(),
        "the crash left a partly written window behind"
    );
    let emulator_output = emulator.output();
    drop(emulator);

    // A new sandbox, a later schedule.
    let emulator = f.emulator(&[("OBJECT_MAX_EVENTS", "50".to_owned())]);
    let (event, reference) = scheduled_now();
    let summary = succeeded(emulator.invoke(&event).await);
    let start = lookback_start(first_time, 1);
    for log_type in LogType::ALL {
        let s = summary_of(&summary, log_type);
        assert_eq!(
            time(&s["replayed"]["start"]),
            start,
            "the crashed window is replayed: {s}"
        );
        assert_eq!(time(&s["cursor_after"]), window_end(reference), "{s}");
        f.assert_exactly_once(log_type, start, window_end(reference))
            .await;
    }
    let secret = f.secret().await;
    assert_eq!(
        secret["refresh_token"].as_str(),
        f.sim.current_refresh_token().as_deref()
    );
    for output in [emulator_output, emulator.output()] {
        f.assert_no_secret_in(&output, &stored_tokens(&secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_deadline_stops_early_and_the_next_invocation_continues_without_gap_or_duplicate() {
    // Every page takes 4 s and each log type needs some twenty of them, one after the other
    // within a query: far more than the 24 s - 12 s of work time, on any machine. The 12 s margin
    // covers a page in flight at the deadline, the objects and the secret on a loaded one.
    let f = Fixture::start(SimConfig {
        latency: Duration::from_secs(4),
        page_size_cap: 50,
        ..SimConfig::default()
    })
    .await;
    let t0 = whole_second(Utc::now());
    let from = t0 - chrono::Duration::days(29);
    let to = t0 - chrono::Duration::minutes(3);
    f.sim.add_events(
        LogType::Activity,
        generate_events(LogType::Activity, 1000, from, to, 7),
    );
    f.sim.add_events(
        LogType::Operation,
        generate_events(LogType::Operation, 1000, from, to, 8),
    );
    let (event, first_reference) = scheduled_now();
    let first = {
        let emulator = f.emulator(&[
            ("INITIAL_LOOKBACK_DAYS", "30".to_owned()),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "24".to_owned()),
            ("DEADLINE_MARGIN_SECONDS", "12".to_owned()),
        ]);
        succeeded(emulator.invoke(&event).await)
    };
    let start = lookback_start(first_reference, 30);
    let secret = f.secret().await;
    for log_type in LogType::ALL {
        let s = summary_of(&first, log_type);
        assert_eq!(s["stopped_early"], "deadline", "{s}");
        assert_eq!(
            time(&s["window"]["end"]),
            window_end(first_reference),
            "{s}"
        );
        assert_ne!(s["cursor_after"], s["window"]["end"], "{s}");
        // The checkpoint is stored: the cursor in the secret is the summary's.
        assert_eq!(
            secret["cursors"][log_type.name()],
            s["cursor_after"],
            "{secret}"
        );
    }

    // The next invocation (any sandbox, a later schedule, Zoom fast again) has time to finish.
    f.sim.set_config(|c| c.latency = Duration::ZERO);
    let emulator = f.emulator(&[("INITIAL_LOOKBACK_DAYS", "30".to_owned())]);
    let (event, reference) = scheduled_now();
    let second = succeeded(emulator.invoke(&event).await);
    for log_type in LogType::ALL {
        let s = summary_of(&second, log_type);
        assert_eq!(s["stopped_early"], Value::Null, "{s}");
        assert_eq!(
            s["cursor_before"],
            summary_of(&first, log_type)["cursor_after"],
            "continues from the stored cursor: {s}"
        );
        assert_eq!(time(&s["cursor_after"]), window_end(reference), "{s}");
        f.assert_exactly_once(log_type, start, window_end(reference))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_that_cannot_be_stored_fails_with_token_not_stored_before_any_report_call()
{
    let f = Fixture::start(SimConfig::default()).await;
    let t0 = whole_second(Utc::now());
    f.sim.add_events(
        LogType::Activity,
        generate_events(
            LogType::Activity,
            50,
            t0 - chrono::Duration::hours(5),
            t0 - chrono::Duration::minutes(3),
            9,
        ),
    );
    let proxy = FailingProxy::start(f.moto.port(), |request| {
        (request.header("x-amz-target") == Some("secretsmanager.PutSecretValue")).then_some(
            Injected {
                status: 500,
                content_type: "application/x-amz-json-1.1",
                body: r#"{"__type":"InternalServiceError","message":"injected by the test proxy"}"#,
            },
        )
    })
    .await;
    let emulator = f.emulator(&[("AWS_ENDPOINT_URL_SECRETS_MANAGER", proxy.endpoint())]);

    let error = emulator
        .invoke(&scheduled_event(Utc::now()))
        .await
        .unwrap_err();
    assert_eq!(error.error_type, "TokenNotStored", "{error:?}");
    assert!(proxy.injected() > 0, "the write went through the proxy");
    let stats = f.sim.stats();
    assert_eq!(stats.refresh_grants, 1, "{stats:?}");
    assert_eq!(
        stats.report_requests, 0,
        "no report call with an unsaved token: {stats:?}"
    );
    for log_type in LogType::ALL {
        assert!(
            f.log_objects(log_type).await.is_empty(),
            "nothing written for {}",
            log_type.name()
        );
    }
    assert_eq!(f.moto.secret(SECRET_ID).await, f.initial_secret);
    f.assert_no_secret_in(&emulator.output(), &[]);
    assert!(
        !error
            .error_message
            .contains(f.sim.current_refresh_token().unwrap().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_write_failure_is_storage_failed_keeps_the_cursor_and_loses_nothing() {
    let f = Fixture::start(SimConfig::default()).await;
    let t0 = whole_second(Utc::now());
    let history = |log_type, count, seed| {
        generate_events(
            log_type,
            count,
            t0 - chrono::Duration::hours(10),
            t0 - chrono::Duration::minutes(3),
            seed,
        )
    };
    f.sim
        .add_events(LogType::Activity, history(LogType::Activity, 200, 11));
    f.sim
        .add_events(LogType::Operation, history(LogType::Operation, 100, 12));
    let (event, first_reference) = scheduled_now();
    {
        let emulator = f.emulator(&[]);
        succeeded(emulator.invoke(&event).await);
    }
    let start = lookback_start(first_reference, 1);
    let cursors = f.secret().await["cursors"].clone();
    for log_type in LogType::ALL {
        assert_eq!(time(&cursors[log_type.name()]), window_end(first_reference));
    }

    let since = window_end(first_reference);
    let until = settled_after(since).await;
    f.sim.add_events(
        LogType::Activity,
        generate_events(LogType::Activity, 80, since, until, 13),
    );
    f.sim.add_events(
        LogType::Operation,
        generate_events(LogType::Operation, 30, since, until, 14),
    );
    // The role may read and write markers but not the log objects (say, a policy gone wrong).
    let proxy = FailingProxy::start(f.moto.port(), |request| {
        (request.method == "PUT" && request.path.split('?').next().is_some_and(|p| p.ends_with(".json.gz"))).then_some(Injected {
            status: 403,
            content_type: "application/xml",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        })
    })
    .await;
    {
        let emulator = f.emulator(&[("AWS_ENDPOINT_URL_S3", proxy.endpoint())]);
        let error = emulator
            .invoke(&scheduled_event(Utc::now()))
            .await
            .unwrap_err();
        assert_eq!(error.error_type, "StorageFailed", "{error:?}");
        assert!(
            error.error_message.contains("PutObject")
                && error.error_message.contains("AccessDenied"),
            "{error:?}"
        );
        assert!(proxy.injected() > 0);
        assert_eq!(
            f.secret().await["cursors"],
            cursors,
            "the cursor did not move"
        );
        let record = f.last_run().await;
        assert_eq!(record["outcome"], "failed", "{record}");
        assert_eq!(record["error_type"], "StorageFailed", "{record}");
    }

    let emulator = f.emulator(&[]);
    let (event, reference) = scheduled_now();
    let last = succeeded(emulator.invoke(&event).await);
    for log_type in LogType::ALL {
        let s = summary_of(&last, log_type);
        assert_eq!(time(&s["cursor_after"]), window_end(reference), "{s}");
        f.assert_exactly_once(log_type, start, window_end(reference))
            .await;
    }
    // The run record shows the recovery and keeps the failure in view.
    let record = f.last_run().await;
    assert_eq!(record["outcome"], "ok", "{record}");
    assert_eq!(
        record["last_error"]["error_type"], "StorageFailed",
        "{record}"
    );
    assert!(
        record["last_error"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("AccessDenied")),
        "{record}"
    );
}

/// The run record is the run's last act, never its result: a bucket that refuses it leaves the
/// run a success, with a warning in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_record_that_cannot_be_written_is_a_warning_and_the_run_still_succeeds() {
    let f = Fixture::start(SimConfig::default()).await;
    recent_history(&f);
    let proxy = FailingProxy::start(f.moto.port(), |request| {
        (request.method == "PUT" && request.path.contains("/_runs/")).then_some(Injected {
            status: 403,
            content_type: "application/xml",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        })
    })
    .await;
    let emulator = f.emulator(&[("AWS_ENDPOINT_URL_S3", proxy.endpoint())]);
    let summary = succeeded(emulator.invoke(&scheduled_now().0).await);
    assert!(proxy.injected() > 0, "the record's PUT was tried");
    assert!(
        emulator
            .output()
            .contains("the run's record could not be written; the run's result stands"),
        "{}",
        emulator.output()
    );
    assert!(
        f.moto
            .objects(BUCKET, &format!("{PREFIX}_runs/"))
            .await
            .is_empty()
    );
    for log_type in LogType::ALL {
        assert_eq!(summary_of(&summary, log_type)["error"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_secret_is_state_invalid_and_never_overwritten() {
    let f = Fixture::start(SimConfig::default()).await;
    let malformed = json!({
        "client_id": "sim-client-id",
        "client_secret": SimConfig::default().client_secret,
        "refresh_token": ["not", "a", "string"],
        "owner": "secops",
    })
    .to_string();
    f.moto
        .clients()
        .secrets
        .put_secret_value()
        .secret_id(SECRET_ID)
        .secret_string(&malformed)
        .send()
        .await
        .unwrap();
    let versions = f.moto.secret_versions(SECRET_ID).await;
    let emulator = f.emulator(&[]);

    for _ in 0..2 {
        let error = emulator
            .invoke(&scheduled_event(Utc::now()))
            .await
            .unwrap_err();
        assert_eq!(error.error_type, "StateInvalid", "{error:?}");
        assert!(
            !error
                .error_message
                .contains(&SimConfig::default().client_secret)
        );
    }
    assert_eq!(f.moto.secret(SECRET_ID).await, malformed);
    assert_eq!(f.moto.secret_versions(SECRET_ID).await, versions);
    assert_eq!(f.sim.stats().token_requests, 0);
    assert_eq!(
        emf_documents(&emulator.output()),
        Vec::<Value>::new(),
        "no metrics from a failed run"
    );
    f.assert_no_secret_in(&emulator.output(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_with_an_unparsable_time_is_an_invalid_event_and_runs_nothing() {
    let f = Fixture::start(SimConfig::default()).await;
    let emulator = f.emulator(&[]);
    let mut event = scheduled_event(Utc::now());
    event["time"] = json!("yesterday at noon");

    let error = emulator.invoke(&event).await.unwrap_err();
    assert_eq!(error.error_type, "InvalidEvent", "{error:?}");
    assert!(
        error.error_message.contains("yesterday at noon"),
        "{error:?}"
    );
    assert_eq!(f.sim.stats().token_requests, 0);
    assert_eq!(f.moto.secret(SECRET_ID).await, f.initial_secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_fails_every_invocation_with_config_invalid_naming_the_variable() {
    let f = Fixture::start(SimConfig::default()).await;
    for (variable, value) in [
        ("LOG_BUCKET", ""),
        ("SETTLE_SECONDS", "ten minutes"),
        ("LOG_TYPES", "Zoom.Meetings"),
    ] {
        let emulator = f.emulator(&[(variable, value.to_owned())]);
        for _ in 0..2 {
            let error = emulator
                .invoke(&scheduled_event(Utc::now()))
                .await
                .unwrap_err();
            assert_eq!(error.error_type, "ConfigInvalid", "{variable}: {error:?}");
            assert!(
                error.error_message.contains(variable),
                "the message names {variable}: {error:?}"
            );
        }
        f.assert_no_secret_in(&emulator.output(), &[]);
    }
    assert_eq!(f.sim.stats().token_requests, 0);
    assert_eq!(f.moto.secret(SECRET_ID).await, f.initial_secret);
}

/// Settled events of both log types in the last twenty hours, inside a first run's lookback.
fn recent_history(f: &Fixture) {
    let t0 = whole_second(Utc::now());
    for (log_type, seed) in [(LogType::Activity, 31), (LogType::Operation, 32)] {
        f.sim.add_events(
            log_type,
            generate_events(
                log_type,
                120,
                t0 - chrono::Duration::hours(20),
                t0 - chrono::Duration::minutes(3),
                seed,
            ),
        );
    }
}

impl Fixture {
    /// Replaces the secret's value (a new version, as an operator's edit would make).
    async fn put_secret(&self, value: &Value) {
        self.moto
            .clients()
            .secrets
            .put_secret_value()
            .secret_id(SECRET_ID)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("PutSecretValue");
    }

    /// A failed run wrote no log object and moved no cursor (it may have stored a rotated token).
    /// The function's run record (`<prefix>_runs/last-run.json`).
    async fn last_run(&self) -> Value {
        let key = format!("{PREFIX}_runs/last-run.json");
        let records = self.moto.objects(BUCKET, &key).await;
        let record = records.first().expect("the run is recorded");
        serde_json::from_slice(&record.body).expect("the record is JSON")
    }

    async fn assert_nothing_advanced(&self, cursors_before: &Value) {
        for log_type in LogType::ALL {
            assert_eq!(
                self.log_objects(log_type).await,
                Vec::new(),
                "nothing written for {}",
                log_type.name()
            );
        }
        let cursors = self.secret().await["cursors"].clone();
        let no_cursor = |c: &Value| c.is_null() || c.as_object().is_some_and(|c| c.is_empty());
        assert!(
            cursors == *cursors_before || (no_cursor(&cursors) && no_cursor(cursors_before)),
            "the cursors moved: {cursors} (were {cursors_before})"
        );
    }

    /// Invokes a new emulator once and returns its error, checking that no secret was printed.
    async fn failed_run(&self, overrides: &[(&'static str, String)]) -> LambdaError {
        self.failed_run_at(overrides, Utc::now()).await
    }

    /// [`Fixture::failed_run`] for a scheduled event of `reference`.
    async fn failed_run_at(
        &self,
        overrides: &[(&'static str, String)],
        reference: DateTime<Utc>,
    ) -> LambdaError {
        let emulator = self.emulator(overrides);
        let error = emulator
            .invoke(&scheduled_event(reference))
            .await
            .expect_err("the invocation fails");
        let secret = self.secret().await;
        self.assert_no_secret_in(&emulator.output(), &stored_tokens(&secret));
        for token in stored_tokens(&secret) {
            assert!(
                !error.error_message.contains(&token),
                "{}",
                error.error_type
            );
        }
        // A function that started records the failure, as it was returned and with no secret.
        if error.error_type != "ConfigInvalid" {
            let record = self.last_run().await;
            assert_eq!(record["outcome"], "failed", "{record}");
            assert_eq!(record["error_type"], error.error_type.as_str());
            assert_eq!(record["error"], error.error_message.as_str());
            let text = record.to_string();
            for token in stored_tokens(&secret) {
                assert!(!text.contains(&token), "the run record holds a token");
            }
            assert!(!text.contains(&SimConfig::default().client_secret));
        }
        error
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zoom_outage_is_zoom_unavailable_after_retries_and_moves_no_cursor() {
    let f = Fixture::start(SimConfig {
        error_rate_5xx: 1.0,
        ..SimConfig::default()
    })
    .await;
    recent_history(&f);
    let error = f
        // One query at a time: near a day's 23:00 UTC the window holds two slices, and with
        // several queries each would make its own first request.
        .failed_run(&[
            ("LOG_TYPES", "Zoom.Activity".to_owned()),
            ("ZOOM_CONCURRENT_QUERIES", "1".to_owned()),
        ])
        .await;
    assert_eq!(error.error_type, "ZoomUnavailable", "{error:?}");
    let requests = f.sim.stats().report_requests;
    assert!(
        (2..=10).contains(&requests),
        "retried, boundedly: {requests} requests"
    );
    f.assert_nothing_advanced(&Value::Null).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_zoom_refuses_is_zoom_rejected_without_a_retry() {
    let f = Fixture::start(SimConfig::default()).await;
    recent_history(&f);
    f.sim.fault_at(1, Fault::Status(400));
    // An event three days old asks for no day after today: a refusal of a later `to` day is the
    // one refusal that is not final (see the CLI test of a Zoom that refuses future days).
    let error = f
        .failed_run_at(
            &[
                ("LOG_TYPES", "Zoom.Operation".to_owned()),
                ("ZOOM_CONCURRENT_QUERIES", "1".to_owned()),
            ],
            Utc::now() - chrono::Duration::days(3),
        )
        .await;
    assert_eq!(error.error_type, "ZoomRejected", "{error:?}");
    assert!(error.error_message.contains("400"), "{error:?}");
    assert_eq!(f.sim.stats().report_requests, 1, "no retry of a refusal");
    f.assert_nothing_advanced(&Value::Null).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_report_permission_is_no_permission_without_a_retry() {
    let f = Fixture::start(SimConfig {
        report_permission: false,
        ..SimConfig::default()
    })
    .await;
    recent_history(&f);
    let error = f
        .failed_run(&[("ZOOM_CONCURRENT_QUERIES", "1".to_owned())])
        .await;
    assert_eq!(error.error_type, "NoPermission", "{error:?}");
    let requests = f.sim.stats().report_requests;
    assert!(
        requests <= 2,
        "one refused request per log type: {requests}"
    );
    f.assert_nothing_advanced(&Value::Null).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_limit_is_a_clean_stop_with_retry_after_and_the_next_day_resumes() {
    let f = Fixture::start(SimConfig {
        daily_limit: Some(0),
        ..SimConfig::default()
    })
    .await;
    recent_history(&f);
    let next_midnight = || {
        (Utc::now().date_naive() + chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    };
    let emulator = f.emulator(&[]);
    let midnight_before = next_midnight();
    let stopped = succeeded(emulator.invoke(&scheduled_now().0).await);
    // Zoom names the next 00:00 UTC as of its answer: the run may straddle midnight.
    let midnight_after = next_midnight();
    for log_type in LogType::ALL {
        let s = summary_of(&stopped, log_type);
        assert_eq!(s["stopped_early"], "daily_limit", "{s}");
        let retry_after = time(&s["retry_after"]);
        assert!(
            retry_after == midnight_before || retry_after == midnight_after,
            "{s}"
        );
        assert_eq!(s["events_written"], 0, "{s}");
    }
    f.assert_nothing_advanced(&Value::Null).await;
    // The run record says so, outside the log-type folders.
    let record = f.last_run().await;
    assert_eq!(record["outcome"], "stopped_early", "{record}");
    for log_type in LogType::ALL {
        assert_eq!(record["stopped_early"][log_type.name()], "daily_limit");
    }

    // The quota is back: the next run writes everything, once.
    f.sim.set_config(|c| c.daily_limit = None);
    let (event, reference) = scheduled_now();
    let resumed = succeeded(emulator.invoke(&event).await);
    for log_type in LogType::ALL {
        let s = summary_of(&resumed, log_type);
        assert_eq!(s["stopped_early"], Value::Null, "{s}");
        f.assert_exactly_once(
            log_type,
            lookback_start(reference, 1),
            window_end(reference),
        )
        .await;
    }
    let record = f.last_run().await;
    assert_eq!(record["outcome"], "ok", "{record}");
    assert!(
        record["last_error"].is_null(),
        "a stop is not an error: {record}"
    );
    f.assert_no_secret_in(&emulator.output(), &stored_tokens(&f.secret().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_straddling_the_cursor_is_checkpoint_inconsistent_and_changes_nothing() {
    let f = Fixture::start(SimConfig::default()).await;
    recent_history(&f);
    let cursor = whole_second(Utc::now()) - chrono::Duration::hours(5);
    let mut secret: Value = serde_json::from_str(&f.initial_secret).unwrap();
    secret["cursors"] = json!({ "Zoom.Activity": cursor });
    f.put_secret(&secret).await;
    // The documented marker: the window a log type was writing when a run stopped.
    let marker_key = format!("{PREFIX}_checkpoints/Zoom.Activity.json");
    let marker = json!({
        "log_type": "Zoom.Activity",
        "start": cursor - chrono::Duration::hours(1),
        "end": cursor + chrono::Duration::hours(1),
        "object_max_events": 50,
    })
    .to_string();
    f.moto
        .clients()
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(&marker_key)
        .body(marker.clone().into_bytes().into())
        .send()
        .await
        .expect("PutObject");

    let error = f
        .failed_run(&[("LOG_TYPES", "Zoom.Activity".to_owned())])
        .await;
    assert_eq!(error.error_type, "CheckpointInconsistent", "{error:?}");
    f.assert_nothing_advanced(&secret["cursors"]).await;
    let markers = f.moto.objects(BUCKET, &marker_key).await;
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0].body, marker.into_bytes(), "the marker is kept");
}

/// The checkpoint markers and the secret: what a run records as progress.
async fn progress(f: &Fixture) -> (Vec<String>, Value) {
    let markers = f
        .moto
        .objects(BUCKET, &format!("{PREFIX}_checkpoints/"))
        .await
        .into_iter()
        .map(|o| String::from_utf8_lossy(&o.body).into_owned())
        .collect();
    (markers, f.secret().await["cursors"].clone())
}

/// Invokes the function at `reference`, run after run, until every log type is up to date;
/// asserts that every run recorded progress and returns the number of runs.
async fn drain(
    f: &Fixture,
    emulator: &Emulator,
    reference: DateTime<Utc>,
    max_runs: usize,
) -> usize {
    for run in 1..=max_runs {
        let before = progress(f).await;
        let summary = succeeded(emulator.invoke(&scheduled_event(reference)).await);
        let done = LogType::ALL.iter().all(|&t| {
            let s = summary_of(&summary, t);
            s["stopped_early"].is_null() && time(&s["cursor_after"]) == window_end(reference)
        });
        if done {
            return run;
        }
        assert_ne!(
            progress(f).await,
            before,
            "run {run} recorded no progress: {summary}"
        );
    }
    panic!("{max_runs} runs did not drain the backlog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_several_runs_long_drains_exactly_once_against_a_slow_zoom() {
    // Pages of 50 events taking about 0.3 s, a few expired page tokens, a 16 s timeout with an
    // 8 s margin: far more pages than one run can fetch.
    let f = Fixture::start(SimConfig {
        latency: Duration::from_millis(250),
        latency_jitter: Duration::from_millis(100),
        token_expiry_rate: 0.05,
        page_size_cap: 50,
        ..SimConfig::default()
    })
    .await;
    let reference = whole_second(Utc::now());
    let from = reference - chrono::Duration::days(9);
    for (log_type, seed) in [(LogType::Activity, 51), (LogType::Operation, 52)] {
        let events = generate_events(
            log_type,
            6000,
            from,
            reference - chrono::Duration::hours(1),
            seed,
        );
        f.sim.add_events(log_type, events);
    }
    let emulator = f.emulator(&[
        ("INITIAL_LOOKBACK_DAYS", "10".to_owned()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "16".to_owned()),
        ("DEADLINE_MARGIN_SECONDS", "8".to_owned()),
        ("RECHECK_HOURS", "0".to_owned()),
    ]);
    let runs = drain(&f, &emulator, reference, 30).await;
    assert!(runs >= 3, "the backlog takes several runs: {runs}");
    for log_type in LogType::ALL {
        f.assert_exactly_once(
            log_type,
            lookback_start(reference, 10),
            window_end(reference),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_in_days_ascending_order_drains_exactly_once_in_bounded_runs() {
    let f = Fixture::start(SimConfig {
        latency: Duration::from_millis(100),
        order: zoom_sim::Order::DaysAscending,
        day_offset_minutes: -300,
        page_size_cap: 50,
        ..SimConfig::default()
    })
    .await;
    let reference = whole_second(Utc::now());
    let from = reference - chrono::Duration::days(4);
    for (log_type, seed) in [(LogType::Activity, 53), (LogType::Operation, 54)] {
        let events = generate_events(log_type, 2000, from, reference, seed);
        f.sim.add_events(log_type, events);
    }
    let emulator = f.emulator(&[
        ("INITIAL_LOOKBACK_DAYS", "5".to_owned()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "20".to_owned()),
        ("DEADLINE_MARGIN_SECONDS", "8".to_owned()),
        ("ZOOM_MAX_REQUESTS_PER_SECOND", "50".to_owned()),
        ("RECHECK_HOURS", "0".to_owned()),
    ]);
    drain(&f, &emulator, reference, 40).await;
    for log_type in LogType::ALL {
        f.assert_exactly_once(
            log_type,
            lookback_start(reference, 5),
            window_end(reference),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_zoom_reports_late_are_written_once_by_the_recheck() {
    let f = Fixture::start(SimConfig::default()).await;
    recent_history(&f);
    let emulator = f.emulator(&[("RECHECK_INTERVAL_MINUTES", "0".to_owned())]);
    let (event, first) = scheduled_now();
    succeeded(emulator.invoke(&event).await);
    // Events of two hours and of twenty minutes ago, with identical rows, listed only now.
    let cursor = window_end(first);
    for (log_type, seed) in [(LogType::Activity, 61), (LogType::Operation, 62)] {
        for age in [chrono::Duration::minutes(20), chrono::Duration::hours(2)] {
            let at = cursor - age;
            let late = generate_events(log_type, 3, at - chrono::Duration::seconds(1), at, seed);
            f.sim.add_events(log_type, late.clone());
            f.sim.add_events(log_type, late);
        }
    }
    let reference = settled_after(cursor).await + chrono::Duration::seconds(SETTLE_SECONDS);
    let second = succeeded(emulator.invoke(&scheduled_event(reference)).await);
    for log_type in LogType::ALL {
        let recheck = &summary_of(&second, log_type)["recheck"];
        assert_eq!(recheck["late_events"], 12, "{recheck}");
        assert!(
            recheck["late_event_max_age_seconds"].as_i64() >= Some(7200),
            "{recheck}"
        );
        f.assert_exactly_once(log_type, lookback_start(first, 1), window_end(reference))
            .await;
    }
    let metrics = emf_documents(&emulator.output());
    assert!(
        metrics.iter().any(|m| m["LateEvents"] == 12),
        "the late events are a metric"
    );
    let third = succeeded(emulator.invoke(&scheduled_event(reference)).await);
    for log_type in LogType::ALL {
        assert_eq!(summary_of(&third, log_type)["recheck"]["late_events"], 0);
        f.assert_exactly_once(log_type, lookback_start(first, 1), window_end(reference))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_ascending_with_an_exclusive_to_and_a_looping_last_page_write_each_event_once_for_every_consumer()
 {
    // The variants the contract allows, together: days ascending in a zone west of UTC, `to`
    // exclusive, and the last page's token leading back to it three times.
    let f = Fixture::start(SimConfig {
        latency: Duration::from_millis(50),
        order: zoom_sim::Order::DaysAscending,
        day_offset_minutes: -300,
        to_inclusive: false,
        page_loop: zoom_sim::PageLoop::Repeat(3),
        page_size_cap: 50,
        ..SimConfig::default()
    })
    .await;
    f.moto.enable_versioning(BUCKET).await;
    let reference = whole_second(Utc::now());
    let from = reference - chrono::Duration::days(3);
    for (log_type, seed) in [(LogType::Activity, 61), (LogType::Operation, 62)] {
        let events = generate_events(log_type, 1200, from, reference, seed);
        f.sim.add_events(log_type, events);
    }
    let emulator = f.emulator(&[
        ("INITIAL_LOOKBACK_DAYS", "4".to_owned()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "20".to_owned()),
        ("DEADLINE_MARGIN_SECONDS", "8".to_owned()),
        ("ZOOM_MAX_REQUESTS_PER_SECOND", "50".to_owned()),
        ("OBJECT_MAX_EVENTS", "100".to_owned()),
    ]);
    drain(&f, &emulator, reference, 40).await;
    // A later run re-checks the last day: it must find nothing new.
    let later = reference + chrono::Duration::minutes(15);
    let summary = succeeded(emulator.invoke(&scheduled_event(later)).await);
    for log_type in LogType::ALL {
        let s = summary_of(&summary, log_type);
        if !s["recheck"].is_null() {
            assert_eq!(s["recheck"]["late_events"], 0, "{s}");
        }
        let end = time(&s["cursor_after"]);
        f.assert_exactly_once(log_type, lookback_start(reference, 4), end)
            .await;
        f.assert_every_put_exactly_once(log_type, lookback_start(reference, 4), end)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_second_limit_below_the_pace_slows_the_run_and_never_fails_it() {
    // Zoom allows 2 requests a second (the account's other apps took the rest); the function's
    // pace is 10, with 4 queries per log type in flight.
    let f = Fixture::start(SimConfig {
        qps_limit: Some(2),
        page_size_cap: 100,
        ..SimConfig::default()
    })
    .await;
    let t0 = whole_second(Utc::now());
    for (log_type, seed) in [(LogType::Activity, 41), (LogType::Operation, 42)] {
        f.sim.add_events(
            log_type,
            generate_events(
                log_type,
                1_500,
                t0 - chrono::Duration::days(3) + chrono::Duration::hours(1),
                t0 - chrono::Duration::minutes(3),
                seed,
            ),
        );
    }
    let emulator = f.emulator(&[
        ("INITIAL_LOOKBACK_DAYS", "3".to_owned()),
        ("ZOOM_MAX_REQUESTS_PER_SECOND", "10".to_owned()),
        ("ZOOM_CONCURRENT_QUERIES", "4".to_owned()),
    ]);
    let (event, reference) = scheduled_now();
    let mut done = false;
    for _ in 0..6 {
        let summary = succeeded(emulator.invoke(&event).await);
        let stops: Vec<&Value> = LogType::ALL
            .iter()
            .map(|&t| &summary_of(&summary, t)["stopped_early"])
            .collect();
        for stop in &stops {
            assert!(
                stop.is_null() || **stop == "deadline" || **stop == "rate_limited",
                "{summary}"
            );
        }
        if stops.iter().all(|s| s.is_null()) {
            done = true;
            break;
        }
    }
    assert!(done, "the backlog drained");
    assert!(f.sim.stats().rate_limited > 0, "Zoom's limit was met");
    for log_type in LogType::ALL {
        f.assert_exactly_once(
            log_type,
            lookback_start(reference, 3),
            window_end(reference),
        )
        .await;
    }
    f.assert_no_secret_in(&emulator.output(), &stored_tokens(&f.secret().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_report_answer_is_malformed_by_its_size_and_quotes_none_of_it() {
    let f = Fixture::start(SimConfig::default()).await;
    recent_history(&f);
    // A stored access token: the padded answer is the report's, not the token endpoint's.
    let mut secret = f.secret().await;
    secret["access_token"] = f.sim.issue_access_token(Duration::from_secs(3600)).into();
    secret["access_token_expires_at"] = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .into();
    f.put_secret(&secret).await;
    f.sim.set_config(|c| c.pad_response_bytes = 33 << 20);
    let error = f
        .failed_run(&[("LOG_TYPES", "Zoom.Activity".to_owned())])
        .await;
    assert_eq!(error.error_type, "MalformedResponse", "{error:?}");
    assert!(
        error.error_message.contains("more than 33554432 bytes"),
        "{}",
        error.error_message
    );
    assert!(
        !error.error_message.contains('@'),
        "{}",
        error.error_message
    );
}
