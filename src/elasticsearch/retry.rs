//! Retry classification, in one place, and the backoff schedule.
//!
//! Request level: 429, 5xx, timeouts and connection errors are retried, and
//! so are 401/403 (credentials are fixable while records wait; dead-lettering
//! everything on a bad password would be worse); 413 splits the batch; any
//! other 4xx rejects every item of the request.
//!
//! Item level: 429, 5xx and `es_rejected_execution_exception` are retried
//! (only those items); a 409 on `create` means the document already exists;
//! other 4xx (mapping or parsing errors, closed index, forbidden) are
//! permanent and go to the dead-letter queue.
//!
//! Retriable failures are retried indefinitely: consumption pauses through
//! backpressure instead of anything being dropped.

use std::time::Duration;

/// What to do with a whole request after an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// Parse the items.
    Success,
    /// Send the same items again after a backoff.
    Retry(&'static str),
    /// The body is too large: split it.
    Split,
    /// Every item is rejected.
    Reject,
}

/// Classifies a request-level HTTP status.
pub fn classify_status(status: u16) -> RequestClass {
    match status {
        200..=299 => RequestClass::Success,
        429 => RequestClass::Retry("request_429"),
        401 | 403 => RequestClass::Retry("request_auth"),
        408 => RequestClass::Retry("request_timeout"),
        413 => RequestClass::Split,
        500..=599 => RequestClass::Retry("request_5xx"),
        _ => RequestClass::Reject,
    }
}

/// What to do with one bulk item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemClass {
    /// Stored.
    Indexed,
    /// Already existed (409 on `create`).
    Duplicate,
    /// Retry this item.
    Retry(&'static str),
    /// Dead-letter it.
    Reject,
}

/// Classifies a bulk item by status and ES error type.
pub fn classify_item(status: u16, error_type: &str, create: bool) -> ItemClass {
    match status {
        200..=299 => ItemClass::Indexed,
        409 if create => ItemClass::Duplicate,
        429 => ItemClass::Retry("item_429"),
        _ if error_type == "es_rejected_execution_exception" => ItemClass::Retry("item_rejected_execution"),
        500..=599 => ItemClass::Retry("item_5xx"),
        _ => ItemClass::Reject,
    }
}

/// Exponential backoff with full jitter (AWS architecture blog): the sleep
/// is uniform in `[0, min(cap, base * 2^attempt)]`, which spreads retries of
/// many pods instead of synchronising them.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// A schedule starting at `base`, capped at `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap, attempt: 0 }
    }

    /// The upper bound of the next sleep.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next sleep, and advance.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(0..=nanos))
    }

    /// Attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Start over after progress.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_statuses() {
        assert_eq!(classify_status(200), RequestClass::Success);
        for s in [429, 502, 503, 504, 500] {
            assert!(matches!(classify_status(s), RequestClass::Retry(_)), "{s}");
        }
        assert_eq!(classify_status(413), RequestClass::Split);
        assert_eq!(classify_status(400), RequestClass::Reject);
        assert_eq!(classify_status(404), RequestClass::Reject);
        assert!(matches!(classify_status(403), RequestClass::Retry(_)));
    }

    #[test]
    fn item_statuses() {
        assert_eq!(classify_item(201, "", false), ItemClass::Indexed);
        assert_eq!(
            classify_item(409, "version_conflict_engine_exception", true),
            ItemClass::Duplicate
        );
        assert_eq!(
            classify_item(409, "version_conflict_engine_exception", false),
            ItemClass::Reject
        );
        assert_eq!(classify_item(429, "", false), ItemClass::Retry("item_429"));
        assert_eq!(
            classify_item(400, "es_rejected_execution_exception", false),
            ItemClass::Retry("item_rejected_execution")
        );
        assert_eq!(classify_item(503, "", false), ItemClass::Retry("item_5xx"));
        for s in [400, 403, 404] {
            assert_eq!(classify_item(s, "whatever", false), ItemClass::Reject, "{s}");
        }
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_below_the_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d <= c);
            ceilings.push(c.as_millis());
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
        let mut huge = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            huge.next_delay();
        }
        assert_eq!(huge.ceiling(), Duration::from_secs(30));
    }
}
