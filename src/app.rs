//! `sluice run`: the only module that knows every stage. It checks the
//! peers, then wires
//!
//! ```text
//! consumer thread ─▶ pipeline workers ─▶ ES writer ─▶ acks ─▶ offsets ─▶ commits
//!                                   └──▶ DLQ writer ─▶ acks ─┘
//! ```
//!
//! with bounded channels, which are the backpressure, and runs until the
//! shutdown future resolves; then it drains within the grace period and
//! commits what was acknowledged.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use arc_swap::ArcSwap;
use chrono_tz::Tz;
use prometheus::core::Collector;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::{Config, OpType};
use crate::dead_letter::DeadLetterWriter;
use crate::elasticsearch::client::EsClient;
use crate::elasticsearch::doc_id::IdStrategy;
use crate::elasticsearch::index_name::IndexPattern;
use crate::elasticsearch::templates;
use crate::elasticsearch::writer::Writer;
use crate::http::{self, Health};
use crate::kafka::client_config;
use crate::kafka::consumer::{ConsumerStage, Context, Control};
use crate::metrics::Metrics;
use crate::offsets::Offsets;
use crate::pipeline::{CompileOptions, PipelineSet};
use crate::processing::Stage;
use crate::routing::Router;

/// Records queued per pipeline worker.
const WORKER_QUEUE: usize = 1024;
/// Dead letters queued before the pipeline blocks.
const DLQ_QUEUE: usize = 1024;
/// How long closing the consumer (final commit, leaving the group) may take
/// after the drain.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often Elasticsearch is pinged for readiness when idle.
const ES_PING_INTERVAL: Duration = Duration::from_secs(10);

/// Overrides from the command line.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// `--geoip-dir`, over the config's `pipelines.geoip_dir`.
    pub geoip_dir: Option<PathBuf>,
    /// `--user-agent-regexes`.
    pub user_agent_regexes: Option<PathBuf>,
    /// Reports the bound metrics address (tests use port 0).
    pub metrics_bound: Option<oneshot::Sender<SocketAddr>>,
}

/// Compile options from config and command line.
pub fn compile_options(config: &Config, opts: &RunOptions) -> CompileOptions {
    CompileOptions {
        geoip_dir: opts.geoip_dir.clone().or_else(|| config.pipelines.geoip_dir.clone()),
        user_agent_regexes: opts
            .user_agent_regexes
            .clone()
            .or_else(|| config.pipelines.user_agent_regexes.clone()),
        user_agent_cache_size: 0,
    }
}

/// Everything `sluice check --config` verifies: the config, the pipelines,
/// the routes, index patterns, templates, and that clients can be built
/// (certificate and secret files readable). No network.
pub fn check(config: &Config, opts: &RunOptions) -> anyhow::Result<(PipelineSet, Router, Vec<templates::Template>)> {
    let set = PipelineSet::load_dir(&config.pipelines.dir, &compile_options(config, opts))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let router = Router::new(&config.routes).map_err(anyhow::Error::msg)?;
    router.check_pipelines(&set).map_err(anyhow::Error::msg)?;
    let templates = match (
        &config.elasticsearch.templates_dir,
        config.elasticsearch.install_templates,
    ) {
        (Some(dir), true) => templates::load(dir)?,
        _ => Vec::new(),
    };
    EsClient::new(&config.elasticsearch)?;
    client_config::consumer(&config.kafka, config.offsets.commit_interval).map_err(anyhow::Error::msg)?;
    IdStrategy::from_config(&config.elasticsearch.id).map_err(anyhow::Error::msg)?;
    Ok((set, router, templates))
}

/// Runs the service until `shutdown` resolves.
pub async fn run(config: Config, mut opts: RunOptions, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (set, router, templates) = check(&config, &opts)?;
    info!(
        pipelines = %set.names().join(","),
        version = set.version(),
        "pipelines compiled"
    );
    // Compiling left garbage behind; from now on it is handed back.
    crate::memory::spawn_trimmer();
    let pipelines = Arc::new(ArcSwap::from_pointee(set));
    let metrics = Metrics::new(Arc::clone(&pipelines));
    crate::reload::publish(&metrics, &pipelines.load(), None);
    let offsets = Arc::new(Offsets::new());
    let timezone: Tz = config
        .elasticsearch
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid timezone {}", config.elasticsearch.timezone))?;

    // Peers first: fail fast, with retries, and with a clear message.
    let es = EsClient::new(&config.elasticsearch)?;
    wait_for_elasticsearch(&es, config.elasticsearch.startup_timeout).await?;
    metrics.es_up.set(1);
    templates::install(&es, &templates).await?;

    let consumer_config =
        client_config::consumer(&config.kafka, config.offsets.commit_interval).map_err(anyhow::Error::msg)?;
    let assigned = Arc::new(AtomicBool::new(false));
    let context = Context::new(
        Arc::clone(&offsets),
        Arc::clone(&metrics),
        config.offsets.revoke_timeout,
        Arc::clone(&assigned),
    );
    let consumer: BaseConsumer<Context> = consumer_config
        .create_with_context(context)
        .context("cannot create the Kafka consumer")?;
    let consumer = wait_for_kafka(consumer, &config).await?;

    let producer = match &config.dead_letter.topic {
        Some(topic) => {
            let p: FutureProducer = client_config::producer(&config.kafka)
                .map_err(anyhow::Error::msg)?
                .create()
                .context("cannot create the dead-letter producer")?;
            Some((p, topic.clone()))
        }
        None => {
            warn!("no dead_letter.topic: records that cannot be indexed will be logged and skipped");
            None
        }
    };

    let health = Health {
        metrics: Arc::clone(&metrics),
        offsets: Arc::clone(&offsets),
        assigned: Arc::clone(&assigned),
        stall_timeout: config.offsets.stall_timeout,
    };
    let (bound, server) = http::bind(config.metrics.listen, health).await?;
    info!(address = %bound, "metrics and health endpoints listening");
    if let Some(tx) = opts.metrics_bound.take() {
        let _ = tx.send(bound);
    }
    let server = tokio::spawn(server);

    // Stages, from the end of the flow to its start.
    let (to_es, es_rx) = mpsc::channel(config.elasticsearch.bulk.max_docs);
    let (to_dlq, dlq_rx) = mpsc::channel(DLQ_QUEUE);
    let failure_index = match &config.dead_letter.failure_index {
        Some(p) => Some((IndexPattern::compile(p).map_err(anyhow::Error::msg)?, to_es.downgrade())),
        None => None,
    };
    let dlq = tokio::spawn(
        DeadLetterWriter {
            producer,
            failure_index,
            offsets: Arc::clone(&offsets),
            metrics: Arc::clone(&metrics),
            retry: config.elasticsearch.retry.clone(),
        }
        .run(dlq_rx),
    );
    let writer = tokio::spawn(
        Writer {
            client: es.clone(),
            bulk: config.elasticsearch.bulk.clone(),
            retry: config.elasticsearch.retry.clone(),
            create: config.elasticsearch.op_type == OpType::Create,
            offsets: Arc::clone(&offsets),
            metrics: Arc::clone(&metrics),
            to_dlq: to_dlq.clone(),
        }
        .run(es_rx),
    );
    let stopping = Arc::new(AtomicBool::new(false));
    let workers = match config.pipelines.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    let router = Arc::new(router);
    let reloader = tokio::spawn(
        crate::reload::Reloader {
            dir: config.pipelines.dir.clone(),
            options: compile_options(&config, &opts),
            router: Arc::clone(&router),
            pipelines: Arc::clone(&pipelines),
            metrics: Arc::clone(&metrics),
        }
        .run(config.pipelines.watch, config.pipelines.reload_interval),
    );
    let stage = Arc::new(Stage {
        pipelines: Arc::clone(&pipelines),
        router,
        ids: IdStrategy::from_config(&config.elasticsearch.id).map_err(anyhow::Error::msg)?,
        op_type: config.elasticsearch.op_type,
        timezone,
        data_stream: config.elasticsearch.data_stream,
        missing_timestamp: config.elasticsearch.missing_timestamp,
        max_record_bytes: config.pipelines.max_record_bytes.0,
        offsets: Arc::clone(&offsets),
        metrics: Arc::clone(&metrics),
        to_es,
        to_dlq,
        stopping: Arc::clone(&stopping),
    });
    let (worker_inputs, worker_handles) = stage.spawn(workers, WORKER_QUEUE);
    let control = Control::default();
    let (consumer_done_tx, consumer_done) = oneshot::channel::<()>();
    let consumer_thread = {
        let stage = ConsumerStage {
            consumer,
            offsets: Arc::clone(&offsets),
            metrics: Arc::clone(&metrics),
            workers: worker_inputs,
            max_in_flight_bytes: config.offsets.max_in_flight_bytes.0,
            // Stored often, committed by librdkafka every commit_interval.
            store_interval: config.offsets.commit_interval.min(Duration::from_millis(200)),
            control: control.clone(),
        };
        std::thread::Builder::new()
            .name("sluice-consumer".to_owned())
            .spawn(move || {
                stage.run();
                let _ = consumer_done_tx.send(());
            })
            .context("cannot start the consumer thread")?
    };
    info!(workers, topics = %config.topics().join(","), group = %config.kafka.group_id, "sluice running");

    let background = tokio::spawn(background_tasks(
        es.clone(),
        Arc::clone(&metrics),
        Arc::clone(&offsets),
        config.log.progress_interval,
        config.offsets.stall_timeout,
    ));

    let mut consumer_done = consumer_done;
    let unexpected = tokio::select! {
        _ = shutdown => false,
        _ = &mut consumer_done => true,
    };
    if unexpected {
        warn!("the consumer stopped unexpectedly; shutting down");
    }

    // Graceful stop: no new records; let the stages drain; commit.
    let started = Instant::now();
    control.stop.store(true, Ordering::Release);
    stopping.store(true, Ordering::Release);
    let drain = async {
        for h in worker_handles {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        let _ = writer.await;
        let _ = dlq.await;
    };
    match tokio::time::timeout(config.shutdown.grace_period, drain).await {
        Ok(()) => info!(elapsed = ?started.elapsed(), "in-flight records drained"),
        Err(_) => warn!(
            grace_period = ?config.shutdown.grace_period,
            in_flight_bytes = offsets.in_flight_bytes(),
            "grace period ran out; committing only what was acknowledged (the rest will be re-read)"
        ),
    }
    control.drained.store(true, Ordering::Release);
    // Closing commits the stored offsets and leaves the group; with the
    // brokers gone that could take long, and the process must still exit.
    let closing = tokio::task::spawn_blocking(move || consumer_thread.join());
    if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        warn!("the Kafka consumer did not close in time; exiting (uncommitted records will be re-read)");
    }
    background.abort();
    reloader.abort();
    server.abort();
    info!("sluice stopped");
    if unexpected {
        bail!("the Kafka consumer stopped unexpectedly");
    }
    Ok(())
}

async fn wait_for_elasticsearch(es: &EsClient, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    loop {
        match es.info().await {
            Ok(info) => {
                info!(
                    url = %es.url,
                    cluster = %info["cluster_name"].as_str().unwrap_or("?"),
                    version = %info["version"]["number"].as_str().unwrap_or("?"),
                    "elasticsearch reachable"
                );
                return Ok(());
            }
            Err(e) if Instant::now() + delay < deadline => {
                warn!(url = %es.url, error = %e, retry_in = ?delay, "elasticsearch not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => bail!(
                "Elasticsearch at {} is not reachable after {:?}: {e} (check elasticsearch.urls, credentials and TLS settings)",
                es.url,
                timeout
            ),
        }
    }
}

/// Checks the brokers answer and every topic (and the DLQ topic) exists,
/// retrying until the startup timeout; then subscribes.
async fn wait_for_kafka(consumer: BaseConsumer<Context>, config: &Config) -> anyhow::Result<BaseConsumer<Context>> {
    let timeout = config.kafka.startup_timeout;
    let brokers = config.kafka.brokers.clone();
    let mut topics = config.topics();
    if let Some(dlq) = &config.dead_letter.topic {
        topics.push(dlq.clone());
    }
    let subscribe = config.topics();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(250);
        let metadata = loop {
            match consumer.fetch_metadata(None, Duration::from_secs(5)) {
                Ok(m) => break m,
                Err(e) if Instant::now() + delay < deadline => {
                    warn!(brokers = %brokers, error = %e, retry_in = ?delay, "kafka not reachable yet");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => bail!(
                    "Kafka brokers {brokers} are not reachable after {timeout:?}: {e} (check kafka.brokers and kafka.security)"
                ),
            }
        };
        let missing: Vec<&String> = topics
            .iter()
            .filter(|t| {
                !metadata
                    .topics()
                    .iter()
                    .any(|m| m.name() == t.as_str() && m.error().is_none() && !m.partitions().is_empty())
            })
            .collect();
        if !missing.is_empty() {
            bail!(
                "Kafka topic(s) {} do not exist on {brokers}; create them (routes[].topic, dead_letter.topic)",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        info!(brokers = %brokers, broker_count = metadata.brokers().len(), "kafka reachable");
        let refs: Vec<&str> = subscribe.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).context("cannot subscribe")?;
        Ok(consumer)
    })
    .await
    .context("kafka start-up check panicked")?
}

/// The periodic progress line and the Elasticsearch readiness ping.
async fn background_tasks(
    es: EsClient,
    metrics: Arc<Metrics>,
    offsets: Arc<Offsets>,
    progress_interval: Duration,
    stall_timeout: Duration,
) {
    let mut ping = tokio::time::interval(ES_PING_INTERVAL);
    let progress_every = if progress_interval.is_zero() {
        Duration::from_secs(3600 * 24 * 365)
    } else {
        progress_interval
    };
    let mut progress = tokio::time::interval(progress_every);
    progress.tick().await;
    let mut last_counts = std::collections::HashMap::<String, u64>::new();
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = ping.tick() => {
                metrics.es_up.set(i64::from(es.info().await.is_ok()));
            }
            _ = progress.tick(), if !progress_interval.is_zero() => {
                metrics.refresh(&offsets, stall_timeout);
                let elapsed = last.elapsed().as_secs_f64().max(0.001);
                last = Instant::now();
                let mut total = 0u64;
                let mut per_index = Vec::new();
                for family in metrics.docs_by_index.collect() {
                    for m in family.get_metric() {
                        let index = m.get_label().first().map(|l| l.value().to_owned()).unwrap_or_default();
                        let value = m.get_counter().value() as u64;
                        let delta = value - last_counts.get(&index).copied().unwrap_or(0);
                        last_counts.insert(index.clone(), value);
                        total += delta;
                        if delta > 0 {
                            per_index.push(format!("{index}={delta}"));
                        }
                    }
                }
                let lag: i64 = metrics
                    .consumer_lag
                    .collect()
                    .iter()
                    .flat_map(|f| f.get_metric().iter().map(|m| m.get_gauge().value() as i64))
                    .sum();
                info!(
                    docs_per_sec = (total as f64 / elapsed).round(),
                    lag,
                    in_flight_bytes = offsets.in_flight_bytes(),
                    partitions = offsets.assigned_count(),
                    indexed = %per_index.join(" "),
                    "progress"
                );
            }
        }
    }
}
