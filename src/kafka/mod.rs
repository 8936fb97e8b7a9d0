//! Kafka: client settings and the consumer stage.

pub mod client_config;
pub mod consumer;
