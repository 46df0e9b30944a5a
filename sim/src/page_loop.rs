//! Page-token loops, a fault knob: a Zoom whose last page of a query still carries a
//! `next_page_token`, and that token leads back to the same last page, byte for byte (same events,
//! same order, same token). `PageLoop` is the knob; `LoopState` is what a loop token remembers; the
//! loop is decided when the last page is first served, so changing the knob later leaves tokens
//! already issued as they were.

/// What the last page of a query carries instead of an empty `next_page_token`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PageLoop {
    /// The last page ends the query (Zoom as documented).
    #[default]
    Off,
    /// The last page carries a token that leads to the byte-identical last page again (same
    /// token), `n` times; the next request with that token gets a page with no events and an
    /// empty token, which ends the query. The client sees the last page `n + 1` times. `Repeat(0)`
    /// is `Off`.
    Repeat(u32),
    /// The last page carries a token that leads to itself for as long as the token lives (the
    /// page-token TTL from the last page's first serving): every request with it gets the
    /// byte-identical last page, token included.
    Forever,
}

/// Where a loop token stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoopState {
    /// This many more byte-identical repeats of the last page; at 0 the token ends the query.
    Left(u32),
    Forever,
}

/// What a request presenting a loop token gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// The last page again, with the same token.
    Again,
    /// A page with no events and an empty token: the query ends.
    End,
}

impl PageLoop {
    /// The state of the token that a query's last page carries; `None`: the page ends the query.
    pub(crate) fn start(self) -> Option<LoopState> {
        match self {
            PageLoop::Off | PageLoop::Repeat(0) => None,
            PageLoop::Repeat(n) => Some(LoopState::Left(n)),
            PageLoop::Forever => Some(LoopState::Forever),
        }
    }
}

impl LoopState {
    /// Serves one request with the token: what it gets, and the token's state afterwards.
    pub(crate) fn replay(self) -> (Replay, LoopState) {
        match self {
            LoopState::Forever => (Replay::Again, self),
            LoopState::Left(0) => (Replay::End, self),
            LoopState::Left(n) => (Replay::Again, LoopState::Left(n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_counts_down_then_ends_for_good() {
        let mut state = PageLoop::Repeat(2).start().expect("a loop");
        let mut replays = Vec::new();
        for _ in 0..4 {
            let (replay, next) = state.replay();
            replays.push(replay);
            state = next;
        }
        use Replay::{Again, End};
        assert_eq!(replays, [Again, Again, End, End]);
        assert_eq!(PageLoop::Repeat(0).start(), None);
        assert_eq!(PageLoop::Off.start(), None);
        let forever = PageLoop::Forever.start().expect("a loop");
        assert_eq!(forever.replay(), (Again, LoopState::Forever));
    }
}
