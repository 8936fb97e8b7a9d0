//! `fail`: fails the pipeline with a templated message.

use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::template::Template;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    message: String,
}

struct Fail {
    message: Template,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    Ok(Box::new(Fail {
        message: Template::parse(&c.message)?,
    }))
}

impl Processor for Fail {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        Err(ProcessError::new(self.message.render(doc)))
    }
}
