//! `json`: parses a JSON string field into structured data, written to a
//! target field or merged into the document root, as the ES `json`
//! processor. Application logs often arrive as one JSON line in `message`,
//! so parsing goes straight from the borrowed `&str` into a `Value` with no
//! intermediate copy.

use crate::value::{Map, Value, ValueSeed};
use serde::Deserialize;
use serde::de::DeserializeSeed;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    add_to_root: bool,
    #[serde(default)]
    add_to_root_conflict_strategy: Option<String>,
    #[serde(default)]
    allow_duplicate_keys: bool,
    #[serde(default = "default_strict_json_parsing")]
    strict_json_parsing: bool,
    /// Not an ES option; added because app logs mix JSON and plain lines.
    #[serde(default)]
    ignore_missing: bool,
}

// ES default: trailing content after the first JSON value is an error.
fn default_strict_json_parsing() -> bool {
    true
}

/// Where the parsed value goes.
enum Output {
    Field(FieldPath),
    /// `add_to_root`; `true` = recursive merge, `false` = replace.
    Root {
        merge: bool,
    },
}

struct Json {
    field: FieldPath,
    output: Output,
    allow_duplicate_keys: bool,
    strict: bool,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field)?;
    let output = if c.add_to_root {
        if c.target_field.is_some() {
            return Err("`target_field` cannot be set together with `add_to_root: true`".to_owned());
        }
        let merge = match c.add_to_root_conflict_strategy.as_deref() {
            None | Some("replace") => false,
            Some("merge") => true,
            Some(other) => {
                return Err(format!(
                    "`add_to_root_conflict_strategy` is `{other}`; accepted values: replace, merge"
                ));
            }
        };
        Output::Root { merge }
    } else {
        if c.add_to_root_conflict_strategy.is_some() {
            return Err("`add_to_root_conflict_strategy` needs `add_to_root: true`".to_owned());
        }
        Output::Field(match &c.target_field {
            Some(t) => FieldPath::parse(t)?,
            None => field.clone(),
        })
    };
    Ok(Box::new(Json {
        field,
        output,
        allow_duplicate_keys: c.allow_duplicate_keys,
        strict: c.strict_json_parsing,
        ignore_missing: c.ignore_missing,
    }))
}

impl Processor for Json {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let parsed = match self.field.get(doc) {
            None if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::String(s)) => parse(s, self.allow_duplicate_keys, self.strict)
                .map_err(|e| ProcessError::new(format!("field `{}` is not valid JSON: {e}", self.field)))?,
            // ES parses the value's string form; for these that is the value itself.
            Some(v @ (Value::Null | Value::Bool(_) | Value::Number(_))) => v.clone(),
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected a JSON string",
                    self.field,
                    type_name(other)
                )));
            }
        };
        match &self.output {
            Output::Field(target) => target.set(doc, parsed)?,
            Output::Root { merge } => {
                let Value::Object(map) = parsed else {
                    return Err(ProcessError::new(format!(
                        "field `{}` holds a JSON {}, but `add_to_root` needs a JSON object",
                        self.field,
                        type_name(&parsed)
                    )));
                };
                add_to_root(doc, map, *merge);
            }
        }
        Ok(Flow::Continue)
    }
}

/// Parses one JSON value. serde_json stops at 128 levels of nesting with an
/// error, which is what keeps hostile input from overflowing the stack.
fn parse(s: &str, allow_duplicate_keys: bool, strict: bool) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(s);
    let seed = ValueSeed {
        reject_duplicate_keys: !allow_duplicate_keys,
    };
    let value = seed.deserialize(&mut de)?;
    if strict {
        de.end()?;
    }
    Ok(value)
}

/// Merges a parsed object into the root. As in ES, the root is "source and
/// metadata": `_index`, `_id` and `_routing` keys set the metadata.
fn add_to_root(doc: &mut Document, map: Map, merge: bool) {
    for (k, v) in map {
        if matches!(k.as_str(), "_index" | "_id" | "_routing") {
            doc.meta.insert(k, v);
            continue;
        }
        match doc.source.get_mut(&k) {
            Some(Value::Object(existing)) if merge => {
                if let Value::Object(from) = v {
                    recursive_merge(existing, from);
                } else {
                    doc.source.insert(k, v);
                }
            }
            _ => {
                doc.source.insert(k, v);
            }
        }
    }
}

fn recursive_merge(target: &mut Map, from: Map) {
    for (k, v) in from {
        match (target.get_mut(&k), v) {
            (Some(Value::Object(t)), Value::Object(f)) => recursive_merge(t, f),
            (_, v) => {
                target.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err, try_run};
    use serde_json::Value;
    use serde_json::json;

    fn p(config: Value) -> Box<dyn Processor> {
        build(&config).unwrap()
    }

    #[test]
    fn parses_in_place_and_into_target() {
        let out = run(
            p(json!({"field": "message"})),
            json!({"message": r#"{"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}}"#}),
        );
        assert_eq!(out["message"], json!({"a": 1, "b": [true, null, "x"], "c": {"d": 1.5}}));
        let out = run(
            p(json!({"field": "message", "target_field": "app.data"})),
            json!({"message": "[1, 2]"}),
        );
        assert_eq!(out["app"]["data"], json!([1, 2]));
        assert_eq!(out["message"], json!("[1, 2]"));
    }

    #[test]
    fn floats_keep_every_digit() {
        // serde_json's default float parser can be off by one in the last
        // place; a log's numbers must reach Elasticsearch as written.
        let out = run(
            p(json!({"field": "m"})),
            json!({"m": r#"{"a": -3.5009985989294843e-103, "b": 0.1, "c": 1.7976931348623157e308, "d": 2.2250738585072014e-308}"#}),
        );
        assert_eq!(out["m"]["a"], json!(-3.5009985989294843e-103));
        assert_eq!(out["m"]["b"], json!(0.1));
        assert_eq!(out["m"]["c"], json!(1.7976931348623157e308));
        assert_eq!(out["m"]["d"], json!(2.2250738585072014e-308));
        assert_eq!(
            serde_json::to_string(&out["m"]).unwrap(),
            r#"{"a":-3.5009985989294843e-103,"b":0.1,"c":1.7976931348623157e+308,"d":2.2250738585072014e-308}"#
        );
    }

    #[test]
    fn scalars_parse_like_es() {
        for (input, expected) in [
            (json!("\"s\""), json!("s")),
            (json!("12"), json!(12)),
            (json!("-1.5e3"), json!(-1500.0)),
            (json!("true"), json!(true)),
            (json!("null"), json!(null)),
            (json!(42), json!(42)),
            (json!(null), json!(null)),
        ] {
            let out = run(p(json!({"field": "f", "target_field": "t"})), json!({"f": input}));
            assert_eq!(out["t"], expected);
        }
    }

    #[test]
    fn invalid_json_and_strictness() {
        let e = run_err(p(json!({"field": "f"})), json!({"f": "{\"a\": "}));
        assert!(e.contains("`f` is not valid JSON"), "{e}");
        let e = run_err(p(json!({"field": "f"})), json!({"f": "plain text"}));
        assert!(e.contains("not valid JSON"), "{e}");
        let e = run_err(p(json!({"field": "f"})), json!({"f": "123 \"foo\""}));
        assert!(e.contains("trailing"), "{e}");
        let out = run(
            p(json!({"field": "f", "strict_json_parsing": false})),
            json!({"f": "123 \"foo\""}),
        );
        assert_eq!(out["f"], json!(123));
        let out = run(
            p(json!({"field": "f", "strict_json_parsing": false})),
            json!({"f": "{\"a\":1} trailing garbage"}),
        );
        assert_eq!(out["f"], json!({"a": 1}));
    }

    #[test]
    fn duplicate_keys() {
        let e = run_err(
            p(json!({"field": "f"})),
            json!({"f": r#"{"a": 1, "b": {"c": 1, "c": 2}}"#}),
        );
        assert!(e.contains("duplicate key `c`"), "{e}");
        let out = run(
            p(json!({"field": "f", "allow_duplicate_keys": true})),
            json!({"f": r#"{"a": 1, "a": 2}"#}),
        );
        assert_eq!(out["f"], json!({"a": 2}));
    }

    #[test]
    fn add_to_root_replace_and_merge() {
        let src = json!({"message": r#"{"log": {"level": "info"}, "new": 1, "_id": "abc"}"#, "log": {"logger": "x"}});
        let (_, doc) = try_run(p(json!({"field": "message", "add_to_root": true})), src.clone()).unwrap();
        assert_eq!(doc.source["log"], json!({"level": "info"}));
        assert_eq!(doc.source["new"], json!(1));
        assert_eq!(doc.id().as_deref(), Some("abc"));
        assert!(doc.source.get("_id").is_none());
        assert!(doc.source.contains_key("message"));

        let out = run(
            p(json!({"field": "message", "add_to_root": true, "add_to_root_conflict_strategy": "merge"})),
            src,
        );
        assert_eq!(out["log"], json!({"level": "info", "logger": "x"}));
    }

    #[test]
    fn merge_replaces_non_objects() {
        let out = run(
            p(json!({"field": "m", "add_to_root": true, "add_to_root_conflict_strategy": "merge"})),
            json!({"m": r#"{"a": {"b": {"c": 2}, "x": 5}, "s": {"k": 1}}"#, "a": {"b": {"d": 1}, "x": {"y": 1}}, "s": "str"}),
        );
        assert_eq!(out["a"], json!({"b": {"c": 2, "d": 1}, "x": 5}));
        assert_eq!(out["s"], json!({"k": 1}));
    }

    #[test]
    fn add_to_root_needs_an_object() {
        let e = run_err(p(json!({"field": "m", "add_to_root": true})), json!({"m": "[1]"}));
        assert!(e.contains("needs a JSON object"), "{e}");
    }

    #[test]
    fn missing_and_wrong_types() {
        let e = run_err(p(json!({"field": "m"})), json!({}));
        assert!(e.contains("`m` doesn't exist"), "{e}");
        assert_eq!(
            run(p(json!({"field": "m", "ignore_missing": true})), json!({})),
            json!({})
        );
        let e = run_err(p(json!({"field": "m"})), json!({"m": {"already": "parsed"}}));
        assert!(e.contains("object, expected a JSON string"), "{e}");
        let e = run_err(p(json!({"field": "m", "target_field": "m.x"})), json!({"m": "1"}));
        assert!(e.contains("cannot set"), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = run_err(p(json!({"field": "m"})), json!({ "m": deep.clone() }));
        assert!(e.contains("recursion limit"), "{e}");
        let e = run_err(
            p(json!({"field": "m", "allow_duplicate_keys": true})),
            json!({ "m": deep }),
        );
        assert!(e.contains("recursion limit"), "{e}");
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        let e = run_err(p(json!({"field": "m"})), json!({ "m": deep_objects }));
        assert!(e.contains("recursion limit"), "{e}");
        // Below the limit it parses, with both parsers.
        let ok = format!("{}1{}", r#"{"a":"#.repeat(100), "}".repeat(100));
        run(p(json!({"field": "m"})), json!({ "m": ok.clone() }));
        run(
            p(json!({"field": "m", "allow_duplicate_keys": true})),
            json!({ "m": ok }),
        );
    }

    #[test]
    fn large_input() {
        let big = "x".repeat(2 * 1024 * 1024);
        let out = run(
            p(json!({"field": "m"})),
            json!({ "m": format!(r#"{{"big": "{big}", "n": 1}}"#) }),
        );
        assert_eq!(out["m"]["big"].as_str().map(str::len), Some(big.len()));
        let many: Vec<String> = (0..50_000).map(|i| format!(r#""k{i}": {i}"#)).collect();
        let out = run(
            p(json!({"field": "m"})),
            json!({ "m": format!("{{{}}}", many.join(",")) }),
        );
        assert_eq!(out["m"]["k49999"], json!(49999));
        let e = run_err(p(json!({"field": "m"})), json!({ "m": format!(r#"{{"big": "{big}"#) }));
        assert!(e.contains("EOF"), "{e}");
    }

    #[test]
    fn rejects_bad_options() {
        let e = build(&json!({"field": "m", "add_to_root": true, "target_field": "t"}))
            .err()
            .unwrap();
        assert!(e.contains("target_field"), "{e}");
        let e = build(&json!({"field": "m", "add_to_root_conflict_strategy": "merge"}))
            .err()
            .unwrap();
        assert!(e.contains("needs `add_to_root: true`"), "{e}");
        let e = build(&json!({"field": "m", "add_to_root": true, "add_to_root_conflict_strategy": "deep"}))
            .err()
            .unwrap();
        assert!(e.contains("replace, merge"), "{e}");
        assert!(build(&json!({"target_field": "m"})).is_err());
        assert!(
            build(&json!({"field": "m", "bogus": 1}))
                .err()
                .unwrap()
                .contains("bogus")
        );
        assert!(build(&json!({"field": ""})).is_err());
    }
}
