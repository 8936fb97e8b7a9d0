//! `sluice generate`: writes realistic sample logs to Kafka (or stdout), for
//! the demo, docker-compose and benchmarks.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::generator::{Generator, Kind};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Kind of log lines.
    #[arg(long, value_enum, default_value = "nginx-access")]
    kind: Kind,
    /// Number of lines; 0 runs until stopped.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Lines per second; 0 is as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seed, for reproducible data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Kafka bootstrap servers.
    #[arg(long, env = "SLUICE_KAFKA__BROKERS", default_value = "localhost:9092")]
    brokers: String,
    /// Topic to write to.
    #[arg(long)]
    topic: Option<String>,
    /// Raw librdkafka producer settings, `key=value` (repeatable), e.g. for SASL.
    #[arg(short = 'X', value_parser = parse_kv)]
    librdkafka: Vec<(String, String)>,
    /// Write lines to this file (`-` for stdout) instead of Kafka.
    #[arg(long)]
    output: Option<PathBuf>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

pub fn run(args: GenerateArgs) -> ExitCode {
    match generate(args) {
        Ok(n) => {
            eprintln!("generated {n} lines");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Sink {
    Lines(std::io::BufWriter<Box<dyn Write>>),
    Kafka { producer: BaseProducer, topic: String },
}

impl Sink {
    fn open(args: &GenerateArgs) -> Result<Self, String> {
        match (&args.output, &args.topic) {
            (Some(path), _) => {
                let out: Box<dyn Write> = if path.as_os_str() == "-" {
                    Box::new(std::io::stdout())
                } else {
                    Box::new(std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?)
                };
                Ok(Sink::Lines(std::io::BufWriter::new(out)))
            }
            (None, Some(topic)) => {
                let mut config = ClientConfig::new();
                config
                    .set("bootstrap.servers", &args.brokers)
                    .set("linger.ms", "20")
                    .set("compression.type", "lz4");
                for (k, v) in &args.librdkafka {
                    config.set(k, v);
                }
                let producer = config.create().map_err(|e| format!("cannot create producer: {e}"))?;
                Ok(Sink::Kafka {
                    producer,
                    topic: topic.clone(),
                })
            }
            (None, None) => Err("give --topic (to write to Kafka) or --output".to_owned()),
        }
    }

    fn write(&mut self, line: &str, n: u64) -> Result<(), String> {
        match self {
            Sink::Lines(out) => writeln!(out, "{line}").map_err(|e| e.to_string()),
            Sink::Kafka { producer, topic } => {
                loop {
                    match producer.send(BaseRecord::<(), str>::to(topic).payload(line)) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            producer.poll(Duration::from_millis(50));
                        }
                        Err((e, _)) => return Err(format!("produce failed: {e}")),
                    }
                }
                if n.is_multiple_of(1000) {
                    producer.poll(Duration::ZERO);
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Lines(mut out) => out.flush().map_err(|e| e.to_string()),
            Sink::Kafka { producer, .. } => producer
                .flush(Duration::from_secs(60))
                .map_err(|e| format!("not every line was delivered: {e}")),
        }
    }
}

fn generate(args: GenerateArgs) -> Result<u64, String> {
    let mut generator = Generator::new(args.kind, args.seed);
    let mut sink = Sink::open(&args)?;
    let start = Instant::now();
    let mut n = 0u64;
    while args.count == 0 || n < args.count {
        if args.rate > 0 {
            let due = start + Duration::from_secs_f64(n as f64 / args.rate as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        sink.write(&generator.line(chrono::Utc::now()), n)?;
        n += 1;
    }
    sink.finish()?;
    Ok(n)
}
