//! `gsub` processor (not yet implemented).

use serde_json::Value;

use crate::pipeline::processor::Processor;

pub fn build(_config: &Value) -> Result<Box<dyn Processor>, String> {
    Err("the `gsub` processor is not implemented yet".to_owned())
}
