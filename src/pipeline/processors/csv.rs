//! `csv`: splits one CSV line into named fields, as the ES `csv` processor
//! (a single line, RFC 4180 quoting with doubled quotes, configurable
//! separator and quote). The parser is the same small state machine as ES's
//! `CsvParser`, written here rather than pulled in as a dependency because a
//! general CSV reader brings multi-line records and options ES lacks.

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, OneOrMany, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    target_fields: OneOrMany<String>,
    #[serde(default = "default_separator")]
    separator: String,
    #[serde(default = "default_quote")]
    quote: String,
    #[serde(default)]
    trim: bool,
    #[serde(default)]
    empty_value: Option<Value>,
    #[serde(default)]
    ignore_missing: bool,
}

// ES defaults (CsvProcessor.Factory).
fn default_separator() -> String {
    ",".to_owned()
}

fn default_quote() -> String {
    "\"".to_owned()
}

struct Csv {
    field: FieldPath,
    targets: Vec<FieldPath>,
    separator: char,
    quote: char,
    trim: bool,
    empty_value: Option<Value>,
    ignore_missing: bool,
}

fn single_char(option: &str, s: &str, example: &str) -> Result<char, String> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!(
            "`{option}` must be a single character like {example}, got `{s}`"
        )),
    }
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let targets: Vec<FieldPath> = c
        .target_fields
        .into_vec()
        .iter()
        .map(|t| FieldPath::parse(t))
        .collect::<Result<_, _>>()?;
    if targets.is_empty() {
        return Err("`target_fields` must list at least one field".to_owned());
    }
    let separator = single_char("separator", &c.separator, "`,` or `;`")?;
    let quote = single_char("quote", &c.quote, "`\"` or `'`")?;
    if separator == quote {
        return Err(format!("`separator` and `quote` are both `{quote}`; they must differ"));
    }
    Ok(Box::new(Csv {
        field: FieldPath::parse(&c.field)?,
        targets,
        separator,
        quote,
        trim: c.trim,
        empty_value: c.empty_value,
        ignore_missing: c.ignore_missing,
    }))
}

#[derive(Clone, Copy)]
enum State {
    /// Before a field: leading blanks are skipped.
    Start,
    /// Inside an unquoted field; `blanks` trailing spaces/tabs seen so far.
    Unquoted { blanks: usize },
    /// Inside quotes.
    Quoted,
    /// Just after a quote inside a quoted field (at byte `at`): either a
    /// doubled quote or the end of the field.
    QuotedEnd { at: usize },
    /// Blanks after a closing quote; the field has been emitted.
    AfterQuoted,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one line into at most `max` fields. `None` marks an empty field.
fn parse_line(line: &str, separator: char, quote: char, trim: bool, max: usize) -> Result<Vec<Option<String>>, String> {
    let mut fields: Vec<Option<String>> = Vec::new();
    let mut builder = String::new();
    let mut start = 0;
    let mut state = State::Start;
    // Emits `builder + line[start..end]` and reports whether every target is filled.
    let emit = |builder: &mut String, start: usize, end: usize, fields: &mut Vec<Option<String>>| {
        builder.push_str(line.get(start..end).unwrap_or(""));
        let value = std::mem::take(builder);
        fields.push((!value.is_empty()).then_some(value));
        fields.len() >= max
    };
    for (i, c) in line.char_indices() {
        let next = i + c.len_utf8();
        state = match state {
            State::Start if c == quote => {
                builder.clear();
                start = next;
                State::Quoted
            }
            State::Start if c == separator => {
                builder.clear();
                if emit(&mut builder, next, next, &mut fields) {
                    return Ok(fields);
                }
                start = next;
                State::Start
            }
            State::Start if is_blank(c) => {
                if trim {
                    start = next;
                }
                State::Start
            }
            State::Start => {
                builder.clear();
                State::Unquoted { blanks: 0 }
            }
            State::Unquoted { .. } if c == '\n' || c == '\r' || c == quote => {
                return Err(format!("illegal character {c:?} inside unquoted field at byte {i}"));
            }
            State::Unquoted { blanks } if trim && is_blank(c) => State::Unquoted { blanks: blanks + 1 },
            State::Unquoted { blanks } if c == separator => {
                if emit(&mut builder, start, i.saturating_sub(blanks), &mut fields) {
                    return Ok(fields);
                }
                start = next;
                State::Start
            }
            State::Unquoted { .. } => State::Unquoted { blanks: 0 },
            State::Quoted if c == quote => State::QuotedEnd { at: i },
            State::Quoted => State::Quoted,
            State::QuotedEnd { at } if c == quote => {
                // A doubled quote is one literal quote.
                builder.push_str(line.get(start..at).unwrap_or(""));
                builder.push(quote);
                start = next;
                State::Quoted
            }
            State::QuotedEnd { at } if is_blank(c) => {
                if emit(&mut builder, start, at, &mut fields) {
                    return Ok(fields);
                }
                State::AfterQuoted
            }
            State::QuotedEnd { at } if c == separator => {
                if emit(&mut builder, start, at, &mut fields) {
                    return Ok(fields);
                }
                start = next;
                State::Start
            }
            State::AfterQuoted if is_blank(c) => State::AfterQuoted,
            State::AfterQuoted if c == separator => {
                start = next;
                State::Start
            }
            State::QuotedEnd { .. } | State::AfterQuoted => {
                return Err(format!("character {c:?} after quoted field at byte {i}"));
            }
        };
    }
    match state {
        State::Unquoted { blanks } => {
            emit(&mut builder, start, line.len().saturating_sub(blanks), &mut fields);
        }
        State::QuotedEnd { at } => {
            emit(&mut builder, start, at, &mut fields);
        }
        State::Quoted => return Err("unmatched quote".to_owned()),
        State::Start | State::AfterQuoted => {}
    }
    Ok(fields)
}

impl Processor for Csv {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let fields = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::String(line)) => parse_line(line, self.separator, self.quote, self.trim, self.targets.len())
                .map_err(|e| ProcessError::new(format!("field `{}`: {e}", self.field)))?,
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, expected a string",
                    self.field,
                    type_name(other)
                )));
            }
        };
        for (target, value) in self.targets.iter().zip(fields) {
            match value {
                Some(v) => target.set(doc, Value::from(v))?,
                None => {
                    if let Some(empty) = &self.empty_value {
                        target.set(doc, empty.clone())?;
                    }
                }
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

    fn parse(line: &str, trim: bool) -> Result<Vec<Option<String>>, String> {
        parse_line(line, ',', '"', trim, 100)
    }

    fn strs(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|s| s.map(str::to_owned)).collect()
    }

    #[test]
    fn parser_basics() {
        assert_eq!(parse("a,b,c", false), Ok(strs(&[Some("a"), Some("b"), Some("c")])));
        assert_eq!(parse("a,,c", false), Ok(strs(&[Some("a"), None, Some("c")])));
        assert_eq!(parse(",a", false), Ok(strs(&[None, Some("a")])));
        assert_eq!(parse("", false), Ok(vec![]));
        // As in ES, a trailing empty field is not reported.
        assert_eq!(parse("a,", false), Ok(strs(&[Some("a")])));
        assert_eq!(parse("é,ü", false), Ok(strs(&[Some("é"), Some("ü")])));
    }

    #[test]
    fn parser_quotes() {
        assert_eq!(
            parse(r#""a,b","say ""hi""",c"#, false),
            Ok(strs(&[Some("a,b"), Some(r#"say "hi""#), Some("c")]))
        );
        assert_eq!(parse(r#""""#, false), Ok(strs(&[None])));
        assert_eq!(parse(r#""""""#, false), Ok(strs(&[Some("\"")])));
        assert_eq!(
            parse("\"multi\nline\",x", false),
            Ok(strs(&[Some("multi\nline"), Some("x")]))
        );
        assert_eq!(parse(r#" "a" , b"#, false), Ok(strs(&[Some("a"), Some(" b")])));
        assert_eq!(parse(r#""a"  "#, false), Ok(strs(&[Some("a")])));
        assert!(parse(r#""a"x,b"#, false).unwrap_err().contains("after quoted field"));
        assert!(parse(r#"a"b"#, false).unwrap_err().contains("inside unquoted field"));
        assert!(parse(r#""abc"#, false).unwrap_err().contains("unmatched quote"));
        assert!(parse("a\nb", false).unwrap_err().contains("inside unquoted field"));
    }

    #[test]
    fn parser_trim() {
        assert_eq!(
            parse("  a  , b\t,c ", true),
            Ok(strs(&[Some("a"), Some("b"), Some("c")]))
        );
        assert_eq!(
            parse("  a  , b\t,c ", false),
            Ok(strs(&[Some("  a  "), Some(" b\t"), Some("c ")]))
        );
        assert_eq!(parse("a, ,b", true), Ok(strs(&[Some("a"), None, Some("b")])));
        assert_eq!(parse("a, ,b", false), Ok(strs(&[Some("a"), None, Some("b")])));
        assert_eq!(parse("a b ,c", true), Ok(strs(&[Some("a b"), Some("c")])));
    }

    #[test]
    fn stops_at_target_count() {
        assert_eq!(
            parse_line("a,b,\"unterminated", ',', '"', false, 2),
            Ok(strs(&[Some("a"), Some("b")]))
        );
    }

    #[test]
    fn writes_targets_and_empty_values() {
        let p = build(&json!({"field": "m", "target_fields": ["a", "x.b", "c", "d"]})).unwrap();
        let out = run(p, json!({"m": "1,,3"}));
        assert_eq!(out, json!({"m": "1,,3", "a": "1", "c": "3"}));
        let p = build(&json!({"field": "m", "target_fields": ["a", "b", "c"], "empty_value": "-"})).unwrap();
        assert_eq!(
            run(p, json!({"m": "1,,3,4"})),
            json!({"m": "1,,3,4", "a": "1", "b": "-", "c": "3"})
        );
        let p =
            build(&json!({"field": "m", "target_fields": ["a", "b"], "separator": ";", "quote": "'", "trim": true}))
                .unwrap();
        assert_eq!(
            run(p, json!({"m": " 'x;y' ; z "})),
            json!({"m": " 'x;y' ; z ", "a": "x;y", "b": "z"})
        );
    }

    #[test]
    fn missing_and_wrong_types() {
        let p = build(&json!({"field": "m", "target_fields": ["a"]})).unwrap();
        assert!(run_err(p, json!({})).contains("doesn't exist"));
        let p = build(&json!({"field": "m", "target_fields": ["a"]})).unwrap();
        assert!(run_err(p, json!({"m": ["a"]})).contains("array"));
        let p = build(&json!({"field": "m", "target_fields": ["a"]})).unwrap();
        assert!(run_err(p, json!({"m": "\"x"})).contains("field `m`: unmatched quote"));
        let p = build(&json!({"field": "m", "target_fields": ["a"], "ignore_missing": true})).unwrap();
        assert_eq!(run(p, json!({"m": null})), json!({"m": null}));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(
            build(&json!({"field": "m", "target_fields": []}))
                .err()
                .unwrap()
                .contains("at least one")
        );
        assert!(
            build(&json!({"field": "m", "target_fields": ["a"], "separator": ";;"}))
                .err()
                .unwrap()
                .contains("single character")
        );
        assert!(
            build(&json!({"field": "m", "target_fields": ["a"], "quote": ""}))
                .err()
                .unwrap()
                .contains("single character")
        );
        assert!(
            build(&json!({"field": "m", "target_fields": ["a"], "quote": ","}))
                .err()
                .unwrap()
                .contains("must differ")
        );
        assert!(build(&json!({"field": "m"})).is_err());
        assert!(build(&json!({"field": "m", "target_fields": ["a..b"]})).is_err());
    }
}
