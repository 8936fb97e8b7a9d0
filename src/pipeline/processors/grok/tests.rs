use std::collections::HashSet;

use serde_json::json;

use super::*;
use crate::pipeline::compile::{CompileOptions, SharedResources};
use crate::pipeline::processors::test_util::{run, run_err, try_run};

fn build_in(config: Value, file: &Path) -> Result<Box<dyn Processor>, String> {
    let options = CompileOptions::default();
    let names = HashSet::new();
    let resources = SharedResources::default();
    let ctx = CompileContext {
        options: &options,
        file,
        pipeline_names: &names,
        resources: &resources,
    };
    build(&config, &ctx)
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
    let line = r#"2001:db8::1 - alice [10/Oct/2023:13:55:36 -0700] "POST /api/v1/items HTTP/2.0" 201 0 "-" "curl/8.4.0" "-""#;
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
