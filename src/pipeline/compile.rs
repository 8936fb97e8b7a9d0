//! Turns parsed pipeline definitions into executable pipelines. Everything
//! that can be checked is checked here, once, before any record: processor
//! options, grok patterns, date formats, conditions, GeoIP databases and
//! calls between pipelines. Every mistake is reported with its file, its
//! processor index and tag, and the reason.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::Pipeline;
use super::condition::Condition;
use super::definition::PipelineDef;
use super::processor::{CompiledProcessor, ProcessorStats};
use super::processors;

/// Settings that affect how pipelines compile.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Directory against which `geoip.database_file` is resolved
    /// (config `geoip_dir`, `--geoip-dir`, `SLUICE_GEOIP_DIR`).
    pub geoip_dir: Option<PathBuf>,
    /// A user-supplied uap-core `regexes.yaml` replacing the embedded one.
    pub user_agent_regexes: Option<PathBuf>,
    /// Entries in each user_agent processor's LRU cache; 0 means default.
    pub user_agent_cache_size: usize,
}

/// One load-time error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The pipeline file.
    pub file: String,
    /// `processors[3] (grok, tag "parse")`, or empty for file-level errors.
    pub location: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.location, self.reason)
        }
    }
}

/// All load-time errors of a pipeline set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// Every error found; loading does not stop at the first one.
    pub errors: Vec<CompileError>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.errors.len();
        write!(f, "{n} pipeline error{}:", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Resources shared by all processors of a pipeline set and loaded once:
/// GeoIP readers, the user-agent regex set, the grok pattern library.
/// Keyed by a string the owning processor module chooses.
#[derive(Default)]
pub struct SharedResources {
    cache: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl SharedResources {
    /// Returns the resource under `key`, loading it with `load` the first
    /// time. A load error is returned (not cached) so every processor that
    /// needs it reports it.
    pub fn get_or_load<T, F>(&self, key: &str, load: F) -> Result<Arc<T>, String>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Result<T, String>,
    {
        if let Some(existing) = self.lock().get(key) {
            return existing
                .clone()
                .downcast::<T>()
                .map_err(|_| format!("internal: resource `{key}` has another type"));
        }
        let loaded = Arc::new(load()?);
        self.lock().insert(key.to_owned(), loaded.clone());
        Ok(loaded)
    }

    /// Every loaded resource of type `T` whose key starts with `prefix`.
    pub fn collect<T: Any + Send + Sync>(&self, prefix: &str) -> Vec<Arc<T>> {
        self.lock()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, v)| v.clone().downcast::<T>().ok())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn Any + Send + Sync>>> {
        // A poisoned lock only means another loader panicked; the map itself
        // is still consistent.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a processor's `build` function sees.
pub struct CompileContext<'a> {
    /// Compile settings.
    pub options: &'a CompileOptions,
    /// The pipeline file being compiled (for resolving relative paths).
    pub file: &'a Path,
    /// Names of every pipeline in the set, for the `pipeline` processor.
    pub pipeline_names: &'a HashSet<String>,
    /// Loaded-once resources.
    pub resources: &'a SharedResources,
}

impl CompileContext<'_> {
    /// Directory of the pipeline file.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or_else(|| Path::new("."))
    }

    /// Compiles a nested processor definition (used by `foreach`).
    pub fn compile_nested(&self, def: &Value, location: &str) -> Result<CompiledProcessor, CompileError> {
        compile_processor(def, location, self)
    }

    fn error(&self, location: &str, reason: impl Into<String>) -> CompileError {
        CompileError {
            file: self.file.display().to_string(),
            location: location.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Compiles one `{type: options}` entry.
pub fn compile_processor(
    def: &Value,
    location: &str,
    ctx: &CompileContext<'_>,
) -> Result<CompiledProcessor, CompileError> {
    let Value::Object(outer) = def else {
        return Err(ctx.error(location, "a processor must be a map like `{grok: {...}}`"));
    };
    let mut entries = outer.iter();
    let (kind, options) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(ctx.error(location, "empty processor definition")),
        (Some(_), Some(_)) => {
            let keys: Vec<&str> = outer.keys().map(String::as_str).collect();
            return Err(ctx.error(
                location,
                format!("a processor must have exactly one type key, found {keys:?} (is the indentation right?)"),
            ));
        }
    };
    let mut options = match options {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(ctx.error(location, format!("options of `{kind}` must be a map"))),
    };

    let tag = match options.remove("tag") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(ctx.error(location, "`tag` must be a string")),
    };
    let described = match &tag {
        Some(t) => format!("{location} ({kind}, tag \"{t}\")"),
        None => format!("{location} ({kind})"),
    };
    options.remove("description");
    let condition = match options.remove("if") {
        None | Some(Value::Null) => None,
        Some(Value::String(src)) => {
            Some(Condition::compile(&src).map_err(|e| ctx.error(&described, format!("in `if`: {e}")))?)
        }
        Some(_) => return Err(ctx.error(&described, "`if` must be a string expression")),
    };
    let ignore_failure = match options.remove("ignore_failure") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(ctx.error(&described, "`ignore_failure` must be true or false")),
    };
    let on_failure = match options.remove("on_failure") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => compile_list(&items, &format!("{described}.on_failure"), ctx)?,
        Some(_) => return Err(ctx.error(&described, "`on_failure` must be a list of processors")),
    };

    let inner =
        processors::build(kind, &Value::Object(options), ctx).map_err(|reason| ctx.error(&described, reason))?;
    Ok(CompiledProcessor {
        kind: kind.clone(),
        tag,
        location: described,
        condition,
        ignore_failure,
        on_failure,
        inner,
        stats: ProcessorStats::default(),
    })
}

fn compile_list(
    items: &[Value],
    prefix: &str,
    ctx: &CompileContext<'_>,
) -> Result<Vec<CompiledProcessor>, CompileError> {
    items
        .iter()
        .enumerate()
        .map(|(i, def)| compile_processor(def, &format!("{prefix}[{i}]"), ctx))
        .collect()
}

/// Compiles one pipeline, collecting every processor error rather than
/// stopping at the first.
pub fn compile_pipeline(
    name: &str,
    def: &PipelineDef,
    ctx: &CompileContext<'_>,
) -> Result<Pipeline, Vec<CompileError>> {
    let mut errors = Vec::new();
    let mut processors = Vec::new();
    for (i, p) in def.processors.iter().enumerate() {
        match compile_processor(p, &format!("processors[{i}]"), ctx) {
            Ok(c) => processors.push(c),
            Err(e) => errors.push(e),
        }
    }
    let mut on_failure = Vec::new();
    for (i, p) in def.on_failure.iter().enumerate() {
        match compile_processor(p, &format!("on_failure[{i}]"), ctx) {
            Ok(c) => on_failure.push(c),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Pipeline {
        name: name.to_owned(),
        file: ctx.file.to_path_buf(),
        description: def.description.clone(),
        processors,
        on_failure,
        tests: def.tests.clone(),
    })
}

/// Statically called pipelines of a list of processors, recursively through
/// `on_failure`.
pub(crate) fn static_calls(list: &[CompiledProcessor], out: &mut Vec<String>) {
    for p in list {
        out.extend(p.inner.called_pipelines());
        static_calls(&p.on_failure, out);
    }
}

/// Finds a cycle of `pipeline` calls, returning it as `a -> b -> a`.
pub(crate) fn find_cycle(calls: &HashMap<String, Vec<String>>) -> Option<String> {
    fn visit(
        node: &str,
        calls: &HashMap<String, Vec<String>>,
        stack: &mut Vec<String>,
        done: &mut HashSet<String>,
    ) -> Option<String> {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle.join(" -> "));
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in calls.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, calls, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut names: Vec<&String> = calls.keys().collect();
    names.sort();
    let mut done = HashSet::new();
    for name in names {
        if let Some(c) = visit(name, calls, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_detection() {
        let mut calls = HashMap::new();
        calls.insert("a".to_owned(), vec!["b".to_owned()]);
        calls.insert("b".to_owned(), vec!["c".to_owned()]);
        calls.insert("c".to_owned(), vec!["a".to_owned()]);
        assert_eq!(find_cycle(&calls).as_deref(), Some("a -> b -> c -> a"));
        calls.insert("c".to_owned(), vec![]);
        assert_eq!(find_cycle(&calls), None);
    }

    #[test]
    fn shared_resources_load_once() {
        let r = SharedResources::default();
        let mut loads = 0;
        let a: Arc<u32> = r
            .get_or_load("k", || {
                loads += 1;
                Ok(7)
            })
            .unwrap();
        let b: Arc<u32> = r.get_or_load("k", || Ok(8)).unwrap();
        assert_eq!((*a, *b, loads), (7, 7, 1));
    }
}
