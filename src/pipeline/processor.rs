//! The contract every processor implements, and the wrapper that adds the
//! options common to all of them (`if`, `tag`, `ignore_failure`,
//! `on_failure`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;

use super::PipelineSet;
use super::condition::Condition;
use crate::document::Document;

/// What a processor asks the executor to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next processor.
    Continue,
    /// Stop here and do not index the document (the `drop` processor).
    Drop,
}

/// A per-record processor failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProcessError {
    /// Human-readable reason, ends up in `error.message`.
    pub message: String,
    /// Set when the failure happened inside a nested pipeline: the type and
    /// tag of the processor that really failed, so the failure tag is
    /// `_grokparsefailure` and not a generic pipeline failure.
    pub origin: Option<(String, Option<String>)>,
}

impl ProcessError {
    /// A failure of the processor that returns it.
    pub fn new(message: impl Into<String>) -> Self {
        ProcessError {
            message: message.into(),
            origin: None,
        }
    }
}

impl From<String> for ProcessError {
    fn from(message: String) -> Self {
        ProcessError::new(message)
    }
}

impl From<&str> for ProcessError {
    fn from(message: &str) -> Self {
        ProcessError::new(message)
    }
}

/// Runtime context handed to processors: the pipeline set (for the
/// `pipeline` processor) and the nesting depth (to stop runaway recursion
/// through templated pipeline names).
pub struct ExecContext<'a> {
    /// All pipelines of the running set.
    pub pipelines: &'a PipelineSet,
    /// The pipeline being run (for `_ingest.on_failure_pipeline`).
    pub pipeline: &'a str,
    /// How many `pipeline` processors deep we are.
    pub depth: usize,
}

/// One compiled processor. Implementations must be cheap to call and must
/// never panic on any document content.
pub trait Processor: Send + Sync {
    /// Transforms the document in place.
    fn process(&self, doc: &mut Document, ctx: &mut ExecContext<'_>) -> Result<Flow, ProcessError>;

    /// Pipelines this processor calls by a static name, for load-time
    /// validation and cycle detection.
    fn called_pipelines(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Every run of a processor is timed until it has run this many times, so
/// short runs (`sluice pipeline test --stats`, a freshly reloaded set) get
/// exact figures.
const TIME_ALL_FIRST: u64 = 1024;

/// After [`TIME_ALL_FIRST`] runs, one run in this many is timed. Reading the
/// clock twice costs 40-80 ns on a VM (kvm-clock through the vDSO), which is
/// as much as a cheap processor itself and, over the 25 processors of the
/// nginx pipeline, a large share of a ~3 µs event budget. Timing one run in
/// 64 keeps that under 2 ns per processor and, at thousands of runs per
/// second, still gives thousands of samples per minute.
const TIME_ONE_IN: u64 = 64;

/// Counters kept per compiled processor; the metrics module reads them.
///
/// `invocations` and `failures` are exact. Time is sampled (see
/// `TIME_ONE_IN`): `timed_nanos` is the wall time of the `timed` runs that
/// were measured, and [`ProcessorStats::nanos`] scales it to all runs.
#[derive(Debug, Default)]
pub struct ProcessorStats {
    /// Times the processor ran (its condition was true).
    pub invocations: AtomicU64,
    /// Times it returned an error (whether or not handled).
    pub failures: AtomicU64,
    /// Runs whose time was measured.
    pub timed: AtomicU64,
    /// Total wall time of the measured runs, in nanoseconds.
    pub timed_nanos: AtomicU64,
}

impl ProcessorStats {
    /// Counts one run and says whether it should be timed. The choice is
    /// made per processor (not by a shared counter), so every processor is
    /// sampled at the same rate whatever the length of its pipeline.
    #[inline]
    pub(crate) fn start(&self) -> bool {
        let n = self.invocations.fetch_add(1, Ordering::Relaxed);
        n < TIME_ALL_FIRST || n.is_multiple_of(TIME_ONE_IN)
    }

    /// Records the outcome of a run counted by [`ProcessorStats::start`];
    /// `nanos` is its duration if it was timed.
    #[inline]
    pub(crate) fn finish(&self, nanos: Option<u64>, failed: bool) {
        if let Some(nanos) = nanos {
            self.timed.fetch_add(1, Ordering::Relaxed);
            self.timed_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Estimated total wall time of all runs, in nanoseconds: the mean of
    /// the timed runs times the number of runs. Exact while every run is
    /// timed (the first `TIME_ALL_FIRST`).
    pub fn nanos(&self) -> u64 {
        // Relaxed loads of three counters are not a snapshot: `timed` may
        // be seen ahead of `invocations`, hence the `max`.
        let timed = self.timed.load(Ordering::Relaxed);
        let timed_nanos = self.timed_nanos.load(Ordering::Relaxed);
        let invocations = self.invocations.load(Ordering::Relaxed);
        if timed == 0 {
            return 0;
        }
        let scaled = u128::from(timed_nanos) * u128::from(invocations.max(timed)) / u128::from(timed);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }
}

/// A processor with its common options.
pub struct CompiledProcessor {
    /// Processor type as written (`grok`, `date`, …).
    pub kind: String,
    /// Optional user tag, shown in errors and metrics.
    pub tag: Option<String>,
    /// Where it was defined: `file: processors[3]`, for error messages.
    pub location: String,
    /// `if`: run only when true.
    pub condition: Option<Condition>,
    /// `ignore_failure`: failures are swallowed.
    pub ignore_failure: bool,
    /// `on_failure`: handlers run instead of failing the pipeline.
    pub on_failure: Vec<CompiledProcessor>,
    /// The processor itself.
    pub inner: Box<dyn Processor>,
    /// Counters for metrics.
    pub stats: ProcessorStats,
}

impl std::fmt::Debug for CompiledProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledProcessor")
            .field("kind", &self.kind)
            .field("tag", &self.tag)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The failure tag added to `tags` when a processor of this type fails and
/// nothing handles it, following Logstash's names where they exist.
pub fn failure_tag(kind: &str) -> String {
    match kind {
        "grok" => "_grokparsefailure".to_owned(),
        "dissect" => "_dissectfailure".to_owned(),
        "date" => "_dateparsefailure".to_owned(),
        "json" => "_jsonparsefailure".to_owned(),
        "geoip" => "_geoip_lookup_failure".to_owned(),
        "kv" => "_kv_filter_error".to_owned(),
        other => format!("_{other}_failure"),
    }
}

/// Deserializes a processor's own options with `deny_unknown_fields`
/// semantics (the struct decides) and a readable error that names the
/// option at fault (`invalid options: `timeout_millis`: invalid value: …`).
pub fn parse_config<T: DeserializeOwned>(config: &serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(config.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names an unknown option itself; the path would repeat it.
        let top_level = path == "." || path.is_empty() || (inner.starts_with("unknown field") && !path.contains('.'));
        if top_level {
            format!("invalid options: {inner}")
        } else {
            format!("invalid options: `{path}`: {inner}")
        }
    })
}

/// Accepts `field: x` or `field: [x, y]` in processor options.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list of values.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_every_early_run_then_samples() {
        let stats = ProcessorStats::default();
        let timed = (0..TIME_ALL_FIRST + 10 * TIME_ONE_IN).filter(|_| stats.start()).count() as u64;
        assert_eq!(timed, TIME_ALL_FIRST + 10);
    }

    #[test]
    fn scales_sampled_time_to_all_runs() {
        let stats = ProcessorStats::default();
        assert_eq!(stats.nanos(), 0);
        for _ in 0..TIME_ALL_FIRST + 100 * TIME_ONE_IN {
            let timed = stats.start();
            stats.finish(timed.then_some(10), false);
        }
        // Every run took 10 ns, timed or not.
        assert_eq!(stats.nanos(), 10 * (TIME_ALL_FIRST + 100 * TIME_ONE_IN));
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0);
        stats.finish(None, true);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn option_errors_name_the_option() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Options {
            field: String,
            #[serde(default)]
            limit: u64,
            #[serde(default)]
            names: Vec<String>,
        }
        let err = |v: serde_json::Value| parse_config::<Options>(&v).expect_err("invalid");
        assert_eq!(
            err(serde_json::json!({"field": "a", "limit": -1})),
            "invalid options: `limit`: invalid value: integer `-1`, expected u64"
        );
        assert_eq!(
            err(serde_json::json!({"field": "a", "names": ["x", 2]})),
            "invalid options: `names[1]`: invalid type: integer `2`, expected a string"
        );
        assert_eq!(
            err(serde_json::json!({"field": "a", "limt": 1})),
            "invalid options: unknown field `limt`, expected one of `field`, `limit`, `names`"
        );
        assert_eq!(err(serde_json::json!({})), "invalid options: missing field `field`");
    }
}
