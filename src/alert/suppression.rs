//! Causal-chain suppression. A rule lists in `suppressed_by` the rules whose
//! firing explains it (db-down → api-errors → checkout-errors). The relation
//! is transitive: while db-down is active, checkout-errors is silenced even
//! if api-errors has not fired yet, because in a real outage the middle
//! link often lags by an evaluation or two.
//!
//! An upstream is active while any of its groups fires, and for the
//! downstream rule's `suppress_hold` after its condition was last true (so a
//! flapping root cause keeps its consequences quiet). Suppression is
//! rule-wide: any group of the upstream silences every group of the
//! downstream. Cycles are rejected at startup; rules are evaluated
//! upstream-first so a downstream sees its upstream's state of the same
//! tick.

use std::collections::{BTreeMap, BTreeSet};

use super::clock::Millis;
use super::config::RuleConfig;

/// What suppression needs to know about an upstream rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Some group is firing.
    pub firing: bool,
    /// The last window end at which its condition held (any group).
    pub last_true: Option<Millis>,
}

/// The suppression graph.
#[derive(Debug, Clone)]
pub struct Suppression {
    /// Rule → every rule that (transitively) suppresses it, nearest first.
    upstreams: BTreeMap<String, Vec<String>>,
    /// Rules in evaluation order: every upstream before its downstreams.
    order: Vec<String>,
}

impl Suppression {
    /// Builds the graph; fails on a cycle, naming it.
    pub fn new(rules: &[RuleConfig]) -> Result<Self, String> {
        let direct: BTreeMap<&str, &[String]> = rules
            .iter()
            .map(|r| (r.name.as_str(), r.suppressed_by.as_slice()))
            .collect();
        // Depth-first topological sort; `visiting` holds the current path for
        // the cycle message.
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        for r in rules {
            let mut path = Vec::new();
            visit(&r.name, &direct, &mut done, &mut path, &mut order)?;
        }
        let mut upstreams = BTreeMap::new();
        for r in rules {
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            let mut frontier: Vec<&str> = direct
                .get(r.name.as_str())
                .map(|u| u.iter().map(String::as_str).collect())
                .unwrap_or_default();
            while !frontier.is_empty() {
                let mut next = Vec::new();
                for u in frontier {
                    if seen.insert(u) {
                        out.push(u.to_owned());
                        if let Some(ups) = direct.get(u) {
                            next.extend(ups.iter().map(String::as_str));
                        }
                    }
                }
                frontier = next;
            }
            upstreams.insert(r.name.clone(), out);
        }
        Ok(Suppression { upstreams, order })
    }

    /// Rule names, upstreams first.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Every rule that suppresses `rule`, directly or through a chain.
    pub fn upstreams(&self, rule: &str) -> &[String] {
        self.upstreams.get(rule).map(Vec::as_slice).unwrap_or_default()
    }

    /// The upstream that silences `rule` at `t`, if any.
    pub fn suppressor(&self, rule: &str, hold: Millis, t: Millis, activity: impl Fn(&str) -> Activity) -> Option<&str> {
        self.upstreams(rule).iter().map(String::as_str).find(|u| {
            let a = activity(u);
            a.firing || a.last_true.is_some_and(|last| t < last.saturating_add(hold))
        })
    }
}

fn visit<'a>(
    name: &'a str,
    direct: &BTreeMap<&'a str, &'a [String]>,
    done: &mut BTreeSet<&'a str>,
    path: &mut Vec<&'a str>,
    order: &mut Vec<String>,
) -> Result<(), String> {
    if done.contains(name) {
        return Ok(());
    }
    if let Some(pos) = path.iter().position(|p| *p == name) {
        let mut cycle: Vec<&str> = path[pos..].to_vec();
        cycle.push(name);
        return Err(format!(
            "suppressed_by forms a cycle: {} (a rule cannot be both cause and consequence)",
            cycle.join(" ← ")
        ));
    }
    path.push(name);
    for up in direct.get(name).copied().unwrap_or_default() {
        visit(up, direct, done, path, order)?;
    }
    path.pop();
    done.insert(name);
    order.push(name.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::config::{FrequencyConfig, RuleKind};

    fn rule(name: &str, ups: &[&str]) -> RuleConfig {
        serde_yaml::from_str::<RuleConfig>(&format!(
            "{{name: {name}, type: frequency, index: i, window: 1m, threshold: 1, receivers: [r]}}"
        ))
        .map(|mut r| {
            r.suppressed_by = ups.iter().map(|s| s.to_string()).collect();
            r
        })
        .unwrap()
    }

    #[test]
    fn chain_is_transitive_and_ordered_upstream_first() {
        let rules = vec![rule("checkout", &["api"]), rule("api", &["db"]), rule("db", &[])];
        let s = Suppression::new(&rules).unwrap();
        assert_eq!(s.order(), ["db", "api", "checkout"]);
        assert_eq!(s.upstreams("checkout"), ["api", "db"]);
        assert_eq!(s.upstreams("db"), [] as [String; 0]);
        assert!(matches!(
            rules[0].kind,
            RuleKind::Frequency(FrequencyConfig { threshold: 1, .. })
        ));
    }

    #[test]
    fn root_firing_silences_the_whole_chain() {
        let s = Suppression::new(&[rule("c", &["b"]), rule("b", &["a"]), rule("a", &[])]).unwrap();
        let act = |name: &str| Activity {
            firing: name == "a",
            last_true: (name == "a").then_some(100),
        };
        assert_eq!(s.suppressor("b", 1_000, 100, act), Some("a"));
        // b has not fired, yet c is silenced through it.
        assert_eq!(s.suppressor("c", 1_000, 100, act), Some("a"));
        assert_eq!(s.suppressor("a", 1_000, 100, act), None);
    }

    #[test]
    fn hold_time_outlasts_the_upstream() {
        let s = Suppression::new(&[rule("b", &["a"]), rule("a", &[])]).unwrap();
        let resolved_at_100 = |_: &str| Activity {
            firing: false,
            last_true: Some(100),
        };
        assert_eq!(s.suppressor("b", 50, 149, resolved_at_100), Some("a"));
        assert_eq!(s.suppressor("b", 50, 150, resolved_at_100), None);
        assert_eq!(s.suppressor("b", 50, 150, |_| Activity::default()), None);
    }

    #[test]
    fn cycles_are_rejected_with_their_path() {
        let e = Suppression::new(&[rule("a", &["c"]), rule("b", &["a"]), rule("c", &["b"])]).unwrap_err();
        assert!(e.contains("cycle"), "{e}");
        assert!(e.contains("a ← c ← b ← a"), "{e}");
    }

    #[test]
    fn diamond_is_fine() {
        let s = Suppression::new(&[
            rule("d", &["b", "c"]),
            rule("b", &["a"]),
            rule("c", &["a"]),
            rule("a", &[]),
        ])
        .unwrap();
        assert_eq!(s.upstreams("d"), ["b", "c", "a"]);
        assert_eq!(s.order().first().map(String::as_str), Some("a"));
        assert_eq!(s.order().last().map(String::as_str), Some("d"));
    }
}
