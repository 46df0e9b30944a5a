//! `zoomlogs authorize` against the simulator, with the browser played by an HTTP client: the
//! authorize URL, the redirect with its `state`, the code exchange, the state document written.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use zoom_sim::{SimConfig, Simulator};

use crate::support::moto::Moto;

struct Authorizing {
    child: Child,
    url: reqwest::Url,
    stderr: BufReader<std::process::ChildStderr>,
}

/// Starts `zoomlogs authorize` onto a state file and reads the URL it prints.
fn start(sim: &Simulator, state_file: &std::path::Path) -> Authorizing {
    start_with(sim, &["--state-file".as_ref(), state_file.as_os_str()], &[])
}

/// Starts `zoomlogs authorize` with the destination `args` and extra `env`; reads the URL it prints.
fn start_with(sim: &Simulator, args: &[&std::ffi::OsStr], env: &[(&str, String)]) -> Authorizing {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoomlogs"))
        .args([
            "authorize",
            "--client-id",
            "sim-client-id",
            "--redirect-port",
            "0",
        ])
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ZOOM_OAUTH_URL", sim.oauth_url())
        .env("ZOOM_CLIENT_SECRET", SimConfig::default().client_secret)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "authorize printed no URL"
        );
        if let Ok(url) = reqwest::Url::parse(line.trim()) {
            break url;
        }
    };
    Authorizing { child, url, stderr }
}

impl Authorizing {
    fn param(&self, name: &str) -> String {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .into_owned()
    }

    /// Waits for the command; returns whether it succeeded and everything it printed.
    fn finish(mut self) -> (bool, String) {
        // Drain the pipes before waiting, or a chatty child blocks on a full pipe.
        let mut output = String::new();
        self.stderr.read_to_string(&mut output).unwrap();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut output)
            .unwrap();
        let status = self.child.wait().unwrap();
        (status.success(), output)
    }
}

fn browse(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

#[test]
fn authorize_stores_the_first_refresh_token_and_keeps_existing_fields() {
    let sim = Simulator::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    std::fs::write(
        &state_file,
        r#"{"client_id":"old","client_secret":"old","refresh_token":"dead","cursors":{"Zoom.Activity":"2026-11-29T20:40:00Z"},"team":"secops"}"#,
    )
    .unwrap();

    let flow = start(&sim, &state_file);
    assert_eq!(flow.url.path(), "/oauth/authorize");
    assert_eq!(flow.param("client_id"), "sim-client-id");
    assert_eq!(flow.param("response_type"), "code");
    let (status, page) = browse(flow.url.as_str());
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("authorized"), "{page}");
    let (succeeded, output) = flow.finish();
    assert!(succeeded, "{output}");

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let refresh = sim.current_refresh_token().unwrap();
    assert_eq!(state["refresh_token"], refresh.as_str());
    assert_eq!(state["client_id"], "sim-client-id");
    assert_eq!(state["client_secret"], "sim-client-secret");
    assert_eq!(state["cursors"]["Zoom.Activity"], "2026-11-29T20:40:00Z");
    assert_eq!(state["team"], "secops");
    assert_eq!(sim.stats().authorization_code_grants, 1);
    for secret in [
        refresh.as_str(),
        "sim-client-secret",
        state["access_token"].as_str().unwrap(),
    ] {
        assert!(!output.contains(secret), "a secret was printed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_creates_the_secrets_manager_secret() {
    let sim = Simulator::start(SimConfig::default());
    let moto = Moto::start();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    let args = ["--secret-id".as_ref(), "zoom/new".as_ref()];
    let flow = tokio::task::block_in_place(|| start_with(&sim, &args, &env));
    let url = flow.url.to_string();
    let (status, _) = tokio::task::spawn_blocking(move || browse(&url))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (succeeded, output) = tokio::task::block_in_place(|| flow.finish());
    assert!(succeeded, "{output}");
    let state: serde_json::Value = serde_json::from_str(&moto.secret("zoom/new").await).unwrap();
    assert_eq!(
        state["refresh_token"],
        sim.current_refresh_token().unwrap().as_str()
    );
    assert_eq!(state["client_id"], "sim-client-id");
}

#[test]
fn a_redirect_with_a_foreign_state_is_refused_and_writes_nothing() {
    let sim = Simulator::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let flow = start(&sim, &state_file);
    let redirect = flow.param("redirect_uri");
    let (status, _) = browse(&format!("{redirect}?code=stolen&state=not-ours"));
    assert_eq!(status, 400);
    let (succeeded, output) = flow.finish();
    assert!(!succeeded);
    assert!(output.contains("state does not match"), "{output}");
    assert!(!state_file.exists());
    assert_eq!(sim.stats().token_requests, 0);
}

#[test]
fn an_idle_connection_to_the_listener_does_not_block_the_real_redirect() {
    let sim = Simulator::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let flow = start(&sim, &state_file);
    let redirect = reqwest::Url::parse(&flow.param("redirect_uri")).unwrap();
    // A browser's speculative pre-connection: opened, never used, kept open throughout.
    let idle = std::net::TcpStream::connect(("127.0.0.1", redirect.port().unwrap())).unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let browsed = runtime.block_on(async {
        // Well within the listener's read timeout: only concurrency lets the redirect through.
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap();
        client.get(flow.url.as_str()).send().await
    });
    let Ok(response) = browsed else {
        let mut child = flow.child;
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("the redirect was not answered while another connection sat idle: {browsed:?}");
    };
    assert_eq!(response.status(), 200);
    let (succeeded, output) = flow.finish();
    assert!(succeeded, "{output}");
    drop(idle);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(
        state["refresh_token"],
        sim.current_refresh_token().unwrap().as_str()
    );
}

#[cfg(unix)]
#[test]
fn a_state_file_created_by_authorize_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let sim = Simulator::start(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let flow = start(&sim, &state_file);
    let (status, _) = browse(flow.url.as_str());
    assert_eq!(status, 200);
    let (succeeded, output) = flow.finish();
    assert!(succeeded, "{output}");
    let mode = std::fs::metadata(&state_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

/// A client secret typed at a terminal: `zoomlogs authorize` runs on a pseudo-terminal of its own,
/// as in a shell, with no ZOOM_CLIENT_SECRET.
#[cfg(target_os = "linux")]
mod typed_at_a_terminal {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use zoom_sim::{SimConfig, Simulator};

    use super::browse;

    /// A new pseudo-terminal: (master, slave).
    fn open_pty() -> (OwnedFd, OwnedFd) {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two new file descriptors, which we then own.
        let result = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(result, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are open and owned by nothing else.
        unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
    }

    /// Whether the terminal echoes what is typed (master and slave share their settings).
    fn echoes(master: &OwnedFd) -> bool {
        // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is an open pseudo-terminal master.
        let result = unsafe { libc::tcgetattr(master.as_raw_fd(), &mut termios) };
        assert_eq!(result, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        termios.c_lflag & libc::ECHO != 0
    }

    /// Waits until `done` holds for what the terminal showed so far; panics after 30 s.
    fn wait_for(screen: &Mutex<Vec<u8>>, what: &str, done: impl Fn(&str) -> bool) -> String {
        let patience = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
            if done(&text) {
                return text;
            }
            assert!(
                Instant::now() < patience,
                "no {what} on the terminal: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The command under test, killed if the test fails before it ends.
    struct Running(std::process::Child);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_client_secret_typed_at_the_prompt_is_not_echoed_and_is_stored() {
        let sim = Simulator::start(SimConfig::default());
        let secret = SimConfig::default().client_secret;
        let dir = tempfile::tempdir().unwrap();
        let state_file = dir.path().join("state.json");
        let (master, slave) = open_pty();

        let mut command = Command::new(env!("CARGO_BIN_EXE_zoomlogs"));
        command
            .args(["authorize", "--client-id", "sim-client-id"])
            .args(["--redirect-port", "0", "--state-file"])
            .arg(&state_file)
            .env_clear()
            .env("ZOOM_OAUTH_URL", sim.oauth_url())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // A session of its own, with the pseudo-terminal as its controlling terminal.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = Running(command.spawn().unwrap());
        drop(command); // our copies of the slave: the reader sees the end once the child exits

        let screen = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (screen, mut terminal) =
                (Arc::clone(&screen), File::from(master.try_clone().unwrap()));
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Reading the master fails (EIO) once no process holds the slave any more.
                while let Ok(n @ 1..) = terminal.read(&mut buf) {
                    screen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };

        wait_for(&screen, "prompt", |text| text.contains("Client secret"));
        let patience = Instant::now() + Duration::from_secs(30);
        while echoes(&master) {
            assert!(Instant::now() < patience, "the prompt leaves echo on");
            std::thread::sleep(Duration::from_millis(20));
        }
        File::from(master.try_clone().unwrap())
            .write_all(format!("{secret}\n").as_bytes())
            .unwrap();
        // A whole line: one that a newline ends.
        let text = wait_for(&screen, "authorize URL", |text| {
            text.split('\n')
                .rev()
                .skip(1)
                .any(|l| l.trim().starts_with("http://"))
        });
        let url = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("http://"))
            .unwrap()
            .to_owned();
        let (status, _) = browse(&url);
        assert_eq!(status, 200);
        let status = child.0.wait().unwrap();
        reader.join().unwrap();
        let transcript = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
        assert!(status.success(), "{transcript}");
        assert!(
            !transcript.contains(&secret),
            "the typed secret was shown on the terminal"
        );
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
        assert_eq!(state["client_secret"], secret.as_str());
    }
}
