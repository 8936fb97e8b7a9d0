//! The processor registry: maps a processor type name to its builder.

mod append;
mod convert;
mod csv;
mod date;
mod dissect;
mod dot_expander;
mod drop;
mod fail;
mod fingerprint;
mod first_public_ip;
mod foreach;
mod geoip;
mod grok;
mod gsub;
mod ip_text;
mod join;
mod json;
mod kv;
mod pipeline;
mod remove;
mod rename;
mod set;
mod split;
mod string_case;
mod uri_parts;
mod urldecode;
mod user_agent;

pub use geoip::{LoadedDatabase, loaded_databases};
pub use grok::patterns as grok_patterns;

use serde_json::Value;

use super::compile::CompileContext;
use super::processor::Processor;

/// Every processor type, for error messages and docs.
pub const KNOWN: &[&str] = &[
    "append",
    "convert",
    "csv",
    "date",
    "dissect",
    "dot_expander",
    "drop",
    "fail",
    "fingerprint",
    "first_public_ip",
    "foreach",
    "geoip",
    "grok",
    "gsub",
    "join",
    "json",
    "kv",
    "lowercase",
    "pipeline",
    "remove",
    "rename",
    "set",
    "split",
    "trim",
    "uppercase",
    "uri_parts",
    "urldecode",
    "user_agent",
];

/// Builds a processor of type `kind` from its options (common options such
/// as `if` and `tag` have already been removed).
pub fn build(kind: &str, config: &Value, ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    match kind {
        "append" => append::build(config),
        "convert" => convert::build(config),
        "csv" => csv::build(config),
        "date" => date::build(config),
        "dissect" => dissect::build(config),
        "dot_expander" => dot_expander::build(config),
        "drop" => drop::build(config),
        "fail" => fail::build(config),
        "fingerprint" => fingerprint::build(config),
        "first_public_ip" => first_public_ip::build(config),
        "foreach" => foreach::build(config, ctx),
        "geoip" => geoip::build(config, ctx),
        "grok" => grok::build(config, ctx),
        "gsub" => gsub::build(config),
        "join" => join::build(config),
        "json" => json::build(config),
        "kv" => kv::build(config),
        "lowercase" => string_case::build(config, string_case::Op::Lowercase),
        "uppercase" => string_case::build(config, string_case::Op::Uppercase),
        "trim" => string_case::build(config, string_case::Op::Trim),
        "pipeline" => pipeline::build(config, ctx),
        "remove" => remove::build(config),
        "rename" => rename::build(config),
        "set" => set::build(config),
        "split" => split::build(config),
        "uri_parts" => uri_parts::build(config),
        "urldecode" => urldecode::build(config),
        "user_agent" => user_agent::build(config, ctx),
        "script" => Err("`script` (painless) is not supported; use `if` conditions and processors such as set, gsub, convert or first_public_ip".to_owned()),
        other => Err(format!("unknown processor type `{other}`; known types: {}", KNOWN.join(", "))),
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers for processor unit tests.

    use serde_json::Value;

    use crate::document::Document;
    use crate::pipeline::PipelineSet;
    use crate::pipeline::processor::{ExecContext, Flow, Processor};

    fn empty_set() -> PipelineSet {
        PipelineSet::empty()
    }

    /// Runs a processor over a JSON source and returns the result, or the
    /// error message.
    pub fn try_run(p: Box<dyn Processor>, source: Value) -> Result<(Flow, Document), String> {
        try_run_ref(&*p, source)
    }

    /// [`try_run`] for a borrowed processor, to run one processor (and its
    /// caches) over several records.
    pub fn try_run_ref(p: &dyn Processor, source: Value) -> Result<(Flow, Document), String> {
        let Value::Object(m) = source else {
            return Err("test source must be an object".to_owned());
        };
        let mut doc = Document::from_source(m);
        let set = empty_set();
        let mut ctx = ExecContext {
            pipelines: &set,
            pipeline: "test",
            depth: 0,
        };
        let flow = p.process(&mut doc, &mut ctx).map_err(|e| e.message)?;
        Ok((flow, doc))
    }

    /// Runs and expects success; returns `_source`.
    pub fn run(p: Box<dyn Processor>, source: Value) -> Value {
        run_ref(&*p, source)
    }

    /// [`run`] for a borrowed processor.
    pub fn run_ref(p: &dyn Processor, source: Value) -> Value {
        match try_run_ref(p, source) {
            Ok((_, doc)) => doc.source.to_json(),
            Err(e) => panic!("processor failed: {e}"),
        }
    }

    /// Runs and expects a failure; returns its message.
    pub fn run_err(p: Box<dyn Processor>, source: Value) -> String {
        match try_run(p, source) {
            Ok((_, doc)) => panic!("expected a failure, got {:?}", doc.source),
            Err(e) => e,
        }
    }
}
