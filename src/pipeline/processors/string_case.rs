//! `lowercase`, `uppercase` and `trim`: string transforms applied to a
//! string field or to every string of an array field.

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

/// Which transform.
#[derive(Clone, Copy)]
pub enum Op {
    /// `lowercase`
    Lowercase,
    /// `uppercase`
    Uppercase,
    /// `trim`
    Trim,
}

impl Op {
    fn apply(self, s: &str) -> String {
        match self {
            Op::Lowercase => s.to_lowercase(),
            Op::Uppercase => s.to_uppercase(),
            Op::Trim => s.trim().to_owned(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    ignore_missing: bool,
}

struct StringCase {
    op: Op,
    field: FieldPath,
    target: Option<FieldPath>,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value, op: Op) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(StringCase {
        op,
        field: FieldPath::parse(&c.field)?,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
        ignore_missing: c.ignore_missing,
    }))
}

impl Processor for StringCase {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let out = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None | Some(Value::Null) => {
                return Err(ProcessError::new(format!("field `{}` is missing or null", self.field)));
            }
            Some(Value::String(s)) => Value::from(self.op.apply(s)),
            Some(Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(Value::from(self.op.apply(s))),
                        other => Err(ProcessError::new(format!(
                            "field `{}` contains a {}, expected only strings",
                            self.field,
                            type_name(other)
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected a string",
                    self.field,
                    type_name(other)
                )));
            }
        };
        self.target.as_ref().unwrap_or(&self.field).set(doc, out)?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    #[test]
    fn transforms_strings_and_arrays() {
        let p = build(&json!({"field": "a"}), Op::Lowercase).unwrap();
        assert_eq!(run(p, json!({"a": "ÀbC"}))["a"], json!("àbc"));
        let p = build(&json!({"field": "a", "target_field": "b"}), Op::Uppercase).unwrap();
        assert_eq!(run(p, json!({"a": ["x", "y"]}))["b"], json!(["X", "Y"]));
        let p = build(&json!({"field": "a"}), Op::Trim).unwrap();
        assert_eq!(run(p, json!({"a": "  x "}))["a"], json!("x"));
    }

    #[test]
    fn wrong_type_and_missing() {
        let p = build(&json!({"field": "a"}), Op::Lowercase).unwrap();
        assert!(run_err(p, json!({"a": 5})).contains("number"));
        let p = build(&json!({"field": "a", "ignore_missing": true}), Op::Lowercase).unwrap();
        assert_eq!(run(p, json!({})), json!({}));
    }
}
