//! Per-partition commit watermarks: which offsets may be committed.
//!
//! Records of a partition are registered in the order Kafka delivers them
//! (strictly increasing offsets, possibly with gaps from compaction or
//! transaction markers) and acknowledged in any order, when Elasticsearch
//! acknowledged the document, the DLQ write was acknowledged, or a pipeline
//! dropped the record. The watermark only advances over the contiguous
//! prefix of registered offsets that are all acknowledged, so an offset is
//! never committed before every record at or below it is safe.
//!
//! Pure: no Kafka, no clock, no locks. The owner ([`super::Offsets`])
//! serialises access.

use std::collections::VecDeque;

/// The offset to commit to Kafka once every record up to and including
/// `last_done` is safe.
///
/// Kafka offsets are exclusive: a committed offset is the offset of the
/// *next* record to read, hence the +1. This is the only place the +1 lives.
pub fn kafka_commit_offset(last_done: i64) -> i64 {
    last_done + 1
}

#[derive(Debug, Clone)]
struct Entry {
    offset: i64,
    bytes: usize,
    done: bool,
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The offset is not above the last registered one: a redelivery of a
    /// record this tracker already holds (or held), which must not be
    /// tracked twice.
    #[error("offset {offset} is not above the last registered offset {last}")]
    NotIncreasing {
        /// The refused offset.
        offset: i64,
        /// The last registered offset.
        last: i64,
    },
}

/// Tracks one partition's in-flight records.
#[derive(Debug, Clone, Default)]
pub struct PartitionTracker {
    pending: VecDeque<Entry>,
    last_registered: Option<i64>,
    /// Highest offset of the fully acknowledged prefix.
    last_done: Option<i64>,
    /// The Kafka offset last committed (exclusive, i.e. next to read), as
    /// confirmed by the broker.
    committed: Option<i64>,
    /// The offset last handed to librdkafka for committing.
    stored: Option<i64>,
    in_flight_bytes: usize,
}

impl PartitionTracker {
    /// A tracker for a newly assigned partition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `offset` (of `bytes` size) entered processing.
    pub fn register(&mut self, offset: i64, bytes: usize) -> Result<(), RegisterError> {
        if let Some(last) = self.last_registered
            && offset <= last
        {
            return Err(RegisterError::NotIncreasing { offset, last });
        }
        self.last_registered = Some(offset);
        self.pending.push_back(Entry {
            offset,
            bytes,
            done: false,
        });
        self.in_flight_bytes += bytes;
        Ok(())
    }

    /// Marks `offset` as safe. Returns the bytes it held, or `None` if it is
    /// unknown or was already acknowledged (a duplicate ack changes nothing).
    pub fn ack(&mut self, offset: i64) -> Option<usize> {
        // Offsets were registered in increasing order, so the deque is
        // sorted and binary search finds the entry.
        let idx = self.pending.binary_search_by_key(&offset, |e| e.offset).ok()?;
        let entry = self.pending.get_mut(idx)?;
        if entry.done {
            return None;
        }
        entry.done = true;
        let bytes = entry.bytes;
        self.in_flight_bytes -= bytes;
        while self.pending.front().is_some_and(|e| e.done) {
            if let Some(e) = self.pending.pop_front() {
                self.last_done = Some(e.offset);
            }
        }
        Some(bytes)
    }

    /// The offset to commit now, if it moved past what was last stored or
    /// committed.
    pub fn commit_candidate(&self) -> Option<i64> {
        let next = kafka_commit_offset(self.last_done?);
        match self.stored.max(self.committed) {
            Some(c) if c >= next => None,
            _ => Some(next),
        }
    }

    /// Notes that `offset` (exclusive) was handed over for committing.
    pub fn mark_stored(&mut self, offset: i64) {
        if self.stored.is_none_or(|s| offset > s) {
            self.stored = Some(offset);
        }
    }

    /// Notes that `offset` (exclusive) was committed.
    pub fn mark_committed(&mut self, offset: i64) {
        if self.committed.is_none_or(|c| offset > c) {
            self.committed = Some(offset);
        }
    }

    /// The last committed offset (exclusive).
    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// The exclusive offset everything below which is acknowledged.
    pub fn acked(&self) -> Option<i64> {
        self.last_done.map(kafka_commit_offset)
    }

    /// Records registered but not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.pending.iter().filter(|e| !e.done).count()
    }

    /// True when nothing is waiting for an acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Bytes of records not yet acknowledged.
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plus_one_lives_here() {
        assert_eq!(kafka_commit_offset(41), 42);
    }

    #[test]
    fn watermark_waits_for_gaps_in_acks() {
        let mut t = PartitionTracker::new();
        for o in [10, 11, 13] {
            t.register(o, 1).unwrap();
        }
        assert_eq!(t.commit_candidate(), None);
        t.ack(11);
        assert_eq!(t.commit_candidate(), None, "10 is not acked yet");
        t.ack(10);
        assert_eq!(t.commit_candidate(), Some(12));
        t.mark_committed(12);
        assert_eq!(t.commit_candidate(), None);
        t.ack(13);
        assert_eq!(t.commit_candidate(), Some(14), "offset 12 never existed (gap)");
        assert!(t.is_idle());
    }

    #[test]
    fn refuses_non_increasing_offsets_and_duplicate_acks() {
        let mut t = PartitionTracker::new();
        t.register(5, 10).unwrap();
        assert_eq!(
            t.register(5, 10),
            Err(RegisterError::NotIncreasing { offset: 5, last: 5 })
        );
        assert_eq!(t.ack(5), Some(10));
        assert_eq!(t.ack(5), None);
        assert_eq!(t.ack(99), None);
        assert_eq!(t.in_flight_bytes(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Register { gap: i64, bytes: usize },
        Ack { pick: usize },
        Commit,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0i64..3, 0usize..100).prop_map(|(gap, bytes)| Op::Register { gap, bytes }),
            any::<usize>().prop_map(|pick| Op::Ack { pick }),
            Just(Op::Commit),
        ]
    }

    proptest! {
        /// The invariants of the tracker against a simple model: the
        /// committed offset never passes an unacknowledged record, it only
        /// grows, and once everything is acknowledged it reaches the end.
        #[test]
        fn never_commits_past_an_unacked_record(start in 0i64..1_000_000, ops in prop::collection::vec(op(), 0..300)) {
            let mut t = PartitionTracker::new();
            let mut next = start;
            let mut registered: Vec<(i64, usize)> = Vec::new();
            let mut acked = std::collections::BTreeSet::new();
            let mut last_commit: Option<i64> = None;
            for op in ops {
                match op {
                    Op::Register { gap, bytes } => {
                        next += gap;
                        t.register(next, bytes).unwrap();
                        registered.push((next, bytes));
                        next += 1;
                    }
                    Op::Ack { pick } => {
                        if !registered.is_empty() {
                            let (o, b) = registered[pick % registered.len()];
                            let first = acked.insert(o);
                            prop_assert_eq!(t.ack(o), first.then_some(b));
                        }
                    }
                    Op::Commit => {
                        if let Some(c) = t.commit_candidate() {
                            // Every registered offset below c is acked.
                            for (o, _) in &registered {
                                if *o < c {
                                    prop_assert!(acked.contains(o), "commit {} passes unacked {}", c, o);
                                }
                            }
                            prop_assert!(last_commit.is_none_or(|l| c > l));
                            t.mark_committed(c);
                            last_commit = Some(c);
                        }
                    }
                }
                let unacked_bytes: usize = registered.iter().filter(|(o, _)| !acked.contains(o)).map(|(_, b)| b).sum();
                prop_assert_eq!(t.in_flight_bytes(), unacked_bytes);
            }
            // Ack everything: the candidate reaches one past the last record.
            for (o, _) in &registered {
                t.ack(*o);
            }
            if let Some((last, _)) = registered.last() {
                let expected = kafka_commit_offset(*last);
                prop_assert_eq!(t.commit_candidate().or(last_commit), Some(expected));
            }
            prop_assert!(t.is_idle());
        }
    }
}
