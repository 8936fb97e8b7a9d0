//! Embedded pipeline test cases (`tests:` in a pipeline file), run by
//! `sluice pipeline test` in the spirit of `vector test`.

use crate::value::Value;

use super::definition::{ExpectedOutcome, TestCase};
use super::field_path::FieldPath;
use super::{PipelineSet, Processed};
use crate::document::Document;

/// The result of one test case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// `pipeline: name` or `pipeline: #3`.
    pub name: String,
    /// Empty when the case passed.
    pub problems: Vec<String>,
}

impl CaseResult {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs every embedded test case of `pipeline`.
pub fn run_cases(set: &PipelineSet, pipeline: &str) -> Vec<CaseResult> {
    let Some(p) = set.get(pipeline) else {
        return vec![CaseResult {
            name: pipeline.to_owned(),
            problems: vec![format!("pipeline `{pipeline}` does not exist")],
        }];
    };
    p.tests
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let name = match &case.name {
                Some(n) => format!("{pipeline}: {n}"),
                None => format!("{pipeline}: test #{}", i + 1),
            };
            CaseResult {
                name,
                problems: run_case(set, pipeline, case),
            }
        })
        .collect()
}

fn run_case(set: &PipelineSet, pipeline: &str, case: &TestCase) -> Vec<String> {
    let doc = match (&case.input, &case.input_json) {
        (Some(line), None) => Document::from_message(line.clone()),
        (None, Some(json)) => Document::from_source(json.clone()),
        _ => return vec!["a test case needs exactly one of `input` or `input_json`".to_owned()],
    };
    let (outcome, doc) = match set.run(pipeline, doc) {
        Processed::Document(d) => (ExpectedOutcome::Indexed, Some(d)),
        Processed::Dropped => (ExpectedOutcome::Dropped, None),
        Processed::Failed(d, _) => (ExpectedOutcome::Failed, Some(d)),
    };
    let mut problems = Vec::new();
    if outcome != case.outcome {
        let detail = doc
            .as_ref()
            .and_then(|d| d.source.get("error"))
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        problems.push(format!("expected outcome {:?}, got {outcome:?}{detail}", case.outcome));
    }
    let Some(doc) = doc else {
        if !case.expect.is_empty() {
            problems.push("document was dropped, so no field can be checked".to_owned());
        }
        return problems;
    };
    for (path, expected) in &case.expect {
        match FieldPath::parse(path) {
            Err(e) => problems.push(format!("bad expected path `{path}`: {e}")),
            Ok(fp) => match fp.get(&doc) {
                None => problems.push(format!("`{path}`: expected {expected}, but the field is missing")),
                Some(actual) if !values_equal(actual, &Value::from(expected)) => {
                    problems.push(format!("`{path}`: expected {expected}, got {actual}"))
                }
                Some(_) => {}
            },
        }
    }
    for path in &case.expect_absent {
        match FieldPath::parse(path) {
            Err(e) => problems.push(format!("bad absent path `{path}`: {e}")),
            Ok(fp) => {
                if let Some(actual) = fp.get(&doc) {
                    problems.push(format!("`{path}`: expected absent, got {actual}"));
                }
            }
        }
    }
    problems
}

/// JSON equality where `200` equals `200.0` (YAML authors rarely care
/// about the integer/float distinction, and neither does ES).
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::CompileOptions;
    use serde_json::json;

    fn set_from(yaml: &str) -> PipelineSet {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, yaml).unwrap();
        PipelineSet::load_files(&[file], &CompileOptions::default()).unwrap()
    }

    #[test]
    fn reports_passes_and_mismatches() {
        let set = set_from(
            r#"
processors:
  - set: { field: a.b, value: 2 }
tests:
  - name: good
    input: x
    expect: { a.b: 2.0, message: x }
    expect_absent: [c]
  - name: bad
    input: x
    expect: { a.b: 3, z: 1 }
  - name: wrong outcome
    input: x
    outcome: dropped
"#,
        );
        let results = run_cases(&set, "p");
        assert_eq!(results.len(), 3);
        assert!(results[0].passed(), "{:?}", results[0]);
        assert_eq!(results[1].problems.len(), 2, "{:?}", results[1]);
        assert!(results[1].problems[0].contains("expected 3, got 2"));
        assert!(results[2].problems[0].contains("expected outcome Dropped"));
    }

    #[test]
    fn number_equality_ignores_int_float() {
        assert!(values_equal(&json!(200).into(), &json!(200.0).into()));
        assert!(!values_equal(&json!(200).into(), &json!("200").into()));
        assert!(values_equal(&json!({"a": [1]}).into(), &json!({"a": [1.0]}).into()));
    }
}
