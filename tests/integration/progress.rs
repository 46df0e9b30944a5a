//! Off a terminal, `zoomlogs pull` prints exactly what it printed before there was a progress
//! display: the summary on standard output and log lines, nothing else, on standard error. On a
//! pseudo-terminal, where the display is installed, the summary and the log lines still show. (The
//! display's lines are tested by its rendering function and its layer, in `src/cli/progress.rs`.)

use chrono::Duration;
use serde_json::Value;
use zoom_sim::{SimConfig, Simulator, generate_events};

use crate::support::{BOTH, LocalPuller, minutes_ago};

fn puller_with_events(sim: &Simulator) -> LocalPuller {
    let reference = minutes_ago(30);
    for log_type in BOTH {
        sim.add_events(
            log_type,
            generate_events(log_type, 200, reference - Duration::hours(20), reference, 9),
        );
    }
    LocalPuller::user_app(sim)
}

#[test]
fn off_a_terminal_a_pull_prints_the_summary_and_nothing_more() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 20,
        ..SimConfig::default()
    });
    let mut puller = puller_with_events(&sim);
    puller.set_env("RUST_LOG", "warn");
    let run = puller.pull(minutes_ago(30));
    let summary: Value = run.summary();
    assert!(summary["log_types"][0]["pages_fetched"].as_u64().unwrap() > 1);
    // The summary as pretty JSON and one newline: the same lines as serde prints it (its map
    // sorts the keys, so lines are compared without order and trailing commas).
    let stdout = String::from_utf8(run.output.stdout.clone()).unwrap();
    let expected = format!("{}\n", serde_json::to_string_pretty(&summary).unwrap());
    let lines = |text: &str| {
        let mut lines: Vec<String> = text
            .split('\n')
            .map(|l| l.trim_end_matches(',').to_owned())
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(lines(&stdout), lines(&expected), "{stdout}");
    assert_eq!(
        run.stderr(),
        "",
        "nothing but log lines goes to standard error"
    );
}

#[test]
fn off_a_terminal_every_line_on_standard_error_is_a_log_line() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 20,
        ..SimConfig::default()
    });
    let mut puller = puller_with_events(&sim);
    puller.set_env("RUST_LOG", "info");
    puller.set_env("NO_COLOR", "1");
    let run = puller.pull(minutes_ago(30));
    run.summary();
    let stderr = run.stderr();
    assert!(!stderr.is_empty());
    for line in stderr.lines() {
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "{line:?}");
        let level = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(
            ["INFO", "WARN", "ERROR"].contains(&level),
            "not a log line: {line:?}"
        );
    }
}

#[test]
fn on_a_terminal_a_pull_still_prints_its_summary_and_log_lines() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 20,
        ..SimConfig::default()
    });
    let mut puller = puller_with_events(&sim);
    puller.set_env("RUST_LOG", "info");
    let printed = pull_on_a_terminal(&puller);
    assert!(printed.contains("\"state_saved\": true"), "{printed}");
    assert!(
        printed.contains("log type pulled"),
        "log lines still show: {printed}"
    );
    assert!(puller.cursor(zoom_sim::LogType::Activity).is_some());
}

#[test]
fn on_a_terminal_the_progress_lines_show_the_share_of_the_window_done() {
    let sim = Simulator::start(SimConfig {
        page_size_cap: 20,
        latency: std::time::Duration::from_millis(30),
        ..SimConfig::default()
    });
    let mut puller = puller_with_events(&sim);
    puller.set_env("RUST_LOG", "warn");
    let printed = pull_on_a_terminal(&puller);
    assert!(printed.contains("% of the window"), "{printed}");
}

/// What `zoomlogs pull` prints on a pseudo-terminal (`script`, from util-linux, part of every
/// Debian system), after checking that it succeeded.
fn pull_on_a_terminal(puller: &LocalPuller) -> String {
    let command = format!(
        "{} pull --state-file {} --out-dir {}",
        env!("CARGO_BIN_EXE_zoomlogs"),
        puller.state_path().display(),
        puller.out_dir().display()
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .envs(puller.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{printed}");
    printed
}
