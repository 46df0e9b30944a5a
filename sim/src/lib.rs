//! zoom-sim: a Zoom report and OAuth API simulator for zoom-log-puller's tests, demo and
//! benchmarks. `Simulator` is the public handle: it serves real HTTP on 127.0.0.1 from its own
//! thread and tokio runtime, so sync tests and every tokio test flavor can drive it, and its
//! methods are synchronous. (From a `current_thread` tokio test, run a request that is meant to
//! stall on another task *and* another thread before calling the blocking `wait_for_stall`.)

mod admin;
mod config;
mod drift;
mod errors;
mod events;
mod faults;
mod hosts;
mod limits;
mod log_type;
mod oauth;
mod padding;
mod page_loop;
mod paging;
mod reports;
mod server;
mod stall;
mod state;
mod store;
mod tokens;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use config::{LastPage, Order, RefreshRejection, SimConfig};
pub use events::generate_events;
pub use faults::Fault;
pub use log_type::LogType;
pub use page_loop::PageLoop;
pub use state::Stats;

use server::Server;
use state::Shared;

/// A running simulator; dropping it shuts the server down.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Stops the server when the last simulator sharing it is dropped.
    _server: Arc<Server>,
}

impl Simulator {
    /// Binds 127.0.0.1:`config.port` (0 = any free port) and starts serving.
    ///
    /// # Panics
    /// If the port cannot be bound.
    pub fn start(config: SimConfig) -> Simulator {
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .unwrap_or_else(|e| panic!("zoom-sim: cannot bind port {}: {e}", config.port));
        let addr = listener.local_addr().expect("zoom-sim: local address");
        let shared = Arc::new(Shared::new(config));
        Simulator {
            _server: Arc::new(Server::spawn(listener, server::router(Arc::clone(&shared)))),
            shared,
            addr,
        }
    }

    /// Many Zoom accounts behind one address, one per config, told apart by their apps' client
    /// ids (which must differ): token requests go to the account whose client id authenticates
    /// them, report requests to the account that issued the access token. Each returned simulator
    /// is one account's handle; the server stops when the last is dropped. Only the Zoom
    /// endpoints are served (no `/_sim/` admin routes); `configs[0].port` is the port.
    ///
    /// # Panics
    /// If there is no config, two share a client id, or the port cannot be bound.
    pub fn start_many(configs: Vec<SimConfig>) -> Vec<Simulator> {
        let port = configs
            .first()
            .expect("zoom-sim: at least one account")
            .port;
        let mut ids: Vec<&str> = configs.iter().map(|c| c.client_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), configs.len(), "zoom-sim: client ids must differ");
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("zoom-sim: cannot bind port {port}: {e}"));
        let addr = listener.local_addr().expect("zoom-sim: local address");
        let hosts: Vec<Arc<Shared>> = configs
            .into_iter()
            .map(|config| Arc::new(Shared::new(config)))
            .collect();
        let server = Arc::new(Server::spawn(
            listener,
            hosts::router(Arc::new(hosts.clone())),
        ));
        hosts
            .into_iter()
            .map(|shared| Simulator {
                shared,
                addr,
                _server: Arc::clone(&server),
            })
            .collect()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API base: reports are at `{api_url}/report/activities` and `…/report/operationlogs`.
    pub fn api_url(&self) -> String {
        format!("{}/v2", self.base_url())
    }

    pub fn oauth_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.base_url())
    }

    /// Changes knobs while running (`port` and `seed` only matter at start).
    pub fn set_config(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut self.shared.lock().config);
    }

    /// Stores raw JSON objects byte-for-byte; reports show each at once or, as the late-arrival
    /// knobs decide, some time after its `time`.
    ///
    /// # Panics
    /// If an event is not a JSON object with an RFC 3339 `time`.
    pub fn add_events(&self, log_type: LogType, events: Vec<String>) {
        self.add(log_type, events, None);
    }

    /// Stores raw JSON objects byte-for-byte that reports show only from `visible_at` on,
    /// whatever their `time` (late arrival staged deterministically).
    ///
    /// # Panics
    /// If an event is not a JSON object with an RFC 3339 `time`.
    pub fn add_events_visible_at(
        &self,
        log_type: LogType,
        events: Vec<String>,
        visible_at: DateTime<Utc>,
    ) {
        self.add(log_type, events, Some(visible_at));
    }

    fn add(&self, log_type: LogType, events: Vec<String>, visible_at: Option<DateTime<Utc>>) {
        let added = self.shared.lock().add_events(log_type, events, visible_at);
        if let Err(message) = added {
            panic!("zoom-sim: {message}");
        }
    }

    /// Every stored raw event, visible yet or not, in insertion order.
    pub fn events(&self, log_type: LogType) -> Vec<String> {
        let state = self.shared.lock();
        state.store.all(log_type).map(str::to_owned).collect()
    }

    /// Plays a person authorizing the app: a new refresh token, earlier ones revoked.
    pub fn authorize(&self) -> String {
        self.shared.lock().tokens.authorize()
    }

    pub fn current_refresh_token(&self) -> Option<String> {
        self.shared
            .lock()
            .tokens
            .current_refresh()
            .map(str::to_owned)
    }

    /// A valid access token that lives `ttl`.
    pub fn issue_access_token(&self, ttl: Duration) -> String {
        self.shared.lock().tokens.issue_access(ttl)
    }

    /// Every refresh token, access token and authorization code dies.
    pub fn revoke_all(&self) {
        self.shared.lock().tokens.revoke_all();
    }

    /// Applies `fault` to the report request with this 1-based index (counted since start over
    /// both report endpoints).
    pub fn fault_at(&self, report_request: u64, fault: Fault) {
        self.shared.lock().faults.schedule_at(report_request, fault);
    }

    /// Applies `fault` to the next report request that has no fault of its own; queued faults
    /// go to consecutive such requests.
    pub fn fault_next(&self, fault: Fault) {
        self.shared.lock().faults.schedule_next(fault);
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats()
    }

    /// Blocks until a `Fault::Stall` is holding a request (true) or `timeout` passes (false).
    pub fn wait_for_stall(&self, timeout: Duration) -> bool {
        self.shared.stalls.wait_for_stall(timeout)
    }

    /// Lets every stalled request go on to its real reply.
    pub fn release_stalls(&self) {
        self.shared.stalls.release();
    }
}
