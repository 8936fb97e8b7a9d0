//! `convert`: converts a field (or each element of an array field) to
//! integer, long, float, double, boolean, string or ip, or guesses with
//! `auto`, following the ES `convert` processor and the Java parsing rules
//! it relies on (`Integer.parseInt`, `Integer.decode` for `0x…`,
//! `Float.parseFloat`).

use crate::value::{Number, Value};
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::processors::ip_text::parse_ip;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    ignore_missing: bool,
    #[serde(default)]
    skip_failures: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    String,
    Ip,
    Auto,
}

impl Kind {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "integer" => Kind::Integer,
            "long" => Kind::Long,
            "float" => Kind::Float,
            "double" => Kind::Double,
            "boolean" => Kind::Boolean,
            "string" => Kind::String,
            "ip" => Kind::Ip,
            "auto" => Kind::Auto,
            _ => {
                return Err(format!(
                    "`type` is `{s}`; accepted: integer, long, float, double, boolean, string, ip, auto"
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Long => "long",
            Kind::Float => "float",
            Kind::Double => "double",
            Kind::Boolean => "boolean",
            Kind::String => "string",
            Kind::Ip => "ip",
            Kind::Auto => "auto",
        }
    }
}

struct Convert {
    field: FieldPath,
    kind: Kind,
    target: Option<FieldPath>,
    ignore_missing: bool,
    skip_failures: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(Convert {
        field: FieldPath::parse(&c.field)?,
        kind: Kind::parse(&c.kind)?,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
        ignore_missing: c.ignore_missing,
        skip_failures: c.skip_failures,
    }))
}

/// The text Java's `toString()` would give for the conversions that parse
/// text. Objects and arrays (only reachable nested in an array) become JSON.
fn text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// Parses like Java: decimal via `parseInt`/`parseLong` (optional sign, ASCII
/// digits, nothing else), or `0x`/`-0x` hexadecimal via `decode`.
fn parse_integer(s: &str, min: i64, max: i64) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let value = if let Some(hex) = rest.strip_prefix("0x") {
        // `decode` refuses a sign after the prefix; from_str_radix would take it.
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let magnitude = i128::from_str_radix(hex, 16).ok()?;
        if negative { -magnitude } else { magnitude }
    } else {
        i128::from(s.parse::<i64>().ok()?)
    };
    (i128::from(min)..=i128::from(max))
        .contains(&value)
        .then_some(value as i64)
}

/// Text accepted by Java's `Float.parseFloat`/`Double.parseDouble`, reduced
/// to what Rust's parser takes: surrounding whitespace and a type suffix
/// (`1.5f`, `2d`) are dropped. NaN, infinities and hex floats are refused
/// since JSON cannot carry the first two.
fn float_text(s: &str) -> Option<&str> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let t = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    if t.is_empty() || t.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    Some(t)
}

fn parse_double(s: &str) -> Option<f64> {
    float_text(s)?.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A Java `float`, as the double its shortest decimal form denotes: ES
/// writes `0.1f` to JSON as `0.1`, not as `0.10000000149011612`.
fn parse_float(s: &str) -> Option<f64> {
    let f = float_text(s)?.parse::<f32>().ok().filter(|f| f.is_finite())?;
    f.to_string().parse::<f64>().ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn float_value(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// Keeps error messages short when the value is a whole log line.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

impl Kind {
    fn convert(self, v: &Value) -> Result<Value, String> {
        if v.is_null() && self != Kind::Auto {
            return Err(format!("cannot convert null to {}", self.name()));
        }
        let fail = || format!("unable to convert `{}` to {}", shown(&text(v)), self.name());
        match self {
            Kind::Integer => parse_integer(&text(v), i32::MIN.into(), i32::MAX.into())
                .map(Value::from)
                .ok_or_else(fail),
            Kind::Long => parse_integer(&text(v), i64::MIN, i64::MAX)
                .map(Value::from)
                .ok_or_else(fail),
            Kind::Float => parse_float(&text(v)).and_then(float_value).ok_or_else(fail),
            Kind::Double => parse_double(&text(v)).and_then(float_value).ok_or_else(fail),
            Kind::Boolean => parse_bool(&text(v)).map(Value::Bool).ok_or_else(|| {
                format!(
                    "`{}` is not a boolean value (true or false), cannot convert to boolean",
                    shown(&text(v))
                )
            }),
            Kind::String => Ok(Value::from(text(v).as_ref())),
            Kind::Ip => match v {
                Value::String(s) if parse_ip(s).is_some() => Ok(v.clone()),
                _ => Err(format!("`{}` is not a valid IPv4/IPv6 address", shown(&text(v)))),
            },
            Kind::Auto => Ok(match v {
                Value::String(s) => parse_bool(s)
                    .map(Value::Bool)
                    .or_else(|| parse_integer(s, i64::MIN, i64::MAX).map(Value::from))
                    .or_else(|| parse_float(s).and_then(float_value))
                    .or_else(|| parse_double(s).and_then(float_value))
                    .unwrap_or_else(|| v.clone()),
                other => other.clone(),
            }),
        }
    }
}

impl Processor for Convert {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let fail = |e: String| ProcessError::new(format!("field `{}`: {e}", self.field));
        let new = match self.field.get(doc) {
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) if !self.skip_failures => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot be converted to {}",
                    self.field,
                    self.kind.name()
                )));
            }
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match self.kind.convert(item) {
                        Ok(v) => out.push(v),
                        Err(_) if self.skip_failures => {}
                        Err(e) => return Err(fail(e)),
                    }
                }
                Value::Array(out)
            }
            Some(v) => match self.kind.convert(v) {
                Ok(v) => v,
                // ES writes null when a scalar conversion is skipped.
                Err(_) if self.skip_failures => Value::Null,
                Err(e) => return Err(fail(e)),
            },
        };
        self.target.as_ref().unwrap_or(&self.field).set(doc, new)?;
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn conv(kind: &str, v: Value) -> Result<Value, String> {
        let p = build(&json!({"field": "f", "type": kind})).unwrap();
        crate::pipeline::processors::test_util::try_run(p, json!({ "f": v }))
            .map(|(_, doc)| doc.source.get("f").map_or(Value::Null, Value::from))
    }

    #[test]
    fn integers_and_longs() {
        assert_eq!(conv("integer", json!("42")), Ok(json!(42)));
        assert_eq!(conv("integer", json!("+7")), Ok(json!(7)));
        assert_eq!(conv("integer", json!("-2147483648")), Ok(json!(i32::MIN)));
        assert_eq!(conv("integer", json!(12)), Ok(json!(12)));
        assert!(
            conv("integer", json!("2147483648"))
                .unwrap_err()
                .contains("unable to convert `2147483648` to integer")
        );
        assert!(conv("integer", json!(" 1")).is_err());
        assert!(conv("integer", json!("1.0")).is_err());
        assert!(conv("integer", json!(1.0)).is_err());
        assert!(conv("integer", json!(true)).is_err());
        assert_eq!(conv("long", json!("9223372036854775807")), Ok(json!(i64::MAX)));
        assert!(conv("long", json!("9223372036854775808")).is_err());
        assert!(conv("long", json!(u64::MAX)).is_err());
    }

    #[test]
    fn hexadecimal_like_java_decode() {
        assert_eq!(conv("integer", json!("0x1F")), Ok(json!(31)));
        assert_eq!(conv("integer", json!("-0x10")), Ok(json!(-16)));
        assert_eq!(conv("integer", json!("0x7fffffff")), Ok(json!(i32::MAX)));
        assert_eq!(conv("integer", json!("-0x80000000")), Ok(json!(i32::MIN)));
        assert!(conv("integer", json!("0x80000000")).is_err());
        assert!(conv("integer", json!("0x")).is_err());
        assert!(conv("integer", json!("0x-1")).is_err());
        assert!(conv("integer", json!("0X1F")).is_err());
        assert_eq!(conv("long", json!("0x7FFFFFFFFFFFFFFF")), Ok(json!(i64::MAX)));
        assert_eq!(conv("long", json!("-0x8000000000000000")), Ok(json!(i64::MIN)));
        assert!(conv("long", json!("0x8000000000000000")).is_err());
    }

    #[test]
    fn floats_and_doubles() {
        assert_eq!(conv("float", json!("0.1")), Ok(json!(0.1)));
        assert_eq!(conv("float", json!("1.234567890123")), Ok(json!(1.2345679)));
        assert_eq!(conv("float", json!(" 2.5f ")), Ok(json!(2.5)));
        assert_eq!(conv("float", json!(7)), Ok(json!(7.0)));
        assert!(conv("float", json!("1e39")).is_err());
        assert_eq!(conv("double", json!("1e39")), Ok(json!(1e39)));
        assert_eq!(conv("double", json!("-.5e-3")), Ok(json!(-0.0005)));
        assert!(conv("double", json!("1e400")).is_err());
        assert!(conv("double", json!("NaN")).is_err());
        assert!(conv("double", json!("inf")).is_err());
        assert!(conv("double", json!("abc")).is_err());
        assert!(conv("double", json!("")).is_err());
    }

    #[test]
    fn booleans_strings_ips() {
        assert_eq!(conv("boolean", json!("TRUE")), Ok(json!(true)));
        assert_eq!(conv("boolean", json!("False")), Ok(json!(false)));
        assert_eq!(conv("boolean", json!(true)), Ok(json!(true)));
        assert!(conv("boolean", json!("yes")).unwrap_err().contains("not a boolean"));
        assert_eq!(conv("string", json!(12)), Ok(json!("12")));
        assert_eq!(conv("string", json!(1.5)), Ok(json!("1.5")));
        assert_eq!(conv("string", json!(false)), Ok(json!("false")));
        assert_eq!(conv("ip", json!("10.0.0.1")), Ok(json!("10.0.0.1")));
        assert_eq!(conv("ip", json!("2001:db8::1")), Ok(json!("2001:db8::1")));
        assert_eq!(conv("ip", json!("::ffff:1.2.3.4")), Ok(json!("::ffff:1.2.3.4")));
        assert!(
            conv("ip", json!("256.0.0.1"))
                .unwrap_err()
                .contains("not a valid IPv4/IPv6")
        );
        assert!(conv("ip", json!("01.2.3.4")).is_err());
        assert!(conv("ip", json!(167772161)).is_err());
    }

    #[test]
    fn auto_follows_es_order() {
        assert_eq!(conv("auto", json!("true")), Ok(json!(true)));
        assert_eq!(conv("auto", json!("12")), Ok(json!(12)));
        assert_eq!(conv("auto", json!("0x10")), Ok(json!(16)));
        assert_eq!(conv("auto", json!("5000000000")), Ok(json!(5_000_000_000_i64)));
        assert_eq!(conv("auto", json!("1.5")), Ok(json!(1.5)));
        assert_eq!(conv("auto", json!("1e300")), Ok(json!(1e300)));
        assert_eq!(conv("auto", json!("abc")), Ok(json!("abc")));
        assert_eq!(conv("auto", json!(3)), Ok(json!(3)));
        assert_eq!(conv("auto", json!([null, "1"])), Ok(json!([null, 1])));
        assert!(conv("auto", json!(null)).unwrap_err().contains("is null"));
    }

    #[test]
    fn arrays_target_and_skip_failures() {
        let p = build(&json!({"field": "f", "type": "integer", "target_field": "t"})).unwrap();
        let out = run(p, json!({"f": ["1", "2"]}));
        assert_eq!(out["t"], json!([1, 2]));
        assert_eq!(out["f"], json!(["1", "2"]));
        let p = build(&json!({"field": "f", "type": "integer"})).unwrap();
        let e = run_err(p, json!({"f": ["1", "x"]}));
        assert!(e.contains("field `f`: unable to convert `x` to integer"), "{e}");
        let p = build(&json!({"field": "f", "type": "integer", "skip_failures": true})).unwrap();
        assert_eq!(run(p, json!({"f": ["1", "x", "3"]}))["f"], json!([1, 3]));
        let p = build(&json!({"field": "f", "type": "integer", "skip_failures": true})).unwrap();
        assert_eq!(run(p, json!({"f": "x"}))["f"], json!(null));
    }

    #[test]
    fn missing_and_null() {
        let p = build(&json!({"field": "f", "type": "integer"})).unwrap();
        assert!(run_err(p, json!({})).contains("doesn't exist"));
        let p = build(&json!({"field": "f", "type": "integer"})).unwrap();
        assert!(run_err(p, json!({"f": null})).contains("null"));
        let p = build(&json!({"field": "f", "type": "integer", "ignore_missing": true})).unwrap();
        assert_eq!(run(p, json!({})), json!({}));
        let p = build(&json!({"field": "f", "type": "string"})).unwrap();
        assert!(run_err(p, json!({"f": [null]})).contains("cannot convert null"));
    }

    #[test]
    fn rejects_bad_options() {
        let e = build(&json!({"field": "f", "type": "int"})).err().unwrap();
        assert!(e.contains("accepted: integer, long"), "{e}");
        assert!(build(&json!({"field": "f", "type": "LONG"})).is_ok());
        assert!(build(&json!({"field": "f"})).is_err());
        assert!(build(&json!({"type": "long"})).is_err());
    }
}
