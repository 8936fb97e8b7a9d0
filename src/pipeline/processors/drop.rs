//! `drop`: stops the pipeline and drops the document. Its record still
//! counts as done for offset commits.

use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

struct Drop;

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let _: Config = parse_config(config)?;
    Ok(Box::new(Drop))
}

impl Processor for Drop {
    fn process(&self, _: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        Ok(Flow::Drop)
    }
}
