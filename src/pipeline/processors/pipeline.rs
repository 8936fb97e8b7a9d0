//! `pipeline`: runs another pipeline of the same set by name. Static names
//! are checked at load time (existence and cycles).

use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::compile::CompileContext;
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};
use crate::pipeline::template::Template;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    name: String,
    #[serde(default)]
    ignore_missing_pipeline: bool,
}

struct CallPipeline {
    name: Template,
    static_name: Option<String>,
    ignore_missing_pipeline: bool,
}

pub fn build(config: &serde_json::Value, ctx: &CompileContext<'_>) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let name = Template::parse(&c.name)?;
    let static_name = name.is_literal().then(|| c.name.clone());
    if let Some(n) = &static_name
        && !ctx.pipeline_names.contains(n)
        && !c.ignore_missing_pipeline
    {
        let mut known: Vec<&str> = ctx.pipeline_names.iter().map(String::as_str).collect();
        known.sort_unstable();
        return Err(format!(
            "pipeline `{n}` does not exist; known pipelines: {}",
            known.join(", ")
        ));
    }
    Ok(Box::new(CallPipeline {
        name,
        static_name,
        ignore_missing_pipeline: c.ignore_missing_pipeline,
    }))
}

impl Processor for CallPipeline {
    fn process(&self, doc: &mut Document, ctx: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let name = match &self.static_name {
            Some(n) => std::borrow::Cow::Borrowed(n.as_str()),
            None => std::borrow::Cow::Owned(self.name.render(doc)),
        };
        if self.ignore_missing_pipeline && ctx.pipelines.get(&name).is_none() {
            return Ok(Flow::Continue);
        }
        ctx.pipelines.run_nested(&name, doc, ctx)
    }

    fn called_pipelines(&self) -> Vec<String> {
        self.static_name.iter().cloned().collect()
    }
}
