//! Composable index templates shipped in `templates/` (one
//! `<name>.json` file per template), read and validated at start and
//! installed with `PUT _index_template/<name>`, which replaces any previous
//! version: installing is idempotent, and every pod may do it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use tracing::info;

use super::client::EsClient;

/// A template read from disk.
#[derive(Debug, Clone)]
pub struct Template {
    /// Template name (file stem).
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// The body.
    pub body: Value,
}

/// Reads and checks every `*.json` file in `dir`.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Template>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read templates directory {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let body: Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", file.display()))?;
        let patterns = body.get("index_patterns").and_then(Value::as_array);
        if patterns.is_none_or(|p| p.is_empty()) {
            bail!(
                "{}: an index template needs a non-empty `index_patterns` list",
                file.display()
            );
        }
        if body.get("template").is_some_and(|t| !t.is_object()) {
            bail!("{}: `template` must be an object", file.display());
        }
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Template { name, file, body });
    }
    Ok(out)
}

/// Installs (or updates) every template.
pub async fn install(client: &EsClient, templates: &[Template]) -> anyhow::Result<()> {
    for t in templates {
        client
            .put_index_template(&t.name, &t.body)
            .await
            .map_err(|e| anyhow::anyhow!("installing index template {} from {}: {e}", t.name, t.file.display()))?;
        info!(template = %t.name, "index template installed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let t = load(&dir).unwrap();
        assert!(t.iter().any(|t| t.name == "logs-nginx"), "{t:?}");
        for t in &t {
            // Above the built-in `logs-*-*` data stream template (priority
            // 100), or ES 8 would turn our daily indices into data streams.
            assert!(t.body["priority"].as_i64().unwrap_or(0) > 100, "{}", t.name);
        }
    }

    #[test]
    fn invalid_templates_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "{\"template\": {}}").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("index_patterns"), "{err}");
        std::fs::write(dir.path().join("a.json"), "{nope").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
