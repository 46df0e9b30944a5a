//! The HTTP server: the router over all endpoints, run on its own std thread with its own tokio
//! runtime so that it serves sync tests and any tokio test flavor alike; dropping the handle stops
//! it at once, cutting off requests in flight.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::oneshot;

use crate::state::Shared;
use crate::{admin, oauth, reports};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v2/report/{report}", get(reports::report))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/_sim/events", post(admin::add_events))
        .route("/_sim/authorize", post(admin::authorize))
        .route("/_sim/stats", get(admin::stats))
        .route("/_sim/faults", post(admin::schedule_fault))
        .route("/_sim/release-stalls", post(admin::release_stalls))
        .with_state(shared)
}

/// A running server; dropping it shuts the server down.
pub(crate) struct Server {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn spawn(listener: TcpListener, router: Router) -> Server {
        listener
            .set_nonblocking(true)
            .expect("zoom-sim: non-blocking listener");
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("zoom-sim".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("zoom-sim: tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("zoom-sim: tokio listener");
                    let serve = axum::serve(listener, router);
                    tokio::select! {
                        result = serve.into_future() => result.expect("zoom-sim: server failed"),
                        _ = stop => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("zoom-sim: server thread");
        Server {
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
