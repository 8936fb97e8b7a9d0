//! Secrets (passwords, API keys, tokens): read from the config, the
//! environment or a file, and never printed. `Debug`, `Display` and
//! `Serialize` all show `***`.

use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

/// A secret string.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What secrets look like wherever they are shown.
pub const REDACTED: &str = "***";

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads a secret from a file, dropping one trailing newline (files
    /// written by `echo` or Kubernetes secrets usually end with one).
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let mut s =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        Ok(Secret(s))
    }

    /// The value, for handing to a client library. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Resolves a secret given inline or as a file; both at once is an error.
pub fn resolve(
    inline: &Option<Secret>,
    file: &Option<std::path::PathBuf>,
    name: &str,
) -> Result<Option<Secret>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("`{name}` and `{name}_file` are both set; use one")),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(path)) => Secret::from_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_secret_drops_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        assert_eq!(Secret::from_file(&f).unwrap().expose(), "s3cret");
        assert!(resolve(&Some(Secret::new("a")), &Some(f.clone()), "password").is_err());
        assert_eq!(
            resolve(&None, &Some(f), "password").unwrap().unwrap().expose(),
            "s3cret"
        );
    }
}
