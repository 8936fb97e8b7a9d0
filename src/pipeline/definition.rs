//! The YAML shape of a pipeline file: an Elasticsearch ingest pipeline
//! written as YAML, plus optional embedded test cases.
//!
//! ```yaml
//! description: nginx access logs
//! processors:
//!   - grok:
//!       field: message
//!       patterns: ['%{COMBINEDAPACHELOG}']
//!       tag: parse
//!       if: "message != ''"
//! on_failure:
//!   - set: { field: error.message, value: "{{ _ingest.on_failure_message }}" }
//! tests:
//!   - name: simple line
//!     input: '127.0.0.1 - - [...] "GET / HTTP/1.1" 200 5 "-" "-"'
//!     expect: { http.response.status_code: 200 }
//! ```

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

/// A parsed but not yet compiled pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDef {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Overrides the name, which is otherwise the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// ES-ingest-style `version`, informational.
    #[serde(default)]
    pub version: Option<i64>,
    /// ES-ingest-style `_meta`, informational.
    #[serde(default, rename = "_meta")]
    pub meta: Option<Value>,
    /// The processors, each a one-key map `{type: options}`.
    pub processors: Vec<Value>,
    /// Pipeline-level failure handlers.
    #[serde(default)]
    pub on_failure: Vec<Value>,
    /// Embedded test cases run by `sluice pipeline test`.
    #[serde(default)]
    pub tests: Vec<TestCase>,
}

/// An embedded test case, in the spirit of `vector test`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// Shown in the report.
    #[serde(default)]
    pub name: Option<String>,
    /// The raw record (becomes `message`).
    #[serde(default)]
    pub input: Option<String>,
    /// Alternatively, a whole source document.
    #[serde(default)]
    pub input_json: Option<Map<String, Value>>,
    /// Expected values by dotted path.
    #[serde(default)]
    pub expect: Map<String, Value>,
    /// Paths that must be absent.
    #[serde(default)]
    pub expect_absent: Vec<String>,
    /// `indexed` (default), `dropped` or `failed`.
    #[serde(default)]
    pub outcome: ExpectedOutcome,
}

/// What a test case expects the pipeline to do with its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    /// A document comes out.
    #[default]
    Indexed,
    /// The document is dropped.
    Dropped,
    /// The pipeline fails.
    Failed,
}

/// Reads and parses a pipeline file. The error says which file and, for
/// YAML syntax errors, which line.
pub fn read_file(path: &Path) -> Result<PipelineDef, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    parse_str(&text)
}

/// Parses pipeline YAML.
pub fn parse_str(text: &str) -> Result<PipelineDef, String> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let json = yaml_to_json(yaml)?;
    serde_json::from_value(json).map_err(|e| format!("invalid pipeline: {e}"))
}

/// Converts YAML to JSON values. Keys must be strings (or scalars, which are
/// stringified); tagged values and non-finite floats are rejected because
/// Elasticsearch cannot index them.
pub fn yaml_to_json(v: serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("number {n} cannot be represented in JSON"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_, _>>()?),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    other => return Err(format!("mapping key {other:?} is not a string")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => return Err(format!("YAML tag `{}` is not supported", t.tag)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_processors_and_tests() {
        let def = parse_str(
            r#"
description: d
processors:
  - set: { field: a, value: 1 }
tests:
  - input: x
    expect: { a: 1 }
"#,
        )
        .unwrap();
        assert_eq!(def.processors.len(), 1);
        assert_eq!(def.tests[0].expect["a"], Value::from(1));
        assert_eq!(def.tests[0].outcome, ExpectedOutcome::Indexed);
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let err = parse_str("processors: []\nprocesors: []\n").unwrap_err();
        assert!(err.contains("procesors"), "{err}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse_str("processors:\n  - set: {field: a\n").unwrap_err();
        assert!(err.contains("line"), "{err}");
    }
}
