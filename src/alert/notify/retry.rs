//! Delivery retries: which failures are worth retrying, and exponential
//! backoff between attempts. Transport errors, HTTP 429 and 5xx, and the
//! robots' "too many requests" codes retry; other 4xx and error codes (bad
//! token, bad signature, malformed message) would fail again the same way.

use std::future::Future;
use std::time::Duration;

use crate::alert::config::DeliveryConfig;

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again.
    #[error("{0}")]
    Retryable(String),
    /// Would fail again.
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    /// Classifies an HTTP status.
    pub fn from_status(status: u16, body: &str) -> DeliveryError {
        let msg = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
        if status == 429 || status >= 500 || status == 408 {
            DeliveryError::Retryable(msg)
        } else {
            DeliveryError::Permanent(msg)
        }
    }

    /// Metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            DeliveryError::Retryable(_) => "retryable",
            DeliveryError::Permanent(_) => "permanent",
        }
    }
}

/// Exponential backoff: `initial`, `2 × initial`, … capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Largest wait.
    pub max: Duration,
    /// Attempts in total.
    pub max_attempts: u32,
}

impl Backoff {
    /// From the delivery settings.
    pub fn from_config(c: &DeliveryConfig) -> Self {
        Backoff {
            initial: c.initial_backoff,
            max: c.max_backoff,
            max_attempts: c.max_attempts,
        }
    }

    /// Wait after failed attempt number `attempt` (1-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Runs `attempt` until it succeeds, fails permanently, or the attempts are
/// used up; `on_error` sees every failure (for metrics and logs). Returns the
/// number of attempts made with the outcome.
pub async fn run<F, Fut>(
    backoff: Backoff,
    mut attempt: F,
    mut on_error: impl FnMut(u32, &DeliveryError),
) -> (u32, Result<(), DeliveryError>)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), DeliveryError>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt(n).await {
            Ok(()) => return (n, Ok(())),
            Err(e) => {
                on_error(n, &e);
                if matches!(e, DeliveryError::Permanent(_)) || n >= backoff.max_attempts {
                    return (n, Err(e));
                }
                // Up to +25 % jitter so receivers hit by one outage are not
                // retried in lockstep.
                let base = backoff.delay(n);
                let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
                tokio::time::sleep(base + jitter).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const B: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(10),
        max_attempts: 4,
    };

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let d: Vec<u64> = (1..=6).map(|a| B.delay(a).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 10, 10]);
        assert_eq!(B.delay(100), Duration::from_secs(10));
    }

    #[test]
    fn statuses_are_classified() {
        assert!(matches!(
            DeliveryError::from_status(503, ""),
            DeliveryError::Retryable(_)
        ));
        assert!(matches!(
            DeliveryError::from_status(429, ""),
            DeliveryError::Retryable(_)
        ));
        assert!(matches!(DeliveryError::from_status(400, "bad"), DeliveryError::Permanent(m) if m == "HTTP 400: bad"));
    }

    // Millisecond waits keep these fast without pausing time.
    const FAST: Backoff = Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(5),
        max_attempts: 4,
    };

    #[tokio::test]
    async fn retries_until_success() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let mut errors = 0;
        let (n, r) = run(
            FAST,
            |_| {
                let c = c.clone();
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) < 2 {
                        Err(DeliveryError::Retryable("503".into()))
                    } else {
                        Ok(())
                    }
                }
            },
            |_, _| errors += 1,
        )
        .await;
        assert_eq!((n, r, errors), (3, Ok(()), 2));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_or_a_permanent_error() {
        let (n, r) = run(
            FAST,
            |_| async { Err(DeliveryError::Retryable("down".into())) },
            |_, _| {},
        )
        .await;
        assert_eq!((n, r.is_err()), (4, true));
        let (n, r) = run(
            FAST,
            |_| async { Err(DeliveryError::Permanent("401".into())) },
            |_, _| {},
        )
        .await;
        assert_eq!((n, r), (1, Err(DeliveryError::Permanent("401".into()))));
    }
}
