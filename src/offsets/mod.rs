//! Offset bookkeeping shared by the stages: the consumer registers records,
//! the Elasticsearch writer, the dead-letter writer and the pipeline stage
//! (for dropped records) acknowledge them, and the consumer commits the
//! resulting watermarks.
//!
//! Each assignment of a partition gets a new epoch. Acknowledgements carry
//! the epoch of the record, so an acknowledgement that arrives after its
//! partition was revoked (and maybe assigned again) is ignored instead of
//! advancing someone else's watermark.

pub mod tracker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use tracker::{PartitionTracker, RegisterError, kafka_commit_offset};

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// Topic name (shared, cheap to clone).
    pub topic: Arc<str>,
    /// Partition number.
    pub partition: i32,
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Identifies one consumed record through every stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordId {
    /// Where it came from.
    pub partition: Partition,
    /// The assignment epoch it was consumed in.
    pub epoch: u64,
    /// Its Kafka offset.
    pub offset: i64,
}

struct Assigned {
    epoch: u64,
    tracker: PartitionTracker,
    /// When the watermark last moved, or the partition became idle.
    last_progress: Instant,
}

#[derive(Default)]
struct Inner {
    partitions: HashMap<Partition, Assigned>,
    next_epoch: u64,
}

/// A partition's state, for metrics and readiness.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: Partition,
    /// Last committed offset (exclusive).
    pub committed: Option<i64>,
    /// Offset below which everything is acknowledged (exclusive).
    pub acked: Option<i64>,
    /// Records waiting for acknowledgement.
    pub in_flight: usize,
    /// Time since the watermark last moved while records were waiting.
    pub stalled_for: Duration,
}

/// The shared offset registry.
#[derive(Default)]
pub struct Offsets {
    inner: Mutex<Inner>,
    /// Sum of in-flight bytes over all partitions, readable without the lock
    /// by the consumer's backpressure check.
    in_flight_bytes: AtomicUsize,
}

impl Offsets {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent, so a panic
        // elsewhere does not make the data unusable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A partition was assigned: start tracking it under a new epoch.
    pub fn assign(&self, partition: Partition) -> u64 {
        let mut inner = self.lock();
        inner.next_epoch += 1;
        let epoch = inner.next_epoch;
        if let Some(old) = inner.partitions.insert(
            partition,
            Assigned {
                epoch,
                tracker: PartitionTracker::new(),
                last_progress: Instant::now(),
            },
        ) {
            self.in_flight_bytes
                .fetch_sub(old.tracker.in_flight_bytes(), Ordering::Relaxed);
        }
        epoch
    }

    /// The current epoch of an assigned partition.
    pub fn epoch(&self, partition: &Partition) -> Option<u64> {
        self.lock().partitions.get(partition).map(|a| a.epoch)
    }

    /// A partition was revoked: forget it. Late acknowledgements of its
    /// records are ignored from now on.
    pub fn revoke(&self, partition: &Partition) {
        if let Some(old) = self.lock().partitions.remove(partition) {
            self.in_flight_bytes
                .fetch_sub(old.tracker.in_flight_bytes(), Ordering::Relaxed);
        }
    }

    /// True if the record's partition is still assigned in the same epoch.
    pub fn is_current(&self, id: &RecordId) -> bool {
        self.lock()
            .partitions
            .get(&id.partition)
            .is_some_and(|a| a.epoch == id.epoch)
    }

    /// Starts tracking a consumed record. `Ok(false)` if its partition is
    /// not assigned in that epoch (a straggler from before a rebalance),
    /// which the caller must skip.
    pub fn register(&self, id: &RecordId, bytes: usize) -> Result<bool, RegisterError> {
        let mut inner = self.lock();
        let Some(a) = inner.partitions.get_mut(&id.partition) else {
            return Ok(false);
        };
        if a.epoch != id.epoch {
            return Ok(false);
        }
        let was_idle = a.tracker.is_idle();
        a.tracker.register(id.offset, bytes)?;
        if was_idle {
            // The stall clock starts when there is something to wait for.
            a.last_progress = Instant::now();
        }
        self.in_flight_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(true)
    }

    /// Marks a record as safe (indexed, dead-lettered or dropped). Stale or
    /// duplicate acknowledgements are ignored.
    pub fn ack(&self, id: &RecordId) {
        let mut inner = self.lock();
        let Some(a) = inner.partitions.get_mut(&id.partition) else {
            return;
        };
        if a.epoch != id.epoch {
            return;
        }
        let before = a.tracker.acked();
        if let Some(bytes) = a.tracker.ack(id.offset) {
            self.in_flight_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        if a.tracker.acked() != before {
            a.last_progress = Instant::now();
        }
    }

    /// Offsets that can be committed now (exclusive offsets).
    pub fn commit_candidates(&self) -> Vec<(Partition, i64)> {
        let inner = self.lock();
        let mut out: Vec<(Partition, i64)> = inner
            .partitions
            .iter()
            .filter_map(|(p, a)| a.tracker.commit_candidate().map(|o| (p.clone(), o)))
            .collect();
        out.sort();
        out
    }

    /// Like [`Offsets::commit_candidates`], restricted to some partitions.
    pub fn commit_candidates_for(&self, partitions: &[Partition]) -> Vec<(Partition, i64)> {
        let inner = self.lock();
        partitions
            .iter()
            .filter_map(|p| {
                let a = inner.partitions.get(p)?;
                a.tracker.commit_candidate().map(|o| (p.clone(), o))
            })
            .collect()
    }

    /// Records that these offsets were handed to the client for committing.
    pub fn mark_stored(&self, stored: &[(Partition, i64)]) {
        let mut inner = self.lock();
        for (p, o) in stored {
            if let Some(a) = inner.partitions.get_mut(p) {
                a.tracker.mark_stored(*o);
            }
        }
    }

    /// Records that the broker confirmed these commits.
    pub fn mark_committed(&self, committed: &[(Partition, i64)]) {
        let mut inner = self.lock();
        for (p, o) in committed {
            if let Some(a) = inner.partitions.get_mut(p) {
                a.tracker.mark_committed(*o);
            }
        }
    }

    /// Records of these partitions still waiting for acknowledgement.
    pub fn in_flight_of(&self, partitions: &[Partition]) -> usize {
        let inner = self.lock();
        partitions
            .iter()
            .filter_map(|p| inner.partitions.get(p))
            .map(|a| a.tracker.in_flight())
            .sum()
    }

    /// Bytes of all records waiting for acknowledgement.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes.load(Ordering::Relaxed)
    }

    /// Every assigned partition's status, sorted.
    pub fn status(&self) -> Vec<PartitionStatus> {
        let inner = self.lock();
        let now = Instant::now();
        let mut out: Vec<PartitionStatus> = inner
            .partitions
            .iter()
            .map(|(p, a)| PartitionStatus {
                partition: p.clone(),
                committed: a.tracker.committed(),
                acked: a.tracker.acked(),
                in_flight: a.tracker.in_flight(),
                stalled_for: if a.tracker.is_idle() {
                    Duration::ZERO
                } else {
                    now.saturating_duration_since(a.last_progress)
                },
            })
            .collect();
        out.sort_by(|a, b| a.partition.cmp(&b.partition));
        out
    }

    /// Number of assigned partitions.
    pub fn assigned_count(&self) -> usize {
        self.lock().partitions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Partition {
        Partition {
            topic: Arc::from("t"),
            partition: n,
        }
    }

    #[test]
    fn stale_epoch_acks_are_ignored() {
        let o = Offsets::new();
        let e1 = o.assign(p(0));
        let old = RecordId {
            partition: p(0),
            epoch: e1,
            offset: 5,
        };
        assert!(o.register(&old, 100).unwrap());
        assert_eq!(o.in_flight_bytes(), 100);
        o.revoke(&p(0));
        assert_eq!(o.in_flight_bytes(), 0);
        let e2 = o.assign(p(0));
        let new = RecordId {
            partition: p(0),
            epoch: e2,
            offset: 5,
        };
        assert!(o.register(&new, 10).unwrap());
        o.ack(&old);
        assert_eq!(o.commit_candidates(), vec![]);
        assert!(!o.register(&old, 1).unwrap(), "straggler of the old epoch");
        o.ack(&new);
        assert_eq!(o.commit_candidates(), vec![(p(0), 6)]);
        assert_eq!(o.in_flight_bytes(), 0);
    }

    #[test]
    fn status_reports_stalls_only_with_pending_records() {
        let o = Offsets::new();
        let e = o.assign(p(1));
        assert_eq!(o.status()[0].stalled_for, Duration::ZERO);
        let id = RecordId {
            partition: p(1),
            epoch: e,
            offset: 0,
        };
        o.register(&id, 1).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(o.status()[0].stalled_for >= Duration::from_millis(5));
        o.ack(&id);
        assert_eq!(o.status()[0].stalled_for, Duration::ZERO);
        assert_eq!(o.status()[0].acked, Some(1));
    }
}
