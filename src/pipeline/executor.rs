//! Runs a compiled pipeline over one document, with Elasticsearch ingest
//! semantics for `if`, `ignore_failure`, processor and pipeline
//! `on_failure`, and `drop`.
//!
//! An unhandled failure stops the pipeline, as in ES; the document is
//! returned annotated with `error.message` and a failure tag such as
//! `_grokparsefailure`, and the caller decides whether it is indexed or
//! dead-lettered.

use std::time::Instant;

use crate::value::{Map, Value};

use super::Pipeline;
use super::processor::{CompiledProcessor, ExecContext, Flow, ProcessError, failure_tag};
use crate::document::Document;

/// Why a pipeline failed: the processor that failed and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Type of the failing processor (`grok`).
    pub processor: String,
    /// Its tag, if any.
    pub tag: Option<String>,
    /// The reason.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tag {
            Some(t) => write!(f, "{} ({}): {}", self.processor, t, self.message),
            None => write!(f, "{}: {}", self.processor, self.message),
        }
    }
}

/// The result of running a pipeline on one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// Index this document.
    Document(Document),
    /// A `drop` processor removed it; nothing is indexed and the record
    /// counts as done.
    Dropped,
    /// An unhandled failure. The document carries `error.message` and the
    /// failure tag.
    Failed(Document, Failure),
}

/// What a tracer learns about each processor run (for `--verbose`, like
/// ES `_simulate?verbose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// The processor ran and succeeded.
    Success,
    /// Its `if` was false.
    Skipped,
    /// It failed and `ignore_failure` swallowed it.
    ErrorIgnored,
    /// It failed and its `on_failure` ran.
    ErrorHandled,
    /// It failed and nothing handled it.
    Error,
    /// It dropped the document.
    Dropped,
}

/// Observes processor runs. The hot path uses [`NoTrace`], which compiles
/// away.
pub trait Tracer {
    /// Called after each processor.
    fn step(&mut self, processor: &CompiledProcessor, status: StepStatus, error: Option<&str>, doc: &Document);
}

/// The tracer that records nothing.
pub struct NoTrace;

impl Tracer for NoTrace {
    #[inline(always)]
    fn step(&mut self, _: &CompiledProcessor, _: StepStatus, _: Option<&str>, _: &Document) {}
}

const ON_FAILURE_KEYS: [&str; 4] = [
    "on_failure_message",
    "on_failure_processor_type",
    "on_failure_processor_tag",
    "on_failure_pipeline",
];

fn set_failure_metadata(doc: &mut Document, failure: &Failure, pipeline: &str) {
    doc.ingest
        .insert("on_failure_message", Value::from(failure.message.clone()));
    doc.ingest.insert(
        "on_failure_processor_type".to_owned(),
        Value::from(failure.processor.clone()),
    );
    doc.ingest.insert(
        "on_failure_processor_tag".to_owned(),
        failure.tag.as_deref().map_or(Value::Null, Value::from),
    );
    doc.ingest.insert("on_failure_pipeline", Value::from(pipeline));
}

fn clear_failure_metadata(doc: &mut Document) {
    for k in ON_FAILURE_KEYS {
        doc.ingest.remove(k);
    }
}

fn failure_of(p: &CompiledProcessor, e: ProcessError) -> Failure {
    match e.origin {
        Some((processor, tag)) => Failure {
            processor,
            tag,
            message: e.message,
        },
        None => Failure {
            processor: p.kind.clone(),
            tag: p.tag.clone(),
            message: e.message,
        },
    }
}

/// Runs a list of processors. `Err` is an unhandled failure.
pub(crate) fn run_list<T: Tracer>(
    list: &[CompiledProcessor],
    doc: &mut Document,
    ctx: &mut ExecContext<'_>,
    pipeline: &str,
    tracer: &mut T,
) -> Result<Flow, Failure> {
    for p in list {
        if let Some(cond) = &p.condition
            && !cond.eval(doc)
        {
            tracer.step(p, StepStatus::Skipped, None, doc);
            continue;
        }
        let start = p.stats.start().then(Instant::now);
        let result = p.inner.process(doc, ctx);
        let nanos = start.map(|s| u64::try_from(s.elapsed().as_nanos()).unwrap_or(u64::MAX));
        p.stats.finish(nanos, result.is_err());
        match result {
            Ok(Flow::Continue) => tracer.step(p, StepStatus::Success, None, doc),
            Ok(Flow::Drop) => {
                tracer.step(p, StepStatus::Dropped, None, doc);
                return Ok(Flow::Drop);
            }
            Err(e) => {
                if p.ignore_failure {
                    tracer.step(p, StepStatus::ErrorIgnored, Some(&e.message), doc);
                    continue;
                }
                let failure = failure_of(p, e);
                if p.on_failure.is_empty() {
                    tracer.step(p, StepStatus::Error, Some(&failure.message), doc);
                    return Err(failure);
                }
                tracer.step(p, StepStatus::ErrorHandled, Some(&failure.message), doc);
                set_failure_metadata(doc, &failure, pipeline);
                let handled = run_list(&p.on_failure, doc, ctx, pipeline, tracer);
                clear_failure_metadata(doc);
                if handled? == Flow::Drop {
                    return Ok(Flow::Drop);
                }
            }
        }
    }
    Ok(Flow::Continue)
}

/// Runs a whole pipeline including its pipeline-level `on_failure`.
/// `Err` is an unhandled failure; the document is left as the failing
/// processor left it.
pub(crate) fn run_pipeline<T: Tracer>(
    pipeline: &Pipeline,
    doc: &mut Document,
    ctx: &mut ExecContext<'_>,
    tracer: &mut T,
) -> Result<Flow, Failure> {
    match run_list(&pipeline.processors, doc, ctx, &pipeline.name, tracer) {
        Ok(flow) => Ok(flow),
        Err(failure) if pipeline.on_failure.is_empty() => Err(failure),
        Err(failure) => {
            // As in ES: the pipeline stops at the failure and its
            // on_failure handlers decide what is indexed.
            set_failure_metadata(doc, &failure, &pipeline.name);
            let handled = run_list(&pipeline.on_failure, doc, ctx, &pipeline.name, tracer);
            clear_failure_metadata(doc);
            handled
        }
    }
}

/// Marks a document as failed: `error.message` and the failure tag.
pub(crate) fn annotate_failure(doc: &mut Document, failure: &Failure) {
    let error = doc
        .source
        .entry("error")
        .or_insert_with(|| Value::Object(Default::default()));
    if !error.is_object() {
        // A log's own `error` field that is not an object would make the
        // annotation impossible; keep it under `error.original`.
        let original = std::mem::take(error);
        let mut m = Map::new();
        m.insert("original", original);
        *error = Value::Object(m);
    }
    if let Value::Object(m) = error {
        m.insert("message", Value::from(failure.to_string()));
    }
    doc.add_tag(&failure_tag(&failure.processor));
}
