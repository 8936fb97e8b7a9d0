//! Compiled rules and what an evaluation of one window produces. The
//! `frequency` and `spike` modules apply query results to a rule's state;
//! they are pure, so the runner does all the I/O.

pub mod frequency;
pub mod spike;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::clock::{Millis, ms};
use super::config::{EvaluationConfig, RuleConfig, RuleKind};
use super::lifecycle::Action;
use super::notify::SpikeInfo;
use super::query::QuerySpec;
use super::window::Window;

/// A rule with its settings resolved against the defaults.
#[derive(Debug, Clone)]
pub struct Rule {
    /// As configured.
    pub config: RuleConfig,
    /// What it queries.
    pub spec: QuerySpec,
    /// Evaluation interval.
    pub every: Millis,
    /// Ingest delay.
    pub delay: Millis,
    /// Minimum time between repeated notifications.
    pub realert: Millis,
    /// Suppression hold time.
    pub hold: Millis,
    /// Sample documents per notification.
    pub samples: usize,
    /// Hash of what the state depends on (query, window, thresholds).
    pub definition: String,
}

impl Rule {
    /// Resolves a validated rule.
    pub fn compile(c: &RuleConfig, ev: &EvaluationConfig) -> Rule {
        let spec = QuerySpec {
            index: c.index.clone(),
            timestamp_field: ev.timestamp_field.clone(),
            filter: c.filter.clone(),
            group_by: c.group_by.clone(),
            max_groups: c.max_groups,
        };
        let basis = json!({
            "index": c.index, "filter": c.filter, "group_by": c.group_by,
            "kind": c.kind, "timestamp_field": ev.timestamp_field,
        });
        let definition = hex::encode(Sha256::digest(basis.to_string().as_bytes()));
        Rule {
            spec,
            every: ms(c.every(ev)),
            delay: ms(c.ingest_delay.unwrap_or(ev.ingest_delay)),
            realert: ms(c.realert),
            hold: ms(c.suppress_hold),
            samples: c.samples.unwrap_or(ev.samples),
            definition,
            config: c.clone(),
        }
    }

    /// Rule name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// `frequency` or `spike`.
    pub fn kind_name(&self) -> &'static str {
        match self.config.kind {
            RuleKind::Frequency(_) => "frequency",
            RuleKind::Spike(_) => "spike",
        }
    }

    /// Window ends evaluated on a first run: one for a frequency rule; for a
    /// spike rule the warm-up intervals plus the current one, so the baseline
    /// is learned from history instead of after start.
    pub fn first_run_windows(&self) -> usize {
        match &self.config.kind {
            RuleKind::Frequency(_) => 1,
            RuleKind::Spike(s) => s.warmup as usize + 1,
        }
    }
}

/// Something to notify about, from one window of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Group key (`""` without `group_by`).
    pub group: String,
    /// Fire or resolve.
    pub action: Action,
    /// Count in the window.
    pub count: u64,
    /// The window.
    pub window: Window,
    /// Sample documents, if the query returned them.
    pub samples: Vec<Value>,
    /// Spike baseline at the time.
    pub spike: Option<SpikeInfo>,
    /// Window end at which the episode started (the group's state may be
    /// gone after a resolve).
    pub since: Option<Millis>,
}
