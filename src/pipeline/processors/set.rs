//! `set`: sets a field to a value (with `{{field}}` templates) or copies
//! another field, as the ES `set` processor.

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::template::{PathTemplate, ValueTemplate};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    copy_from: Option<String>,
    #[serde(default = "default_override", rename = "override")]
    override_existing: bool,
    #[serde(default)]
    ignore_empty_value: bool,
    /// Accepted for ES compatibility; templates here are always plain text.
    #[serde(default)]
    #[allow(dead_code)]
    media_type: Option<String>,
}

// ES default: `set` overwrites existing values.
fn default_override() -> bool {
    true
}

enum Source {
    Value(ValueTemplate),
    CopyFrom(FieldPath),
}

/// The target: a fixed path, or a `{{template}}` rendered per document (ES
/// allows templates in `set.field`).
struct Set {
    field: PathTemplate,
    source: Source,
    override_existing: bool,
    ignore_empty_value: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let source = match (c.value, c.copy_from) {
        (Some(v), None) => Source::Value(ValueTemplate::compile(&v)?),
        (None, Some(from)) => Source::CopyFrom(FieldPath::parse(&from)?),
        (Some(_), Some(_)) => return Err("`value` and `copy_from` cannot both be set".to_owned()),
        (None, None) => return Err("one of `value` or `copy_from` is required".to_owned()),
    };
    let field = PathTemplate::parse(&c.field)?;
    Ok(Box::new(Set {
        field,
        source,
        override_existing: c.override_existing,
        ignore_empty_value: c.ignore_empty_value,
    }))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

impl Processor for Set {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let field = self
            .field
            .resolve(doc)
            .map_err(|e| ProcessError::new(format!("set: field {e}")))?;
        if !self.override_existing && field.get(doc).is_some_and(|v| !v.is_null()) {
            return Ok(Flow::Continue);
        }
        let value = match &self.source {
            Source::Value(t) => t.render(doc),
            Source::CopyFrom(from) => match from.get(doc) {
                Some(v) => v.clone(),
                None if self.ignore_empty_value => return Ok(Flow::Continue),
                None => return Err(ProcessError::new(format!("field `{from}` not present, cannot copy it"))),
            },
        };
        if self.ignore_empty_value && is_empty(&value) {
            return Ok(Flow::Continue);
        }
        field.set(doc, value)?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    #[test]
    fn sets_templated_values() {
        let out = run(
            build(&json!({"field": "a.b", "value": "x-{{message}}"})).unwrap(),
            json!({"message": "m"}),
        );
        assert_eq!(out["a"]["b"], json!("x-m"));
    }

    #[test]
    fn templated_field_names() {
        let p = build(&json!({"field": "out.{{k}}", "value": 1})).unwrap();
        assert_eq!(run(p, json!({"k": "x"}))["out"]["x"], json!(1));
        let p = build(&json!({"field": "{{k}}", "value": 1})).unwrap();
        assert!(run_err(p, json!({})).contains("empty"));
    }

    #[test]
    fn respects_override_false() {
        let p = build(&json!({"field": "a", "value": 2, "override": false})).unwrap();
        assert_eq!(run(p, json!({"a": 1}))["a"], json!(1));
        let p = build(&json!({"field": "a", "value": 2, "override": false})).unwrap();
        assert_eq!(run(p, json!({"a": null}))["a"], json!(2));
    }

    #[test]
    fn copy_from_and_empty_values() {
        let p = build(&json!({"field": "b", "copy_from": "a"})).unwrap();
        assert_eq!(run(p, json!({"a": [1, 2]}))["b"], json!([1, 2]));
        let p = build(&json!({"field": "b", "copy_from": "missing"})).unwrap();
        assert!(run_err(p, json!({})).contains("missing"));
        let p = build(&json!({"field": "b", "value": "{{missing}}", "ignore_empty_value": true})).unwrap();
        assert!(run(p, json!({})).get("b").is_none());
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build(&json!({"field": "a"})).is_err());
        assert!(build(&json!({"field": "a", "value": 1, "copy_from": "b"})).is_err());
        assert!(
            build(&json!({"field": "a", "value": 1, "bogus": 1}))
                .err()
                .unwrap_or_default()
                .contains("bogus")
        );
    }
}
