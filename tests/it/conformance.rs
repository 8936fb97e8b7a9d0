//! Conformance with the Filebeat nginx module: the module's own test lines
//! must produce its expected ECS fields. Extra fields are fine; every
//! expected field must be there with the expected value, except where
//! current uap-core data (which Elasticsearch's user_agent processor also
//! follows) differs from the older data the expectations were made with.

use serde_json::{Map, Value, json};
use sluice::document::Document;

use crate::pipelines_support::{flatten, repo, run_doc, run_line};

/// (line index, field) → (value Sluice produces, why it differs).
fn uap_core_updates() -> Vec<(usize, &'static str, Value, &'static str)> {
    let mac = "current uap-core reports Macintosh devices as `Mac`";
    vec![
        (0, "user_agent.device.name", json!("Mac"), mac),
        (2, "user_agent.device.name", json!("Mac"), mac),
        (3, "user_agent.device.name", json!("Mac"), mac),
        (
            1,
            "user_agent.os.name",
            json!("Windows"),
            "current uap-core splits `Windows 7` into name and version",
        ),
    ]
}

fn expected(file: &str) -> Vec<Map<String, Value>> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/filebeat-nginx").join(file)).expect("fixture");
    let docs: Vec<Value> = serde_json::from_str(&text).expect("expected documents are JSON");
    docs.into_iter()
        .map(|d| match d {
            Value::Object(m) => m,
            other => panic!("expected an object, got {other}"),
        })
        .collect()
}

fn compare(line: usize, expected: &Map<String, Value>, actual: &Map<String, Value>, problems: &mut Vec<String>) {
    let updates = uap_core_updates();
    for (key, want) in expected {
        let want = updates
            .iter()
            .find(|(l, k, _, _)| *l == line && k == key)
            .map(|(_, _, v, _)| v)
            .unwrap_or(want);
        match actual.get(key) {
            Some(got) if numbers_equal(got, want) => {}
            Some(got) => problems.push(format!("line {}: {key}: expected {want}, got {got}", line + 1)),
            None => problems.push(format!("line {}: {key}: expected {want}, missing", line + 1)),
        }
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

#[test]
fn nginx_access_matches_filebeat() {
    let lines = std::fs::read_to_string(repo().join("tests/fixtures/filebeat-nginx/access-test.log")).expect("fixture");
    let expected = expected("access-test.expected.json");
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), expected.len());
    let mut problems = Vec::new();
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let (doc, failed) = run_line("nginx-access", line);
        assert!(!failed, "line {} failed: {doc:?}", i + 1);
        let actual = flatten(&doc.expect("not dropped"));
        compare(i, want, &actual, &mut problems);
    }
    // The Windows 7 line also gains the version fields current data adds.
    let (doc, _) = run_line("nginx-access", lines[1]);
    let actual = flatten(&doc.expect("not dropped"));
    assert_eq!(actual.get("user_agent.os.version"), Some(&json!("7")));
    assert_eq!(actual.get("user_agent.os.full"), Some(&json!("Windows 7")));
    assert!(problems.is_empty(), "conformance problems:\n{}", problems.join("\n"));
}

#[test]
fn nginx_error_matches_filebeat_with_its_timezone() {
    let lines = std::fs::read_to_string(repo().join("tests/fixtures/filebeat-nginx/error-test.log")).expect("fixture");
    let expected = expected("error-test.expected.json");
    let mut problems = Vec::new();
    for (i, (line, want)) in lines.lines().zip(&expected).enumerate() {
        // The expectations were made with the timezone set to -02:00, which
        // is how a shipper (Filebeat's add_locale) hands it over.
        let mut doc = Document::from_message(line);
        doc.source.insert("event", json!({"timezone": "-02:00"}));
        let (out, failed) = run_doc("nginx-error", doc);
        assert!(!failed, "line {} failed: {out:?}", i + 1);
        compare(i, want, &flatten(&out.expect("not dropped")), &mut problems);
    }
    assert!(problems.is_empty(), "conformance problems:\n{}", problems.join("\n"));
}
