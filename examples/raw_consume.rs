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
    /// Diagnostics: read one partition from this offset (assign, no group).
    #[arg(long, requires = "partition")]
    start_offset: Option<i64>,
    #[arg(long)]
    partition: Option<i32>,
    /// Diagnostics: pause every partition for 20 ms after every N records,
    /// polling meanwhile, as a consumer under backpressure does.
    #[arg(long)]
    pause_every: Option<u64>,
    /// With --pause-every: after resuming, seek each partition to the next
    /// offset explicitly.
    #[arg(long)]
    seek_after_resume: bool,
    /// Extra librdkafka setting, KEY=VALUE; repeatable. bench.sh passes the
    /// same LIBRDKAFKA overrides as it gives Sluice.
    #[arg(short = 'X', value_parser = parse_kv)]
    set: Vec<(String, String)>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        // The same prefetch bounds as Sluice's consumer
        // (src/kafka/client_config.rs).
        .set("queued.max.messages.kbytes", "8192")
        .set("fetch.max.bytes", "8388608");
    for (k, v) in &args.set {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create()?;
    match (args.partition, args.start_offset) {
        (Some(p), Some(o)) => {
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(&args.topic, p, rdkafka::Offset::Offset(o))?;
            consumer.assign(&tpl)?;
        }
        _ => consumer.subscribe(&[&args.topic])?,
    }
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    let mut next: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(if args.start_offset.is_some() { 15 } else { 600 });
    while n < args.count && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                let payload = bytes::Bytes::copy_from_slice(m.payload().unwrap_or_default());
                bytes += payload.len() as u64;
                n += 1;
                next.insert(m.partition(), m.offset() + 1);
                drop(m);
                if args.pause_every.is_some_and(|every| n.is_multiple_of(every)) {
                    let assignment = consumer.assignment()?;
                    consumer.pause(&assignment)?;
                    let until = Instant::now() + Duration::from_millis(20);
                    while Instant::now() < until {
                        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(5)) {
                            // Delivered while paused: a real consumer keeps it.
                            n += 1;
                            next.insert(m.partition(), m.offset() + 1);
                        }
                    }
                    consumer.resume(&assignment)?;
                    if args.seek_after_resume {
                        for (p, o) in &next {
                            consumer.seek(&args.topic, *p, rdkafka::Offset::Offset(*o), Duration::ZERO)?;
                        }
                    }
                }
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
