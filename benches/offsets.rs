//! The offset registry on the hot path: register and acknowledge records of
//! a few partitions, out of order, then compute commit candidates.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice::offsets::{Offsets, Partition, RecordId};

const RECORDS: i64 = 100_000;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("offsets");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("register_ack_commit_4_partitions", |b| {
        b.iter(|| {
            let o = Offsets::new();
            let parts: Vec<(Partition, u64)> = (0..4)
                .map(|p| {
                    let part = Partition {
                        topic: Arc::from("nginx"),
                        partition: p,
                    };
                    let e = o.assign(part.clone());
                    (part, e)
                })
                .collect();
            let mut ids = Vec::with_capacity(RECORDS as usize);
            for offset in 0..RECORDS {
                let (partition, epoch) = &parts[(offset % 4) as usize];
                let id = RecordId {
                    partition: partition.clone(),
                    epoch: *epoch,
                    offset,
                };
                o.register(&id, 200).expect("increasing offsets");
                ids.push(id);
            }
            // Acknowledge in bulk-response order, a batch at a time, reversed
            // within each batch to exercise out-of-order acks.
            for chunk in ids.chunks(500) {
                for id in chunk.iter().rev() {
                    o.ack(id);
                }
            }
            black_box(o.commit_candidates())
        })
    });
    g.finish();
}

criterion_group!(offsets, benches);
criterion_main!(offsets);
