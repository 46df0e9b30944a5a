//! A guard against page tokens that loop: Zoom's quota is shared with the account's other apps, so
//! a query never follows a token round in circles.
//!
//! A page whose events are byte-identical to those of a page the query has already read (same
//! events in the same order; the next token may differ) carries nothing new: it ends the query and
//! is not written twice. Only a loop does that: two real pages alike would take 600 identical rows
//! in a row. A page token the query has already followed leads back to pages it has read, and a
//! third empty page in a row that still points to a next one promises nothing: either ends the
//! query too. Each loop is a warning and counts in the summary (`page_loops`) and the
//! `PageLoops` metric.

use std::collections::HashSet;

use sha2::{Digest as _, Sha256};

use crate::log_type::LogType;
use crate::ports::Page;

/// Empty pages in a row that still carry a next page token before the query is taken to loop.
const EMPTY_PAGES_WITH_A_TOKEN: u32 = 3;

/// What one query's pages looked like so far.
#[derive(Default)]
pub struct PageLoopGuard {
    /// A digest of each page's events read so far.
    pages: HashSet<[u8; 32]>,
    tokens: HashSet<String>,
    empty_in_a_row: u32,
}

impl PageLoopGuard {
    /// Whether `page` repeats the events of a page this query has read, or is the third empty
    /// page in a row that still points to a next one; either ends the query (the repeated page is
    /// not to be used).
    pub fn repeats(&mut self, log_type: LogType, page: &Page) -> bool {
        if page.events.is_empty() {
            let more = page.next_page_token.as_ref().is_some_and(|t| !t.is_empty());
            self.empty_in_a_row = if more { self.empty_in_a_row + 1 } else { 0 };
            if self.empty_in_a_row < EMPTY_PAGES_WITH_A_TOKEN {
                return false;
            }
            tracing::warn!(%log_type, "Zoom keeps sending empty pages with a next page token; ending the query there");
            return true;
        }
        self.empty_in_a_row = 0;
        let mut hasher = Sha256::new();
        for event in &page.events {
            hasher.update(event.get().as_bytes());
            hasher.update(b"\n");
        }
        if self.pages.insert(hasher.finalize().into()) {
            return false;
        }
        tracing::warn!(%log_type, "Zoom sent a page this query has read already; ending the query there");
        true
    }

    /// Whether following `token` would go round in a circle; records it otherwise.
    pub fn loops(&mut self, log_type: LogType, token: &str) -> bool {
        if self.tokens.insert(token.to_owned()) {
            return false;
        }
        tracing::warn!(%log_type,
            "Zoom's next page token leads back to a page already read; ending the query there");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn page(events: &[&str], token: Option<&str>) -> Page {
        Page {
            events: events
                .iter()
                .map(|e| RawValue::from_string((*e).to_owned()).unwrap())
                .collect(),
            next_page_token: token.map(str::to_owned),
        }
    }

    #[test]
    fn a_page_whose_events_were_read_already_repeats_whatever_its_token() {
        let mut guard = PageLoopGuard::default();
        assert!(!guard.repeats(LogType::Activity, &page(&["{}"], Some("t"))));
        assert!(!guard.repeats(LogType::Activity, &page(&["{ }"], Some("t"))));
        assert!(guard.repeats(LogType::Activity, &page(&["{ }"], Some("u"))));
        assert!(guard.repeats(LogType::Activity, &page(&["{}"], Some("v"))));
        assert!(!guard.repeats(LogType::Activity, &page(&[], None)));
        assert!(!guard.repeats(LogType::Activity, &page(&[], None)));
    }

    #[test]
    fn the_third_empty_page_in_a_row_with_a_next_token_loops() {
        let mut guard = PageLoopGuard::default();
        assert!(!guard.repeats(LogType::Activity, &page(&[], Some("a"))));
        assert!(!guard.repeats(LogType::Activity, &page(&[], Some("b"))));
        assert!(guard.repeats(LogType::Activity, &page(&[], Some("c"))));
    }

    #[test]
    fn a_token_followed_twice_loops() {
        let mut guard = PageLoopGuard::default();
        assert!(!guard.loops(LogType::Activity, "a"));
        assert!(!guard.loops(LogType::Activity, "b"));
        assert!(guard.loops(LogType::Activity, "a"));
    }
}
