//! The shipped pipelines, compiled once per test binary against GeoIP
//! fixture databases generated from `tests/fixtures/geoip/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use sluice::document::Document;
use sluice::pipeline::{CompileOptions, PipelineSet, Processed};

use crate::support::mmdb_fixture::write_fixture_dbs;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A directory holding the GeoIP fixture databases, kept for the whole run.
pub fn geoip_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        write_fixture_dbs(dir.path()).expect("writing GeoIP fixture databases");
        dir
    })
    .path()
    .to_path_buf()
}

/// The compiled `pipelines/` directory.
pub fn shipped() -> &'static PipelineSet {
    static SET: OnceLock<PipelineSet> = OnceLock::new();
    SET.get_or_init(|| {
        let options = CompileOptions {
            geoip_dir: Some(geoip_dir()),
            ..CompileOptions::default()
        };
        PipelineSet::load_dir(&repo().join("pipelines"), &options).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Runs one raw line through a shipped pipeline and returns the printed
/// document (metadata keys included) and whether it failed.
pub fn run_line(pipeline: &str, line: &str) -> (Option<Value>, bool) {
    run_doc(pipeline, Document::from_message(line))
}

/// Runs a document through a shipped pipeline.
pub fn run_doc(pipeline: &str, doc: Document) -> (Option<Value>, bool) {
    match shipped().run(pipeline, doc) {
        Processed::Document(d) => (Some(printable(&d)), false),
        Processed::Failed(d, _) => (Some(printable(&d)), true),
        Processed::Dropped => (None, false),
    }
}

fn printable(d: &Document) -> Value {
    let mut out = Map::new();
    for (k, v) in d.meta.iter().chain(d.source.iter()) {
        out.insert(k.to_string(), v.to_json());
    }
    Value::Object(out)
}

/// Flattens nested objects into dotted keys (arrays stay values), the
/// shape of the Filebeat expected documents.
pub fn flatten(v: &Value) -> Map<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    walk("", v, &mut out);
    out
}
