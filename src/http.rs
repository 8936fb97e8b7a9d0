//! The metrics and health listener: `/metrics` (Prometheus text format),
//! `/healthz` (the process is alive) and `/readyz` (assignment received,
//! Elasticsearch reachable, no stalled partition).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::metrics::Metrics;
use crate::offsets::Offsets;

/// What the endpoints read.
#[derive(Clone)]
pub struct Health {
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// Offsets, for gauges and stall detection.
    pub offsets: Arc<Offsets>,
    /// Set once the consumer group assigned partitions (possibly none).
    pub assigned: Arc<AtomicBool>,
    /// A partition without progress for this long is stalled.
    pub stall_timeout: Duration,
}

impl Health {
    /// Reasons the service is not ready; empty when ready.
    pub fn not_ready(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.assigned.load(Ordering::Acquire) {
            problems.push("no partition assignment received from the consumer group yet".to_owned());
        }
        if self.metrics.es_up.get() != 1 {
            problems.push("elasticsearch is not answering".to_owned());
        }
        for s in self.offsets.status() {
            if s.stalled_for >= self.stall_timeout {
                problems.push(format!(
                    "partition {} stalled: {} records unacknowledged for {}s",
                    s.partition,
                    s.in_flight,
                    s.stalled_for.as_secs()
                ));
            }
        }
        problems
    }
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    h.metrics.refresh(&h.offsets, h.stall_timeout);
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], h.metrics.render())
}

/// Content type of the Prometheus text exposition.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/healthz`: the process is alive (both `sluice run` and `sluice alert`).
pub(crate) async fn healthz() -> impl IntoResponse {
    "ok\n"
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    let problems = h.not_ready();
    if problems.is_empty() {
        (StatusCode::OK, axum::Json(json!({"ready": true})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ready": false, "problems": problems})),
        )
    }
}

/// Binds the listener (so a port conflict fails start-up) and returns the
/// server future and the bound address.
pub async fn bind(
    addr: SocketAddr,
    health: Health,
) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = std::io::Result<()>>)> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health);
    serve(addr, app).await
}

/// Binds `addr` for the metrics/health listener and returns the bound
/// address and the future that serves `app` on it; shared by `sluice run`
/// and `sluice alert`.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics (metrics.listen): {e}"))?;
    let bound = listener.local_addr()?;
    Ok((bound, async move { axum::serve(listener, app).await }))
}
