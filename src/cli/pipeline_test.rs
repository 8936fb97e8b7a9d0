//! `sluice pipeline test`: run records through a pipeline (one record per
//! input line, one JSON document per output line), or run the pipeline's
//! embedded test cases.

use std::io::{BufRead, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Args;
use serde_json::{Map, Value, json};

use super::{EXIT_FAILURES, EXIT_INVALID, PipelineOptions, load_sets};
use crate::document::Document;
use crate::pipeline::executor::{StepStatus, Tracer};
use crate::pipeline::testing::run_cases;
use crate::pipeline::{CompiledProcessor, PipelineSet, Processed};

/// Largest line accepted, as in the service's default `max_record_bytes`.
const MAX_LINE_BYTES: usize = 10 * 1024 * 1024;

#[derive(Args, Debug)]
pub struct TestArgs {
    /// The pipeline file; a directory runs the embedded tests of every
    /// pipeline in it.
    #[arg(long, required = true)]
    pipeline: Vec<PathBuf>,
    /// Records to run, one per line (`-` for stdin). Without it, the
    /// pipeline's embedded `tests:` run; a pipeline without tests reads
    /// stdin.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Show each processor's effect, like Elasticsearch `_simulate?verbose`.
    #[arg(long)]
    verbose: bool,
    /// After running, print a table of every processor that ran (runs,
    /// failures, mean time) to stderr.
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    options: PipelineOptions,
}

pub fn run(args: &TestArgs) -> ExitCode {
    let sets = match load_sets(&args.pipeline, &args.options.compile_options()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let has_cases = sets
        .iter()
        .any(|(set, names)| names.iter().any(|n| set.get(n).is_some_and(|p| !p.tests.is_empty())));
    if args.input.is_none() && has_cases {
        let code = run_embedded(&sets);
        if args.stats {
            print_stats(&sets);
        }
        return code;
    }
    let [(set, names)] = sets.as_slice() else {
        eprintln!("error: records can only be run through one pipeline file at a time");
        return ExitCode::from(EXIT_INVALID);
    };
    let [name] = names.as_slice() else {
        eprintln!("error: give a pipeline file, not a directory, to run records");
        return ExitCode::from(EXIT_INVALID);
    };
    let input: Box<dyn Read> = match args.input.as_deref() {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("error: cannot open {}: {e}", p.display());
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let result = run_records(set, name, input, args.verbose);
    if args.stats {
        print_stats(&sets);
    }
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("{failed} record(s) failed");
            ExitCode::from(EXIT_FAILURES)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURES)
        }
    }
}

fn run_embedded(sets: &[(PipelineSet, Vec<String>)]) -> ExitCode {
    let (mut passed, mut failed) = (0, 0);
    for (set, names) in sets {
        for name in names {
            for case in run_cases(set, name) {
                if case.passed() {
                    passed += 1;
                    println!("ok   {}", case.name);
                } else {
                    failed += 1;
                    println!("FAIL {}", case.name);
                    for p in &case.problems {
                        println!("     {p}");
                    }
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURES)
    }
}

/// One row per processor that ran, in pipeline order, nested `on_failure`
/// handlers indented under their processor. Written to stderr so that
/// stdout stays one JSON document per line.
fn print_stats(sets: &[(PipelineSet, Vec<String>)]) {
    let mut rows: Vec<[String; 5]> = Vec::new();
    for (set, _) in sets {
        let mut pipelines: Vec<_> = set.iter().collect();
        pipelines.sort_by(|a, b| a.name.cmp(&b.name));
        for p in pipelines {
            stats_rows(&p.name, &p.processors, 0, &mut rows);
            stats_rows(&p.name, &p.on_failure, 0, &mut rows);
        }
    }
    eprint!("{}", stats_table(&rows));
}

fn stats_rows(pipeline: &str, list: &[CompiledProcessor], depth: usize, rows: &mut Vec<[String; 5]>) {
    for p in list {
        let runs = p.stats.invocations.load(Ordering::Relaxed);
        if runs > 0 {
            // `location` is "file: processors[3] (grok, tag \"x\")"; the
            // position is what tells two untagged processors apart.
            let position = p.location.split(" (").next().unwrap_or(&p.location);
            let position = position.rsplit(": ").next().unwrap_or(position);
            let name = match &p.tag {
                Some(tag) => format!("{}{} \"{tag}\"", "  ".repeat(depth), p.kind),
                None => format!("{}{} {position}", "  ".repeat(depth), p.kind),
            };
            let mean_us = p.stats.nanos() as f64 / runs as f64 / 1e3;
            rows.push([
                pipeline.to_owned(),
                name,
                runs.to_string(),
                p.stats.failures.load(Ordering::Relaxed).to_string(),
                format!("{mean_us:.2}"),
            ]);
        }
        stats_rows(pipeline, &p.on_failure, depth + 1, rows);
    }
}

fn stats_table(rows: &[[String; 5]]) -> String {
    const HEADER: [&str; 5] = ["pipeline", "processor", "runs", "failures", "mean µs"];
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        // Text columns left-aligned, numbers right-aligned.
        let [w0, w1, w2, w3, w4] = widths;
        let [c0, c1, c2, c3, c4] = cells;
        out.push_str(&format!("{c0:<w0$}  {c1:<w1$}  {c2:>w2$}  {c3:>w3$}  {c4:>w4$}\n"));
    };
    line(HEADER);
    for row in rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    if rows.is_empty() {
        out.push_str("(no processor ran)\n");
    }
    out
}

/// The document as printed: `_source` plus `_index`/`_id` when a processor
/// set them.
pub(crate) fn printable(doc: &Document) -> Value {
    let mut out = Map::new();
    for (k, v) in doc.meta.iter().chain(&doc.source) {
        out.insert(k.to_string(), v.to_json());
    }
    Value::Object(out)
}

#[derive(Default)]
struct VerboseTrace {
    steps: Vec<Value>,
}

impl Tracer for VerboseTrace {
    fn step(&mut self, p: &CompiledProcessor, status: StepStatus, error: Option<&str>, doc: &Document) {
        let status = match status {
            StepStatus::Success => "success",
            StepStatus::Skipped => "skipped",
            StepStatus::ErrorIgnored => "error_ignored",
            StepStatus::ErrorHandled => "error_handled",
            StepStatus::Error => "error",
            StepStatus::Dropped => "dropped",
        };
        let mut step = json!({"processor_type": p.kind, "status": status});
        if let Some(t) = &p.tag {
            step["tag"] = json!(t);
        }
        if let Some(e) = error {
            step["error"] = json!(e);
        }
        if status != "skipped" {
            step["doc"] = printable(doc);
        }
        self.steps.push(step);
    }
}

fn run_records(set: &PipelineSet, name: &str, input: Box<dyn Read>, verbose: bool) -> std::io::Result<usize> {
    let mut reader = std::io::BufReader::new(input);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    let mut failed = 0;
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let doc = match Document::decode(&line, MAX_LINE_BYTES) {
            Ok(d) => d,
            Err(e) => {
                failed += 1;
                let shown: String = String::from_utf8_lossy(&line[..line.len().min(256)]).into_owned();
                let doc = json!({
                    "error": {"type": e.kind(), "message": e.to_string()},
                    "event": {"original": shown},
                    "tags": [format!("_{}", e.kind())],
                });
                writeln!(out, "{doc}")?;
                continue;
            }
        };
        let mut trace = VerboseTrace::default();
        let processed = if verbose {
            set.run_traced(name, doc, &mut trace)
        } else {
            set.run(name, doc)
        };
        let result = match &processed {
            Processed::Document(d) => Some(printable(d)),
            Processed::Failed(d, _) => {
                failed += 1;
                Some(printable(d))
            }
            Processed::Dropped => None,
        };
        if verbose {
            let status = match processed {
                Processed::Document(_) => "indexed",
                Processed::Dropped => "dropped",
                Processed::Failed(..) => "failed",
            };
            let report = json!({"line": number, "outcome": status, "processor_results": trace.steps, "result": result});
            writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())?;
        } else if let Some(doc) = result {
            writeln!(out, "{doc}")?;
        } else {
            eprintln!("line {number}: dropped");
        }
    }
    out.flush()?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_table_aligns_columns() {
        let rows = [
            [
                "nginx".to_owned(),
                "grok \"parse\"".to_owned(),
                "12".to_owned(),
                "1".to_owned(),
                "1.50".to_owned(),
            ],
            [
                "nginx".to_owned(),
                "set processors[3]".to_owned(),
                "3".to_owned(),
                "0".to_owned(),
                "0.10".to_owned(),
            ],
        ];
        let table = stats_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "pipeline  processor          runs  failures  mean µs");
        assert_eq!(lines[1], "nginx     grok \"parse\"         12         1     1.50");
        assert_eq!(lines[2], "nginx     set processors[3]     3         0     0.10");
        assert_eq!(stats_table(&[]).lines().nth(1), Some("(no processor ran)"));
    }
}
