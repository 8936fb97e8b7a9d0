//! Every Prometheus metric Sluice exports, declared once. Stages hold an
//! `Arc<Metrics>` and update the fields; gauges derived from shared state
//! (offsets, lag, per-processor counters) are refreshed at scrape time.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::offsets::Offsets;
use crate::pipeline::{CompiledProcessor, PipelineSet};

/// All metrics.
pub struct Metrics {
    registry: Registry,
    /// Records read from Kafka, by topic.
    pub records_consumed: IntCounterVec,
    /// Pipeline outcomes, by pipeline and outcome (success, dropped, failed).
    pub records_processed: IntCounterVec,
    /// Records written to the dead-letter queue, by reason.
    pub dead_lettered: IntCounterVec,
    /// Records that had to be skipped because no DLQ topic is configured.
    pub dead_letter_skipped: IntCounterVec,
    /// Failed DLQ deliveries (retried), by error.
    pub dead_letter_errors: IntCounter,
    /// Bulk item results (created, updated, duplicate, retried, rejected).
    pub docs: IntCounterVec,
    /// Documents indexed, by index (for the progress line and dashboards).
    pub docs_by_index: IntCounterVec,
    /// Bulk request latency by outcome.
    pub bulk_duration: HistogramVec,
    /// Bulk request bytes, by encoding (raw, wire).
    pub bulk_bytes: IntCounterVec,
    /// Bulk requests by outcome.
    pub bulk_requests: IntCounterVec,
    /// Retries by reason.
    pub retries: IntCounterVec,
    /// 1 while Elasticsearch answered the last request, else 0.
    pub es_up: IntGauge,
    /// Offset commits by result.
    pub commits: IntCounterVec,
    /// Record bytes consumed and not yet acknowledged.
    pub in_flight_bytes: IntGauge,
    /// 1 while consumption is paused by backpressure.
    pub consumer_paused: IntGauge,
    /// Rebalance events by kind (assign, revoke).
    pub rebalances: IntCounterVec,
    /// Assigned partitions.
    pub assigned_partitions: IntGauge,
    /// Committed offset per partition.
    pub committed_offset: IntGaugeVec,
    /// Acknowledged offset per partition (commit candidate).
    pub acked_offset: IntGaugeVec,
    /// High watermark per partition, from librdkafka statistics.
    pub high_watermark: IntGaugeVec,
    /// High watermark minus committed offset.
    pub consumer_lag: IntGaugeVec,
    /// 1 if the partition has records waiting and made no progress within
    /// the stall timeout.
    pub partition_stalled: IntGaugeVec,
    /// Records waiting for acknowledgement per partition.
    pub partition_in_flight: IntGaugeVec,
    /// Kafka client errors by kind.
    pub kafka_errors: IntCounterVec,
    /// Pipeline set reloads by result (success, failure).
    pub reloads: IntCounterVec,
    /// Info gauge: 1 for the live pipeline set version.
    pub pipeline_set_info: IntGaugeVec,
    /// Age of each GeoIP database build, in seconds.
    pub geoip_database_age: IntGaugeVec,
    /// Unix time of the last successful reload.
    pub last_reload: IntGauge,
    /// Histogram of records per bulk request.
    pub bulk_docs: Histogram,
    high_watermarks: Mutex<HashMap<(String, i32), i64>>,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition is valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric is registered once");
    c
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition is valid");
    registry
        .register(Box::new(g.clone()))
        .expect("each metric is registered once");
    g
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("static metric definition is valid");
    registry
        .register(Box::new(g.clone()))
        .expect("each metric is registered once");
    g
}

impl Metrics {
    /// Creates and registers every metric. Pass the live pipeline set so
    /// per-processor counters can be exported.
    pub fn new(pipelines: Arc<ArcSwap<PipelineSet>>) -> Arc<Self> {
        let r = Registry::new();
        let bulk_duration = HistogramVec::new(
            HistogramOpts::new(
                "sluice_es_bulk_request_duration_seconds",
                "Elasticsearch bulk request latency, by outcome.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["outcome"],
        )
        .expect("static metric definition is valid");
        r.register(Box::new(bulk_duration.clone()))
            .expect("each metric is registered once");
        let bulk_docs = Histogram::with_opts(
            HistogramOpts::new(
                "sluice_es_bulk_request_docs",
                "Documents per Elasticsearch bulk request.",
            )
            .buckets(vec![1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0]),
        )
        .expect("static metric definition is valid");
        r.register(Box::new(bulk_docs.clone()))
            .expect("each metric is registered once");
        r.register(Box::new(ProcessorCollector::new(pipelines)))
            .expect("each metric is registered once");

        Arc::new(Metrics {
            records_consumed: counter(
                &r,
                "sluice_records_consumed_total",
                "Records read from Kafka.",
                &["topic"],
            ),
            records_processed: counter(
                &r,
                "sluice_records_processed_total",
                "Records run through a pipeline, by pipeline and outcome (success, dropped, failed).",
                &["pipeline", "outcome"],
            ),
            dead_lettered: counter(
                &r,
                "sluice_dead_letter_records_total",
                "Records written to the dead-letter topic, by reason.",
                &["reason"],
            ),
            dead_letter_skipped: counter(
                &r,
                "sluice_dead_letter_skipped_total",
                "Failed records skipped because no dead-letter topic is configured, by reason.",
                &["reason"],
            ),
            dead_letter_errors: {
                let c = IntCounter::new(
                    "sluice_dead_letter_errors_total",
                    "Failed deliveries to the dead-letter topic (each is retried).",
                )
                .expect("static metric definition is valid");
                r.register(Box::new(c.clone())).expect("each metric is registered once");
                c
            },
            docs: counter(
                &r,
                "sluice_es_docs_total",
                "Bulk item results: created, updated, duplicate (409 on create), retried, rejected.",
                &["result"],
            ),
            docs_by_index: counter(
                &r,
                "sluice_es_docs_indexed_total",
                "Documents acknowledged by Elasticsearch, by index.",
                &["index"],
            ),
            bulk_duration,
            bulk_bytes: counter(
                &r,
                "sluice_es_bulk_bytes_total",
                "Bulk request body bytes, raw (uncompressed) and wire (as sent).",
                &["encoding"],
            ),
            bulk_requests: counter(
                &r,
                "sluice_es_bulk_requests_total",
                "Bulk requests by outcome (success, retry, split, reject, error).",
                &["outcome"],
            ),
            retries: counter(
                &r,
                "sluice_es_retries_total",
                "Retries of bulk requests or items, by reason.",
                &["reason"],
            ),
            es_up: gauge(
                &r,
                "sluice_es_up",
                "1 if the last Elasticsearch request got an HTTP answer, else 0.",
            ),
            commits: counter(
                &r,
                "sluice_kafka_commits_total",
                "Offset commits by result.",
                &["result"],
            ),
            in_flight_bytes: gauge(
                &r,
                "sluice_in_flight_bytes",
                "Record bytes consumed and not yet acknowledged by Elasticsearch or the dead-letter topic.",
            ),
            consumer_paused: gauge(
                &r,
                "sluice_consumer_paused",
                "1 while consumption is paused by backpressure.",
            ),
            rebalances: counter(
                &r,
                "sluice_kafka_rebalances_total",
                "Rebalance events by kind.",
                &["kind"],
            ),
            assigned_partitions: gauge(
                &r,
                "sluice_kafka_assigned_partitions",
                "Partitions assigned to this consumer.",
            ),
            committed_offset: gauge_vec(
                &r,
                "sluice_kafka_committed_offset",
                "Last committed offset (next record to read), per partition.",
                &["topic", "partition"],
            ),
            acked_offset: gauge_vec(
                &r,
                "sluice_kafka_acked_offset",
                "Offset below which every record is acknowledged, per partition.",
                &["topic", "partition"],
            ),
            high_watermark: gauge_vec(
                &r,
                "sluice_kafka_high_watermark",
                "Partition high watermark from librdkafka statistics.",
                &["topic", "partition"],
            ),
            consumer_lag: gauge_vec(
                &r,
                "sluice_kafka_consumer_lag",
                "High watermark minus committed offset, per partition.",
                &["topic", "partition"],
            ),
            partition_stalled: gauge_vec(
                &r,
                "sluice_partition_stalled",
                "1 if the partition has records waiting and its commit watermark has not moved within the stall timeout.",
                &["topic", "partition"],
            ),
            partition_in_flight: gauge_vec(
                &r,
                "sluice_partition_in_flight_records",
                "Records of the partition waiting for acknowledgement.",
                &["topic", "partition"],
            ),
            kafka_errors: counter(
                &r,
                "sluice_kafka_errors_total",
                "Kafka client errors by kind.",
                &["kind"],
            ),
            reloads: counter(
                &r,
                "sluice_pipeline_reloads_total",
                "Pipeline set reload attempts by result (success, failure).",
                &["result"],
            ),
            pipeline_set_info: gauge_vec(
                &r,
                "sluice_pipeline_set_info",
                "Always 1; the version label is the hash of the live pipeline set.",
                &["version"],
            ),
            geoip_database_age: gauge_vec(
                &r,
                "sluice_geoip_database_age_seconds",
                "Age of each loaded GeoIP database's build.",
                &["database"],
            ),
            last_reload: gauge(
                &r,
                "sluice_pipeline_last_reload_timestamp_seconds",
                "Unix time of the last successful pipeline set load.",
            ),
            bulk_docs,
            high_watermarks: Mutex::new(HashMap::new()),
            registry: r,
        })
    }

    /// Records a partition's high watermark (from librdkafka statistics).
    pub fn set_high_watermark(&self, topic: &str, partition: i32, hw: i64) {
        self.high_watermarks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((topic.to_owned(), partition), hw);
    }

    /// Refreshes the gauges derived from offsets.
    pub fn refresh(&self, offsets: &Offsets, stall_timeout: std::time::Duration) {
        self.in_flight_bytes
            .set(i64::try_from(offsets.in_flight_bytes()).unwrap_or(i64::MAX));
        let status = offsets.status();
        self.assigned_partitions
            .set(i64::try_from(status.len()).unwrap_or(i64::MAX));
        for g in [
            &self.committed_offset,
            &self.acked_offset,
            &self.high_watermark,
            &self.consumer_lag,
            &self.partition_stalled,
            &self.partition_in_flight,
        ] {
            // Revoked partitions must disappear rather than freeze.
            g.reset();
        }
        let hws = self.high_watermarks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for s in status {
            let p = s.partition.partition.to_string();
            let labels = [&*s.partition.topic, p.as_str()];
            if let Some(c) = s.committed {
                self.committed_offset.with_label_values(&labels).set(c);
            }
            if let Some(a) = s.acked {
                self.acked_offset.with_label_values(&labels).set(a);
            }
            if let Some(hw) = hws.get(&(s.partition.topic.to_string(), s.partition.partition)) {
                self.high_watermark.with_label_values(&labels).set(*hw);
                if let Some(c) = s.committed {
                    self.consumer_lag.with_label_values(&labels).set((hw - c).max(0));
                }
            }
            self.partition_stalled
                .with_label_values(&labels)
                .set(i64::from(s.stalled_for >= stall_timeout));
            self.partition_in_flight
                .with_label_values(&labels)
                .set(i64::try_from(s.in_flight).unwrap_or(i64::MAX));
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which
        // static definitions rule out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Exports the per-processor counters kept inside the live pipeline set.
struct ProcessorCollector {
    pipelines: Arc<ArcSwap<PipelineSet>>,
    descs: Vec<Desc>,
}

const PROCESSOR_LABELS: &[&str] = &["pipeline", "type", "processor"];

impl ProcessorCollector {
    fn new(pipelines: Arc<ArcSwap<PipelineSet>>) -> Self {
        let (invocations, failures, seconds) = Self::fresh();
        let descs = invocations
            .desc()
            .into_iter()
            .chain(failures.desc())
            .chain(seconds.desc())
            .cloned()
            .collect();
        ProcessorCollector { pipelines, descs }
    }

    fn fresh() -> (IntCounterVec, IntCounterVec, prometheus::CounterVec) {
        let valid = "static metric definition is valid";
        (
            IntCounterVec::new(
                Opts::new("sluice_processor_invocations_total", "Processor runs (condition true)."),
                PROCESSOR_LABELS,
            )
            .expect(valid),
            IntCounterVec::new(
                Opts::new("sluice_processor_failures_total", "Processor failures, handled or not."),
                PROCESSOR_LABELS,
            )
            .expect(valid),
            prometheus::CounterVec::new(
                Opts::new(
                    "sluice_processor_seconds_total",
                    "Time spent in each processor (estimated from a sample of its runs).",
                ),
                PROCESSOR_LABELS,
            )
            .expect(valid),
        )
    }
}

fn visit(pipeline: &str, list: &[CompiledProcessor], f: &mut dyn FnMut(&str, &CompiledProcessor)) {
    for p in list {
        f(pipeline, p);
        visit(pipeline, &p.on_failure, f);
    }
}

impl Collector for ProcessorCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Counters are rebuilt from the live set on each scrape; a reload
        // starts them from zero, which Prometheus treats as a counter reset.
        let (inv, fail, secs) = Self::fresh();
        let set = self.pipelines.load();
        for pipeline in set.iter() {
            let mut add = |name: &str, p: &CompiledProcessor| {
                let position = p.location.split(" (").next().unwrap_or(&p.location);
                let id = p.tag.as_deref().unwrap_or(position);
                let labels = [name, p.kind.as_str(), id];
                inv.with_label_values(&labels)
                    .inc_by(p.stats.invocations.load(Ordering::Relaxed));
                fail.with_label_values(&labels)
                    .inc_by(p.stats.failures.load(Ordering::Relaxed));
                secs.with_label_values(&labels).inc_by(p.stats.nanos() as f64 / 1e9);
            };
            visit(&pipeline.name, &pipeline.processors, &mut add);
            visit(&pipeline.name, &pipeline.on_failure, &mut add);
        }
        let mut out = inv.collect();
        out.extend(fail.collect());
        out.extend(secs.collect());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help() {
        let m = Metrics::new(Arc::new(ArcSwap::from_pointee(PipelineSet::empty())));
        m.records_consumed.with_label_values(&["t"]).inc();
        m.docs.with_label_values(&["created"]).inc_by(3);
        let text = m.render();
        assert!(text.contains("# HELP sluice_records_consumed_total Records read from Kafka."));
        assert!(text.contains("sluice_es_docs_total{result=\"created\"} 3"));
    }
}
