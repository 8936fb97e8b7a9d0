//! `foreach`: runs one nested processor on every element of an array (or
//! every entry of an object), as the ES `foreach` processor. The current
//! element is exposed as `_ingest._value` (and the entry's key as
//! `_ingest._key`); whatever the nested processor leaves there is written
//! back, and the previous `_ingest._value`/`_key` are restored afterwards so
//! that `foreach` can nest.

use crate::value::{Map, Value};
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::compile::{CompileContext, static_calls};
use crate::pipeline::executor::{NoTrace, run_list};
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{CompiledProcessor, ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    processor: serde_json::Value,
    #[serde(default)]
    ignore_missing: bool,
}

struct Foreach {
    field: FieldPath,
    processor: CompiledProcessor,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field)?;
    let processor = ctx
        .compile_nested(&c.processor, "processor")
        .map_err(|e| format!("{}: {}", e.location, e.reason))?;
    Ok(Box::new(Foreach {
        field,
        processor,
        ignore_missing: c.ignore_missing,
    }))
}

const VALUE: &str = "_value";
const KEY: &str = "_key";

/// What `_ingest._value` and `_ingest._key` held before the loop.
struct Saved {
    value: Option<Value>,
    key: Option<Value>,
}

impl Saved {
    fn take(doc: &mut Document) -> Self {
        Saved {
            value: doc.ingest.remove(VALUE),
            key: doc.ingest.remove(KEY),
        }
    }

    fn restore(self, doc: &mut Document) {
        doc.ingest.remove(VALUE);
        doc.ingest.remove(KEY);
        if let Some(v) = self.value {
            doc.ingest.insert(VALUE, v);
        }
        if let Some(k) = self.key {
            doc.ingest.insert(KEY, k);
        }
    }
}

impl Foreach {
    /// Runs the nested processor once. A failure keeps the nested
    /// processor's type and tag as its origin, so the failure tag and
    /// `on_failure` metadata name the processor that really failed.
    fn run_one(&self, doc: &mut Document, ctx: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        // The executor context carries no pipeline name; nested `on_failure`
        // handlers see an empty `_ingest.on_failure_pipeline`.
        run_list(
            std::slice::from_ref(&self.processor),
            doc,
            ctx,
            ctx.pipeline,
            &mut NoTrace,
        )
        .map_err(|f| ProcessError {
            message: f.message,
            origin: Some((f.processor, f.tag)),
        })
    }

    fn over_array(
        &self,
        items: Vec<Value>,
        doc: &mut Document,
        ctx: &mut ExecContext<'_>,
    ) -> Result<Option<Value>, ProcessError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            doc.ingest.insert(VALUE, item);
            let flow = self.run_one(doc, ctx)?;
            if flow == Flow::Drop {
                return Ok(None);
            }
            out.push(doc.ingest.remove(VALUE).unwrap_or(Value::Null));
        }
        Ok(Some(Value::Array(out)))
    }

    fn over_object(
        &self,
        entries: Map,
        doc: &mut Document,
        ctx: &mut ExecContext<'_>,
    ) -> Result<Option<Value>, ProcessError> {
        let mut out = Map::new();
        for (key, value) in entries {
            doc.ingest.insert(KEY, Value::String(key));
            doc.ingest.insert(VALUE, value);
            let flow = self.run_one(doc, ctx)?;
            if flow == Flow::Drop {
                return Ok(None);
            }
            let new_key = match doc.ingest.remove(KEY) {
                Some(Value::String(k)) => k,
                other => {
                    return Err(ProcessError::new(format!(
                        "field `{}`: the nested processor left `_ingest._key` as {}, expected a string",
                        self.field,
                        other.as_ref().map_or("missing", type_name)
                    )));
                }
            };
            out.insert(new_key, doc.ingest.remove(VALUE).unwrap_or(Value::Null));
        }
        Ok(Some(Value::Object(out)))
    }
}

impl Processor for Foreach {
    fn process(&self, doc: &mut Document, ctx: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        // A copy, because the nested processor may read or change the field
        // while we iterate, as in ES which iterates over the original list.
        let value = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(v @ (Value::Array(_) | Value::Object(_))) => v.clone(),
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected an array or an object",
                    self.field,
                    type_name(other)
                )));
            }
        };
        let saved = Saved::take(doc);
        let result = match value {
            Value::Array(items) => self.over_array(items, doc, ctx),
            Value::Object(entries) => self.over_object(entries, doc, ctx),
            _ => Ok(None),
        };
        saved.restore(doc);
        match result? {
            Some(new) => {
                self.field.set(doc, new)?;
                Ok(Flow::Continue)
            }
            None => Ok(Flow::Drop),
        }
    }

    fn called_pipelines(&self) -> Vec<String> {
        let mut out = Vec::new();
        static_calls(std::slice::from_ref(&self.processor), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;
    use crate::pipeline::PipelineSet;
    use crate::pipeline::compile::{CompileOptions, SharedResources};
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn foreach(config: Value) -> Result<Box<dyn Processor>, String> {
        let options = CompileOptions::default();
        let names: HashSet<String> = ["other".to_owned()].into_iter().collect();
        let resources = SharedResources::default();
        let ctx = CompileContext {
            options: &options,
            file: Path::new("test.yaml"),
            pipeline_names: &names,
            resources: &resources,
        };
        build(&config, &ctx)
    }

    fn p(config: Value) -> Box<dyn Processor> {
        foreach(config).unwrap()
    }

    #[test]
    fn transforms_array_elements() {
        let out = run(
            p(json!({"field": "tags", "processor": {"uppercase": {"field": "_ingest._value"}}})),
            json!({"tags": ["a", "b"]}),
        );
        assert_eq!(out["tags"], json!(["A", "B"]));
    }

    #[test]
    fn value_is_readable_by_templates() {
        let out = run(
            p(
                json!({"field": "items", "processor": {"append": {"field": "names", "value": "{{_ingest._value.name}}"}}}),
            ),
            json!({"items": [{"name": "x"}, {"name": "y"}]}),
        );
        assert_eq!(out["names"], json!(["x", "y"]));
        assert_eq!(out["items"], json!([{"name": "x"}, {"name": "y"}]));
    }

    #[test]
    fn objects_expose_key_and_can_rename() {
        let out = run(
            p(json!({"field": "m", "processor": {"set": {"field": "_ingest._key", "value": "k_{{_ingest._key}}"}}})),
            json!({"m": {"a": 1, "b": 2}}),
        );
        assert_eq!(out["m"], json!({"k_a": 1, "k_b": 2}));
        let e = run_err(
            p(json!({"field": "m", "processor": {"remove": {"field": "_ingest._key"}}})),
            json!({"m": {"a": 1}}),
        );
        assert!(e.contains("`_ingest._key` as missing"), "{e}");
    }

    #[test]
    fn nested_foreach_restores_outer_value() {
        let inner =
            json!({"foreach": {"field": "_ingest._value", "processor": {"uppercase": {"field": "_ingest._value"}}}});
        let (_, doc) = crate::pipeline::processors::test_util::try_run(
            p(json!({"field": "rows", "processor": inner})),
            json!({"rows": [["a", "b"], ["c"]]}),
        )
        .unwrap();
        assert_eq!(doc.source["rows"], json!([["A", "B"], ["C"]]));
        assert!(doc.ingest.is_empty(), "{:?}", doc.ingest);
    }

    #[test]
    fn previous_ingest_value_is_restored() {
        let proc = p(json!({"field": "l", "processor": {"uppercase": {"field": "_ingest._value"}}}));
        let set = PipelineSet::empty();
        let mut ctx = ExecContext {
            pipelines: &set,
            pipeline: "test",
            depth: 0,
        };
        let mut doc = Document::from_source(json!({"l": ["x"]}).as_object().cloned().unwrap_or_default());
        doc.ingest.insert("_value", json!("outer"));
        proc.process(&mut doc, &mut ctx).unwrap();
        assert_eq!(doc.ingest["_value"], json!("outer"));
        assert!(!doc.ingest.contains_key("_key"));
    }

    #[test]
    fn failure_propagates_with_nested_origin() {
        let proc = p(
            json!({"field": "l", "processor": {"convert": {"field": "_ingest._value", "type": "integer", "tag": "conv"}}}),
        );
        let set = PipelineSet::empty();
        let mut ctx = ExecContext {
            pipelines: &set,
            pipeline: "test",
            depth: 0,
        };
        let mut doc = Document::from_source(json!({"l": ["1", "x"]}).as_object().cloned().unwrap_or_default());
        let e = proc.process(&mut doc, &mut ctx).unwrap_err();
        assert!(e.message.contains("unable to convert `x` to integer"), "{}", e.message);
        assert_eq!(e.origin, Some(("convert".to_owned(), Some("conv".to_owned()))));
        // The field is untouched and no `_ingest._value` is left behind.
        assert_eq!(doc.source["l"], json!(["1", "x"]));
        assert!(doc.ingest.is_empty());
    }

    #[test]
    fn nested_ignore_failure_and_on_failure_apply() {
        let out = run(
            p(
                json!({"field": "l", "processor": {"convert": {"field": "_ingest._value", "type": "integer", "ignore_failure": true}}}),
            ),
            json!({"l": ["1", "x"]}),
        );
        assert_eq!(out["l"], json!([1, "x"]));
        let out = run(
            p(json!({"field": "l", "processor": {"convert": {
                "field": "_ingest._value", "type": "integer",
                "on_failure": [{"set": {"field": "_ingest._value", "value": -1}}]
            }}})),
            json!({"l": ["1", "x"]}),
        );
        assert_eq!(out["l"], json!([1, -1]));
    }

    #[test]
    fn drop_inside_drops_the_document() {
        let (flow, doc) = crate::pipeline::processors::test_util::try_run(
            p(json!({"field": "l", "processor": {"drop": {}}})),
            json!({"l": ["ok", "bad"]}),
        )
        .unwrap();
        assert_eq!(flow, Flow::Drop);
        assert!(doc.ingest.is_empty());
    }

    #[test]
    fn missing_and_wrong_types() {
        let cfg = json!({"field": "l", "processor": {"uppercase": {"field": "_ingest._value"}}});
        assert!(run_err(p(cfg.clone()), json!({})).contains("doesn't exist"));
        assert!(run_err(p(cfg.clone()), json!({"l": "s"})).contains("string, expected an array or an object"));
        let mut ignore = cfg;
        ignore["ignore_missing"] = json!(true);
        assert_eq!(run(p(ignore.clone()), json!({})), json!({}));
        assert_eq!(run(p(ignore), json!({"l": null})), json!({"l": null}));
        assert_eq!(
            run(
                p(json!({"field": "l", "processor": {"uppercase": {"field": "_ingest._value"}}})),
                json!({"l": []})
            )["l"],
            json!([])
        );
    }

    #[test]
    fn reports_called_pipelines() {
        let proc = p(json!({"field": "l", "processor": {"pipeline": {"name": "other"}}}));
        assert_eq!(proc.called_pipelines(), vec!["other".to_owned()]);
    }

    #[test]
    fn rejects_bad_options() {
        let e = foreach(json!({"field": "l"})).err().unwrap();
        assert!(e.contains("processor"), "{e}");
        let e = foreach(json!({"field": "l", "processor": {"nope": {}}})).err().unwrap();
        assert!(e.contains("unknown processor type `nope`"), "{e}");
        let e = foreach(json!({"field": "l", "processor": {"uppercase": {}}}))
            .err()
            .unwrap();
        assert!(e.starts_with("processor (uppercase)"), "{e}");
        let e = foreach(json!({"field": "l", "processor": {"set": {"field": "a", "value": 1}, "drop": {}}})).err();
        assert!(e.is_some());
    }
}
