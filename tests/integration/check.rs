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
        json!({ "log_type": "Zoom.Operation", "object_max_events": 50,
                "written_through": rfc3339(start), "slices": [
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
    // A file that is not a marker says why without showing its bytes.
    std::fs::write(
        markers.join("Zoom.Activity.json"),
        json!({ "start": "not-a-time", "token": "do-not-print" }).to_string(),
    )
    .unwrap();
    let garbled = check(&puller);
    let garbled_line = line(&garbled, "Zoom.Activity checkpoint");
    assert!(
        garbled_line.contains("not a checkpoint marker"),
        "{garbled_line}"
    );
    assert!(!garbled.all_output().contains("do-not-print"));
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
    let run = check_bucket_through(&puller, &moto, &proxy);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_ignores_conditional_writes_fails_the_output_line_and_says_so() {
    // An S3-compatible store that answers every conditional PUT with 200 without checking it.
    let sim = Simulator::start(SimConfig::default());
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let create_probe = std::sync::atomic::AtomicUsize::new(0);
    let proxy = FailingProxy::start(moto.port(), move |request| {
        let first_create = request.path.contains("probe")
            && request.header("if-none-match").is_some()
            && create_probe.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let conditional =
            request.header("if-match").is_some() || request.header("if-none-match").is_some();
        (request.method == "PUT" && conditional && !first_create).then_some(Injected {
            status: 200,
            content_type: "application/xml",
            body: "",
        })
    })
    .await;
    let puller = LocalPuller::user_app(&sim);
    let run = check_bucket_through(&puller, &moto, &proxy);
    assert!(!run.succeeded(), "{}", run.all_output());
    let output = line(&run, "output");
    assert!(
        output.contains("does not honour conditional writes"),
        "{output}"
    );
}

// ---- Markers the function wrote: `check` and `status` read them with the run's own parser. ----

fn status_json(puller: &LocalPuller) -> Value {
    let run = with_local_backends(puller, &["status", "--json"]);
    assert!(run.succeeded(), "{}", run.all_output());
    serde_json::from_slice(&run.output.stdout).unwrap()
}

/// Asserts that `check` passes every line and that `status` reports no error and no problem for
/// either log type: what a healthy deployment must show.
fn assert_check_and_status_see_a_healthy_setup(puller: &LocalPuller, label: &str) -> Value {
    let run = check(puller);
    assert!(run.succeeded(), "{label}: {}", run.all_output());
    for name in CHECKS {
        assert_passed(&run, name);
    }
    assert_no_secret_printed(&run, &puller.state());
    let status = status_json(puller);
    for log_type in status["log_types"].as_array().unwrap() {
        assert!(log_type.get("errors").is_none(), "{label}: {log_type}");
        assert!(log_type.get("problems").is_none(), "{label}: {log_type}");
    }
    // No error line (`error: …` of a log type, or of the command); the `last error:` line of the
    // run record is not one.
    let text = with_local_backends(puller, &["status"]);
    assert!(
        !text
            .all_output()
            .lines()
            .any(|l| l.trim_start().starts_with("error:")),
        "{label}: {}",
        text.all_output()
    );
    status
}

fn with_recent_events(sim: &Simulator, reference: DateTime<Utc>, count: usize) {
    for (seed, log_type) in crate::support::BOTH.into_iter().enumerate() {
        sim.add_events(
            log_type,
            zoom_sim::generate_events(
                log_type,
                count,
                reference - Duration::hours(20),
                reference,
                seed as u64 + 3,
            ),
        );
    }
}

fn marker(puller: &LocalPuller, log_type: &str) -> Value {
    let path = puller
        .out_dir()
        .join(format!("zoom/_checkpoints/{log_type}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn after_a_complete_pull_check_passes_every_line_and_status_shows_no_error() {
    let sim = Simulator::start(SimConfig::default());
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(30);
    with_recent_events(&sim, reference, 80);
    puller.pull(reference).summary();
    // The marker of a complete run: written through the cursor, no slice left.
    let written = marker(&puller, "Zoom.Activity");
    assert_eq!(written["slices"], json!([]), "{written}");
    assert!(written["claim"].is_string(), "{written}");
    let status = assert_check_and_status_see_a_healthy_setup(&puller, "complete");
    let activity = &status["log_types"][0];
    assert!(activity["open_checkpoint"].is_null(), "{activity}");
    assert_eq!(
        activity["written_through"].as_str().unwrap(),
        rfc3339(reference - Duration::minutes(10))
    );
}

#[test]
fn after_a_deadline_stop_check_passes_and_status_shows_the_open_window() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 5,
        latency: std::time::Duration::from_millis(150),
        ..SimConfig::default()
    });
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(30);
    with_recent_events(&sim, reference, 300);
    let (state, out) = (puller.state_path(), puller.out_dir());
    let run = zoomlogs(
        &puller,
        &[
            "pull",
            "--state-file",
            state.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--reference-time",
            &rfc3339(reference),
            "--run-seconds",
            "2",
        ],
        &[],
    );
    let summary = run.summary();
    assert_eq!(
        summary["log_types"][0]["stopped_early"], "deadline",
        "{summary}"
    );
    let status = assert_check_and_status_see_a_healthy_setup(&puller, "deadline");
    let open = &status["log_types"][0]["open_checkpoint"];
    assert_eq!(open["consistent"], true, "{status}");
    assert_eq!(
        open["end"].as_str().unwrap(),
        rfc3339(reference - Duration::minutes(10))
    );
}

#[test]
fn after_a_crash_mid_slice_check_passes_and_status_shows_the_open_slice() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 10,
        ..SimConfig::default()
    });
    let mut puller = LocalPuller::user_app(&sim);
    puller.set_env("OBJECT_MAX_EVENTS", "10");
    puller.set_env("ZOOM_CONCURRENT_QUERIES", "1");
    let reference = minutes_ago(30);
    with_recent_events(&sim, reference, 200);
    sim.fault_at(6, zoom_sim::Fault::Stall);
    let mut child = puller.spawn(reference);
    assert!(sim.wait_for_stall(std::time::Duration::from_secs(30)));
    child.kill().unwrap();
    child.wait().unwrap();
    sim.release_stalls();
    let open_slices = ["Zoom.Activity", "Zoom.Operation"]
        .iter()
        .filter(|lt| {
            puller
                .out_dir()
                .join(format!("zoom/_checkpoints/{lt}.json"))
                .exists()
                && marker(&puller, lt)["slices"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert!(open_slices > 0, "the killed run left an open slice");
    let status = assert_check_and_status_see_a_healthy_setup(&puller, "crash");
    assert!(
        status["log_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["open_checkpoint"]["consistent"] == true),
        "{status}"
    );
    // The next run finishes the slice; the markers still read.
    puller.pull(reference).summary();
    assert_check_and_status_see_a_healthy_setup(&puller, "after the crash");
}

#[test]
fn after_a_recheck_check_passes_and_status_shows_no_error() {
    let sim = Simulator::start(SimConfig::default());
    let mut puller = LocalPuller::user_app(&sim);
    puller.set_env("RECHECK_INTERVAL_MINUTES", "0");
    let reference = minutes_ago(60);
    with_recent_events(&sim, reference, 80);
    puller.pull(reference).summary();
    puller.pull(reference + Duration::minutes(15)).summary();
    assert!(
        marker(&puller, "Zoom.Activity")["rechecked_at"].is_string(),
        "{}",
        marker(&puller, "Zoom.Activity")
    );
    assert_check_and_status_see_a_healthy_setup(&puller, "recheck");
}

// ---- A cursor or `written_through` in the future stops a log type: both tools say so. ----

#[test]
fn a_cursor_in_the_future_fails_its_check_with_the_value_and_status_flags_it() {
    let sim = Simulator::start(SimConfig::default());
    let future = minutes_ago(-3 * 24 * 60);
    let mut state = state_for(&sim, &SimConfig::default().client_secret);
    state["cursors"] = json!({ "Zoom.Activity": rfc3339(future) });
    let puller = LocalPuller::with_state(&sim, &state);
    let run = check(&puller);
    assert_failed(
        &run,
        "Zoom.Activity checkpoint",
        "CursorInFuture",
        "set the cursor of Zoom.Activity",
    );
    assert!(
        line(&run, "Zoom.Activity checkpoint").contains(&rfc3339(future)),
        "{}",
        run.all_output()
    );
    assert_passed(&run, "Zoom.Operation checkpoint");
    let status = status_json(&puller);
    let problems = status["log_types"][0]["problems"].to_string();
    assert!(
        problems.contains("CursorInFuture") && problems.contains(&rfc3339(future)),
        "{status}"
    );
    let text = with_local_backends(&puller, &["status"]);
    assert!(text.all_output().contains("PROBLEM: CursorInFuture"));
}

#[test]
fn a_marker_written_through_the_future_fails_its_check_with_the_value_and_status_flags_it() {
    let sim = Simulator::start(SimConfig::default());
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(30);
    with_recent_events(&sim, reference, 40);
    puller.pull(reference).summary();
    let future = minutes_ago(-2 * 24 * 60);
    let mut tampered = marker(&puller, "Zoom.Operation");
    tampered["written_through"] = json!(rfc3339(future));
    std::fs::write(
        puller
            .out_dir()
            .join("zoom/_checkpoints/Zoom.Operation.json"),
        tampered.to_string(),
    )
    .unwrap();
    let run = check(&puller);
    assert_failed(
        &run,
        "Zoom.Operation checkpoint",
        "CursorInFuture",
        "written_through",
    );
    assert!(line(&run, "Zoom.Operation checkpoint").contains(&rfc3339(future)));
    assert_passed(&run, "Zoom.Activity checkpoint");
    let status = status_json(&puller);
    assert!(
        status["log_types"][1]["problems"]
            .to_string()
            .contains(&rfc3339(future)),
        "{status}"
    );
}

// ---- What Zoom really does, measured on the account, in at most 10 report requests. ----

/// Events over the last five days, plus one 30 s after the zone's start of the fourth day back and
/// one 30 s before the zone's end of the third and of the second day back (the ends of the facts'
/// query over days four to two back, `to` exclusive or inclusive), so that the zone can be
/// inferred.
fn events_for_facts(sim: &Simulator, offset_minutes: i64, count: usize) {
    let now = Utc::now();
    let today = now.date_naive();
    let midnight = |days_back: i64| {
        (today - Duration::days(days_back))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            - Duration::minutes(offset_minutes)
    };
    let log_type = zoom_sim::LogType::Activity;
    let mut events = zoom_sim::generate_events(log_type, count, now - Duration::days(5), now, 17);
    // The last day of the query is the second day back if `to` is exclusive, else the first.
    let edges = [
        midnight(4) + Duration::seconds(30),
        midnight(2) - Duration::seconds(30),
        midnight(1) - Duration::seconds(30),
    ];
    for (i, t) in edges.into_iter().enumerate() {
        events.extend(zoom_sim::generate_events(
            log_type,
            1,
            t - Duration::seconds(1),
            t,
            i as u64,
        ));
    }
    sim.add_events(log_type, events);
}

fn facts_of(run: &Run) -> Value {
    let result: Value = serde_json::from_slice(&run.output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", run.all_output()));
    let mut facts = serde_json::Map::new();
    for fact in result["zoom_facts"].as_array().unwrap() {
        facts.insert(
            fact["name"].as_str().unwrap().to_owned(),
            json!({ "value": fact["value"], "evidence": fact["evidence"] }),
        );
    }
    Value::Object(facts)
}

fn value(facts: &Value, name: &str) -> String {
    facts[name]["value"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn check_measures_an_inclusive_to_an_accepted_future_to_newest_first_and_utc() {
    let sim = Simulator::start(SimConfig::default());
    events_for_facts(&sim, 0, 600);
    let puller = LocalPuller::user_app(&sim);
    let run = with_local_backends(&puller, &["check", "--json"]);
    assert!(run.succeeded(), "{}", run.all_output());
    let facts = facts_of(&run);
    assert_eq!(value(&facts, "to inclusive"), "inclusive", "{facts}");
    assert_eq!(value(&facts, "to after today"), "accepted", "{facts}");
    assert_eq!(value(&facts, "page order"), "newest first", "{facts}");
    assert_eq!(value(&facts, "day boundary zone"), "UTC", "{facts}");
    let text = check(&puller);
    let printed = String::from_utf8_lossy(&text.output.stdout).into_owned();
    assert!(printed.contains("fact  to inclusive"), "{printed}");
    assert!(printed.contains("evidence: from = to = "), "{printed}");
    assert_no_secret_printed(&run, &puller.state());
}

#[test]
fn check_measures_an_exclusive_to_a_refused_future_to_oldest_first_and_a_zone_west_of_utc() {
    let sim = Simulator::start(SimConfig {
        to_inclusive: false,
        refuse_future_to: true,
        order: zoom_sim::Order::OldestFirst,
        day_offset_minutes: -300,
        ..SimConfig::default()
    });
    events_for_facts(&sim, -300, 600);
    let puller = LocalPuller::user_app(&sim);
    let run = with_local_backends(&puller, &["check", "--json"]);
    let facts = facts_of(&run);
    assert_eq!(value(&facts, "to inclusive"), "exclusive", "{facts}");
    assert_eq!(value(&facts, "to after today"), "refused", "{facts}");
    assert_eq!(value(&facts, "page order"), "oldest first", "{facts}");
    assert_eq!(value(&facts, "day boundary zone"), "UTC-05:00", "{facts}");
}

#[test]
fn check_measures_days_ascending_and_a_zone_east_of_utc() {
    let sim = Simulator::start(SimConfig {
        order: zoom_sim::Order::DaysAscending,
        day_offset_minutes: 120,
        ..SimConfig::default()
    });
    events_for_facts(&sim, 120, 600);
    let puller = LocalPuller::user_app(&sim);
    let facts = facts_of(&with_local_backends(&puller, &["check", "--json"]));
    assert_eq!(
        value(&facts, "page order"),
        "days ascending, each day newest first",
        "{facts}"
    );
    assert_eq!(value(&facts, "day boundary zone"), "UTC+02:00", "{facts}");
}

#[test]
fn the_facts_cost_at_most_ten_report_requests_however_many_pages_zoom_has() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 5,
        ..SimConfig::default()
    });
    events_for_facts(&sim, 0, 2000);
    let puller = LocalPuller::user_app(&sim);
    let run = with_local_backends(&puller, &["check", "--json"]);
    assert!(run.succeeded(), "{}", run.all_output());
    let stats = sim.stats();
    // One request per report for the report lines, the rest for the facts.
    assert_eq!(stats.operation_requests, 1);
    assert_eq!(stats.activity_requests, 1 + 10, "{stats:?}");
    let facts = facts_of(&run);
    assert!(
        facts["page order"]["evidence"]
            .as_str()
            .unwrap()
            .contains("not every page asked"),
        "{facts}"
    );
    assert_eq!(value(&facts, "page order"), "newest first", "{facts}");
}

/// `zoomlogs check` against bucket `logs`, its S3 requests going through `proxy` to `moto`.
fn check_bucket_through(puller: &LocalPuller, moto: &Moto, proxy: &FailingProxy) -> Run {
    let state = puller.state_path();
    let mut env = moto_env(moto);
    env.push(("AWS_ENDPOINT_URL_S3", proxy.endpoint()));
    tokio::task::block_in_place(|| {
        zoomlogs(
            puller,
            &[
                "check",
                "--state-file",
                state.to_str().unwrap(),
                "--bucket",
                "logs",
            ],
            &env,
        )
    })
}
