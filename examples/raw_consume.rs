//! The broker's raw consume rate, for comparison with Sluice's end-to-end
//! rate in `scripts/bench.sh`: a consumer group member with the same
//! librdkafka settings as Sluice that reads `--count` records, copies each
//! payload out (as Sluice does) and reports records/s and MB/s.
//!
//! cargo run --release --example raw_consume -- --brokers 127.0.0.1:9092 --topic bench --count 1000000

use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    brokers: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    count: u64,
    #[arg(long, default_value = "raw-consume")]
    group: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        // The same prefetch budget as Sluice's consumer.
        .set("queued.max.messages.kbytes", "16384")
        .create()?;
    consumer.subscribe(&[&args.topic])?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < args.count && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                let payload = bytes::Bytes::copy_from_slice(m.payload().unwrap_or_default());
                bytes += payload.len() as u64;
                n += 1;
            }
            Some(Err(e)) => eprintln!("raw_consume: {e}"),
            None => {}
        }
    }
    let secs = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0).max(1e-9);
    println!(
        "raw_consume records={n} seconds={secs:.2} records_per_sec={:.0} mb_per_sec={:.1}",
        n as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
