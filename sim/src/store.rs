//! The event store: raw events kept byte-for-byte with their parsed time, per log type, and the
//! selection of one report's events (day range, category, order) as a snapshot.

use std::cmp::Reverse;

use chrono::{DateTime, NaiveDate};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Deserialize;

use crate::config::Order;
use crate::log_type::LogType;
use crate::paging::Snapshot;

struct StoredEvent {
    secs: i64,
    raw: Box<str>,
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

#[derive(Default)]
pub(crate) struct EventStore {
    logs: [Vec<StoredEvent>; 2],
}

impl EventStore {
    /// Stores one raw JSON object; it must have an RFC 3339 `time`.
    pub(crate) fn add(&mut self, log_type: LogType, raw: String) -> Result<(), String> {
        #[derive(Deserialize)]
        struct Timed {
            time: String,
        }
        let timed: Timed = serde_json::from_str(&raw)
            .map_err(|e| format!("not a JSON object with a string `time`: {e}: {raw}"))?;
        let time = DateTime::parse_from_rfc3339(&timed.time)
            .map_err(|e| format!("`time` is not RFC 3339: {e}: {raw}"))?;
        self.logs[log_type.index()].push(StoredEvent {
            secs: time.timestamp(),
            raw: raw.into_boxed_str(),
        });
        Ok(())
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

    /// The events of a report, in report order. `category` is the lowercase filter value
    /// (`user_settings`), matched against the display string (`User Settings`).
    pub(crate) fn select(
        &self,
        log_type: LogType,
        days: &DayRange,
        category: Option<&str>,
        order: Order,
        seed: u64,
    ) -> Snapshot {
        let events = &self.logs[log_type.index()];
        let mut picked: Vec<u32> = (0..events.len() as u32)
            .filter(|&i| {
                let event = &events[i as usize];
                days.contains(event.secs)
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
