//! `grok`: matches a string field against grok expressions and sets a field
//! for every named capture, as the Elasticsearch grok processor does.
//!
//! At load time the patterns are expanded against the built-in library
//! ([`patterns`]), `patterns_dir` files and `pattern_definitions`
//! ([`expand`]), translated from Oniguruma to PCRE2 syntax ([`translate`]),
//! combined into one alternation (first pattern that matches wins) and
//! JIT-compiled. Per record there is one PCRE2 match, then each capture is
//! converted straight into a JSON value and set at its (possibly dotted)
//! field path.

mod expand;
pub mod patterns;
mod pcre;
mod translate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::value::{Number, Value};
use serde::Deserialize;

use self::expand::{Bank, Expander};
use self::patterns::EcsCompatibility;
use self::pcre::{Code, CompileError, MatchError, Matcher, Mode};
use self::translate::Translator;
use crate::document::Document;
use crate::pipeline::compile::CompileContext;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, OneOrMany, ProcessError, Processor, parse_config};

/// PCRE2 "match limit" for one match: the number of backtracking steps PCRE2
/// may take (the JIT counts them too) before giving up with an error, so
/// catastrophic backtracking becomes a per-record failure instead of a
/// stall. It does not count characters stepped over by a run (`\S+`), so
/// it cannot bound a search that rescans a long token from every start
/// position; [`DEFAULT_TIMEOUT_MILLIS`] does. PCRE2 resets the counter at every
/// start position, which is why the expression is also anchored with a lazy
/// prefix (see `compile_regex`): the limit then bounds the whole search.
/// Ten million is PCRE2's own default: the JIT exhausts it in 25-40 ms
/// (measured), while a log line needs a few hundred steps and even a 1 MiB
/// value that matches only at its end stays well within it.
const MATCH_LIMIT: u32 = 10_000_000;

/// Maximum size of the JIT's backtracking stack per matcher. With the 32 KiB
/// default, a 100 KiB quoted string (QS) or a match starting 100 KiB into
/// the value fails with "JIT stack limit reached"; 4 MiB handles 1 MiB
/// values. Pages are only touched as the stack grows.
const JIT_STACK_SIZE: usize = 4 << 20;

/// The default time limit of one match (`timeout_millis`), as
/// Elasticsearch's grok watchdog (`ingest.grok.watchdog.max_execution_time`).
/// The match limit does not bound the time an expression spends scanning
/// runs of characters from every start position; see [`pcre`].
const DEFAULT_TIMEOUT_MILLIS: u64 = 1000;

/// How much of a non-matching value is quoted in the failure message.
const ERROR_SNIPPET_CHARS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    patterns: OneOrMany<String>,
    #[serde(default)]
    pattern_definitions: BTreeMap<String, String>,
    #[serde(default)]
    ignore_missing: bool,
    #[serde(default)]
    trace_match: bool,
    #[serde(default = "default_ecs_compatibility")]
    ecs_compatibility: String,
    /// Sluice extension: directories of Logstash-style pattern files,
    /// relative to the pipeline file.
    #[serde(default)]
    patterns_dir: Option<OneOrMany<String>>,
    /// As Logstash's grok: a match that runs longer fails the record;
    /// 0 turns the limit off.
    #[serde(default = "default_timeout_millis")]
    timeout_millis: u64,
}

fn default_timeout_millis() -> u64 {
    DEFAULT_TIMEOUT_MILLIS
}

// ES default (GrokProcessor.DEFAULT_ECS_COMPATIBILITY_MODE).
fn default_ecs_compatibility() -> String {
    "disabled".to_owned()
}

/// The JSON type a capture is converted to (`%{NUMBER:x:int}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureType {
    String,
    Int,
    Long,
    Float,
    Double,
    Boolean,
}

impl CaptureType {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "string" => CaptureType::String,
            "int" => CaptureType::Int,
            "long" => CaptureType::Long,
            "float" => CaptureType::Float,
            "double" => CaptureType::Double,
            "boolean" => CaptureType::Boolean,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            CaptureType::String => "string",
            CaptureType::Int => "int",
            CaptureType::Long => "long",
            CaptureType::Float => "float",
            CaptureType::Double => "double",
            CaptureType::Boolean => "boolean",
        }
    }

    /// Converts captured text with Java's rules (ES parses with
    /// Integer.parseInt, Long.parseLong, Float.parseFloat,
    /// Double.parseDouble, Boolean.parseBoolean).
    fn convert(self, text: &str) -> Option<Value> {
        Some(match self {
            CaptureType::String => Value::from(text),
            CaptureType::Int => Value::from(text.parse::<i32>().ok()?),
            CaptureType::Long => Value::from(text.parse::<i64>().ok()?),
            CaptureType::Float => {
                // Java's parseFloat trims and rounds to single precision; the
                // shortest decimal form of that float is what ES serialises.
                let f: f32 = text.trim().parse().ok()?;
                let shortest: f64 = f.to_string().parse().ok()?;
                Value::Number(Number::from_f64(shortest)?)
            }
            CaptureType::Double => Value::Number(Number::from_f64(text.trim().parse().ok()?)?),
            CaptureType::Boolean => Value::Bool(text.eq_ignore_ascii_case("true")),
        })
    }
}

/// One target field and the capture groups that can fill it, in pattern
/// order: the first group that took part in the match wins, which is how ES
/// resolves the same name used in several alternatives.
struct FieldCapture {
    path: FieldPath,
    groups: Box<[(usize, CaptureType)]>,
}

/// Which compiled expression matched last.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Used {
    Utf,
    Ascii,
    Guarded,
}

/// Per-matcher scratch space, pooled so records do not allocate it.
struct Scratch {
    locations: Matcher,
    /// For the ASCII twin, when there is one.
    ascii_locations: Option<Matcher>,
    /// For the guarded expression, when there is a time limit.
    guarded_locations: Option<Matcher>,
    /// Which one the last match ran on.
    used: Used,
    values: Vec<(usize, Value)>,
}

impl Scratch {
    /// The capture spans of the last match.
    fn spans(&self) -> &Matcher {
        let chosen = match self.used {
            Used::Utf => None,
            Used::Ascii => self.ascii_locations.as_ref(),
            Used::Guarded => self.guarded_locations.as_ref(),
        };
        chosen.unwrap_or(&self.locations)
    }
}

/// Values longer than this are matched by the guarded expression, which
/// carries the time limit's callout (see [`pcre`]). A callout anywhere in
/// an expression makes PCRE2's JIT keep capture offsets up to date for
/// it, which cost the nginx line about 3,400 instructions (+8 %), so
/// shorter values use the expression without one. Their search is bounded
/// anyway: at most 4,096 start positions, each scanning at most 4,096
/// bytes, and the match limit.
const GUARD_ABOVE: usize = 4096;

struct Grok {
    field: FieldPath,
    ignore_missing: bool,
    regex: Code,
    /// The same expression compiled without UTF mode, used for values that
    /// are all ASCII; see [`ascii_twin`].
    ascii_regex: Option<Code>,
    /// The expression with the time limit's callout, for values longer
    /// than [`GUARD_ABOVE`]; `None` when `timeout_millis` is 0.
    guarded: Option<Code>,
    /// How long one match may run (zero: no limit).
    timeout: Duration,
    fields: Vec<FieldCapture>,
    /// Capture number of each pattern's wrapper group, when `trace_match`
    /// is set and there are several patterns.
    trace_groups: Vec<usize>,
    trace_match: bool,
    /// Boxed, so taking one out of the pool and back moves a pointer
    /// rather than the whole struct (measured: about 100 instructions per
    /// record for the two moves).
    #[allow(clippy::vec_box)]
    scratch: Mutex<Vec<Box<Scratch>>>,
}

pub fn build(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    Ok(Box::new(build_grok(config, ctx)?))
}

fn build_grok(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<Grok, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field).map_err(|e| format!("invalid `field`: {e}"))?;
    let patterns = c.patterns.into_vec();
    if patterns.is_empty() {
        return Err("`patterns` must not be empty".to_owned());
    }
    let ecs = EcsCompatibility::parse(&c.ecs_compatibility)?;

    let dir_patterns = match &c.patterns_dir {
        Some(dirs) => load_patterns_dirs(&dirs.clone().into_vec(), ctx)?,
        None => Vec::new(),
    };
    let mut user: HashMap<&str, (&str, &str)> = HashMap::new();
    for (file, name, definition) in &dir_patterns {
        check_pattern_name(name, file)?;
        user.insert(name, (definition, file));
    }
    for (name, definition) in &c.pattern_definitions {
        check_pattern_name(name, "pattern_definitions")?;
        user.insert(name, (definition, "pattern_definitions"));
    }
    let bank = Bank {
        builtin: patterns::builtin(ecs),
        user,
    };

    let timeout = Duration::from_millis(c.timeout_millis);
    let compiled = compile(&patterns, &bank, c.trace_match, !timeout.is_zero())?;
    Ok(Grok {
        field,
        ignore_missing: c.ignore_missing,
        regex: compiled.regex,
        guarded: compiled.guarded,
        timeout,
        ascii_regex: compiled.ascii_regex,
        fields: compiled.fields,
        trace_groups: compiled.trace_groups,
        trace_match: c.trace_match,
        scratch: Mutex::new(Vec::new()),
    })
}

fn check_pattern_name(name: &str, origin: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "{origin}: pattern name `{name}` can never be referenced; names are letters, digits and `_`"
        ));
    }
    Ok(())
}

/// Reads every file of the `patterns_dir` directories (in name order, so a
/// later file wins deterministically), once per pipeline set.
fn load_patterns_dirs(dirs: &[String], ctx: &CompileContext<'_>) -> Result<Vec<(String, String, String)>, String> {
    let mut all = Vec::new();
    for dir in dirs {
        let path = ctx.base_dir().join(dir);
        let key = format!("grok.patterns_dir:{}", path.display());
        let loaded = ctx
            .resources
            .get_or_load(&key, || read_patterns_dir(&path))
            .map_err(|e| format!("`patterns_dir`: {e}"))?;
        all.extend(loaded.iter().cloned());
    }
    Ok(all)
}

fn read_patterns_dir(dir: &Path) -> Result<Vec<(String, String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read directory `{}`: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read directory `{}`: {e}", dir.display()))?;
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if path.is_file() && !hidden {
            files.push(path);
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        for (name, definition) in patterns::parse_user_file(&text, &shown)? {
            out.push((format!("patterns_dir file {shown}"), name, definition));
        }
    }
    Ok(out)
}

struct Compiled {
    regex: Code,
    ascii_regex: Option<Code>,
    guarded: Option<Code>,
    fields: Vec<FieldCapture>,
    trace_groups: Vec<usize>,
}

/// Expands, translates and compiles the patterns into one alternation.
fn compile(patterns: &[String], bank: &Bank<'_>, trace_match: bool, guard: bool) -> Result<Compiled, String> {
    let mut expander = Expander::new(bank);
    let mut translator = Translator::default();
    let mut combined = String::new();
    let mut trace_groups = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        // An empty pattern is valid in ES and matches anything without
        // capturing; Filebeat's nginx pipeline relies on it as a fallback.
        let what = format!("patterns[{i}]");
        let expanded = expander.expand_user(pattern, &what)?;
        if i > 0 {
            combined.push('|');
        }
        let start = combined.len();
        if trace_match && patterns.len() > 1 {
            trace_groups.push(translator.open_internal_group(&mut combined));
        } else {
            combined.push_str("(?:");
        }
        translator
            .translate(&expanded, &mut combined)
            .map_err(|e| format!("{what}: {e}"))?;
        combined.push(')');
        // Compile each alternative alone (without JIT) so a syntax error is
        // reported against the pattern that has it.
        let alone = format!("(?a){}", &combined[start..]);
        if let Err(e) = Code::new(&alone, Mode::Utf, false) {
            return Err(format!(
                "{what}: invalid regular expression: {}",
                describe_pcre2_error(&e, &alone)
            ));
        }
    }
    let fields = map_fields(&translator)?;
    let invalid = |e: CompileError| format!("invalid regular expression: {}", describe_pcre2_error(&e, &combined));
    let regex = compile_regex(&combined, Mode::Utf, false).map_err(invalid)?;
    let guarded = guard
        .then(|| compile_regex(&combined, Mode::Utf, true))
        .transpose()
        .map_err(invalid)?;
    // A twin that does not compile (an escape above U+00FF, say) is simply
    // not used.
    let ascii_regex = ascii_twin(&combined).and_then(|twin| compile_regex(&twin, Mode::Ascii, false).ok());
    Ok(Compiled {
        regex,
        ascii_regex,
        guarded,
        fields,
        trace_groups,
    })
}

/// Compiles the whole expression for matching.
///
/// UTF mode ([`Mode::Utf`]) gives Oniguruma's character semantics (`.` is
/// one character, a capture never splits one), with
/// `PCRE2_MATCH_INVALID_UTF` so that PCRE2 does not re-validate the whole
/// subject on every match (a `&str` is valid anyway; the check costs about
/// as much as the match itself on a log line). `(?a)` then restores ASCII
/// `\d`, `\s`, `\w`, `\b` and POSIX classes, as in Ruby.
fn compile_regex(expression: &str, mode: Mode, guarded: bool) -> Result<Code, CompileError> {
    // `(*LIMIT_MATCH=…)` lowers PCRE2's match limit for this pattern.
    // `\A(?s:.*?)` turns the unanchored search into one anchored attempt,
    // so the limit covers the whole search and not each start position
    // (the lazy prefix finds the leftmost match, exactly like an unanchored
    // search). In the guarded expression, `(?C1)` calls the time limit's
    // callout at each start position (see [`pcre`] and [`GUARD_ABOVE`]).
    let callout = if guarded { "(?C1)" } else { "" };
    let anchored = format!("(*LIMIT_MATCH={MATCH_LIMIT})(?a)\\A(?s:.*?){callout}(?:{expression})");
    Code::new(&anchored, mode, true)
}

/// The expression to compile without UTF mode for values that are all
/// ASCII, or None where that could change a result.
///
/// In UTF mode PCRE2 decodes every character it steps over; without it, it
/// reads bytes, and the nginx access line matches in about 10 % fewer
/// instructions. On a subject that is all ASCII the two modes agree, as
/// long as the expression means the same: each of its characters matches
/// the same ASCII characters, and each is one unit for quantifiers and
/// lookbehinds. An ASCII expression qualifies as it is (`\x{..}` above
/// `\x{ff}`, which bytes mode cannot express, fails to compile and leaves
/// no twin). A non-ASCII letter (the library's `ä` in `MONTH`) matches no
/// ASCII character, so it becomes `\x{ff}`, a byte no ASCII value holds.
/// Not handled, so no twin: other non-ASCII characters (some are white
/// space that extended mode skips), the Kelvin sign and long s (which match
/// `k` and `s` without case), and `\Q…\E` (where `\x{ff}` would be text).
fn ascii_twin(expression: &str) -> Option<String> {
    if expression.is_ascii() {
        return Some(expression.to_owned());
    }
    if expression.contains("\\Q") {
        return None;
    }
    let mut twin = String::with_capacity(expression.len() + 16);
    let mut backslashes = 0;
    for c in expression.chars() {
        if c.is_ascii() {
            backslashes = if c == '\\' { backslashes + 1 } else { 0 };
            twin.push(c);
            continue;
        }
        if !c.is_alphabetic() || matches!(c, '\u{212a}' | '\u{17f}') {
            return None;
        }
        if backslashes % 2 == 1 {
            // `\ä` is the letter itself.
            twin.pop();
        }
        twin.push_str("\\x{ff}");
        backslashes = 0;
    }
    Some(twin)
}

fn describe_pcre2_error(e: &CompileError, expression: &str) -> String {
    let from = expression.floor_char_boundary(e.offset.saturating_sub(30));
    let to = expression.ceil_char_boundary((e.offset + 30).min(expression.len()));
    format!("{} (near `{}`)", e.message, &expression[from..to])
}

/// Maps the named groups to target fields, splitting group names the way ES
/// does (`SYNTAX:semantic:type`, or a raw `(?<name>…)`).
fn map_fields(translator: &Translator) -> Result<Vec<FieldCapture>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut by_field: HashMap<String, (FieldPath, Vec<(usize, CaptureType)>)> = HashMap::new();
    for group in &translator.groups {
        let parts: Vec<&str> = group.name.split(':').collect();
        let (raw_field, kind) = match parts.as_slice() {
            [field] => (*field, None),
            [_, field] => (*field, None),
            [_, field, kind] => (*field, Some(*kind)),
            _ => {
                return Err(format!(
                    "capture `{}` has too many `:`; expected SYNTAX:field:type",
                    group.name
                ));
            }
        };
        let kind = match kind {
            None => CaptureType::String,
            Some(k) => CaptureType::parse(k).ok_or_else(|| {
                format!(
                    "capture `{}`: unknown type `{k}`; accepted: int, long, float, double, boolean, string",
                    group.name
                )
            })?,
        };
        let field = logstash_field_reference(raw_field);
        let entry = match by_field.get_mut(&field) {
            Some(entry) => entry,
            None => {
                let path = FieldPath::parse(&field).map_err(|e| format!("capture `{}`: {e}", group.name))?;
                order.push(field.clone());
                by_field.entry(field.clone()).or_insert((path, Vec::new()))
            }
        };
        entry.1.push((group.index, kind));
    }
    Ok(order
        .into_iter()
        .filter_map(|f| by_field.remove(&f))
        .map(|(path, groups)| FieldCapture {
            path,
            groups: groups.into_boxed_slice(),
        })
        .collect())
}

/// Logstash writes nested fields as `[a][b][c]`; the ecs-v1 patterns and
/// Logstash-era user patterns use it. Sluice's paths are dotted.
fn logstash_field_reference(raw: &str) -> String {
    match raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) if !inner.is_empty() => inner.split("][").collect::<Vec<_>>().join("."),
        _ => raw.to_owned(),
    }
}

impl Grok {
    fn take_scratch(&self) -> Box<Scratch> {
        let pooled = self.scratch.lock().unwrap_or_else(|p| p.into_inner()).pop();
        pooled.unwrap_or_else(|| {
            Box::new(Scratch {
                // Only the guarded expression calls back to check the time.
                locations: Matcher::new(&self.regex, JIT_STACK_SIZE, Duration::ZERO),
                ascii_locations: self
                    .ascii_regex
                    .as_ref()
                    .map(|code| Matcher::new(code, JIT_STACK_SIZE, Duration::ZERO)),
                guarded_locations: self
                    .guarded
                    .as_ref()
                    .map(|code| Matcher::new(code, JIT_STACK_SIZE, self.timeout)),
                used: Used::Utf,
                values: Vec::with_capacity(self.fields.len() + 1),
            })
        })
    }

    fn return_scratch(&self, mut scratch: Box<Scratch>) {
        scratch.values.clear();
        self.scratch.lock().unwrap_or_else(|p| p.into_inner()).push(scratch);
    }

    /// Matches and converts every capture into `scratch.values`.
    fn extract(&self, subject: &str, scratch: &mut Scratch) -> Result<(), ProcessError> {
        let (regex, locations, used) = match (
            &self.guarded,
            &mut scratch.guarded_locations,
            &self.ascii_regex,
            &mut scratch.ascii_locations,
        ) {
            (Some(regex), Some(locations), _, _) if subject.len() > GUARD_ABOVE => (regex, locations, Used::Guarded),
            (_, _, Some(regex), Some(locations)) if subject.is_ascii() => (regex, locations, Used::Ascii),
            _ => (&self.regex, &mut scratch.locations, Used::Utf),
        };
        scratch.used = used;
        match locations.find(regex, subject.as_bytes()) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ProcessError::new(format!(
                    "field `{}` does not match any of the grok patterns: `{}`",
                    self.field,
                    snippet(subject)
                )));
            }
            Err(MatchError::Timeout(limit)) => {
                return Err(ProcessError::new(format!(
                    "grok matching of field `{}` ({} bytes) was stopped after {} ms (`timeout_millis`); \
                     the patterns scan this value from too many positions",
                    self.field,
                    subject.len(),
                    limit.as_millis()
                )));
            }
            Err(MatchError::Pcre(message)) => {
                return Err(ProcessError::new(format!(
                    "grok matching of field `{}` was aborted ({message}); the pattern backtracks too much on this value",
                    self.field,
                )));
            }
        }
        let spans: &Matcher = locations;
        for (i, field) in self.fields.iter().enumerate() {
            let hit = field
                .groups
                .iter()
                .find_map(|&(group, kind)| spans.get(group).map(|span| (span, kind)));
            let Some(((start, end), kind)) = hit else {
                continue;
            };
            // UTF mode guarantees spans on character boundaries, and every
            // byte of an ASCII value is one.
            let text = subject.get(start..end).unwrap_or_default();
            let value = kind.convert(text).ok_or_else(|| {
                ProcessError::new(format!(
                    "cannot convert `{}` captured for `{}` to {}",
                    snippet(text),
                    field.path,
                    kind.name()
                ))
            })?;
            scratch.values.push((i, value));
        }
        Ok(())
    }

    fn matched_pattern(&self, scratch: &Scratch) -> usize {
        self.trace_groups
            .iter()
            .position(|&g| scratch.spans().get(g).is_some())
            .unwrap_or(0)
    }
}

fn snippet(s: &str) -> String {
    match s.char_indices().nth(ERROR_SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

impl Processor for Grok {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let subject = match self.field.get(doc) {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot match it",
                    self.field
                )));
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is not a string (found {}); grok matches strings only",
                    self.field,
                    type_name(other)
                )));
            }
        };
        let mut scratch = self.take_scratch();
        let result = self.extract(subject, &mut scratch).and_then(|()| {
            let matched = self.matched_pattern(&scratch);
            for (i, value) in scratch.values.drain(..) {
                if let Some(field) = self.fields.get(i) {
                    field.path.set(doc, value)?;
                }
            }
            if self.trace_match {
                doc.ingest.insert("_grok_match_index", Value::from(matched.to_string()));
            }
            Ok(())
        });
        self.return_scratch(scratch);
        result.map(|()| Flow::Continue)
    }
}

#[cfg(test)]
mod tests;
