//! End-to-end tests of `sluice run` on real protocol peers: the tansu
//! Kafka-API broker and the osmem Elasticsearch-API server, with a
//! fault-injecting proxy where Elasticsearch must misbehave.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sluice::generator::{Generator, Kind};

use crate::service_support::{Peers, Service, ServiceConfig, serial};
use crate::support::es_client::EsClient;
use crate::support::eventually;
use crate::support::fault_proxy::{FaultProxy, ItemError, ItemSelect, Plan, Step};
use crate::support::kafka_client::{self, Rec};
use crate::support::peers::Kafka;

const GROUP: &str = "sluice";
const DLQ: &str = "dead_letter: { topic: sluice-dlq }\n";
const NGINX_ROUTE: &str = r#"  - topic: nginx-access
    pipeline: nginx-access
    index: "logs-nginx.access-%{+yyyy.MM.dd}""#;

/// nginx lines stamped from `start`, one every `step`, with their instants.
fn nginx_lines(n: usize, start: DateTime<Utc>, step: chrono::Duration, seed: u64) -> Vec<(String, DateTime<Utc>)> {
    let mut g = Generator::new(Kind::NginxAccess, seed);
    (0..n)
        .map(|i| {
            let t = start + step * i as i32;
            (g.line(t), t)
        })
        .collect()
}

fn march_first() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).single().expect("valid date")
}

/// Produces lines round-robin over `partitions`; returns (partition, offset)
/// per line.
async fn produce_lines(
    kafka: &Kafka,
    topic: &str,
    lines: &[(String, DateTime<Utc>)],
    partitions: i32,
) -> Vec<(i32, i64)> {
    kafka_client::produce(
        &kafka.bootstrap(),
        topic,
        lines
            .iter()
            .enumerate()
            .map(|(i, (l, _))| Rec::new(l).partition(i as i32 % partitions)),
    )
    .await
}

async fn wait_count(es: &EsClient, pattern: &str, n: u64, timeout: Duration) {
    eventually(&format!("{n} documents in {pattern}"), timeout, || async {
        es.refresh(pattern).await;
        (es.count(pattern).await == n).then_some(())
    })
    .await;
}

/// Waits until the group's committed offsets equal the topic's end offsets.
async fn wait_committed(kafka: &Kafka, topic: &str, timeout: Duration) -> HashMap<i32, i64> {
    let end = kafka_client::end_offsets(&kafka.bootstrap(), topic).await;
    eventually(
        &format!("committed offsets of {topic} to reach {end:?}"),
        timeout,
        || async {
            let c = kafka_client::committed_offsets(&kafka.bootstrap(), GROUP, topic).await;
            end.iter().all(|(p, e)| *e == 0 || c.get(p) == Some(e)).then_some(c)
        },
    )
    .await
}

/// Checks that a sample of documents carry the id `<topic>-<partition>-<offset>`
/// of the record they came from, and that record's content.
async fn check_ids(es: &EsClient, pattern: &str, lines: &[(String, DateTime<Utc>)], placed: &[(i32, i64)]) {
    for i in (0..lines.len()).step_by(lines.len() / 25 + 1) {
        let (p, o) = placed[i];
        let id = format!("nginx-access-{p}-{o}");
        let doc = es
            .find_by_id(pattern, &id)
            .await
            .unwrap_or_else(|| panic!("document {id} (line {i}) is missing"));
        let url = doc["url"]["original"].as_str().unwrap_or("");
        assert!(
            url.is_empty() || lines[i].0.contains(url),
            "document {id} has url {url} not from line {i}: {}",
            lines[i].0
        );
    }
}

/// 10,000 nginx lines over 4 partitions and four days: exactly 10,000
/// documents, each in the daily index of its own timestamp in the
/// configured timezone (Asia/Shanghai), with ids from topic/partition/offset,
/// and committed offsets equal to the end offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_lines_land_once_in_their_daily_indices() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("nginx-access", 4)]);

    // 30 s apart, 10k lines span ~3.5 days. A Beijing day starts at 16:00
    // UTC, and the index names must follow it.
    let lines = nginx_lines(10_000, march_first(), chrono::Duration::seconds(30), 11);
    let placed = produce_lines(&kafka, "nginx-access", &lines, 4).await;
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().expect("zone");
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (_, t) in &lines {
        *expected
            .entry(format!("logs-nginx.access-{}", t.with_timezone(&tz).format("%Y.%m.%d")))
            .or_default() += 1;
    }
    assert!(expected.len() >= 4, "test data should span days: {expected:?}");

    let service = Service::start(&ServiceConfig {
        extra: DLQ.to_owned(),
        timezone: "Asia/Shanghai".to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), es_peer.url(), NGINX_ROUTE)
    });
    wait_count(&es, "logs-nginx.access-*", 10_000, Duration::from_secs(90)).await;
    for (index, n) in &expected {
        assert_eq!(es.count(index).await, *n, "documents in {index}");
    }
    check_ids(&es, "logs-nginx.access-*", &lines, &placed).await;
    let committed = wait_committed(&kafka, "nginx-access", Duration::from_secs(20)).await;
    assert_eq!(committed.values().sum::<i64>(), 10_000);
    // One document fully, as a user would see it.
    let hits = es
        .search_sources(
            "logs-nginx.access-*",
            &serde_json::json!({"query": {"term": {"source.geo.city_name": "London"}}, "size": 1}),
        )
        .await;
    let d = hits.first().expect("a London document");
    assert_eq!(d["source"]["geo"]["country_iso_code"], "GB");
    assert!(d["user_agent"]["name"].is_string());
    assert_eq!(d["event"]["dataset"], "nginx.access");
    assert_eq!(service.metric("sluice_es_docs_total", &["created"]).await, 10_000.0);
    assert_eq!(
        kafka_client::consume_all(&kafka.bootstrap(), "sluice-dlq", Duration::from_secs(2))
            .await
            .len(),
        0
    );
}

/// A crash (SIGKILL) mid-stream and a restart: every record indexed, none
/// twice, and the commits catch up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_resume_is_exact() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("nginx-access", 4)]);
    let lines = nginx_lines(10_000, march_first(), chrono::Duration::seconds(1), 12);
    let placed = produce_lines(&kafka, "nginx-access", &lines, 4).await;
    let config = ServiceConfig {
        extra: DLQ.to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), es_peer.url(), NGINX_ROUTE)
    };

    let mut first = Service::start(&config);
    eventually(
        "some documents indexed before the crash",
        Duration::from_secs(60),
        || async {
            es.refresh("logs-*").await;
            (es.count("logs-nginx.access-*").await >= 2_500).then_some(())
        },
    )
    .await;
    first.kill();
    let at_crash = es.count("logs-nginx.access-*").await;
    let committed_at_crash = kafka_client::committed_offsets(&kafka.bootstrap(), GROUP, "nginx-access").await;
    assert!(
        at_crash < 10_000,
        "the crash should come mid-stream ({at_crash} indexed)"
    );
    // Never committed past what was indexed.
    assert!(committed_at_crash.values().sum::<i64>() <= at_crash as i64);

    // A killed member stays in the group until its session times out
    // (6 s in the test config). Apache Kafka then rebalances; tansu does
    // not rebalance a member that joined meanwhile (it keeps an empty
    // assignment), so the restart waits the session out, as a crash-looping
    // pod's backoff would.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let second = Service::start(&config);
    wait_count(&es, "logs-nginx.access-*", 10_000, Duration::from_secs(90)).await;
    wait_committed(&kafka, "nginx-access", Duration::from_secs(20)).await;
    // Stays exact: nothing arrives late as a duplicate.
    tokio::time::sleep(Duration::from_secs(1)).await;
    es.refresh("logs-*").await;
    assert_eq!(es.count("logs-nginx.access-*").await, 10_000);
    check_ids(&es, "logs-nginx.access-*", &lines, &placed).await;
    // The restart re-read at most what was not committed, and wrote it by id.
    let rewritten = second.metric("sluice_es_docs_total", &["created"]).await
        + second.metric("sluice_es_docs_total", &["updated"]).await;
    let uncommitted = 10_000 - committed_at_crash.values().sum::<i64>();
    assert_eq!(
        rewritten as i64, uncommitted,
        "the second run indexes exactly the uncommitted records"
    );
}

/// Poison records go to the DLQ with their reason and origin, byte for
/// byte; everything else is indexed and the partitions keep moving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dead_letter_queue() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("nginx-access", 2), ("app-logs", 1)]);
    let routes = r#"  - topic: nginx-access
    pipeline: nginx-access
    index: "logs-nginx.access-%{+yyyy.MM.dd}"
    on_pipeline_failure: dead_letter
  - topic: app-logs
    pipeline: app
    index: "logs-app-%{+yyyy.MM.dd}"
    on_pipeline_failure: dead_letter"#;

    let good_app = r#"{"@timestamp": "2024-03-01T12:00:00Z", "levelname": "INFO", "name": "app", "message": "fine", "process": 12}"#;
    let invalid_utf8: &[u8] = b"{\"message\": \"\xff\xfe broken\"}";
    let bad_json = br#"{"levelname": "INFO", "message": "#;
    // process.pid is mapped as long: Elasticsearch rejects this with 400.
    let mapping_conflict =
        br#"{"@timestamp": "2024-03-01T12:00:00Z", "levelname": "INFO", "message": "m", "process": "not-a-number"}"#;
    let mut app: Vec<Rec> = Vec::new();
    for i in 0..30 {
        app.push(Rec::new(good_app.replace("fine", &format!("fine {i}"))));
        match i {
            5 => app.push(Rec::new(invalid_utf8).header("trace", "t-1")),
            10 => app.push(Rec::new(bad_json).key("k-bad-json")),
            15 => app.push(Rec::new(mapping_conflict)),
            _ => {}
        }
    }
    let app_placed = kafka_client::produce(&kafka.bootstrap(), "app-logs", app).await;
    let mut lines = nginx_lines(200, march_first(), chrono::Duration::seconds(1), 13);
    lines.insert(100, ("this is not an nginx line".to_owned(), march_first()));
    produce_lines(&kafka, "nginx-access", &lines, 2).await;

    let service = Service::start(&ServiceConfig {
        extra: "dead_letter: { topic: sluice-dlq, failure_index: \"sluice-failed-%{+yyyy.MM.dd}\" }\n".to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), es_peer.url(), routes)
    });
    wait_count(&es, "logs-app-*", 30, Duration::from_secs(60)).await;
    wait_count(&es, "logs-nginx.access-*", 200, Duration::from_secs(60)).await;
    wait_committed(&kafka, "app-logs", Duration::from_secs(20)).await;
    wait_committed(&kafka, "nginx-access", Duration::from_secs(20)).await;

    let dlq = kafka_client::consume_at_least(&kafka.bootstrap(), "sluice-dlq", 4, Duration::from_secs(20)).await;
    assert_eq!(dlq.len(), 4, "exactly the poison records: {dlq:#?}");
    let by_type: HashMap<&str, &kafka_client::Record> = dlq
        .iter()
        .map(|r| (r.header("sluice.error.type").unwrap_or("?"), r))
        .collect();
    let utf8 = by_type.get("invalid_utf8").expect("invalid UTF-8 record dead-lettered");
    assert_eq!(utf8.payload.as_deref(), Some(invalid_utf8), "original bytes, unchanged");
    assert_eq!(utf8.header("trace"), Some("t-1"), "original headers kept");
    assert_eq!(utf8.header("sluice.source.topic"), Some("app-logs"));
    let (p, o) = app_placed[6];
    assert_eq!(utf8.header("sluice.source.partition"), Some(p.to_string().as_str()));
    assert_eq!(utf8.header("sluice.source.offset"), Some(o.to_string().as_str()));
    let json = by_type
        .get("pipeline_failure")
        .expect("bad JSON and the grok miss dead-lettered");
    assert!(json.header("sluice.error.reason").is_some_and(|r| !r.is_empty()));
    assert_eq!(
        dlq.iter()
            .filter(|r| r.header("sluice.error.type") == Some("pipeline_failure"))
            .count(),
        2,
        "bad JSON and the grok miss"
    );
    let rejected = by_type.get("es_rejected").expect("mapping conflict dead-lettered");
    let reason = rejected.header("sluice.error.reason").unwrap_or("");
    assert!(
        reason.contains("400") && reason.contains("mapper_parsing_exception"),
        "{reason}"
    );
    assert_eq!(rejected.payload.as_deref(), Some(&mapping_conflict[..]));
    assert_eq!(rejected.header("sluice.pipeline"), Some("app"));
    assert_eq!(service.metric("sluice_dead_letter_records_total", &[]).await, 4.0);
    // The optional failure index holds a searchable copy of each.
    wait_count(&es, "sluice-failed-*", 4, Duration::from_secs(20)).await;
    let failures = es
        .search_sources(
            "sluice-failed-*",
            &serde_json::json!({"query": {"term": {"error.type": "es_rejected"}}}),
        )
        .await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["kafka"]["topic"], "app-logs");
    assert!(
        failures[0]["event"]["original"]
            .as_str()
            .is_some_and(|o| o.contains("not-a-number"))
    );
}

/// Elasticsearch refuses (503) for a while: records are held, nothing is
/// committed, consumption pauses; then 429s at request and item level:
/// every record ends up indexed exactly once and all offsets commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_faults_hold_commits_and_lose_nothing() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("nginx-access", 4)]);
    let proxy = FaultProxy::start(es_peer.url());

    let first = nginx_lines(1_000, march_first(), chrono::Duration::seconds(1), 14);
    produce_lines(&kafka, "nginx-access", &first, 4).await;
    let service = Service::start(&ServiceConfig {
        extra: DLQ.to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), &proxy.url(), NGINX_ROUTE)
    });
    service.wait_ready(Duration::from_secs(30)).await;
    // Outage: every bulk request gets 503.
    proxy.set_plan(Plan::new().then(Step::status(503).on_bulk().forever()));
    eventually(
        "all records consumed during the outage",
        Duration::from_secs(30),
        || async { (service.metric("sluice_records_consumed_total", &[]).await >= 1_000.0).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(service.metric("sluice_es_retries_total", &["request_5xx"]).await > 0.0);
    let committed = kafka_client::committed_offsets(&kafka.bootstrap(), GROUP, "nginx-access").await;
    assert_eq!(
        committed.values().sum::<i64>(),
        0,
        "nothing may be committed while ES refuses: {committed:?}"
    );
    es.refresh("logs-*").await;
    assert_eq!(es.count("logs-nginx.access-*").await, 0);

    // Recovery with turbulence: request-level 429s, then item-level 429s on
    // a third of the items, then 502/504s.
    proxy.set_plan(
        Plan::new()
            .then(Step::status(429).on_bulk().times(3))
            .then(Step::reject_items(ItemSelect::Fraction(0.3)).on_bulk().times(4))
            .then(
                Step::reject_items(ItemSelect::First(5))
                    .item_error(ItemError::unavailable_shards())
                    .on_bulk()
                    .times(2),
            )
            .then(Step::status(502).on_bulk().times(1))
            .then(Step::status(504).on_bulk().times(1)),
    );
    let second = nginx_lines(2_000, march_first(), chrono::Duration::seconds(1), 15);
    produce_lines(&kafka, "nginx-access", &second, 4).await;
    wait_count(&es, "logs-nginx.access-*", 3_000, Duration::from_secs(90)).await;
    wait_committed(&kafka, "nginx-access", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    es.refresh("logs-*").await;
    assert_eq!(es.count("logs-nginx.access-*").await, 3_000);
    assert!(service.metric("sluice_es_retries_total", &["item_429"]).await > 0.0);
    assert!(service.metric("sluice_es_retries_total", &["request_429"]).await > 0.0);
    assert!(service.metric("sluice_es_retries_total", &["item_5xx"]).await > 0.0);
    assert_eq!(service.metric("sluice_dead_letter_records_total", &[]).await, 0.0);
    assert!(proxy.stats().faults_injected() >= 10);
}

/// Two consumers share the group; one leaves mid-stream (SIGTERM): the
/// other takes over its partitions and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_leaving_mid_stream_loses_nothing() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("nginx-access", 4)]);
    let config = ServiceConfig {
        extra: DLQ.to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), es_peer.url(), NGINX_ROUTE)
    };
    let mut a = Service::start(&config);
    let b = Service::start(&config);
    a.wait_ready(Duration::from_secs(30)).await;
    b.wait_ready(Duration::from_secs(30)).await;
    eventually("both members hold partitions", Duration::from_secs(30), || async {
        let pa = a.metric("sluice_kafka_assigned_partitions", &[]).await;
        let pb = b.metric("sluice_kafka_assigned_partitions", &[]).await;
        (pa >= 1.0 && pb >= 1.0 && pa + pb == 4.0).then_some(())
    })
    .await;

    let lines = nginx_lines(8_000, march_first(), chrono::Duration::seconds(1), 16);
    produce_lines(&kafka, "nginx-access", &lines, 4).await;
    eventually("a's share partly indexed", Duration::from_secs(60), || async {
        (a.metric("sluice_es_docs_total", &[]).await >= 500.0).then_some(())
    })
    .await;
    let status = a.terminate(Duration::from_secs(20));
    assert!(status.success(), "graceful leave exits 0: {status:?}");
    eventually("b takes over all partitions", Duration::from_secs(30), || async {
        (b.metric("sluice_kafka_assigned_partitions", &[]).await == 4.0).then_some(())
    })
    .await;
    wait_count(&es, "logs-nginx.access-*", 8_000, Duration::from_secs(90)).await;
    wait_committed(&kafka, "nginx-access", Duration::from_secs(30)).await;
}

/// SIGTERM under load: exit 0 within the grace period, every committed
/// offset is indexed, and a restart re-indexes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_commits_exactly_what_was_indexed() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("nginx-access", 4)]);
    let lines = nginx_lines(8_000, march_first(), chrono::Duration::seconds(1), 17);
    let placed = produce_lines(&kafka, "nginx-access", &lines, 4).await;
    let config = ServiceConfig {
        extra: DLQ.to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), es_peer.url(), NGINX_ROUTE)
    };
    let mut first = Service::start(&config);
    eventually("indexing under way", Duration::from_secs(60), || async {
        (first.metric("sluice_es_docs_total", &[]).await >= 2_000.0).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    let status = first.terminate(Duration::from_secs(20));
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    // grace_period is 10 s in the test config; leaving the group and the
    // final commit come after it.
    assert!(
        started.elapsed() < Duration::from_secs(13),
        "within the grace period: {:?}",
        started.elapsed()
    );
    let drained = first.log().contains("in-flight records drained");
    let committed = kafka_client::committed_offsets(&kafka.bootstrap(), GROUP, "nginx-access").await;
    es.refresh("logs-*").await;
    let indexed = es.count("logs-nginx.access-*").await as i64;
    let committed_total: i64 = committed.values().sum();
    assert!(committed_total > 0);
    assert!(committed_total <= indexed, "never committed past what is indexed");
    // Everything below each committed offset is in Elasticsearch.
    for (i, (p, o)) in placed.iter().enumerate() {
        if committed.get(p).is_some_and(|c| o < c) && i % 97 == 0 {
            let id = format!("nginx-access-{p}-{o}");
            assert!(
                es.find_by_id("logs-nginx.access-*", &id).await.is_some(),
                "committed record {id} is not indexed"
            );
        }
    }
    if drained {
        // Every bulk finished before the final commit.
        assert_eq!(committed_total, indexed, "committed == indexed after a drained stop");
    }

    let second = Service::start(&config);
    wait_count(&es, "logs-nginx.access-*", 8_000, Duration::from_secs(90)).await;
    wait_committed(&kafka, "nginx-access", Duration::from_secs(20)).await;
    // The restart only re-reads what was not committed; of that, what was
    // already indexed is overwritten by id (never duplicated).
    let created = second.metric("sluice_es_docs_total", &["created"]).await as i64;
    let updated = second.metric("sluice_es_docs_total", &["updated"]).await as i64;
    assert_eq!(created + updated, 8_000 - committed_total);
    assert_eq!(
        updated,
        indexed - committed_total,
        "only already-indexed, uncommitted records are overwritten"
    );
}

/// Editing a pipeline under a running service: a valid change applies to
/// new records; a broken one is rejected (counted, logged with file and
/// processor) and the running pipelines keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_reload_while_running() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("app-logs", 1)]);
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(crate::pipelines_support::repo().join("pipelines")).expect("pipelines") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.path().join(path.file_name().expect("file name"))).expect("copy");
    }
    let routes = r#"  - topic: app-logs
    pipeline: app
    index: "logs-app-%{+yyyy.MM.dd}""#;
    let service = Service::start(&ServiceConfig {
        extra: DLQ.to_owned(),
        pipelines: dir.path().to_path_buf(),
        ..ServiceConfig::new(&kafka.bootstrap(), es_peer.url(), routes)
    });
    service.wait_ready(Duration::from_secs(30)).await;
    let record = |i: usize| {
        Rec::new(format!(
            r#"{{"@timestamp": "2024-03-01T12:00:00Z", "level": "info", "message": "m{i}"}}"#
        ))
    };
    kafka_client::produce(&kafka.bootstrap(), "app-logs", (0..10).map(record)).await;
    wait_count(&es, "logs-app-*", 10, Duration::from_secs(30)).await;
    let version_before = service.metrics().await;

    // A valid edit.
    let file = dir.path().join("app-json.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let edited = text.replace(
        "processors:\n",
        "processors:\n  - set: { field: labels.reloaded, value: true }\n",
    );
    assert_ne!(edited, text);
    std::fs::write(&file, &edited).expect("write");
    eventually("the reload", Duration::from_secs(20), || async {
        (service.metric("sluice_pipeline_reloads_total", &["success"]).await >= 1.0).then_some(())
    })
    .await;
    let version = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("sluice_pipeline_set_info{"))
            .map(str::to_owned)
            .expect("a live pipeline version")
    };
    let version_after = service.metrics().await;
    assert_ne!(
        version(&version_before),
        version(&version_after),
        "the live version changed"
    );
    kafka_client::produce(&kafka.bootstrap(), "app-logs", (10..20).map(record)).await;
    wait_count(&es, "logs-app-*", 20, Duration::from_secs(30)).await;
    let reloaded = es
        .search_sources(
            "logs-app-*",
            &serde_json::json!({"query": {"term": {"labels.reloaded": true}}, "size": 100}),
        )
        .await;
    assert_eq!(reloaded.len(), 10, "exactly the records after the reload");

    // A broken edit: rejected, the running set stays.
    std::fs::write(
        &file,
        edited.replace(
            "- set: { field: labels.reloaded, value: true }",
            "- set: { field: labels.reloaded }",
        ),
    )
    .expect("write");
    eventually("the rejected reload", Duration::from_secs(20), || async {
        (service.metric("sluice_pipeline_reloads_total", &["failure"]).await >= 1.0).then_some(())
    })
    .await;
    assert!(
        service.log().contains("app-json.yaml: processors[0] (set)"),
        "the error names file and processor"
    );
    kafka_client::produce(&kafka.bootstrap(), "app-logs", (20..30).map(record)).await;
    wait_count(&es, "logs-app-*", 30, Duration::from_secs(30)).await;
    let reloaded = es
        .search_sources(
            "logs-app-*",
            &serde_json::json!({"query": {"term": {"labels.reloaded": true}}, "size": 100}),
        )
        .await;
    assert_eq!(reloaded.len(), 20, "the last valid pipelines kept running");
}
