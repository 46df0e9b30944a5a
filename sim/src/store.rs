//! The event store: raw events kept byte-for-byte with their parsed time and the instant from
//! which reports show them (late arrival), per log type, and the selection of one report's events
//! (visible now, day range, category, order) as a snapshot. An event that becomes visible while a
//! query is being paged shows up in the next query, not in that query's later pages.

use std::cmp::Reverse;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;

use crate::config::{Order, SimConfig};
use crate::log_type::LogType;
use crate::paging::Snapshot;

struct StoredEvent {
    secs: i64,
    /// Unix milliseconds from which reports show the event; `i64::MIN` for at once.
    visible_from: i64,
    raw: Box<str>,
}

/// When added events become visible to report queries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arrival {
    /// Each event by itself: with probability `fraction`, a uniform random delay in
    /// [`min`, `max`] after its `time`; otherwise at once.
    Late {
        fraction: f64,
        min: Duration,
        max: Duration,
    },
    /// Every event at this instant, whatever its `time`.
    At(DateTime<Utc>),
}

impl Arrival {
    /// Late arrival as the config's `late_*` knobs describe it.
    pub(crate) fn configured(config: &SimConfig) -> Arrival {
        Arrival::Late {
            fraction: config.late_fraction,
            min: config.late_delay_min,
            max: config.late_delay_max,
        }
    }
}

/// The days a report covers, in the time zone of its day boundaries.
pub(crate) struct DayRange {
    pub(crate) first: NaiveDate,
    pub(crate) last: NaiveDate,
    pub(crate) offset_minutes: i32,
}

impl DayRange {
    fn contains(&self, secs: i64) -> bool {
        self.day_of(secs)
            .is_some_and(|day| self.first <= day && day <= self.last)
    }

    /// The day, in the time zone of the day boundaries, that holds this instant.
    fn day_of(&self, secs: i64) -> Option<NaiveDate> {
        DateTime::from_timestamp(secs + i64::from(self.offset_minutes) * 60, 0)
            .map(|t| t.date_naive())
    }
}

pub(crate) struct EventStore {
    logs: [Vec<StoredEvent>; 2],
    /// Draws which events arrive late, and how late.
    rng: StdRng,
}

impl EventStore {
    pub(crate) fn new(seed: u64) -> EventStore {
        EventStore {
            logs: Default::default(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Stores one raw JSON object; it must have an RFC 3339 `time`.
    pub(crate) fn add(
        &mut self,
        log_type: LogType,
        raw: String,
        arrival: Arrival,
    ) -> Result<(), String> {
        #[derive(Deserialize)]
        struct Timed {
            time: String,
        }
        let timed: Timed = serde_json::from_str(&raw)
            .map_err(|e| format!("not a JSON object with a string `time`: {e}: {raw}"))?;
        let time = DateTime::parse_from_rfc3339(&timed.time)
            .map_err(|e| format!("`time` is not RFC 3339: {e}: {raw}"))?;
        let visible_from = self.visible_from(time.timestamp_millis(), arrival);
        self.logs[log_type.index()].push(StoredEvent {
            secs: time.timestamp(),
            visible_from,
            raw: raw.into_boxed_str(),
        });
        Ok(())
    }

    /// When an event with this time (Unix milliseconds) becomes visible.
    fn visible_from(&mut self, time: i64, arrival: Arrival) -> i64 {
        match arrival {
            Arrival::At(instant) => instant.timestamp_millis(),
            Arrival::Late { fraction, min, max } => {
                if !self.rng.random_bool(fraction.clamp(0.0, 1.0)) {
                    return i64::MIN;
                }
                let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let (min, max) = (millis(min), millis(max));
                time.saturating_add(self.rng.random_range(min..=max.max(min)))
            }
        }
    }

    /// How many stored events of either log type reports do not show yet at `now`.
    pub(crate) fn hidden(&self, now: DateTime<Utc>) -> u64 {
        let now = now.timestamp_millis();
        let hidden = self
            .logs
            .iter()
            .flatten()
            .filter(|e| e.visible_from > now)
            .count();
        hidden as u64
    }

    pub(crate) fn len(&self, log_type: LogType) -> usize {
        self.logs[log_type.index()].len()
    }

    pub(crate) fn raw(&self, log_type: LogType, index: u32) -> &str {
        &self.logs[log_type.index()][index as usize].raw
    }

    pub(crate) fn all(&self, log_type: LogType) -> impl Iterator<Item = &str> {
        self.logs[log_type.index()].iter().map(|e| &*e.raw)
    }

    /// The events of a report visible at `now`, in report order. `category` is the lowercase
    /// filter value (`user_settings`), matched against the display string (`User Settings`).
    pub(crate) fn select(
        &self,
        log_type: LogType,
        days: &DayRange,
        category: Option<&str>,
        order: Order,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Snapshot {
        let events = &self.logs[log_type.index()];
        let now = now.timestamp_millis();
        let mut picked: Vec<u32> = (0..events.len() as u32)
            .filter(|&i| {
                let event = &events[i as usize];
                event.visible_from <= now
                    && days.contains(event.secs)
                    && category.is_none_or(|c| category_of(&event.raw).as_deref() == Some(c))
            })
            .collect();
        match order {
            Order::NewestFirst => picked.sort_by_key(|&i| Reverse(events[i as usize].secs)),
            Order::OldestFirst => picked.sort_by_key(|&i| events[i as usize].secs),
            Order::Shuffled => picked.shuffle(&mut StdRng::seed_from_u64(seed)),
            Order::DaysAscending => picked.sort_by_key(|&i| {
                let secs = events[i as usize].secs;
                (days.day_of(secs), Reverse(secs))
            }),
        }
        picked.into()
    }
}

/// An operation log's `category_type` in the form of the filter enum: `Zoom Rooms` → `zoom_rooms`.
fn category_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Categorized {
        category_type: Option<String>,
    }
    let categorized: Categorized = serde_json::from_str(raw).ok()?;
    Some(categorized.category_type?.to_lowercase().replace(' ', "_"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn event(time: DateTime<Utc>) -> String {
        format!(r#"{{"time":"{}"}}"#, time.format("%Y-%m-%dT%H:%M:%SZ"))
    }

    fn recent_days(now: DateTime<Utc>) -> DayRange {
        let day = now.date_naive();
        DayRange {
            first: day - chrono::Days::new(2),
            last: day,
            offset_minutes: 0,
        }
    }

    fn visible(store: &EventStore, now: DateTime<Utc>) -> usize {
        let order = Order::NewestFirst;
        let snapshot = store.select(LogType::Activity, &recent_days(now), None, order, 0, now);
        snapshot.len()
    }

    #[test]
    fn an_explicit_instant_hides_events_until_then() {
        let now = Utc::now();
        let mut store = EventStore::new(0);
        let at = Arrival::At(now + TimeDelta::minutes(5));
        for time in [now - TimeDelta::hours(3), now] {
            store
                .add(LogType::Activity, event(time), at)
                .expect("valid");
        }
        assert_eq!((visible(&store, now), store.hidden(now)), (0, 2));
        let later = now + TimeDelta::minutes(5);
        assert_eq!((visible(&store, later), store.hidden(later)), (2, 0));
    }

    #[test]
    fn late_events_show_up_a_random_delay_after_their_time() {
        let now = Utc::now();
        let mut store = EventStore::new(7);
        let late = Arrival::Late {
            fraction: 0.5,
            min: HOUR,
            max: 2 * HOUR,
        };
        let time = now - TimeDelta::minutes(90);
        for _ in 0..1000 {
            store
                .add(LogType::Activity, event(time), late)
                .expect("valid");
        }
        let late = 1000 - visible(&store, time) as u64;
        assert!((400..600).contains(&late), "{late} of 1000 late");
        let hour_later = time + TimeDelta::hours(1);
        assert_eq!(store.hidden(hour_later - TimeDelta::seconds(1)), late);
        assert_eq!(store.hidden(time + TimeDelta::hours(2)), 0);
        let hidden = store.hidden(now);
        assert!(
            0 < hidden && hidden < late,
            "{hidden} of {late} still hidden"
        );
        assert_eq!(visible(&store, now) as u64 + hidden, 1000);

        let on_time = Arrival::Late {
            fraction: 0.0,
            min: HOUR,
            max: HOUR,
        };
        let mut store = EventStore::new(7);
        store
            .add(LogType::Activity, event(now + TimeDelta::hours(1)), on_time)
            .expect("valid");
        assert_eq!(
            (visible(&store, now), store.hidden(now)),
            (1, 0),
            "no lateness, no hiding"
        );
    }
}
