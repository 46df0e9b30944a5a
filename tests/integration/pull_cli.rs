//! The `zoomlogs pull` binary against the Zoom simulator over real HTTP: exactly once across runs,
//! zones, orders and faults; token rotation; typed failures that change nothing; no secret in logs.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use zoom_sim::{Fault, LogType, Order, SimConfig, Simulator, generate_events};

use crate::support::{BOTH, LocalPuller, assert_exactly_once, minutes_ago};

const SETTLE: Duration = Duration::minutes(10);

fn sim_with(change: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig {
        page_size_cap: 40,
        ..SimConfig::default()
    };
    change(&mut config);
    Simulator::start(config)
}

/// Two identical rows in the second of `edge`, one in the second after it.
fn ties_at(log_type: LogType, edge: DateTime<Utc>) -> Vec<String> {
    let row = |t: DateTime<Utc>| match log_type {
        LogType::Activity => format!(
            r#"{{"email":"tie@example.com","time":"{}","type":"Sign out","ip_address":"10.0.0.1","client_type":"Browser","version":"-"}}"#,
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        LogType::Operation => format!(
            r#"{{"time":"{}","operator":"admin@example.com","category_type":"User","action":"Delete","operation_detail":"Delete  User tie@example.com"}}"#,
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    };
    vec![row(edge), row(edge), row(edge + Duration::seconds(1))]
}

/// Events happening before a run at `reference`: spread over `(since, reference]`, plus ties at
/// the run's window edge.
fn events_happen(
    sim: &Simulator,
    since: DateTime<Utc>,
    reference: DateTime<Utc>,
    count: usize,
    seed: u64,
) {
    for log_type in BOTH {
        sim.add_events(
            log_type,
            generate_events(log_type, count, since, reference, seed),
        );
        sim.add_events(log_type, ties_at(log_type, reference - SETTLE));
    }
}

/// Three runs 15 minutes apart with events added before each; everything in the covered windows
/// must be written exactly once.
fn three_runs_exactly_once(sim: &Simulator) {
    let puller = LocalPuller::user_app(sim);
    let r1 = minutes_ago(60);
    let start = r1 - Duration::days(1);
    events_happen(sim, r1 - Duration::days(2), r1, 400, 1);
    let mut reference = r1;
    for run in 0..3 {
        if run > 0 {
            let next = reference + Duration::minutes(15);
            events_happen(sim, reference, next, 30, 10 + run);
            reference = next;
        }
        let summary = puller.pull(reference).summary();
        for log_type in summary["log_types"].as_array().unwrap() {
            assert!(log_type["stopped_early"].is_null(), "{log_type}");
        }
    }
    assert_exactly_once(&puller, sim, start, reference - SETTLE);
    for log_type in BOTH {
        assert_eq!(puller.cursor(log_type), Some(reference - SETTLE));
    }
}

#[test]
fn three_runs_with_events_added_between_write_each_event_once() {
    three_runs_exactly_once(&sim_with(|_| {}));
}

#[test]
fn exactly_once_when_zoom_days_end_at_utc_plus_14() {
    three_runs_exactly_once(&sim_with(|c| c.day_offset_minutes = 14 * 60));
}

#[test]
fn exactly_once_when_zoom_days_end_at_utc_minus_10_and_to_is_exclusive() {
    three_runs_exactly_once(&sim_with(|c| {
        c.day_offset_minutes = -10 * 60;
        c.to_inclusive = false;
    }));
}

#[test]
fn exactly_once_when_pages_come_shuffled() {
    three_runs_exactly_once(&sim_with(|c| c.order = Order::Shuffled));
}

#[test]
fn exactly_once_when_pages_come_oldest_first() {
    three_runs_exactly_once(&sim_with(|c| c.order = Order::OldestFirst));
}

#[test]
fn a_zoom_that_refuses_future_days_holds_the_window_at_todays_10_utc_and_loses_nothing() {
    let sim = sim_with(|c| c.refuse_future_to = true);
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(1);
    let start = reference - Duration::days(1);
    events_happen(&sim, reference - Duration::days(2), reference, 600, 7);
    let end = reference - SETTLE;
    for run in 0..2 {
        let summary = puller.pull(reference).summary();
        // The run's own "today": a run started just before midnight keeps the day it started on.
        let today = Utc::now().date_naive();
        let held = |day: chrono::NaiveDate| day.and_hms_opt(10, 0, 0).unwrap().and_utc();
        let (held_today, held_yesterday) = (held(today), held(today.pred_opt().unwrap()));
        for (log_type, s) in BOTH
            .into_iter()
            .zip(summary["log_types"].as_array().unwrap())
        {
            assert!(s["error"].is_null(), "run {run}: {s}");
            let after = puller.cursor(log_type).unwrap();
            assert!(after <= end, "run {run}: {after}");
            let held_at = s["held_at"]
                .as_str()
                .map(|t| t.parse::<DateTime<Utc>>().unwrap());
            match held_at {
                Some(at) => {
                    assert!(at == held_today || at == held_yesterday, "run {run}: {s}");
                    // The first run's last slice, planned before Zoom refused, is cut there.
                    assert!(at < end && after == at, "run {run}: {s}");
                }
                // Before 10:10 UTC what Zoom's today covers reaches the window end.
                None => assert_eq!(after, end, "run {run}: {s}"),
            }
            assert!(s["stopped_early"].is_null(), "run {run}: {s}");
        }
    }
    let written_through = BOTH
        .map(|t| puller.cursor(t).unwrap())
        .into_iter()
        .min()
        .unwrap();
    assert!(
        written_through > start,
        "the backlog before today was written"
    );
    assert_exactly_once(&puller, &sim, start, written_through);
}

/// One run over a day of events with faults on the way, then a check of exactly once.
fn survives(
    faults: &[(u64, Fault)],
    change: impl FnOnce(&mut SimConfig),
) -> (Simulator, LocalPuller) {
    let sim = sim_with(change);
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(30);
    events_happen(&sim, reference - Duration::days(2), reference, 300, 7);
    for (at, fault) in faults {
        sim.fault_at(*at, fault.clone());
    }
    puller.pull(reference).summary();
    assert_exactly_once(
        &puller,
        &sim,
        reference - Duration::days(1),
        reference - SETTLE,
    );
    (sim, puller)
}

#[test]
fn per_second_rate_limits_are_waited_out() {
    let (sim, _) = survives(
        &[
            (2, Fault::RateLimitQps { headers: true }),
            (3, Fault::RateLimitQps { headers: false }),
            (5, Fault::RateLimitQps { headers: true }),
        ],
        |_| {},
    );
    assert_eq!(sim.stats().rate_limited, 3);
}

#[test]
fn server_errors_and_dropped_connections_are_retried() {
    survives(
        &[
            (1, Fault::Status(503)),
            (3, Fault::Drop),
            (4, Fault::Status(500)),
            (6, Fault::Drop),
        ],
        |_| {},
    );
}

#[test]
fn an_expired_page_token_restarts_that_query() {
    survives(
        &[(3, Fault::ExpirePageToken), (9, Fault::ExpirePageToken)],
        |_| {},
    );
}

#[test]
fn an_expired_access_token_is_renewed_once_and_the_call_retried() {
    let (sim, puller) = survives(&[(2, Fault::AccessTokenExpired)], |_| {});
    assert_eq!(sim.stats().refresh_grants, 2);
    assert_eq!(
        puller.state()["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
}

fn daily_limit_stops_then_resumes(headers: bool) {
    let sim = sim_with(|_| {});
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(30);
    events_happen(&sim, reference - Duration::days(2), reference, 300, 3);
    sim.fault_at(4, Fault::DailyLimit { headers });
    let next_midnight = || {
        (Utc::now().date_naive() + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };
    let midnight_before = next_midnight();
    let summary = puller.pull(reference).summary();
    // Zoom names the next 00:00 UTC as of its answer: the run may straddle midnight.
    let midnight_after = next_midnight();
    let stopped: Vec<_> = summary["log_types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stopped_early"] == "daily_limit")
        .collect();
    assert_eq!(stopped.len(), 1, "{summary}");
    if headers {
        let retry_after: DateTime<Utc> =
            stopped[0]["retry_after"].as_str().unwrap().parse().unwrap();
        assert!(
            retry_after == midnight_before || retry_after == midnight_after,
            "{retry_after}"
        );
    } else {
        assert!(stopped[0]["retry_after"].is_null());
    }
    next_run_completes_exactly_once(&sim, &puller, reference);
}

/// After an interrupted first run at `reference`, events happen and a run 15 minutes later must
/// leave every event since the first run's start written exactly once.
fn next_run_completes_exactly_once(
    sim: &Simulator,
    puller: &LocalPuller,
    reference: DateTime<Utc>,
) {
    let later = reference + Duration::minutes(15);
    events_happen(sim, reference, later, 20, 99);
    puller.pull(later).summary();
    assert_exactly_once(puller, sim, reference - Duration::days(1), later - SETTLE);
}

#[test]
fn a_daily_limit_with_a_retry_after_date_stops_cleanly_and_the_next_run_resumes() {
    daily_limit_stops_then_resumes(true);
}

#[test]
fn a_daily_limit_without_headers_stops_cleanly_and_the_next_run_resumes() {
    daily_limit_stops_then_resumes(false);
}

#[test]
fn a_process_killed_at_any_of_several_points_then_rerun_writes_each_event_once() {
    for stall_at in [1, 2, 4, 7] {
        let sim = sim_with(|c| c.page_size_cap = 25);
        let mut puller = LocalPuller::user_app(&sim);
        puller.set_env("OBJECT_MAX_EVENTS", "10");
        let reference = minutes_ago(30);
        events_happen(
            &sim,
            reference - Duration::days(2),
            reference,
            300,
            stall_at,
        );
        sim.fault_at(stall_at, Fault::Stall);
        let mut child = puller.spawn(reference);
        assert!(
            sim.wait_for_stall(StdDuration::from_secs(30)),
            "the run reached request {stall_at}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        sim.release_stalls();

        next_run_completes_exactly_once(&sim, &puller, reference);
    }
}

#[test]
fn the_rotated_refresh_token_is_stored_and_a_cached_access_token_needs_no_token_call() {
    let sim = sim_with(|_| {});
    let puller = LocalPuller::user_app(&sim);
    let first_refresh = puller.state()["refresh_token"].as_str().unwrap().to_owned();
    let reference = minutes_ago(30);
    events_happen(&sim, reference - Duration::hours(2), reference, 50, 5);
    let first = puller.pull(reference);
    first.summary();

    let state = puller.state();
    assert_eq!(
        state["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
    assert_ne!(state["refresh_token"].as_str().unwrap(), first_refresh);
    assert_eq!(state["note"], "fields the puller does not know are kept");
    let expires: DateTime<Utc> = state["access_token_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires > Utc::now() + Duration::minutes(50));
    // The old refresh token is dead at Zoom.
    let old = token_call::refresh_status(&sim, &first_refresh);
    assert_eq!(old, 400);

    let tokens_before = sim.stats().token_requests;
    let second = puller.pull(reference + Duration::minutes(15));
    second.summary();
    assert_eq!(
        sim.stats().token_requests,
        tokens_before,
        "the cached access token was reused"
    );

    // No line at any level shows a credential.
    let access = state["access_token"].as_str().unwrap();
    let secrets = [
        first_refresh.as_str(),
        state["refresh_token"].as_str().unwrap(),
        access,
        "sim-client-secret",
    ];
    for run in [&first, &second] {
        let output = run.all_output();
        assert!(output.lines().count() > 10, "trace logging is on");
        for secret in secrets {
            assert!(
                !output.contains(secret),
                "a credential leaked into the output"
            );
        }
    }
}

/// A tiny client for the one raw token call the tests make themselves.
mod token_call {
    use zoom_sim::{SimConfig, Simulator};

    /// Tries a refresh with `token` and returns the HTTP status.
    pub fn refresh_status(sim: &Simulator, token: &str) -> u16 {
        let config = SimConfig::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            reqwest::Client::new()
                .post(sim.oauth_url())
                .basic_auth(config.client_id, Some(config.client_secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }
}

#[test]
fn a_revoked_refresh_token_is_a_typed_error_that_changes_nothing_and_calls_no_report() {
    let sim = sim_with(|_| {});
    let puller = LocalPuller::user_app(&sim);
    sim.revoke_all();
    let before = puller.state_text();
    let run = puller.pull(minutes_ago(30));
    run.assert_failed_with("AuthRevoked");
    assert_eq!(puller.state_text(), before);
    assert_eq!(sim.stats().report_requests, 0);
    assert_eq!(sim.stats().rejected_refresh, 1, "no retry loop");
}

#[test]
fn a_missing_scope_is_a_typed_error() {
    let sim = sim_with(|c| c.scopes = vec!["user:read:admin".into()]);
    let puller = LocalPuller::user_app(&sim);
    let run = puller.pull(minutes_ago(30));
    run.assert_failed_with("MissingScope");
    assert_eq!(puller.cursor(LogType::Activity), None);
}

#[test]
fn malformed_responses_are_clear_errors_and_move_no_cursor() {
    for fault in [
        Fault::InvalidJson,
        Fault::HtmlErrorPage,
        Fault::MissingArray,
    ] {
        let sim = sim_with(|_| {});
        let mut puller = LocalPuller::user_app(&sim);
        puller.set_env("LOG_TYPES", "Zoom.Operation");
        let reference = minutes_ago(30);
        events_happen(&sim, reference - Duration::days(2), reference, 200, 2);
        sim.fault_at(3, fault.clone());
        let run = puller.pull(reference);
        run.assert_failed_with("MalformedResponse");
        assert_eq!(puller.cursor(LogType::Operation), None, "{fault:?}");
    }
}

#[test]
fn a_server_to_server_app_pulls_with_account_credentials() {
    let sim = sim_with(|_| {});
    let config = SimConfig::default();
    let state = serde_json::json!({
        "client_id": config.client_id, "client_secret": config.client_secret, "account_id": config.account_id,
    });
    let puller = LocalPuller::with_state(&sim, &state);
    let reference = minutes_ago(30);
    events_happen(&sim, reference - Duration::days(2), reference, 100, 8);
    puller.pull(reference).summary();
    assert_exactly_once(
        &puller,
        &sim,
        reference - Duration::days(1),
        reference - SETTLE,
    );
    assert_eq!(sim.stats().account_credentials_grants, 1);
    assert!(puller.state()["access_token"].is_string());
}

#[test]
fn a_malformed_state_file_is_refused_and_left_untouched() {
    let sim = sim_with(|_| {});
    let puller = LocalPuller::with_state(&sim, &serde_json::json!({"client_id": "x"}));
    let before = puller.state_text();
    let run = puller.pull(minutes_ago(30));
    run.assert_failed_with("StateInvalid");
    assert_eq!(puller.state_text(), before);
    assert_eq!(sim.stats().token_requests, 0);
}

#[cfg(unix)]
#[test]
fn the_rewritten_state_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;

    let sim = sim_with(|_| {});
    let puller = LocalPuller::user_app(&sim);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for (run, original) in [(0, 0o600), (1, 0o640)] {
        std::fs::set_permissions(
            puller.state_path(),
            std::fs::Permissions::from_mode(original),
        )
        .unwrap();
        let before = puller.state_text();
        puller.pull(minutes_ago(30 - 15 * run)).summary();
        assert_ne!(
            puller.state_text(),
            before,
            "the run rewrote the state file"
        );
        assert_eq!(mode(&puller.state_path()), original, "{original:o}");
    }
    let mut entries: Vec<_> = std::fs::read_dir(puller.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("state.json"))
        .collect();
    entries.sort();
    // The empty lock file of the compare-and-swap stays; no temporary copy does.
    assert_eq!(
        entries,
        ["state.json", "state.json.lock"],
        "no temporary file is left behind"
    );
}
