//! `remove`: removes fields, or keeps only the listed ones (`keep`).

use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, OneOrMany, ProcessError, Processor, parse_config};
use crate::pipeline::template::PathTemplate;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    field: Option<OneOrMany<String>>,
    #[serde(default)]
    keep: Option<OneOrMany<String>>,
    #[serde(default)]
    ignore_missing: bool,
}

enum Mode {
    Remove(Vec<PathTemplate>),
    Keep(Vec<FieldPath>),
}

struct Remove {
    mode: Mode,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let mode = match (c.field, c.keep) {
        (Some(f), None) => Mode::Remove(
            f.into_vec()
                .iter()
                .map(|s| PathTemplate::parse(s))
                .collect::<Result<_, _>>()?,
        ),
        (None, Some(k)) => Mode::Keep(
            k.into_vec()
                .iter()
                .map(|s| FieldPath::parse(s))
                .collect::<Result<_, _>>()?,
        ),
        (Some(_), Some(_)) => return Err("`field` and `keep` cannot both be set".to_owned()),
        (None, None) => return Err("one of `field` or `keep` is required".to_owned()),
    };
    Ok(Box::new(Remove {
        mode,
        ignore_missing: c.ignore_missing,
    }))
}

impl Processor for Remove {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        match &self.mode {
            Mode::Remove(fields) => {
                for t in fields {
                    let path = t.resolve(doc)?;
                    if path.remove(doc).is_none() && !self.ignore_missing {
                        return Err(ProcessError::new(format!("field `{path}` not present")));
                    }
                }
            }
            Mode::Keep(paths) => {
                let mut kept = Document {
                    meta: std::mem::take(&mut doc.meta),
                    ingest: std::mem::take(&mut doc.ingest),
                    ..Document::default()
                };
                for p in paths {
                    if let Some(v) = p.remove(doc) {
                        p.set(&mut kept, v)?;
                    }
                }
                *doc = kept;
            }
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    #[test]
    fn removes_and_keeps() {
        let p = build(&json!({"field": ["a.b", "c"]})).unwrap();
        assert_eq!(run(p, json!({"a": {"b": 1, "x": 2}, "c": 3})), json!({"a": {"x": 2}}));
        let p = build(&json!({"keep": ["a.x", "d"]})).unwrap();
        assert_eq!(run(p, json!({"a": {"b": 1, "x": 2}, "c": 3})), json!({"a": {"x": 2}}));
    }

    #[test]
    fn missing_is_an_error_unless_ignored() {
        let p = build(&json!({"field": "nope"})).unwrap();
        assert!(run_err(p, json!({})).contains("nope"));
        let p = build(&json!({"field": "nope", "ignore_missing": true})).unwrap();
        assert_eq!(run(p, json!({"a": 1})), json!({"a": 1}));
    }
}
