//! Progress of a long `zoomlogs pull` on a terminal: one line per log type (pages, events, the
//! time reached) that updates in place. The pull use case reports its progress as TRACE events
//! with target [`TARGET`]; [`Progress::layer`] is a `tracing` layer that keeps the latest values
//! per log type and redraws the lines with indicatif. It is installed only when standard error is
//! a terminal, so off a terminal (CI, pipes, Lambda) the output is exactly what it was without it.
//! While the lines are shown, log lines are printed above them through [`Progress::log_writer`].
//!
//! Each line has a horizon: the share of the log type's window `(start, end]` that is done and an
//! estimate of the time left at the pace so far. The window is what the CLI knows before the run
//! ([`Progress::set_window`]: from the cursor, or the initial lookback, to the reference time
//! minus the settle time) unless the event itself carries `window_start`/`window_end`. The share is
//! what `reached` has passed, or `covered_seconds` (the seconds of the window the queries have
//! passed, slices in flight included) when the event carries it.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The target of the use case's progress events.
pub const TARGET: &str = "zoomlogs::progress";

/// The latest progress of one log type, as the use case reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogTypeProgress {
    /// Pages fetched in this run so far.
    pub pages: u64,
    /// Events written in this run so far.
    pub events: u64,
    /// The oldest time the log type has fully covered so far (RFC 3339), or empty.
    pub reached: String,
    /// The run's window of the log type, `(start, end]`, if known.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Seconds of the window passed so far, if the event says (slices in flight included).
    pub covered_seconds: Option<u64>,
    /// Time since the log type's first progress event.
    pub elapsed: Duration,
}

impl LogTypeProgress {
    /// The share of the window done, from 0 to 1, if the window is known.
    pub fn share(&self) -> Option<f64> {
        let (start, end) = self.window?;
        let span = (end - start).num_seconds();
        if span <= 0 {
            return Some(1.0);
        }
        let reached = self
            .reached
            .parse::<DateTime<Utc>>()
            .ok()
            .map_or(0, |r| (r.min(end) - start).num_seconds().max(0));
        let covered = self
            .covered_seconds
            .map_or(0, |c| c.min(i64::MAX as u64) as i64);
        Some((reached.max(covered).min(span)) as f64 / span as f64)
    }

    /// The time left at the pace so far, once something is done.
    pub fn time_left(&self) -> Option<Duration> {
        let share = self.share()?;
        if share <= 0.0 || self.elapsed.is_zero() {
            return None;
        }
        Some(self.elapsed.mul_f64((1.0 - share) / share))
    }

    fn horizon(&self) -> String {
        let Some(share) = self.share() else {
            return String::new();
        };
        let percent = (share * 100.0).floor();
        let left = match self.time_left() {
            _ if share >= 1.0 => "done".to_owned(),
            Some(left) => format!("about {} left", short_duration(left)),
            None => "time left not known yet".to_owned(),
        };
        format!(", {percent:.0}% of the window, {left}")
    }
}

/// `45 s`, `12 min`, `3 h 5 min`.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The lines shown for the latest values, one per log type in name order, aligned.
pub fn render(latest: &BTreeMap<String, LogTypeProgress>) -> Vec<String> {
    let name_width = latest.keys().map(String::len).max().unwrap_or(0);
    let pages_width = width(latest.values().map(|p| p.pages));
    let events_width = width(latest.values().map(|p| p.events));
    latest
        .iter()
        .map(|(name, p)| {
            let reached = if p.reached.is_empty() {
                "nothing complete yet"
            } else {
                &p.reached
            };
            format!(
                "{name:<name_width$}  {:>pages_width$} {:<5}  {:>events_width$} {:<6}  reached {reached}{}",
                p.pages,
                plural(p.pages, "page", "pages"),
                p.events,
                plural(p.events, "event", "events"),
                p.horizon(),
            )
        })
        .collect()
}

fn width(numbers: impl Iterator<Item = u64>) -> usize {
    numbers.map(|n| n.to_string().len()).max().unwrap_or(1)
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The progress display of one pull.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    shown: Arc<Mutex<Shown>>,
}

#[derive(Default)]
struct Shown {
    latest: BTreeMap<String, LogTypeProgress>,
    bars: BTreeMap<String, ProgressBar>,
    /// The windows the CLI set, by log type.
    windows: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    /// When each log type's first progress event came.
    started: BTreeMap<String, Instant>,
}

impl Progress {
    /// A display on standard error, if standard error is a terminal.
    pub fn on_terminal() -> Option<Progress> {
        std::io::stderr()
            .is_terminal()
            .then(|| Progress::drawing_to(ProgressDrawTarget::stderr()))
    }

    /// A display drawing to `target` (tests pass a hidden one).
    pub fn drawing_to(target: ProgressDrawTarget) -> Progress {
        Progress {
            multi: MultiProgress::with_draw_target(target),
            shown: Arc::default(),
        }
    }

    /// The layer that listens for the use case's progress events, and only for them.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ProgressLayer {
            progress: self.clone(),
        }
        .with_filter(Targets::new().with_target(TARGET, Level::TRACE))
    }

    /// A writer for log lines that prints them above the progress lines.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter {
            multi: self.multi.clone(),
        }
    }

    /// The run's window `(start, end]` of `log_type`, for the share done and the time left.
    pub fn set_window(&self, log_type: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
        let mut shown = self.shown.lock().expect("the progress lock");
        shown.windows.insert(log_type.to_owned(), (start, end));
    }

    /// The lines as currently shown.
    pub fn lines(&self) -> Vec<String> {
        let shown = self.shown.lock().expect("the progress lock");
        shown
            .bars
            .values()
            .map(|bar| bar.message().to_string())
            .collect()
    }

    /// Leaves the last lines on the screen and stops redrawing.
    pub fn finish(&self) {
        let shown = self.shown.lock().expect("the progress lock");
        for bar in shown.bars.values() {
            bar.finish();
        }
    }

    fn update(&self, log_type: String, mut progress: LogTypeProgress) {
        let mut shown = self.shown.lock().expect("the progress lock");
        let Shown {
            latest,
            bars,
            windows,
            started,
        } = &mut *shown;
        if progress.window.is_none() {
            progress.window = windows.get(&log_type).copied();
        }
        progress.elapsed = started
            .entry(log_type.clone())
            .or_insert_with(Instant::now)
            .elapsed();
        latest.insert(log_type.clone(), progress);
        bars.entry(log_type).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        for (line, bar) in render(latest).into_iter().zip(bars.values()) {
            bar.set_message(line);
        }
    }
}

struct ProgressLayer {
    progress: Progress,
}

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(log_type) = fields.log_type.take() {
            self.progress.update(log_type, fields.into_progress());
        }
    }
}

/// The fields of one progress event.
#[derive(Default)]
struct Fields {
    log_type: Option<String>,
    progress: LogTypeProgress,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
}

impl Fields {
    fn into_progress(self) -> LogTypeProgress {
        let mut progress = self.progress;
        if let (Some(start), Some(end)) = (self.window_start, self.window_end) {
            progress.window = Some((start, end));
        }
        progress
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "log_type" => self.log_type = Some(value.to_owned()),
            "reached" => self.progress.reached = value.to_owned(),
            "window_start" => self.window_start = value.parse().ok(),
            "window_end" => self.window_end = value.parse().ok(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "pages" => self.progress.pages = value,
            "events" => self.progress.events = value,
            "covered_seconds" => self.progress.covered_seconds = Some(value),
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0).unsigned_abs());
    }

    /// `%value` fields arrive here; their `Debug` is their `Display`.
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Makes a [`BufferedLine`] per log event.
#[derive(Clone)]
pub struct LogWriter {
    multi: MultiProgress,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = BufferedLine;

    fn make_writer(&'a self) -> BufferedLine {
        BufferedLine {
            multi: self.multi.clone(),
            buffer: Vec::new(),
        }
    }
}

/// One log event's text, written to standard error with the progress lines out of the way.
pub struct BufferedLine {
    multi: MultiProgress,
    buffer: Vec<u8>,
}

impl Write for BufferedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BufferedLine {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let bytes = std::mem::take(&mut self.buffer);
            // Nowhere to report a failed write of a log line; the fmt layer ignores them too.
            self.multi
                .suspend(|| drop(std::io::stderr().write_all(&bytes)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn p(pages: u64, events: u64, reached: &str) -> LogTypeProgress {
        LogTypeProgress {
            pages,
            events,
            reached: reached.into(),
            ..LogTypeProgress::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_line_shows_the_share_of_the_window_done_and_the_time_left() {
        let window = Some((at("2026-11-01T00:00:00Z"), at("2026-11-11T00:00:00Z")));
        let mut activity = LogTypeProgress {
            window,
            elapsed: Duration::from_secs(120),
            ..p(40, 12000, "2026-11-03T12:00:00Z")
        };
        assert_eq!(activity.share(), Some(0.25));
        assert_eq!(activity.time_left(), Some(Duration::from_secs(360)));
        let latest = BTreeMap::from([("Zoom.Activity".to_owned(), activity.clone())]);
        assert_eq!(
            render(&latest),
            [
                "Zoom.Activity  40 pages  12000 events  reached 2026-11-03T12:00:00Z, 25% of the \
              window, about 6 min left"
            ]
        );
        // Inside a large slice nothing is complete yet; what the queries passed still counts.
        activity.reached = String::new();
        activity.covered_seconds = Some(5 * 86_400);
        assert_eq!(activity.share(), Some(0.5));
        assert!(
            render(&BTreeMap::from([("A".to_owned(), activity.clone())]))[0]
                .ends_with("reached nothing complete yet, 50% of the window, about 2 min left")
        );
        activity.covered_seconds = None;
        assert!(
            render(&BTreeMap::from([("A".to_owned(), activity)]))[0]
                .ends_with("0% of the window, time left not known yet")
        );
    }

    #[test]
    fn the_layer_takes_the_window_the_cli_set_or_the_one_the_event_carries() {
        let progress = Progress::drawing_to(ProgressDrawTarget::hidden());
        progress.set_window(
            "Zoom.Activity",
            at("2026-11-01T00:00:00Z"),
            at("2026-11-05T00:00:00Z"),
        );
        let subscriber = tracing_subscriber::registry().with(progress.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: TARGET, log_type = "Zoom.Activity", pages = 3u64, events = 900u64, reached = "2026-11-02T00:00:00Z");
            tracing::trace!(target: TARGET, log_type = "Zoom.Operation", pages = 1u64, events = 5u64, reached = "",
                window_start = "2026-11-01T00:00:00Z", window_end = "2026-11-03T00:00:00Z", covered_seconds = 86_400u64);
        });
        let lines = progress.lines();
        assert!(lines[0].contains(", 25% of the window, "), "{lines:?}");
        assert!(lines[1].contains(", 50% of the window, "), "{lines:?}");
        progress.finish();
    }

    #[test]
    fn lines_are_aligned_per_log_type_in_name_order() {
        let latest = BTreeMap::from([
            ("Zoom.Operation".to_owned(), p(1, 0, "")),
            (
                "Zoom.Activity".to_owned(),
                p(12, 3400, "2026-11-29T20:40:00Z"),
            ),
        ]);
        assert_eq!(
            render(&latest),
            [
                "Zoom.Activity   12 pages  3400 events  reached 2026-11-29T20:40:00Z",
                "Zoom.Operation   1 page      0 events  reached nothing complete yet",
            ]
        );
        assert!(render(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn the_layer_shows_the_latest_values_of_the_progress_events_only() {
        let progress = Progress::drawing_to(ProgressDrawTarget::hidden());
        let subscriber = tracing_subscriber::registry().with(progress.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: TARGET, log_type = "Zoom.Activity", pages = 1u64, events = 300u64, reached = "");
            tracing::trace!(target: TARGET, log_type = "Zoom.Operation", pages = 1u64, events = 5u64, reached = "");
            tracing::trace!(target: TARGET, log_type = %"Zoom.Activity", pages = 2u64, events = 600u64, reached = "2026-11-29T20:40:00Z");
            tracing::info!(
                log_type = "Zoom.Activity",
                pages = 99u64,
                "not a progress event"
            );
        });
        assert_eq!(
            progress.lines(),
            [
                "Zoom.Activity   2 pages  600 events  reached 2026-11-29T20:40:00Z",
                "Zoom.Operation  1 page     5 events  reached nothing complete yet",
            ]
        );
        progress.finish();
    }
}
