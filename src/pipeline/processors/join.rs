//! `join`: joins the elements of an array field into one string with a
//! separator, as the ES `join` processor.

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    separator: String,
    #[serde(default)]
    target_field: Option<String>,
}

struct Join {
    field: FieldPath,
    separator: String,
    target: Option<FieldPath>,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(Join {
        field: FieldPath::parse(&c.field)?,
        separator: c.separator,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
    }))
}

impl Processor for Join {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let joined = match self.field.get(doc) {
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Array(items)) => {
                let mut out = String::new();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.separator);
                    }
                    match item {
                        Value::String(s) => out.push_str(s),
                        // ES calls toString() on each element and fails on null.
                        Value::Null => {
                            return Err(ProcessError::new(format!(
                                "field `{}` has a null element at index {i}, cannot join it",
                                self.field
                            )));
                        }
                        other => out.push_str(&other.to_string()),
                    }
                }
                out
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected an array",
                    self.field,
                    type_name(other)
                )));
            }
        };
        self.target
            .as_ref()
            .unwrap_or(&self.field)
            .set(doc, Value::from(joined))?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    #[test]
    fn joins_elements() {
        let p = build(&json!({"field": "a", "separator": "-"})).unwrap();
        assert_eq!(run(p, json!({"a": ["x", 1, 2.5, true]}))["a"], json!("x-1-2.5-true"));
        let p = build(&json!({"field": "a", "separator": ", ", "target_field": "t"})).unwrap();
        let out = run(p, json!({"a": ["x", "y"]}));
        assert_eq!(out["t"], json!("x, y"));
        assert_eq!(out["a"], json!(["x", "y"]));
        let p = build(&json!({"field": "a", "separator": ","})).unwrap();
        assert_eq!(run(p, json!({"a": []}))["a"], json!(""));
    }

    #[test]
    fn errors() {
        let p = build(&json!({"field": "a", "separator": "-"})).unwrap();
        assert!(run_err(p, json!({"a": "x"})).contains("string, expected an array"));
        let p = build(&json!({"field": "a", "separator": "-"})).unwrap();
        assert!(run_err(p, json!({})).contains("doesn't exist"));
        let p = build(&json!({"field": "a", "separator": "-"})).unwrap();
        assert!(run_err(p, json!({"a": ["x", null]})).contains("null element at index 1"));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build(&json!({"field": "a"})).is_err());
        assert!(build(&json!({"field": "a", "separator": 1})).is_err());
        assert!(build(&json!({"field": "a", "separator": ",", "ignore_missing": true})).is_err());
    }
}
