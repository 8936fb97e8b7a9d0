//! The dead-letter queue: records that cannot be indexed (undecodable,
//! pipeline failure configured to dead-letter, rejected by Elasticsearch)
//! are produced, byte for byte, to a Kafka topic with headers saying why and
//! where they came from. Only once that write is acknowledged is the source
//! offset acknowledged, so nothing is committed before it is safe somewhere.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::config::RetryConfig;
use crate::elasticsearch::bulk_request::{IndexItem, encode};
use crate::elasticsearch::index_name::IndexPattern;
use crate::elasticsearch::retry::Backoff;
use crate::metrics::Metrics;
use crate::offsets::{Offsets, RecordId};

/// Header names on dead-lettered records.
pub mod headers {
    /// Machine-readable reason (`invalid_utf8`, `pipeline_failure`, `es_rejected`, …).
    pub const ERROR_TYPE: &str = "sluice.error.type";
    /// Human-readable reason.
    pub const ERROR_REASON: &str = "sluice.error.reason";
    /// Source topic.
    pub const SOURCE_TOPIC: &str = "sluice.source.topic";
    /// Source partition.
    pub const SOURCE_PARTITION: &str = "sluice.source.partition";
    /// Source offset.
    pub const SOURCE_OFFSET: &str = "sluice.source.offset";
    /// Pipeline that processed it, if any.
    pub const PIPELINE: &str = "sluice.pipeline";
    /// When it was dead-lettered (RFC 3339).
    pub const TIMESTAMP: &str = "sluice.timestamp";
}

/// The original Kafka record, kept so it can be dead-lettered unchanged.
#[derive(Debug, Clone, Default)]
pub struct Original {
    /// Value bytes.
    pub payload: Bytes,
    /// Key bytes.
    pub key: Option<Bytes>,
    /// Record headers.
    pub headers: Arc<[(String, Bytes)]>,
    /// Record timestamp (ms since epoch), if any.
    pub timestamp_ms: Option<i64>,
}

/// A record on its way to the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The source record, acknowledged once the write succeeds.
    pub record: RecordId,
    /// Its bytes.
    pub original: Original,
    /// Machine-readable reason, also the metric label.
    pub kind: &'static str,
    /// Human-readable reason.
    pub reason: String,
    /// The pipeline involved.
    pub pipeline: Option<Arc<str>>,
}

/// Where dead letters go.
pub struct DeadLetterWriter {
    /// Producer; `None` when no topic is configured.
    pub producer: Option<(FutureProducer, String)>,
    /// Optional ES failure index and the writer's input to send it to. A
    /// weak sender: the writer's input closes when the pipeline workers are
    /// done, whatever this writer still holds, which keeps shutdown free of
    /// a wait cycle between the two writers.
    pub failure_index: Option<(IndexPattern, mpsc::WeakSender<IndexItem>)>,
    /// For acknowledging source records.
    pub offsets: Arc<Offsets>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Backoff for failed deliveries.
    pub retry: RetryConfig,
}

/// Deliveries in flight at once; more waits, which backs up the channel and
/// eventually pauses consumption.
const MAX_IN_FLIGHT: usize = 1024;

/// Longest the error reason put in a header, to keep DLQ records small.
const MAX_REASON_BYTES: usize = 4096;

impl DeadLetterWriter {
    /// Runs until the input closes and every delivery finished.
    pub async fn run(self, mut rx: mpsc::Receiver<DeadLetter>) {
        let this = Arc::new(self);
        let mut pending = FuturesUnordered::new();
        loop {
            tokio::select! {
                biased;
                Some(()) = pending.next(), if !pending.is_empty() => {}
                msg = rx.recv(), if pending.len() < MAX_IN_FLIGHT => match msg {
                    Some(dl) => pending.push(Arc::clone(&this).deliver(dl)),
                    None => break,
                },
            }
        }
        while pending.next().await.is_some() {}
    }

    async fn deliver(self: Arc<Self>, dl: DeadLetter) {
        let Some((producer, topic)) = &self.producer else {
            // Without a DLQ topic the operator chose to skip failed records:
            // say so loudly, count it, and let the offset advance.
            error!(
                topic = %dl.record.partition.topic,
                partition = dl.record.partition.partition,
                offset = dl.record.offset,
                kind = dl.kind,
                reason = %dl.reason,
                "record skipped: it cannot be indexed and no dead-letter topic is configured"
            );
            self.metrics.dead_letter_skipped.with_label_values(&[dl.kind]).inc();
            self.offsets.ack(&dl.record);
            return;
        };
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let reason = truncate(&dl.reason, MAX_REASON_BYTES);
        let partition = dl.record.partition.partition.to_string();
        let offset = dl.record.offset.to_string();
        let mut hdrs = OwnedHeaders::new();
        for (k, v) in dl.original.headers.iter() {
            hdrs = hdrs.insert(Header {
                key: k,
                value: Some(v.as_ref()),
            });
        }
        for (k, v) in [
            (headers::ERROR_TYPE, dl.kind),
            (headers::ERROR_REASON, reason),
            (headers::SOURCE_TOPIC, &dl.record.partition.topic),
            (headers::SOURCE_PARTITION, &partition),
            (headers::SOURCE_OFFSET, &offset),
            (headers::TIMESTAMP, &now),
        ] {
            hdrs = hdrs.insert(Header { key: k, value: Some(v) });
        }
        if let Some(p) = &dl.pipeline {
            hdrs = hdrs.insert(Header {
                key: headers::PIPELINE,
                value: Some(&**p),
            });
        }
        let mut backoff = Backoff::new(self.retry.initial_backoff, self.retry.max_backoff);
        loop {
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .payload(&dl.original.payload[..])
                .headers(hdrs.clone());
            if let Some(k) = &dl.original.key {
                record = record.key(&k[..]);
            }
            if let Some(ts) = dl.original.timestamp_ms {
                record = record.timestamp(ts);
            }
            match producer.send(record, Duration::from_secs(30)).await {
                Ok(_) => break,
                Err((e, _)) => {
                    self.metrics.dead_letter_errors.inc();
                    let delay = backoff.next_delay();
                    warn!(error = %e, topic = %topic, retry_in = ?delay, "dead-letter write failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
        self.metrics.dead_lettered.with_label_values(&[dl.kind]).inc();
        self.offsets.ack(&dl.record);
        self.index_failure(&dl, &now);
    }

    /// Best effort: the durable copy is the Kafka record; the failure index
    /// only makes failures searchable. A full writer queue skips it rather
    /// than risk a cycle of waits between the two writers.
    fn index_failure(&self, dl: &DeadLetter, now: &str) {
        let Some((pattern, tx)) = &self.failure_index else {
            return;
        };
        let original = String::from_utf8_lossy(&dl.original.payload[..dl.original.payload.len().min(32 * 1024)]);
        let doc = json!({
            "@timestamp": now,
            "error": {"type": dl.kind, "message": dl.reason},
            "event": {"original": original, "kind": "pipeline_error"},
            "kafka": {
                "topic": &*dl.record.partition.topic,
                "partition": dl.record.partition.partition,
                "offset": dl.record.offset,
            },
            "sluice": {"pipeline": dl.pipeline.as_deref()},
        });
        let serde_json::Value::Object(source) = doc else {
            return;
        };
        let document = crate::document::Document::from_source(source);
        let ts = crate::elasticsearch::index_name::document_timestamp(&document).ok();
        let Ok(index) = pattern.render(&document, ts, chrono_tz::Tz::UTC) else {
            return;
        };
        let id = crate::elasticsearch::doc_id::kafka_id(&dl.record);
        let Ok(lines) = encode(crate::config::OpType::Index, &index, Some(&id), None, &document.source) else {
            return;
        };
        let item = IndexItem {
            record: None,
            lines: Bytes::from(lines),
            original: None,
            index: Arc::from(index.as_str()),
            pipeline: Arc::from("dead-letter"),
        };
        let Some(tx) = tx.upgrade() else {
            return;
        };
        if tx.try_send(item).is_err() {
            warn!("failure index document skipped: the Elasticsearch writer queue is full");
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
