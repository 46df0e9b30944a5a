//! The use case: one run of the puller over every configured log type.
//!
//! It knows only the ports. Each log type is pulled concurrently; afterwards the cursors of the
//! slices fully written go into the state document, which is saved once, and only if it changed.
//! A log type that fails keeps the progress its checkpoint recorded.

mod checkpoint;
mod log_pull;
mod order;
mod pages;
mod quarantine;
mod recheck;
mod reconcile;
mod slice;
mod writer;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::time::Instant;

pub use checkpoint::{Ledger, Marker, RefusedTo, Resume, Slice, read_marker};
pub use log_pull::{LogTypeSummary, StopReason};
pub use recheck::Recheck;
pub use writer::CONTENT_TYPE;

use crate::config::Config;
use crate::log_type::LogType;
use crate::ports::{
    ObjectSink, Page, PageRequest, ReportSource, SourceError, StateStore, StoreError,
};
use crate::state::StateKeeper;
use crate::window::ZONE_SLACK;

/// When this run happens.
#[derive(Clone, Copy, Debug)]
pub struct RunRequest {
    /// The scheduled time of the run (the EventBridge event's `time`, or the clock).
    pub reference_time: DateTime<Utc>,
    /// The clock at the start of the run.
    pub now: DateTime<Utc>,
    /// No new work starts after this instant (the Lambda deadline minus the configured margin).
    pub deadline: Option<Instant>,
}

/// The result of a run, printed by the CLI and returned by the Lambda.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub reference_time: DateTime<Utc>,
    pub log_types: Vec<LogTypeSummary>,
    /// Whether the state document was written at the end of the run.
    pub state_saved: bool,
    /// The account the run was for, when one deployment serves many (set by the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A failure inside one log type's pull.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the checkpoint is inconsistent: {0}")]
    Checkpoint(String),
    #[error(
        "the cursor {cursor} (the state document's cursor or the checkpoint marker's \
         written_through, whichever is later) is later than the clock ({now}): the log type would \
         write nothing until then; set it back to the last time whose events are all written"
    )]
    CursorInFuture {
        cursor: DateTime<Utc>,
        now: DateTime<Utc>,
    },
}

/// A run that failed. Progress made before the failure is saved when it can be.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{log_type}: {source}")]
    Pull {
        log_type: crate::log_type::LogType,
        #[source]
        source: PullError,
    },
    #[error("saving the state document failed: {0}")]
    SaveState(#[source] StoreError),
}

/// What every part of the run shares.
pub(crate) struct RunContext<'a, R, K> {
    source: &'a R,
    sink: &'a K,
    config: &'a Config,
    reference_time: DateTime<Utc>,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
}

impl<R: ReportSource, K> RunContext<'_, R, K> {
    fn deadline_is_near(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// One page. A page token Zoom calls expired is presented once more first: Zoom's tokens
    /// sometimes fail before their 15 minutes, and one more request is cheaper than a new query.
    async fn fetch_page(&self, request: PageRequest) -> Result<Page, SourceError> {
        match self.source.fetch_page(request.clone()).await {
            Err(SourceError::PageTokenExpired) if request.page_token.is_some() => {
                self.source.fetch_page(request).await
            }
            result => result,
        }
    }

    /// Whether Zoom treats `to` as inclusive, as far as one request proves it: a `from == to`
    /// query lists nothing if `to` is exclusive, so an event it lists proves `to` inclusive. The
    /// day asked is two days back, complete in every zone. No event (or a failure) proves nothing,
    /// and `false` is the safe answer.
    async fn proves_to_inclusive(&self, log_type: LogType) -> bool {
        let day = (self.now - chrono::Duration::days(2)).date_naive();
        let request = PageRequest {
            log_type,
            from: day,
            to: day,
            page_token: None,
            deadline: self.deadline,
        };
        let inclusive = self
            .fetch_page(request)
            .await
            .is_ok_and(|page| page.events.iter().any(|e| slice::event_time(e).is_some()));
        tracing::info!(%log_type, inclusive, "asked Zoom whether its `to` is inclusive");
        inclusive
    }

    /// Whether no day from `first`'s UTC day to `to` holds an event newer than `first`, asked one
    /// day at a time, and the pages that took. One day's events come newest first in both orders
    /// a query that looked newest first may still be in (newest first, or days ascending with
    /// each day newest first); the days from `first`'s UTC day cover every Zoom day after
    /// `first`'s in any zone.
    ///
    /// Each day `d` is asked as `from = d, to = d + 1`: whether Zoom's `to` is inclusive or
    /// exclusive, that lists day `d` (a `from == to` query lists nothing at all if `to` is
    /// exclusive, and an empty answer that is empty by construction proves nothing). Listing day
    /// `d + 1` as well can only find more. A query Zoom refuses proves nothing either. No event
    /// is newer than the clock (give or take [`log_pull::CLOCK_SKEW`]), so a day that has not
    /// begun in any zone holds none and is not asked.
    async fn nothing_after(
        &self,
        log_type: LogType,
        first: DateTime<Utc>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(bool, u64), SourceError> {
        let mut pages = 0;
        let last = to.min((self.now + ZONE_SLACK + log_pull::CLOCK_SKEW).date_naive());
        for day in first
            .date_naive()
            .max(from)
            .iter_days()
            .take_while(|d| *d <= last)
        {
            let request = PageRequest {
                log_type,
                from: day,
                to: day.succ_opt().unwrap_or(day),
                page_token: None,
                deadline: self.deadline,
            };
            let page = match self.fetch_page(request).await {
                Err(SourceError::Rejected { .. }) => return Ok((false, pages + 1)),
                result => result?,
            };
            pages += 1;
            if page
                .events
                .iter()
                .filter_map(|e| slice::event_time(e))
                .any(|t| t > first)
            {
                return Ok((false, pages));
            }
        }
        Ok((true, pages))
    }
}

/// Pulls every configured log type once.
pub async fn run<R: ReportSource, S: StateStore, K: ObjectSink>(
    config: &Config,
    source: &R,
    state: &StateKeeper<S>,
    sink: &K,
    request: RunRequest,
) -> Result<RunSummary, RunError> {
    let ctx = RunContext {
        source,
        sink,
        config,
        reference_time: request.reference_time,
        now: request.now,
        deadline: request.deadline,
    };
    let cursors = state.snapshot().await.cursors;
    let outcomes = join_all(config.log_types.iter().map(|&log_type| {
        log_pull::pull_log_type(&ctx, log_type, cursors.get(log_type.name()).copied())
    }))
    .await;

    state
        .update(|doc| {
            for outcome in &outcomes {
                if let Some(cursor) = outcome.summary.cursor_after {
                    doc.cursors
                        .insert(outcome.summary.log_type.name().to_owned(), cursor);
                }
            }
        })
        .await;
    let saved = state.save().await;

    let mut failure = None;
    let mut summaries = Vec::new();
    for outcome in outcomes {
        let s = &outcome.summary;
        tracing::info!(
            log_type = %s.log_type,
            events_written = s.events_written,
            objects_written = s.objects_written,
            pages_fetched = s.pages_fetched,
            cursor_before = ?s.cursor_before.map(|c| c.to_rfc3339()),
            cursor_after = ?s.cursor_after.map(|c| c.to_rfc3339()),
            stopped_early = ?s.stopped_early,
            error = s.error.as_deref(),
            "log type pulled"
        );
        if let (None, Some(source)) = (&failure, outcome.error) {
            failure = Some(RunError::Pull {
                log_type: s.log_type,
                source,
            });
        }
        summaries.push(outcome.summary);
    }
    // The failure that ended a log type is the cause to report, even if the save failed too.
    match (failure, saved) {
        (Some(error), Err(save_error)) => {
            tracing::error!(error = %save_error, "saving the state document failed as well");
            Err(error)
        }
        (Some(error), Ok(_)) => Err(error),
        (None, Err(save_error)) => Err(RunError::SaveState(save_error)),
        (None, Ok(state_saved)) => Ok(RunSummary {
            reference_time: request.reference_time,
            log_types: summaries,
            state_saved,
            account: None,
        }),
    }
}

#[cfg(test)]
pub(crate) mod fakes;
#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
