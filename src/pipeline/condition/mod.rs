//! `if` conditions: a small expression language over document fields
//! (comparisons, membership, regex matches, `exists`, boolean logic),
//! parsed and type-checked when a pipeline is loaded and evaluated per
//! record without allocating. Painless-style `ctx.a?.b` paths and a few
//! painless methods are accepted so Elasticsearch pipelines port as they
//! are. The language is described in `docs/conditions.md`.

mod eval;
mod lexer;
mod parser;

use crate::document::Document;
use eval::Node;

/// A compiled `if` expression.
#[derive(Debug, Clone)]
pub struct Condition {
    root: Node,
}

/// A load-time error at a byte offset of the source.
#[derive(Debug)]
struct SyntaxError {
    pos: usize,
    msg: String,
}

impl SyntaxError {
    /// "at column N: …", with the line too when the source spans several
    /// (YAML block scalars).
    fn render(&self, src: &str) -> String {
        let column = lexer::col(src, self.pos);
        if src.trim_end().contains('\n') {
            let line = src.get(..self.pos).unwrap_or(src).matches('\n').count() + 1;
            format!("at line {line}, column {column}: {}", self.msg)
        } else {
            format!("at column {column}: {}", self.msg)
        }
    }
}

impl Condition {
    /// Parses and type-checks an expression. Errors name the column and
    /// what was expected.
    pub fn compile(src: &str) -> Result<Self, String> {
        let tokens = lexer::tokenize(src).map_err(|e| e.render(src))?;
        let root = parser::parse(src, tokens).map_err(|e| e.render(src))?;
        Ok(Condition { root })
    }

    /// Evaluates against a document. Never fails: missing fields and
    /// values of the wrong type make a comparison false.
    pub fn eval(&self, doc: &Document) -> bool {
        self.root.eval(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn doc(v: Value) -> Document {
        match v {
            Value::Object(m) => Document::from_source(m),
            _ => Document::default(),
        }
    }

    fn nginx() -> Document {
        let mut d = doc(json!({
            "message": "GET /index.html HTTP/1.1",
            "http": {"request": {"method": "GET"}, "response": {"status_code": 404, "body": {"bytes": 0}}},
            "url": {"original": "/index.html", "path": "/index.html"},
            "event": {"dataset": "nginx.access", "category": ["web"], "duration": 1.5},
            "tags": ["preserve_original_event", "nginx", 7],
            "user": {"name": "Zoë", "roles": []},
            "source": {"ip": "10.0.0.1", "geo": null},
            "flag": true,
            "off": false,
            "empty": "",
            "obj": {},
            "big": 18446744073709551615u64,
            "neg": -3,
            "weird name": {"x": 1},
            "@timestamp": "2024-01-02T03:04:05Z",
            "user-agent": "curl",
            "in": "keyword-named field"
        }));
        d.meta.insert("_index", json!("logs-nginx"));
        d.ingest.insert("kafka", json!({"topic": "nginx", "partition": 3}));
        d
    }

    /// Compiles and evaluates against the nginx-like document.
    fn check(src: &str) -> bool {
        match Condition::compile(src) {
            Ok(c) => c.eval(&nginx()),
            Err(e) => panic!("`{src}` failed to compile: {e}"),
        }
    }

    fn err(src: &str) -> String {
        match Condition::compile(src) {
            Ok(c) => panic!("`{src}` compiled to {c:?}"),
            Err(e) => e,
        }
    }

    fn assert_all(cases: &[(&str, bool)]) {
        for (src, want) in cases {
            assert_eq!(check(src), *want, "`{src}`");
        }
    }

    #[test]
    fn equality() {
        assert_all(&[
            ("http.request.method == 'GET'", true),
            ("http.request.method == \"GET\"", true),
            ("http.request.method != 'GET'", false),
            ("http.request.method == 'get'", false),
            ("http.response.status_code == 404", true),
            ("http.response.status_code == 404.0", true),
            ("404 == http.response.status_code", true),
            ("http.response.status_code != 200", true),
            ("event.duration == 1.5", true),
            ("flag == true", true),
            ("off == false", true),
            ("big == 18446744073709551615", true),
            ("neg == -3", true),
            ("source.geo == null", true),
            ("source.ip == source.ip", true),
            ("source.ip == url.path", false),
            ("obj == obj", true),
        ]);
    }

    #[test]
    fn ordering() {
        assert_all(&[
            ("http.response.status_code >= 400", true),
            ("http.response.status_code > 404", false),
            ("http.response.status_code <= 404", true),
            ("http.response.status_code < 500", true),
            ("http.response.status_code < 404.5", true),
            ("event.duration > 1", true),
            ("neg < 0", true),
            ("big > 9223372036854775807", true),
            ("neg < big", true),
            ("http.request.method < 'POST'", true),
            ("http.request.method >= 'GET'", true),
            ("'2024-01-01' < @timestamp", true),
            ("user.name > 'Zoe'", true),
        ]);
    }

    #[test]
    fn membership_and_strings() {
        assert_all(&[
            ("http.request.method in ['GET', 'HEAD']", true),
            ("http.request.method in ['POST']", false),
            ("http.response.status_code in [200, 404]", true),
            ("http.response.status_code in [200, 404.0, 'x']", true),
            ("http.response.status_code in ['404']", false),
            ("http.request.method in []", false),
            ("'nginx' in tags", true),
            ("7 in tags", true),
            ("'apache' in tags", false),
            ("tags contains 'nginx'", true),
            ("tags contains 7.0", true),
            ("event.category contains 'web'", true),
            ("event.category in ['web']", false),
            ("message contains 'index'", true),
            ("'index' in message", true),
            ("message contains 'INDEX'", false),
            ("url.path in '/index.html?x=1'", true),
            ("message starts_with 'GET '", true),
            ("message ends_with 'HTTP/1.1'", true),
            ("message ends_with 'HTTP/2'", false),
            ("user.name starts_with 'Zo'", true),
            ("user.name ends_with 'ë'", true),
            ("user.name contains 'oë'", true),
        ]);
    }

    #[test]
    fn regex() {
        assert_all(&[
            ("message =~ /^GET \\/\\S+/", true),
            ("message =~ /index\\.html/", true),
            ("message =~ 'HTTP/1\\\\.[01]$'", true),
            ("message =~ /get/", false),
            ("message =~ /get/i", true),
            ("message ==~ /GET/", false),
            ("message ==~ /GET .*/", true),
            ("message ==~ /(?m)GET.*/", true),
            ("user.name =~ /^\\p{Lu}\\w+$/", true),
            ("http.response.status_code =~ /404/", false),
            ("tags =~ /nginx/", false),
            ("missing =~ /.*/", false),
        ]);
    }

    #[test]
    fn exists_and_truthiness() {
        assert_all(&[
            ("exists(source.ip)", true),
            ("exists(source.geo)", true),
            ("exists(nope)", false),
            ("source.ip exists", true),
            ("nope exists", false),
            ("!exists(nope)", true),
            ("flag", true),
            ("off", false),
            ("empty", false),
            ("obj", false),
            ("user.roles", false),
            ("http.response.body.bytes", false),
            ("http.response.status_code", true),
            ("source.geo", false),
            ("source.ip", true),
            ("nope", false),
            ("tags", true),
            ("true", true),
            ("false", false),
            ("!true", false),
        ]);
    }

    #[test]
    fn boolean_logic_and_precedence() {
        assert_all(&[
            ("flag && off", false),
            ("flag || off", true),
            ("flag and not off", true),
            ("off or flag", true),
            ("!flag || flag", true),
            ("!(flag && off)", true),
            ("!!flag", true),
            ("not not off", false),
            // && binds tighter than ||: true || (false && false).
            ("flag || off && off", true),
            ("(flag || off) && off", false),
            ("off && off || flag", true),
            (
                "http.response.status_code >= 400 && http.response.status_code < 500",
                true,
            ),
            (
                "http.request.method == 'POST' || http.request.method == 'GET' && flag",
                true,
            ),
            ("!(http.response.status_code == 404)", false),
            ("((((flag))))", true),
        ]);
    }

    #[test]
    fn missing_fields() {
        assert_all(&[
            ("nope == 'x'", false),
            ("nope != 'x'", true),
            ("nope == 0", false),
            ("nope == false", false),
            ("nope == null", true),
            ("nope != null", false),
            ("source.ip != null", true),
            ("nope < 5", false),
            ("nope >= 5", false),
            ("nope < 'a'", false),
            ("nope in ['a']", false),
            ("'a' in nope", false),
            ("nope contains 'a'", false),
            ("nope starts_with ''", false),
            ("a.b.c.d == 1", false),
            ("message.deeper == 'x'", false),
            ("nope == other_nope", true),
            ("nope == source.ip", false),
        ]);
    }

    #[test]
    fn wrong_types_are_false_at_run_time() {
        assert_all(&[
            ("http.response.status_code == '404'", false),
            ("http.response.status_code != '404'", true),
            ("http.request.method == 1", false),
            ("http.request.method > 1", false),
            ("http.response.status_code > 'a'", false),
            ("flag == 1", false),
            ("flag > 0", false),
            ("http.response.status_code contains '4'", false),
            ("http.response.status_code starts_with '4'", false),
            ("tags starts_with 'p'", false),
            ("message contains 1", false),
            ("obj contains 'a'", false),
            ("tags == 'nginx'", false),
            ("tags != 'nginx'", true),
            ("event.category == 'web'", false),
            ("tags < 'z'", false),
            ("source.geo < 1", false),
            ("source.geo == 0", false),
        ]);
    }

    #[test]
    fn metadata_ingest_and_quoted_fields() {
        assert_all(&[
            ("_index == 'logs-nginx'", true),
            ("_index starts_with 'logs-'", true),
            ("_ingest.kafka.topic == 'nginx'", true),
            ("_ingest.kafka.partition == 3", true),
            ("_source.http.request.method == 'GET'", true),
            ("`weird name`.x == 1", true),
            ("`weird name.x` == 1", true),
            ("ctx['weird name']['x'] == 1", true),
            ("ctx[\"weird name\"].x == 1", true),
            ("user-agent == 'curl'", true),
            ("@timestamp starts_with '2024'", true),
            ("`in` == 'keyword-named field'", true),
            ("ctx.in starts_with 'keyword'", true),
            ("tags.1 == 'nginx'", true),
            ("ctx.tags[1] == 'nginx'", true),
            ("tags.9 == 'nginx'", false),
        ]);
    }

    #[test]
    fn painless_ports() {
        assert_all(&[
            ("ctx.event?.dataset == 'nginx.access'", true),
            ("ctx?.event?.dataset == 'nginx.access'", true),
            ("ctx.event.dataset == \"nginx.access\"", true),
            ("ctx.error?.message != null", false),
            ("ctx.error?.message == null", true),
            ("ctx?.source?.ip != null", true),
            ("ctx.source?.geo == null", true),
            ("ctx['event']['dataset'] == 'nginx.access'", true),
            ("ctx.event?['dataset'] == 'nginx.access'", true),
            (
                "ctx?.tags == null || !(ctx.tags.contains('preserve_original_event'))",
                false,
            ),
            ("ctx.tags.contains('nginx') && ctx.message.startsWith('GET')", true),
            ("ctx.message.endsWith('1.1')", true),
            ("ctx.message.contains('index')", true),
            ("ctx.containsKey('message')", true),
            ("ctx.containsKey('nope')", false),
            ("ctx.http.containsKey('request')", true),
            ("ctx.http?.response?.status_code >= 400", true),
            ("ctx._index == 'logs-nginx'", true),
            ("ctx.message =~ /GET/", true),
            ("ctx.message ==~ /GET.*1/", true),
            ("ctx.tags?.contains('nginx')", true),
            ("!ctx.containsKey('nope')", true),
            ("ctx.message != null && ctx.message != ''", true),
        ]);
    }

    #[test]
    fn unicode_field_names_and_values() {
        let d = doc(json!({"ünïcode": {"名前": "値"}, "emoji": "🚀 launch", "plain": "naïve"}));
        for src in [
            "`ünïcode.名前` == '値'",
            "`ünïcode`.`名前` == '値'",
            "ctx['ünïcode']['名前'] == '値'",
            "ctx.`ünïcode`?.`名前` == \"値\"",
            "emoji starts_with '🚀'",
            "emoji =~ /^\\p{Emoji}/",
            "plain contains 'ï'",
            "!(plain contains 'i')",
            "plain > 'naive'",
            "'🚀' in emoji",
        ] {
            let c = Condition::compile(src).unwrap_or_else(|e| panic!("`{src}`: {e}"));
            assert!(c.eval(&d), "`{src}`");
        }
        // Columns count characters, not bytes.
        assert!(err("`ünïcode` == '値' &&").starts_with("at column 20: expected a condition after `&&`"));
    }

    #[test]
    fn literals_and_escapes() {
        let d = doc(json!({
            "q": "it's \"quoted\"\\",
            "nl": "a\nb\tc",
            "u": "é😀",
            "slash": "a/b",
            "f": 1e3,
        }));
        for src in [
            r#"q == 'it\'s "quoted"\\'"#,
            r#"q == "it's \"quoted\"\\""#,
            r"nl == 'a\nb\tc'",
            r"u == '\u00e9\u{1F600}'",
            r"u == 'é😀'",
            r"u starts_with 'é'",
            r"slash == 'a\/b'",
            r"slash =~ /^a\/b$/",
            "f == 1000",
            "f == 1e3",
            "f == 10E2",
            "f > 999.99",
            "f >= -1.5e-3",
        ] {
            let c = Condition::compile(src).unwrap_or_else(|e| panic!("`{src}`: {e}"));
            assert!(c.eval(&d), "`{src}`");
        }
    }

    #[test]
    fn literal_comparisons_are_folded_and_type_checked() {
        assert_all(&[
            ("1 == 1.0", true),
            ("'a' < 'b'", true),
            ("'abc' contains 'b'", true),
            ("'b' in ['a', 'b']", true),
            ("'abc' =~ /c$/", true),
            ("null == null", true),
            ("2 < 1", false),
        ]);
        assert!(err("'a' < 5").contains("cannot compare a string with a number"));
        assert!(err("1 == 'a'").contains("cannot compare a number with a string"));
        assert!(err("true == null").contains("cannot compare a boolean with a null"));
        assert!(err("'abc' contains 1").contains("a string can only contain a string"));
    }

    #[test]
    fn error_positions() {
        let cases = [
            (
                "status ==",
                "at column 10: expected a value after `==`, found end of input",
            ),
            (
                "a == 1 &&",
                "at column 10: expected a condition after `&&`, found end of input",
            ),
            (
                "a == 1 b",
                "at column 8: expected `&&`, `||` or end of input, found field `b`",
            ),
            (
                "(a == 1",
                "at column 8: expected `)` to close the `(` at column 1, found end of input",
            ),
            ("a == 1)", "at column 7: found `)` without a matching `(`"),
            ("a = 1", "at column 3: `=` is not an operator; use `==` to compare"),
            ("a == 'abc", "at column 6: unterminated string"),
            ("a =~ /abc", "at column 6: unterminated regex literal"),
            ("a & b", "at column 3: `&` is not an operator"),
            ("a == 1 == 2", "at column 8: comparisons cannot be chained"),
            (
                "a < true",
                "at column 5: `<` needs a number or a string here, found a boolean",
            ),
            ("a =~ b", "at column 6: the right side of `=~` must be a regex literal"),
            (
                "a =~ 5",
                "at column 6: expected a regex literal (/…/) or a string after `=~`, found a number",
            ),
            ("a =~ /(/", "at column 6: invalid regular expression"),
            (
                "a in 5",
                "at column 6: `in` needs a string or a list here, found a number",
            ),
            ("a in ['x', [1]]", "at column 12: lists cannot contain lists"),
            ("a in ['x', b]", "at column 12: list items must be literals"),
            (
                "a in ['x' 'y']",
                "at column 11: expected `,` or `]` to close the `[` at column 6, found string 'y'",
            ),
            ("a == [1]", "at column 6: `==` cannot compare with a list; use `in`"),
            (
                "a contains ['x']",
                "at column 12: `contains` looks for a single value, not a list",
            ),
            ("'abc'", "at column 1: a string on its own is not a condition"),
            ("a && 5", "at column 6: a number on its own is not a condition"),
            ("/x/", "at column 1: a regex literal on its own is not a condition"),
            (
                "a == /x/",
                "at column 6: a regex literal can only be used right of `=~` or `==~`",
            ),
            (
                "!a == b",
                "at column 1: the left side of `==` must be a field or a value, not a condition (`!` applies",
            ),
            (
                "a == (b)",
                "at column 6: the right side of `==` must be a field or a value, not a condition",
            ),
            ("", "at column 1: the condition is empty"),
            ("   ", "at column 4: the condition is empty"),
            ("a == 1 && é", "at column 11: unexpected character `é`"),
            ("ümlaut == 1", "at column 1: unexpected character `ü`"),
            ("'ü' == 'é' && x ==", "at column 19: expected a value after `==`"),
            ("a.", "at column 2: expected a field name after `.`"),
            ("a..b == 1", "at column 2: expected a field name after `.`"),
            ("ctx == 1", "at column 1: `ctx` on its own is not a field"),
            ("ctx['a.b'] == 1", "at column 5: the key 'a.b' contains a dot"),
            ("ctx[a] == 1", "at column 5: expected a quoted key or an array index"),
            ("ctx['a' == 1", "at column 9: expected `]` to close the `[` at column 4"),
            ("_index.x == 1", "at column 1: `_index` has no sub-fields"),
            ("a.size() > 1", "at column 3: unknown function `size`"),
            ("len(a) > 1", "at column 1: unknown function `len`"),
            ("exists a", "at column 1: `exists` is written `exists(field)`"),
            (
                "exists('a')",
                "at column 8: `exists` takes a field name, found string 'a'",
            ),
            ("exists(a", "at column 9: expected `)` to close `exists(` at column 1"),
            ("!5 exists", "at column 2: a number on its own is not a condition"),
            ("(a) exists", "at column 5: `exists` must follow a field name"),
            ("a == 1.5.2", "at column 6: invalid number"),
            ("a == 12abc", "at column 6: invalid number"),
            (
                "a == 99999999999999999999",
                "at column 6: the number 99999999999999999999 is out of range",
            ),
            ("a == 1e999", "at column 6: the number 1e999 is out of range"),
            ("a == 'x\\q'", "at column 8: unknown escape `\\q`"),
            ("a == '\\uZZZZ'", "at column 7: a unicode escape is"),
            (
                "a == '\\u{D800}'",
                "at column 7: `\\uD800` is not a valid unicode character",
            ),
            ("a =~ /x/g", "at column 9: unknown or repeated regex flag `g`"),
            ("`a == 1", "at column 1: unterminated backtick"),
            ("a ? b", "at column 3: `?` is only allowed in `?.`"),
            ("a == -b", "at column 6: unexpected character `-`"),
            ("contains('x')", "at column 1: expected a condition, found `contains`"),
            (
                "startsWith('x')",
                "at column 1: `startsWith(…)` must be called on a field",
            ),
            (
                "a.contains('x'",
                "at column 15: expected `)` to close `contains(` at column 3, found end of input",
            ),
            (
                "a.containsKey(1)",
                "at column 15: `containsKey` takes one quoted key without dots",
            ),
            ("a.`b`('x')", "at column 4: a quoted field name cannot be called"),
            (
                "a starts_with 1",
                "at column 15: `starts_with` needs a string here, found a number",
            ),
            ("a ==", "at column 5: expected a value after `==`, found end of input"),
            ("a == )", "at column 6: expected a value after `==`, found `)`"),
            (
                "not",
                "at column 4: expected a condition after `not`, found end of input",
            ),
            (
                "a or",
                "at column 5: expected a condition after `or`, found end of input",
            ),
        ];
        for (src, want) in cases {
            let got = err(src);
            assert!(got.starts_with(want), "`{src}`\n  got:  {got}\n  want: {want}…");
        }
    }

    #[test]
    fn multi_line_sources_report_the_line() {
        let src = "a == 1 &&\n  b ==\n";
        assert_eq!(
            err(src),
            "at line 3, column 1: expected a value after `==`, found end of input"
        );
        let src = "a == 1 &&\n  b = 2";
        assert_eq!(
            err(src),
            "at line 2, column 5: `=` is not an operator; use `==` to compare"
        );
        // A single line with a trailing newline (YAML `|`) keeps the short form.
        assert!(err("a =\n").starts_with("at column 3:"));
    }

    #[test]
    fn depth_limit() {
        let ok = format!("{}flag{}", "(".repeat(parser::MAX_DEPTH), ")".repeat(parser::MAX_DEPTH));
        assert!(check(&ok));
        let too_deep = format!(
            "{}flag{}",
            "(".repeat(parser::MAX_DEPTH + 1),
            ")".repeat(parser::MAX_DEPTH + 1)
        );
        assert!(err(&too_deep).contains("nested more than 64 levels"));
        let bangs = format!("{}flag", "!".repeat(parser::MAX_DEPTH + 1));
        assert!(err(&bangs).contains("nested more than 64 levels"));
        // Long flat chains are not nesting.
        let chain = vec!["flag"; 10_000].join(" && ");
        assert!(check(&chain));
        let chain = vec!["off"; 10_000].join(" || ");
        assert!(!check(&chain));
    }

    #[test]
    fn whitespace_is_free() {
        assert!(check("  http.response.status_code>=400&&http.request.method=='GET'  "));
        assert!(check("\n\t(flag)\n||\toff\n"));
        assert!(check("!flag||flag"));
    }

    #[test]
    fn condition_is_send_sync_and_clone() {
        fn assert_traits<T: std::fmt::Debug + Clone + Send + Sync>() {}
        assert_traits::<Condition>();
        let c = Condition::compile("message =~ /GET/").unwrap();
        assert!(c.clone().eval(&nginx()));
    }

    /// Through a real pipeline file: the processor is skipped when the
    /// condition is false, and a bad condition names file and processor.
    #[test]
    fn in_a_pipeline() {
        use crate::pipeline::{CompileOptions, PipelineSet, Processed};

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(
            &file,
            "processors:\n  - set:\n      field: event.outcome\n      value: failure\n      \
             if: ctx.http?.response?.status_code >= 500\n",
        )
        .unwrap();
        let set = PipelineSet::load_files(std::slice::from_ref(&file), &CompileOptions::default()).unwrap();
        let outcome = |source: Value| match set.run("p", doc(source)) {
            Processed::Document(d) => d.source.get("event").map(Value::from),
            _ => panic!("pipeline failed"),
        };
        assert_eq!(
            outcome(json!({"http": {"response": {"status_code": 503}}})),
            Some(json!({"outcome": "failure"}))
        );
        assert_eq!(outcome(json!({"http": {"response": {"status_code": 200}}})), None);
        assert_eq!(outcome(json!({"http": {"response": {"status_code": "503"}}})), None);
        assert_eq!(outcome(json!({})), None);

        std::fs::write(
            &file,
            "processors:\n  - set: { field: a, value: 1 }\n  - set: { field: b, value: 2, if: 'a ==' }\n",
        )
        .unwrap();
        let err = PipelineSet::load_files(&[file], &CompileOptions::default())
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            err.contains("p.yaml: processors[1] (set): in `if`: at column 5: expected a value after `==`"),
            "{err}"
        );
    }

    /// Random documents and random expressions built from the grammar.
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "[a-c]{0,3}".prop_map(Value::String),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::btree_map("[a-c]", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn document() -> impl Strategy<Value = Document> {
            prop::collection::btree_map("[a-c]", json_value(), 0..4).prop_map(|m| {
                let mut d = Document::from_source(m.into_iter().collect::<serde_json::Map<_, _>>());
                d.meta.insert("_index", json!("i"));
                d
            })
        }

        fn field() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-c](\\.[a-c0-2]){0,2}",
                "ctx(\\?)?\\.[a-c](\\?\\.[a-c]){0,2}",
                "ctx\\['[a-c]'\\](\\[[0-2]\\])?",
                Just("_index".to_owned()),
                Just("`a b`".to_owned()),
            ]
        }

        fn literal() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("false".to_owned()),
                any::<i64>().prop_map(|i| i.to_string()),
                (-1e6f64..1e6).prop_map(|f| format!("{f:?}")),
                "[a-c ]{0,3}".prop_map(|s| format!("'{s}'")),
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![field(), literal()]
        }

        fn regex() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-c]{0,3}",
                prop::sample::select(vec!["^a", "b$", "a|b", ".*c", "[ab]+", "(?s).", "\\d+", "é?", "^$"])
                    .prop_map(str::to_owned),
            ]
        }

        fn comparison() -> impl Strategy<Value = String> {
            let op = prop_oneof![
                Just("=="),
                Just("!="),
                Just("<"),
                Just("<="),
                Just(">"),
                Just(">="),
                Just("contains"),
                Just("starts_with"),
                Just("ends_with"),
            ];
            prop_oneof![
                (value(), op, value()).prop_map(|(l, o, r)| format!("{l} {o} {r}")),
                (value(), prop::collection::vec(literal(), 0..4))
                    .prop_map(|(l, items)| format!("{l} in [{}]", items.join(", "))),
                (value(), field()).prop_map(|(l, r)| format!("{l} in {r}")),
                (field(), regex()).prop_map(|(f, re)| format!("{f} =~ /{re}/")),
                (field(), regex()).prop_map(|(f, re)| format!("{f} ==~ /{re}/i")),
                field().prop_map(|f| format!("exists({f})")),
                field(),
                field().prop_map(|f| format!("{f}.contains('a')")),
            ]
        }

        fn expression() -> impl Strategy<Value = String> {
            comparison().prop_recursive(5, 40, 3, |inner| {
                prop_oneof![
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
                    (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
                    inner.clone().prop_map(|a| format!("!({a})")),
                    inner.prop_map(|a| format!("({a})")),
                ]
            })
        }

        proptest! {
            #[test]
            fn compile_never_panics_on_arbitrary_text(src in any::<String>()) {
                let _ = Condition::compile(&src);
            }

            #[test]
            fn compile_never_panics_on_near_miss_text(src in "[a-c0-9 .?'\"`\\[\\]()!=<>~&|/\\\\,\\-eé]{0,30}") {
                let _ = Condition::compile(&src);
            }

            #[test]
            fn random_expressions_never_panic(src in expression(), docs in prop::collection::vec(document(), 1..4)) {
                // Literal-only comparisons of mismatched types are rejected
                // at load time; everything else must compile and evaluate.
                if let Ok(c) = Condition::compile(&src) {
                    for d in &docs {
                        let _ = c.eval(d);
                    }
                }
            }

            #[test]
            fn not_equal_is_the_negation_of_equal(l in value(), r in value(), d in document()) {
                if let (Ok(eq), Ok(ne)) = (
                    Condition::compile(&format!("{l} == {r}")),
                    Condition::compile(&format!("{l} != {r}")),
                ) {
                    prop_assert_ne!(eq.eval(&d), ne.eval(&d));
                }
            }

            #[test]
            fn in_list_is_a_chain_of_equalities(l in field(), items in prop::collection::vec(literal(), 1..4), d in document()) {
                let membership = Condition::compile(&format!("{l} in [{}]", items.join(", "))).unwrap();
                let ors: Vec<String> = items.iter().map(|i| format!("{l} == {i}")).collect();
                let chain = Condition::compile(&ors.join(" || ")).unwrap();
                prop_assert_eq!(membership.eval(&d), chain.eval(&d));
            }

            #[test]
            fn field_expressions_compile(f in field(), lit in literal()) {
                for op in ["==", "!="] {
                    let src = format!("{f} {op} {lit}");
                    prop_assert!(Condition::compile(&src).is_ok(), "{}", src);
                }
            }
        }
    }
}
