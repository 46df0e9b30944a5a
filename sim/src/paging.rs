//! Page tokens: random strings bound to one query (endpoint, dates, page size, category), its
//! snapshot of matched events and an offset; alive for the configured TTL and reusable until then,
//! so a client may retry a page. A loop token (the `PageLoop` fault knob) also remembers how often
//! it still replays the last page, and each request with it counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::log_type::LogType;
use crate::page_loop::{LoopState, Replay};
use crate::tokens::random_token;

/// Everything a page token is tied to besides its snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueryKey {
    pub(crate) log_type: LogType,
    pub(crate) from: NaiveDate,
    pub(crate) to: NaiveDate,
    pub(crate) page_size: usize,
    pub(crate) category: Option<String>,
}

/// Indices into the event store, in report order, fixed at the query's first page.
pub(crate) type Snapshot = Arc<[u32]>;

struct Cursor {
    key: QueryKey,
    snapshot: Snapshot,
    offset: usize,
    created: Instant,
    /// Set on a loop token: the offset is the last page's.
    looping: Option<LoopState>,
}

/// Where a presented token leads.
pub(crate) struct Resumed {
    pub(crate) snapshot: Snapshot,
    pub(crate) offset: usize,
    /// Set for a loop token.
    pub(crate) replay: Option<Replay>,
}

#[derive(Default)]
pub(crate) struct PageTokens {
    cursors: HashMap<String, Cursor>,
}

impl PageTokens {
    /// A new token for the page of `snapshot` that starts at `offset`.
    pub(crate) fn issue(
        &mut self,
        key: QueryKey,
        snapshot: Snapshot,
        offset: usize,
        ttl: Duration,
    ) -> String {
        self.insert(key, snapshot, offset, ttl, None)
    }

    /// A new loop token for the last page of `snapshot`, which starts at `offset`.
    pub(crate) fn issue_loop(
        &mut self,
        key: QueryKey,
        snapshot: Snapshot,
        offset: usize,
        ttl: Duration,
        looping: LoopState,
    ) -> String {
        self.insert(key, snapshot, offset, ttl, Some(looping))
    }

    fn insert(
        &mut self,
        key: QueryKey,
        snapshot: Snapshot,
        offset: usize,
        ttl: Duration,
        looping: Option<LoopState>,
    ) -> String {
        self.cursors.retain(|_, c| c.created.elapsed() < ttl);
        let token = random_token();
        let cursor = Cursor {
            key,
            snapshot,
            offset,
            created: Instant::now(),
            looping,
        };
        self.cursors.insert(token.clone(), cursor);
        token
    }

    /// Where a live token presented with the same query leads; a loop token counts this request.
    pub(crate) fn resume(&mut self, token: &str, key: &QueryKey, ttl: Duration) -> Option<Resumed> {
        let cursor = self
            .cursors
            .get_mut(token)
            .filter(|c| c.key == *key && c.created.elapsed() < ttl)?;
        let replay = cursor.looping.map(|state| {
            let (replay, next) = state.replay();
            cursor.looping = Some(next);
            replay
        });
        Some(Resumed {
            snapshot: Arc::clone(&cursor.snapshot),
            offset: cursor.offset,
            replay,
        })
    }

    pub(crate) fn kill(&mut self, token: &str) {
        self.cursors.remove(token);
    }
}
