//! A guard against page tokens that loop: Zoom's quota is shared with the account's other apps, so
//! a query never follows a token round in circles.
//!
//! A page byte-identical to the page before it in the same query (same events in the same order,
//! same next token) carries nothing new: it ends the query and is not written twice. A page token
//! the query has already followed leads back to pages it has read: it ends the query too. Each loop
//! is a warning and counts in the summary (`page_loops`) and the `PageLoops` metric.

use std::collections::HashSet;

use sha2::{Digest as _, Sha256};

use crate::log_type::LogType;
use crate::ports::Page;

/// What one query's pages looked like so far.
#[derive(Default)]
pub struct PageLoopGuard {
    previous: Option<[u8; 32]>,
    tokens: HashSet<String>,
}

impl PageLoopGuard {
    /// Whether `page` repeats the page before it, or its next token was followed already in this
    /// query; either ends the query (the repeated page is not to be used).
    pub fn repeats(&mut self, log_type: LogType, page: &Page) -> bool {
        let mut hasher = Sha256::new();
        for event in &page.events {
            hasher.update(event.get().as_bytes());
            hasher.update(b"\n");
        }
        hasher.update(page.next_page_token.as_deref().unwrap_or_default());
        let digest: [u8; 32] = hasher.finalize().into();
        if self.previous == Some(digest) {
            tracing::warn!(%log_type,
                "Zoom sent the same page twice in a row; ending the query there");
            return true;
        }
        self.previous = Some(digest);
        false
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
    fn a_page_identical_to_the_one_before_repeats_and_a_different_one_does_not() {
        let mut guard = PageLoopGuard::default();
        assert!(!guard.repeats(LogType::Activity, &page(&["{}"], Some("t"))));
        assert!(!guard.repeats(LogType::Activity, &page(&["{ }"], Some("t"))));
        assert!(guard.repeats(LogType::Activity, &page(&["{ }"], Some("t"))));
    }

    #[test]
    fn a_token_followed_twice_loops() {
        let mut guard = PageLoopGuard::default();
        assert!(!guard.loops(LogType::Activity, "a"));
        assert!(!guard.loops(LogType::Activity, "b"));
        assert!(guard.loops(LogType::Activity, "a"));
    }
}
