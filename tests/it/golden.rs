//! Golden tests for the shipped pipelines: every line of
//! `tests/fixtures/golden/<pipeline>/*.log` (or every JSON string of a
//! `*.jsonl` file, for multi-line records) runs through `<pipeline>` and the
//! documents must equal `<name>.expected.ndjson` exactly. After an
//! intended change, regenerate with `SLUICE_BLESS=1 cargo test golden` and
//! review the diff.

use std::fmt::Write as _;

use serde_json::Value;

use crate::pipelines_support::{repo, run_line};

fn records(input: &std::path::Path, text: &str) -> Vec<String> {
    if input.extension().is_some_and(|e| e == "jsonl") {
        text.lines()
            .map(|l| serde_json::from_str::<String>(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", input.display())))
            .collect()
    } else {
        text.lines().map(str::to_owned).collect()
    }
}

fn render(pipeline: &str, records: &[String]) -> String {
    let mut out = String::new();
    for line in records {
        let (doc, failed) = run_line(pipeline, line);
        let doc = doc.unwrap_or(Value::Null);
        let marker = if failed { "FAILED " } else { "" };
        let _ = writeln!(out, "{marker}{doc}");
    }
    out
}

#[test]
fn shipped_pipelines_match_golden_files() {
    let root = repo().join("tests/fixtures/golden");
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("golden dir")
        .filter_map(Result::ok)
        .collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let pipeline = dir.file_name().to_string_lossy().into_owned();
        let mut inputs: Vec<_> = std::fs::read_dir(dir.path())
            .expect("golden pipeline dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log" || e == "jsonl"))
            .collect();
        inputs.sort();
        for input in inputs {
            let text = std::fs::read_to_string(&input).expect("golden input");
            let actual = render(&pipeline, &records(&input, &text));
            let expected_path = input.with_extension("expected.ndjson");
            if bless {
                std::fs::write(&expected_path, &actual).expect("writing golden output");
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
                if a != e {
                    mismatches.push(format!("{}:{}\n  expected {e}\n  actual   {a}", input.display(), i + 1));
                }
            }
            if actual.lines().count() != expected.lines().count() {
                mismatches.push(format!(
                    "{}: {} documents, expected {} (run with SLUICE_BLESS=1 to create or update)",
                    input.display(),
                    actual.lines().count(),
                    expected.lines().count()
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} golden inputs found");
    assert!(mismatches.is_empty(), "golden mismatches:\n{}", mismatches.join("\n"));
}
