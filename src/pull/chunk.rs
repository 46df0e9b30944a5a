//! Pulls one chunk: pages one Zoom query, keeps the events inside the chunk's window, writes them.
//!
//! The query covers the window's days in every time zone; the exact window is applied here, on
//! each event's own `time`. Paging stops early only when the order seen proves no later page can
//! hold an event of the window. An expired page token restarts the query from its first page, and
//! so does an order that turns out not to be newest first after an hour was already closed: the
//! restart rewrites the same keys with the same events, so nothing is duplicated. A replayed or
//! restarted query leaves alone every object that already holds exactly what it would write, so a
//! pipeline fed by S3 notifications does not see those events twice.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::checkpoint::Marker;
use super::order::OrderTracker;
use super::writer::{ObjectWriter, Written};
use super::{PullError, RunContext};
use crate::log_type::LogType;
use crate::ports::{ObjectSink, PageRequest, ReportSource, SourceError};

/// How often one chunk's query may be restarted because its page token expired.
const MAX_TOKEN_RESTARTS: u32 = 3;

/// Counts for the summary, kept across restarts and chunks.
#[derive(Debug, Default)]
pub struct ChunkCounts {
    pub pages: u64,
    pub written: Written,
}

pub async fn pull_chunk<R: ReportSource, K: ObjectSink>(
    ctx: &RunContext<'_, R, K>,
    log_type: LogType,
    chunk: Marker,
    replaying: bool,
    counts: &mut ChunkCounts,
) -> Result<(), PullError> {
    let window = chunk.window;
    let (from, to) = window.query_days();
    let mut close_hours_early = true;
    let mut token_restarts = 0;
    let mut rewriting = replaying;
    'query: loop {
        let mut writer = ObjectWriter::new(
            ctx.sink,
            &ctx.config.prefix,
            log_type,
            window,
            chunk.object_max_events,
            rewriting,
        );
        rewriting = true;
        let mut order = OrderTracker::default();
        let mut page_token = None;
        loop {
            let request = PageRequest {
                log_type,
                from,
                to,
                page_token: page_token.take(),
                deadline: ctx.deadline,
            };
            let continuing = request.page_token.is_some();
            let page = match ctx.source.fetch_page(request).await {
                Err(SourceError::PageTokenExpired)
                    if continuing && token_restarts < MAX_TOKEN_RESTARTS =>
                {
                    token_restarts += 1;
                    tracing::warn!(%log_type, "page token expired; restarting the query");
                    continue 'query;
                }
                result => result?,
            };
            counts.pages += 1;
            for event in &page.events {
                let time = event_time(event)?;
                if !order.observe(time) && close_hours_early {
                    close_hours_early = false;
                    tracing::warn!(%log_type, restart = writer.closed_any(),
                        "events are not newest first; the chunk's hours stay in memory until it ends");
                    if writer.closed_any() {
                        continue 'query;
                    }
                }
                if close_hours_early {
                    writer.close_hours_after(time).await?;
                }
                if window.contains(time) {
                    writer.add(time, event).await?;
                }
            }
            if order.passed(window.start) {
                break;
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        let written = writer.finish().await?;
        counts.written.events += written.events;
        counts.written.objects += written.objects;
        return Ok(());
    }
}

/// The event's `time`, which Zoom sends as RFC 3339 UTC with whole seconds.
fn event_time(event: &RawValue) -> Result<DateTime<Utc>, SourceError> {
    #[derive(Deserialize)]
    struct Timed<'a> {
        #[serde(borrow)]
        time: Cow<'a, str>,
    }
    let malformed = || SourceError::Malformed {
        detail: "an event has no valid RFC 3339 \"time\"".into(),
    };
    let timed: Timed = serde_json::from_str(event.get()).map_err(|_| malformed())?;
    DateTime::parse_from_rfc3339(&timed.time)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn event_time_reads_rfc3339_in_any_offset() {
        let t = event_time(&raw(r#"{"email":"a@b","time":"2026-11-29T16:48:05Z"}"#)).unwrap();
        assert_eq!(t, "2026-11-29T16:48:05Z".parse::<DateTime<Utc>>().unwrap());
        let t = event_time(&raw(r#"{"time":"2026-11-29T17:48:05+01:00"}"#)).unwrap();
        assert_eq!(t, "2026-11-29T16:48:05Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn an_event_without_a_valid_time_is_malformed() {
        for text in [
            r#"{"email":"a"}"#,
            r#"{"time":"yesterday"}"#,
            r#"{"time":5}"#,
            "[]",
        ] {
            assert!(matches!(
                event_time(&raw(text)),
                Err(SourceError::Malformed { .. })
            ));
        }
    }
}
