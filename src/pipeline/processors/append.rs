//! `append`: appends values to a field, turning a scalar into an array.

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::template::ValueTemplate;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    value: Value,
    #[serde(default = "default_allow_duplicates")]
    allow_duplicates: bool,
    #[serde(default)]
    #[allow(dead_code)]
    media_type: Option<String>,
}

// ES default.
fn default_allow_duplicates() -> bool {
    true
}

struct Append {
    field: FieldPath,
    values: Vec<ValueTemplate>,
    allow_duplicates: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let values = match &c.value {
        Value::Array(items) => items.iter().map(ValueTemplate::compile).collect::<Result<_, _>>()?,
        v => vec![ValueTemplate::compile(v)?],
    };
    Ok(Box::new(Append {
        field: FieldPath::parse(&c.field)?,
        values,
        allow_duplicates: c.allow_duplicates,
    }))
}

impl Processor for Append {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let new: Vec<Value> = self.values.iter().map(|t| t.render(doc)).collect();
        let mut items = match self.field.remove(doc) {
            None => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(other) => vec![other],
        };
        for v in new {
            if self.allow_duplicates || !items.contains(&v) {
                items.push(v);
            }
        }
        self.field.set(doc, Value::Array(items))?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::run;
    use serde_json::json;

    #[test]
    fn appends_to_scalar_and_array() {
        let p = build(&json!({"field": "tags", "value": ["a", "{{m}}"]})).unwrap();
        assert_eq!(run(p, json!({"tags": "x", "m": "y"}))["tags"], json!(["x", "a", "y"]));
        let p = build(&json!({"field": "t", "value": "a", "allow_duplicates": false})).unwrap();
        assert_eq!(run(p, json!({"t": ["a"]}))["t"], json!(["a"]));
        let p = build(&json!({"field": "n.t", "value": 1})).unwrap();
        assert_eq!(run(p, json!({}))["n"]["t"], json!([1]));
    }
}
