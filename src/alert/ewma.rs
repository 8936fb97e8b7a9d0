//! Exponentially weighted moving average and variance of per-interval
//! counts: the baseline a spike rule compares the current interval with.
//! The incremental form (Finch, "Incremental calculation of weighted mean
//! and variance", 2009) needs only the previous mean and variance, so the
//! baseline is a few numbers in the state document.

use serde::{Deserialize, Serialize};

/// Baseline of a series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub var: f64,
    /// Samples seen (saturating), for warm-up.
    pub n: u64,
}

impl Ewma {
    /// Adds a sample with weight `alpha` for the new value.
    pub fn update(&mut self, x: f64, alpha: f64) {
        if self.n == 0 || !self.mean.is_finite() || !self.var.is_finite() {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            let incr = alpha * diff;
            self.mean += incr;
            self.var = (1.0 - alpha) * (self.var + diff * incr);
        }
        self.n = self.n.saturating_add(1);
    }

    /// Weighted standard deviation.
    pub fn stddev(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_series_has_zero_variance() {
        let mut e = Ewma::default();
        for _ in 0..20 {
            e.update(10.0, 0.3);
        }
        assert_eq!(e.mean, 10.0);
        assert_eq!(e.stddev(), 0.0);
        assert_eq!(e.n, 20);
    }

    #[test]
    fn first_sample_sets_the_mean() {
        let mut e = Ewma::default();
        e.update(7.0, 0.5);
        assert_eq!((e.mean, e.var, e.n), (7.0, 0.0, 1));
    }

    #[test]
    fn matches_the_closed_form() {
        // alpha 0.5: mean 0 → 10 gives 5, variance 0.5 * (0 + 10 * 5) = 25.
        let mut e = Ewma::default();
        e.update(0.0, 0.5);
        e.update(10.0, 0.5);
        assert_eq!(e.mean, 5.0);
        assert_eq!(e.var, 25.0);
        assert_eq!(e.stddev(), 5.0);
        // Then 5: diff 0, mean stays, variance halves.
        e.update(5.0, 0.5);
        assert_eq!((e.mean, e.var), (5.0, 12.5));
    }

    #[test]
    fn recent_values_weigh_more() {
        let mut e = Ewma::default();
        for _ in 0..10 {
            e.update(100.0, 0.3);
        }
        for _ in 0..10 {
            e.update(0.0, 0.3);
        }
        assert!(e.mean < 5.0, "{e:?}");
    }

    #[test]
    fn alpha_one_tracks_the_last_value() {
        let mut e = Ewma::default();
        for x in [3.0, 9.0, 4.0] {
            e.update(x, 1.0);
        }
        assert_eq!((e.mean, e.var), (4.0, 0.0));
    }
}
