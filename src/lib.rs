//! Sluice: Kafka → pipelines → Elasticsearch, committing offsets only after
//! Elasticsearch has acknowledged the documents.

pub mod cli;
pub mod document;
pub mod logging;
pub mod pipeline;
