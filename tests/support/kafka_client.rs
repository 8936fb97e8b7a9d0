//! Kafka helpers for setting up and checking end-to-end tests: produce input
//! records, read a topic back (e.g. the dead-letter topic) and read committed
//! and end offsets. Blocking librdkafka calls run on tokio's blocking pool, so
//! the helpers are safe to await from any test runtime.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A record to produce.
#[derive(Clone, Debug, Default)]
pub struct Rec {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// `None` lets the partitioner choose (by key hash, or sticky if no key).
    pub partition: Option<i32>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Milliseconds since the epoch; `None` lets the producer use "now".
    pub timestamp: Option<i64>,
}

impl Rec {
    pub fn new(payload: impl AsRef<[u8]>) -> Rec {
        Rec {
            payload: payload.as_ref().to_vec(),
            ..Rec::default()
        }
    }

    pub fn key(mut self, key: impl AsRef<[u8]>) -> Rec {
        self.key = Some(key.as_ref().to_vec());
        self
    }

    pub fn partition(mut self, partition: i32) -> Rec {
        self.partition = Some(partition);
        self
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Rec {
        self.headers.push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    pub fn timestamp(mut self, millis: i64) -> Rec {
        self.timestamp = Some(millis);
        self
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> From<(Option<K>, V, Option<i32>)> for Rec {
    fn from((key, payload, partition): (Option<K>, V, Option<i32>)) -> Rec {
        Rec {
            key: key.map(|k| k.as_ref().to_vec()),
            payload: payload.as_ref().to_vec(),
            partition,
            headers: Vec::new(),
            timestamp: None,
        }
    }
}

/// A record read back from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch (CreateTime as set by the producer).
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn payload_str(&self) -> &str {
        self.payload
            .as_deref()
            .and_then(|p| std::str::from_utf8(p).ok())
            .unwrap_or("")
    }

    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_slice(self.payload.as_deref().unwrap_or_default()).unwrap_or_else(|e| {
            panic!(
                "record {}/{} payload is not JSON ({e}): {}",
                self.partition,
                self.offset,
                self.payload_str()
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Client settings every helper shares.
pub fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

/// Produces `records` and waits for every delivery report; returns
/// `(partition, offset)` per record, in input order. Panics on any failure.
pub async fn produce<R: Into<Rec>>(
    bootstrap: &str,
    topic: &str,
    records: impl IntoIterator<Item = R>,
) -> Vec<(i32, i64)> {
    let producer: FutureProducer = base_config(bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("create producer");
    let records: Vec<Rec> = records.into_iter().map(Into::into).collect();
    let sends = records.iter().map(|rec| {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).payload(&rec.payload);
        if let Some(key) = &rec.key {
            record = record.key(key);
        }
        if let Some(p) = rec.partition {
            record = record.partition(p);
        }
        if let Some(ts) = rec.timestamp {
            record = record.timestamp(ts);
        }
        if !rec.headers.is_empty() {
            let headers = rec.headers.iter().fold(OwnedHeaders::new(), |h, (name, value)| {
                h.insert(Header {
                    key: name,
                    value: Some(value),
                })
            });
            record = record.headers(headers);
        }
        // Waits out a full local queue instead of failing.
        producer.send(record, Duration::from_secs(30))
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, result)| match result {
            Ok(delivery) => (delivery.partition, delivery.offset),
            Err((e, _)) => panic!("producing record {i} to {topic} failed: {e}"),
        })
        .collect()
}

/// Partition ids of `topic` from metadata.
pub fn partitions_blocking(bootstrap: &str, topic: &str) -> Vec<i32> {
    let consumer: BaseConsumer = base_config(bootstrap).create().expect("create metadata client");
    let md = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .unwrap_or_else(|e| panic!("metadata for {topic}: {e}"));
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("topic {topic} not in metadata"));
    if let Some(err) = t.error() {
        panic!("metadata for {topic}: {err:?}");
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    ids
}

/// High watermark (the next offset to be written) per partition.
pub fn end_offsets_blocking(bootstrap: &str, topic: &str) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = base_config(bootstrap).create().expect("create watermark client");
    partitions_blocking(bootstrap, topic)
        .into_iter()
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                .unwrap_or_else(|e| panic!("watermarks of {topic}/{p}: {e}"));
            (p, high)
        })
        .collect()
}

pub async fn end_offsets(bootstrap: &str, topic: &str) -> HashMap<i32, i64> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    blocking(move || end_offsets_blocking(&bootstrap, &topic)).await
}

/// Committed offset (the next offset the group will read) per partition;
/// partitions without a commit are absent. Uses OffsetFetch without joining
/// the group, so it does not disturb a running consumer.
pub fn committed_offsets_blocking(bootstrap: &str, group: &str, topic: &str) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = base_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("create offset client");
    let mut tpl = TopicPartitionList::new();
    for p in partitions_blocking(bootstrap, topic) {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, METADATA_TIMEOUT)
        .unwrap_or_else(|e| panic!("committed offsets of group {group} on {topic}: {e}"));
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

pub async fn committed_offsets(bootstrap: &str, group: &str, topic: &str) -> HashMap<i32, i64> {
    let (bootstrap, group, topic) = (bootstrap.to_string(), group.to_string(), topic.to_string());
    blocking(move || committed_offsets_blocking(&bootstrap, &group, &topic)).await
}

/// Reads every record present in `topic` when called (up to the end offsets
/// read at the start), without a consumer group. Panics if that takes longer
/// than `timeout`. Records are ordered by partition, then offset.
pub fn consume_all_blocking(bootstrap: &str, topic: &str, timeout: Duration) -> Vec<Record> {
    let ends = end_offsets_blocking(bootstrap, topic);
    let consumer: BaseConsumer = base_config(bootstrap)
        // No group join happens with assign(); the id only satisfies config checks.
        .set("group.id", "sluice-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("create reader");
    let mut tpl = TopicPartitionList::new();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for (&p, &end) in &ends {
        if end > 0 {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("add partition to assignment");
            remaining.insert(p, end);
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return out;
    }
    consumer.assign(&tpl).expect("assign partitions");
    let deadline = Instant::now() + timeout;
    while !remaining.is_empty() {
        if Instant::now() >= deadline {
            panic!(
                "consume_all({topic}): {} records read, still missing up to {remaining:?} after {timeout:?}",
                out.len()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => panic!("consume_all({topic}): {e}"),
            Some(Ok(m)) => {
                let (p, offset) = (m.partition(), m.offset());
                if let Some(&end) = remaining.get(&p) {
                    if offset < end {
                        out.push(to_record(&m));
                    }
                    if offset + 1 >= end {
                        remaining.remove(&p);
                    }
                }
            }
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

pub async fn consume_all(bootstrap: &str, topic: &str, timeout: Duration) -> Vec<Record> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    blocking(move || consume_all_blocking(&bootstrap, &topic, timeout)).await
}

/// Waits until `topic` holds at least `n` records in total, then reads them
/// all. For topics the service writes asynchronously, such as the DLQ.
pub async fn consume_at_least(bootstrap: &str, topic: &str, n: usize, timeout: Duration) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    loop {
        let total: i64 = end_offsets(bootstrap, topic).await.values().sum();
        if total as usize >= n {
            break;
        }
        if Instant::now() >= deadline {
            panic!("topic {topic} holds {total} records, expected at least {n} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consume_all(
        bootstrap,
        topic,
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(5)),
    )
    .await
}

pub fn to_record<M: Message>(m: &M) -> Record {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    Record {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec),
        headers,
        timestamp: m.timestamp().to_millis(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        // Re-raise the helper's panic with its original message.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
