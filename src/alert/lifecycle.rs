//! The life of one alert (a rule and group): ok → firing → (repeat every
//! `realert`) → resolved. Pure: given the condition at a window end and the
//! previous state, it says what to notify. Times are window ends, so a
//! catch-up after downtime replays the same decisions a running evaluator
//! would have made.

use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::ewma::Ewma;

/// Persisted state of one alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// The condition held at the last evaluation.
    #[serde(default)]
    pub firing: bool,
    /// Window end at which the current (or last) episode started.
    #[serde(default)]
    pub since: Option<Millis>,
    /// Last window end at which the condition held.
    #[serde(default)]
    pub last_true: Option<Millis>,
    /// Window end of the last firing notification sent for this episode.
    #[serde(default)]
    pub last_notified: Option<Millis>,
    /// Last count seen.
    #[serde(default)]
    pub count: u64,
    /// Spike baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Ewma>,
    /// Why the pending firing notification is held back (suppressing rule
    /// or silence), so it is recorded once rather than every evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_back: Option<String>,
}

/// What an evaluation asks to notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// The condition started holding, or still holds and `realert` passed
    /// since the last notification (or none was sent yet).
    Fire {
        /// True for a repeat within an episode already notified.
        repeat: bool,
    },
    /// The condition cleared after a firing notification was sent.
    Resolve,
}

impl GroupState {
    /// Applies the condition at window end `t` and returns the action. The
    /// caller calls [`GroupState::notified`] if it actually sent the firing
    /// notification (not silenced or suppressed).
    pub fn step(&mut self, holds: bool, count: u64, t: Millis, realert: Millis, resolve: bool) -> Action {
        self.count = count;
        match (holds, self.firing) {
            (true, false) => {
                self.firing = true;
                self.since = Some(t);
                self.last_true = Some(t);
                self.last_notified = None;
                Action::Fire { repeat: false }
            }
            (true, true) => {
                self.last_true = Some(t);
                match self.last_notified {
                    None => Action::Fire { repeat: false },
                    Some(last) if t.saturating_sub(last) >= realert => Action::Fire { repeat: true },
                    Some(_) => Action::None,
                }
            }
            (false, true) => {
                self.firing = false;
                self.held_back = None;
                let was_notified = self.last_notified.is_some();
                self.last_notified = None;
                if resolve && was_notified {
                    Action::Resolve
                } else {
                    Action::None
                }
            }
            (false, false) => Action::None,
        }
    }

    /// Records that a firing notification for window end `t` went out.
    pub fn notified(&mut self, t: Millis) {
        self.last_notified = Some(t);
        self.held_back = None;
    }

    /// True if nothing in this state needs keeping.
    pub fn is_idle(&self) -> bool {
        !self.firing && self.baseline.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Millis = 300;

    fn run(s: &mut GroupState, holds: bool, t: Millis) -> Action {
        let a = s.step(holds, u64::from(holds), t, R, true);
        if matches!(a, Action::Fire { .. }) {
            s.notified(t);
        }
        a
    }

    #[test]
    fn fires_once_per_realert_interval() {
        let mut s = GroupState::default();
        assert_eq!(run(&mut s, true, 0), Action::Fire { repeat: false });
        for t in (60..300).step_by(60) {
            assert_eq!(run(&mut s, true, t), Action::None, "t={t}");
        }
        assert_eq!(run(&mut s, true, 300), Action::Fire { repeat: true });
        assert_eq!(run(&mut s, true, 360), Action::None);
        assert_eq!(s.since, Some(0));
    }

    #[test]
    fn resolves_when_the_condition_clears() {
        let mut s = GroupState::default();
        run(&mut s, true, 0);
        assert_eq!(run(&mut s, false, 60), Action::Resolve);
        assert_eq!(run(&mut s, false, 120), Action::None);
        assert!(s.is_idle());
        assert_eq!(s.last_true, Some(0));
        // A new episode fires again at once, whatever realert says.
        assert_eq!(run(&mut s, true, 180), Action::Fire { repeat: false });
    }

    #[test]
    fn never_true_never_notifies() {
        let mut s = GroupState::default();
        for t in 0..10 {
            assert_eq!(run(&mut s, false, t), Action::None);
        }
    }

    #[test]
    fn a_held_back_firing_is_sent_when_allowed_and_resolves_quietly_otherwise() {
        let mut s = GroupState::default();
        // Suppressed: the caller does not call notified().
        assert_eq!(s.step(true, 5, 0, R, true), Action::Fire { repeat: false });
        // Still firing, nothing sent yet: asks again.
        assert_eq!(s.step(true, 5, 60, R, true), Action::Fire { repeat: false });
        // Cleared without a notification ever sent: no resolve.
        assert_eq!(s.step(false, 0, 120, R, true), Action::None);
    }

    #[test]
    fn resolve_can_be_disabled() {
        let mut s = GroupState::default();
        s.step(true, 1, 0, R, false);
        s.notified(0);
        assert_eq!(s.step(false, 0, 60, R, false), Action::None);
    }
}
