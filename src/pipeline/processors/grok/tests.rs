use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;
use crate::pipeline::compile::{CompileOptions, SharedResources};
use crate::pipeline::processors::test_util::{run, run_err, try_run};

fn build_in(config: Value, file: &Path) -> Result<Box<dyn Processor>, String> {
    build_concrete(config, file).map(|g| Box::new(g) as Box<dyn Processor>)
}

fn build_concrete(config: Value, file: &Path) -> Result<Grok, String> {
    let options = CompileOptions::default();
    let names = HashSet::new();
    let resources = SharedResources::default();
    let ctx = CompileContext {
        options: &options,
        file,
        pipeline_names: &names,
        resources: &resources,
    };
    build_grok(&config, &ctx)
}

fn grok(config: Value) -> Box<dyn Processor> {
    match build_in(config, Path::new("pipelines/test.yaml")) {
        Ok(p) => p,
        Err(e) => panic!("build failed: {e}"),
    }
}

fn grok_err(config: Value) -> String {
    match build_in(config, Path::new("pipelines/test.yaml")) {
        Ok(_) => panic!("expected a build error"),
        Err(e) => e,
    }
}

const NGINX_PATTERN: &str = r#"%{IPORHOST_LIST:nginx.access.remote_ip_list} - (-|%{DATA:user.name}) \[%{HTTPDATE:nginx.access.time}\] "%{DATA:nginx.access.info}" %{NUMBER:http.response.status_code:long} %{NUMBER:http.response.body.bytes:long} "(-|%{DATA:http.request.referrer})" "(-|%{DATA:user_agent.original})""#;

fn nginx() -> Box<dyn Processor> {
    grok(json!({
        "field": "message",
        "patterns": [NGINX_PATTERN],
        "pattern_definitions": {"IPORHOST_LIST": "%{IPORHOST}(?:, ?%{IPORHOST})*"}
    }))
}

#[test]
fn nginx_combined_with_forwarded_for() {
    let line = r#"203.0.113.7 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "https://example.com/a" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0 Safari/537.36" "198.51.100.1, 10.0.0.1""#;
    let out = run(nginx(), json!({ "message": line }));
    assert_eq!(
        out,
        json!({
            "message": line,
            "nginx": {"access": {
                "remote_ip_list": "203.0.113.7",
                "time": "10/Oct/2023:13:55:36 +0000",
                "info": "GET /index.html?q=1 HTTP/1.1"
            }},
            "http": {
                "response": {"status_code": 200, "body": {"bytes": 612}},
                "request": {"referrer": "https://example.com/a"}
            },
            "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0 Safari/537.36"}
        })
    );
}

#[test]
fn nginx_ipv6_user_and_dash_fields() {
    let line =
        r#"2001:db8::1 - alice [10/Oct/2023:13:55:36 -0700] "POST /api/v1/items HTTP/2.0" 201 0 "-" "curl/8.4.0" "-""#;
    let out = run(nginx(), json!({ "message": line }));
    assert_eq!(out["nginx"]["access"]["remote_ip_list"], json!("2001:db8::1"));
    assert_eq!(out["user"]["name"], json!("alice"));
    assert_eq!(out["http"]["response"]["body"]["bytes"], json!(0));
    assert_eq!(out["user_agent"]["original"], json!("curl/8.4.0"));
    // `-` alternatives did not take part: the fields are not set at all.
    assert!(out["http"].get("request").is_none(), "{out}");
}

#[test]
fn nginx_empty_request_and_address_list() {
    let line = r#"10.1.2.3, 192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "" 400 0 "-" "-" "198.51.100.1""#;
    let out = run(nginx(), json!({ "message": line }));
    assert_eq!(out["nginx"]["access"]["remote_ip_list"], json!("10.1.2.3, 192.0.2.1"));
    assert_eq!(out["nginx"]["access"]["info"], json!(""));
    assert_eq!(out["http"]["response"]["status_code"], json!(400));
    assert!(out.get("user_agent").is_none(), "{out}");
}

#[test]
fn legacy_combined_apache_log() {
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let out = run(
        grok(json!({"field": "message", "patterns": ["%{COMBINEDAPACHELOG}"]})),
        json!({ "message": line }),
    );
    assert_eq!(out["clientip"], json!("127.0.0.1"));
    assert_eq!(out["auth"], json!("frank"));
    assert_eq!(out["verb"], json!("GET"));
    assert_eq!(out["request"], json!("/apache_pb.gif"));
    assert_eq!(out["httpversion"], json!("1.0"));
    assert_eq!(out["response"], json!("200"));
    assert_eq!(out["bytes"], json!("2326"));
    assert_eq!(out["referrer"], json!("\"http://www.example.com/start.html\""));
    assert_eq!(out["timestamp"], json!("10/Oct/2000:13:55:36 -0700"));
    // Groups of the other alternative did not take part.
    assert!(out.get("rawrequest").is_none());
}

#[test]
fn ecs_v1_patterns_use_nested_fields() {
    let line =
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "curl/7.1""#;
    let out = run(
        grok(json!({"field": "message", "patterns": ["%{HTTPD_COMBINEDLOG}"], "ecs_compatibility": "v1"})),
        json!({ "message": line }),
    );
    assert_eq!(out["source"]["address"], json!("127.0.0.1"));
    assert_eq!(out["user"]["name"], json!("frank"));
    assert_eq!(out["http"]["request"]["method"], json!("GET"));
    assert_eq!(out["http"]["response"]["status_code"], json!(200));
    assert_eq!(out["http"]["response"]["body"]["bytes"], json!(2326));
    assert_eq!(out["url"]["original"], json!("/apache_pb.gif"));
    assert_eq!(out["user_agent"]["original"], json!("curl/7.1"));
    assert!(out["http"]["request"].get("referrer").is_none());

    // The Logstash `[a][b]` notation of the ecs-v1 syslog patterns.
    let out = run(
        grok(
            json!({"field": "message", "patterns": ["%{SYSLOGBASE} %{GREEDYDATA:message}"], "ecs_compatibility": "v1"}),
        ),
        json!({ "message": "Mar  7 10:11:12 web-1 sshd[4242]: Accepted publickey" }),
    );
    assert_eq!(out["host"]["hostname"], json!("web-1"));
    assert_eq!(out["process"]["name"], json!("sshd"));
    assert_eq!(out["process"]["pid"], json!(4242));
    assert_eq!(out["message"], json!("Accepted publickey"));
    let out = run(
        grok(json!({"field": "message", "patterns": ["%{RUBY_LOGGER}"], "ecs_compatibility": "v1"})),
        json!({ "message": "I, [2023-10-10T10:00:00.123 #77]  INFO -- app: started" }),
    );
    assert_eq!(out["process"], json!({"pid": 77, "name": "app"}));
    assert_eq!(out["log"]["level"], json!("INFO"));
}

#[test]
fn every_builtin_pattern_compiles() {
    for (ecs, mode) in [(EcsCompatibility::Disabled, "disabled"), (EcsCompatibility::V1, "v1")] {
        let mut names: Vec<&String> = patterns::builtin(ecs).keys().collect();
        names.sort();
        for name in names {
            let config = json!({"field": "m", "patterns": [format!("%{{{name}}}")], "ecs_compatibility": mode});
            if let Err(e) = build_in(config, Path::new("p.yaml")) {
                panic!("{mode}: {name}: {e}");
            }
        }
    }
}

#[test]
fn typed_captures() {
    let p = || {
        grok(json!({
            "field": "m",
            "patterns": ["%{INT:i:int} %{INT:l:long} %{NUMBER:f:float} %{NUMBER:d:double} %{WORD:b:boolean} %{WORD:s:string}"]
        }))
    };
    let out = run(p(), json!({"m": "-42 9000000000 2.75 2500.5 TRUE x"}));
    assert_eq!(out["i"], json!(-42));
    assert_eq!(out["l"], json!(9_000_000_000_i64));
    assert_eq!(out["f"], json!(2.75));
    assert_eq!(out["d"], json!(2500.5));
    assert_eq!(out["b"], json!(true));
    assert_eq!(out["s"], json!("x"));
    let out = run(p(), json!({"m": "1 2 0.1 1 no y"}));
    assert_eq!(
        out["b"],
        json!(false),
        "Java's parseBoolean: anything but `true` is false"
    );
    // Single precision, printed shortest as ES does.
    let out = run(p(), json!({"m": "1 2 0.123456789 1 no y"}));
    assert_eq!(out["f"], json!(0.12345679));
}

#[test]
fn failed_conversions_are_record_errors() {
    let p = grok(json!({"field": "m", "patterns": ["%{INT:n:int}"]}));
    let err = run_err(p, json!({"m": "99999999999"}));
    assert!(err.contains("`n`") && err.contains("int"), "{err}");
    let p = grok(json!({"field": "m", "patterns": ["%{NOTSPACE:n:double}"]}));
    assert!(run_err(p, json!({"m": "abc"})).contains("double"));
    // Nothing was set before the failure.
    let p = grok(json!({"field": "m", "patterns": ["%{WORD:w} %{NOTSPACE:n:long}"]}));
    assert!(try_run(p, json!({"m": "word x"})).is_err());
}

#[test]
fn unknown_capture_type_is_a_load_error() {
    let err = grok_err(json!({"field": "m", "patterns": ["%{INT:n:integer}"]}));
    assert!(err.contains("unknown type `integer`") && err.contains("long"), "{err}");
    let err = grok_err(json!({"field": "m", "patterns": ["%{INT:a:b:c}"]}));
    assert!(err.contains("too many"), "{err}");
}

#[test]
fn first_matching_pattern_wins_and_trace_match() {
    let config = |trace: bool| {
        json!({
            "field": "m",
            "patterns": ["%{INT:num:int}$", "%{WORD:word}", "%{GREEDYDATA:any}"],
            "trace_match": trace
        })
    };
    let (_, doc) = try_run(grok(config(true)), json!({"m": "hello"})).unwrap();
    assert_eq!(doc.source.to_json(), json!({"m": "hello", "word": "hello"}));
    assert_eq!(doc.ingest["_grok_match_index"], json!("1"));
    let (_, doc) = try_run(grok(config(true)), json!({"m": "12"})).unwrap();
    assert_eq!(doc.source["num"], json!(12));
    assert_eq!(doc.ingest["_grok_match_index"], json!("0"));
    let (_, doc) = try_run(grok(config(false)), json!({"m": "12"})).unwrap();
    assert!(doc.ingest.is_empty());
    let single = grok(json!({"field": "m", "patterns": ["%{WORD:w}"], "trace_match": true}));
    let (_, doc) = try_run(single, json!({"m": "x"})).unwrap();
    assert_eq!(doc.ingest["_grok_match_index"], json!("0"));
}

#[test]
fn same_field_in_alternatives_takes_the_one_that_matched() {
    let p = || grok(json!({"field": "m", "patterns": ["(?:%{INT:v:int}|%{WORD:v})!"]}));
    assert_eq!(run(p(), json!({"m": "7!"}))["v"], json!(7));
    assert_eq!(run(p(), json!({"m": "seven!"}))["v"], json!("seven"));
    // Same name across patterns.
    let p = grok(json!({"field": "m", "patterns": ["^a %{WORD:v}", "^b %{INT:v:int}"]}));
    assert_eq!(run(p, json!({"m": "b 5"}))["v"], json!(5));
}

#[test]
fn raw_named_groups_with_dots_and_brackets() {
    let p = grok(json!({
        "field": "m",
        "patterns": [r"(?<source.ip>\d+\.\d+\.\d+\.\d+) (?<[event][code]>\d+) (?<x:y:int>\d+)"]
    }));
    let out = run(p, json!({"m": "10.0.0.1 4625 12"}));
    assert_eq!(out["source"]["ip"], json!("10.0.0.1"));
    assert_eq!(out["event"]["code"], json!("4625"));
    assert_eq!(out["y"], json!(12), "ES splits raw group names on `:` too");
}

#[test]
fn captures_can_overwrite_the_source_field() {
    let p = grok(json!({"field": "message", "patterns": ["%{WORD:level}: %{GREEDYDATA:message}"]}));
    let out = run(p, json!({"message": "ERROR: disk full"}));
    assert_eq!(out, json!({"level": "ERROR", "message": "disk full"}));
}

#[test]
fn unicode_values_are_matched_by_character() {
    let p = grok(json!({"field": "m", "patterns": [r"^(?<initial>.)%{GREEDYDATA:rest} (?<two>.{2})$"]}));
    let out = run(p, json!({"m": "Élodie Ñü"}));
    assert_eq!(out["initial"], json!("É"));
    assert_eq!(out["rest"], json!("lodie"));
    assert_eq!(out["two"], json!("Ñü"));
    // Built-ins with non-ASCII text (MONTH accepts `Mär`).
    let p = grok(json!({"field": "m", "patterns": ["%{MONTH:month} %{WORD:w}"]}));
    assert_eq!(run(p, json!({"m": "Mär x"}))["month"], json!("Mär"));
    // Unicode properties work; \w stays ASCII, as in Ruby.
    let p = grok(json!({"field": "m", "patterns": [r"(?<word>\p{L}+)"]}));
    assert_eq!(run(p, json!({"m": "12 Größe!"}))["word"], json!("Größe"));
    let p = grok(json!({"field": "m", "patterns": [r"(?<w>\w+)"]}));
    assert_eq!(run(p, json!({"m": "éa1"}))["w"], json!("a1"));
}

#[test]
fn ruby_hex_escape_in_builtin() {
    let p = grok(json!({"field": "m", "patterns": ["id=%{RUUID:id}"]}));
    let out = run(p, json!({"m": "id=0123456789abcdefABCDEF0123456789"}));
    assert_eq!(out["id"], json!("0123456789abcdefABCDEF0123456789"));
}

#[test]
fn missing_null_and_non_string_fields() {
    let p = || grok(json!({"field": "a.b", "patterns": ["%{WORD:w}"]}));
    assert!(run_err(p(), json!({})).contains("`a.b` doesn't exist"));
    assert!(run_err(p(), json!({"a": {"b": null}})).contains("null"));
    let err = run_err(p(), json!({"a": {"b": 5}}));
    assert!(err.contains("number") && err.contains("`a.b`"), "{err}");
    let p = || grok(json!({"field": "a.b", "patterns": ["%{WORD:w}"], "ignore_missing": true}));
    assert_eq!(run(p(), json!({})), json!({}));
    assert_eq!(run(p(), json!({"a": {"b": null}})), json!({"a": {"b": null}}));
    assert!(run_err(p(), json!({"a": {"b": [1]}})).contains("array"));
}

#[test]
fn no_match_names_the_field() {
    let p = grok(json!({"field": "message", "patterns": ["^%{INT:n}$"]}));
    let err = run_err(p, json!({"message": "not a number"}));
    assert!(
        err.contains("field `message` does not match any of the grok patterns") && err.contains("not a number"),
        "{err}"
    );
    let p = grok(json!({"field": "message", "patterns": ["^%{INT:n}$"]}));
    let err = run_err(p, json!({"message": "y".repeat(10_000)}));
    assert!(err.len() < 500, "the value is shortened in the error");
}

#[test]
fn setting_into_a_scalar_is_a_record_error() {
    let p = grok(json!({"field": "m", "patterns": ["%{WORD:m.sub}"]}));
    assert!(run_err(p, json!({"m": "text"})).contains("cannot set"));
}

#[test]
fn pathological_backtracking_is_a_bounded_record_failure() {
    let p = grok(json!({"field": "m", "patterns": [r"^(?<w>(\w+\s?)*)$"]}));
    let value = format!("{}!", "ab ".repeat(5_000));
    let started = std::time::Instant::now();
    let err = run_err(p, json!({ "m": value }));
    assert!(err.contains("aborted"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A value the match limit does not bound: the shipped nginx pattern starts
/// with runs (`[^\t ,:]+`, `\S+`) that scan to the end of a token from
/// every start position, counted as a few backtracking steps each. On
/// 600 KB without spaces that took minutes before `timeout_millis`.
#[test]
fn scanning_from_every_position_is_stopped_by_the_time_limit() {
    let shipped: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../../pipelines/nginx-access.yaml")).expect("shipped YAML");
    let mut config = grok_options(&shipped["processors"][0]["grok"]);
    config["timeout_millis"] = json!(50);
    let value = format!("{} - - [ \" 1 1 \" \"", "x".repeat(1_000_000));
    // Over GUARD_ABOVE, so the guarded expression runs it, ASCII or not.
    let started = std::time::Instant::now();
    let err = run_err(grok(config.clone()), json!({ "m": value }));
    assert!(
        err.contains("grok matching of field `m` (1000016 bytes) was stopped after 50 ms (`timeout_millis`)"),
        "{err}"
    );
    // Without the limit this is minutes; a bound far above the 50 ms
    // shows that it stopped, not how fast.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // The default is 1,000 ms, as Elasticsearch's grok watchdog; 0 turns
    // the limit off, and lines still match either way.
    let line = r#"10.0.0.9 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.4.0" "-""#;
    for timeout in [json!(0), json!(1000)] {
        config["timeout_millis"] = timeout;
        let out = run(grok(config.clone()), json!({ "m": line }));
        assert_eq!(out["nginx"]["access"]["remote_ip_list"], json!("10.0.0.9"));
    }
    assert_eq!(
        build_concrete(json!({"field": "m", "patterns": ["x"]}), Path::new("p.yaml"))
            .map(|g| g.timeout)
            .ok(),
        Some(std::time::Duration::from_secs(1))
    );
    let err = grok_err(json!({"field": "m", "patterns": ["x"], "timeout_millis": -1}));
    assert!(
        err.contains("invalid options: `timeout_millis`: invalid value: integer `-1`, expected u64"),
        "{err}"
    );
}

/// Values longer than `GUARD_ABOVE` are matched by the expression with
/// the time limit's callout; it must find exactly what the plain one
/// finds. `timeout_millis: 0` has no guarded expression at all.
#[test]
fn the_guarded_expression_matches_like_the_plain_one() {
    let shipped: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../../pipelines/nginx-access.yaml")).expect("shipped YAML");
    let config = grok_options(&shipped["processors"][0]["grok"]);
    let mut plain_config = config.clone();
    plain_config["timeout_millis"] = json!(0);
    let guarded = build_concrete(config, Path::new("p.yaml")).expect("guarded");
    let plain = build_concrete(plain_config, Path::new("p.yaml")).expect("plain");
    assert!(guarded.guarded.is_some() && plain.guarded.is_none());
    let pad = |n: usize| "a".repeat(n);
    let lines = [
        format!(
            r#"10.0.0.9 - - [10/Oct/2023:13:55:36 +0000] "GET /{} HTTP/1.1" 200 5 "-" "curl/8.4.0" "-""#,
            pad(GUARD_ABOVE)
        ),
        format!(
            r#"example.com 10.0.0.9, 1.2.3.4 - bob [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "{}""#,
            pad(GUARD_ABOVE)
        ),
        format!(
            r#"{} 10.0.0.9 - - [10/Oct/2023:13:55:36 +0000] "" 400 0 "-" "-""#,
            pad(GUARD_ABOVE)
        ),
        format!(
            r#"10.0.0.9 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "é{}""#,
            pad(GUARD_ABOVE)
        ),
        format!("{} no match", pad(GUARD_ABOVE)),
    ];
    for line in &lines {
        assert!(line.len() > GUARD_ABOVE);
        let a = crate::pipeline::processors::test_util::try_run_ref(&guarded, json!({ "m": line }));
        let b = crate::pipeline::processors::test_util::try_run_ref(&plain, json!({ "m": line }));
        assert_eq!(a, b, "{}", &line[..60]);
    }
}

#[test]
fn long_values_match() {
    let p = nginx();
    let line = format!(
        r#"10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET /{} HTTP/1.1" 200 1 "-" "{}" "-""#,
        "a".repeat(200_000),
        "b".repeat(50_000)
    );
    let out = run(p, json!({ "message": line }));
    assert_eq!(out["user_agent"]["original"].as_str().map(str::len), Some(50_000));
}

#[test]
fn pattern_definitions_override_and_errors() {
    let p = grok(json!({
        "field": "m",
        "patterns": ["%{WORD:w} %{MINE:mine}"],
        "pattern_definitions": {"MINE": "%{INT}-%{INT}", "WORD": "[a-z]+"}
    }));
    let out = run(p, json!({"m": "abc 1-2"}));
    assert_eq!(out["w"], json!("abc"));
    assert_eq!(out["mine"], json!("1-2"));

    let err = grok_err(json!({"field": "m", "patterns": ["%{A}"], "pattern_definitions": {"A": "%{B}", "B": "x%{A}"}}));
    assert!(err.contains("recursive") && err.contains("A -> B -> A"), "{err}");
    let err = grok_err(json!({"field": "m", "patterns": ["x", "%{NOPE:y}"]}));
    assert!(
        err.contains("patterns[1]") && err.contains("unknown grok pattern `NOPE`"),
        "{err}"
    );
    let err = grok_err(json!({"field": "m", "patterns": ["%{A}"], "pattern_definitions": {"A": "%{MISSING}"}}));
    assert!(
        err.contains("`MISSING`") && err.contains("referenced from pattern `A`"),
        "{err}"
    );
    let err = grok_err(json!({"field": "m", "patterns": ["%{A}"], "pattern_definitions": {"bad name": "x"}}));
    assert!(err.contains("`bad name`"), "{err}");
}

#[test]
fn empty_pattern_matches_anything_without_capturing() {
    let p = grok(json!({"field": "m", "patterns": ["%{INT:n:int}", ""]}));
    let out = run(p, json!({"m": "no digits here"}));
    assert_eq!(out, json!({"m": "no digits here"}));
}

#[test]
fn invalid_options() {
    assert!(grok_err(json!({"field": "m", "patterns": []})).contains("must not be empty"));
    assert!(grok_err(json!({"field": "m"})).contains("patterns"));
    assert!(grok_err(json!({"field": "m", "patterns": ["x"], "bogus": 1})).contains("bogus"));
    assert!(grok_err(json!({"field": "m", "patterns": ["x"], "ecs_compatibility": "v8"})).contains("`disabled`"));
    let err = grok_err(json!({"field": "m", "patterns": ["ok", "%{WORD:w}(unclosed"]}));
    assert!(
        err.contains("patterns[1]") && err.contains("invalid regular expression"),
        "{err}"
    );
    let err = grok_err(json!({"field": "m", "patterns": [r"(a)\1"]}));
    assert!(err.contains("patterns[0]") && err.contains("back-reference"), "{err}");
    // A single string is accepted for `patterns`.
    let p = grok(json!({"field": "m", "patterns": "%{WORD:w}"}));
    assert_eq!(run(p, json!({"m": "x"}))["w"], json!("x"));
}

#[test]
fn patterns_dir_relative_to_the_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    let patterns = dir.path().join("patterns");
    std::fs::create_dir(&patterns).unwrap();
    std::fs::write(
        patterns.join("app"),
        "# app patterns\nAPP_ID app-%{INT}\nAPP_LINE %{APP_ID:app.id} %{GREEDYDATA:app.msg}\n",
    )
    .unwrap();
    let pipeline = dir.path().join("pipeline.yaml");
    let p = build_in(
        json!({"field": "m", "patterns": ["%{APP_LINE}"], "patterns_dir": "patterns"}),
        &pipeline,
    )
    .unwrap();
    let out = run(p, json!({"m": "app-7 started"}));
    assert_eq!(out["app"], json!({"id": "app-7", "msg": "started"}));

    let err = build_in(
        json!({"field": "m", "patterns": ["x"], "patterns_dir": ["nope"]}),
        &pipeline,
    )
    .err()
    .unwrap_or_default();
    assert!(err.contains("patterns_dir") && err.contains("nope"), "{err}");
    std::fs::write(patterns.join("broken"), "LONELY\n").unwrap();
    let err = build_in(
        json!({"field": "m", "patterns": ["x"], "patterns_dir": "patterns"}),
        &pipeline,
    )
    .err()
    .unwrap_or_default();
    assert!(err.contains("line 1") && err.contains("LONELY"), "{err}");
}

proptest::proptest! {
    #[test]
    fn arbitrary_values_never_panic(value in r"[ -~é→\n\t]{0,200}") {
        static NGINX: std::sync::OnceLock<Box<dyn Processor>> = std::sync::OnceLock::new();
        let p = NGINX.get_or_init(nginx);
        let mut doc = Document::from_message(value);
        let set = crate::pipeline::PipelineSet::empty();
        let mut ctx = ExecContext {
            pipelines: &set,
            pipeline: "test",
            depth: 0,
        };
        let _ = p.process(&mut doc, &mut ctx);
    }
}

fn nginx_lines(n: usize) -> Vec<String> {
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "curl/8.4.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    ];
    (0..n)
        .map(|i| {
            let ip = if i % 7 == 0 { format!("2001:db8::{:x}", i % 4096) } else { format!("10.{}.{}.{}", i % 250, (i / 250) % 250, i % 200) };
            let user = if i % 5 == 0 { "alice" } else { "-" };
            let request = if i % 97 == 0 { String::new() } else { format!("GET /api/v1/items/{i}?page={} HTTP/1.1", i % 13) };
            let referrer = if i % 3 == 0 { "-".to_owned() } else { format!("https://example.com/p/{}", i % 50) };
            format!(
                r#"{ip} - {user} [10/Oct/2023:13:{:02}:{:02} +0000] "{request}" {} {} "{referrer}" "{}" "198.51.100.{}, 10.0.0.1""#,
                (i / 60) % 60,
                i % 60,
                [200, 404, 301, 500][i % 4],
                i * 37 % 100_000,
                agents[i % 3],
                i % 255
            )
        })
        .collect()
}

/// Throughput of the nginx pattern on one thread, best of many short
/// rounds (the machine is shared). Run with
/// `cargo test --release --lib grok::tests::timing_nginx -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_nginx() {
    let p = nginx();
    let lines = nginx_lines(10_000);
    let set = crate::pipeline::PipelineSet::empty();
    let docs: Vec<Document> = lines.iter().map(|l| Document::from_message(l.clone())).collect();
    let mut best = f64::MAX;
    let mut total = std::time::Duration::ZERO;
    for round in 0..200 {
        let mut batch: Vec<Document> = docs.iter().skip((round * 50) % 9_800).take(200).cloned().collect();
        let start = std::time::Instant::now();
        for doc in &mut batch {
            let mut ctx = ExecContext {
                pipelines: &set,
                pipeline: "test",
                depth: 0,
            };
            if let Err(e) = p.process(doc, &mut ctx) {
                panic!("{e}");
            }
        }
        let elapsed = start.elapsed();
        total += elapsed;
        best = best.min(elapsed.as_secs_f64() / batch.len() as f64);
        std::hint::black_box(batch);
    }
    println!(
        "grok nginx: best {:.0} ns/line = {:.0} lines/s; mean {:.0} ns/line",
        best * 1e9,
        1.0 / best,
        total.as_secs_f64() * 1e9 / 40_000.0
    );
}

/// The lookahead put in front of the built-in IPV6 must not change what it
/// matches: compare with the vendored definition on listed and random texts.
#[test]
fn ipv6_guard_changes_no_match() {
    let raw = vendored_definition("IPV6");
    let guarded = grok(json!({"field": "m", "patterns": ["%{IPV6:ip}"]}));
    let vendored = grok(json!({
        "field": "m",
        "patterns": ["%{RAW_IPV6:ip}"],
        "pattern_definitions": {"RAW_IPV6": raw}
    }));
    let mut texts: Vec<String> = [
        "::",
        "::1",
        "1::",
        "fe80::1%eth0",
        "2001:db8::1",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::ffff:192.0.2.1",
        "1:2:3:4:5:6:1.2.3.4",
        "12345::1",
        "10.0.0.1",
        "-",
        "host:80",
        "a b 2001:db8::7 c",
        "x::y",
        "1:2",
        "g::1",
        "ABCD:ef01::",
        "[::1]:443",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Random texts made of IPv6-like pieces, from a fixed LCG.
    let pieces = [
        "0", "1a", "ffff", "DB8", "12345", ":", ":", "::", ".", "1.2.3.4", "%eth0", " ", "g", "7",
    ];
    texts.extend(random_texts(&pieces, 0x2545_f491_4f6c_dd1d, 3000, 14));
    let matched = same_outcomes(&*guarded, &*vendored, &texts, "IPV6");
    // The comparison means something only if many texts match.
    assert!(matched > 500, "only {matched} texts matched");
}

/// The atomic group around the built-in IPV4's body must not change any
/// result, including inside longer patterns that backtrack into it:
/// compare with the vendored definition on random texts of address-like
/// pieces, under several surrounding patterns.
#[test]
fn atomic_ipv4_changes_no_match() {
    let raw = vendored_definition("IPV4");
    for ecs in [patterns::EcsCompatibility::Disabled, patterns::EcsCompatibility::V1] {
        let builtin = &patterns::builtin(ecs)["IPV4"];
        assert!(
            builtin.starts_with("(?<![0-9])(?>") && builtin.ends_with("(?![0-9]))"),
            "the built-in IPV4 is not atomic: {builtin}"
        );
    }
    let surroundings = [
        "%{IPV4:ip}",
        "%{IPV4:ip}%{INT:n}",
        "%{IPV4:ip}\\.%{INT:n}",
        "(%{IPV4:ip} )?%{NOTSPACE:a} - %{DATA:u} \\[",
        "(?:%{IPV4:ip}|%{WORD:w})(?:,\\s*%{IPV4:ip2})*x",
        "%{IPV4:ip}(?::%{NUMBER:port})? %{DATA:rest}$",
        "%{IP:ip}%{GREEDYDATA:rest}",
    ];
    let pieces = [
        "1", "10", "192", "255", "256", "0", "09", ".", ".", " ", "-", "[", "x", ":", ",", "9", "1.2.3.4", " - ", " [",
    ];
    let texts = random_texts(&pieces, 0x9e37_79b9_7f4a_7c15, 1500, 16);
    for surrounding in surroundings {
        let atomic = grok(json!({"field": "m", "patterns": [surrounding]}));
        let vendored = grok(json!({
            "field": "m",
            "patterns": [surrounding.replace("%{IPV4", "%{RAW_IPV4").replace("%{IP:", "%{RAW_IP:")],
            "pattern_definitions": {"RAW_IPV4": raw, "RAW_IP": "(?:%{IPV6}|%{RAW_IPV4})"}
        }));
        let matched = same_outcomes(&*atomic, &*vendored, &texts, surrounding);
        assert!(matched > 10, "`{surrounding}`: only {matched} texts matched");
    }
}

/// Asserts that `a` and `b` make the same document of every text (`what`
/// names the case in a failure); returns how many texts matched.
fn same_outcomes(a: &dyn Processor, b: &dyn Processor, texts: &[String], what: &str) -> usize {
    let mut matched = 0;
    for text in texts {
        let got = whole_outcome(a, text);
        assert_eq!(got, whole_outcome(b, text), "`{what}` on `{text}`");
        matched += usize::from(got.is_some());
    }
    matched
}

/// The document a grok processor makes of `m: text`, or None if it failed.
fn whole_outcome(p: &dyn Processor, text: &str) -> Option<serde_json::Value> {
    let mut doc = Document::from_message("");
    doc.source.insert("m", json!(text));
    let pipelines = crate::pipeline::PipelineSet::empty();
    let mut ctx = ExecContext {
        pipelines: &pipelines,
        pipeline: "test",
        depth: 0,
    };
    p.process(&mut doc, &mut ctx).ok().map(|_| doc.source.to_json())
}

/// A pattern's definition as vendored, before Sluice rewrites it.
fn vendored_definition(name: &str) -> &'static str {
    patterns::definitions(include_str!("patterns/legacy/grok-patterns"))
        .find(|(n, _)| *n == name)
        .map(|(_, definition)| definition)
        .unwrap_or_else(|| panic!("vendored {name}"))
}

/// `count` texts of 2 to `2 + spread - 1` random `pieces`, from a fixed LCG
/// started at `seed`.
fn random_texts(pieces: &[&str], seed: u64, count: usize, spread: usize) -> Vec<String> {
    let mut next = lcg(seed);
    (0..count)
        .map(|_| {
            let mut text = String::new();
            for _ in 0..2 + next(spread) {
                text.push_str(pieces[next(pieces.len())]);
            }
            text
        })
        .collect()
}

/// A fixed linear congruential generator started at `seed`: each call
/// gives a number below its argument.
fn lcg(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    }
}

/// The shipped nginx access pattern is Filebeat's plus two lookaheads
/// (before the host's domain alternative, and `NGINX_TIME_AHEAD` before the
/// user name) that are there for speed only. Compare it with Filebeat's
/// pattern on lines built from adversarial pieces: hosts or not, address
/// lists, user names with ` - ` or ` [`, requests and agents holding
/// ` [`, quotes, newlines, broken dates.
#[test]
fn shipped_nginx_lookaheads_change_no_match() {
    let shipped: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../../../pipelines/nginx-access.yaml")).expect("shipped YAML");
    let config = grok_options(&shipped["processors"][0]["grok"]);
    let pattern = config["patterns"][0].as_str().expect("first pattern");
    let host = config["pattern_definitions"]["NGINX_HOST"]
        .as_str()
        .expect("NGINX_HOST");
    assert!(pattern.contains("%{NGINX_TIME_AHEAD}"), "{pattern}");
    let mut filebeat = config.clone();
    filebeat["patterns"] = json!([pattern.replace("%{NGINX_TIME_AHEAD}", "")]);
    let filebeat_host =
        "(?:%{IP:destination.ip}|%{NGINX_NOTSEPARATOR:destination.domain})(:%{NUMBER:destination.port})?";
    assert_ne!(host, filebeat_host);
    filebeat["pattern_definitions"]["NGINX_HOST"] = json!(filebeat_host);
    let (shipped, filebeat) = (grok(config), grok(filebeat));

    let slots: [&[&str]; 12] = [
        &[
            "",
            "",
            "example.com ",
            "10.0.0.9 ",
            "10.0.0.9:8080 ",
            "[::1] ",
            "2001:db8::2 ",
            "a.b:x ",
            "1.2.3.4a ",
            "1.2.3.4.5 ",
            "10.0.0.9:80x ",
        ],
        &["", "", "\""],
        &[
            "1.2.3.4",
            "-",
            "2001:db8::1",
            "\"10.0.0.1, 1.2.3.4\"",
            "unix",
            "1.2.3.4, 5.6.7.8",
            "a b",
            "é",
        ],
        &[" - ", " - ", " -", "  - "],
        &["-", "-", "alice", "- -", "a - b", "x [y", "", " ", "[", "é [z"],
        &[" [", " [", "[", " [ ["],
        &[
            "10/Oct/2023:13:55:36 +0000",
            "10/Oct/2023:13:55:36 +0000",
            "1/Mär/2023:1:02:03 -0100",
            "99/Foo/2023:1:2:3 +0000",
            "10/Oct/2023:25:55:36 +0000",
        ],
        &["] \"", "] \"", "]\"", "] "],
        &[
            "GET / HTTP/1.1",
            "",
            "a \" b",
            "GET /x [10/Oct/2023:13:55:36 +0000] HTTP/1.0",
            "\n",
            "é\" 1 2 \"",
        ],
        &[
            "\" 200 612 \"",
            "\" 200 612 \"",
            "\" 200 -1.5 \"",
            "\" 2x0 612 \"",
            "\" 200 612 \"\n\"",
        ],
        &[
            "-\" \"curl/8.4.0\"",
            "https://e.com/\" \"Mozilla/5.0 (X11) [en]\"",
            "-\" \"a\" b\"",
            "-\"",
            "\" \"",
        ],
        &["", "", " \"-\"", " \"85.181.35.98, 10.1.0.7\"", " \"x\" y", "\n"],
    ];
    // Each slot's first piece is the usual one, taken three times in four
    // so that about half the lines match; a third of the lines also drop
    // one slot or double one.
    let mut next = lcg(0x0123_4567_89ab_cdef);
    let texts: Vec<String> = (0..6000)
        .map(|i| {
            let (skip, double) = if i % 3 == 0 {
                (next(slots.len() + 1), next(slots.len() + 1))
            } else {
                (slots.len(), slots.len())
            };
            let mut line = String::new();
            for (s, choices) in slots.iter().enumerate() {
                let piece = if next(4) == 0 {
                    choices[next(choices.len())]
                } else {
                    choices[0]
                };
                if s != skip {
                    line.push_str(piece);
                }
                if s == double {
                    line.push_str(piece);
                }
            }
            line
        })
        .collect();
    let matched = same_outcomes(&*shipped, &*filebeat, &texts, "nginx access");
    assert!(matched > 1500, "only {matched} of {} lines matched", texts.len());
}

#[test]
fn ascii_twin_expressions() {
    assert_eq!(ascii_twin(r"a\.b[^c]").as_deref(), Some(r"a\.b[^c]"));
    assert_eq!(ascii_twin("(?:a|ä)?r").as_deref(), Some(r"(?:a|\x{ff})?r"));
    assert_eq!(ascii_twin("[^ä]ö?").as_deref(), Some(r"[^\x{ff}]\x{ff}?"));
    // An escaped letter is the letter; an escaped backslash stays.
    assert_eq!(ascii_twin(r"\ä").as_deref(), Some(r"\x{ff}"));
    assert_eq!(ascii_twin(r"\\ä").as_deref(), Some(r"\\\x{ff}"));
    assert_eq!(ascii_twin("(?i)\u{212a}"), None, "Kelvin sign matches k without case");
    assert_eq!(ascii_twin("(?i)\u{17f}"), None, "long s matches s without case");
    assert_eq!(ascii_twin("(?x)a\u{2028}b"), None, "extended mode skips U+2028");
    assert_eq!(ascii_twin("a\u{a0}"), None);
    assert_eq!(ascii_twin(r"\Qä\E"), None);
}

/// A shipped grok processor's own options (without those of the executor:
/// `tag`, `if`, `on_failure`, …), matching field `m`.
fn grok_options(yaml: &serde_yaml::Value) -> Value {
    let mut config = serde_json::to_value(yaml).expect("grok config as JSON");
    let options = config.as_object_mut().expect("grok options");
    for executor_key in ["tag", "if", "on_failure", "ignore_failure", "description"] {
        options.remove(executor_key);
    }
    config["field"] = json!("m");
    config
}

/// Grok built twice from `config`: as loaded, and without its ASCII twin.
fn with_and_without_twin(config: Value) -> (Grok, Grok) {
    let load = || build_concrete(config.clone(), Path::new("p.yaml")).unwrap_or_else(|e| panic!("{config}: {e}"));
    let (twin, mut utf) = (load(), load());
    utf.ascii_regex = None;
    (twin, utf)
}

/// The ASCII twin changes no result: every built-in pattern of both
/// libraries, and the shipped pipelines' own, on random ASCII texts.
#[test]
fn ascii_twin_changes_no_match() {
    let pieces = [
        "0",
        "7",
        "42",
        "255",
        "1.2.3.4",
        "2001:db8::1",
        "::",
        ":",
        ".",
        ",",
        "-",
        "+",
        "/",
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "[",
        "]",
        "\"",
        "'",
        "=",
        "a",
        "Z",
        "x_y",
        "Mar",
        "Oct",
        "Mon",
        "2023",
        "10/Oct/2023:13:55:36 +0000",
        "2023-10-10T13:55:36.123Z",
        "13:55",
        "http://e.com/p?q=1",
        "GET",
        "HTTP/1.1",
        "\\",
        "(",
        ")",
        "@",
        "%",
        "0x1f",
        "AM",
        "INFO",
        "ERROR",
        "host.example.com",
        "user@e.com",
        "ab:cd:ef:01:23:45",
    ];
    let texts = random_texts(&pieces, 0x5851_f42d_4c95_7f2d, 160, 10);
    assert!(texts.iter().all(|t| t.is_ascii()));
    let mut twins = 0;
    let mut matched = 0;
    for (ecs, mode) in [(EcsCompatibility::Disabled, "disabled"), (EcsCompatibility::V1, "v1")] {
        let mut names: Vec<&String> = patterns::builtin(ecs).keys().collect();
        names.sort();
        for name in names {
            let (twin, utf) = with_and_without_twin(
                json!({"field": "m", "patterns": [format!("%{{{name}:x}}")], "ecs_compatibility": mode}),
            );
            twins += usize::from(twin.ascii_regex.is_some());
            matched += same_outcomes(&twin, &utf, &texts, &format!("{mode} {name}"));
        }
    }
    // Anchors, dots, case, lookbehind, POSIX classes, counted repeats and a
    // non-ASCII letter, written directly.
    for pattern in [
        "^%{WORD:x}$",
        "%{DATA:x}$",
        "^(?<x>.{3})",
        "(?i)(?<x>mar|info)\\b",
        "(?<=\\[)%{NOTSPACE:x}",
        "(?<x>[[:alpha:]]+)[[:space:]]",
        "(?<x>[^ä]{2,4})ö?",
        "(?m)(?<x>a.*?)1",
        "(?<x>\\w+)\\W(?<y>\\d+)\\s*(?<z>\\S)",
    ] {
        let (twin, utf) = with_and_without_twin(json!({"field": "m", "patterns": [pattern]}));
        assert!(twin.ascii_regex.is_some(), "{pattern}: no twin");
        matched += same_outcomes(&twin, &utf, &texts, pattern);
    }
    // Every built-in pattern has a twin: the library holds no non-ASCII
    // character other than letters.
    let all = patterns::builtin(EcsCompatibility::Disabled).len() + patterns::builtin(EcsCompatibility::V1).len();
    assert_eq!(twins, all);
    assert!(matched > 20_000, "only {matched} matches");

    for file in ["nginx-access.yaml", "nginx-error.yaml", "app-text.yaml"] {
        let text = std::fs::read_to_string(Path::new("pipelines").join(file)).expect("shipped pipeline");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("shipped YAML");
        let processors = yaml["processors"].as_sequence().expect("processors");
        for config in processors.iter().filter_map(|p| p.get("grok")) {
            let (twin, utf) = with_and_without_twin(grok_options(config));
            assert!(twin.ascii_regex.is_some(), "{file}: no twin");
            same_outcomes(&twin, &utf, &texts, file);
        }
    }
}

/// Why [`ascii_twin`] turns any non-ASCII letter into `\x{ff}` but the
/// Kelvin sign and long s: with or without case, in UTF mode, no other
/// letter matches an ASCII character.
#[test]
fn only_kelvin_and_long_s_match_ascii() {
    let ascii: String = (0u8..0x80).map(char::from).collect();
    let mut matching = Vec::new();
    for c in (0x80..=0x10ffff)
        .filter_map(char::from_u32)
        .filter(|c| c.is_alphabetic())
    {
        let mut b = pcre2::bytes::RegexBuilder::new();
        b.ucp(true).multi_line(true).caseless(true);
        let letter = b.build(&format!("(?a){c}")).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        if letter.is_match(ascii.as_bytes()).unwrap_or(true) {
            matching.push(c);
        }
    }
    assert_eq!(matching, ['\u{17f}', '\u{212a}']);
}
