//! Frequency rules: at each window end, the count of matching documents in
//! the sliding window `[end - window, end)`, per group; the condition holds
//! when it reaches the threshold.

use std::collections::{BTreeMap, BTreeSet};

use super::{Event, Rule};
use crate::alert::clock::{Millis, ms};
use crate::alert::config::FrequencyConfig;
use crate::alert::lifecycle::Action;
use crate::alert::query::GroupCount;
use crate::alert::state::RuleState;
use crate::alert::window::Window;

/// The window evaluated at `end`.
pub fn window(f: &FrequencyConfig, end: Millis) -> Window {
    Window::ending_at(end, ms(f.window))
}

/// Applies one window's counts to the state; returns what to notify.
pub fn apply(
    rule: &Rule,
    f: &FrequencyConfig,
    state: &mut RuleState,
    end: Millis,
    results: Vec<GroupCount>,
) -> Vec<Event> {
    let w = window(f, end);
    let mut by_group: BTreeMap<String, GroupCount> = results.into_iter().map(|g| (g.key.clone(), g)).collect();
    // Firing groups absent from the answer have a count of zero.
    let keys: BTreeSet<String> = by_group
        .keys()
        .cloned()
        .chain(state.groups.iter().filter(|(_, g)| g.firing).map(|(k, _)| k.clone()))
        .collect();
    let mut events = Vec::new();
    for key in keys {
        let (count, samples) = match by_group.remove(&key) {
            Some(g) => (g.count, g.samples),
            None => (0, Vec::new()),
        };
        let holds = count >= f.threshold;
        let gs = state.groups.entry(key.clone()).or_default();
        let action = gs.step(holds, count, end, rule.realert, rule.config.resolve);
        if holds {
            state.last_true = Some(state.last_true.map_or(end, |t| t.max(end)));
        }
        if action != Action::None {
            let since = gs.since;
            events.push(Event {
                since,
                group: key,
                action,
                count,
                window: w,
                samples,
                spike: None,
            });
        }
    }
    state.groups.retain(|_, g| !g.is_idle());
    state.last_end = Some(end);
    events
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::alert::config::{EvaluationConfig, RuleConfig, RuleKind};

    fn rule(group_by: bool) -> (Rule, FrequencyConfig) {
        let c: RuleConfig = serde_yaml::from_str(&format!(
            "{{name: burst, type: frequency, index: logs-app-*, window: 5m, threshold: 10, realert: 30m, receivers: [r]{}}}",
            if group_by { ", group_by: service.name" } else { "" }
        ))
        .unwrap();
        let f = match &c.kind {
            RuleKind::Frequency(f) => f.clone(),
            RuleKind::Spike(_) => unreachable!(),
        };
        (Rule::compile(&c, &EvaluationConfig::default()), f)
    }

    fn gc(key: &str, count: u64) -> GroupCount {
        GroupCount {
            key: key.into(),
            count,
            samples: vec![json!({"n": count})],
        }
    }

    const MIN: Millis = 60_000;

    #[test]
    fn burst_fires_once_per_realert_then_resolves() {
        let (r, f) = rule(false);
        let mut s = RuleState::default();
        assert!(
            apply(&r, &f, &mut s, 10 * MIN, vec![gc("", 9)]).is_empty(),
            "below threshold"
        );
        let e = apply(&r, &f, &mut s, 11 * MIN, vec![gc("", 10)]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Fire { repeat: false });
        assert_eq!(
            e[0].window,
            Window {
                start: 6 * MIN,
                end: 11 * MIN
            }
        );
        assert_eq!(e[0].samples, vec![json!({"n": 10})]);
        s.groups.get_mut("").unwrap().notified(11 * MIN);
        for t in 12..41 {
            assert!(apply(&r, &f, &mut s, t * MIN, vec![gc("", 50)]).is_empty(), "t={t}");
        }
        let e = apply(&r, &f, &mut s, 41 * MIN, vec![gc("", 50)]);
        assert_eq!(e[0].action, Action::Fire { repeat: true });
        s.groups.get_mut("").unwrap().notified(41 * MIN);
        let e = apply(&r, &f, &mut s, 42 * MIN, vec![gc("", 0)]);
        assert_eq!(e[0].action, Action::Resolve);
        assert!(s.groups.is_empty(), "resolved groups are not kept");
        assert_eq!((s.last_end, s.last_true), (Some(42 * MIN), Some(41 * MIN)));
    }

    #[test]
    fn groups_fire_independently_and_vanish_into_resolve() {
        let (r, f) = rule(true);
        let mut s = RuleState::default();
        let e = apply(&r, &f, &mut s, MIN, vec![gc("api", 12), gc("web", 3)]);
        assert_eq!(e.iter().map(|e| e.group.as_str()).collect::<Vec<_>>(), ["api"]);
        s.groups.get_mut("api").unwrap().notified(MIN);
        assert_eq!(s.groups.keys().collect::<Vec<_>>(), ["api"]);
        // api no longer in the answer at all: counted as zero, resolved.
        let e = apply(&r, &f, &mut s, 2 * MIN, vec![gc("web", 11)]);
        let got: Vec<_> = e.iter().map(|e| (e.group.as_str(), e.action, e.count)).collect();
        assert_eq!(
            got,
            [("api", Action::Resolve, 0), ("web", Action::Fire { repeat: false }, 11)]
        );
    }
}
