//! `dissect`: splits a string field on the literal delimiters of a pattern
//! such as `%{clientip} %{?ident} %{+ts} %{+ts}` and sets one field per key,
//! with Elasticsearch's dissect semantics (key modifiers `->`, `+`, `+/n`,
//! `?`, `*` and `&`, consecutive delimiters giving empty values).
//!
//! The pattern is parsed at load time into (key, delimiter) pairs; matching
//! is a left-to-right scan for each delimiter in turn, ported from the ES
//! parser so edge cases (repeated delimiters, a trailing delimiter, the last
//! key taking the rest) behave the same.

use std::borrow::Cow;

use crate::value::Value;
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

/// How much of a non-matching value is quoted in the failure message.
const ERROR_SNIPPET_CHARS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    pattern: String,
    #[serde(default)]
    append_separator: String,
    #[serde(default)]
    ignore_missing: bool,
}

/// What a key does with the text it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `%{name}`: sets `name`.
    Normal,
    /// `%{}` or `%{?name}`: matched and dropped.
    Skip,
    /// `%{+name}` or `%{+name/n}` (and a plain `%{name}` sharing its name):
    /// concatenated, sorted by `order`.
    Append { order: i32 },
    /// `%{*name}`: the matched text is the name of the field that the
    /// `%{&name}` key's text goes to.
    FieldName,
    /// `%{&name}`.
    FieldValue,
}

#[derive(Debug)]
struct Key {
    name: String,
    kind: Kind,
    /// `->`: repeats of this key's delimiter are skipped.
    right_padding: bool,
    /// Index into `Dissect::targets` for keys whose field is known at load
    /// time (normal and append keys).
    target: Option<usize>,
}

#[derive(Debug)]
struct Pair {
    key: Key,
    /// The literal text after the key; empty only for the last key.
    delimiter: String,
}

struct Dissect {
    field: FieldPath,
    ignore_missing: bool,
    pattern: String,
    leading: String,
    pairs: Vec<Pair>,
    /// Field paths of the normal and append keys, by distinct name.
    targets: Vec<(String, FieldPath)>,
    /// Distinct names of non-skip keys: a match must produce exactly this
    /// many fields (ES DissectMatch.isValid).
    max_results: usize,
    append_separator: String,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let field = FieldPath::parse(&c.field).map_err(|e| format!("invalid `field`: {e}"))?;
    let (leading, mut pairs) = parse_pattern(&c.pattern).map_err(|e| format!("invalid `pattern`: {e}"))?;

    // A plain key that shares its name with an append key takes part in the
    // append (`%{a} %{+a}`); implicit append order follows the pattern.
    let append_names: Vec<String> = pairs
        .iter()
        .filter(|p| matches!(p.key.kind, Kind::Append { .. }))
        .map(|p| p.key.name.clone())
        .collect();
    let mut implicit_order = -1000;
    for pair in &mut pairs {
        let key = &mut pair.key;
        let joins_append = key.kind == Kind::Normal && append_names.contains(&key.name);
        match key.kind {
            Kind::Append { order } if order == i32::MIN => {
                key.kind = Kind::Append { order: implicit_order };
                implicit_order += 1;
            }
            Kind::Normal if joins_append => {
                key.kind = Kind::Append { order: implicit_order };
                implicit_order += 1;
            }
            _ => {}
        }
    }

    for pair in &pairs {
        let key = &pair.key;
        if matches!(key.kind, Kind::FieldName | Kind::FieldValue) {
            let count = |kind: Kind| {
                pairs
                    .iter()
                    .filter(|p| p.key.name == key.name && p.key.kind == kind)
                    .count()
            };
            if count(Kind::FieldName) != 1 || count(Kind::FieldValue) != 1 {
                return Err(format!(
                    "invalid `pattern`: reference key `{}` needs exactly one `%{{*{0}}}` and one `%{{&{0}}}`",
                    key.name
                ));
            }
        }
    }

    let mut names: Vec<&str> = Vec::new();
    for pair in &pairs {
        if pair.key.kind != Kind::Skip && !names.contains(&pair.key.name.as_str()) {
            names.push(&pair.key.name);
        }
    }
    let max_results = names.len();
    if max_results == 0 {
        return Err("invalid `pattern`: it has no keys that produce a field (only skipped keys)".to_owned());
    }

    let mut targets: Vec<(String, FieldPath)> = Vec::new();
    for pair in &mut pairs {
        let key = &mut pair.key;
        if !matches!(key.kind, Kind::Normal | Kind::Append { .. }) {
            continue;
        }
        let index = match targets.iter().position(|(n, _)| *n == key.name) {
            Some(i) => i,
            None => {
                let path = FieldPath::parse(&key.name).map_err(|e| format!("invalid key `{}`: {e}", key.name))?;
                targets.push((key.name.clone(), path));
                targets.len() - 1
            }
        };
        key.target = Some(index);
    }

    Ok(Box::new(Dissect {
        field,
        ignore_missing: c.ignore_missing,
        pattern: c.pattern,
        leading,
        pairs,
        targets,
        max_results,
        append_separator: c.append_separator,
    }))
}

/// Splits a pattern into its leading text and (key, delimiter) pairs.
fn parse_pattern(pattern: &str) -> Result<(String, Vec<Pair>), String> {
    let Some(first) = pattern.find("%{") else {
        return Err(format!("`{pattern}` has no `%{{key}}`"));
    };
    let leading = pattern[..first].to_owned();
    let mut pairs = Vec::new();
    let mut rest = &pattern[first..];
    while let Some(body) = rest.strip_prefix("%{") {
        let Some(close) = body.find('}') else {
            return Err(format!("unterminated key `{}`", snippet(rest, 30)));
        };
        let key = parse_key(&body[..close])?;
        let after = &body[close + 1..];
        let end = after.find("%{").unwrap_or(after.len());
        let delimiter = &after[..end];
        if delimiter.is_empty() && end < after.len() {
            return Err(format!(
                "keys `%{{{}}}` and the one after it have no delimiter between them, so there is no way to tell where one ends",
                &body[..close]
            ));
        }
        pairs.push(Pair {
            key,
            delimiter: delimiter.to_owned(),
        });
        rest = &after[end..];
    }
    Ok((leading, pairs))
}

/// Parses the text inside `%{…}`.
fn parse_key(raw: &str) -> Result<Key, String> {
    let (body, right_padding) = match raw.strip_suffix("->") {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let (kind, name) = match body.chars().next() {
        Some('?') => (Kind::Skip, &body[1..]),
        Some('*') => (Kind::FieldName, &body[1..]),
        Some('&') => (Kind::FieldValue, &body[1..]),
        Some('+') => {
            let rest = &body[1..];
            match rest.rsplit_once('/') {
                Some((name, order)) => {
                    // ES stores the order in a Java short.
                    let order: i16 = order.parse().ok().filter(|o| *o >= 0).ok_or_else(|| {
                        format!("key `%{{{raw}}}`: the append order after `/` must be a number from 0 to 32767")
                    })?;
                    (
                        Kind::Append {
                            order: i32::from(order),
                        },
                        name,
                    )
                }
                // The implicit order is assigned once all keys are known.
                None => (Kind::Append { order: i32::MIN }, rest),
            }
        }
        _ => (Kind::Normal, body),
    };
    if let Some(bad) = name.chars().find(|c| matches!(c, '/' | '+' | '*' | '&' | '?')) {
        return Err(format!(
            "key `%{{{raw}}}`: unexpected `{bad}`; a key takes at most one modifier, before its name (`/n` only after `+name`)"
        ));
    }
    let kind = match kind {
        Kind::Normal if name.is_empty() => Kind::Skip,
        other => other,
    };
    if name.is_empty() && kind != Kind::Skip {
        return Err(format!("key `%{{{raw}}}` has no name"));
    }
    Ok(Key {
        name: name.to_owned(),
        kind,
        right_padding,
        target: None,
    })
}

fn snippet(s: &str, max_chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &s[..cut])),
        None => Cow::Borrowed(s),
    }
}

/// Where a matched value goes.
enum Output {
    Known(usize),
    Dynamic(String),
}

impl Dissect {
    /// The ES scan: walk the input looking for the current key's delimiter;
    /// on a match record the value, treat immediate repeats of the same
    /// delimiter as empty values for the following keys (or skip them for a
    /// `->` key), then move to the next key. The last key takes the rest
    /// when the pattern does not end with a delimiter. Returns the matched
    /// (pair index, value) list, or `None` when not every key matched.
    fn scan<'a>(&self, input: &'a str) -> Option<Vec<(usize, &'a str)>> {
        let mut adds: Vec<(usize, &'a str)> = Vec::with_capacity(self.pairs.len());
        if input.len() <= self.leading.len() || !input.starts_with(&self.leading) {
            return None;
        }
        let bytes = input.as_bytes();
        let mut current = 0;
        let mut delimiter = self.pairs.first()?.delimiter.as_bytes();
        let mut i = self.leading.len();
        let mut value_start = i;
        while i < bytes.len() {
            let Some(&first) = delimiter.first() else {
                break;
            };
            // Jump to the next possible start of the delimiter.
            match memchr::memchr(first, &bytes[i..]) {
                Some(offset) => i += offset,
                None => break,
            }
            if !bytes[i..].starts_with(delimiter) {
                i += 1;
                continue;
            }
            adds.push((current, input.get(value_start..i)?));
            i += delimiter.len();
            while i < bytes.len() && bytes[i..].starts_with(delimiter) {
                i += delimiter.len();
                if !self.pairs[current].key.right_padding {
                    if current + 1 >= self.pairs.len() {
                        break;
                    }
                    current += 1;
                    adds.push((current, ""));
                }
            }
            if current + 1 >= self.pairs.len() {
                break;
            }
            current += 1;
            delimiter = self.pairs[current].delimiter.as_bytes();
            value_start = i;
        }
        if adds.len() < self.pairs.len() && delimiter.is_empty() {
            adds.push((current, input.get(value_start..)?));
        }
        (adds.len() == self.pairs.len()).then_some(adds)
    }

    /// Turns the matched values into fields, ES DissectMatch style: plain
    /// keys, then reference pairs, then appends (joined in order), a later
    /// category overwriting an earlier one of the same name. The match only
    /// counts if it produced exactly one field per distinct key name.
    fn results(&self, adds: &[(usize, &str)]) -> Option<Vec<(Output, String)>> {
        let mut out: Vec<(Output, String)> = Vec::with_capacity(self.max_results);
        let put = |out: &mut Vec<(Output, String)>, target: Output, value: String| {
            let same = |o: &Output| match (o, &target) {
                (Output::Known(a), Output::Known(b)) => a == b,
                (Output::Known(a), Output::Dynamic(name)) | (Output::Dynamic(name), Output::Known(a)) => {
                    self.targets.get(*a).is_some_and(|(n, _)| n == name)
                }
                (Output::Dynamic(a), Output::Dynamic(b)) => a == b,
            };
            match out.iter_mut().find(|(o, _)| same(o)) {
                Some(slot) => slot.1 = value,
                None => out.push((target, value)),
            }
        };
        for &(index, value) in adds {
            let key = &self.pairs[index].key;
            if let (Kind::Normal, Some(target)) = (key.kind, key.target) {
                put(&mut out, Output::Known(target), value.to_owned());
            }
        }
        for &(index, name_value) in adds {
            let key = &self.pairs[index].key;
            if key.kind != Kind::FieldName {
                continue;
            }
            let value = adds
                .iter()
                .find(|&&(j, _)| self.pairs[j].key.kind == Kind::FieldValue && self.pairs[j].key.name == key.name)
                .map(|&(_, v)| v)?;
            put(&mut out, Output::Dynamic(name_value.to_owned()), value.to_owned());
        }
        for (target, _) in self.targets.iter().enumerate() {
            let mut parts: Vec<(i32, &str)> = adds
                .iter()
                .filter_map(|&(j, v)| match self.pairs[j].key.kind {
                    Kind::Append { order } if self.pairs[j].key.target == Some(target) => Some((order, v)),
                    _ => None,
                })
                .collect();
            if parts.is_empty() {
                continue;
            }
            parts.sort_by_key(|&(order, _)| order);
            let joined = parts
                .iter()
                .map(|&(_, v)| v)
                .collect::<Vec<_>>()
                .join(&self.append_separator);
            put(&mut out, Output::Known(target), joined);
        }
        (out.len() == self.max_results).then_some(out)
    }

    fn no_match(&self, input: &str) -> ProcessError {
        ProcessError::new(format!(
            "Unable to find match for dissect pattern: {} against source: {}",
            self.pattern,
            snippet(input, ERROR_SNIPPET_CHARS)
        ))
    }
}

impl Processor for Dissect {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let input = match self.field.get(doc) {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) if self.ignore_missing => return Ok(Flow::Continue),
            None => return Err(ProcessError::new(format!("field `{}` doesn't exist", self.field))),
            Some(Value::Null) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is null, cannot dissect it",
                    self.field
                )));
            }
            Some(other) => {
                return Err(ProcessError::new(format!(
                    "field `{}` is not a string (found {}); dissect splits strings only",
                    self.field,
                    type_name(other)
                )));
            }
        };
        let results = self
            .scan(input)
            .and_then(|adds| self.results(&adds))
            .ok_or_else(|| self.no_match(input))?;
        for (output, value) in results {
            match output {
                Output::Known(i) => {
                    if let Some((_, path)) = self.targets.get(i) {
                        path.set(doc, Value::from(value))?;
                    }
                }
                Output::Dynamic(name) => {
                    let path = FieldPath::parse(&name).map_err(|e| {
                        ProcessError::new(format!("dissect reference key produced an invalid field name: {e}"))
                    })?;
                    path.set(doc, Value::from(value))?;
                }
            }
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn dissect(pattern: &str) -> Box<dyn Processor> {
        match build(&json!({"field": "m", "pattern": pattern})) {
            Ok(p) => p,
            Err(e) => panic!("build failed: {e}"),
        }
    }

    fn fields(pattern: &str, input: &str) -> Value {
        let mut out = run(dissect(pattern), json!({ "m": input }));
        if let Value::Object(m) = &mut out {
            m.remove("m");
        }
        out
    }

    fn fails(pattern: &str, input: &str) -> bool {
        crate::pipeline::processors::test_util::try_run(dissect(pattern), json!({ "m": input })).is_err()
    }

    #[test]
    fn simple_keys_and_leading_text() {
        assert_eq!(
            fields("%{a} %{b},%{c}", "foo bar,baz"),
            json!({"a": "foo", "b": "bar", "c": "baz"})
        );
        assert_eq!(
            fields("[%{ts}] %{msg}", "[10:00] hello world"),
            json!({"ts": "10:00", "msg": "hello world"})
        );
        assert!(fails("%{a} %{b},%{c}", "foo bar baz"), "all delimiters must match");
        assert!(fails("[%{ts}] %{msg}", "10:00 hello"), "leading text must match");
        // Trailing text after the last key ends that key.
        assert_eq!(fields("%{a} (%{b})", "x (y) and more"), json!({"a": "x", "b": "y"}));
    }

    #[test]
    fn apache_log_with_dotted_fields() {
        let pattern = r#"%{clientip} %{ident} %{auth} [%{@timestamp}] "%{verb} %{request} HTTP/%{httpversion}" %{status} %{size}"#;
        let input = r#"1.2.3.4 - - [30/Apr/1998:22:00:52 +0000] "GET /english/venues/cities/images/montpellier/18.gif HTTP/1.0" 200 3171"#;
        let out = fields(pattern, input);
        assert_eq!(out["clientip"], json!("1.2.3.4"));
        assert_eq!(out["@timestamp"], json!("30/Apr/1998:22:00:52 +0000"));
        assert_eq!(out["size"], json!("3171"));
        let out = fields("%{source.ip} %{http.response.status_code}", "10.0.0.1 404");
        assert_eq!(
            out,
            json!({"source": {"ip": "10.0.0.1"}, "http": {"response": {"status_code": "404"}}})
        );
    }

    #[test]
    fn right_padding_and_consecutive_delimiters() {
        assert_eq!(
            fields("%{a->} %{b} %{c}", "foo         bar baz"),
            json!({"a": "foo", "b": "bar", "c": "baz"})
        );
        assert_eq!(
            fields("%{a},%{b},%{c},%{d}", "foo,,,"),
            json!({"a": "foo", "b": "", "c": "", "d": ""})
        );
        assert_eq!(
            fields("%{a},%{b},%{c}", "foo,,baz"),
            json!({"a": "foo", "b": "", "c": "baz"})
        );
        assert_eq!(fields("%{a->},%{b}", "foo,,,,,,bar"), json!({"a": "foo", "b": "bar"}));
        // Without `->` the repeated space is an empty value for the next key.
        assert_eq!(fields("%{a} %{b}", "x  y"), json!({"a": "x", "b": ""}));
        // Padding on a key in the middle, e.g. aligned columns.
        assert_eq!(
            fields("%{ts} %{level->} %{msg}", "10:00 INFO    started"),
            json!({"ts": "10:00", "level": "INFO", "msg": "started"})
        );
    }

    #[test]
    fn append_keys() {
        assert_eq!(fields("%{a} %{+a} %{+a}", "foo bar baz"), json!({"a": "foobarbaz"}));
        assert_eq!(fields("%{a} %{+a/2} %{+a/1}", "foo bar baz"), json!({"a": "foobazbar"}));
        let p = build(&json!({"field": "m", "pattern": "%{+ts} %{+ts} %{msg}", "append_separator": " "})).unwrap();
        let out = run(p, json!({"m": "Oct 10 hello"}));
        assert_eq!(out["ts"], json!("Oct 10"));
        assert_eq!(out["msg"], json!("hello"));
    }

    #[test]
    fn skip_and_reference_keys() {
        assert_eq!(
            fields("%{a} %{?skipme} %{c}", "foo bar baz"),
            json!({"a": "foo", "c": "baz"})
        );
        assert_eq!(fields("%{a} %{} %{c}", "foo bar baz"), json!({"a": "foo", "c": "baz"}));
        assert_eq!(
            fields("%{*a} %{b} %{&a}", "foo bar baz"),
            json!({"foo": "baz", "b": "bar"})
        );
        assert_eq!(
            fields("%{*p1}=%{&p1} %{*p2}=%{&p2}", "user=bob host.name=web-1"),
            json!({"user": "bob", "host": {"name": "web-1"}})
        );
        // A reference name colliding with a plain key leaves too few fields.
        assert!(fails("%{b} %{*a} %{&a}", "x b y"));
    }

    #[test]
    fn documented_example() {
        let p = build(&json!({
            "field": "message",
            "pattern": r#"%{source.ip} %{?ident} %{user.name} [%{+ts} %{+ts}] "%{http.request.method} %{url.original} HTTP/%{http.version}" %{http.response.status_code} %{http.response.body.bytes}"#,
            "append_separator": " "
        }))
        .unwrap();
        let line = r#"1.2.3.4 - bob [30/Apr/1998:22:00:52 +0000] "GET /index.html HTTP/1.0" 200 3171"#;
        let out = run(p, json!({ "message": line }));
        assert_eq!(
            out,
            json!({
                "message": line,
                "source": {"ip": "1.2.3.4"},
                "user": {"name": "bob"},
                "ts": "30/Apr/1998:22:00:52 +0000",
                "http": {
                    "request": {"method": "GET"},
                    "version": "1.0",
                    "response": {"status_code": "200", "body": {"bytes": "3171"}}
                },
                "url": {"original": "/index.html"}
            })
        );
    }

    #[test]
    fn percent_signs_are_plain_delimiter_text() {
        assert_eq!(fields("%{a} 100% %{b}", "x 100% y"), json!({"a": "x", "b": "y"}));
        assert_eq!(fields("50%: %{a}", "50%: z"), json!({"a": "z"}));
    }

    #[test]
    fn unicode_delimiters_and_values() {
        assert_eq!(fields("%{a}→%{b}", "é→ü"), json!({"a": "é", "b": "ü"}));
    }

    #[test]
    fn missing_null_and_wrong_types() {
        let p = || dissect("%{a} %{b}");
        assert!(run_err(p(), json!({})).contains("`m` doesn't exist"));
        assert!(run_err(p(), json!({"m": null})).contains("null"));
        assert!(run_err(p(), json!({"m": 3})).contains("number"));
        let p = || build(&json!({"field": "m", "pattern": "%{a} %{b}", "ignore_missing": true})).unwrap();
        assert_eq!(run(p(), json!({})), json!({}));
        assert_eq!(run(p(), json!({"m": null})), json!({"m": null}));
    }

    #[test]
    fn no_match_message() {
        let err = run_err(dissect("%{a}|%{b}"), json!({"m": "no pipes here"}));
        assert_eq!(
            err,
            "Unable to find match for dissect pattern: %{a}|%{b} against source: no pipes here"
        );
        // The leading text alone is not a match.
        assert!(fails("x=%{a}", "x="));
    }

    #[test]
    fn invalid_patterns() {
        let err = |pattern: &str| match build(&json!({"field": "m", "pattern": pattern})) {
            Ok(_) => panic!("`{pattern}` should be rejected"),
            Err(e) => e,
        };
        assert!(err("no keys").contains("no `%{key}`"));
        assert!(err("%{a} %{b").contains("unterminated"));
        assert!(err("%{a}%{b}").contains("no delimiter"));
        assert!(err("%{?a} %{}").contains("no keys that produce"));
        assert!(err("%{*a} %{b}").contains("`a`"));
        assert!(err("%{*a} %{&a} %{&a}").contains("exactly one"));
        assert!(err("%{+} %{a}").contains("no name"));
        assert!(err("%{a/2} %{b}").contains("unexpected `/`"));
        assert!(err("%{?+a} %{b}").contains("unexpected `+`"));
        assert!(err("%{+a/x} %{b}").contains("append order"));
        assert!(err("%{a..b} %{c}").contains("empty segment"));
        let options_err = |config: Value| build(&config).err().unwrap_or_default();
        assert!(options_err(json!({"field": "m"})).contains("pattern"));
        assert!(options_err(json!({"field": "m", "pattern": "%{a}", "bogus": 1})).contains("bogus"));
    }

    proptest::proptest! {
        #[test]
        fn scanning_never_panics(input in r"[ab ,:é\-]{0,30}") {
            for pattern in ["%{a} %{b}", "%{a->} %{+a},%{?c}:%{d}", "x%{*k}:%{&k} ", "é%{a}é%{b}"] {
                let _ = crate::pipeline::processors::test_util::try_run(dissect(pattern), json!({ "m": input.clone() }));
            }
        }
    }
}
