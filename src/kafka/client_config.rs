//! librdkafka settings for the consumer and the dead-letter producer, built
//! from the config: our defaults first, then security, then the user's raw
//! pass-through settings, which win.

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;
use crate::secret;

/// Settings shared by consumer and producer: brokers, client id, TLS, SASL.
fn base(k: &KafkaConfig) -> Result<ClientConfig, String> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    c.set("client.id", &k.client_id);
    let s = &k.security;
    if let Some(p) = &s.protocol {
        c.set("security.protocol", p);
    }
    if let Some(m) = &s.sasl_mechanism {
        c.set("sasl.mechanism", m);
    }
    if let Some(u) = &s.sasl_username {
        c.set("sasl.username", u);
    }
    if let Some(pw) = secret::resolve(&s.sasl_password, &s.sasl_password_file, "kafka.security.sasl_password")? {
        c.set("sasl.password", pw.expose());
    }
    let path = |p: &std::path::PathBuf| p.display().to_string();
    if let Some(p) = &s.ssl_ca_location {
        c.set("ssl.ca.location", path(p));
    }
    if let Some(p) = &s.ssl_certificate_location {
        c.set("ssl.certificate.location", path(p));
    }
    if let Some(p) = &s.ssl_key_location {
        c.set("ssl.key.location", path(p));
    }
    if let Some(pw) = secret::resolve(
        &s.ssl_key_password,
        &s.ssl_key_password_file,
        "kafka.security.ssl_key_password",
    )? {
        c.set("ssl.key.password", pw.expose());
    }
    Ok(c)
}

fn apply_passthrough(c: &mut ClientConfig, k: &KafkaConfig) {
    for (key, value) in &k.librdkafka {
        c.set(key, value);
    }
}

/// Consumer settings. Sluice *stores* an offset only once every record
/// below it is acknowledged (`enable.auto.offset.store=false`);
/// librdkafka then commits the stored offsets in the background every
/// `commit_interval`, and on revoke and close. A commit therefore never
/// blocks the consumer thread, and nothing unacknowledged is ever stored.
pub fn consumer(k: &KafkaConfig, commit_interval: std::time::Duration) -> Result<ClientConfig, String> {
    let mut c = base(k)?;
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            commit_interval.as_millis().max(1).to_string(),
        )
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &k.auto_offset_reset)
        .set("partition.assignment.strategy", &k.assignment_strategy)
        .set("session.timeout.ms", k.session_timeout.as_millis().to_string())
        .set("max.poll.interval.ms", k.max_poll_interval.as_millis().to_string())
        // Lag and high watermarks for metrics come from the statistics.
        .set("statistics.interval.ms", "5000")
        // librdkafka prefetches up to 64 MiB per consumer, in fetches of up
        // to 50 MiB, by default; 8 MiB of each bounds that memory and is
        // still about a second of records ahead of the pipeline. Some
        // brokers answer with more than asked, so receive.message.max.bytes
        // stays at its 100 MB default.
        .set("queued.max.messages.kbytes", "8192")
        .set("fetch.max.bytes", "8388608");
    apply_passthrough(&mut c, k);
    Ok(c)
}

/// Dead-letter producer settings: durable and without duplicates from
/// retries.
pub fn producer(k: &KafkaConfig) -> Result<ClientConfig, String> {
    let mut c = base(k)?;
    c.set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    for (key, value) in &k.librdkafka {
        // Consumer-only keys would make librdkafka warn on every start.
        if !is_consumer_only(key) {
            c.set(key, value);
        }
    }
    Ok(c)
}

fn is_consumer_only(key: &str) -> bool {
    key.starts_with("group.")
        || key.starts_with("fetch.")
        || key.starts_with("auto.")
        || key.starts_with("enable.auto")
        || key.starts_with("partition.assignment")
        || key.starts_with("session.")
        || key.starts_with("heartbeat.")
        || key.starts_with("max.poll")
        || key.starts_with("queued.")
        || key == "isolation.level"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// TLS, SASL/SCRAM and zstd are compiled into librdkafka (they are
    /// cargo features of rdkafka, off by default); without them
    /// `security.protocol: sasl_ssl` fails only at run time.
    #[test]
    fn librdkafka_is_built_with_tls_scram_and_zstd() {
        let native = ClientConfig::new().create_native_config().unwrap();
        let features = native.get("builtin.features").unwrap();
        for f in ["ssl", "sasl_plain", "sasl_scram", "zstd", "lz4", "snappy", "gzip"] {
            assert!(features.split(',').any(|x| x == f), "librdkafka lacks {f}: {features}");
        }
    }

    #[test]
    fn passthrough_wins_and_secrets_are_applied() {
        let c = Config::parse(
            r#"
kafka:
  brokers: b:9092
  security: { protocol: sasl_ssl, sasl_mechanism: SCRAM-SHA-512, sasl_username: u, sasl_password: pw }
  librdkafka: { fetch.min.bytes: "1000", session.timeout.ms: "10000", linger.ms: "50" }
routes: [{ topic: t, pipeline: p, index: i }]
"#,
            &[],
        )
        .unwrap();
        let cc = consumer(&c.kafka, std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(cc.get("session.timeout.ms"), Some("10000"));
        // Only offsets Sluice stores (acknowledged ones) are auto-committed.
        assert_eq!(cc.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(cc.get("auto.commit.interval.ms"), Some("5000"));
        assert_eq!(cc.get("sasl.password"), Some("pw"));
        assert_eq!(cc.get("security.protocol"), Some("sasl_ssl"));
        // The prefetch is bounded for memory.
        assert_eq!(cc.get("queued.max.messages.kbytes"), Some("8192"));
        assert_eq!(cc.get("fetch.max.bytes"), Some("8388608"));
        let pc = producer(&c.kafka).unwrap();
        assert_eq!(pc.get("fetch.min.bytes"), None);
        assert_eq!(pc.get("linger.ms"), Some("50"));
        assert_eq!(pc.get("acks"), Some("all"));
    }
}
