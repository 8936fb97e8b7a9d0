//! Window math. Window ends are aligned to multiples of the rule's
//! evaluation interval since the epoch, so every evaluator (a restarted one,
//! a new leader) computes the same windows, and a spike rule's windows are
//! exactly the buckets of a fixed-interval `date_histogram` (which Elasticsearch
//! aligns to the epoch as well).
//!
//! Late documents: a window `[end - len, end)` is evaluated only once
//! `now ≥ end + ingest_delay`. Documents indexed later than that for an
//! already evaluated window are not counted there (they are still counted by
//! later sliding windows that cover their timestamp).

use super::clock::Millis;

/// A half-open time range `[start, end)` in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
}

impl Window {
    /// The window of length `len` ending at `end`.
    pub fn ending_at(end: Millis, len: Millis) -> Window {
        Window {
            start: end.saturating_sub(len),
            end,
        }
    }

    /// Length in milliseconds.
    pub fn len(&self) -> Millis {
        self.end - self.start
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The latest window end that may be evaluated at `now`: the last multiple
/// of `every` at or before `now - delay`.
pub fn latest_end(now: Millis, delay: Millis, every: Millis) -> Millis {
    let t = now.saturating_sub(delay);
    t - t.rem_euclid(every.max(1))
}

/// When the window after `end` becomes evaluable.
pub fn next_due(end: Millis, delay: Millis, every: Millis) -> Millis {
    end.saturating_add(every).saturating_add(delay)
}

/// Window ends to evaluate now, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Due {
    /// Ends to evaluate, ascending.
    pub ends: Vec<Millis>,
    /// Ends skipped because they are older than the catch-up limit.
    pub skipped: u64,
}

/// The ends after `last_end` up to `latest`. Without a previous end (first
/// run) the last `first_run` ends are returned. Ends older than
/// `latest - max_catch_up` are skipped and counted.
pub fn due_ends(
    last_end: Option<Millis>,
    latest: Millis,
    every: Millis,
    max_catch_up: Millis,
    first_run: usize,
) -> Due {
    let every = every.max(1);
    let oldest_allowed = latest.saturating_sub(max_catch_up);
    let first = match last_end {
        // An end not on the grid (the interval was changed) restarts on it.
        Some(last) => last - last.rem_euclid(every) + every,
        None => latest - every * (first_run.max(1) as i64 - 1),
    };
    if first > latest {
        return Due::default();
    }
    let mut skipped = 0;
    let mut start = first;
    if start < oldest_allowed {
        let lag = oldest_allowed - start;
        let n = lag / every + i64::from(lag % every != 0);
        skipped = n as u64;
        start += n * every;
    }
    let mut ends = Vec::new();
    let mut e = start;
    while e <= latest {
        ends.push(e);
        e += every;
    }
    Due { ends, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    #[test]
    fn latest_end_aligns_down_after_the_delay() {
        // 12:03:40 with a 30 s delay → 12:03:10 → the 12:03 end.
        let noon = 1_709_294_400_000;
        assert_eq!(latest_end(noon + 3 * MIN + 40_000, 30_000, MIN), noon + 3 * MIN);
        // Exactly on the grid counts.
        assert_eq!(latest_end(noon + 30_000, 30_000, MIN), noon);
        assert_eq!(next_due(noon, 30_000, MIN), noon + MIN + 30_000);
    }

    #[test]
    fn window_is_half_open() {
        let w = Window::ending_at(10 * MIN, 5 * MIN);
        assert_eq!((w.start, w.end, w.len()), (5 * MIN, 10 * MIN, 5 * MIN));
        assert!(!w.is_empty());
    }

    #[test]
    fn first_run_evaluates_only_the_latest_or_a_warmup() {
        assert_eq!(due_ends(None, 10 * MIN, MIN, 60 * MIN, 1).ends, vec![10 * MIN]);
        assert_eq!(
            due_ends(None, 10 * MIN, MIN, 60 * MIN, 3).ends,
            vec![8 * MIN, 9 * MIN, 10 * MIN]
        );
    }

    #[test]
    fn nothing_due_until_the_next_end() {
        assert_eq!(due_ends(Some(10 * MIN), 10 * MIN, MIN, 60 * MIN, 1), Due::default());
    }

    #[test]
    fn catch_up_evaluates_every_missed_end_in_order() {
        let d = due_ends(Some(10 * MIN), 13 * MIN, MIN, 60 * MIN, 1);
        assert_eq!(d.ends, vec![11 * MIN, 12 * MIN, 13 * MIN]);
        assert_eq!(d.skipped, 0);
    }

    #[test]
    fn catch_up_is_bounded() {
        let d = due_ends(Some(0), 100 * MIN, MIN, 10 * MIN, 1);
        assert_eq!(d.ends.first(), Some(&(90 * MIN)));
        assert_eq!(d.ends.len(), 11);
        assert_eq!(d.skipped, 89);
    }

    #[test]
    fn an_off_grid_last_end_realigns() {
        let d = due_ends(Some(10 * MIN + 7), 12 * MIN, MIN, 60 * MIN, 1);
        assert_eq!(d.ends, vec![11 * MIN, 12 * MIN]);
    }
}
