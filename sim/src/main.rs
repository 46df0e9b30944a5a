//! `zoom-sim`: runs the simulator as a standalone server for the demo and benchmarks: seeds
//! events, optionally writes a freshly authorized refresh token to a file, announces its URL on
//! stdout, and serves until SIGTERM or SIGINT.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use zoom_sim::{LogType, Order, PageLoop, SimConfig, Simulator, generate_events};

/// A Zoom report and OAuth API simulator.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Zoom.Activity events to seed.
    #[arg(long, default_value_t = 500)]
    activity_events: usize,
    /// Zoom.Operation events to seed.
    #[arg(long, default_value_t = 500)]
    operation_events: usize,
    /// Seeded events are spread over this many minutes before now.
    #[arg(long, default_value_t = 1440)]
    minutes_back: i64,
    /// newest-first, oldest-first, shuffled or days-ascending.
    #[arg(long)]
    order: Option<Order>,
    /// UTC offset of the from/to day boundaries.
    #[arg(long, allow_negative_numbers = true)]
    day_offset_minutes: Option<i32>,
    /// Refuse a `to` day later than today (HTTP 400), as Zoom might.
    #[arg(long)]
    refuse_future_to: bool,
    /// Play an exclusive `to`: a query lists the events whose day (in the day-boundary zone) is
    /// from <= day < to, so from == to lists nothing at all. Default: `to` is inclusive.
    #[arg(long)]
    to_exclusive: bool,
    /// Fault: the last page of every query carries a next_page_token that leads to the same,
    /// byte-identical last page (same token), N times; then that token gets a page with no events
    /// and an empty token, which ends the query. The client sees the last page N+1 times.
    #[arg(long, value_name = "N", conflicts_with = "loop_page_token")]
    repeat_last_page: Option<u32>,
    /// Fault: the last page of every query carries a next_page_token that leads to itself for as
    /// long as the token lives (15 minutes): the byte-identical last page, same token, forever.
    #[arg(long)]
    loop_page_token: bool,
    /// Serialization drift: report pages show every event with its keys in reverse order and an
    /// extra unknown field "drift_field":true at the end; values keep their bytes.
    #[arg(long)]
    drift_serialization: bool,
    #[arg(long)]
    page_size_cap: Option<usize>,
    #[arg(long)]
    qps_limit: Option<u32>,
    #[arg(long)]
    daily_limit: Option<u64>,
    /// Probability of a random 5xx per report request.
    #[arg(long)]
    error_rate_5xx: Option<f64>,
    /// Probability of a body cut off mid-way per report request.
    #[arg(long)]
    drop_rate: Option<f64>,
    /// Probability that a report request presenting a page token finds it expired.
    #[arg(long)]
    token_expiry_rate: Option<f64>,
    /// Milliseconds every report request waits before its reply.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Up to this many more milliseconds per report request, uniformly random (seeded).
    #[arg(long, default_value_t = 0)]
    latency_jitter_ms: u64,
    /// Share of events (seeded ones included) that reach the report late.
    #[arg(long)]
    late_fraction: Option<f64>,
    /// A late event shows up at least this many minutes after its time.
    #[arg(long)]
    late_min_minutes: Option<u64>,
    /// A late event shows up at most this many minutes after its time.
    #[arg(long)]
    late_max_minutes: Option<u64>,
    /// Pad every report page and token grant with this many bytes of whitespace (an oversized answer).
    #[arg(long, default_value_t = 0)]
    pad_response_bytes: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write a freshly authorized refresh token here.
    #[arg(long)]
    refresh_token_file: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> SimConfig {
        let defaults = SimConfig::default();
        SimConfig {
            port: self.port,
            order: self.order.unwrap_or(defaults.order),
            day_offset_minutes: self
                .day_offset_minutes
                .unwrap_or(defaults.day_offset_minutes),
            refuse_future_to: self.refuse_future_to,
            to_inclusive: !self.to_exclusive,
            page_loop: self.page_loop(),
            drift_serialization: self.drift_serialization,
            page_size_cap: self.page_size_cap.unwrap_or(defaults.page_size_cap),
            qps_limit: self.qps_limit,
            daily_limit: self.daily_limit,
            error_rate_5xx: self.error_rate_5xx.unwrap_or(defaults.error_rate_5xx),
            drop_rate: self.drop_rate.unwrap_or(defaults.drop_rate),
            token_expiry_rate: self.token_expiry_rate.unwrap_or(defaults.token_expiry_rate),
            latency: Duration::from_millis(self.latency_ms),
            latency_jitter: Duration::from_millis(self.latency_jitter_ms),
            late_fraction: self.late_fraction.unwrap_or(defaults.late_fraction),
            late_delay_min: self
                .late_min_minutes
                .map_or(defaults.late_delay_min, minutes),
            late_delay_max: self
                .late_max_minutes
                .map_or(defaults.late_delay_max, minutes),
            pad_response_bytes: self.pad_response_bytes,
            seed: self.seed,
            ..defaults
        }
    }

    fn page_loop(&self) -> PageLoop {
        match (self.loop_page_token, self.repeat_last_page) {
            (true, _) => PageLoop::Forever,
            (false, Some(n)) => PageLoop::Repeat(n),
            (false, None) => PageLoop::Off,
        }
    }
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(60))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let sim = Simulator::start(args.config());
    let end = Utc::now();
    let start = end - TimeDelta::minutes(args.minutes_back);
    for (log_type, count, seed) in [
        (LogType::Activity, args.activity_events, args.seed),
        (
            LogType::Operation,
            args.operation_events,
            args.seed.wrapping_add(1),
        ),
    ] {
        sim.add_events(log_type, generate_events(log_type, count, start, end, seed));
    }
    if let Some(path) = &args.refresh_token_file {
        std::fs::write(path, sim.authorize())?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "zoom-sim listening on {}", sim.base_url())?;
    stdout.flush()?;
    drop(stdout);
    wait_for_termination()?;
    Ok(())
}

fn wait_for_termination() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> SimConfig {
        let argv = std::iter::once("zoom-sim").chain(args.iter().copied());
        Args::try_parse_from(argv).expect("valid flags").config()
    }

    #[test]
    fn flags_set_the_knobs() {
        let config = config(&[
            "--order",
            "days-ascending",
            "--latency-ms",
            "300",
            "--latency-jitter-ms",
            "700",
            "--token-expiry-rate",
            "0.15",
            "--late-fraction",
            "0.1",
            "--late-min-minutes",
            "20",
            "--late-max-minutes",
            "1200",
        ]);
        assert_eq!(config.order, Order::DaysAscending);
        assert_eq!(config.latency, Duration::from_millis(300));
        assert_eq!(config.latency_jitter, Duration::from_millis(700));
        assert_eq!(config.token_expiry_rate, 0.15);
        assert_eq!(config.late_fraction, 0.1);
        assert_eq!(
            (config.late_delay_min, config.late_delay_max),
            (minutes(20), minutes(1200))
        );
    }

    #[test]
    fn flags_set_the_zoom_variants() {
        let variants = config(&["--to-exclusive", "--drift-serialization"]);
        assert!(!variants.to_inclusive);
        assert!(variants.drift_serialization);
        assert_eq!(variants.page_loop, PageLoop::Off);
        let repeat = config(&["--repeat-last-page", "3"]);
        assert_eq!(repeat.page_loop, PageLoop::Repeat(3));
        assert_eq!(config(&["--loop-page-token"]).page_loop, PageLoop::Forever);
        let both = ["zoom-sim", "--loop-page-token", "--repeat-last-page", "1"];
        assert!(
            Args::try_parse_from(both).is_err(),
            "the loop knobs conflict"
        );
    }

    #[test]
    fn no_flags_keep_the_defaults() {
        let (config, defaults) = (config(&[]), SimConfig::default());
        assert_eq!(config.order, defaults.order);
        assert_eq!(config.to_inclusive, defaults.to_inclusive);
        assert_eq!(config.page_loop, defaults.page_loop);
        assert_eq!(config.drift_serialization, defaults.drift_serialization);
        assert_eq!(
            (config.latency, config.latency_jitter),
            (defaults.latency, defaults.latency_jitter)
        );
        assert_eq!(config.token_expiry_rate, defaults.token_expiry_rate);
        assert_eq!(config.late_fraction, defaults.late_fraction);
        assert_eq!(
            (config.late_delay_min, config.late_delay_max),
            (defaults.late_delay_min, defaults.late_delay_max)
        );
    }
}
