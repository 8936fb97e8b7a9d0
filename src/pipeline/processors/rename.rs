//! `rename`: moves a field to a new path.

use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    target_field: String,
    #[serde(default)]
    ignore_missing: bool,
    #[serde(default, rename = "override")]
    override_existing: bool,
}

struct Rename {
    field: FieldPath,
    target: FieldPath,
    ignore_missing: bool,
    override_existing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(Rename {
        field: FieldPath::parse(&c.field)?,
        target: FieldPath::parse(&c.target_field)?,
        ignore_missing: c.ignore_missing,
        override_existing: c.override_existing,
    }))
}

impl Processor for Rename {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        if !self.field.exists(doc) {
            if self.ignore_missing {
                return Ok(Flow::Continue);
            }
            return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field)));
        }
        if self.target.exists(doc) && !self.override_existing {
            return Err(ProcessError::new(format!("field `{}` already exists", self.target)));
        }
        let Some(v) = self.field.remove(doc) else {
            return Ok(Flow::Continue);
        };
        self.target.set(doc, v)?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    #[test]
    fn renames_nested() {
        let p = build(&json!({"field": "a.b", "target_field": "c.d"})).unwrap();
        assert_eq!(run(p, json!({"a": {"b": 1}})), json!({"a": {}, "c": {"d": 1}}));
    }

    #[test]
    fn target_exists_and_missing() {
        let p = build(&json!({"field": "a", "target_field": "b"})).unwrap();
        assert!(run_err(p, json!({"a": 1, "b": 2})).contains("already exists"));
        let p = build(&json!({"field": "a", "target_field": "b", "override": true})).unwrap();
        assert_eq!(run(p, json!({"a": 1, "b": 2})), json!({"b": 1}));
        let p = build(&json!({"field": "x", "target_field": "b"})).unwrap();
        assert!(run_err(p, json!({})).contains("doesn't exist"));
    }
}
