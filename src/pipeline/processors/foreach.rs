//! `foreach` processor (not yet implemented).

use serde_json::Value;

use crate::pipeline::compile::CompileContext;
use crate::pipeline::processor::Processor;

pub fn build(_config: &Value, _ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    Err("the `foreach` processor is not implemented yet".to_owned())
}
