//! Pipeline throughput: the full shipped nginx access pipeline (grok, date,
//! GeoIP City + ASN, user_agent, ECS JSON encoding) over 12,000 generated
//! lines with a realistic repeat rate of clients and browsers, the same
//! lines through the processor set of Logstash's published figure
//! (`benches/pipelines/`), plus each expensive processor alone. GeoIP
//! databases come from `write_bench_dbs`, which find nearly every public
//! client as MaxMind's do. Run with `cargo bench --bench pipeline`;
//! figures go in the README.
//!
//! Inputs are generated deterministically (seed 42, fixed timestamp) by
//! `sluice::generator`; `sluice generate --kind nginx-access --seed 42
//! --count 12000 --output -` prints the same lines.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::document::Document;
use sluice::generator::{Generator, Kind};
use sluice::pipeline::{CompileOptions, PipelineSet, Processed};

#[path = "../tests/support/mmdb_fixture.rs"]
mod mmdb_fixture;

const LINES: usize = 12_000;

fn lines(kind: Kind) -> Vec<String> {
    let now = chrono::DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
        .expect("valid timestamp")
        .with_timezone(&chrono::Utc);
    let mut g = Generator::new(kind, 42);
    (0..LINES).map(|_| g.line(now)).collect()
}

fn options(geoip: &Path) -> CompileOptions {
    CompileOptions {
        geoip_dir: Some(geoip.to_path_buf()),
        ..CompileOptions::default()
    }
}

/// Runs every line and encodes the document as the writer would.
fn run_all(set: &PipelineSet, pipeline: &str, lines: &[String]) -> usize {
    let mut bytes = 0;
    let mut buf = Vec::with_capacity(2048);
    for line in lines {
        let doc = Document::from_message(line.as_str());
        if let Processed::Document(d) | Processed::Failed(d, _) = set.run(pipeline, doc) {
            buf.clear();
            d.source.write_json(&mut buf);
            bytes += buf.len();
        }
    }
    bytes
}

fn single(dir: &Path, name: &str, yaml: &str, geoip: &Path) -> PipelineSet {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).expect("writing bench pipeline");
    PipelineSet::load_files(&[file], &options(geoip)).unwrap_or_else(|e| panic!("{e}"))
}

fn benches(c: &mut Criterion) {
    let geoip = tempfile::tempdir().expect("tempdir");
    mmdb_fixture::write_bench_dbs(geoip.path()).expect("GeoIP bench databases");
    let shipped = PipelineSet::load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines"),
        &options(geoip.path()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let access = lines(Kind::NginxAccess);

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(20);
    g.bench_function("nginx_access_full", |b| {
        b.iter(|| black_box(run_all(&shipped, "nginx-access", &access)))
    });
    let app = lines(Kind::AppJson);
    g.bench_function("app_json_full", |b| {
        b.iter(|| black_box(run_all(&shipped, "app-json", &app)))
    });
    let filebeat = lines(Kind::Filebeat);
    g.bench_function("filebeat_envelope_routed", |b| {
        b.iter(|| black_box(run_all(&shipped, "filebeat", &filebeat)))
    });
    // The processor set of Logstash's published per-core figure (grok,
    // date, geoip, useragent) on the same lines, for a like-for-like
    // comparison; see benches/pipelines/logstash-equivalent.yaml.
    let equivalent = PipelineSet::load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pipelines"),
        &options(geoip.path()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("logstash_equivalent", |b| {
        b.iter(|| black_box(run_all(&equivalent, "logstash-equivalent", &access)))
    });
    g.finish();

    // Each expensive processor alone, on the same lines. Fields are
    // prepared by a cheap grok where the processor needs them.
    let dir = tempfile::tempdir().expect("tempdir");
    let prep = r#"
  - grok:
      field: message
      patterns: ['%{IPORHOST:ip} - %{DATA} \[%{HTTPDATE:time}\] "%{DATA}" %{NUMBER} %{NUMBER} "%{DATA}" "%{DATA:ua}"']
"#;
    let cases = [
        ("grok_nginx", format!("processors:{prep}")),
        (
            "grok_plus_date",
            format!("processors:{prep}  - date: {{ field: time, formats: ['dd/MMM/yyyy:H:m:s Z'] }}\n"),
        ),
        (
            "grok_plus_geoip_city",
            format!("processors:{prep}  - geoip: {{ field: ip, target_field: source.geo }}\n"),
        ),
        (
            "grok_plus_geoip_asn",
            format!(
                "processors:{prep}  - geoip: {{ field: ip, database_file: GeoLite2-ASN.mmdb, target_field: source.as }}\n"
            ),
        ),
        (
            "grok_plus_user_agent",
            format!("processors:{prep}  - user_agent: {{ field: ua }}\n"),
        ),
    ];
    let mut g = c.benchmark_group("processor");
    g.throughput(Throughput::Elements(LINES as u64));
    g.sample_size(20);
    for (name, yaml) in cases {
        let set = single(dir.path(), name, &yaml, geoip.path());
        g.bench_function(name, |b| b.iter(|| black_box(run_all(&set, name, &access))));
    }
    let empty = single(dir.path(), "encode_only", "processors: []\n", geoip.path());
    g.bench_function("decode_and_encode_only", |b| {
        b.iter(|| black_box(run_all(&empty, "encode_only", &access)))
    });
    g.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
