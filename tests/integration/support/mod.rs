//! Shared test tooling: a local puller (the `zoomlogs` binary with a state file and an output
//! directory) against a Zoom simulator, readers for what it wrote, and the one exactly-once oracle
//! ([`assert_exactly_once_lines`]) that the CLI and the Lambda tests both check their output with.

pub mod moto;
pub mod ports;
pub mod rie;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use flate2::read::GzDecoder;
use serde_json::Value;
use zoom_sim::{LogType, SimConfig, Simulator};

pub const BOTH: [LogType; 2] = [LogType::Activity, LogType::Operation];

/// A puller run from the CLI binary, with its own state file and output directory.
pub struct LocalPuller {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

/// One finished CLI run.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn succeeded(&self) -> bool {
        self.output.status.success()
    }

    /// The printed summary (panics with the run's stderr if it failed).
    pub fn summary(&self) -> Value {
        assert!(self.succeeded(), "the run failed: {}", self.stderr());
        serde_json::from_slice(&self.output.stdout).expect("the summary is JSON")
    }

    /// Asserts that the run failed with `error_type` (the CLI prints `error: <errorType>: ...`).
    pub fn assert_failed_with(&self, error_type: &str) {
        assert!(
            !self.succeeded(),
            "the run succeeded; expected {error_type}"
        );
        let stderr = self.stderr();
        assert!(
            stderr.contains(&format!("error: {error_type}:")),
            "expected {error_type}: {stderr}"
        );
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Everything the run printed.
    pub fn all_output(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            self.stderr()
        )
    }
}

impl LocalPuller {
    /// A puller for a user-authorized app whose refresh token the simulator just issued.
    pub fn user_app(sim: &Simulator) -> LocalPuller {
        let state = serde_json::json!({
            "client_id": SimConfig::default().client_id,
            "client_secret": SimConfig::default().client_secret,
            "refresh_token": sim.authorize(),
            "note": "fields the puller does not know are kept",
        });
        LocalPuller::with_state(sim, &state)
    }

    pub fn with_state(sim: &Simulator, state: &Value) -> LocalPuller {
        let puller = LocalPuller {
            dir: tempfile::tempdir().unwrap(),
            env: [
                ("ZOOM_API_URL", sim.api_url()),
                ("ZOOM_OAUTH_URL", sim.oauth_url()),
                ("SETTLE_SECONDS", "600".into()),
                ("INITIAL_LOOKBACK_DAYS", "1".into()),
                ("OBJECT_MAX_EVENTS", "50".into()),
                ("ZOOM_MAX_REQUESTS_PER_SECOND", "1000".into()),
                ("RUST_LOG", "trace".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        };
        std::fs::write(
            puller.state_path(),
            serde_json::to_vec_pretty(state).unwrap(),
        )
        .unwrap();
        puller
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.state_path()).unwrap()).unwrap()
    }

    pub fn state_text(&self) -> String {
        std::fs::read_to_string(self.state_path()).unwrap()
    }

    pub fn cursor(&self, log_type: LogType) -> Option<DateTime<Utc>> {
        self.state()["cursors"][log_type.name()]
            .as_str()
            .map(|c| c.parse().unwrap())
    }

    fn command(&self, reference: DateTime<Utc>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zoomlogs"));
        command
            .arg("pull")
            .arg("--state-file")
            .arg(self.state_path())
            .arg("--out-dir")
            .arg(self.out_dir())
            .arg("--reference-time")
            .arg(reference.to_rfc3339_opts(SecondsFormat::Secs, true))
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `zoomlogs pull` once, to the end.
    pub fn pull(&self, reference: DateTime<Utc>) -> Run {
        Run {
            output: self.command(reference).output().unwrap(),
        }
    }

    /// Starts `zoomlogs pull` without waiting for it.
    pub fn spawn(&self, reference: DateTime<Utc>) -> Child {
        self.command(reference)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Every line of every object of the log type, sorted.
    pub fn written(&self, log_type: LogType) -> Vec<String> {
        read_lines(&self.out_dir().join("zoom").join(log_type.name()))
    }
}

fn read_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                assert!(path.to_string_lossy().ends_with(".json.gz"), "{path:?}");
                let mut text = String::new();
                GzDecoder::new(std::fs::File::open(&path).unwrap())
                    .read_to_string(&mut text)
                    .unwrap();
                assert!(text.ends_with('\n'), "{path:?} ends with a newline");
                lines.extend(text.lines().map(str::to_owned));
            }
        }
    }
    lines.sort();
    lines
}

/// An event's own `time`; panics on an event without a valid one.
pub fn event_time(event: &str) -> DateTime<Utc> {
    let value: Value = serde_json::from_str(event).expect("an event is JSON");
    value["time"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("an event without a valid time: {event}"))
}

/// The exactly-once oracle of the CLI and Lambda tests: `written` (every line the puller wrote)
/// and the events of `zoom` (everything the simulator holds) with `start < time <= end` are
/// equal as multisets of byte-exact lines: none missing, none extra, identical rows as many times
/// as Zoom has them. The window must hold at least one event, or the check proves nothing.
pub fn assert_exactly_once_lines(
    label: &str,
    zoom: Vec<String>,
    mut written: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) {
    let mut expected: Vec<String> = zoom
        .into_iter()
        .filter(|e| start < event_time(e) && event_time(e) <= end)
        .collect();
    assert!(
        !expected.is_empty(),
        "{label}: the test has no events in ({start}, {end}]"
    );
    expected.sort();
    written.sort();
    if written != expected {
        let (missing, extra) = multiset_difference(&expected, &written);
        panic!(
            "{label}: {} events written, {} expected in ({start}, {end}]; {missing} missing, {extra} not expected",
            written.len(),
            expected.len()
        );
    }
}

/// How many lines of sorted `expected` are not in sorted `written`, and the other way round,
/// counting repeats.
fn multiset_difference(expected: &[String], written: &[String]) -> (usize, usize) {
    let (mut missing, mut extra) = (0, 0);
    let (mut e, mut w) = (expected.iter().peekable(), written.iter().peekable());
    loop {
        match (e.peek(), w.peek()) {
            (Some(a), Some(b)) if a == b => {
                e.next();
                w.next();
            }
            (Some(a), Some(b)) if a < b => {
                missing += 1;
                e.next();
            }
            (Some(_), Some(_)) | (None, Some(_)) => {
                extra += 1;
                w.next();
            }
            (Some(_), None) => {
                missing += 1;
                e.next();
            }
            (None, None) => return (missing, extra),
        }
    }
}

/// Asserts that exactly Zoom's events in `(start, end]` were written, each once, byte for byte.
pub fn assert_exactly_once(
    puller: &LocalPuller,
    sim: &Simulator,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) {
    for log_type in BOTH {
        assert_exactly_once_lines(
            log_type.name(),
            sim.events(log_type),
            puller.written(log_type),
            start,
            end,
        );
    }
}

/// A whole-second time `minutes` before now.
pub fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    let now = Utc::now() - Duration::minutes(minutes);
    DateTime::from_timestamp(now.timestamp(), 0).unwrap()
}

#[test]
fn the_oracle_counts_missing_and_extra_lines_with_their_repeats() {
    let lines = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        multiset_difference(&lines(&["a", "a", "b", "d"]), &lines(&["a", "b", "b", "c"])),
        (2, 2)
    );
    assert_eq!(
        multiset_difference(&lines(&["a", "b"]), &lines(&["a", "b"])),
        (0, 0)
    );
    assert_eq!(multiset_difference(&lines(&[]), &lines(&["x"])), (0, 1));
}
