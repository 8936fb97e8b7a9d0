//! `urldecode`: percent-decodes a string field (or each string of an array
//! field) the way Java's `URLDecoder` does for the ES `urldecode`
//! processor: `+` is a space and `%XX` runs are UTF-8 bytes.

use std::borrow::Cow;

use serde::Deserialize;

use super::gsub::map_strings;
use crate::document::Document;
use crate::pipeline::field_path::FieldPath;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default)]
    target_field: Option<String>,
    #[serde(default)]
    ignore_missing: bool,
}

struct UrlDecode {
    field: FieldPath,
    target: Option<FieldPath>,
    ignore_missing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(UrlDecode {
        field: FieldPath::parse(&c.field)?,
        target: c.target_field.as_deref().map(FieldPath::parse).transpose()?,
        ignore_missing: c.ignore_missing,
    }))
}

impl Processor for UrlDecode {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        map_strings(doc, &self.field, self.target.as_ref(), self.ignore_missing, decode)
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes like `URLDecoder.decode(s, UTF_8)`, except that bytes which are
/// not valid UTF-8 are an error where Java would substitute U+FFFD.
fn decode(s: &str) -> Result<Cow<'_, str>, String> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let (Some(&hi), Some(&lo)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                    return Err(format!("incomplete trailing escape (%) pattern at byte {i}"));
                };
                match (hex_value(hi), hex_value(lo)) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(format!("illegal hex characters in escape (%) pattern at byte {i}")),
                }
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|e| format!("decoded bytes are not valid UTF-8 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn p(config: Value) -> Box<dyn Processor> {
        build(&config).unwrap()
    }

    #[test]
    fn decodes_like_java() {
        assert_eq!(decode("a%20b+c").unwrap(), "a b c");
        assert_eq!(decode("%E2%82%AC%2f%2F").unwrap(), "€//");
        assert_eq!(decode("caf%C3%A9 ok").unwrap(), "café ok");
        assert_eq!(decode("plain/ünïcode").unwrap(), "plain/ünïcode");
        assert!(matches!(decode("no-escapes").unwrap(), Cow::Borrowed(_)));
        assert_eq!(decode("").unwrap(), "");
    }

    #[test]
    fn invalid_input_is_an_error() {
        assert!(decode("%").unwrap_err().contains("incomplete"));
        assert!(decode("ab%4").unwrap_err().contains("incomplete"));
        assert!(decode("%zz").unwrap_err().contains("illegal hex"));
        assert!(decode("%-1").unwrap_err().contains("illegal hex"));
        assert!(decode("%é1").unwrap_err().contains("illegal hex"));
        assert!(decode("%FF").unwrap_err().contains("UTF-8"));
        assert!(decode("%C3x").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn processes_fields() {
        let out = run(p(json!({"field": "u"})), json!({"u": "%2Fa%3Fb%3D1"}));
        assert_eq!(out["u"], json!("/a?b=1"));
        let out = run(
            p(json!({"field": "u", "target_field": "d"})),
            json!({"u": ["a%20b", "c"]}),
        );
        assert_eq!(out["d"], json!(["a b", "c"]));
        let e = run_err(p(json!({"field": "u"})), json!({"u": "100%"}));
        assert!(e.contains("field `u`") && e.contains("incomplete"), "{e}");
    }

    #[test]
    fn missing_and_wrong_types() {
        assert!(run_err(p(json!({"field": "u"})), json!({})).contains("doesn't exist"));
        assert!(run_err(p(json!({"field": "u"})), json!({"u": 5})).contains("number"));
        assert_eq!(
            run(p(json!({"field": "u", "ignore_missing": true})), json!({})),
            json!({})
        );
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build(&json!({})).is_err());
        assert!(build(&json!({"field": "u", "decode_plus": false})).is_err());
    }
}
