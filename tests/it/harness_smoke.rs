//! Smoke tests of the end-to-end harness itself: the real peers start and
//! behave as the service tests will rely on, and every kind of fault the
//! proxy injects looks to a client as it should.

mod kafka {
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};

    use crate::support::kafka_client::{self, Rec};
    use crate::support::peers::Kafka;

    fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
        kafka_client::base_config(bootstrap)
            .set("group.id", group)
            // Members learn of a rebalance through heartbeats; the default of
            // 3 s makes a cooperative (two-round) rebalance take 6 s on tansu.
            .set("heartbeat.interval.ms", "500")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("create group consumer")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn produce_then_consume_as_group_and_commit() {
        let kafka = Kafka::start();
        let bootstrap = kafka.bootstrap();
        kafka.create_topic("smoke", 4);

        let records = (0..2000).map(|i| {
            Rec::new(format!("{{\"n\":{i}}}"))
                .key(format!("k{i}"))
                .header("trace", format!("t{i}"))
                .timestamp(1_700_000_000_000 + i)
        });
        let started = Instant::now();
        let delivered = kafka_client::produce(&bootstrap, "smoke", records).await;
        eprintln!("produced 2000 records in {:?}", started.elapsed());
        assert_eq!(delivered.len(), 2000);
        let partitions_used: HashSet<i32> = delivered.iter().map(|(p, _)| *p).collect();
        assert_eq!(partitions_used.len(), 4, "keys should spread over all 4 partitions");

        let ends = kafka_client::end_offsets(&bootstrap, "smoke").await;
        assert_eq!(ends.values().sum::<i64>(), 2000, "end offsets {ends:?}");

        let b = bootstrap.clone();
        let consumed = tokio::task::spawn_blocking(move || {
            let consumer = group_consumer(&b, "smoke-group");
            consumer.subscribe(&["smoke"]).expect("subscribe");
            let started = Instant::now();
            let mut first_message = None;
            let mut out = Vec::new();
            while out.len() < 2000 {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "consumed only {} of 2000 records",
                    out.len()
                );
                match consumer.poll(Duration::from_millis(100)) {
                    None => {}
                    Some(Err(e)) => panic!("consumer error: {e}"),
                    Some(Ok(m)) => {
                        first_message.get_or_insert_with(|| started.elapsed());
                        out.push(kafka_client::to_record(&m));
                        let _ = m.offset();
                    }
                }
            }
            eprintln!(
                "group consumer: first record after {:?} (join + fetch), all 2000 after {:?}",
                first_message.unwrap_or_default(),
                started.elapsed()
            );
            let assigned = consumer.assignment().expect("assignment").count();
            assert_eq!(assigned, 4, "single member should own every partition");
            consumer.commit_consumer_state(CommitMode::Sync).expect("commit");
            out
        })
        .await
        .expect("consumer thread");

        let keys: HashSet<Vec<u8>> = consumed.iter().filter_map(|r| r.key.clone()).collect();
        assert_eq!(keys.len(), 2000, "every record exactly once");
        let r = consumed
            .iter()
            .find(|r| r.key.as_deref() == Some(b"k7".as_slice()))
            .expect("record k7");
        assert_eq!(r.payload_str(), "{\"n\":7}");
        assert_eq!(r.header("trace"), Some("t7"));
        assert_eq!(r.timestamp, Some(1_700_000_000_007), "CreateTime survives the broker");

        let committed = kafka_client::committed_offsets(&bootstrap, "smoke-group", "smoke").await;
        assert_eq!(
            committed, ends,
            "committed offsets must equal end offsets after consuming everything"
        );

        // A group-less reader sees the same records.
        let all = kafka_client::consume_all(&bootstrap, "smoke", Duration::from_secs(30)).await;
        assert_eq!(all.len(), 2000);
        assert!(
            all.windows(2)
                .all(|w| (w[0].partition, w[0].offset) < (w[1].partition, w[1].offset))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn broker_restart_keeps_records_and_commits() {
        let mut kafka = Kafka::start();
        let bootstrap = kafka.bootstrap();
        kafka.create_topic("persist", 2);
        kafka_client::produce(
            &bootstrap,
            "persist",
            (0..10).map(|i| Rec::new(format!("p{i}")).partition(i % 2)),
        )
        .await;
        let b = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            let consumer = group_consumer(&b, "persist-group");
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset("persist", 0, rdkafka::Offset::Offset(3))
                .unwrap();
            consumer.commit(&tpl, CommitMode::Sync).expect("commit");
        })
        .await
        .unwrap();

        kafka.restart();
        assert_eq!(kafka.bootstrap(), bootstrap, "same address after restart");
        let ends = kafka_client::end_offsets(&bootstrap, "persist").await;
        assert_eq!(ends, [(0, 5), (1, 5)].into_iter().collect());
        let committed = kafka_client::committed_offsets(&bootstrap, "persist-group", "persist").await;
        assert_eq!(committed, [(0, 3)].into_iter().collect());
        let all = kafka_client::consume_all(&bootstrap, "persist", Duration::from_secs(10)).await;
        assert_eq!(all.len(), 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cooperative_rebalance_splits_partitions_between_two_members() {
        let kafka = Kafka::start();
        let bootstrap = kafka.bootstrap();
        kafka.create_topic("rebalance", 4);
        kafka_client::produce(
            &bootstrap,
            "rebalance",
            (0..40).map(|i| Rec::new(format!("r{i}")).partition(i % 4)),
        )
        .await;

        let b = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            let first = group_consumer(&b, "rebalance-group");
            first.subscribe(&["rebalance"]).expect("subscribe");
            let started = Instant::now();
            let count = |c: &BaseConsumer| c.assignment().map(|a| a.count()).unwrap_or(0);
            while count(&first) < 4 {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "first member never got all 4 partitions"
                );
                let _ = first.poll(Duration::from_millis(50));
            }
            eprintln!("first member owns 4 partitions after {:?}", started.elapsed());

            let second = group_consumer(&b, "rebalance-group");
            second.subscribe(&["rebalance"]).expect("subscribe");
            let started = Instant::now();
            // Both members must keep polling: the rebalance callbacks of each
            // run inside its poll.
            while !(count(&first) == 2 && count(&second) == 2) {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "rebalance did not converge to 2+2 (first {}, second {})",
                    count(&first),
                    count(&second)
                );
                let _ = first.poll(Duration::from_millis(20));
                let _ = second.poll(Duration::from_millis(20));
            }
            eprintln!("second member joined, 2+2 split after {:?}", started.elapsed());
        })
        .await
        .expect("consumer thread");
    }
}

mod elastic {
    use std::time::{Duration, Instant};

    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use crate::support::es_client::{EsClient, EsResponse, bulk_index_body};
    use crate::support::fault_proxy::{FaultProxy, ItemSelect, Plan, Step};
    use crate::support::peers::Elastic;

    fn docs(prefix: &str, n: usize) -> Vec<(String, Value)> {
        (0..n)
            .map(|i| (format!("{prefix}-{i}"), json!({"n": i, "message": format!("doc {i}")})))
            .collect()
    }

    fn body(index: &str, docs: &[(String, Value)]) -> Vec<u8> {
        bulk_index_body(index, docs.iter().map(|(id, v)| (id.as_str(), v)))
    }

    /// Sends a bulk until it is not answered with 429/5xx or a transport
    /// error, like a client's retry loop; returns the answer and the attempts.
    async fn bulk_with_retry(client: &EsClient, ndjson: &[u8], gzip: bool) -> (EsResponse, u32) {
        for attempt in 1..=20 {
            match client.bulk(ndjson.to_vec(), gzip).await {
                Ok(resp) if resp.status == StatusCode::TOO_MANY_REQUESTS || resp.status.is_server_error() => {}
                Ok(resp) => return (resp, attempt),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("bulk never got through in 20 attempts");
    }

    fn item_statuses(resp: &Value) -> Vec<u64> {
        resp["items"]
            .as_array()
            .expect("items array")
            .iter()
            .map(|item| {
                item.as_object()
                    .and_then(|o| o.values().next())
                    .and_then(|v| v["status"].as_u64())
                    .unwrap_or(0)
            })
            .collect()
    }

    #[tokio::test]
    async fn request_and_item_level_429_through_the_proxy() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());
        proxy.set_plan(
            Plan::new()
                .then(Step::status(429).on_bulk().times(2))
                .then(Step::reject_items(ItemSelect::Fraction(0.1)).times(1)),
        );

        let docs = docs("d", 100);
        let (resp, attempts) = bulk_with_retry(&client, &body("smoke", &docs), false).await;
        assert_eq!(attempts, 3, "two request-level 429s, then through");
        assert_eq!(resp.status, StatusCode::OK);
        let resp = resp.json();
        assert_eq!(resp["errors"], json!(true));
        let statuses = item_statuses(&resp);
        assert_eq!(statuses.len(), 100, "one response item per request item");
        let rejected: Vec<usize> = (0..100).filter(|&i| statuses[i] == 429).collect();
        assert_eq!(rejected, vec![9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
        assert!((0..100).filter(|i| !rejected.contains(i)).all(|i| statuses[i] == 201));
        // Items stay aligned with the request: ids in the response follow the request order.
        for (i, item) in resp["items"].as_array().unwrap().iter().enumerate() {
            assert_eq!(item["index"]["_id"], json!(docs[i].0));
        }
        assert_eq!(
            resp["items"][9]["index"]["error"]["type"],
            json!("es_rejected_execution_exception")
        );

        let direct = EsClient::new(es.url());
        direct.refresh("smoke").await;
        assert_eq!(
            direct.count("smoke").await,
            90,
            "rejected items must not reach upstream"
        );
        assert!(direct.get_doc("smoke", "d-9").await.is_none());
        assert_eq!(direct.get_doc("smoke", "d-10").await, Some(docs[10].1.clone()));

        let retry: Vec<(String, Value)> = rejected.iter().map(|&i| docs[i].clone()).collect();
        let (resp, attempts) = bulk_with_retry(&client, &body("smoke", &retry), false).await;
        assert_eq!(attempts, 1, "plan exhausted: pass-through");
        assert_eq!(resp.json()["errors"], json!(false));
        direct.refresh("smoke").await;
        assert_eq!(direct.count("smoke").await, 100);

        let stats = proxy.stats();
        assert_eq!(stats.bulk_requests, 4);
        assert_eq!(stats.status_faults, 2);
        assert_eq!(stats.items_rejected, 10);
        assert_eq!(stats.item_faults, 1);
        assert_eq!(stats.bulk_items_forwarded, 100);
        assert_eq!(stats.requests.get("/_bulk"), Some(&4));
        assert_eq!(stats.faults_injected(), 3);
    }

    #[tokio::test]
    async fn gzip_bodies_and_mixed_actions_are_split_correctly() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());

        // Pass-through gzip.
        let first = docs("g", 20);
        let (resp, _) = bulk_with_retry(&client, &body("gz", &first), true).await;
        assert_eq!(resp.json()["errors"], json!(false));

        // Mixed actions, gzip, rejections at chosen positions. The delete has
        // no source line; splitting must not shift later items.
        let ndjson = [
            r#"{"delete":{"_index":"gz","_id":"g-0"}}"#,
            r#"{"create":{"_index":"gz","_id":"c-1"}}"#,
            r#"{"n":1}"#,
            r#"{"index":{"_index":"gz","_id":"c-2"}}"#,
            r#"{"n":2}"#,
            r#"{"delete":{"_index":"gz","_id":"g-1"}}"#,
            r#"{"create":{"_index":"gz"}}"#,
            r#"{"n":3}"#,
            r#"{"create":{"_index":"gz","_id":"g-2"}}"#,
            r#"{"n":4}"#,
            "",
        ]
        .join("\n");
        proxy.set_plan(Plan::new().then(Step::reject_items(ItemSelect::Positions(vec![1, 3])).times(1)));
        let (resp, _) = bulk_with_retry(&client, ndjson.as_bytes(), true).await;
        let resp = resp.json();
        assert_eq!(item_statuses(&resp), vec![200, 429, 201, 429, 201, 409], "{resp}");
        let actions: Vec<&str> = resp["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_object().unwrap().keys().next().unwrap().as_str())
            .collect();
        assert_eq!(actions, ["delete", "create", "index", "delete", "create", "create"]);
        assert_eq!(resp["items"][1]["create"]["_id"], json!("c-1"));
        assert_eq!(
            resp["items"][5]["create"]["error"]["type"],
            json!("version_conflict_engine_exception")
        );

        let direct = EsClient::new(es.url());
        direct.refresh("gz").await;
        // 20 - g-0 deleted + c-2 + auto-id doc; c-1 rejected, g-1 delete rejected.
        assert_eq!(direct.count("gz").await, 21);
        assert!(direct.get_doc("gz", "c-1").await.is_none());
        assert!(direct.get_doc("gz", "g-1").await.is_some());
        assert_eq!(proxy.stats().items_rejected, 2);
    }

    #[tokio::test]
    async fn filter_path_is_applied_after_splicing() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());
        let send = |filter: &'static str, docs: Vec<(String, Value)>| {
            let client = client.clone();
            async move {
                let path = format!("/_bulk?filter_path={filter}");
                let resp = client
                    .try_request(
                        reqwest::Method::POST,
                        &path,
                        Some("application/x-ndjson"),
                        Some(body("fp", &docs)),
                        &[],
                    )
                    .await
                    .expect("bulk");
                assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
                resp.json()
            }
        };

        proxy.set_plan(Plan::new().then(Step::reject_items(ItemSelect::First(2)).forever()));
        let statuses = send("items.*.status", docs("a", 5)).await;
        assert_eq!(
            statuses,
            json!({"items": [
                {"index": {"status": 429}}, {"index": {"status": 429}},
                {"index": {"status": 201}}, {"index": {"status": 201}}, {"index": {"status": 201}},
            ]})
        );
        // As in Elasticsearch, items.*.error drops the successful items.
        let errors = send("errors,items.*.error.type", docs("b", 5)).await;
        assert_eq!(
            errors,
            json!({"errors": true, "items": [
                {"index": {"error": {"type": "es_rejected_execution_exception"}}},
                {"index": {"error": {"type": "es_rejected_execution_exception"}}},
            ]})
        );
        assert_eq!(EsClient::new(es.url()).count("fp").await, 6);
    }

    #[tokio::test]
    async fn all_items_rejected_never_reaches_upstream() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());
        proxy.set_plan(Plan::new().then(Step::reject_items(ItemSelect::All).times(1)));
        let (resp, _) = bulk_with_retry(&client, &body("allrej", &docs("a", 5)), false).await;
        assert_eq!(item_statuses(&resp.json()), vec![429; 5]);
        assert_eq!(EsClient::new(es.url()).count("allrej").await, 0);
    }

    #[tokio::test]
    async fn stall_then_forward_and_stall_then_close() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());
        let direct = EsClient::new(es.url());

        proxy.set_plan(Plan::new().then(Step::stall(Duration::from_millis(400)).on_bulk().times(1)));
        let started = Instant::now();
        let resp = client
            .bulk(body("stall", &docs("s", 3)), false)
            .await
            .expect("stalled request completes");
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(resp.status, StatusCode::OK);

        proxy.set_plan(Plan::new().then(Step::stall_then_close(Duration::from_millis(200)).times(1)));
        let err = client
            .bulk(body("stall", &docs("x", 3)), false)
            .await
            .expect_err("closed without a response");
        eprintln!("client error on close after stall: {err:?}");
        direct.refresh("stall").await;
        assert_eq!(direct.count("stall").await, 3, "closed request must not be forwarded");

        // A client that times out during a stall does not stop the upstream
        // write: the case that duplicates auto-id documents on retry.
        proxy.set_plan(Plan::new().then(Step::stall(Duration::from_millis(500)).times(1)));
        let impatient = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(150))
            .build()
            .unwrap();
        let err = impatient
            .post(format!("{}/_bulk", proxy.url()))
            .header("content-type", "application/x-ndjson")
            .body(body("stall", &docs("late", 2)))
            .send()
            .await
            .expect_err("client timeout");
        assert!(err.is_timeout(), "{err:?}");
        crate::support::eventually("late docs indexed", Duration::from_secs(5), || async {
            direct.refresh("stall").await;
            (direct.count("stall").await == 5).then_some(())
        })
        .await;
        assert_eq!(proxy.stats().stalls, 3);
    }

    #[tokio::test]
    async fn reset_and_close_are_transport_errors_then_recover() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());

        proxy.set_plan(Plan::new().then(Step::reset().times(1)).then(Step::close().times(1)));
        let reset = client.bulk(body("rst", &docs("r", 2)), false).await.expect_err("reset");
        eprintln!("client error on reset: {reset:?}");
        let closed = client.bulk(body("rst", &docs("r", 2)), false).await.expect_err("close");
        eprintln!("client error on close: {closed:?}");
        let resp = client
            .bulk(body("rst", &docs("r", 2)), false)
            .await
            .expect("pass-through after faults");
        assert_eq!(resp.status, StatusCode::OK);
        let direct = EsClient::new(es.url());
        direct.refresh("rst").await;
        assert_eq!(direct.count("rst").await, 2);
        let stats = proxy.stats();
        assert_eq!((stats.resets, stats.closes), (1, 1));
    }

    #[tokio::test]
    async fn status_faults_look_like_es_and_load_balancer_errors() {
        let es = Elastic::start();
        let proxy = FaultProxy::start(es.url());
        let client = EsClient::new(&proxy.url());

        proxy.set_plan(
            Plan::new()
                .then(Step::status(502).times(1))
                .then(Step::status(503).times(1))
                .then(Step::status(504).times(1)),
        );
        let r502 = client.bulk(body("st", &docs("s", 1)), false).await.unwrap();
        assert_eq!(r502.status, StatusCode::BAD_GATEWAY);
        assert!(r502.text().contains("<h1>502 Bad Gateway</h1>"));
        assert_eq!(r502.headers["content-type"], "text/html");
        let r503 = client.bulk(body("st", &docs("s", 1)), false).await.unwrap();
        assert_eq!(r503.json()["error"]["type"], json!("cluster_block_exception"));
        assert_eq!(r503.json()["status"], json!(503));
        let r504 = client.bulk(body("st", &docs("s", 1)), false).await.unwrap();
        assert_eq!(r504.status, StatusCode::GATEWAY_TIMEOUT);

        // A time-boxed outage, scoped to bulk requests only.
        proxy.set_plan(Plan::new().then(Step::status(503).on_bulk().for_duration(Duration::from_millis(300))));
        let started = Instant::now();
        let (resp, attempts) = bulk_with_retry(&client, &body("st", &docs("s", 1)), false).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert!(attempts > 1 && started.elapsed() >= Duration::from_millis(300));
        let root = client.request_json(reqwest::Method::GET, "/", None).await;
        assert!(root["version"]["number"].is_string(), "GET / passes through: {root}");

        let stats = proxy.stats();
        assert_eq!(stats.status_faults, 3 + u64::from(attempts - 1));
        assert_eq!(EsClient::new(es.url()).count("st").await, 1);
    }
}
