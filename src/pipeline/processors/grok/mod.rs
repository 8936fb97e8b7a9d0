//! `grok` processor (not yet implemented).

pub mod patterns;

use serde_json::Value;

use crate::pipeline::compile::CompileContext;
use crate::pipeline::processor::Processor;

pub fn build(_config: &Value, _ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    Err("the `grok` processor is not implemented yet".to_owned())
}
