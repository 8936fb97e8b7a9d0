//! `gsub`: replaces every match of a regex in a string field (or in each
//! string of an array field), as the ES `gsub` processor. The replacement
//! string uses Java's syntax (`$1`, `${name}`, `\$`), translated once at
//! load time. Also home of [`map_strings`], the string-or-array-of-strings
//! walk that `urldecode` shares.

use std::borrow::Cow;

use crate::value::Value;
use regex::{Captures, Regex, Replacer};
use serde::Deserialize;

use super::split::compile_regex;
use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    pattern: String,
    replacement: String,
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    ignore_missing: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Group(usize),
}

/// A replacement compiled from Java's `Matcher.appendReplacement` syntax.
#[derive(Debug, Clone, PartialEq)]
struct Replacement(Vec<Piece>);

impl Replacement {
    /// Parses like Java: `\x` is a literal `x`; `$` followed by digits is
    /// the longest group number that exists (`$12` is group 1 then `2` if
    /// there are fewer than 12 groups); `${name}` is a named group. A bad
    /// reference is a load error rather than a per-record exception.
    fn parse(src: &str, re: &Regex) -> Result<Self, String> {
        let group_count = re.captures_len().saturating_sub(1);
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped) => literal.push(escaped),
                    None => return Err("`replacement` ends with `\\`: the character to escape is missing".to_owned()),
                },
                '$' => {
                    let group = match chars.next() {
                        None => {
                            return Err(
                                "`replacement` ends with `$`: group reference is missing (write `\\$` for a literal `$`)"
                                    .to_owned(),
                            );
                        }
                        Some('{') => {
                            let mut name = String::new();
                            loop {
                                match chars.next() {
                                    Some('}') => break,
                                    Some(ch) if ch.is_ascii_alphanumeric() || ch == '_' => name.push(ch),
                                    _ => {
                                        return Err(format!(
                                            "`replacement` has an unterminated or invalid group name `${{{name}`"
                                        ));
                                    }
                                }
                            }
                            if name.is_empty() {
                                return Err("`replacement` has an empty group name `${}`".to_owned());
                            }
                            if name.starts_with(|ch: char| ch.is_ascii_digit()) {
                                return Err(format!("`replacement`: group name `{name}` starts with a digit"));
                            }
                            re.capture_names()
                                .position(|n| n == Some(name.as_str()))
                                .ok_or_else(|| format!("`replacement` refers to `${{{name}}}` but `pattern` has no group named `{name}`"))?
                        }
                        Some(d) if d.is_ascii_digit() => {
                            let mut n = d.to_digit(10).map_or(0, |v| v as usize);
                            while let Some(next) = chars.peek().and_then(|ch| ch.to_digit(10)) {
                                let longer = n * 10 + next as usize;
                                if longer > group_count {
                                    break;
                                }
                                n = longer;
                                chars.next();
                            }
                            if n > group_count {
                                return Err(format!(
                                    "`replacement` refers to group ${n} but `pattern` has only {group_count} group(s)"
                                ));
                            }
                            n
                        }
                        Some(other) => {
                            return Err(format!(
                                "`replacement` has an illegal group reference `${other}` (write `\\$` for a literal `$`)"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Group(group));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Replacement(pieces))
    }
}

impl Replacer for &Replacement {
    fn replace_append(&mut self, caps: &Captures<'_>, dst: &mut String) {
        for piece in &self.0 {
            match piece {
                Piece::Literal(s) => dst.push_str(s),
                // An unmatched optional group appends nothing, as in Java.
                Piece::Group(i) => dst.push_str(caps.get(*i).map_or("", |m| m.as_str())),
            }
        }
    }

    fn no_expansion(&mut self) -> Option<Cow<'_, str>> {
        match &self.0[..] {
            [] => Some(Cow::Borrowed("")),
            [Piece::Literal(s)] => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }
}

struct Gsub {
    field: FieldPath,
    pattern: Regex,
    replacement: Replacement,
    target: Option<FieldPath>,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let pattern = compile_regex("pattern", &c.pattern)?;
    let replacement = Replacement::parse(&c.replacement, &pattern)?;
    Ok(Box::new(Gsub {
        field: FieldPath::parse(&c.field)?,
        pattern,
        replacement,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
        ignore_missing: c.ignore_missing,
    }))
}

impl Processor for Gsub {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        map_strings(doc, &self.field, self.target.as_ref(), self.ignore_missing, |s| {
            Ok(self.pattern.replace_all(s, &self.replacement))
        })
    }
}

/// Applies `f` to a string field, or to every element of an array of
/// strings, and writes the result to `target` (default: the field), the
/// shape of ES's string processors. When `f` changes nothing and the
/// result would go back to the same field, the document is left alone.
pub(super) fn map_strings<F>(
    doc: &mut Document,
    field: &FieldPath,
    target: Option<&FieldPath>,
    ignore_missing: bool,
    f: F,
) -> Result<Flow, ProcessError>
where
    F: for<'a> Fn(&'a str) -> Result<Cow<'a, str>, String>,
{
    let fail = |e: String| ProcessError::new(format!("field `{field}`: {e}"));
    let out = match field.get(doc) {
        None | Some(Value::Null) if ignore_missing => return Ok(Flow::Continue),
        None => return Err(ProcessError::new(format!("field `{field}` doesn't exist"))),
        Some(Value::Null) => return Err(ProcessError::new(format!("field `{field}` is null, cannot process it"))),
        Some(Value::String(s)) => match f(s).map_err(fail)? {
            Cow::Borrowed(_) if target.is_none() => return Ok(Flow::Continue),
            result => Value::from(result.as_ref()),
        },
        Some(Value::Array(items)) => {
            let mut changed = false;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(s) = item else {
                    return Err(ProcessError::new(format!(
                        "field `{field}` contains a {}, expected only strings",
                        type_name(item)
                    )));
                };
                let result = f(s).map_err(fail)?;
                changed |= matches!(result, Cow::Owned(_));
                out.push(Value::from(result.as_ref()));
            }
            if !changed && target.is_none() {
                return Ok(Flow::Continue);
            }
            Value::Array(out)
        }
        Some(other) => {
            return Err(ProcessError::new(format!(
                "field `{field}` is a {}, expected a string or an array of strings",
                type_name(other)
            )));
        }
    };
    target.unwrap_or(field).set(doc, out)?;
    Ok(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::json;

    fn gsub(pattern: &str, replacement: &str) -> Box<dyn Processor> {
        build(&json!({"field": "f", "pattern": pattern, "replacement": replacement})).unwrap()
    }

    #[test]
    fn replaces_all_matches() {
        assert_eq!(run(gsub("\\.", "-"), json!({"f": "a.b.c"}))["f"], json!("a-b-c"));
        assert_eq!(run(gsub("x*", "-"), json!({"f": "abc"}))["f"], json!("-a-b-c-"));
        assert_eq!(run(gsub("z", "-"), json!({"f": "abc"}))["f"], json!("abc"));
        assert_eq!(run(gsub("\\s+", ""), json!({"f": " a \t b "}))["f"], json!("ab"));
    }

    #[test]
    fn java_replacement_syntax() {
        assert_eq!(
            run(gsub("(\\w+)@(\\w+)", "$2 at $1"), json!({"f": "me@host"}))["f"],
            json!("host at me")
        );
        assert_eq!(
            run(
                gsub("(?<user>\\w+)@(?<host>\\w+)", "${host}/${user}"),
                json!({"f": "me@host"})
            )["f"],
            json!("host/me")
        );
        // `$12` with one group is group 1 followed by a literal `2`; Rust's
        // own syntax would read a group named `12`.
        assert_eq!(run(gsub("(a)", "$12"), json!({"f": "a"}))["f"], json!("a2"));
        assert_eq!(run(gsub("(a)", "$1b"), json!({"f": "a"}))["f"], json!("ab"));
        assert_eq!(run(gsub("a", "\\$1\\\\"), json!({"f": "a"}))["f"], json!("$1\\"));
        assert_eq!(run(gsub("(a)|(b)", "[$2]"), json!({"f": "ab"}))["f"], json!("[][b]"));
        assert_eq!(run(gsub("a", "$0$0"), json!({"f": "a"}))["f"], json!("aa"));
    }

    #[test]
    fn arrays_and_target() {
        let p = build(&json!({"field": "f", "pattern": "-", "replacement": "_", "target_field": "t"})).unwrap();
        let out = run(p, json!({"f": ["a-b", "c"]}));
        assert_eq!(out["t"], json!(["a_b", "c"]));
        assert_eq!(out["f"], json!(["a-b", "c"]));
        assert!(run_err(gsub("-", "_"), json!({"f": ["a", 1]})).contains("contains a number"));
    }

    #[test]
    fn missing_null_and_wrong_type() {
        assert!(run_err(gsub("a", "b"), json!({})).contains("doesn't exist"));
        assert!(run_err(gsub("a", "b"), json!({"f": null})).contains("null"));
        assert!(run_err(gsub("a", "b"), json!({"f": {"x": 1}})).contains("object"));
        let p = build(&json!({"field": "f", "pattern": "a", "replacement": "b", "ignore_missing": true})).unwrap();
        assert_eq!(run(p, json!({})), json!({}));
    }

    #[test]
    fn rejects_bad_options() {
        let bad = |pattern: &str, replacement: &str| {
            build(&json!({"field": "f", "pattern": pattern, "replacement": replacement}))
                .err()
                .unwrap_or_default()
        };
        assert!(bad("(a", "x").contains("`pattern`"));
        assert!(bad("a", "$1").contains("only 0 group"));
        assert!(bad("(a)", "${nope}").contains("no group named `nope`"));
        assert!(bad("(a)", "${x").contains("unterminated"));
        assert!(bad("(a)", "$").contains("missing"));
        assert!(bad("(a)", "$x").contains("illegal group reference"));
        assert!(bad("(a)", "\\").contains("escape"));
        assert!(bad("a", "").is_empty());
        assert!(build(&json!({"field": "f", "pattern": "a"})).is_err());
    }
}
