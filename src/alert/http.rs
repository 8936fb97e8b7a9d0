//! The alerting process's listener: `/metrics`, `/healthz` and `/readyz`.
//! A standby evaluator is ready too: readiness says the process can take
//! over (config valid, Elasticsearch answering, state index present), not
//! that it is the leader (see the `sluice_alert_leader` gauge).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::metrics::AlertMetrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct Health {
    /// Metrics to render.
    pub metrics: Arc<AlertMetrics>,
    /// Set once the state index exists.
    pub state_ready: Arc<AtomicBool>,
}

impl Health {
    /// Reasons the process is not ready; empty when ready.
    pub fn not_ready(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if !self.state_ready.load(Ordering::Acquire) {
            problems.push("the state index is not ready yet");
        }
        if self.metrics.es_up.get() != 1 {
            problems.push("elasticsearch is not answering");
        }
        problems
    }
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::http::PROMETHEUS_TEXT)],
        h.metrics.render(),
    )
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    let problems = h.not_ready();
    let leader = h.metrics.leader.get() == 1;
    if problems.is_empty() {
        (StatusCode::OK, axum::Json(json!({"ready": true, "leader": leader})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ready": false, "leader": leader, "problems": problems})),
        )
    }
}

/// Binds the listener and returns the server future and bound address.
pub async fn bind(
    addr: SocketAddr,
    health: Health,
) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = std::io::Result<()>>)> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(crate::http::healthz))
        .route("/readyz", get(readyz))
        .with_state(health);
    crate::http::serve(addr, app).await
}
