//! Spike rules: per-interval counts compared with an EWMA baseline of the
//! previous intervals. The condition holds when the interval's count is at
//! least `min_count` and exceeds `factor × mean` and/or `mean + stddevs × σ`
//! (per `combine`), once the baseline has seen `warmup` intervals. Every
//! interval, spikes included, then updates the baseline, so a lasting new
//! level stops firing as the baseline catches up (how fast is `alpha`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Event, Rule};
use crate::alert::clock::{Millis, ms};
use crate::alert::config::{Combine, SpikeConfig};
use crate::alert::ewma::Ewma;
use crate::alert::lifecycle::Action;
use crate::alert::notify::SpikeInfo;
use crate::alert::state::RuleState;
use crate::alert::window::Window;

// A group whose baseline decayed below this with nothing firing is dropped,
// so groups that went quiet do not accumulate in the state document.
const FORGET_BELOW: f64 = 0.01;

/// True if `x` is a spike over `base`.
pub fn exceeds(x: u64, base: &Ewma, s: &SpikeConfig) -> bool {
    if x < s.min_count || base.n < u64::from(s.warmup) {
        return false;
    }
    let x = x as f64;
    let checks = [
        s.factor.map(|f| x > f * base.mean),
        s.stddevs.map(|k| x > base.mean + k * base.stddev()),
    ];
    let mut configured = checks.iter().flatten();
    match s.combine {
        Combine::All => configured.all(|b| *b),
        Combine::Any => configured.any(|b| *b),
    }
}

/// Applies the counts of the interval ending at `end` (per group); returns
/// what to notify.
pub fn apply(
    rule: &Rule,
    s: &SpikeConfig,
    state: &mut RuleState,
    end: Millis,
    counts: &BTreeMap<String, u64>,
) -> Vec<Event> {
    let w = Window::ending_at(end, ms(s.interval));
    let keys: BTreeSet<String> = counts.keys().chain(state.groups.keys()).cloned().collect();
    let mut events = Vec::new();
    for key in keys {
        let x = counts.get(&key).copied().unwrap_or(0);
        let gs = state.groups.entry(key.clone()).or_default();
        let base = gs.baseline.unwrap_or_default();
        let holds = exceeds(x, &base, s);
        let action = gs.step(holds, x, end, rule.realert, rule.config.resolve);
        if holds {
            state.last_true = Some(state.last_true.map_or(end, |t| t.max(end)));
        }
        let mut updated = base;
        updated.update(x as f64, s.alpha);
        gs.baseline = Some(updated);
        if action != Action::None {
            let since = gs.since;
            events.push(Event {
                since,
                group: key,
                action,
                count: x,
                window: w,
                samples: Vec::new(),
                spike: Some(SpikeInfo {
                    baseline: base.mean,
                    stddev: base.stddev(),
                    factor: s.factor,
                    stddevs: s.stddevs,
                }),
            });
        }
    }
    state
        .groups
        .retain(|_, g| g.firing || g.baseline.is_some_and(|b| b.mean >= FORGET_BELOW));
    // Keep the busiest groups if there are more than the rule tracks.
    if state.groups.len() > rule.config.max_groups {
        let mut by_mean: Vec<(String, f64)> = state
            .groups
            .iter()
            .map(|(k, g)| {
                (
                    k.clone(),
                    if g.firing {
                        f64::INFINITY
                    } else {
                        g.baseline.map_or(0.0, |b| b.mean)
                    },
                )
            })
            .collect();
        by_mean.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (k, _) in by_mean.into_iter().skip(rule.config.max_groups) {
            state.groups.remove(&k);
        }
    }
    state.last_end = Some(end);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::config::{EvaluationConfig, RuleConfig, RuleKind};

    fn rule(extra: &str) -> (Rule, SpikeConfig) {
        let c: RuleConfig = serde_yaml::from_str(&format!(
            "{{name: spike, type: spike, index: logs-nginx.access-*, interval: 1m, alpha: 0.3, \
             min_count: 20, warmup: 3, realert: 10m, receivers: [r]{extra}}}"
        ))
        .unwrap();
        let s = match &c.kind {
            RuleKind::Spike(s) => s.clone(),
            RuleKind::Frequency(_) => unreachable!(),
        };
        (Rule::compile(&c, &EvaluationConfig::default()), s)
    }

    const MIN: Millis = 60_000;

    fn one(x: u64) -> BTreeMap<String, u64> {
        BTreeMap::from([(String::new(), x)])
    }

    #[test]
    fn steady_rate_never_fires_and_a_spike_does() {
        let (r, s) = rule(", factor: 3, stddevs: 3");
        let mut st = RuleState::default();
        for t in 1..=30 {
            let x = 30 + (t % 3) as u64; // 30, 31, 32, …
            assert!(apply(&r, &s, &mut st, t * MIN, &one(x)).is_empty(), "t={t}");
        }
        let e = apply(&r, &s, &mut st, 31 * MIN, &one(200));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Fire { repeat: false });
        let info = e[0].spike.as_ref().unwrap();
        assert!((info.baseline - 31.0).abs() < 1.0, "{info:?}");
        // Back to normal: resolves (the caller did notify).
        st.groups.get_mut("").unwrap().notified(31 * MIN);
        let e = apply(&r, &s, &mut st, 32 * MIN, &one(31));
        assert_eq!(e[0].action, Action::Resolve);
    }

    #[test]
    fn warmup_and_min_count_prevent_flapping() {
        let (r, s) = rule(", factor: 2");
        let mut st = RuleState::default();
        // Baseline not trusted for the first 3 intervals.
        for (t, x) in [(1, 1), (2, 100), (3, 1)] {
            assert!(apply(&r, &s, &mut st, t * MIN, &one(x)).is_empty());
        }
        // A quiet service: 1 → 15 is 15×, but below min_count.
        let (r2, s2) = rule(", factor: 2");
        let mut quiet = RuleState::default();
        for t in 1..=10 {
            apply(&r2, &s2, &mut quiet, t * MIN, &one(1));
        }
        assert!(apply(&r2, &s2, &mut quiet, 11 * MIN, &one(15)).is_empty());
        assert_eq!(apply(&r2, &s2, &mut quiet, 12 * MIN, &one(25)).len(), 1);
    }

    #[test]
    fn combine_any_or_all() {
        let base = Ewma {
            mean: 10.0,
            var: 100.0,
            n: 10,
        };
        let (_, mut s) = rule(", factor: 2, stddevs: 3");
        // 25 > 2 × 10 but not > 10 + 3 × 10.
        assert!(!exceeds(25, &base, &s));
        s.combine = Combine::Any;
        assert!(exceeds(25, &base, &s));
        assert!(exceeds(41, &base, &s));
    }

    #[test]
    fn quiet_groups_are_forgotten() {
        let (r, s) = rule(", factor: 3, group_by: host.name");
        let mut st = RuleState::default();
        apply(&r, &s, &mut st, MIN, &BTreeMap::from([("a".to_owned(), 5)]));
        assert!(st.groups.contains_key("a"));
        for t in 2..40 {
            apply(&r, &s, &mut st, t * MIN, &BTreeMap::new());
        }
        assert!(!st.groups.contains_key("a"), "{:?}", st.groups);
    }
}
