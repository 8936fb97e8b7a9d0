//! No input panics the engine: arbitrary bytes, invalid UTF-8, mutated
//! log lines and a 5 MB line go through every shipped pipeline and come out
//! as a document, a drop or a per-record failure.

use proptest::prelude::*;
use sluice::document::Document;

use crate::pipelines_support::shipped;

const PIPELINES: &[&str] = &["nginx-access", "nginx-error", "app", "app-json", "app-text", "filebeat"];

fn run_everywhere(bytes: &[u8]) {
    let Ok(doc) = Document::decode(bytes, 10 * 1024 * 1024) else {
        return;
    };
    for p in PIPELINES {
        let _ = shipped().run(p, doc.clone());
    }
}

const SEEDS: &[&str] = &[
    r#"10.0.0.2, 10.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "Mozilla/5.0" "-""#,
    r#"2016/10/25 14:49:34 [error] 54053#0: *1 open() failed, client: 127.0.0.1"#,
    r#"{"levelname": "ERROR", "name": "x", "message": "m", "exc_info": "Traceback\nE: x"}"#,
    "2024-03-01 12:00:00,123 ERROR [t] c.e.X - boom\njava.lang.X: y\n\tat a.b(C.java:1)",
    r#"{"message": "1.2.3.4 - - [01/Mar/2024:12:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"", "log": {"file": {"path": "/var/log/nginx/access.log"}}}"#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        run_everywhere(&bytes);
    }

    #[test]
    fn mutated_log_lines_never_panic(
        seed in 0..SEEDS.len(),
        cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        tail in ".{0,64}",
    ) {
        let mut bytes = SEEDS[seed].as_bytes().to_vec();
        for (at, b) in cuts {
            let i = at.index(bytes.len().max(1));
            if i < bytes.len() {
                bytes[i] = b;
            }
        }
        bytes.extend_from_slice(tail.as_bytes());
        run_everywhere(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        run_everywhere(v.to_string().as_bytes());
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("message".to_owned()),
                    Just("level".to_owned()),
                    Just("@timestamp".to_owned()),
                    Just("@fields".to_owned()),
                    Just("log".to_owned()),
                    ".{0,12}".prop_map(|s| s),
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn a_5_mb_line_is_handled_in_every_pipeline() {
    let mut line = String::from("81.2.69.142 - - [01/Mar/2024:12:00:00 +0000] \"GET /");
    line.push_str(&"a".repeat(5 * 1024 * 1024));
    line.push_str(" HTTP/1.1\" 200 5 \"-\" \"-\"");
    run_everywhere(line.as_bytes());
    let json_line = format!("{{\"message\": \"{}\"}}", "x".repeat(5 * 1024 * 1024));
    run_everywhere(json_line.as_bytes());
    let garbage: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    run_everywhere(&garbage);
    // One token of 5 MB, then what the nginx pattern needs to get far:
    // every start position scans the token again, which only grok's time
    // limit stops (minutes per pipeline without it).
    let token = format!("{} - - [ \" 1 1 \" \"", "x".repeat(5 * 1024 * 1024));
    let started = std::time::Instant::now();
    run_everywhere(token.as_bytes());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
