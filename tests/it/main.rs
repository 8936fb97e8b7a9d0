//! The integration test binary (one binary, topical modules, as ripgrep
//! does). Fixtures live in `tests/fixtures/`.

#[path = "../support/mmdb_fixture.rs"]
pub mod mmdb_fixture;

mod support {
    pub use super::mmdb_fixture;
}

mod conformance;
mod engine_props;
mod golden;
mod pipelines_support;
