//! Runs the real `sluice` binary against the test peers: writes a config,
//! starts `sluice run`, exposes its metrics, and stops it with SIGTERM or
//! SIGKILL.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::pipelines_support::{geoip_dir, repo};
use crate::support::es_client::EsClient;
use crate::support::peers::{Elastic, Kafka, free_port};

/// Service end-to-end tests each run a broker, an ES-API server and one or
/// two services; on a 2-core machine running them at once makes timings
/// meaningless. Each takes this guard for its whole duration.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The peers of one end-to-end test: a broker with its topics and the
/// dead-letter topic `sluice-dlq`, and the ES-API server with a client.
pub struct Peers {
    pub kafka: Kafka,
    pub es_peer: Elastic,
    pub es: EsClient,
}

impl Peers {
    /// Starts both peers; `topics` are (name, partitions).
    pub fn start(topics: &[(&str, i32)]) -> Peers {
        let kafka = Kafka::start();
        for (name, partitions) in topics {
            kafka.create_topic(name, *partitions);
        }
        kafka.create_topic("sluice-dlq", 1);
        let es_peer = Elastic::start();
        let es = EsClient::new(es_peer.url());
        Peers { kafka, es_peer, es }
    }
}

/// Settings for one service instance.
pub struct ServiceConfig {
    /// Kafka bootstrap address.
    pub kafka: String,
    /// Elasticsearch (or proxy) URL.
    pub es: String,
    /// The `routes:` YAML list (indented as a top-level key's value).
    pub routes: String,
    /// Extra top-level YAML appended to the config (sections not set here).
    pub extra: String,
    /// Consumer group.
    pub group: String,
    /// `elasticsearch.timezone`.
    pub timezone: String,
    /// `pipelines.dir`.
    pub pipelines: PathBuf,
    /// Extra lines inside the `elasticsearch:` section (indented 2).
    pub es_extra: String,
    /// `elasticsearch.startup_timeout`.
    pub es_startup_timeout: String,
}

impl ServiceConfig {
    /// A config with the given routes and test-friendly timings.
    pub fn new(kafka: &str, es: &str, routes: &str) -> Self {
        ServiceConfig {
            kafka: kafka.to_owned(),
            es: es.to_owned(),
            routes: routes.to_owned(),
            extra: String::new(),
            group: "sluice".to_owned(),
            timezone: "UTC".to_owned(),
            pipelines: repo().join("pipelines"),
            es_extra: String::new(),
            es_startup_timeout: "20s".to_owned(),
        }
    }

    fn render(&self, metrics_port: u16) -> String {
        format!(
            r#"kafka:
  brokers: "{kafka}"
  group_id: "{group}"
  startup_timeout: 20s
  librdkafka:
    # Members learn of rebalances through heartbeats; tansu's cooperative
    # rebalance takes two rounds.
    heartbeat.interval.ms: "500"
    session.timeout.ms: "6000"
pipelines:
  dir: "{pipelines}"
  geoip_dir: "{geoip}"
  workers: 2
routes:
{routes}
elasticsearch:
  urls: ["{es}"]
  templates_dir: "{templates}"
  timezone: "{timezone}"
  startup_timeout: {es_startup_timeout}
{es_extra}
  bulk:
    max_docs: 500
    linger: 50ms
    request_timeout: 10s
  retry:
    initial_backoff: 50ms
    max_backoff: 1s
offsets:
  commit_interval: 300ms
  revoke_timeout: 5s
metrics:
  listen: "127.0.0.1:{metrics_port}"
shutdown:
  grace_period: 10s
log:
  progress_interval: 2s
{extra}
"#,
            kafka = self.kafka,
            group = self.group,
            pipelines = self.pipelines.display(),
            geoip = geoip_dir().display(),
            routes = self.routes,
            es = self.es,
            templates = repo().join("templates").display(),
            extra = self.extra,
            timezone = self.timezone,
            es_startup_timeout = self.es_startup_timeout,
            es_extra = self.es_extra,
        )
    }
}

/// A running `sluice run`.
pub struct Service {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Base URL of /metrics, /healthz, /readyz.
    pub http: String,
}

impl Service {
    /// Starts the binary; does not wait for readiness.
    pub fn start(config: &ServiceConfig) -> Service {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let path = dir.path().join("sluice.yaml");
        std::fs::write(&path, config.render(port)).expect("writing config");
        let log = std::fs::File::create(dir.path().join("sluice.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["run", "--config"])
            .arg(&path)
            .env("SLUICE_LOG", "info,sluice=debug,rdkafka=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("starting sluice");
        Service {
            child: Some(child),
            dir,
            http: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The service's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("sluice.log")
    }

    /// Waits until /readyz answers 200 (assignment received, ES up).
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.http)).send().await
                && r.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("sluice not ready after {timeout:?}; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The metrics text, or empty if the listener is not up.
    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("{}/metrics", self.http)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Sum of a metric's samples whose line contains every `filter`.
    pub async fn metric(&self, name: &str, filters: &[&str]) -> f64 {
        metric_sum(&self.metrics().await, name, filters)
    }

    /// SIGKILL: a crash. No drain, no final commit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.wait_child(timeout, "")
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(child) = &self.child {
            // SAFETY: sending a signal to our own child process.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        self.wait_child(timeout, " after SIGTERM")
    }

    /// Waits up to `timeout` for the process to exit; past it, kills it
    /// and fails the test with its log. `after` ends the failure message.
    fn wait_child(&mut self, timeout: Duration, after: &str) -> ExitStatus {
        let mut child = self.child.take().expect("service is running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for sluice") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("sluice did not exit within {timeout:?}{after}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- sluice log ({}):\n{}", self.log_path().display(), self.log());
        }
    }
}

/// Sum of the samples of `name` (exact metric name) whose label set
/// contains every filter substring.
pub fn metric_sum(text: &str, name: &str, filters: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let metric = l.split(['{', ' ']).next().unwrap_or("");
            metric == name && filters.iter().all(|f| l.contains(f))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
