//! `split`: splits a string field on a regex separator into an array of
//! strings, with Java `String.split` semantics as the ES `split` processor.
//! Also home of [`java_split`], which `kv` shares.

use crate::value::Value;
use regex::Regex;
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
    #[serde(default)]
    ignore_missing: bool,
    #[serde(default)]
    preserve_trailing: bool,
}

struct Split {
    field: FieldPath,
    separator: Regex,
    target: Option<FieldPath>,
    ignore_missing: bool,
    preserve_trailing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(Split {
        field: FieldPath::parse(&c.field)?,
        separator: compile_regex("separator", &c.separator)?,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
        ignore_missing: c.ignore_missing,
        preserve_trailing: c.preserve_trailing,
    }))
}

/// Compiles a user regex with an error naming the option. The `regex`
/// crate guarantees linear-time matching, so no input can make a split
/// hang; the price is no look-around and no back-references.
pub(super) fn compile_regex(option: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("`{option}` is not a valid regular expression: {e}"))
}

/// How many pieces [`java_split`] may return, as Java's `limit` argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// `limit = 0`: split everywhere, drop trailing empty strings.
    DropTrailing,
    /// `limit < 0`: split everywhere, keep trailing empty strings.
    KeepTrailing,
    /// `limit = n > 0`: at most n pieces, the last one holds the rest.
    AtMost(usize),
}

/// Splits like Java's `Pattern.split(input, limit)`: no match returns the
/// whole input; a zero-width match at the very start yields no leading
/// empty piece; `DropTrailing` removes trailing empty pieces.
pub(super) fn java_split<'a>(re: &Regex, input: &'a str, limit: Limit) -> Vec<&'a str> {
    let mut pieces = Vec::new();
    let mut index = 0;
    let mut matched = false;
    for m in re.find_iter(input) {
        if let Limit::AtMost(n) = limit
            && pieces.len() + 1 >= n
        {
            break;
        }
        if m.end() == 0 {
            // Java skips a zero-width match at index 0.
            continue;
        }
        matched = true;
        pieces.push(input.get(index..m.start()).unwrap_or(""));
        index = m.end();
    }
    if !matched {
        return vec![input];
    }
    pieces.push(input.get(index..).unwrap_or(""));
    if limit == Limit::DropTrailing {
        while pieces.last().is_some_and(|p| p.is_empty()) {
            pieces.pop();
        }
    }
    pieces
}

impl Processor for Split {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let parts: Vec<Value> = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot split",
                    self.field
                )));
            }
            Some(Value::String(s)) => {
                let limit = if self.preserve_trailing {
                    Limit::KeepTrailing
                } else {
                    Limit::DropTrailing
                };
                java_split(&self.separator, s, limit)
                    .into_iter()
                    .map(Value::from)
                    .collect()
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected a string",
                    self.field,
                    type_name(other)
                )));
            }
        };
        self.target
            .as_ref()
            .unwrap_or(&self.field)
            .set(doc, Value::Array(parts))?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    fn split(re: &str, s: &str, limit: Limit) -> Vec<String> {
        java_split(&Regex::new(re).unwrap(), s, limit)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn java_split_semantics() {
        use Limit::*;
        assert_eq!(split(",", "a,b,,c,,", DropTrailing), ["a", "b", "", "c"]);
        assert_eq!(split(",", "a,b,,c,,", KeepTrailing), ["a", "b", "", "c", "", ""]);
        assert_eq!(split(",", ",a", DropTrailing), ["", "a"]);
        assert_eq!(split(",", "", DropTrailing), [""]);
        assert_eq!(split(",", ",,,", DropTrailing), Vec::<String>::new());
        assert_eq!(split(",", "abc", DropTrailing), ["abc"]);
        assert_eq!(split("", "abc", DropTrailing), ["a", "b", "c"]);
        assert_eq!(split("=", "a=b=c", AtMost(2)), ["a", "b=c"]);
        assert_eq!(split("=", "a=", AtMost(2)), ["a", ""]);
        assert_eq!(split("=", "a", AtMost(2)), ["a"]);
        assert_eq!(split(r"\s+", "a  b\tc", DropTrailing), ["a", "b", "c"]);
        assert_eq!(split("é", "aébéc", DropTrailing), ["a", "b", "c"]);
    }

    #[test]
    fn splits_into_target() {
        let p = build(&json!({"field": "f", "separator": "\\s*,\\s*", "target_field": "t"})).unwrap();
        assert_eq!(run(p, json!({"f": "a , b,c"}))["t"], json!(["a", "b", "c"]));
        let p = build(&json!({"field": "f", "separator": ","})).unwrap();
        assert_eq!(run(p, json!({"f": "a,b,,"}))["f"], json!(["a", "b"]));
        let p = build(&json!({"field": "f", "separator": ",", "preserve_trailing": true})).unwrap();
        assert_eq!(run(p, json!({"f": "a,b,,"}))["f"], json!(["a", "b", "", ""]));
    }

    #[test]
    fn missing_null_and_wrong_type() {
        let p = build(&json!({"field": "f", "separator": ","})).unwrap();
        assert!(run_err(p, json!({})).contains("`f` doesn't exist"));
        let p = build(&json!({"field": "f", "separator": ","})).unwrap();
        assert!(run_err(p, json!({"f": null})).contains("null"));
        let p = build(&json!({"field": "f", "separator": ","})).unwrap();
        assert!(run_err(p, json!({"f": ["a"]})).contains("array, expected a string"));
        let p = build(&json!({"field": "f", "separator": ",", "ignore_missing": true})).unwrap();
        assert_eq!(run(p, json!({"f": null})), json!({"f": null}));
    }

    #[test]
    fn rejects_bad_options() {
        let e = build(&json!({"field": "f", "separator": "("})).err().unwrap();
        assert!(e.contains("`separator` is not a valid regular expression"), "{e}");
        let e = build(&json!({"field": "f", "separator": "(?<=a),"})).err().unwrap();
        assert!(e.contains("look-around"), "{e}");
        assert!(build(&json!({"field": "f"})).is_err());
        assert!(build(&json!({"field": "f", "separator": ",", "x": 1})).is_err());
    }
}
