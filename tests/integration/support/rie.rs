//! The release Lambda binary under the AWS Lambda Runtime Interface Emulator, as Lambda runs it.
//!
//! [`Emulator`] starts `aws-lambda-rie` (shipped in aws-sam-cli's wheel, found in the project's
//! venv or through `AWS_LAMBDA_RIE`) on reserved ports with the given environment and nothing else,
//! invokes the function over HTTP, can kill the function process mid-invocation, and keeps
//! everything the function and the emulator print. Dropping it kills the function first, then the
//! emulator (killing the emulator alone would leave the function running).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::moto::venv_tool;
use super::ports::{ReservedPort, start_listening};

/// A Lambda error reply: `{"errorType": …, "errorMessage": …}`.
#[derive(Debug)]
pub struct LambdaError {
    pub error_type: String,
    pub error_message: String,
}

/// `events/scheduled.json` with its `time` set to `time`.
pub fn scheduled_event(time: DateTime<Utc>) -> Value {
    let mut event: Value = serde_json::from_str(include_str!("../../../events/scheduled.json"))
        .expect("events/scheduled.json is JSON");
    event["time"] = Value::String(time.to_rfc3339_opts(SecondsFormat::Secs, true));
    event
}

pub struct Emulator {
    child: Child,
    port: u16,
    _reserved: [ReservedPort; 2],
    output: tempfile::NamedTempFile,
    http: reqwest::Client,
}

impl Emulator {
    /// Starts the emulator with exactly these environment variables (plus `PATH`).
    pub fn start(env: &[(&str, String)]) -> Emulator {
        let rie = venv_tool("AWS_LAMBDA_RIE", |venv| {
            let lib = std::fs::read_dir(venv.join("lib")).ok()?;
            let python = lib
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().starts_with("python3"))?;
            let arch = match std::env::consts::ARCH {
                "aarch64" => "arm64",
                _ => "x86_64",
            };
            Some(python.path().join(format!(
                "site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"
            )))
        });
        let binary = lambda_binary();
        let output = tempfile::NamedTempFile::new().expect("a file for the emulator's output");
        // Both streams append to one file, so neither overwrites the other.
        let log = || -> File {
            OpenOptions::new()
                .append(true)
                .open(output.path())
                .expect("the emulator's output file")
        };
        let (child, reserved) = start_listening(
            "aws-lambda-rie",
            Duration::from_secs(30),
            |[port, api_port]| {
                Command::new(&rie)
                    .arg("--runtime-interface-emulator-address")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--runtime-api-address")
                    .arg(format!("127.0.0.1:{api_port}"))
                    .arg(&binary)
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::null())
                    .stdout(log())
                    .stderr(log())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {}: {e}", rie.display()))
            },
        );
        Emulator {
            child,
            port: reserved[0].port(),
            _reserved: reserved,
            output,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// One invocation: the function's JSON result, or its error.
    pub async fn invoke(&self, event: &Value) -> Result<Value, LambdaError> {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/function/invocations",
            self.port
        );
        let response = self
            .http
            .post(url)
            .json(event)
            .send()
            .await
            .expect("the emulator answers");
        let status = response.status();
        let body = response.text().await.expect("the emulator's reply");
        let reply: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        match reply.get("errorType").and_then(Value::as_str) {
            Some(error_type) => Err(LambdaError {
                error_type: error_type.to_owned(),
                error_message: reply["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }),
            None if status.is_success() => Ok(reply),
            None => Err(LambdaError {
                error_type: format!("HTTP {status}"),
                error_message: reply.to_string(),
            }),
        }
    }

    /// Kills the function process (the emulator's child), as a crash or a hard timeout would.
    /// Returns once the emulator has reaped it, so that no zombie outlives the emulator.
    pub fn kill_function(&self) {
        for pid in children_of(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let patience = std::time::Instant::now() + Duration::from_secs(5);
        while !children_of(self.child.id()).is_empty() && std::time::Instant::now() < patience {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the function and the emulator printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.output.path()).expect("the emulator's output")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill_function();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Lambda binary under test: `LAMBDA_BINARY`, or the release build in the target folder
/// these tests were built in (wherever `CARGO_TARGET_DIR` put it).
fn lambda_binary() -> PathBuf {
    let path = std::env::var_os("LAMBDA_BINARY").map_or_else(
        || {
            // <target>/<profile>/zoomlogs, built with the tests: its folder's sibling is release.
            let cli = std::path::Path::new(env!("CARGO_BIN_EXE_zoomlogs"));
            let target = cli.parent().and_then(std::path::Path::parent);
            target
                .map_or_else(
                    || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
                    std::path::Path::to_path_buf,
                )
                .join("release/zoom-log-puller")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release --bin zoom-log-puller` (or set LAMBDA_BINARY)",
        path.display()
    );
    path
}

/// The ids of the processes whose parent is `parent`.
/// What the function process has used so far: CPU seconds (user and system) and its peak
/// resident memory in KiB (`VmHWM`), over every invocation it served. `None` if it is not running.
pub fn function_usage(emulator: &Emulator) -> Option<(f64, u64)> {
    let pid = children_of(emulator.child.id()).into_iter().next()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "(comm)": state, ppid, ..., utime and stime are the 12th and 13th fields.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks as f64 / per_second, peak))
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // /proc/PID/stat: "pid (comm) state ppid ...", and comm may contain spaces.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let after_comm = &stat[stat.rfind(')')? + 1..];
                    after_comm.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}
