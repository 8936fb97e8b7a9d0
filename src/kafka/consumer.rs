//! The consumer stage: one thread that polls Kafka, hands records to the
//! pipeline workers, pauses partitions under backpressure, commits
//! acknowledged offsets, and handles rebalances.
//!
//! It runs on its own thread (librdkafka's `BaseConsumer`) rather than in the
//! async runtime because rebalance callbacks run inside `poll` and must be
//! able to wait — for the in-flight records of a revoked partition — without
//! blocking the runtime that acknowledges them.
//!
//! While paused, the thread keeps polling: that serves rebalance callbacks
//! and keeps `max.poll.interval.ms` satisfied, so a long Elasticsearch outage
//! never makes the consumer leave its group.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::dead_letter::Original;
use crate::metrics::Metrics;
use crate::offsets::{Offsets, Partition, RecordId};
use crate::processing::{SourceRecord, worker_for};

/// librdkafka callbacks: statistics, errors and rebalances.
pub struct Context {
    offsets: Arc<Offsets>,
    metrics: Arc<Metrics>,
    revoke_timeout: Duration,
    /// Bumped on every rebalance, so the poll loop re-applies a pause to
    /// newly assigned partitions.
    generation: AtomicU64,
    /// Set once the group gave us an assignment (possibly empty): readiness.
    assigned: Arc<AtomicBool>,
    /// Set after the final commit on shutdown: the revoke that closing the
    /// consumer triggers must not wait for records that were deliberately
    /// left unprocessed.
    closing: AtomicBool,
}

impl Context {
    /// A context sharing the offsets registry and metrics.
    pub fn new(
        offsets: Arc<Offsets>,
        metrics: Arc<Metrics>,
        revoke_timeout: Duration,
        assigned: Arc<AtomicBool>,
    ) -> Self {
        Context {
            offsets,
            metrics,
            revoke_timeout,
            generation: AtomicU64::new(0),
            assigned,
            closing: AtomicBool::new(false),
        }
    }

    fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
        tpl.elements()
            .iter()
            .map(|e| Partition {
                topic: Arc::from(e.topic()),
                partition: e.partition(),
            })
            .collect()
    }

    /// On revoke: wait (bounded) for the partitions' in-flight records,
    /// store what is acknowledged (librdkafka commits stored offsets of
    /// revoked partitions as part of the rebalance), and forget them.
    /// Records still in flight after the timeout are not committed; the next
    /// owner re-reads them and, with deterministic ids, overwrites rather
    /// than duplicates.
    fn on_revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let parts = Self::partitions(tpl);
        self.metrics.rebalances.with_label_values(&["revoke"]).inc();
        let deadline = Instant::now() + self.revoke_timeout;
        let mut waiting = self.offsets.in_flight_of(&parts);
        while waiting > 0 && Instant::now() < deadline && !self.closing.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(20));
            waiting = self.offsets.in_flight_of(&parts);
        }
        let stored = store(consumer, &self.offsets, self.offsets.commit_candidates_for(&parts));
        for p in &parts {
            self.offsets.revoke(p);
        }
        info!(
            partitions = parts.len(),
            stored,
            left_unacknowledged = waiting,
            "partitions revoked"
        );
    }
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                // librdkafka reports an internal partition -1 (UA); skip it,
                // and partitions not yet fetched (hi_offset -1001).
                if *partition >= 0 && p.hi_offset >= 0 {
                    self.metrics.set_high_watermark(topic, *partition, p.hi_offset);
                }
                if *partition >= 0 && p.desired {
                    debug!(
                        topic = %topic,
                        partition,
                        fetch_state = %p.fetch_state,
                        next_offset = p.next_offset,
                        app_offset = p.app_offset,
                        fetchq_cnt = p.fetchq_cnt,
                        hi_offset = p.hi_offset,
                        "librdkafka partition state"
                    );
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = error
            .rdkafka_error_code()
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|| "other".to_owned());
        self.metrics.kafka_errors.with_label_values(&[&kind]).inc();
        warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for Context {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                let committed: Vec<(Partition, i64)> = offsets
                    .elements()
                    .iter()
                    .filter_map(|e| match e.offset() {
                        Offset::Offset(o) if e.error().is_ok() => Some((
                            Partition {
                                topic: Arc::from(e.topic()),
                                partition: e.partition(),
                            },
                            o,
                        )),
                        _ => None,
                    })
                    .collect();
                self.offsets.mark_committed(&committed);
                self.metrics.commits.with_label_values(&["ok"]).inc();
                debug!(partitions = committed.len(), "offsets committed");
            }
            // Nothing new was stored since the last commit: not an error.
            Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics.commits.with_label_values(&["error"]).inc();
                warn!(error = %e, "offset commit failed; librdkafka retries with the next commit");
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.on_revoke(consumer, tpl);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = Self::partitions(tpl);
                for p in &parts {
                    self.offsets.assign(p.clone());
                }
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                self.assigned.store(true, Ordering::Release);
                info!(
                    partitions = %parts.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                    "partitions assigned"
                );
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                self.metrics.kafka_errors.with_label_values(&["rebalance"]).inc();
                warn!(error = %e, "rebalance error");
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Hands acknowledged offsets to librdkafka, which commits them in the
/// background (and on revoke and close). Never blocks. Returns how many
/// partitions were stored.
fn store(consumer: &BaseConsumer<Context>, offsets: &Offsets, candidates: Vec<(Partition, i64)>) -> usize {
    if candidates.is_empty() {
        return 0;
    }
    let mut tpl = TopicPartitionList::with_capacity(candidates.len());
    for (p, o) in &candidates {
        if let Err(e) = tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(*o)) {
            warn!(error = %e, partition = %p, "cannot build the offset list");
            return 0;
        }
    }
    match consumer.store_offsets(&tpl) {
        Ok(()) => {
            offsets.mark_stored(&candidates);
            candidates.len()
        }
        Err(e) => {
            // A partition revoked a moment ago; the next round retries the
            // others.
            warn!(error = %e, "storing offsets for commit failed; will retry");
            0
        }
    }
}

/// Signals between the application and the consumer thread.
#[derive(Clone, Default)]
pub struct Control {
    /// Stop taking new records.
    pub stop: Arc<AtomicBool>,
    /// Everything downstream finished (or the grace period ran out): do the
    /// final commit and leave the group.
    pub drained: Arc<AtomicBool>,
}

/// The consumer loop.
pub struct ConsumerStage {
    /// The librdkafka consumer, already subscribed.
    pub consumer: BaseConsumer<Context>,
    /// Shared offsets.
    pub offsets: Arc<Offsets>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Inputs of the pipeline workers.
    pub workers: Vec<mpsc::Sender<SourceRecord>>,
    /// In-flight byte budget before pausing.
    pub max_in_flight_bytes: usize,
    /// How often acknowledged offsets are handed to librdkafka.
    pub store_interval: Duration,
    /// Stop/drained flags.
    pub control: Control,
}

impl ConsumerStage {
    /// Runs until told to stop, then waits for the drain, commits and closes.
    pub fn run(self) {
        let ConsumerStage {
            consumer,
            offsets,
            metrics,
            workers,
            max_in_flight_bytes,
            store_interval,
            control,
        } = self;
        let mut workers = Some(workers);
        let mut topics: HashMap<String, Arc<str>> = HashMap::new();
        let mut stash: VecDeque<SourceRecord> = VecDeque::new();
        let mut stash_bytes = 0usize;
        let mut paused = false;
        let mut paused_generation = 0;
        let mut next_store = Instant::now() + store_interval;

        while !control.stop.load(Ordering::Acquire) {
            if let Some(w) = &workers
                && !drain(&mut stash, &mut stash_bytes, w, &offsets)
            {
                break;
            }
            // Pausing is costly: librdkafka drops what it prefetched and
            // must fetch again on resume (about a second on some brokers). So
            // a full worker queue alone does not pause; records wait in the
            // stash until the byte budget is reached, and consumption resumes
            // once half of the budget is free again.
            let held = offsets.in_flight_bytes() + stash_bytes;
            let want_pause = if paused {
                held >= max_in_flight_bytes / 2
            } else {
                held >= max_in_flight_bytes
            };
            let generation = consumer.context().generation.load(Ordering::Acquire);
            if want_pause && (!paused || generation != paused_generation) {
                set_paused(&consumer, true);
                paused = true;
                paused_generation = generation;
                metrics.consumer_paused.set(1);
                // Waiting on Elasticsearch from here on: sit at the
                // smallest resident size.
                crate::memory::trim_soon();
            } else if !want_pause && paused {
                set_paused(&consumer, false);
                paused = false;
                metrics.consumer_paused.set(0);
                // Half the budget's documents were just acknowledged and
                // freed: hand their pages back before the next fetch and
                // its documents are allocated on top of them.
                crate::memory::trim_soon();
            }
            if Instant::now() >= next_store {
                store(&consumer, &offsets, offsets.commit_candidates());
                next_store = Instant::now() + store_interval;
            }
            // With records waiting for a worker queue, come back soon to
            // hand them over.
            let timeout = if !stash.is_empty() {
                Duration::from_millis(1)
            } else {
                Duration::from_millis(100)
            };
            match consumer.poll(timeout) {
                None => {}
                Some(Err(e)) => {
                    metrics.kafka_errors.with_label_values(&["consume"]).inc();
                    warn!(error = %e, "kafka consume error");
                }
                Some(Ok(m)) => {
                    if let Some(rec) = to_record(&m, &mut topics, &offsets) {
                        metrics
                            .records_consumed
                            .with_label_values(&[&rec.id.partition.topic])
                            .inc();
                        stash_bytes += rec.original.payload.len();
                        stash.push_back(rec);
                    }
                }
            }
        }

        info!("consumer stopping: no new records are taken");
        set_paused(&consumer, true);
        stash.clear();
        // Closing the worker inputs lets the pipeline, then the writers,
        // finish and acknowledge what they hold.
        drop(workers.take());
        while !control.drained.load(Ordering::Acquire) {
            // Polling serves callbacks; paused partitions deliver nothing
            // new, and anything prefetched is not registered, so not
            // committed.
            let _ = consumer.poll(Duration::from_millis(50));
        }
        let stored = store(&consumer, &offsets, offsets.commit_candidates());
        info!(
            partitions = stored,
            "final offsets stored; committing them and leaving the group"
        );
        consumer.context().closing.store(true, Ordering::Release);
        consumer.unsubscribe();
        // Dropping the consumer closes it, which leaves the group now rather
        // than after the session timeout.
        drop(consumer);
    }
}

/// Hands stashed records to their workers in order. A record is
/// registered with the offset tracker only once a slot in its worker's queue
/// is reserved, so the tracker never waits on a record nobody will process.
/// Returns false when the workers are gone.
fn drain(
    stash: &mut VecDeque<SourceRecord>,
    stash_bytes: &mut usize,
    workers: &[mpsc::Sender<SourceRecord>],
    offsets: &Offsets,
) -> bool {
    while let Some(front) = stash.front() {
        let w = &workers[worker_for(&front.id, workers.len())];
        let permit = match w.try_reserve() {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Full(())) => return true,
            Err(mpsc::error::TrySendError::Closed(())) => return false,
        };
        let Some(rec) = stash.pop_front() else {
            return true;
        };
        *stash_bytes -= rec.original.payload.len();
        match offsets.register(&rec.id, rec.original.payload.len()) {
            Ok(true) => permit.send(rec),
            // Its partition was revoked since it was polled: the next owner
            // reads it again.
            Ok(false) => {}
            Err(e) => warn!(partition = %rec.id.partition, error = %e, "skipping a redelivered record"),
        }
    }
    true
}

fn set_paused(consumer: &BaseConsumer<Context>, pause: bool) {
    let assignment = match consumer.assignment() {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "cannot read the assignment to pause or resume");
            return;
        }
    };
    if assignment.count() == 0 {
        return;
    }
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match result {
        Ok(()) => debug!(pause, partitions = assignment.count(), "consumption paused/resumed"),
        Err(e) => warn!(error = %e, pause, "pause/resume failed"),
    }
}

fn to_record(
    m: &BorrowedMessage<'_>,
    topics: &mut HashMap<String, Arc<str>>,
    offsets: &Offsets,
) -> Option<SourceRecord> {
    let topic = match topics.get(m.topic()) {
        Some(t) => Arc::clone(t),
        None => {
            let t: Arc<str> = Arc::from(m.topic());
            topics.insert(m.topic().to_owned(), Arc::clone(&t));
            t
        }
    };
    let partition = Partition {
        topic,
        partition: m.partition(),
    };
    // A message for a partition we do not hold (a race with a rebalance) is
    // skipped; its owner reads it.
    let epoch = offsets.epoch(&partition)?;
    let headers: Arc<[(String, Bytes)]> = match m.headers() {
        None => Arc::from(Vec::new()),
        Some(h) => h
            .iter()
            .map(|hd| (hd.key.to_owned(), Bytes::copy_from_slice(hd.value.unwrap_or_default())))
            .collect::<Vec<_>>()
            .into(),
    };
    Some(SourceRecord {
        id: RecordId {
            partition,
            epoch,
            offset: m.offset(),
        },
        tombstone: m.payload().is_none(),
        original: Original {
            payload: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
            key: m.key().map(Bytes::copy_from_slice),
            headers,
            timestamp_ms: m.timestamp().to_millis(),
        },
    })
}
