//! `dot_expander` processor (not yet implemented).

use serde_json::Value;

use crate::pipeline::processor::Processor;

pub fn build(_config: &Value) -> Result<Box<dyn Processor>, String> {
    Err("the `dot_expander` processor is not implemented yet".to_owned())
}
