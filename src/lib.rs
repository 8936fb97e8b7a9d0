//! Sluice: Kafka → pipelines → Elasticsearch, committing offsets only after
//! Elasticsearch has acknowledged the documents.

pub mod alert;
pub mod app;
pub mod cli;
pub mod config;
pub mod dead_letter;
pub mod document;
pub mod elasticsearch;
pub mod generator;
pub mod http;
pub mod kafka;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod offsets;
pub mod pipeline;
pub mod processing;
pub mod reload;
pub mod routing;
pub mod secret;
pub mod shutdown;
pub mod value;
