//! Runs one shipped pipeline over the benchmark's generated lines in a loop,
//! the same work as `pipeline/nginx_access_full` in `benches/pipeline.rs`
//! but as a plain binary, so it can run under a profiler
//! (`perf record`, `valgrind --tool=callgrind`) without criterion around it:
//!
//! ```text
//! cargo build --release --example pipeline_profile
//! valgrind --tool=callgrind target/release/examples/pipeline_profile nginx-access 1
//! perf record -g target/release/examples/pipeline_profile nginx-access 20
//! ```
//!
//! Prints the throughput. `SLUICE_PIPELINES=<dir>` loads the pipelines from
//! another directory (the line generator is chosen by the pipeline name:
//! `app-json`, `filebeat`, anything else gets nginx access lines).

#[path = "../tests/support/mmdb_fixture.rs"]
mod mmdb_fixture;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sluice::document::Document;
use sluice::generator::{Generator, Kind};
use sluice::pipeline::{CompileOptions, PipelineSet, Processed};

const LINES: usize = 12_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let pipeline = args.next().unwrap_or_else(|| "nginx-access".to_owned());
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let kind = match pipeline.as_str() {
        "app-json" => Kind::AppJson,
        "filebeat" => Kind::Filebeat,
        _ => Kind::NginxAccess,
    };

    let geoip = tempfile::tempdir().expect("tempdir");
    mmdb_fixture::write_bench_dbs(geoip.path()).expect("GeoIP bench databases");
    let options = CompileOptions {
        geoip_dir: Some(geoip.path().to_path_buf()),
        ..CompileOptions::default()
    };
    // Another directory (SLUICE_PIPELINES) helps compare variants of a
    // pipeline on the same lines.
    let dir = std::env::var_os("SLUICE_PIPELINES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines"));
    let set = PipelineSet::load_dir(&dir, &options).unwrap_or_else(|e| panic!("{e}"));

    let now = chrono::DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
        .expect("valid timestamp")
        .with_timezone(&chrono::Utc);
    let mut generator = Generator::new(kind, 42);
    let lines: Vec<String> = (0..LINES).map(|_| generator.line(now)).collect();

    // SLUICE_PROFILE_OUT=<file> writes every document of the first round,
    // one per line, to compare the output of two builds.
    if let Some(path) = std::env::var_os("SLUICE_PROFILE_OUT") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("output file"));
        for line in &lines {
            match set.run(&pipeline, Document::from_message(line.as_str())) {
                Processed::Document(d) | Processed::Failed(d, _) => {
                    // serde_json here, so that comparing with an older
                    // build's output also checks the encoder.
                    serde_json::to_writer(&mut out, &d.source).expect("documents serialise");
                }
                Processed::Dropped => out.write_all(b"dropped").expect("write"),
            }
            out.write_all(b"\n").expect("write");
        }
    }

    // SLUICE_PROFILE_THREADS=<n> runs the rounds on n threads at once,
    // sharing the compiled pipelines as the service's workers do, to see
    // whether they slow each other down.
    let threads: usize = std::env::var("SLUICE_PROFILE_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let start = Instant::now();
    let bytes: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| run_rounds(&set, &pipeline, &lines, rounds)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker thread")).sum()
    });
    let elapsed = start.elapsed();
    let events = (rounds * LINES * threads) as f64;
    println!(
        "{pipeline}: {events} events in {elapsed:?}: {:.0} events/s, {:.2} µs/event, {bytes} bytes",
        events / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / events
    );
}

/// Runs every line `rounds` times and encodes the documents as the writer
/// would; returns the bytes encoded.
fn run_rounds(set: &PipelineSet, pipeline: &str, lines: &[String], rounds: usize) -> usize {
    let mut bytes = 0usize;
    let mut buf = Vec::with_capacity(2048);
    for _ in 0..rounds {
        for line in lines {
            let doc = Document::from_message(line.as_str());
            if let Processed::Document(d) | Processed::Failed(d, _) = set.run(pipeline, doc) {
                buf.clear();
                d.source.write_json(&mut buf);
                bytes += buf.len();
            }
        }
    }
    bytes
}
