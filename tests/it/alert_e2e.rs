//! End-to-end tests of `sluice alert`: the real binary against osmem (the
//! ES-API server), a webhook receiver in the test and an aiosmtpd SMTP sink,
//! with 1 s windows so each test takes seconds. Documents are indexed with
//! explicit `@timestamp`s in the shape Sluice's app pipelines produce.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::routing::post;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::es_client::{EsClient, bulk_index_body};
use crate::support::eventually;
use crate::support::peers::{Elastic, free_port};

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    query: String,
    body: Value,
}

/// A webhook receiver: records every POST; `/fail` always answers 503,
/// `/dingtalk` answers like the DingTalk robot.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        async fn record(
            State(hits): State<Arc<Mutex<Vec<Hit>>>>,
            UrlPath(path): UrlPath<String>,
            RawQuery(query): RawQuery,
            body: String,
        ) -> (axum::http::StatusCode, String) {
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            hits.lock().unwrap().push(Hit {
                path: path.clone(),
                query: query.unwrap_or_default(),
                body,
            });
            match path.as_str() {
                "fail" => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down".into()),
                "dingtalk" => (axum::http::StatusCode::OK, r#"{"errcode":0,"errmsg":"ok"}"#.into()),
                _ => (axum::http::StatusCode::OK, "ok".into()),
            }
        }
        let app = Router::new().route("/{path}", post(record)).with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, hits, task }
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Generic-webhook notifications of `rule` with `status`.
    fn notifications(&self, rule: &str, status: &str) -> Vec<Value> {
        self.hits("generic")
            .into_iter()
            .map(|h| h.body)
            .filter(|b| b["rule"] == rule && b["status"] == status)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The aiosmtpd sink (tests/support/smtp_sink.py).
struct Smtp {
    port: u16,
    dir: TempDir,
    child: Child,
}

impl Smtp {
    fn start() -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("python3")
                .arg(&script)
                .arg(port.to_string())
                .arg(dir.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("run python3 tests/support/smtp_sink.py (aiosmtpd is installed by scripts/install-deps.sh)");
            let mut line = String::new();
            let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
            if line.trim() == "ready" {
                return Smtp { port, dir, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the SMTP sink did not start (is aiosmtpd installed? pip install aiosmtpd)");
    }

    /// Received messages, oldest first.
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `sluice alert` process.
struct Alerter {
    child: Option<Child>,
    log: PathBuf,
    metrics_url: String,
}

impl Alerter {
    fn start(dir: &Path, name: &str, config: &str) -> Alerter {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let metrics_port = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("listen: 127.0.0.1:"))
            .and_then(|p| p.trim().parse::<u16>().ok())
            .expect("config has metrics.listen");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["--log-level", "info,sluice=debug", "alert", "--config"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sluice alert");
        Alerter {
            child: Some(child),
            log,
            metrics_url: format!("http://127.0.0.1:{metrics_port}"),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait: a graceful stop that releases the lease.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid, which is not yet reaped.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("sluice alert did not stop on SIGTERM\n{}", self.log());
        }
    }

    /// SIGKILL: a crash, lease left behind.
    fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn metrics(&self) -> String {
        match reqwest::get(format!("{}/metrics", self.metrics_url)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The value of an unlabelled or fully labelled sample line.
    async fn metric(&self, line_prefix: &str) -> Option<f64> {
        self.metrics()
            .await
            .lines()
            .find(|l| l.starts_with(line_prefix) && l[line_prefix.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Waits until this evaluator leads (and so has evaluated its first
    /// windows): documents indexed after that are in windows it evaluates.
    /// A first run without state evaluates only the latest window.
    async fn wait_leader(&self) {
        eventually("the evaluator to lead", Duration::from_secs(15), || async {
            (self.metric("sluice_alert_leader").await == Some(1.0)).then_some(())
        })
        .await;
    }

    async fn readyz(&self) -> Option<(u16, Value)> {
        let r = reqwest::get(format!("{}/readyz", self.metrics_url)).await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.ok()?))
    }
}

impl Drop for Alerter {
    fn drop(&mut self) {
        self.crash();
        if std::thread::panicking() {
            eprintln!("--- sluice alert log {} ---\n{}", self.log.display(), self.log());
        }
    }
}

/// osmem with Sluice's app index template (keyword fields as in production).
async fn elastic() -> (Elastic, EsClient) {
    let es = Elastic::start();
    let client = EsClient::new(es.url());
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/logs-app.json")).unwrap(),
    )
    .unwrap();
    client.put_index_template("logs-app", &template).await;
    (es, client)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An application log document as the app pipelines index it.
fn app_doc(ts: i64, service: &str, level: &str, message: &str, i: usize) -> Value {
    let mut d = json!({
        "@timestamp": rfc3339(ts),
        "event": {"dataset": "app", "kind": "event"},
        "host": {"name": "app-1"},
        "log": {"level": level, "logger": format!("com.example.{service}")},
        "service": {"name": service},
        "message": message,
        "http": {"request": {"id": format!("req-{service}-{i}")}},
    });
    if level == "error" {
        let trace: Vec<String> = std::iter::once(format!("java.lang.IllegalStateException: {message}"))
            .chain((0..60).map(|k| format!("\tat com.example.{service}.Frame{k}(Frame.java:{k})")))
            .collect();
        d["error"] =
            json!({"type": "java.lang.IllegalStateException", "message": message, "stack_trace": trace.join("\n")});
    }
    d
}

async fn index(es: &EsClient, docs: &[Value]) {
    let mut by_index: std::collections::BTreeMap<String, Vec<(String, &Value)>> = Default::default();
    for d in docs {
        let day = d["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
        let id = format!("d{}", rand_id());
        by_index.entry(format!("logs-app-{day}")).or_default().push((id, d));
    }
    for (idx, docs) in by_index {
        let body = bulk_index_body(&idx, docs.iter().map(|(id, d)| (id.as_str(), *d)));
        let r = es.bulk(body, false).await.expect("bulk");
        assert!(r.status.is_success(), "bulk failed: {}", r.text());
        assert_eq!(r.json()["errors"], false, "bulk item errors: {}", r.text());
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The current second's start; timestamps put inside it count in one window.
fn this_second() -> i64 {
    now_ms() / 1000 * 1000
}

/// A burst of `n` error documents of `service` inside one second.
fn burst(second: i64, service: &str, message: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| app_doc(second + (i as i64 * 7) % 900, service, "error", message, i))
        .collect()
}

struct Setup {
    es: Elastic,
    client: EsClient,
    hooks: Receiver,
    smtp: Smtp,
    dir: TempDir,
}

async fn setup() -> Setup {
    let (es, client) = elastic().await;
    Setup {
        es,
        client,
        hooks: Receiver::start().await,
        smtp: Smtp::start(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    /// An alerts.yaml with fast timings; `rules` is the YAML of the rule list.
    fn config(&self, holder: &str, rules: &str) -> String {
        let hook = &self.hooks.url;
        format!(
            r#"elasticsearch: {{urls: ["{es}"]}}
kibana: {{url: "http://kibana.test:5601", data_view: logs-app}}
evaluation: {{every: 1s, ingest_delay: 1s, samples: 2, max_catch_up: 1m}}
leader: {{lease_ttl: 3s, renew_every: 500ms, max_clock_skew: 200ms, holder: {holder}}}
metrics:
  listen: 127.0.0.1:{metrics}
delivery: {{max_attempts: 2, initial_backoff: 100ms, max_backoff: 200ms, timeout: 2s}}
receivers:
  - {{name: hook, type: webhook, url: "{hook}/generic"}}
  - {{name: ding, type: dingtalk, url: "{hook}/dingtalk?access_token=tok", secret: SEC123}}
  - {{name: broken, type: webhook, url: "{hook}/fail"}}
  - {{name: mail, type: email, host: 127.0.0.1, port: {smtp}, tls: none, from: "Sluice <alerts@example.com>", to: [oncall@example.com]}}
rules:
{rules}"#,
            es = self.es.url(),
            metrics = free_port(),
            smtp = self.smtp.port,
        )
    }
}

fn frequency_rule(name: &str, service: &str, extra: &str) -> String {
    format!(
        "  - {{name: {name}, type: frequency, index: logs-app-*, window: 2s, threshold: 10, realert: 1h, \
         filter: [{{field: log.level, equals: error}}, {{field: service.name, equals: {service}}}], \
         receivers: [hook]{extra}}}\n"
    )
}

/// Window end (ms) of a notification.
fn window_end(n: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(n["window"]["end"].as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_fires_once_per_realert_interval_and_below_threshold_stays_quiet() {
    let s = setup().await;
    let rules = [
        frequency_rule("checkout-burst", "checkout", ", receivers: [hook, ding, broken, mail]")
            .replace(", receivers: [hook]", ""),
        frequency_rule("api-quiet", "api", ""),
        // A continuous error stream with a short realert: one notification per 2 s.
        frequency_rule("worker-stream", "worker", ", realert: 2s, resolve: false").replace("realert: 1h, ", ""),
    ]
    .concat();
    let mut alerter = Alerter::start(s.dir.path(), "a", &s.config("a", &rules));
    alerter.wait_leader().await;

    let t0 = this_second();
    let mut docs = burst(t0, "checkout", "Charge failed for order 7497", 15);
    docs.extend(burst(t0, "api", "upstream timeout", 5));
    index(&s.client, &docs).await;
    // Worker: 12 errors per second for 6 seconds, indexed as they happen.
    let stream_client = s.client.clone();
    let stream = tokio::spawn(async move {
        for k in 0..6 {
            let second = this_second();
            index(&stream_client, &burst(second, "worker", "job failed", 12)).await;
            let _ = k;
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
    });

    let fired = eventually("checkout-burst to fire", Duration::from_secs(10), || async {
        let f = s.hooks.notifications("checkout-burst", "firing");
        (!f.is_empty()).then_some(f)
    })
    .await;
    let n = &fired[0];
    assert_eq!(n["count"], 15, "{n}");
    assert_eq!(n["threshold"], 10);
    assert_eq!(n["window"]["seconds"], 2.0);
    assert_eq!(n["samples"].as_array().unwrap().len(), 2);
    let st = n["stack_trace"].as_str().unwrap();
    assert!(st.starts_with("java.lang.IllegalStateException: Charge failed"), "{st}");
    assert_eq!(st.lines().count(), 51, "50 lines and an ellipsis");
    assert!(
        n["request_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("req-checkout-"))
    );
    assert!(
        n["kibana_url"]
            .as_str()
            .unwrap()
            .starts_with("http://kibana.test:5601/app/discover#/?_g=")
    );
    assert!(
        n["query_string"]
            .as_str()
            .unwrap()
            .contains("service.name:\"checkout\"")
    );

    // The burst leaves the 2 s window: resolved, and never a second firing.
    eventually("checkout-burst to resolve", Duration::from_secs(8), || async {
        (!s.hooks.notifications("checkout-burst", "resolved").is_empty()).then_some(())
    })
    .await;
    stream.await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.hooks.notifications("checkout-burst", "firing").len(), 1);
    assert!(
        s.hooks.notifications("api-quiet", "firing").is_empty(),
        "5 < 10 must not fire"
    );

    // Realert: the stream fired repeatedly, never twice within 2 s of window time.
    let worker = s.hooks.notifications("worker-stream", "firing");
    assert!(worker.len() >= 2, "expected repeats, got {}", worker.len());
    let ends: Vec<i64> = worker.iter().map(window_end).collect();
    for pair in ends.windows(2) {
        assert!(pair[1] - pair[0] >= 2000, "repeats closer than realert: {ends:?}");
    }
    assert_eq!(worker[0]["repeat"], false);
    assert_eq!(worker[1]["repeat"], true);

    // DingTalk got a signed markdown message.
    let ding = s.hooks.hits("dingtalk");
    assert!(!ding.is_empty());
    assert!(
        ding[0].query.starts_with("access_token=tok&timestamp="),
        "{}",
        ding[0].query
    );
    assert!(ding[0].query.contains("&sign="));
    assert_eq!(ding[0].body["msgtype"], "markdown");
    // Email: one message for the firing and one for the resolve.
    let mails = eventually("two emails", Duration::from_secs(5), || async {
        let m = s.smtp.messages();
        (m.len() >= 2).then_some(m)
    })
    .await;
    assert!(
        mails[0].contains("Subject: [sluice] [FIRING] checkout-burst: 15 in 2s (threshold 10)"),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("multipart/alternative") && mails[0].contains("text/html"));
    assert!(mails[1].contains("[RESOLVED] checkout-burst"));
    // The failing receiver was retried (2 attempts each), counted, and did
    // not hold anything up.
    assert!(s.hooks.hits("fail").len() >= 2);
    let failures = alerter
        .metric("sluice_alert_notification_failures_total{error=\"retryable\",kind=\"webhook\",receiver=\"broken\"}")
        .await
        .unwrap_or(0.0);
    assert!(failures >= 2.0, "{failures}\n{}", alerter.metrics().await);

    // Every notification has an audit record in the state index.
    s.client.refresh("sluice-alert-state").await;
    let audit = s
        .client
        .search_sources(
            "sluice-alert-state",
            &json!({"size": 100, "query": {"bool": {"filter": [
                {"term": {"kind": "notification"}}, {"term": {"rule": "checkout-burst"}}
            ]}}}),
        )
        .await;
    let statuses: Vec<(String, String)> = audit
        .iter()
        .map(|a| {
            (
                a["receiver"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(statuses.contains(&("hook".into(), "delivered".into())), "{statuses:?}");
    assert!(statuses.contains(&("broken".into(), "failed".into())), "{statuses:?}");
    assert_eq!(alerter.metric("sluice_alert_leader").await, Some(1.0));
    alerter.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_cause_suppresses_the_whole_causal_chain() {
    let s = setup().await;
    let rules = [
        "  - {name: db-down, type: frequency, index: logs-app-*, window: 2s, threshold: 5, realert: 1h, \
         filter: [{field: log.level, equals: error}, {query: 'message:\"connection refused\"'}], receivers: [hook]}\n"
            .to_owned(),
        frequency_rule("api-errors", "api", ", suppressed_by: [db-down], suppress_hold: 30s"),
        frequency_rule(
            "checkout-errors",
            "checkout",
            ", suppressed_by: [api-errors], suppress_hold: 30s",
        ),
        // Not in the chain: still notifies.
        frequency_rule("search-errors", "search", ""),
    ]
    .concat();
    let mut alerter = Alerter::start(s.dir.path(), "a", &s.config("a", &rules));
    alerter.wait_leader().await;
    let t0 = this_second();
    let mut docs = burst(t0, "db", "connection refused: db-1:5432", 8);
    docs.extend(burst(t0, "api", "query failed", 20));
    docs.extend(burst(t0, "checkout", "cannot load cart", 20));
    docs.extend(burst(t0, "search", "index missing", 20));
    index(&s.client, &docs).await;

    eventually("db-down and search-errors to fire", Duration::from_secs(10), || async {
        (!s.hooks.notifications("db-down", "firing").is_empty()
            && !s.hooks.notifications("search-errors", "firing").is_empty())
        .then_some(())
    })
    .await;
    // Let the bursts run through their windows.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        s.hooks.notifications("api-errors", "firing").is_empty(),
        "api-errors must be suppressed by db-down"
    );
    assert!(
        s.hooks.notifications("checkout-errors", "firing").is_empty(),
        "checkout-errors must be suppressed through api-errors"
    );
    assert!(
        s.hooks.notifications("api-errors", "resolved").is_empty(),
        "nothing to resolve when nothing was sent"
    );
    let supp = alerter
        .metric("sluice_alert_suppressions_total{rule=\"checkout-errors\",upstream=\"api-errors\"}")
        .await
        .or(alerter
            .metric("sluice_alert_suppressions_total{rule=\"checkout-errors\",upstream=\"db-down\"}")
            .await);
    assert_eq!(supp, Some(1.0), "{}", alerter.metrics().await);
    s.client.refresh("sluice-alert-state").await;
    let held = s
        .client
        .search_sources(
            "sluice-alert-state",
            &json!({"size": 100, "query": {"bool": {"filter": [
                {"term": {"kind": "notification"}}, {"term": {"status": "suppressed"}}
            ]}}}),
        )
        .await;
    let mut rules: Vec<&str> = held.iter().map(|h| h["rule"].as_str().unwrap()).collect();
    rules.sort();
    assert_eq!(
        rules,
        ["api-errors", "checkout-errors"],
        "one suppressed record per held-back firing"
    );
    alerter.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spike_over_the_ewma_baseline_fires_and_a_steady_rate_does_not() {
    let s = setup().await;
    let spike = |name: &str, service: &str| {
        format!(
            "  - {{name: {name}, type: spike, index: logs-app-*, interval: 1s, alpha: 0.3, factor: 3, stddevs: 3, \
             min_count: 10, warmup: 4, realert: 1h, resolve: false, \
             filter: [{{field: service.name, equals: {service}}}], receivers: [hook]}}\n"
        )
    };
    let rules = [spike("gateway-spike", "gateway"), spike("steady-spike", "steady")].concat();
    // Eight seconds of history at a steady rate, so the baseline is learned
    // from what is already indexed.
    let start = this_second();
    let mut history = Vec::new();
    for k in 1..=8 {
        let second = start - k * 1000;
        history.extend((0..5).map(|i| app_doc(second + i as i64 * 150, "gateway", "info", "GET /", i)));
        history.extend((0..20).map(|i| app_doc(second + i as i64 * 40, "steady", "info", "GET /", i)));
    }
    index(&s.client, &history).await;
    let mut alerter = Alerter::start(s.dir.path(), "a", &s.config("a", &rules));

    // Live traffic: gateway 5/s, steady 20/s; gateway spikes to 80 in one second.
    let mut spiked_at = None;
    for k in 0..7 {
        let second = this_second();
        let gateway = if k == 4 { 80 } else { 5 };
        if k == 4 {
            spiked_at = Some(second);
        }
        let mut docs: Vec<Value> = (0..gateway)
            .map(|i| app_doc(second + (i as i64 * 11) % 990, "gateway", "info", "GET /", i))
            .collect();
        docs.extend((0..20).map(|i| app_doc(second + i as i64 * 40, "steady", "info", "GET /", i)));
        index(&s.client, &docs).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let fired = eventually("gateway-spike to fire", Duration::from_secs(6), || async {
        let f = s.hooks.notifications("gateway-spike", "firing");
        (!f.is_empty()).then_some(f)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fired_again = s.hooks.notifications("gateway-spike", "firing");
    let ids: Vec<&Value> = fired_again.iter().map(|n| &n["id"]).collect();
    assert_eq!(fired_again.len(), 1, "{ids:?}");
    let n = &fired[0];
    assert_eq!(n["count"], 80);
    assert_eq!(window_end(n), spiked_at.unwrap() + 1000, "the spiking second");
    let base = n["spike"]["baseline"].as_f64().unwrap();
    assert!((3.0..=7.0).contains(&base), "baseline {base}");
    assert_eq!(
        n["samples"].as_array().unwrap().len(),
        2,
        "samples fetched for the spike interval"
    );
    assert!(
        s.hooks.notifications("steady-spike", "firing").is_empty(),
        "a steady rate must not fire"
    );
    assert!(alerter.log().contains("acquired the leader lease"));
    alerter.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_does_not_resend_and_catches_up_missed_windows() {
    let s = setup().await;
    // A long window keeps the condition true across the restart; without
    // persisted state the new process would notify again.
    let rules = "  - {name: burst, type: frequency, index: logs-app-*, window: 30s, threshold: 10, realert: 1h, \
                 group_by: service.name, filter: [{field: log.level, equals: error}], receivers: [hook]}\n";
    let mut first = Alerter::start(s.dir.path(), "first", &s.config("first", rules));
    first.wait_leader().await;
    index(&s.client, &burst(this_second(), "checkout", "boom", 12)).await;
    eventually("the first firing", Duration::from_secs(10), || async {
        (s.hooks.notifications("burst", "firing").len() == 1).then_some(())
    })
    .await;
    // Delivery is at least once: a crash between the receiver's answer and
    // the audit update would re-send. Crash after the record says delivered.
    eventually("the delivery to be recorded", Duration::from_secs(5), || async {
        let recorded = s
            .client
            .search_sources(
                "sluice-alert-state",
                &json!({"query": {"bool": {"filter": [
                    {"term": {"kind": "notification"}}, {"term": {"status": "delivered"}}
                ]}}}),
            )
            .await;
        (!recorded.is_empty()).then_some(())
    })
    .await;
    // Crash: the lease stays until it expires.
    first.crash();
    // While nothing runs, another service bursts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    index(&s.client, &burst(this_second(), "payments", "boom", 12)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut second = Alerter::start(s.dir.path(), "second", &s.config("second", rules));
    let caught_up = eventually("the missed burst to be notified", Duration::from_secs(12), || async {
        let f = s.hooks.notifications("burst", "firing");
        f.iter().any(|n| n["group"] == "payments").then_some(f)
    })
    .await;
    // Leave time for any duplicate to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = s.hooks.notifications("burst", "firing");
    let checkout: Vec<_> = all.iter().filter(|n| n["group"] == "checkout").collect();
    assert_eq!(
        checkout.len(),
        1,
        "checkout was notified again after the restart: {all:?}"
    );
    assert_eq!(caught_up.iter().filter(|n| n["group"] == "payments").count(), 1);
    assert!(
        second.log().contains("took over an expired leader lease"),
        "{}",
        second.log()
    );
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_evaluator_stays_passive_until_the_leader_stops() {
    let s = setup().await;
    let rules = frequency_rule("burst", "checkout", ", resolve: false");
    let mut a = Alerter::start(s.dir.path(), "a", &s.config("a", &rules));
    let leader = |al: &Alerter| {
        let url = al.metrics_url.clone();
        async move {
            let text = reqwest::get(format!("{url}/metrics")).await.ok()?.text().await.ok()?;
            text.lines()
                .find(|l| l.starts_with("sluice_alert_leader "))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        }
    };
    eventually("a to lead", Duration::from_secs(10), || async {
        (leader(&a).await == Some(1.0)).then_some(())
    })
    .await;
    let mut b = Alerter::start(s.dir.path(), "b", &s.config("b", &rules));
    eventually("b to be ready", Duration::from_secs(10), || async {
        matches!(b.readyz().await, Some((200, _))).then_some(())
    })
    .await;

    index(&s.client, &burst(this_second(), "checkout", "boom", 12)).await;
    eventually("the firing", Duration::from_secs(10), || async {
        (!s.hooks.notifications("burst", "firing").is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.hooks.notifications("burst", "firing").len(), 1, "two evaluators sent");
    assert_eq!(leader(&b).await, Some(0.0), "b must stay passive");
    assert_eq!(leader(&a).await, Some(1.0));
    let (_, ready) = b.readyz().await.unwrap();
    assert_eq!(ready, json!({"ready": true, "leader": false}));
    let lease = s.client.get_doc("sluice-alert-state", "lease").await.unwrap();
    assert_eq!(lease["holder"], "a");

    // The leader stops: it releases the lease and b takes over at once.
    let stopped = Instant::now();
    a.stop();
    eventually("b to lead", Duration::from_secs(5), || async {
        (leader(&b).await == Some(1.0)).then_some(())
    })
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "took {:?}",
        stopped.elapsed()
    );
    // b continues from a's state: no second notification.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.hooks.notifications("burst", "firing").len(), 1);
    b.stop();
}

/// The lease protocol in-process against osmem, with a manual clock so
/// expiry and skew are exact.
mod lease {
    use std::sync::Arc;
    use std::time::Duration;

    use sluice::alert::clock::ManualClock;
    use sluice::alert::config::LeaderConfig;
    use sluice::alert::leader::{LEASE_ID, Lease, Role};
    use sluice::alert::state::StateStore;
    use sluice::config::ElasticsearchConfig;
    use sluice::elasticsearch::client::EsClient as ServiceClient;

    use crate::support::peers::Elastic;

    fn store(es: &Elastic) -> Arc<StateStore> {
        let c = ElasticsearchConfig {
            urls: vec![es.url().to_owned()],
            ..Default::default()
        };
        Arc::new(StateStore::new(ServiceClient::new(&c).unwrap(), "alert-state".into()))
    }

    const T0: i64 = 1_700_000_000_000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acquire_renew_expire_take_over_and_release() {
        let es = Elastic::start();
        let store = store(&es);
        store.ensure_index().await.unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let cfg = LeaderConfig {
            lease_ttl: Duration::from_secs(3),
            renew_every: Duration::from_secs(1),
            max_clock_skew: Duration::from_millis(200),
            holder: None,
        };
        let mut a = Lease::new(store.clone(), clock.clone(), &cfg, "a".into());
        let mut b = Lease::new(store.clone(), clock.clone(), &cfg, "b".into());

        assert_eq!(a.tick().await, Role::Leader, "the first evaluator creates the lease");
        assert_eq!(b.tick().await, Role::Standby, "the second finds it held");
        clock.advance(1_000);
        assert_eq!(a.tick().await, Role::Leader, "renewal");
        assert_eq!(b.tick().await, Role::Standby);

        // a stops renewing. Expiry (renewed at T0+1s, ttl 3s) is T0+4s; b
        // waits out the skew allowance on top.
        clock.set(T0 + 4_150);
        assert_eq!(b.tick().await, Role::Standby, "within max_clock_skew of expiry");
        clock.set(T0 + 4_250);
        assert_eq!(b.tick().await, Role::Leader, "took over the expired lease");
        let (doc, _) = store.get(LEASE_ID).await.unwrap().unwrap();
        assert_eq!(doc["holder"], "b");

        // a comes back (paused process): its conditioned renewal conflicts.
        assert_eq!(a.tick().await, Role::Standby, "a deposed leader learns it at once");
        assert!(!a.is_leader());

        // b releases on shutdown; a acquires without waiting for expiry.
        b.release().await;
        assert!(store.get(LEASE_ID).await.unwrap().is_none());
        assert_eq!(a.tick().await, Role::Leader);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_evaluators_elect_exactly_one() {
        let es = Elastic::start();
        let store = store(&es);
        store.ensure_index().await.unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let cfg = LeaderConfig::default();
        let mut leases: Vec<Lease> = (0..6)
            .map(|i| Lease::new(store.clone(), clock.clone(), &cfg, format!("e{i}")))
            .collect();
        let roles = futures::future::join_all(leases.iter_mut().map(|l| l.tick())).await;
        assert_eq!(roles.iter().filter(|r| **r == Role::Leader).count(), 1, "{roles:?}");
    }
}
