//! Page tokens: random strings bound to one query (endpoint, dates, page size, category), its
//! snapshot of matched events and an offset; alive for the configured TTL and reusable until then,
//! so a client may retry a page.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::log_type::LogType;
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
        self.cursors.retain(|_, c| c.created.elapsed() < ttl);
        let token = random_token();
        let cursor = Cursor {
            key,
            snapshot,
            offset,
            created: Instant::now(),
        };
        self.cursors.insert(token.clone(), cursor);
        token
    }

    /// The snapshot and offset of a live token presented with the same query.
    pub(crate) fn resume(
        &self,
        token: &str,
        key: &QueryKey,
        ttl: Duration,
    ) -> Option<(Snapshot, usize)> {
        self.cursors
            .get(token)
            .filter(|c| c.key == *key && c.created.elapsed() < ttl)
            .map(|c| (Arc::clone(&c.snapshot), c.offset))
    }

    pub(crate) fn kill(&mut self, token: &str) {
        self.cursors.remove(token);
    }
}
