//! Chooses, for each record, the pipeline, the index pattern and the
//! failure policy, from its topic and (optionally) a header. First matching
//! route wins.

use std::sync::Arc;

use crate::config::{HeaderMatch, PipelineFailurePolicy, RouteConfig};
use crate::elasticsearch::index_name::IndexPattern;
use crate::pipeline::PipelineSet;

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    topics: Vec<String>,
    header: Option<HeaderMatch>,
    /// Pipeline name.
    pub pipeline: Arc<str>,
    /// Index name pattern.
    pub index: IndexPattern,
    /// What happens to records whose pipeline failed.
    pub on_pipeline_failure: PipelineFailurePolicy,
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Compiles routes from config.
    pub fn new(routes: &[RouteConfig]) -> Result<Self, String> {
        let routes = routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Route {
                    topics: r.all_topics(),
                    header: r.header.clone(),
                    pipeline: Arc::from(r.pipeline.as_str()),
                    index: IndexPattern::compile(&r.index).map_err(|e| format!("routes[{i}].index: {e}"))?,
                    on_pipeline_failure: r.on_pipeline_failure,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Router { routes })
    }

    /// Checks that every route's pipeline exists in the set.
    pub fn check_pipelines(&self, set: &PipelineSet) -> Result<(), String> {
        for (i, r) in self.routes.iter().enumerate() {
            if set.get(&r.pipeline).is_none() {
                return Err(format!(
                    "routes[{i}].pipeline: pipeline `{}` does not exist; loaded pipelines: {}",
                    r.pipeline,
                    set.names().join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The route for a record.
    pub fn route(&self, topic: &str, headers: &[(String, bytes::Bytes)]) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.topics.iter().any(|t| t == topic)
                && r.header.as_ref().is_none_or(|h| {
                    headers
                        .iter()
                        .any(|(k, v)| *k == h.name && v.as_ref() == h.value.as_bytes())
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> Vec<RouteConfig> {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn first_match_wins_and_headers_narrow() {
        let r = Router::new(&cfg(r#"
- topic: logs
  header: { name: type, value: nginx }
  pipeline: nginx
  index: "n-%{+yyyy}"
- topics: [logs, other]
  pipeline: app
  index: "a-%{+yyyy}"
"#))
        .unwrap();
        let h = vec![("type".to_owned(), bytes::Bytes::from_static(b"nginx"))];
        assert_eq!(&*r.route("logs", &h).unwrap().pipeline, "nginx");
        assert_eq!(&*r.route("logs", &[]).unwrap().pipeline, "app");
        assert_eq!(&*r.route("other", &h).unwrap().pipeline, "app");
        assert!(r.route("nope", &[]).is_none());
    }
}
