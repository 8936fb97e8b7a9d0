//! The uap-core regex set behind the `user_agent` processor: the copy
//! embedded in the binary, or a user-supplied `regexes.yaml`, compiled once
//! per pipeline set into a prefiltered `ua_parser::Extractor`.
//!
//! `regexes.yaml` next to this file is uap-core 0.18.0 exactly as shipped
//! inside the `ua-parser` 0.2.2 crate (Copyright 2009 Google Inc., Apache
//! License 2.0, see `LICENSE-uap-core`). Keep it byte-identical to upstream
//! so an update is a plain file copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ua_parser::{Extractor, Regexes, device, os, user_agent};

use crate::pipeline::compile::CompileContext;

/// uap-core's `regexes.yaml`, embedded so nothing is fetched at run time.
const EMBEDDED: &str = include_str!("regexes.yaml");

/// Where a regex set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Embedded,
    File(PathBuf),
}

impl Source {
    /// Picks the regex set for one processor: its own `regex_file` (relative
    /// names resolve against the pipeline file's directory, the way ES looks
    /// them up in its `ingest-user-agent` config directory), else the
    /// service-wide `user_agent_regexes`, else the embedded copy.
    pub(super) fn choose(regex_file: Option<&str>, ctx: &CompileContext<'_>) -> Result<Self, String> {
        match regex_file {
            Some(f) if f.trim().is_empty() => {
                Err("`regex_file` is empty; give a path to a uap-core regexes.yaml".to_owned())
            }
            Some(f) => {
                let path = Path::new(f);
                Ok(Source::File(if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    ctx.base_dir().join(path)
                }))
            }
            None => Ok(match &ctx.options.user_agent_regexes {
                Some(p) => Source::File(p.clone()),
                None => Source::Embedded,
            }),
        }
    }

    fn label(&self) -> String {
        match self {
            Source::Embedded => "embedded uap-core".to_owned(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// A compiled regex set. The extractor owns its patterns (every `Cow` in
/// `Regexes` deserializes as owned), hence `'static`.
pub(super) struct UaRegexes {
    pub(super) extractor: Extractor<'static>,
}

/// The compiled set for `source`, shared by every `user_agent` processor of
/// the pipeline set that uses the same source: compiling uap-core takes
/// hundreds of milliseconds and tens of megabytes.
pub(super) fn shared(source: &Source, ctx: &CompileContext<'_>) -> Result<Arc<UaRegexes>, String> {
    let key = match source {
        Source::Embedded => "user_agent:embedded".to_owned(),
        Source::File(p) => format!("user_agent:file:{}", p.display()),
    };
    ctx.resources.get_or_load(&key, || {
        let started = Instant::now();
        let compiled = load(source)?;
        tracing::info!(
            source = %source.label(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compiled user-agent regexes"
        );
        Ok(compiled)
    })
}

fn load(source: &Source) -> Result<UaRegexes, String> {
    match source {
        Source::Embedded => compile(EMBEDDED).map_err(|e| format!("embedded uap-core regexes: {e}")),
        Source::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read user-agent regexes `{}`: {e}", path.display()))?;
            compile(&text).map_err(|e| format!("invalid user-agent regexes `{}`: {e}", path.display()))
        }
    }
}

/// Parses and compiles a `regexes.yaml`. Parsers are pushed one at a time
/// (instead of `Extractor::try_from`) so an error names the list, the index
/// and the pattern at fault.
pub(super) fn compile(yaml: &str) -> Result<UaRegexes, String> {
    let regexes: Regexes<'static> = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;

    let mut ua = user_agent::Builder::new();
    for (i, p) in regexes.user_agent_parsers.into_iter().enumerate() {
        let pattern = p.regex.to_string();
        ua = ua
            .push(p)
            .map_err(|e| at("user_agent_parsers", i, &pattern, &describe(&e)))?;
    }
    let mut os = os::Builder::new();
    for (i, p) in regexes.os_parsers.into_iter().enumerate() {
        let pattern = p.regex.to_string();
        os = os
            .push(p)
            .map_err(|e| at("os_parsers", i, &pattern, &parse_error(&e)))?;
    }
    let mut dev = device::Builder::new();
    for (i, p) in regexes.device_parsers.into_iter().enumerate() {
        let pattern = p.regex.to_string();
        dev = dev
            .push(p)
            .map_err(|e| at("device_parsers", i, &pattern, &parse_error(&e)))?;
    }
    let build_err = |list: &str, e: ua_parser::BuildError| format!("{list}: cannot build the prefilter: {e:?}");
    Ok(UaRegexes {
        extractor: Extractor {
            ua: ua.build().map_err(|e| build_err("user_agent_parsers", e))?,
            os: os.build().map_err(|e| build_err("os_parsers", e))?,
            dev: dev.build().map_err(|e| build_err("device_parsers", e))?,
        },
    })
}

fn at(list: &str, index: usize, pattern: &str, reason: &str) -> String {
    format!("{list}[{index}] (regex `{pattern}`): {reason}")
}

fn describe(e: &ua_parser::Error) -> String {
    match e {
        ua_parser::Error::ParseError(p) => parse_error(p),
        ua_parser::Error::BuildError(b) => format!("cannot build the prefilter: {b:?}"),
        ua_parser::Error::MissingGroup(g) => {
            format!("family_replacement uses ${g} but the regex has no capture group {g}")
        }
    }
}

// The crate's own Display is its Debug output; unwrap the useful text.
fn parse_error(e: &ua_parser::ParseError) -> String {
    match e {
        ua_parser::ParseError::SyntaxError(s) => s.clone(),
        ua_parser::ParseError::RegexTooLarge(n) => format!("regex too large to compile (limit {n} bytes)"),
        ua_parser::ParseError::ProcessingError(m) => format!("cannot extract prefilter atoms: {m:?}"),
    }
}
