//! Ports for servers the tests start as child processes (moto, the Lambda emulator), which must be
//! told a port before they bind it.
//!
//! A port picked by binding port 0 and released at once is free only until somebody else binds
//! it: the kernel hands the same ephemeral ports to other port-0 binds and outgoing connections,
//! and a slow child on a loaded machine may lose the race. So [`ReservedPort`] picks from below the
//! kernel's ephemeral range, where neither happens, and holds a lock file per port so that
//! concurrent test processes (several checkouts on one machine) never pick the same one. A child
//! that exits before it listens is started again on another port ([`start_listening`]).

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A port nobody else in this process or in another test process will pick while this lives.
pub struct ReservedPort {
    port: u16,
    _lock: File,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let (low, high) = candidate_range();
        let span = u32::from(high - low);
        // Processes start at different places so they rarely contend for the same lock files.
        let offset = std::process::id().wrapping_mul(7919);
        let dir = lock_dir();
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = low + u16::try_from(offset.wrapping_add(n) % span).expect("within the span");
            let Ok(lock) = File::create(dir.join(format!("{port}.lock"))) else {
                continue;
            };
            if lock.try_lock().is_err() {
                continue;
            }
            // Locked by us; still skip a port something outside the tests is listening on.
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return ReservedPort { port, _lock: lock };
            }
        }
        panic!("no free port in {low}..{high}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Ports below the kernel's ephemeral range (and above the well-known and registered-service
/// ports most often in use).
fn candidate_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_low > 20_000 {
        (20_000, ephemeral_low)
    } else {
        (
            ephemeral_low.saturating_sub(10_000).max(1024),
            ephemeral_low,
        )
    }
}

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("zoom-log-puller-test-ports");
    std::fs::create_dir_all(&dir).expect("the port lock folder");
    dir
}

/// Starts a child with `spawn(ports)` on freshly reserved ports until it listens on the first
/// one within `patience`; a child that exits first (its port was taken after all) is retried on
/// other ports, three times in all. Returns the child and the ports it holds.
pub fn start_listening<const N: usize>(
    what: &str,
    patience: Duration,
    mut spawn: impl FnMut(&[u16; N]) -> Child,
) -> (Child, [ReservedPort; N]) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        let reserved: [ReservedPort; N] = std::array::from_fn(|_| ReservedPort::new());
        let ports = reserved.each_ref().map(ReservedPort::port);
        let mut child = spawn(&ports);
        match wait_until_listening(&mut child, ports[0], patience) {
            Ok(()) => return (child, reserved),
            Err(failure) => {
                let _ = child.kill();
                let _ = child.wait();
                failures.push(failure);
            }
        }
    }
    panic!("{what} did not start: {}", failures.join("; "));
}

/// Waits until `port` accepts connections while `child` runs; fails if it exits first or
/// `patience` passes.
fn wait_until_listening(child: &mut Child, port: u16, patience: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            return Err(format!(
                "exited with {status} before listening on port {port}"
            ));
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if started.elapsed() > patience {
            return Err(format!("not listening on port {port} after {patience:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
