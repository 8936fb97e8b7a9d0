//! `kv`: extracts `key=value` pairs from a string field into fields, as the
//! ES `kv` processor. Splitting follows Java's `String.split`, a pair
//! without the value separator is an error, and a repeated key becomes an
//! array of its values.

use std::collections::HashSet;

use crate::value::{Map, Value};
use regex::Regex;
use serde::Deserialize;

use super::split::{Limit, compile_regex, java_split};
use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    field_split: String,
    value_split: String,
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    include_keys: Option<Vec<String>>,
    #[serde(default)]
    exclude_keys: Option<Vec<String>>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    trim_key: Option<String>,
    #[serde(default)]
    trim_value: Option<String>,
    #[serde(default)]
    strip_brackets: bool,
    #[serde(default)]
    ignore_missing: bool,
}

/// Removes leading and trailing characters of a class, as ES's
/// `(^([trim]+))|([trim]+$)` replace.
enum Trimmer {
    /// The option is a plain list of characters: no regex needed.
    Chars(Vec<char>),
    /// The option uses character-class syntax (ranges, escapes).
    Regex(Regex),
}

impl Trimmer {
    fn compile(option: &str, class: &str) -> Result<Self, String> {
        if class.is_empty() {
            return Err(format!(
                "`{option}` is empty; give the characters to trim, e.g. \"\\\"' \""
            ));
        }
        if class
            .chars()
            .any(|c| matches!(c, '\\' | '[' | ']' | '^' | '-' | '&' | '~'))
        {
            let re = Regex::new(&format!("^[{class}]+|[{class}]+$")).map_err(|e| {
                format!("`{option}` is used as a regex character class `[{class}]` and is not valid: {e}")
            })?;
            Ok(Trimmer::Regex(re))
        } else {
            Ok(Trimmer::Chars(class.chars().collect()))
        }
    }

    fn trim(&self, s: String) -> String {
        match self {
            Trimmer::Chars(set) => {
                let trimmed = s.trim_matches(|c| set.contains(&c));
                if trimmed.len() == s.len() {
                    s
                } else {
                    trimmed.to_owned()
                }
            }
            Trimmer::Regex(re) => re.replace_all(&s, "").into_owned(),
        }
    }
}

struct Kv {
    field: FieldPath,
    field_split: Regex,
    value_split: Regex,
    value_split_src: String,
    target: Option<FieldPath>,
    include_keys: Option<HashSet<String>>,
    exclude_keys: Option<HashSet<String>>,
    prefix: String,
    trim_key: Option<Trimmer>,
    trim_value: Option<Trimmer>,
    strip_brackets: bool,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(Kv {
        field: FieldPath::parse(&c.field)?,
        field_split: compile_regex("field_split", &c.field_split)?,
        value_split: compile_regex("value_split", &c.value_split)?,
        value_split_src: c.value_split,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
        include_keys: c.include_keys.map(|v| v.into_iter().collect()),
        exclude_keys: c.exclude_keys.map(|v| v.into_iter().collect()),
        prefix: c.prefix.unwrap_or_default(),
        trim_key: c.trim_key.map(|t| Trimmer::compile("trim_key", &t)).transpose()?,
        trim_value: c.trim_value.map(|t| Trimmer::compile("trim_value", &t)).transpose()?,
        strip_brackets: c.strip_brackets,
        ignore_missing: c.ignore_missing,
    }))
}

/// ES's `(^[\(\[<"'])|([\]\)>"']$)`: one opening character at the start and
/// one closing character at the end, independently.
fn strip_brackets(s: &str) -> &str {
    let s = s.strip_prefix(['(', '[', '<', '"', '\'']).unwrap_or(s);
    s.strip_suffix([')', ']', '>', '"', '\'']).unwrap_or(s)
}

impl Kv {
    fn keep(&self, key: &str) -> bool {
        self.include_keys.as_ref().is_none_or(|k| k.contains(key))
            && self.exclude_keys.as_ref().is_none_or(|k| !k.contains(key))
    }

    fn extract(&self, input: &str) -> Result<Vec<(String, String)>, ProcessError> {
        let mut pairs = Vec::new();
        for part in java_split(&self.field_split, input, Limit::DropTrailing) {
            let (k, v) = match java_split(&self.value_split, part, Limit::AtMost(2))[..] {
                [k, v] => (k, v),
                _ => {
                    return Err(ProcessError::new(format!(
                        "field `{}` does not contain value_split `{}` in `{}`",
                        self.field,
                        self.value_split_src,
                        truncate(part)
                    )));
                }
            };
            let key = match &self.trim_key {
                Some(t) => t.trim(k.to_owned()),
                None => k.to_owned(),
            };
            if !self.keep(&key) {
                continue;
            }
            let v = if self.strip_brackets { strip_brackets(v) } else { v };
            let value = match &self.trim_value {
                Some(t) => t.trim(v.to_owned()),
                None => v.to_owned(),
            };
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

/// Keeps error messages readable when a pair is a whole log line.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

/// Writes `value` at the dotted `key` under `root`, appending to an
/// existing value as ES's `appendFieldValue` does.
fn append(root: &mut Map, key: &str, value: String) -> Result<(), String> {
    let mut segments = key.split('.');
    let Some(last) = segments.next_back() else {
        return Err("empty key".to_owned());
    };
    let mut map = root;
    for seg in segments {
        if seg.is_empty() {
            return Err(format!("key `{key}` has an empty path segment"));
        }
        let entry = map.entry(seg).or_insert_with(|| Value::Object(Map::new()));
        map = match entry {
            Value::Object(m) => m,
            other => {
                return Err(format!(
                    "cannot set key `{key}`: `{seg}` is a {}, not an object",
                    type_name(other)
                ));
            }
        };
    }
    if last.is_empty() {
        return Err(format!("key `{key}` is empty or ends with a dot"));
    }
    match map.get_mut(last) {
        None => {
            map.insert(last, Value::from(value));
        }
        Some(Value::Array(items)) => items.push(Value::from(value)),
        Some(existing) => {
            let previous = std::mem::take(existing);
            *existing = Value::Array(vec![previous, Value::from(value)]);
        }
    }
    Ok(())
}

impl Processor for Kv {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let pairs = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot extract key-value pairs",
                    self.field
                )));
            }
            Some(Value::String(s)) => self.extract(s)?,
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected a string",
                    self.field,
                    type_name(other)
                )));
            }
        };
        let root = match &self.target {
            None => &mut doc.source,
            Some(target) => {
                if !target.exists(doc) {
                    target.set(doc, Value::Object(Map::new()))?;
                }
                match target.get_mut(doc) {
                    Some(Value::Object(m)) => m,
                    Some(other) => {
                        return Err(ProcessError::new(format!(
                            "target field `{target}` is a {}, not an object",
                            type_name(other)
                        )));
                    }
                    None => return Err(ProcessError::new(format!("cannot create target field `{target}`"))),
                }
            }
        };
        for (key, value) in pairs {
            let key = if self.prefix.is_empty() {
                key
            } else {
                format!("{}{key}", self.prefix)
            };
            append(root, &key, value).map_err(|e| ProcessError::new(format!("field `{}`: {e}", self.field)))?;
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn kv(extra: Value) -> Box<dyn Processor> {
        let mut c = json!({"field": "m", "field_split": " ", "value_split": "="});
        if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
            c.extend(e);
        }
        build(&c).unwrap()
    }

    #[test]
    fn extracts_pairs() {
        let out = run(kv(json!({})), json!({"m": "a=1 b=x=y c="}));
        assert_eq!(out["a"], json!("1"));
        assert_eq!(out["b"], json!("x=y"));
        assert_eq!(out["c"], json!(""));
    }

    #[test]
    fn repeated_keys_become_arrays() {
        let out = run(kv(json!({})), json!({"m": "ip=1 ip=2 ip=3", "ip": "0"}));
        assert_eq!(out["ip"], json!(["0", "1", "2", "3"]));
    }

    #[test]
    fn target_prefix_and_dotted_keys() {
        let out = run(
            kv(json!({"target_field": "kv", "prefix": "p_"})),
            json!({"m": "a=1 x.y=2"}),
        );
        assert_eq!(out["kv"], json!({"p_a": "1", "p_x": {"y": "2"}}));
        let e = run_err(kv(json!({})), json!({"m": "a=1 a.b=2"}));
        assert!(e.contains("`a` is a string, not an object"), "{e}");
        let e = run_err(kv(json!({})), json!({"m": "=1"}));
        assert!(e.contains("empty"), "{e}");
        let e = run_err(kv(json!({"target_field": "m"})), json!({"m": "a=1"}));
        assert!(e.contains("not an object"), "{e}");
    }

    #[test]
    fn include_exclude() {
        let out = run(
            kv(json!({"include_keys": ["a", "b"], "exclude_keys": ["b"]})),
            json!({"m": "a=1 b=2 c=3"}),
        );
        assert_eq!(out, json!({"m": "a=1 b=2 c=3", "a": "1"}));
    }

    #[test]
    fn trims_and_strips() {
        let out = run(
            kv(json!({"field_split": "&", "trim_key": " ", "trim_value": " <>", "strip_brackets": true})),
            json!({"m": " a =(1)& b= <two> & c=\"q\"&d='"}),
        );
        assert_eq!(out["a"], json!("1"));
        assert_eq!(out["b"], json!("two"));
        assert_eq!(out["c"], json!("q"));
        assert_eq!(out["d"], json!(""));
        let out = run(kv(json!({"trim_value": "a-c"})), json!({"m": "k=abxcb"}));
        assert_eq!(out["k"], json!("x"));
    }

    #[test]
    fn regex_separators() {
        let out = run(
            kv(json!({"field_split": "\\s*[;,]\\s*", "value_split": "\\s*:\\s*"})),
            json!({"m": "a : 1 ; b:2,c: 3,"}),
        );
        assert_eq!(out["a"], json!("1"));
        assert_eq!(out["b"], json!("2"));
        assert_eq!(out["c"], json!("3"));
    }

    #[test]
    fn missing_value_split_is_an_error() {
        let e = run_err(kv(json!({})), json!({"m": "a=1 oops b=2"}));
        assert!(e.contains("does not contain value_split `=` in `oops`"), "{e}");
        // Java's split drops trailing empty pieces, but not leading or inner ones.
        assert_eq!(run(kv(json!({})), json!({"m": "a=1  "}))["a"], json!("1"));
        assert!(run_err(kv(json!({})), json!({"m": "a=1  b=2"})).contains("value_split"));
    }

    #[test]
    fn missing_null_and_wrong_types() {
        assert!(run_err(kv(json!({})), json!({})).contains("doesn't exist"));
        assert!(run_err(kv(json!({})), json!({"m": null})).contains("null"));
        assert!(run_err(kv(json!({})), json!({"m": 3})).contains("number, expected a string"));
        assert_eq!(run(kv(json!({"ignore_missing": true})), json!({})), json!({}));
    }

    #[test]
    fn rejects_bad_options() {
        let base = json!({"field": "m", "field_split": " "});
        assert!(build(&base).is_err());
        let e = build(&json!({"field": "m", "field_split": "[", "value_split": "="}))
            .err()
            .unwrap();
        assert!(e.contains("`field_split`"), "{e}");
        let e = build(&json!({"field": "m", "field_split": " ", "value_split": "=", "trim_key": "[z-a]"}))
            .err()
            .unwrap();
        assert!(e.contains("`trim_key`"), "{e}");
        let e = build(&json!({"field": "m", "field_split": " ", "value_split": "=", "trim_key": ""}))
            .err()
            .unwrap();
        assert!(e.contains("empty"), "{e}");
        assert!(build(&json!({"field": "m", "field_split": " ", "value_split": "=", "include_keys": "a"})).is_err());
    }
}
