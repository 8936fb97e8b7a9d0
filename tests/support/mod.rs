//! End-to-end test harness: real peers (a Kafka-API broker and an
//! Elasticsearch-API server) started per test on free ports, a fault-injecting
//! HTTP proxy to put between the service and Elasticsearch, and small Kafka and
//! Elasticsearch clients for setting up and checking a test.
//!
//! Every test starts its own peers in its own temporary directories, so tests
//! run in parallel safely; peers are killed when their handle drops, also when
//! the test panics.
//!
//! ```ignore
//! let kafka = Kafka::start();                  // tansu on a free port, ~0.3 s
//! kafka.create_topic("nginx", 4);
//! let es = Elastic::start();                   // osmem-server, ~0.1 s
//! let proxy = FaultProxy::start(es.url());     // point the service at proxy.url()
//! proxy.set_plan(Plan::new()
//!     .then(Step::status(429).on_bulk().times(2))
//!     .then(Step::reject_items(ItemSelect::Fraction(0.1)).times(1)));
//! kafka_client::produce(&kafka.bootstrap(), "nginx", lines.map(Rec::new)).await;
//! // … run the service …
//! let es_client = EsClient::new(es.url());     // check through the direct URL
//! eventually("all indexed", Duration::from_secs(10), || async {
//!     (es_client.count("logs-*").await == n).then_some(())
//! }).await;
//! assert_eq!(kafka_client::committed_offsets(&kafka.bootstrap(), "sluice", "nginx").await,
//!            kafka_client::end_offsets(&kafka.bootstrap(), "nginx").await);
//! ```

// Each test binary uses a different subset of the harness.
#![allow(dead_code)]

pub mod es_client;
pub mod fault_proxy;
pub mod kafka_client;
pub mod mmdb_fixture;
pub mod peers;
pub mod tls_proxy;

use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some` or `timeout` passes; the panic message
/// names `what` so a failing test says which condition never held.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
