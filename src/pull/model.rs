//! A randomized model test: the promises checked across the combinations of Zoom's unknowns,
//! workloads and faults, instead of a few picked by hand.
//!
//! Each case draws, from its seed, a Zoom (order, day zone from UTC-12 to UTC+14, `to` inclusive
//! or exclusive, refusing a future `to` or not, page size), a workload (ties and identical rows
//! always; late arrivals, serialization drift, a looping last page) and a fault schedule (a crash
//! at a random side effect, page tokens that expire, a deadline inside a run, two overlapping
//! runs, a refresh by the run and one by another writer followed by lagging reads of the secret).
//! It runs scheduled runs to convergence and checks the oracles: every event exactly once as a
//! listing of the bucket sees it, exactly once as a consumer of every object-created notification
//! sees it (every PUT counted), the stored refresh token is the live one, and the memory a query
//! held stayed within its budget.
//!
//! `cargo test model` runs the fixed seeds below (part of `make test`); `make soak SEED=… CASES=…`
//! runs random ones and prints the seed of any failure, which becomes a named regression test.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::fakes::{Effects, FakeZoom, MemoryStore, Order};
use super::tests::{World, at, events, seed_both};
use super::{RunError, RunRequest, RunSummary, run};
use crate::log_type::LogType;
use crate::ports::{Page, PageRequest, ReportSource, SourceError};
use crate::secret::Secret;
use crate::state::StateKeeper;

/// What one case draws.
#[derive(Debug)]
struct Case {
    order: Order,
    day_offset_hours: i64,
    to_exclusive: bool,
    refuses_future_to: bool,
    page_size: usize,
    events_per_type: usize,
    late_arrivals: bool,
    drift: bool,
    repeat_last_page: u64,
    /// Each repeat of the last page carries a token of its own.
    new_token_each_repeat: bool,
    crash_at: Option<u64>,
    expire_token_every: Option<u64>,
    deadline_after_pages: Option<u32>,
    overlap: bool,
    /// In one run, the page at which the run's own token keeper refreshes (rotating the token).
    own_refresh_at: Option<u64>,
    /// In the same run, the page at which another writer (`zoomlogs check`) refreshes and stores
    /// the rotated token, after which this many of the run's reads of the secret lag.
    other_refresh_at: Option<(u64, u64)>,
}

impl Case {
    fn draw(seed: u64) -> Case {
        let mut rng = StdRng::seed_from_u64(seed);
        let orders = [
            Order::NewestFirst,
            Order::OldestFirst,
            Order::Shuffled,
            Order::DaysAscending,
        ];
        let mut case = Case {
            order: orders[rng.random_range(0..orders.len())],
            day_offset_hours: rng.random_range(-12..=14),
            to_exclusive: rng.random_bool(0.5),
            refuses_future_to: rng.random_bool(0.3),
            page_size: [3, 5, 10, 30][rng.random_range(0..4)],
            events_per_type: rng.random_range(20..400),
            late_arrivals: false,
            drift: rng.random_bool(0.2),
            repeat_last_page: [0, 0, 0, 2, u64::MAX][rng.random_range(0..5)],
            new_token_each_repeat: false,
            crash_at: rng.random_bool(0.5).then(|| rng.random_range(0..40)),
            expire_token_every: rng.random_bool(0.2).then(|| rng.random_range(3..9)),
            deadline_after_pages: rng.random_bool(0.3).then(|| rng.random_range(1..30)),
            overlap: rng.random_bool(0.3),
            own_refresh_at: rng.random_bool(0.5).then(|| rng.random_range(1..6)),
            other_refresh_at: rng
                .random_bool(0.5)
                .then(|| (rng.random_range(1..6), rng.random_range(0..4))),
        };
        // Late events are promised only to a re-check within RECHECK_HOURS, and a run held by a
        // refused future day skips its re-check.
        case.late_arrivals = !case.refuses_future_to && rng.random_bool(0.4);
        case.new_token_each_repeat = rng.random_bool(0.5);
        case
    }
}

/// Zoom's OAuth as the model sees it: every rotation kills the refresh token before it.
#[derive(Default)]
struct Auth {
    live: std::sync::Mutex<String>,
    rotations: std::sync::atomic::AtomicU64,
    /// Why a refresh was refused: the refresh token presented was dead (re-authorization needed).
    revoked: std::sync::Mutex<Option<String>>,
}

impl Auth {
    fn rotate(&self) -> String {
        let n = self.rotations.fetch_add(1, Ordering::SeqCst) + 1;
        let new = format!("r{n}");
        *self.live.lock().unwrap() = new.clone();
        new
    }

    fn is_live(&self, token: Option<&Secret>) -> bool {
        token.is_some_and(|t| t.expose() == self.live.lock().unwrap().as_str())
    }
}

/// The report source of one model run: Zoom's reports, and at chosen pages a refresh by the
/// run's own token keeper (the snapshot's token, and on a refusal the stored one reloaded once;
/// the rotated token stored before going on), or by another writer that stores its rotated token
/// straight into the store, after which the run's reads lag.
struct Refreshing<'a, 'e> {
    zoom: &'a FakeZoom,
    state: &'a StateKeeper<&'a MemoryStore<'e>>,
    store: &'a MemoryStore<'e>,
    auth: &'a Auth,
    pages: std::sync::atomic::AtomicU64,
    own_at: Option<u64>,
    other_at: Option<(u64, u64)>,
}

impl Refreshing<'_, '_> {
    async fn own_refresh(&self) -> Result<(), SourceError> {
        let mut token = self.state.snapshot().await.refresh_token;
        if !self.auth.is_live(token.as_ref()) {
            token = self.state.reload().await?.refresh_token;
        }
        if !self.auth.is_live(token.as_ref()) {
            *self.auth.revoked.lock().unwrap() = Some("the run refreshed with a dead token".into());
            return Err(SourceError::AuthRevoked {
                detail: "invalid_grant".into(),
            });
        }
        let new = self.auth.rotate();
        self.state
            .update(|doc| doc.refresh_token = Some(Secret::new(new)))
            .await;
        self.state
            .save()
            .await
            .map(drop)
            .map_err(SourceError::TokenNotStored)
    }

    fn other_refresh(&self, lag: u64) {
        let stored: serde_json::Value =
            serde_json::from_str(&self.store.document.lock().unwrap()).unwrap();
        let stored = stored["refresh_token"].as_str().map(Secret::new);
        if !self.auth.is_live(stored.as_ref()) {
            *self.auth.revoked.lock().unwrap() = Some("the stored token was dead".into());
            return;
        }
        let new = self.auth.rotate();
        self.store
            .put_behind(|doc| doc["refresh_token"] = serde_json::Value::String(new));
        self.store.lagging_reads.store(lag, Ordering::SeqCst);
    }
}

impl ReportSource for Refreshing<'_, '_> {
    async fn fetch_page(&self, request: PageRequest) -> Result<Page, SourceError> {
        let n = self.pages.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((at, lag)) = self.other_at
            && n == at
        {
            self.other_refresh(lag);
        }
        if self.own_at == Some(n) {
            self.own_refresh().await?;
        }
        self.zoom.fetch_page(request).await
    }
}

/// One scheduled run whose token rotates as `case` says.
async fn refreshing_run(
    world: &World<'_>,
    auth: &Auth,
    case: &Case,
    reference: chrono::DateTime<Utc>,
) -> Result<RunSummary, RunError> {
    let state = StateKeeper::load(&world.store).await.unwrap();
    let source = Refreshing {
        zoom: &world.zoom,
        state: &state,
        store: &world.store,
        auth,
        pages: Default::default(),
        own_at: case.own_refresh_at,
        other_at: case.other_refresh_at,
    };
    let request = RunRequest {
        reference_time: reference,
        now: reference,
        deadline: None,
    };
    run(&world.config, &source, &state, &world.sink, request).await
}

/// A line as a consumer compares it: parsed, the simulated drift's extra field removed, keys sorted.
fn normalized(line: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    if let Some(object) = value.as_object_mut() {
        object.remove("added_by_zoom");
    }
    let sorted: BTreeMap<String, serde_json::Value> = value
        .as_object()
        .map(|o| o.clone().into_iter().collect())
        .unwrap_or_default();
    serde_json::to_string(&sorted).unwrap()
}

fn normalized_all(lines: Vec<String>) -> Vec<String> {
    let mut lines: Vec<String> = lines.iter().map(|l| normalized(l)).collect();
    lines.sort();
    lines
}

/// Runs one case to convergence and checks every oracle; panics with the seed on a failure.
async fn check(seed: u64) {
    check_case(seed, Case::draw(seed)).await;
}

/// A run that failed because page tokens kept expiring (the fault the case plays, far more often
/// than Zoom's 15 minutes) failed loudly, as it should; what it wrote stays, and later runs go on.
fn tolerate_faults(case: &Case, result: Result<RunSummary, RunError>) -> Result<(), RunError> {
    match result {
        Err(RunError::Pull {
            source: super::PullError::Source(SourceError::PageTokenExpired),
            ..
        }) if case.expire_token_every.is_some() => Ok(()),
        other => other.map(drop),
    }
}

/// Runs `case` (its events drawn from `seed`) to convergence and checks every oracle.
async fn check_case(seed: u64, case: Case) {
    let context = format!("seed {seed}: {case:?}");
    let effects = Effects::default();
    let mut world = World::new(case.order, &effects);
    world.zoom.day_offset = Duration::hours(case.day_offset_hours);
    world.zoom.to_exclusive = case.to_exclusive;
    world.zoom.page_size = case.page_size;
    world.zoom.repeat_last_page = case.repeat_last_page;
    world.zoom.new_token_each_repeat = case.new_token_each_repeat;
    world.zoom.expire_token_every = case.expire_token_every;
    world.zoom.latency = std::time::Duration::from_millis(100);
    world.config.recheck_interval = Duration::zero();
    world.config.buffer_budget_bytes = 64 * 1024;
    // A user-authorized app: its refresh token rotates.
    world.store = MemoryStore::new(
        r#"{"client_id":"c","client_secret":"s","refresh_token":"r0"}"#,
        &effects,
    );
    let auth = Auth::default();
    *auth.live.lock().unwrap() = "r0".into();
    let first = at("2026-11-29T21:15:00Z");
    let start = first - Duration::days(20);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    seed_both(
        &world,
        first - Duration::days(3),
        first,
        case.events_per_type,
        seed,
    );

    let mut reference = first;
    let runs = 8;
    for run in 0..runs {
        if case.refuses_future_to {
            let zoom_today = (reference + world.zoom.day_offset).date_naive();
            *world.zoom.refuse_to_after.lock().unwrap() = Some(zoom_today);
        }
        let last = run == runs - 1;
        if !last && run > 0 {
            // New events, ties at the window's edge, and (maybe) late ones behind the cursor.
            for log_type in LogType::ALL {
                let new = events(
                    log_type,
                    40,
                    reference - Duration::minutes(15),
                    reference,
                    seed + run,
                );
                world.zoom.add(log_type, new);
                if case.late_arrivals {
                    let behind = reference - Duration::hours(rng.random_range(1..20));
                    let late = events(
                        log_type,
                        3,
                        behind - Duration::minutes(5),
                        behind,
                        seed + 99 + run,
                    );
                    world.zoom.add(log_type, late);
                }
            }
        }
        if case.drift && run == runs / 2 {
            world.zoom.drift.store(true, Ordering::SeqCst);
        }
        let crash_now = run == 1 && case.crash_at.is_some();
        if crash_now {
            let before = effects.count.load(Ordering::SeqCst);
            *effects.crash_at.lock().unwrap() = case.crash_at.map(|n| before + n);
        }
        let deadline = (run == 2)
            .then_some(case.deadline_after_pages)
            .flatten()
            .map(|pages| {
                tokio::time::Instant::now()
                    + std::time::Duration::from_millis(100 * u64::from(pages))
            });
        if run == 4 {
            tolerate_faults(&case, refreshing_run(&world, &auth, &case, reference).await)
                .unwrap_or_else(|e| panic!("{context}: refreshing run failed: {e}"));
        } else if case.overlap && run == 3 {
            let (a, b) = tokio::join!(world.run(reference), async {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                world.run(reference + Duration::minutes(1)).await
            });
            for result in [a, b] {
                tolerate_faults(&case, result)
                    .unwrap_or_else(|e| panic!("{context}: overlapping run failed: {e}"));
            }
        } else {
            let result = world.run_with_deadline(reference, deadline).await;
            if !crash_now {
                tolerate_faults(&case, result)
                    .unwrap_or_else(|e| panic!("{context}: run {run} failed: {e}"));
            }
        }
        *effects.crash_at.lock().unwrap() = None;
        // A crash or a deadline leaves work: the next runs go on from it.
        reference += Duration::minutes(if case.refuses_future_to { 12 * 60 } else { 15 });
    }
    // Converge once the faults are over: runs on until every log type is up to date and was
    // re-checked without stopping.
    world.zoom.expire_token_every = None;
    let mut converged = false;
    for _ in 0..20 {
        if case.refuses_future_to {
            let zoom_today = (reference + world.zoom.day_offset).date_naive();
            *world.zoom.refuse_to_after.lock().unwrap() = Some(zoom_today);
        }
        let summary = world
            .run(reference)
            .await
            .unwrap_or_else(|e| panic!("{context}: converging run failed: {e}"));
        let budget = world.config.buffer_budget_bytes / world.config.concurrent_queries.max(1);
        for s in &summary.log_types {
            // A query holds at most its share of the budget, plus the page and part it adds.
            let slack = (case.page_size + world.config.object_max_events) * 2048;
            assert!(
                s.peak_buffered_bytes as usize <= budget + slack,
                "{context}: {} held {} bytes",
                s.log_type,
                s.peak_buffered_bytes
            );
        }
        // Held by a refused future day is as far as a run can go until Zoom's next day.
        converged = summary.log_types.iter().all(|s| match s.stopped_early {
            None => s.recheck.as_ref().is_some_and(|r| !r.incomplete),
            Some(stop) => stop == super::StopReason::FutureDayRefused,
        });
        if converged {
            break;
        }
        reference += Duration::minutes(15);
    }
    assert!(converged, "{context}: did not converge");
    let stored: serde_json::Value =
        serde_json::from_str(&world.store.document.lock().unwrap()).unwrap();
    assert_eq!(
        stored["refresh_token"].as_str(),
        Some(auth.live.lock().unwrap().as_str()),
        "{context}: the stored refresh token is the live one"
    );
    assert_eq!(*auth.revoked.lock().unwrap(), None, "{context}");
    for log_type in LogType::ALL {
        let cursor = world
            .cursor(log_type)
            .unwrap_or_else(|| panic!("{context}: no cursor"));
        let expected = normalized_all(world.expected(log_type, start, cursor));
        for (consumer, seen) in [
            ("a listing", world.written(log_type)),
            ("a notification consumer", world.notified(log_type)),
        ] {
            let seen = normalized_all(seen);
            assert_eq!(
                seen.len(),
                expected.len(),
                "{context}: {log_type}: event count as {consumer} sees it"
            );
            assert!(
                seen == expected,
                "{context}: {log_type}: events as {consumer} sees them"
            );
        }
    }
}

/// A case with every knob off: regression tests turn on the ones that broke.
fn plain() -> Case {
    Case {
        order: Order::NewestFirst,
        day_offset_hours: 0,
        to_exclusive: false,
        refuses_future_to: false,
        page_size: 5,
        events_per_type: 200,
        late_arrivals: false,
        drift: false,
        repeat_last_page: 0,
        new_token_each_repeat: false,
        crash_at: None,
        expire_token_every: None,
        deadline_after_pages: None,
        overlap: false,
        own_refresh_at: None,
        other_refresh_at: None,
    }
}

/// Found by seed 1: with `to` exclusive, a query up to Zoom's today lists only up to yesterday,
/// but a refused future day held the window at today's 10:00 UTC; a day of events was skipped.
#[tokio::test(start_paused = true)]
async fn a_refused_future_day_with_an_exclusive_to_holds_the_window_a_day_earlier() {
    for order in [Order::DaysAscending, Order::Shuffled, Order::OldestFirst] {
        for day_offset_hours in [-4, 0, 9] {
            let case = Case {
                order,
                day_offset_hours,
                to_exclusive: true,
                refuses_future_to: true,
                ..plain()
            };
            check_case(1, case).await;
        }
    }
}

/// Found by seed 4: another writer rotated the refresh token and the run's reads of the secret
/// lagged; Zoom refused the run's token, and the reload took the lagging read (the version the
/// run had loaded) for the truth and failed as revoked.
#[tokio::test(start_paused = true)]
async fn a_refresh_refused_after_another_writers_rotation_waits_out_lagging_reads() {
    for (other_at, lag) in [(1, 3), (3, 3), (5, 2)] {
        let case = Case {
            own_refresh_at: Some(5),
            other_refresh_at: Some((other_at, lag)),
            ..plain()
        };
        check_case(4, case).await;
    }
}

/// Found by seed 7082 (`make soak`), the model too strict: with page tokens expiring every third
/// request, the run that also refreshes the token failed loudly with an expired page token, as it
/// should. It is tolerated like every other run under that fault, and the oracles still hold: the
/// stored refresh token is the live one, and every event is written once.
#[tokio::test(start_paused = true)]
async fn a_refreshing_run_whose_page_tokens_keep_expiring_fails_loudly_and_keeps_the_live_token() {
    check(7082).await;
}

/// Found by seed 9218 (`make soak`): another run claimed the checkpoint marker while this run was
/// re-checking late events; the lost compare-and-swap failed the run with a storage error instead
/// of stopping it as `overlapped`, as a claim during the pull does.
#[tokio::test(start_paused = true)]
async fn a_run_overtaken_during_its_recheck_stops_as_overlapped() {
    check(9218).await;
}

/// The seeds `make test` runs.
const SEEDS: std::ops::Range<u64> = 1..41;

#[tokio::test(start_paused = true)]
async fn every_promise_holds_across_random_zooms_workloads_and_faults() {
    for seed in SEEDS {
        println!("model case seed {seed}");
        check(seed).await;
    }
}

/// `make soak`: random seeds from `MODEL_SEED` (default: the clock), `MODEL_CASES` of them.
#[tokio::test(start_paused = true)]
#[ignore = "run by `make soak`"]
async fn soak() {
    let first = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp() as u64);
    let cases: u64 = std::env::var("MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for seed in first..first + cases {
        println!("model case seed {seed}");
        check(seed).await;
    }
}
