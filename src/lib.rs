//! Sluice: Kafka → pipelines → Elasticsearch, committing offsets only after
//! Elasticsearch has acknowledged the documents.

pub mod document;
pub mod pipeline;
