//! The integration test binary (one binary, topical modules, as ripgrep
//! does). Fixtures live in `tests/fixtures/`.

#[path = "../support/mod.rs"]
mod support;

mod alert_e2e;
mod conformance;
mod engine_props;
mod golden;
mod harness_smoke;
mod metrics_promtool;
mod pipelines_support;
mod security_e2e;
mod service_e2e;
mod service_support;
