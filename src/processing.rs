//! The pipeline stage: worker threads that turn consumed records into bulk
//! items (or dead letters, or acknowledged drops). Synchronous and CPU-bound,
//! so it runs on plain threads, not on the async runtime.
//!
//! Each worker owns a bounded input channel; the consumer sends all records
//! of a partition to the same worker, which keeps a partition's documents in
//! order and lets workers run without sharing a queue.

use std::sync::Arc;
use std::thread::JoinHandle;

use crate::value::{Map, Value};
use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{FixedOffset, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;
use tracing::debug;

use crate::config::{MissingTimestampPolicy, OpType, PipelineFailurePolicy};
use crate::dead_letter::{DeadLetter, Original};
use crate::document::Document;
use crate::elasticsearch::bulk_request::{IndexItem, encode};
use crate::elasticsearch::doc_id::IdStrategy;
use crate::elasticsearch::index_name::{IndexNameError, document_timestamp};
use crate::metrics::Metrics;
use crate::offsets::{Offsets, RecordId};
use crate::pipeline::{PipelineSet, Processed};
use crate::routing::{Route, Router};

/// A consumed record.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Where it came from.
    pub id: RecordId,
    /// Its bytes.
    pub original: Original,
    /// A record with a null value (a compaction tombstone): nothing to
    /// index, acknowledged as done.
    pub tombstone: bool,
}

/// Everything a worker needs; shared by all workers.
pub struct Stage {
    /// The live pipeline set (swapped on reload; a record finishes on the
    /// version it started with).
    pub pipelines: Arc<ArcSwap<PipelineSet>>,
    /// Routing table.
    pub router: Arc<Router>,
    /// `_id` strategy.
    pub ids: IdStrategy,
    /// Bulk action.
    pub op_type: OpType,
    /// Timezone of dates in index names.
    pub timezone: Tz,
    /// Data-stream mode (needs `@timestamp`).
    pub data_stream: bool,
    /// What to do without `@timestamp`.
    pub missing_timestamp: MissingTimestampPolicy,
    /// Records larger than this are dead-lettered.
    pub max_record_bytes: usize,
    /// For acknowledging drops.
    pub offsets: Arc<Offsets>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// To the Elasticsearch writer.
    pub to_es: mpsc::Sender<IndexItem>,
    /// To the dead-letter writer.
    pub to_dlq: mpsc::Sender<DeadLetter>,
    /// Set on shutdown: queued records are dropped unprocessed. They were
    /// never acknowledged, so they are not committed and the next owner of
    /// the partition reads them again; only bulks already built are
    /// flushed, which keeps shutdown inside the grace period.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
}

/// What happened to a record, for tests and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Sent to the Elasticsearch writer.
    Indexed,
    /// Dropped by the pipeline and acknowledged.
    Dropped,
    /// Sent to the dead-letter writer with this reason.
    DeadLettered(&'static str),
    /// The downstream channel is closed (shutting down).
    Closed,
}

/// Tag added when `@timestamp` came from the Kafka record.
pub const TAG_TIMESTAMP_FROM_KAFKA: &str = "_timestamp_from_kafka";

impl Stage {
    /// Starts `n` workers; returns their inputs and handles. Dropping the
    /// inputs stops the workers once their queues are empty.
    pub fn spawn(self: Arc<Self>, n: usize, queue: usize) -> (Vec<mpsc::Sender<SourceRecord>>, Vec<JoinHandle<()>>) {
        let mut inputs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::channel(queue);
            let stage = Arc::clone(&self);
            let handle = std::thread::Builder::new()
                .name(format!("sluice-pipeline-{i}"))
                .spawn(move || stage.work(rx))
                .expect("spawning a thread only fails when the OS is out of resources");
            inputs.push(tx);
            handles.push(handle);
        }
        (inputs, handles)
    }

    fn work(&self, mut rx: mpsc::Receiver<SourceRecord>) {
        while let Some(rec) = rx.blocking_recv() {
            if self.stopping.load(std::sync::atomic::Ordering::Acquire) {
                continue;
            }
            if self.handle(rec) == Disposition::Closed {
                debug!("pipeline worker stopping: downstream closed");
                return;
            }
        }
    }

    /// Processes one record to its disposition.
    pub fn handle(&self, rec: SourceRecord) -> Disposition {
        if rec.tombstone {
            self.metrics
                .records_processed
                .with_label_values(&["", "tombstone"])
                .inc();
            self.offsets.ack(&rec.id);
            return Disposition::Dropped;
        }
        let Some(route) = self.router.route(&rec.id.partition.topic, &rec.original.headers) else {
            let reason = format!(
                "no route matches topic `{}` and the record's headers",
                rec.id.partition.topic
            );
            return self.dead_letter(rec, "no_route", reason, None);
        };
        let mut doc = match Document::decode(&rec.original.payload, self.max_record_bytes) {
            Ok(d) => d,
            Err(e) => {
                self.metrics
                    .records_processed
                    .with_label_values(&[&route.pipeline, "failed"])
                    .inc();
                return self.dead_letter(rec, e.kind(), e.to_string(), Some(&route.pipeline));
            }
        };
        doc.ingest.insert("kafka", kafka_metadata(&rec));
        let set = self.pipelines.load();
        match set.run(&route.pipeline, doc) {
            Processed::Document(doc) => {
                self.metrics
                    .records_processed
                    .with_label_values(&[&route.pipeline, "success"])
                    .inc();
                self.index(rec, route, doc)
            }
            Processed::Dropped => {
                self.metrics
                    .records_processed
                    .with_label_values(&[&route.pipeline, "dropped"])
                    .inc();
                self.offsets.ack(&rec.id);
                Disposition::Dropped
            }
            Processed::Failed(doc, failure) => {
                self.metrics
                    .records_processed
                    .with_label_values(&[&route.pipeline, "failed"])
                    .inc();
                match route.on_pipeline_failure {
                    PipelineFailurePolicy::Index => self.index(rec, route, doc),
                    PipelineFailurePolicy::DeadLetter => {
                        self.dead_letter(rec, "pipeline_failure", failure.to_string(), Some(&route.pipeline))
                    }
                }
            }
        }
    }

    fn index(&self, rec: SourceRecord, route: &Route, mut doc: Document) -> Disposition {
        let ts = if route.index.uses_date() || self.data_stream {
            match document_timestamp(&doc) {
                Ok(ts) => Some(ts),
                Err(e) => match self.missing_timestamp {
                    MissingTimestampPolicy::DeadLetter => {
                        return self.dead_letter(rec, "missing_timestamp", e.to_string(), Some(&route.pipeline));
                    }
                    MissingTimestampPolicy::KafkaTimestamp => Some(self.timestamp_from_kafka(&rec, &mut doc, &e)),
                },
            }
        } else {
            None
        };
        let index = match doc.index() {
            Some(i) => i.to_owned(),
            None => match route.index.render(&doc, ts, self.timezone) {
                Ok(i) => i,
                Err(e) => return self.dead_letter(rec, "index_name", e.to_string(), Some(&route.pipeline)),
            },
        };
        let id = self.ids.id_for(&rec.id, &doc);
        let lines = match encode(self.op_type, &index, id.as_deref(), doc.routing(), &doc.source) {
            Ok(l) => l,
            Err(e) => {
                return self.dead_letter(rec, "serialization", e.to_string(), Some(&route.pipeline));
            }
        };
        let item = IndexItem {
            record: Some(rec.id),
            lines: Bytes::from(lines),
            original: Some(rec.original),
            index: Arc::from(index.as_str()),
            pipeline: Arc::clone(&route.pipeline),
        };
        match self.to_es.blocking_send(item) {
            Ok(()) => Disposition::Indexed,
            Err(_) => Disposition::Closed,
        }
    }

    fn timestamp_from_kafka(
        &self,
        rec: &SourceRecord,
        doc: &mut Document,
        why: &IndexNameError,
    ) -> chrono::DateTime<FixedOffset> {
        let ts = rec
            .original
            .timestamp_ms
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .unwrap_or_else(Utc::now)
            .fixed_offset();
        if let Some(bad) = doc.source.remove("@timestamp") {
            // Keep what was there so nothing is silently lost.
            doc.source.insert(
                "event".to_owned(),
                merge_event_original_ts(doc.source.get("event"), bad),
            );
        }
        doc.source.insert(
            "@timestamp".to_owned(),
            Value::from(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        doc.add_tag(TAG_TIMESTAMP_FROM_KAFKA);
        debug!(reason = %why, "using the Kafka record timestamp as @timestamp");
        ts
    }

    fn dead_letter(
        &self,
        rec: SourceRecord,
        kind: &'static str,
        reason: String,
        pipeline: Option<&Arc<str>>,
    ) -> Disposition {
        let dl = DeadLetter {
            record: rec.id,
            original: rec.original,
            kind,
            reason,
            pipeline: pipeline.cloned(),
        };
        match self.to_dlq.blocking_send(dl) {
            Ok(()) => Disposition::DeadLettered(kind),
            Err(_) => Disposition::Closed,
        }
    }
}

/// `_ingest.kafka`: the record's coordinates, for conditions and `set`.
fn kafka_metadata(rec: &SourceRecord) -> Value {
    let mut m = Map::with_capacity(4);
    m.insert("topic", Value::from(rec.id.partition.topic.to_string()));
    m.insert("partition", Value::from(rec.id.partition.partition));
    m.insert("offset", Value::from(rec.id.offset));
    if let Some(ts) = rec.original.timestamp_ms {
        m.insert("timestamp", Value::from(ts));
    }
    Value::Object(m)
}

fn merge_event_original_ts(event: Option<&Value>, bad: Value) -> Value {
    let mut m = match event {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    m.insert("original_timestamp", bad);
    Value::Object(m)
}

/// Which worker handles a partition.
pub fn worker_for(id: &RecordId, workers: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.partition.hash(&mut h);
    (h.finish() % workers.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;
    use crate::offsets::Partition;
    use crate::pipeline::CompileOptions;

    struct Harness {
        stage: Stage,
        es: mpsc::Receiver<IndexItem>,
        dlq: mpsc::Receiver<DeadLetter>,
        epoch: u64,
        _dir: tempfile::TempDir,
    }

    fn harness(routes: &str, pipelines: &[(&str, &str)], policy: MissingTimestampPolicy) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in pipelines {
            std::fs::write(dir.path().join(format!("{name}.yaml")), text).unwrap();
        }
        let set = PipelineSet::load_dir(dir.path(), &CompileOptions::default()).unwrap();
        let routes: Vec<RouteConfig> = serde_yaml::from_str(routes).unwrap();
        let (to_es, es) = mpsc::channel(16);
        let (to_dlq, dlq) = mpsc::channel(16);
        let pipelines = Arc::new(ArcSwap::from_pointee(set));
        let offsets = Arc::new(Offsets::new());
        let epoch = offsets.assign(Partition {
            topic: Arc::from("logs"),
            partition: 0,
        });
        let stage = Stage {
            metrics: Metrics::new(Arc::clone(&pipelines)),
            pipelines,
            router: Arc::new(Router::new(&routes).unwrap()),
            ids: IdStrategy::Kafka,
            op_type: OpType::Index,
            timezone: Tz::UTC,
            data_stream: false,
            missing_timestamp: policy,
            max_record_bytes: 1024,
            offsets,
            to_es,
            to_dlq,
            stopping: Default::default(),
        };
        Harness {
            stage,
            es,
            dlq,
            epoch,
            _dir: dir,
        }
    }

    fn record(h: &Harness, offset: i64, payload: &[u8]) -> SourceRecord {
        let id = RecordId {
            partition: Partition {
                topic: Arc::from("logs"),
                partition: 0,
            },
            epoch: h.epoch,
            offset,
        };
        h.stage.offsets.register(&id, payload.len()).unwrap();
        SourceRecord {
            id,
            original: Original {
                payload: Bytes::copy_from_slice(payload),
                key: None,
                headers: Arc::from(Vec::new()),
                timestamp_ms: Some(1_700_000_000_000),
            },
            tombstone: false,
        }
    }

    const ROUTES: &str = r#"
- topic: logs
  pipeline: p
  index: "logs-%{+yyyy.MM.dd}"
  on_pipeline_failure: dead_letter
"#;

    #[test]
    fn indexes_with_kafka_ids_and_daily_index() {
        let mut h = harness(
            ROUTES,
            &[(
                "p",
                "processors:\n  - set: { field: '@timestamp', value: '2024-05-06T07:08:09Z' }\n",
            )],
            MissingTimestampPolicy::KafkaTimestamp,
        );
        assert_eq!(h.stage.handle(record(&h, 7, b"hello")), Disposition::Indexed);
        let item = h.es.try_recv().unwrap();
        let text = String::from_utf8(item.lines.to_vec()).unwrap();
        assert!(
            text.starts_with("{\"index\":{\"_index\":\"logs-2024.05.06\",\"_id\":\"logs-0-7\"}}\n"),
            "{text}"
        );
        assert!(text.contains("\"message\":\"hello\""));
        assert!(!text.contains("_ingest"), "ingest metadata never reaches _source");
    }

    #[test]
    fn missing_timestamp_falls_back_to_kafka_and_tags() {
        let mut h = harness(
            ROUTES,
            &[("p", "processors:\n  - set: { field: '@timestamp', value: 'garbage' }\n")],
            MissingTimestampPolicy::KafkaTimestamp,
        );
        assert_eq!(h.stage.handle(record(&h, 1, b"x")), Disposition::Indexed);
        let text = String::from_utf8(h.es.try_recv().unwrap().lines.to_vec()).unwrap();
        assert!(text.contains("logs-2023.11.14"), "{text}");
        assert!(text.contains(TAG_TIMESTAMP_FROM_KAFKA));
        assert!(text.contains("\"original_timestamp\":\"garbage\""));
    }

    #[test]
    fn missing_timestamp_can_dead_letter() {
        let mut h = harness(ROUTES, &[("p", "processors: []\n")], MissingTimestampPolicy::DeadLetter);
        assert_eq!(
            h.stage.handle(record(&h, 1, b"x")),
            Disposition::DeadLettered("missing_timestamp")
        );
        assert_eq!(h.dlq.try_recv().unwrap().kind, "missing_timestamp");
    }

    #[test]
    fn bad_records_and_failures_are_dead_lettered_and_drops_acked() {
        let mut h = harness(
            ROUTES,
            &[(
                "p",
                "processors:\n  - drop: { if: \"message == 'drop me'\" }\n  - fail: { message: 'nope {{message}}' }\n",
            )],
            MissingTimestampPolicy::KafkaTimestamp,
        );
        assert_eq!(
            h.stage.handle(record(&h, 1, b"\xff\xfe")),
            Disposition::DeadLettered("invalid_utf8")
        );
        assert_eq!(
            h.stage.handle(record(&h, 2, &[b'a'; 2000])),
            Disposition::DeadLettered("record_too_large")
        );
        let failed = h.stage.handle(record(&h, 3, b"boom"));
        assert_eq!(failed, Disposition::DeadLettered("pipeline_failure"));
        let dl: Vec<DeadLetter> = std::iter::from_fn(|| h.dlq.try_recv().ok()).collect();
        assert_eq!(dl.len(), 3);
        assert!(dl[2].reason.contains("nope boom"), "{}", dl[2].reason);
        assert_eq!(&dl[0].original.payload[..], b"\xff\xfe");
        // Dropped records are acknowledged at once; the dead-lettered ones
        // wait for the DLQ write.
        assert_eq!(h.stage.handle(record(&h, 4, b"drop me")), Disposition::Dropped);
        assert_eq!(h.stage.offsets.in_flight_of(&[dl[0].record.partition.clone()]), 3);
    }
}
