//! The pipeline engine: YAML pipelines in the Elasticsearch ingest format,
//! compiled once and run synchronously over documents. It knows nothing of
//! Kafka or HTTP.

pub mod compile;
pub mod condition;
pub mod definition;
pub mod executor;
pub mod field_path;
pub mod processor;
pub mod processors;
pub mod template;
pub mod testing;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use compile::{CompileError, CompileOptions, LoadError};
pub use executor::{Failure, Processed, StepStatus, Tracer};
pub use processor::{CompiledProcessor, ExecContext, Flow, ProcessError, Processor};

use crate::document::Document;
use compile::{CompileContext, SharedResources, compile_pipeline, find_cycle, static_calls};
use definition::{PipelineDef, TestCase};
use executor::{NoTrace, annotate_failure, run_pipeline};

/// Deepest chain of `pipeline` processors followed at run time. Static calls
/// are checked for cycles at load time; this bounds templated names.
pub const MAX_PIPELINE_DEPTH: usize = 16;

/// A compiled pipeline.
#[derive(Debug)]
pub struct Pipeline {
    /// Name (file stem unless the file sets `name`).
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// `description`.
    pub description: Option<String>,
    /// The processors, in order.
    pub processors: Vec<CompiledProcessor>,
    /// Pipeline-level failure handlers.
    pub on_failure: Vec<CompiledProcessor>,
    /// Embedded test cases.
    pub tests: Vec<TestCase>,
}

/// A consistent set of pipelines that may call each other. Immutable once
/// built; a reload builds a new set and swaps it in.
#[derive(Debug)]
pub struct PipelineSet {
    pipelines: HashMap<String, Arc<Pipeline>>,
    version: String,
    geoip: Vec<processors::LoadedDatabase>,
}

impl PipelineSet {
    /// A set with no pipelines (for tests and as a placeholder).
    pub fn empty() -> Self {
        PipelineSet {
            pipelines: HashMap::new(),
            version: "empty".to_owned(),
            geoip: Vec::new(),
        }
    }

    /// Loads every `*.yaml`/`*.yml` file directly inside `dir`.
    pub fn load_dir(dir: &Path, options: &CompileOptions) -> Result<Self, LoadError> {
        let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
            errors: vec![CompileError {
                file: dir.display().to_string(),
                location: String::new(),
                reason: format!("cannot read pipeline directory: {e}"),
            }],
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(LoadError {
                errors: vec![CompileError {
                    file: dir.display().to_string(),
                    location: String::new(),
                    reason: "no pipeline files (*.yaml, *.yml) in directory".to_owned(),
                }],
            });
        }
        Self::load_files(&files, options)
    }

    /// Loads the given pipeline files as one set.
    pub fn load_files(files: &[PathBuf], options: &CompileOptions) -> Result<Self, LoadError> {
        let mut errors = Vec::new();
        let mut defs: Vec<(String, PathBuf, PipelineDef)> = Vec::new();
        let mut hasher = Sha256::new();
        for file in files {
            let file_err = |reason: String| CompileError {
                file: file.display().to_string(),
                location: String::new(),
                reason,
            };
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(file_err(format!("cannot read: {e}")));
                    continue;
                }
            };
            hasher.update(file.display().to_string().as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            match definition::parse_str(&text) {
                Ok(def) => {
                    let name = def.name.clone().unwrap_or_else(|| {
                        file.file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    });
                    if let Some((_, other, _)) = defs.iter().find(|(n, _, _)| *n == name) {
                        errors.push(file_err(format!(
                            "pipeline name `{name}` is also used by {}",
                            other.display()
                        )));
                        continue;
                    }
                    defs.push((name, file.clone(), def));
                }
                Err(reason) => errors.push(file_err(reason)),
            }
        }

        let names: HashSet<String> = defs.iter().map(|(n, _, _)| n.clone()).collect();
        let resources = SharedResources::default();
        let mut pipelines = HashMap::new();
        let mut calls = HashMap::new();
        for (name, file, def) in &defs {
            let ctx = CompileContext {
                options,
                file,
                pipeline_names: &names,
                resources: &resources,
            };
            match compile_pipeline(name, def, &ctx) {
                Ok(p) => {
                    let mut called = Vec::new();
                    static_calls(&p.processors, &mut called);
                    static_calls(&p.on_failure, &mut called);
                    calls.insert(name.clone(), called);
                    pipelines.insert(name.clone(), Arc::new(p));
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        if let Some(cycle) = find_cycle(&calls) {
            errors.push(CompileError {
                file: "pipelines".to_owned(),
                location: String::new(),
                reason: format!("pipelines call each other in a cycle: {cycle}"),
            });
        }
        if !errors.is_empty() {
            return Err(LoadError { errors });
        }
        let geoip = processors::loaded_databases(&resources);
        // GeoIP databases are part of what a set computes; a new database
        // build is a new version.
        for db in &geoip {
            hasher.update(db.file.as_bytes());
            hasher.update(db.build_epoch.to_le_bytes());
        }
        let digest = hasher.finalize();
        Ok(PipelineSet {
            pipelines,
            version: hex::encode(&digest[..6]),
            geoip,
        })
    }

    /// Loads a single pipeline file (for `sluice pipeline test` and
    /// `sluice check --pipeline`). Sibling files in the same directory are
    /// loaded too so `pipeline` processors can resolve their targets; the
    /// named file's pipeline is returned as `main`.
    pub fn load_one(file: &Path, options: &CompileOptions) -> Result<(Self, String), LoadError> {
        let def = definition::read_file(file).map_err(|reason| LoadError {
            errors: vec![CompileError {
                file: file.display().to_string(),
                location: String::new(),
                reason,
            }],
        })?;
        let main = def.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let set = Self::load_dir(dir, options).or_else(|dir_err| {
            // The siblings may be unrelated files with errors of their own;
            // fall back to the file alone. If that fails too, report the
            // file's own errors as the directory load saw them (with the
            // siblings there for its `pipeline` processors), and the
            // siblings' errors only when the file has none: then they are
            // why it cannot load (a pipeline it calls is broken).
            Self::load_files(&[file.to_path_buf()], options).map_err(|_| {
                let name = file.file_name();
                let own: Vec<CompileError> = dir_err
                    .errors
                    .iter()
                    .filter(|e| Path::new(&e.file).file_name() == name)
                    .cloned()
                    .collect();
                if own.is_empty() {
                    dir_err
                } else {
                    LoadError { errors: own }
                }
            })
        })?;
        Ok((set, main))
    }

    /// A short hash of every file's path and contents: changes exactly when
    /// the set changes. Exposed as a metric label.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The GeoIP databases this set loaded.
    pub fn geoip_databases(&self) -> &[processors::LoadedDatabase] {
        &self.geoip
    }

    /// A pipeline by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Pipeline>> {
        self.pipelines.get(name)
    }

    /// Pipeline names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.pipelines.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Every pipeline.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Pipeline>> {
        self.pipelines.values()
    }

    /// Runs `pipeline` over `doc`. An unknown pipeline name is a failure of
    /// the record, not a panic.
    pub fn run(&self, pipeline: &str, doc: Document) -> Processed {
        self.run_traced(pipeline, doc, &mut NoTrace)
    }

    /// Like [`PipelineSet::run`], reporting every processor step.
    pub fn run_traced<T: Tracer>(&self, pipeline: &str, mut doc: Document, tracer: &mut T) -> Processed {
        let Some(p) = self.pipelines.get(pipeline) else {
            let failure = Failure {
                processor: "pipeline".to_owned(),
                tag: None,
                message: format!("pipeline `{pipeline}` does not exist"),
            };
            annotate_failure(&mut doc, &failure);
            return Processed::Failed(doc, failure);
        };
        let mut ctx = ExecContext {
            pipelines: self,
            pipeline: &p.name,
            depth: 0,
        };
        match run_pipeline(p, &mut doc, &mut ctx, tracer) {
            Ok(Flow::Continue) => Processed::Document(doc),
            Ok(Flow::Drop) => Processed::Dropped,
            Err(failure) => {
                annotate_failure(&mut doc, &failure);
                Processed::Failed(doc, failure)
            }
        }
    }

    /// Runs a nested pipeline for the `pipeline` processor.
    pub(crate) fn run_nested(
        &self,
        name: &str,
        doc: &mut Document,
        ctx: &mut ExecContext<'_>,
    ) -> Result<Flow, ProcessError> {
        let Some(p) = self.pipelines.get(name) else {
            return Err(ProcessError::new(format!("pipeline `{name}` does not exist")));
        };
        if ctx.depth >= MAX_PIPELINE_DEPTH {
            return Err(ProcessError::new(format!(
                "pipeline `{name}` nested more than {MAX_PIPELINE_DEPTH} deep (recursive pipeline calls?)"
            )));
        }
        let mut inner = ExecContext {
            pipelines: ctx.pipelines,
            pipeline: &p.name,
            depth: ctx.depth + 1,
        };
        run_pipeline(p, doc, &mut inner, &mut NoTrace).map_err(|f| ProcessError {
            message: f.message,
            origin: Some((f.processor, f.tag)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write pipeline");
    }

    fn errors_of(file: &Path) -> Vec<String> {
        match PipelineSet::load_one(file, &CompileOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn one_file_is_checked_without_its_siblings_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "other.yaml", "processors:\n  - nope: {}\n");
        write(dir.path(), "notes.yaml", "apiVersion: v1\n");
        write(dir.path(), "good.yaml", "processors:\n  - set: {field: a, value: 1}\n");
        write(dir.path(), "bad.yaml", "processors:\n  - set: {field: a, valeu: 1}\n");
        write(dir.path(), "calls.yaml", "processors:\n  - pipeline: {name: other}\n");

        // A valid file loads although its neighbours do not.
        assert!(errors_of(&dir.path().join("good.yaml")).is_empty());
        // A broken file reports its own errors only.
        let bad = errors_of(&dir.path().join("bad.yaml"));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].contains("bad.yaml") && bad[0].contains("`valeu`"), "{bad:?}");
        // A file that calls a broken sibling reports that sibling's error.
        let calls = errors_of(&dir.path().join("calls.yaml"));
        assert!(
            calls.iter().any(|e| e.contains("other.yaml") && e.contains("nope")),
            "{calls:?}"
        );
    }
}
