//! Security end to end: https to the ES-API server through a local
//! TLS-terminating proxy with a generated CA, basic auth and a client
//! certificate, and no secret in any output (logs, metrics, printed config).

use std::process::Command;
use std::time::Duration;

use base64::Engine;

use crate::pipelines_support::repo;
use crate::service_support::{Peers, Service, ServiceConfig, serial};
use crate::support::eventually;
use crate::support::kafka_client::{self, Rec};
use crate::support::peers::{Elastic, Kafka};
use crate::support::tls_proxy::{Pki, TlsProxy};

const PASSWORD: &str = "s3cret-Pa55word-for-es";
const SASL_PASSWORD: &str = "kafka-SASL-secret-42";

const ROUTE: &str = r#"  - topic: app-logs
    pipeline: app
    index: "logs-app-%{+yyyy.MM.dd}""#;

/// Sluice indexes over https with a custom CA and a client certificate,
/// sends basic auth read from a file, and never prints the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_custom_ca_client_cert_and_basic_auth() {
    let _serial = serial().await;
    let Peers { kafka, es_peer, es } = Peers::start(&[("app-logs", 1)]);
    let pki = Pki::generate();
    let proxy = TlsProxy::start(&pki, es_peer.url(), true);
    let secrets = tempfile::tempdir().expect("tempdir");
    let password_file = secrets.path().join("es-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");

    let mut config = ServiceConfig {
        extra: "dead_letter: { topic: sluice-dlq }\n".to_owned(),
        ..ServiceConfig::new(&kafka.bootstrap(), &proxy.url(), ROUTE)
    };
    config.es_extra = format!(
        "  username: elastic\n  password_file: \"{}\"\n  ca_file: \"{}\"\n  client_cert_file: \"{}\"\n  client_key_file: \"{}\"\n",
        password_file.display(),
        pki.path("ca.pem").display(),
        pki.path("client.pem").display(),
        pki.path("client-key.pem").display(),
    );
    let service = Service::start(&config);
    kafka_client::produce(
        &kafka.bootstrap(),
        "app-logs",
        (0..5).map(|i| {
            Rec::new(format!(
                r#"{{"@timestamp": "2024-03-01T12:00:00Z", "level": "info", "message": "over tls {i}"}}"#
            ))
        }),
    )
    .await;
    eventually("documents indexed over https", Duration::from_secs(60), || async {
        es.refresh("logs-*").await;
        (es.count("logs-app-*").await == 5).then_some(())
    })
    .await;

    // The requests carried the credentials from the file.
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("elastic:{PASSWORD}"))
    );
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|h| h.starts_with("POST /_bulk")),
        "bulk went through the TLS proxy"
    );
    assert!(
        seen.iter().all(|h| h
            .to_ascii_lowercase()
            .contains(&format!("authorization: {}", expected.to_ascii_lowercase()))),
        "every request authenticated"
    );
    // No secret in the log or the metrics.
    let metrics = service.metrics().await;
    assert!(!service.log().contains(PASSWORD), "password in the log");
    assert!(!metrics.contains(PASSWORD), "password in the metrics");
}

/// Without the client certificate the TLS handshake fails: `sluice run`
/// retries, then exits non-zero with a message naming Elasticsearch and the
/// settings to check, and no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_client_certificate_fails_start_clearly() {
    let _serial = serial().await;
    let kafka = Kafka::start();
    kafka.create_topic("app-logs", 1);
    let es_peer = Elastic::start();
    let pki = Pki::generate();
    let proxy = TlsProxy::start(&pki, es_peer.url(), true);
    let mut config = ServiceConfig::new(&kafka.bootstrap(), &proxy.url(), ROUTE);
    config.es_extra = format!(
        "  username: elastic\n  password: \"{PASSWORD}\"\n  ca_file: \"{}\"\n",
        pki.path("ca.pem").display()
    );
    config.es_startup_timeout = "3s".to_owned();
    let mut service = Service::start(&config);
    let status = service.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let log = service.log();
    assert!(
        log.contains("Elasticsearch at https://localhost") && log.contains("is not reachable") && log.contains("TLS"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "password in the log");
}

/// `sluice check --print-config` shows the effective config with every
/// secret redacted, whether it came from the file, the environment or a
/// `*_file`.
#[test]
fn printed_config_redacts_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_password = dir.path().join("key-password");
    std::fs::write(&key_password, "key-pass-from-file\n").expect("write");
    let config = dir.path().join("sluice.yaml");
    std::fs::write(
        &config,
        format!(
            r#"kafka:
  brokers: localhost:9092
  security:
    protocol: sasl_ssl
    sasl_mechanism: SCRAM-SHA-512
    sasl_username: sluice
    sasl_password: "{SASL_PASSWORD}"
    ssl_key_password_file: "{}"
pipelines: {{ dir: "{}", geoip_dir: "{}" }}
routes: [{{ topic: t, pipeline: app, index: "logs-app-%{{+yyyy.MM.dd}}" }}]
elasticsearch:
  urls: [https://es.example:9200]
  username: elastic
  templates_dir: "{}"
"#,
            key_password.display(),
            repo().join("pipelines").display(),
            crate::pipelines_support::geoip_dir().display(),
            repo().join("templates").display(),
        ),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--print-config", "--config"])
        .arg(&config)
        .env("SLUICE_ELASTICSEARCH__PASSWORD", PASSWORD)
        .output()
        .expect("run sluice check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for secret in [PASSWORD, SASL_PASSWORD, "key-pass-from-file"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed:\n{stdout}{stderr}"
        );
    }
    assert!(
        stdout.contains("password: '***'") || stdout.contains("password: \"***\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("sasl_username: sluice"),
        "non-secret values are shown: {stdout}"
    );
}
