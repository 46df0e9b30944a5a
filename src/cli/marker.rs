//! Checkpoint markers as `check` and `status` read them: leniently, and only to compare them with
//! the cursors. A marker records the window a log type is writing, either as one `start`/`end`
//! pair or as a `slices` array of `{start, end, …}`. A cursor agrees with it when it is at or before
//! the window's first start, at or after its last end, or exactly on a slice boundary; a cursor
//! strictly inside a slice is what makes a run fail with `CheckpointInconsistent`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::keys::marker_key;
use crate::log_type::LogType;
use crate::ports::{ObjectSink, StoreError};

/// The window a marker records.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkerView {
    pub key: String,
    /// The first start and the last end.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Every slice's start and end (just `start` and `end` for a marker without slices).
    pub boundaries: Vec<DateTime<Utc>>,
    /// How many slices, for a marker that has them.
    pub slices: Option<usize>,
}

impl MarkerView {
    /// Reads a marker's JSON; the error says what is missing, never the bytes themselves.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<MarkerView, String> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|_| "it is not JSON".to_owned())?;
        let (pairs, slices) = match value.get("slices") {
            Some(Value::Array(slices)) => {
                let pairs = slices
                    .iter()
                    .map(|slice| window_of(slice).ok_or("a slice lacks an RFC 3339 start or end"))
                    .collect::<Result<Vec<_>, _>>()?;
                (pairs, Some(slices.len()))
            }
            Some(_) => return Err("its `slices` is not an array".into()),
            None => (
                vec![window_of(&value).ok_or("it lacks an RFC 3339 `start` or `end`")?],
                None,
            ),
        };
        let start = pairs
            .iter()
            .map(|(s, _)| *s)
            .min()
            .ok_or("it has no slice")?;
        let end = pairs
            .iter()
            .map(|(_, e)| *e)
            .max()
            .ok_or("it has no slice")?;
        let mut boundaries: Vec<_> = pairs.iter().flat_map(|&(s, e)| [s, e]).collect();
        boundaries.sort();
        boundaries.dedup();
        Ok(MarkerView {
            key: key.to_owned(),
            start,
            end,
            boundaries,
            slices,
        })
    }

    /// Whether `cursor` agrees with the marker (no cursor yet: a first run, always).
    pub fn agrees_with(&self, cursor: Option<DateTime<Utc>>) -> bool {
        cursor.is_none_or(|c| c <= self.start || c >= self.end || self.boundaries.contains(&c))
    }

    /// Whether the marker's window is still being written: the cursor has not reached its end.
    pub fn is_open(&self, cursor: Option<DateTime<Utc>>) -> bool {
        cursor.is_none_or(|c| c < self.end)
    }

    /// `(start, end]`, with the number of slices if any.
    pub fn describe(&self) -> String {
        let window = format!("({}, {}]", rfc3339(self.start), rfc3339(self.end));
        match self.slices {
            Some(n) => format!("{window} in {n} slices"),
            None => window,
        }
    }
}

fn window_of(value: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let time = |name: &str| value.get(name)?.as_str()?.parse::<DateTime<Utc>>().ok();
    Some((time("start")?, time("end")?))
}

pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The marker of `log_type`: `None` if there is none, `Some(Err)` if it does not read as one.
pub async fn load<K: ObjectSink>(
    sink: &K,
    prefix: &str,
    log_type: LogType,
) -> Result<Option<Result<MarkerView, String>>, StoreError> {
    let key = marker_key(prefix, log_type);
    Ok(sink
        .get(&key)
        .await?
        .map(|bytes| MarkerView::parse(&key, &bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-12-01T{s}Z").parse().unwrap()
    }

    #[test]
    fn an_old_marker_agrees_with_a_cursor_outside_its_window() {
        let m = MarkerView::parse(
            "k",
            br#"{"log_type":"Zoom.Activity","start":"2026-12-01T10:00:00Z","end":"2026-12-01T11:00:00Z","object_max_events":50}"#,
        )
        .unwrap();
        assert_eq!(
            (m.start, m.end, m.slices),
            (t("10:00:00"), t("11:00:00"), None)
        );
        assert!(m.agrees_with(None));
        assert!(m.agrees_with(Some(t("09:00:00"))));
        assert!(m.agrees_with(Some(t("10:00:00"))));
        assert!(m.agrees_with(Some(t("11:00:00"))));
        assert!(m.agrees_with(Some(t("12:00:00"))));
        assert!(!m.agrees_with(Some(t("10:30:00"))));
        assert!(m.is_open(Some(t("10:00:00"))) && !m.is_open(Some(t("11:00:00"))));
    }

    #[test]
    fn a_sliced_marker_also_agrees_with_a_cursor_on_a_slice_boundary() {
        let m = MarkerView::parse(
            "k",
            br#"{"slices":[{"start":"2026-12-01T10:00:00Z","end":"2026-12-01T10:20:00Z","pages":3},
                          {"start":"2026-12-01T10:20:00Z","end":"2026-12-01T11:00:00Z"}],"extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            (m.start, m.end, m.slices),
            (t("10:00:00"), t("11:00:00"), Some(2))
        );
        assert!(m.agrees_with(Some(t("10:20:00"))));
        assert!(!m.agrees_with(Some(t("10:10:00"))));
        assert!(!m.agrees_with(Some(t("10:40:00"))));
        assert_eq!(
            m.describe(),
            "(2026-12-01T10:00:00Z, 2026-12-01T11:00:00Z] in 2 slices"
        );
    }

    #[test]
    fn what_is_not_a_marker_says_why() {
        assert!(MarkerView::parse("k", b"nope").is_err());
        assert!(MarkerView::parse("k", br#"{"start":"x","end":"y"}"#).is_err());
        assert!(MarkerView::parse("k", br#"{"slices":[]}"#).is_err());
        assert!(MarkerView::parse("k", br#"{"slices":{}}"#).is_err());
    }
}
