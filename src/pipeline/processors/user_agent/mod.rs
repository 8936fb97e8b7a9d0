//! `user_agent`: parses a User-Agent header with the uap-core regex set into
//! the ECS `user_agent` object (`name`, `version`, `os.*`, `device.name`,
//! `original`), as the Elasticsearch processor of the same name and the
//! Filebeat nginx module produce it. Results are cached per processor, keyed
//! by the raw string.

mod cache;
mod regexes;

use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::value::{Map, Value};
use serde::Deserialize;

use self::cache::ShardedLru;
use self::regexes::{Source, UaRegexes};
use crate::document::Document;
use crate::pipeline::compile::CompileContext;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default = "default_target_field")]
    target_field: String,
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default)]
    ignore_missing: bool,
    #[serde(default)]
    regex_file: Option<String>,
    /// ES 8 beta option adding `device.type`; accepted, not implemented.
    #[serde(default)]
    extract_device_type: bool,
    /// Sluice extension: entries in this processor's result cache.
    #[serde(default)]
    cache_size: Option<usize>,
}

// ES default.
fn default_target_field() -> String {
    "user_agent".to_owned()
}

// ES's `ingest.user_agent.cache_size` default is 1000 per node; one entry
// here is a few hundred bytes, and a larger cache keeps the hit rate high
// on busy, diverse frontends.
const DEFAULT_CACHE_SIZE: usize = 10_000;

/// Which parts of the result to produce (`properties`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Properties {
    name: bool,
    version: bool,
    os: bool,
    device: bool,
    original: bool,
}

impl Properties {
    const ALL: Properties = Properties {
        name: true,
        version: true,
        os: true,
        device: true,
        original: true,
    };

    fn parse(names: &[String]) -> Result<Self, String> {
        if names.is_empty() {
            return Err("`properties` is empty; list at least one of name, version, os, device, original".to_owned());
        }
        let mut p = Properties::default();
        for n in names {
            // ES upper-cases the names before matching its enum.
            match n.to_ascii_lowercase().as_str() {
                "name" => p.name = true,
                "version" => p.version = true,
                "os" => p.os = true,
                "device" => p.device = true,
                "original" => p.original = true,
                _ => {
                    return Err(format!(
                        "unknown property `{n}` in `properties`; accepted: name, version, os, device, original"
                    ));
                }
            }
        }
        Ok(p)
    }
}

struct UserAgent {
    field: FieldPath,
    target: FieldPath,
    properties: Properties,
    ignore_missing: bool,
    regexes: Arc<UaRegexes>,
    /// `None` when `cache_size: 0`.
    cache: Option<ShardedLru>,
}

pub fn build(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    Ok(Box::new(compile(config, ctx)?))
}

fn compile(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<UserAgent, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field).map_err(|e| format!("`field`: {e}"))?;
    let target = FieldPath::parse(&c.target_field).map_err(|e| format!("`target_field`: {e}"))?;
    let properties = match &c.properties {
        Some(names) => Properties::parse(names)?,
        None => Properties::ALL,
    };
    if c.extract_device_type {
        tracing::warn!(
            file = %ctx.file.display(),
            "user_agent: `extract_device_type` is not implemented; `user_agent.device.type` will not be set"
        );
    }
    let cache_size = match c.cache_size {
        Some(n) => n,
        None if ctx.options.user_agent_cache_size == 0 => DEFAULT_CACHE_SIZE,
        None => ctx.options.user_agent_cache_size,
    };
    let source = Source::choose(c.regex_file.as_deref(), ctx)?;
    let regexes = regexes::shared(&source, ctx)?;
    Ok(UserAgent {
        field,
        target,
        properties,
        ignore_missing: c.ignore_missing,
        regexes,
        cache: NonZeroUsize::new(cache_size).map(ShardedLru::new),
    })
}

impl Processor for UserAgent {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let details = match self.field.get(doc) {
            Some(Value::String(ua)) => self.lookup(ua),
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => {
                return Err(ProcessError::new(format!(
                    "field `{}` not present, cannot parse user-agent",
                    self.field
                )));
            }
            Some(Value::Null) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot parse user-agent",
                    self.field
                )));
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is a {}, not a string, cannot parse user-agent",
                    self.field,
                    type_name(other)
                )));
            }
        };
        self.target.set(doc, details)?;
        Ok(Flow::Continue)
    }
}

impl UserAgent {
    fn lookup(&self, ua: &str) -> Value {
        let Some(cache) = &self.cache else {
            return self.parse(ua);
        };
        if let Some(hit) = cache.get(ua) {
            return hit;
        }
        // Parsed without any lock held: two threads may parse the same new
        // string at once, which is cheaper than serializing every miss.
        // Frozen: a hit is then copied into the document as a pointer, and
        // encoded by copying its JSON.
        let parsed = self.parse(ua).freeze();
        cache.insert(ua, parsed.clone());
        parsed
    }

    /// Builds the `user_agent` object the way ES does: `name` and
    /// `device.name` are "Other" when nothing matches; `version`, `os` and
    /// `os.version`/`os.full` are left out when unknown.
    fn parse(&self, ua: &str) -> Value {
        let e = &self.regexes.extractor;
        let p = self.properties;
        let mut out = Map::new();
        if p.name || p.version {
            let agent = e.ua.extract(ua);
            if p.name {
                let name = agent.as_ref().map(|a| &*a.family).filter(|f| !f.is_empty());
                out.insert("name", Value::from(name.unwrap_or("Other").to_owned()));
            }
            // Three components at most: that is what ES outputs with its
            // bundled (older) uap-core and what Filebeat's fixtures record,
            // Chrome/70.0.3538.102 → 70.0.3538. ES's code would append a
            // fourth captured component, and current uap-core captures one
            // for Chrome, so following the code would change that output.
            if p.version
                && let Some(version) = agent.and_then(|a| join_version([a.major, a.minor, a.patch]))
            {
                out.insert("version", Value::from(version));
            }
        }
        if p.os
            && let Some(os) = e.os.extract(ua)
            // uap-core's catch-all family; ES leaves `os` out for it.
            && !os.os.is_empty()
            && os.os != "Other"
        {
            let mut details = Map::new();
            let version = join_version([
                os.major.as_deref(),
                os.minor.as_deref(),
                os.patch.as_deref(),
                os.patch_minor.as_deref(),
            ]);
            // ES sets `version` and `full` only when there is a version.
            if let Some(v) = version {
                details.insert("full", Value::from(format!("{} {v}", os.os)));
                details.insert("version", Value::from(v));
            }
            details.insert("name", Value::from(os.os.as_ref()));
            out.insert("os", Value::Object(details));
        }
        if p.device {
            let device = e.dev.extract(ua);
            let name = device.as_ref().map(|d| &*d.device).filter(|d| !d.is_empty());
            let mut details = Map::new();
            details.insert("name", Value::from(name.unwrap_or("Other").to_owned()));
            out.insert("device", Value::Object(details));
        }
        if p.original {
            out.insert("original", Value::from(ua));
        }
        Value::Object(out)
    }
}

/// Joins version components with dots, stopping at the first missing one
/// (ES: `major[.minor[.patch[.build]]]`).
fn join_version<const N: usize>(parts: [Option<&str>; N]) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Some(s) if !s.is_empty() => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(s);
            }
            _ => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::compile::{CompileOptions, SharedResources};
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;
    use std::collections::HashSet;
    use std::path::Path;
    use std::sync::LazyLock;

    /// Compiling uap-core takes seconds in a debug build, so all tests share
    /// one resource set, as the processors of one pipeline set do.
    static SHARED: LazyLock<SharedResources> = LazyLock::new(SharedResources::default);

    fn with_ctx<R>(options: &CompileOptions, dir: &Path, f: impl FnOnce(&CompileContext<'_>) -> R) -> R {
        let file = dir.join("pipeline.yaml");
        let names = HashSet::new();
        f(&CompileContext {
            options,
            file: &file,
            pipeline_names: &names,
            resources: &SHARED,
        })
    }

    /// Builds with the pipeline file in `dir`.
    fn build_in(config: Value, options: &CompileOptions, dir: &Path) -> Result<Box<dyn Processor>, String> {
        with_ctx(options, dir, |ctx| build(&config, ctx))
    }

    fn ua(config: Value) -> Box<dyn Processor> {
        build_in(config, &CompileOptions::default(), Path::new("pipelines")).unwrap()
    }

    fn parse(s: &str) -> Value {
        run(ua(json!({"field": "ua"})), json!({"ua": s}))["user_agent"].clone()
    }

    // Cases from the Filebeat nginx module's expected output, with what
    // current uap-core (0.18.0) returns.
    #[test]
    fn firefox_on_mac() {
        let s = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:49.0) Gecko/20100101 Firefox/49.0";
        assert_eq!(
            parse(s),
            json!({
                "original": s,
                "name": "Firefox",
                "version": "49.0",
                "os": {"name": "Mac OS X", "version": "10.12", "full": "Mac OS X 10.12"},
                // Filebeat's fixture (older data) says "Other"; uap-core now knows Macs.
                "device": {"name": "Mac"},
            })
        );
    }

    #[test]
    fn firefox_alpha_on_windows_7() {
        let s = "Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2";
        assert_eq!(
            parse(s),
            json!({
                "original": s,
                "name": "Firefox Alpha",
                "version": "15.0.a2",
                "os": {"name": "Windows", "version": "7", "full": "Windows 7"},
                "device": {"name": "Other"},
            })
        );
    }

    #[test]
    fn chrome_on_mac() {
        let s = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/70.0.3538.102 Safari/537.36";
        assert_eq!(
            parse(s),
            json!({
                "original": s,
                "name": "Chrome",
                "version": "70.0.3538",
                "os": {"name": "Mac OS X", "version": "10.14.0", "full": "Mac OS X 10.14.0"},
                "device": {"name": "Mac"},
            })
        );
    }

    #[test]
    fn unknown_agents() {
        assert_eq!(
            parse("Amazon CloudFront"),
            json!({"original": "Amazon CloudFront", "name": "Other", "device": {"name": "Other"}})
        );
        assert_eq!(
            parse("-"),
            json!({"original": "-", "name": "Other", "device": {"name": "Other"}})
        );
        assert_eq!(
            parse(""),
            json!({"original": "", "name": "Other", "device": {"name": "Other"}})
        );
    }

    #[test]
    fn bot() {
        let s =
            "Mozilla/5.0 (compatible; Facebot 1.0; https://developers.facebook.com/docs/sharing/webmasters/crawler)";
        assert_eq!(
            parse(s),
            json!({"original": s, "name": "Facebot", "version": "1.0", "device": {"name": "Spider"}})
        );
    }

    #[test]
    fn versions_stop_at_patch_and_os_without_version() {
        // uap-core captures a fourth component here (68.0.3440.85), the OS
        // version keeps its fourth one.
        let v = parse(
            "Mozilla/5.0 (Linux; Android 9; Pixel 2 XL Build/PPP5.180610.010; wv) AppleWebKit/537.36 \
             (KHTML, like Gecko) Version/4.0 Chrome/68.0.3440.85 Mobile Safari/537.36",
        );
        assert_eq!(v["name"], json!("Chrome Mobile WebView"));
        assert_eq!(v["version"], json!("68.0.3440"));
        assert_eq!(v["os"], json!({"name": "Android", "version": "9", "full": "Android 9"}));
        assert_eq!(v["device"], json!({"name": "Pixel 2 XL"}));
        let v = parse(
            "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
        );
        assert_eq!(v["version"], json!("120.0.6099"));
        assert_eq!(v["os"], json!({"name": "Windows", "version": "7", "full": "Windows 7"}));
        let v = parse("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
        assert_eq!(v["os"], json!({"name": "Linux"}));
        let v = parse(
            "Mozilla/5.0 (BlackBerry; U; BlackBerry 9800; en-GB) AppleWebKit/534.1+ (KHTML, like Gecko) \
             Version/6.0.0.141 Mobile Safari/534.1+",
        );
        assert_eq!(
            v["os"],
            json!({"name": "BlackBerry OS", "version": "6.0.0.141", "full": "BlackBerry OS 6.0.0.141"})
        );
    }

    #[test]
    fn properties_and_target_field() {
        let p = ua(json!({"field": "ua", "target_field": "client.agent", "properties": ["NAME", "os"]}));
        let out = run(
            p,
            json!({"ua": "Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2"}),
        );
        assert_eq!(
            out,
            json!({
                "ua": "Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2",
                "client": {"agent": {
                    "name": "Firefox Alpha",
                    "os": {"name": "Windows", "version": "7", "full": "Windows 7"},
                }},
            })
        );
        let p = ua(json!({"field": "ua", "properties": ["original", "version"]}));
        assert_eq!(
            run(p, json!({"ua": "Facebot 1.0"}))["user_agent"],
            json!({"original": "Facebot 1.0", "version": "1.0"})
        );
    }

    #[test]
    fn target_field_is_replaced_and_source_kept() {
        let p = ua(json!({"field": "user_agent.original"}));
        let out = run(p, json!({"user_agent": {"original": "-", "stale": true}}));
        assert_eq!(
            out,
            json!({"user_agent": {"original": "-", "name": "Other", "device": {"name": "Other"}}})
        );
    }

    #[test]
    fn missing_null_and_wrong_types() {
        let msg = run_err(ua(json!({"field": "ua"})), json!({}));
        assert!(msg.contains("`ua` not present"), "{msg}");
        let msg = run_err(ua(json!({"field": "ua"})), json!({"ua": null}));
        assert!(msg.contains("`ua` is null"), "{msg}");
        let msg = run_err(ua(json!({"field": "ua", "ignore_missing": true})), json!({"ua": 42}));
        assert!(msg.contains("`ua` is a number, not a string"), "{msg}");
        let msg = run_err(ua(json!({"field": "ua"})), json!({"ua": ["a"]}));
        assert!(msg.contains("array"), "{msg}");
        let p = ua(json!({"field": "ua", "ignore_missing": true}));
        assert_eq!(run(p, json!({"x": 1})), json!({"x": 1}));
        let p = ua(json!({"field": "ua", "ignore_missing": true}));
        assert_eq!(run(p, json!({"ua": null})), json!({"ua": null}));
        // The target's parent is not an object.
        let p = ua(json!({"field": "ua", "target_field": "a.b"}));
        assert!(run_err(p, json!({"ua": "-", "a": "x"})).contains("a.b"));
    }

    fn concrete(config: Value) -> UserAgent {
        with_ctx(&CompileOptions::default(), Path::new("."), |ctx| compile(&config, ctx)).unwrap()
    }

    #[test]
    fn cache_hits_return_the_same_result() {
        let p = concrete(json!({"field": "ua"}));
        let s = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/70.0.3538.102 Safari/537.36";
        let first = p.lookup(s);
        assert_eq!(p.cache.as_ref().map(ShardedLru::len), Some(1));
        assert_eq!(p.lookup(s), first);
        assert_eq!(p.lookup(s), p.parse(s));
        assert_eq!(p.cache.as_ref().map(ShardedLru::len), Some(1));

        // A hit really skips parsing: a planted entry is returned as is.
        if let Some(c) = &p.cache {
            c.insert("planted", json!({"name": "Planted"}).into());
        }
        assert_eq!(p.lookup("planted"), json!({"name": "Planted"}));

        // Oversized strings are parsed, not cached.
        let long = format!("{s} {}", "x".repeat(cache::MAX_KEY_LEN));
        assert_eq!(p.lookup(&long)["name"], json!("Chrome"));
        assert_eq!(p.cache.as_ref().map(ShardedLru::len), Some(2));
    }

    #[test]
    fn cache_size_option() {
        let capacity = |p: &UserAgent| p.cache.as_ref().map(ShardedLru::capacity);
        assert_eq!(capacity(&concrete(json!({"field": "ua", "cache_size": 0}))), None);
        assert_eq!(capacity(&concrete(json!({"field": "ua", "cache_size": 2}))), Some(2));
        assert_eq!(capacity(&concrete(json!({"field": "ua"}))), Some(DEFAULT_CACHE_SIZE));
        // The service-wide default applies when the processor sets none.
        let options = CompileOptions {
            user_agent_cache_size: 3,
            ..CompileOptions::default()
        };
        let p = with_ctx(&options, Path::new("."), |ctx| compile(&json!({"field": "ua"}), ctx)).unwrap();
        assert_eq!(capacity(&p), Some(3));
        for s in ["a", "b", "c", "d", "e"] {
            let _ = p.lookup(s);
        }
        assert!(p.cache.as_ref().map_or(0, ShardedLru::len) <= 3);
    }

    #[test]
    fn concurrent_lookups_agree() {
        let p = Arc::new(concrete(json!({"field": "ua", "cache_size": 8})));
        let agents = [
            "Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:49.0) Gecko/20100101 Firefox/49.0",
            "Amazon CloudFront",
            "-",
        ];
        let expected: Vec<crate::value::Value> = agents.iter().map(|a| p.parse(a)).collect();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let p = p.clone();
                let expected = expected.clone();
                std::thread::spawn(move || {
                    (0..200).all(|i| p.lookup(agents[i % agents.len()]) == expected[i % agents.len()])
                })
            })
            .collect();
        for h in handles {
            assert!(matches!(h.join(), Ok(true)));
        }
    }

    #[test]
    fn huge_and_odd_inputs_do_not_panic() {
        let p = concrete(json!({"field": "ua"}));
        for s in [
            "\0\u{1}\u{7f}",
            "Mozilla/5.0 (",
            "))))((((;;;;",
            "Ünïcödé 🚀 Firefox/🚀",
            "Mozilla/5.0 (Linux; Android",
        ] {
            assert!(p.lookup(s)["name"].is_string());
        }
        let huge = format!(
            "Mozilla/5.0 (Windows NT 10.0) {} Firefox/1.0",
            "a(b;c)/1.2 ".repeat(20_000)
        );
        assert!(p.lookup(&huge)["name"].is_string());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_string_parses(s in r"(Mozilla/5\.0 |\(|\)|;| |[A-Za-z]{1,8}|/|[0-9]{1,3}\.?|\PC){0,40}") {
            let v = concrete(json!({"field": "ua"})).lookup(&s);
            proptest::prop_assert!(v["name"].is_string());
            proptest::prop_assert!(v["device"]["name"].is_string());
            proptest::prop_assert_eq!(&v["original"], &json!(s));
        }
    }

    #[test]
    fn processors_share_the_compiled_set() {
        let a = concrete(json!({"field": "a"}));
        let b = concrete(json!({"field": "b", "properties": ["name"]}));
        assert!(Arc::ptr_eq(&a.regexes, &b.regexes));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    const TINY: &str = r#"
user_agent_parsers:
  - regex: '(Sluicebot)/(\d+)\.(\d+)'
os_parsers:
  - regex: 'on (PlanetOS) (\d+)'
device_parsers:
  - regex: 'Sluicebot'
    device_replacement: 'Spider'
"#;

    #[test]
    fn custom_regex_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "my-regexes.yaml", TINY);
        // A bare name resolves against the pipeline file's directory.
        let p = build_in(
            json!({"field": "ua", "regex_file": "my-regexes.yaml"}),
            &CompileOptions::default(),
            dir.path(),
        );
        let p = p.unwrap();
        assert_eq!(
            run(p, json!({"ua": "Sluicebot/2.5 on PlanetOS 9"}))["user_agent"],
            json!({
                "original": "Sluicebot/2.5 on PlanetOS 9",
                "name": "Sluicebot",
                "version": "2.5",
                "os": {"name": "PlanetOS", "version": "9", "full": "PlanetOS 9"},
                "device": {"name": "Spider"},
            })
        );

        // An absolute path is taken as is.
        let abs = dir.path().join("my-regexes.yaml");
        let p = build_in(
            json!({"field": "ua", "regex_file": abs.to_string_lossy()}),
            &CompileOptions::default(),
            Path::new("elsewhere"),
        );
        assert!(p.is_ok(), "{:?}", p.err());

        // The service-wide option, used when the processor names no file.
        let options = CompileOptions {
            user_agent_regexes: Some(dir.path().join("my-regexes.yaml")),
            ..CompileOptions::default()
        };
        let p = build_in(json!({"field": "ua"}), &options, Path::new("elsewhere"));
        let p = p.unwrap();
        // Firefox is unknown to the tiny set.
        assert_eq!(
            run(p, json!({"ua": "Mozilla/5.0 Firefox/49.0"}))["user_agent"]["name"],
            json!("Other")
        );
    }

    #[test]
    fn bad_regex_files_are_load_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = |name: &str| {
            build_in(
                json!({"field": "ua", "regex_file": name}),
                &CompileOptions::default(),
                dir.path(),
            )
            .err()
            .unwrap_or_default()
        };
        let e = err("absent.yaml");
        assert!(
            e.contains("cannot read user-agent regexes") && e.contains("absent.yaml"),
            "{e}"
        );

        write(dir.path(), "not-yaml.yaml", "user_agent_parsers: [");
        let e = err("not-yaml.yaml");
        assert!(
            e.contains("invalid user-agent regexes") && e.contains("not-yaml.yaml"),
            "{e}"
        );

        write(dir.path(), "no-os.yaml", "user_agent_parsers: []\ndevice_parsers: []\n");
        assert!(err("no-os.yaml").contains("os_parsers"), "{}", err("no-os.yaml"));

        write(
            dir.path(),
            "bad-regex.yaml",
            "user_agent_parsers: []\nos_parsers:\n  - regex: 'ok (x)'\n  - regex: '(unclosed'\ndevice_parsers: []\n",
        );
        let e = err("bad-regex.yaml");
        assert!(e.contains("os_parsers[1]") && e.contains("(unclosed"), "{e}");

        write(
            dir.path(),
            "missing-group.yaml",
            "user_agent_parsers:\n  - regex: 'nogroup'\n    family_replacement: 'X $1'\nos_parsers: []\ndevice_parsers: []\n",
        );
        let e = err("missing-group.yaml");
        assert!(e.contains("user_agent_parsers[0]") && e.contains("$1"), "{e}");

        write(
            dir.path(),
            "bad-flag.yaml",
            "user_agent_parsers: []\nos_parsers: []\ndevice_parsers:\n  - regex: 'x'\n    regex_flag: 'g'\n",
        );
        assert!(err("bad-flag.yaml").contains("invalid user-agent regexes"));

        let e = err(" ");
        assert!(e.contains("`regex_file` is empty"), "{e}");
    }

    #[test]
    fn empty_regex_lists_match_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "empty.yaml",
            "user_agent_parsers: []\nos_parsers: []\ndevice_parsers: []\n",
        );
        let p = build_in(
            json!({"field": "ua", "regex_file": "empty.yaml"}),
            &CompileOptions::default(),
            dir.path(),
        );
        let p = p.unwrap();
        assert_eq!(
            run(p, json!({"ua": "Firefox/1.0"}))["user_agent"],
            json!({"original": "Firefox/1.0", "name": "Other", "device": {"name": "Other"}})
        );
    }

    #[test]
    fn rejects_bad_options() {
        let err = |config: Value| {
            build_in(config, &CompileOptions::default(), Path::new("."))
                .err()
                .unwrap_or_default()
        };
        assert!(err(json!({})).contains("field"));
        assert!(err(json!({"field": ""})).contains("`field`"));
        assert!(err(json!({"field": "ua", "target_field": "a..b"})).contains("`target_field`"));
        let e = err(json!({"field": "ua", "properties": ["name", "major"]}));
        assert!(e.contains("unknown property `major`") && e.contains("original"), "{e}");
        assert!(err(json!({"field": "ua", "properties": []})).contains("`properties` is empty"));
        assert!(err(json!({"field": "ua", "properties": "name"})).contains("invalid options"));
        assert!(err(json!({"field": "ua", "cache_size": -1})).contains("invalid options: `cache_size`: invalid value"));
        assert!(err(json!({"field": "ua", "bogus": 1})).contains("bogus"));
        // Accepted for ES compatibility.
        assert!(
            build_in(
                json!({"field": "ua", "extract_device_type": true}),
                &CompileOptions::default(),
                Path::new(".")
            )
            .is_ok()
        );
    }

    #[test]
    fn version_joining() {
        assert_eq!(
            join_version([Some("1"), Some("2"), Some("3")]).as_deref(),
            Some("1.2.3")
        );
        assert_eq!(join_version([Some("1"), None, Some("3")]).as_deref(), Some("1"));
        assert_eq!(join_version([Some("1"), Some(""), Some("3")]).as_deref(), Some("1"));
        assert_eq!(join_version([None, Some("2")]), None);
    }
}
