//! `zoomlogs check` against the simulator, a local state file and folder, and moto: a working
//! setup passes and refreshes only when it must; then one failure at a time (wrong client secret,
//! revoked authorization, missing scope, no *View reports*, a bucket that refuses, a marker that
//! straddles its cursor), each with its line, its fix and a non-zero exit. After every check the
//! stored refresh token is still one Zoom accepts, and no secret is printed.

use std::process::Command;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use zoom_sim::{SimConfig, Simulator};

use crate::support::moto::{FailingProxy, Injected, Moto};
use crate::support::{LocalPuller, Run, minutes_ago};

const CHECKS: [&str; 7] = [
    "state document",
    "Zoom OAuth",
    "Zoom.Activity report",
    "Zoom.Operation report",
    "output",
    "Zoom.Activity checkpoint",
    "Zoom.Operation checkpoint",
];

/// Runs `zoomlogs ARGS` with the puller's environment plus `extra`.
pub fn zoomlogs(puller: &LocalPuller, args: &[&str], extra: &[(&str, String)]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_zoomlogs"))
        .args(args)
        .env_clear()
        .envs(puller.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    Run { output }
}

/// `args` followed by the puller's state file and output folder.
pub fn with_local_backends(puller: &LocalPuller, args: &[&str]) -> Run {
    let state = puller.state_path();
    let out = puller.out_dir();
    let mut all = args.to_vec();
    all.extend([
        "--state-file",
        state.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
    ]);
    zoomlogs(puller, &all, &[])
}

/// The environment that points the AWS SDK at moto.
pub fn moto_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("S3_FORCE_PATH_STYLE", "true".to_owned()),
    ]
}

/// Asserts that no credential of `state` appears in anything the run printed.
pub fn assert_no_secret_printed(run: &Run, state: &Value) {
    let output = run.all_output();
    for field in ["client_secret", "refresh_token", "access_token"] {
        if let Some(secret) = state[field].as_str() {
            assert!(!output.contains(secret), "{field} was printed");
        }
    }
}

fn check(puller: &LocalPuller) -> Run {
    with_local_backends(puller, &["check"])
}

/// The checklist line of `name` (mark, name, detail).
fn line(run: &Run, name: &str) -> String {
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
        .to_owned()
}

/// The fix printed under the line of `name`.
fn fix(run: &Run, name: &str) -> String {
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    let mut lines = stdout.lines();
    lines.find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name)));
    let fix = lines.next().unwrap_or_default();
    assert!(
        fix.trim_start().starts_with("fix: "),
        "no fix under {name}: {stdout}"
    );
    fix.trim_start().to_owned()
}

fn assert_passed(run: &Run, name: &str) {
    let line = line(run, name);
    assert!(line.starts_with("ok "), "{line}\n{}", run.all_output());
}

/// Asserts a failed check: its line names `error_type`, its fix mentions `fix_mentions`, and the
/// command exits non-zero with `error: CheckFailed`.
fn assert_failed(run: &Run, name: &str, error_type: &str, fix_mentions: &str) {
    run.assert_failed_with("CheckFailed");
    let line = line(run, name);
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains(error_type), "{line}");
    let fix = fix(run, name);
    assert!(fix.contains(fix_mentions), "{fix}");
}

fn assert_skipped(run: &Run, name: &str) {
    let line = line(run, name);
    assert!(line.starts_with("skip"), "{line}");
}

fn assert_refresh_token_is_zooms(puller: &LocalPuller, sim: &Simulator) {
    assert_eq!(
        puller.state()["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref(),
        "the stored refresh token is Zoom's current one"
    );
}

fn state_for(sim: &Simulator, client_secret: &str) -> Value {
    json!({
        "client_id": SimConfig::default().client_id,
        "client_secret": client_secret,
        "refresh_token": sim.authorize(),
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[test]
fn a_working_setup_passes_every_check_and_refreshes_only_when_it_must() {
    let sim = Simulator::start(SimConfig::default());
    let puller = LocalPuller::user_app(&sim);

    let first = check(&puller);
    assert!(first.succeeded(), "{}", first.all_output());
    for name in CHECKS {
        assert_passed(&first, name);
    }
    assert!(line(&first, "Zoom OAuth").contains("refreshed"));
    assert!(line(&first, "output").contains("removed the probe"));
    assert_eq!(sim.stats().refresh_grants, 1);
    assert_refresh_token_is_zooms(&puller, &sim);

    let second = check(&puller);
    assert!(second.succeeded(), "{}", second.all_output());
    assert!(line(&second, "Zoom OAuth").contains("not refreshed"));
    assert_eq!(
        sim.stats().refresh_grants,
        1,
        "the stored access token was used"
    );
    assert_refresh_token_is_zooms(&puller, &sim);
    assert_no_secret_printed(&second, &puller.state());

    // Nothing a run depends on changed: no cursor, no marker, no object; the next run works.
    assert_eq!(puller.state()["cursors"], json!({}));
    assert!(
        !puller
            .out_dir()
            .join("zoom/_check")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
    assert!(!puller.out_dir().join("zoom/_checkpoints").exists());
    puller.pull(minutes_ago(30)).summary();
}

#[test]
fn a_wrong_client_secret_fails_the_oauth_line_and_rotates_nothing() {
    let sim = Simulator::start(SimConfig::default());
    let puller = LocalPuller::with_state(&sim, &state_for(&sim, "not-the-client-secret"));
    let run = check(&puller);
    assert_failed(&run, "Zoom OAuth", "AuthRevoked", "client_secret");
    assert_skipped(&run, "Zoom.Activity report");
    assert_passed(&run, "output");
    assert_refresh_token_is_zooms(&puller, &sim);
    assert_no_secret_printed(&run, &puller.state());
}

#[test]
fn a_revoked_authorization_fails_the_oauth_line_and_leaves_the_state_as_it_was() {
    let sim = Simulator::start(SimConfig::default());
    let puller = LocalPuller::user_app(&sim);
    let before = puller.state_text();
    sim.revoke_all();
    let run = check(&puller);
    assert_failed(&run, "Zoom OAuth", "AuthRevoked", "zoomlogs authorize");
    assert_skipped(&run, "Zoom.Operation report");
    assert_eq!(puller.state_text(), before);
    assert_no_secret_printed(&run, &puller.state());
}

#[test]
fn a_missing_scope_fails_the_line_of_that_report_only() {
    let sim = Simulator::start(SimConfig {
        scopes: vec!["report:read:user_activities:admin".into()],
        ..SimConfig::default()
    });
    let puller = LocalPuller::user_app(&sim);
    let run = check(&puller);
    assert_passed(&run, "Zoom.Activity report");
    assert_failed(
        &run,
        "Zoom.Operation report",
        "MissingScope",
        "report:read:operation_logs:admin",
    );
    assert_refresh_token_is_zooms(&puller, &sim);
    assert_no_secret_printed(&run, &puller.state());
}

#[test]
fn a_user_without_view_reports_fails_both_report_lines() {
    let sim = Simulator::start(SimConfig {
        report_permission: false,
        ..SimConfig::default()
    });
    let puller = LocalPuller::user_app(&sim);
    let run = check(&puller);
    assert_passed(&run, "Zoom OAuth");
    for name in ["Zoom.Activity report", "Zoom.Operation report"] {
        assert_failed(&run, name, "NoPermission", "View reports");
    }
    assert_refresh_token_is_zooms(&puller, &sim);
}

#[test]
fn a_marker_that_straddles_its_cursor_fails_with_the_cursor_to_set() {
    let sim = Simulator::start(SimConfig::default());
    let cursor = minutes_ago(60);
    let mut state = state_for(&sim, &SimConfig::default().client_secret);
    state["cursors"] =
        json!({ "Zoom.Activity": rfc3339(cursor), "Zoom.Operation": rfc3339(cursor) });
    let puller = LocalPuller::with_state(&sim, &state);
    let markers = puller.out_dir().join("zoom/_checkpoints");
    std::fs::create_dir_all(&markers).unwrap();
    let start = cursor - Duration::minutes(10);
    std::fs::write(
        markers.join("Zoom.Activity.json"),
        json!({ "log_type": "Zoom.Activity", "start": rfc3339(start),
                "end": rfc3339(cursor + Duration::minutes(5)), "object_max_events": 50 })
        .to_string(),
    )
    .unwrap();
    // A cursor on a slice boundary is where a run that stopped mid-window leaves it.
    std::fs::write(
        markers.join("Zoom.Operation.json"),
        json!({ "slices": [
            { "start": rfc3339(start), "end": rfc3339(cursor) },
            { "start": rfc3339(cursor), "end": rfc3339(cursor + Duration::minutes(5)) },
        ] })
        .to_string(),
    )
    .unwrap();
    let run = check(&puller);
    assert_failed(
        &run,
        "Zoom.Activity checkpoint",
        "CheckpointInconsistent",
        &rfc3339(start),
    );
    assert_passed(&run, "Zoom.Operation checkpoint");
    assert_passed(&run, "Zoom OAuth");
    assert_refresh_token_is_zooms(&puller, &sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_secrets_manager_and_s3_a_check_passes_then_names_a_bucket_that_refuses() {
    let sim = Simulator::start(SimConfig::default());
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let state = state_for(&sim, &SimConfig::default().client_secret);
    moto.create_secret("zoom/state", &state.to_string()).await;
    let puller = LocalPuller::with_state(&sim, &json!({}));
    let env = moto_env(&moto);
    let run_check = |bucket: &str| {
        tokio::task::block_in_place(|| {
            zoomlogs(
                &puller,
                &["check", "--secret-id", "zoom/state", "--bucket", bucket],
                &env,
            )
        })
    };
    let secret =
        || async { serde_json::from_str::<Value>(&moto.secret("zoom/state").await).unwrap() };

    let passing = run_check("logs");
    assert!(passing.succeeded(), "{}", passing.all_output());
    assert!(line(&passing, "output").contains("s3://logs/zoom/_check/probe-"));
    assert!(
        moto.objects("logs", "").await.is_empty(),
        "the probe is removed"
    );
    let stored = secret().await;
    assert_eq!(
        stored["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
    assert_no_secret_printed(&passing, &stored);

    let refused = run_check("no-such-bucket");
    assert_failed(&refused, "output", "StorageFailed", "bucket");
    assert_passed(&refused, "Zoom OAuth");
    let stored = secret().await;
    assert_eq!(
        stored["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
    assert_no_secret_printed(&refused, &stored);
}

#[test]
fn a_server_to_server_app_passes_with_an_access_token_that_is_not_stored() {
    let sim = Simulator::start(SimConfig::default());
    let config = SimConfig::default();
    let puller = LocalPuller::with_state(
        &sim,
        &json!({ "client_id": config.client_id, "client_secret": config.client_secret,
                 "account_id": config.account_id }),
    );
    let before = puller.state_text();
    let run = check(&puller);
    assert!(run.succeeded(), "{}", run.all_output());
    assert!(line(&run, "Zoom OAuth").contains("granted"));
    assert_eq!(sim.stats().account_credentials_grants, 1);
    assert_eq!(
        puller.state_text(),
        before,
        "nothing to store without a rotation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_the_role_may_not_delete_is_left_and_named() {
    let sim = Simulator::start(SimConfig::default());
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let proxy = FailingProxy::start(moto.port(), |request| {
        (request.method == "DELETE").then_some(Injected {
            status: 403,
            content_type: "application/xml",
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        })
    })
    .await;
    let puller = LocalPuller::user_app(&sim);
    let state = puller.state_path();
    let mut env = moto_env(&moto);
    env.push(("AWS_ENDPOINT_URL_S3", proxy.endpoint()));
    let run = tokio::task::block_in_place(|| {
        zoomlogs(
            &puller,
            &[
                "check",
                "--state-file",
                state.to_str().unwrap(),
                "--bucket",
                "logs",
            ],
            &env,
        )
    });
    assert!(run.succeeded(), "{}", run.all_output());
    let objects = moto.objects("logs", "").await;
    assert_eq!(objects.len(), 1);
    assert!(
        objects[0].key.starts_with("zoom/_check/probe-"),
        "{}",
        objects[0].key
    );
    let output = line(&run, "output");
    assert!(
        output.contains(&format!("s3://logs/{}", objects[0].key)),
        "{output}"
    );
    assert!(output.contains("left in place"), "{output}");
    assert_eq!(proxy.injected(), 1);
    assert_refresh_token_is_zooms(&puller, &sim);
}
