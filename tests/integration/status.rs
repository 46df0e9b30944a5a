//! `zoomlogs status` after a pull, over a state file and folder and over Secrets Manager and S3
//! (moto): cursors and lag, the open checkpoint, the newest object, the access token's expiry,
//! and never a secret value, in text and in JSON. The moto test also pulls with `--secret-id` and
//! `--bucket`, the CLI's way into real AWS.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use zoom_sim::{SimConfig, Simulator, generate_events};

use crate::check::{assert_no_secret_printed, moto_env, with_local_backends, zoomlogs};
use crate::support::moto::Moto;
use crate::support::{BOTH, LocalPuller, Run, minutes_ago};

fn with_events(sim: &Simulator, reference: DateTime<Utc>) {
    for log_type in BOTH {
        sim.add_events(
            log_type,
            generate_events(log_type, 60, reference - Duration::hours(20), reference, 5),
        );
    }
}

fn stdout(run: &Run) -> String {
    assert!(run.succeeded(), "{}", run.all_output());
    String::from_utf8(run.output.stdout.clone()).unwrap()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Asserts the JSON status of one log type against the cursor the state holds.
fn assert_log_type(status: &Value, index: usize, cursor: DateTime<Utc>) -> &Value {
    let log_type = &status["log_types"][index];
    assert_eq!(log_type["log_type"], BOTH[index].name());
    let reported: DateTime<Utc> = log_type["cursor"].as_str().unwrap().parse().unwrap();
    assert_eq!(reported, cursor);
    let lag = log_type["lag_seconds"].as_i64().unwrap();
    let expected = (Utc::now() - cursor).num_seconds();
    assert!(
        (expected - 60..=expected).contains(&lag),
        "{lag} vs {expected}"
    );
    let newest = log_type["newest_object"]["key"].as_str().unwrap();
    assert!(
        newest.starts_with(&format!("zoom/{}/year=", BOTH[index].name())),
        "{newest}"
    );
    log_type
}

#[test]
fn status_over_a_state_file_shows_cursors_lag_checkpoints_and_objects_but_no_secret() {
    let sim = Simulator::start(SimConfig::default());
    let puller = LocalPuller::user_app(&sim);
    let reference = minutes_ago(30);
    with_events(&sim, reference);
    puller.pull(reference).summary();
    let cursor = reference - Duration::minutes(10);
    // A window the Operation log is writing: its marker runs past the cursor.
    std::fs::write(
        puller
            .out_dir()
            .join("zoom/_checkpoints/Zoom.Operation.json"),
        json!({ "log_type": "Zoom.Operation", "start": rfc3339(cursor),
                "end": rfc3339(cursor + Duration::minutes(15)), "object_max_events": 50 })
        .to_string(),
    )
    .unwrap();
    let state = puller.state();

    let text = with_local_backends(&puller, &["status"]);
    let printed = stdout(&text);
    assert!(
        printed.contains(&format!("cursor: {} (lag ", rfc3339(cursor))),
        "{printed}"
    );
    assert!(
        printed.contains("newest object: zoom/Zoom.Activity/year="),
        "{printed}"
    );
    assert!(printed.contains("checkpoint: none open"), "{printed}");
    assert!(
        printed.contains(&format!(
            "checkpoint: open ({}, {}]",
            rfc3339(cursor),
            rfc3339(cursor + Duration::minutes(15))
        )),
        "{printed}"
    );
    assert!(
        printed.contains("refresh token last rotated: ")
            && !printed.contains("refresh token last rotated: unknown"),
        "{printed}"
    );
    assert!(printed.contains("access token expires "), "{printed}");
    assert_no_secret_printed(&text, &state);

    let json_run = with_local_backends(&puller, &["status", "--json"]);
    let status: Value = serde_json::from_str(&stdout(&json_run)).unwrap();
    assert_log_type(&status, 0, cursor);
    let operation = assert_log_type(&status, 1, cursor);
    assert_eq!(operation["open_checkpoint"]["consistent"], true);
    assert!(status["log_types"][0]["open_checkpoint"].is_null());
    assert_eq!(status["app"], "user_authorized");
    let expires: DateTime<Utc> = status["access_token_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        Some(expires),
        state["access_token_expires_at"]
            .as_str()
            .map(|t| t.parse().unwrap())
    );
    // The pull rotated the refresh token and stored when.
    assert_eq!(
        status["refresh_token_rotated_at"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap()),
        state["refresh_token_rotated_at"]
            .as_str()
            .map(|t| t.parse().unwrap())
    );
    assert!(!status["refresh_token_rotated_at"].is_null());
    assert_no_secret_printed(&json_run, &state);

    // Without an output, what lives there is not claimed.
    let state_path = puller.state_path();
    let bare = zoomlogs(
        &puller,
        &["status", "--state-file", state_path.to_str().unwrap()],
        &[],
    );
    let printed = stdout(&bare);
    assert!(printed.contains("output: not given"), "{printed}");
    assert!(!printed.contains("checkpoint:"), "{printed}");
    assert_eq!(puller.state(), state, "status changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_and_status_over_secrets_manager_and_s3() {
    let sim = Simulator::start(SimConfig::default());
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let initial = json!({
        "client_id": SimConfig::default().client_id,
        "client_secret": SimConfig::default().client_secret,
        "refresh_token": sim.authorize(),
    });
    moto.create_secret("zoom/state", &initial.to_string()).await;
    let puller = LocalPuller::with_state(&sim, &json!({}));
    let env = moto_env(&moto);
    let reference = minutes_ago(30);
    with_events(&sim, reference);
    let reference_arg = rfc3339(reference);

    let pulled = tokio::task::block_in_place(|| {
        zoomlogs(
            &puller,
            &[
                "pull",
                "--secret-id",
                "zoom/state",
                "--bucket",
                "logs",
                "--reference-time",
                &reference_arg,
            ],
            &env,
        )
    });
    pulled.summary();
    let state: Value = serde_json::from_str(&moto.secret("zoom/state").await).unwrap();
    let cursor = reference - Duration::minutes(10);
    assert_eq!(state["cursors"]["Zoom.Activity"], rfc3339(cursor));
    assert_eq!(
        state["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
    let objects = moto.objects("logs", "zoom/").await;

    let run = tokio::task::block_in_place(|| {
        zoomlogs(
            &puller,
            &[
                "status",
                "--secret-id",
                "zoom/state",
                "--bucket",
                "logs",
                "--json",
            ],
            &env,
        )
    });
    let status: Value = serde_json::from_str(&stdout(&run)).unwrap();
    for index in 0..2 {
        let log_type = assert_log_type(&status, index, cursor);
        let newest = log_type["newest_object"]["key"].as_str().unwrap();
        assert!(objects.iter().any(|o| o.key == newest), "{newest}");
        assert!(log_type["newest_object"]["age_seconds"].as_i64().unwrap() < 600);
    }
    assert_eq!(status["state"], "secret zoom/state");
    assert_eq!(status["output"], "s3://logs/");
    assert_no_secret_printed(&run, &state);
    assert_no_secret_printed(&pulled, &state);
    assert_no_secret_printed(&run, &initial);
}
