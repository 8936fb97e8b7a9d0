//! `dot_expander`: turns a field whose name contains dots (`"log.level"`)
//! into nested objects (`{"log": {"level": …}}`), as the ES `dot_expander`
//! processor, so that later processors and field paths can address it.
//! JSON application logs often use such dotted keys.

use crate::value::{Key, Map, Value};
use serde::Deserialize;

use crate::document::Document;
use crate::pipeline::field_path::{FieldPath, type_name};
use crate::pipeline::processor::{ExecContext, Flow, ProcessError, Processor, parse_config};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    field: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default, rename = "override")]
    override_existing: bool,
}

enum Which {
    /// `*`: every key containing a dot.
    All,
    One(String),
}

struct DotExpander {
    which: Which,
    path: Option<FieldPath>,
    override_existing: bool,
}

pub fn build(config: &serde_json::Value) -> Result<Box<dyn Processor>, String> {
    let c: Config = parse_config(config)?;
    let which = if c.field == "*" {
        Which::All
    } else {
        if !c.field.contains('.') {
            return Err(format!(
                "`field` `{}` does not contain a dot and is not the wildcard `*`",
                c.field
            ));
        }
        if !is_expandable(&c.field) {
            return Err(format!(
                "`field` `{}` cannot start or end with a dot or contain `..`",
                c.field
            ));
        }
        Which::One(c.field)
    };
    Ok(Box::new(DotExpander {
        which,
        path: c.path.as_deref().map(FieldPath::parse).transpose()?,
        override_existing: c.override_existing,
    }))
}

/// A dotted key whose every segment is non-empty.
fn is_expandable(key: &str) -> bool {
    key.contains('.') && key.split('.').all(|s| !s.is_empty())
}

/// Moves `map[key]` to the nested position its dots describe. As in ES, an
/// existing value there is replaced with `override`, otherwise both are kept
/// as an array; a non-object on the way is an error (checked before
/// anything moves, so the document is unchanged on failure).
fn expand(map: &mut Map, key: &str, override_existing: bool) -> Result<(), String> {
    let mut segments = key.split('.');
    let Some(last) = segments.next_back() else {
        return Ok(());
    };
    let parents: Vec<&str> = segments.collect();

    let mut probe: &Map = map;
    for (i, seg) in parents.iter().enumerate() {
        probe = match probe.get(seg) {
            None => break,
            Some(Value::Object(m)) => m,
            Some(other) => {
                let walked = parents.get(..=i).map(|p| p.join(".")).unwrap_or_default();
                return Err(format!(
                    "cannot expand `{key}`: `{walked}` is a {}, not an object",
                    type_name(other)
                ));
            }
        };
    }

    let Some(value) = map.remove(key) else {
        return Ok(());
    };
    let mut current = map;
    for seg in parents {
        let entry = current.entry(seg).or_insert_with(|| Value::Object(Map::new()));
        current = match entry {
            Value::Object(m) => m,
            // Ruled out by the probe above.
            _ => return Err(format!("cannot expand `{key}`")),
        };
    }
    match current.get_mut(last) {
        Some(existing) if !override_existing => match existing {
            Value::Array(items) => items.push(value),
            other => {
                let previous = std::mem::take(other);
                *other = Value::Array(vec![previous, value]);
            }
        },
        _ => {
            current.insert(last, value);
        }
    }
    Ok(())
}

impl Processor for DotExpander {
    fn process(&self, doc: &mut Document, _: &mut ExecContext<'_>) -> Result<Flow, ProcessError> {
        let map = match &self.path {
            None => &mut doc.source,
            Some(path) => match path.get_mut(doc) {
                Some(Value::Object(m)) => m,
                Some(other) => {
                    return Err(ProcessError::new(format!(
                        "`path` `{path}` is a {}, not an object",
                        type_name(other)
                    )));
                }
                None => return Err(ProcessError::new(format!("`path` `{path}` doesn't exist"))),
            },
        };
        match &self.which {
            Which::One(key) => expand(map, key, self.override_existing)?,
            Which::All => {
                let keys: Vec<Key> = map.keys().filter(|k| is_expandable(k)).cloned().collect();
                for key in keys {
                    expand(map, &key, self.override_existing)?;
                }
            }
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::processors::test_util::{run, run_err};
    use serde_json::Value;
    use serde_json::json;

    fn p(config: Value) -> Box<dyn Processor> {
        build(&config).unwrap()
    }

    #[test]
    fn expands_one_field() {
        let out = run(p(json!({"field": "a.b.c"})), json!({"a.b.c": 1, "x.y": 2}));
        assert_eq!(out, json!({"a": {"b": {"c": 1}}, "x.y": 2}));
        assert_eq!(run(p(json!({"field": "a.b"})), json!({"z": 1})), json!({"z": 1}));
    }

    #[test]
    fn wildcard_expands_every_dotted_key() {
        let out = run(
            p(json!({"field": "*"})),
            json!({"log.level": "info", "log.logger": "api", "service.name": "s", "msg": "m", ".odd": 1, "end.": 2, "a..b": 3}),
        );
        assert_eq!(
            out,
            json!({"log": {"level": "info", "logger": "api"}, "service": {"name": "s"}, "msg": "m", ".odd": 1, "end.": 2, "a..b": 3})
        );
    }

    #[test]
    fn merges_into_existing_objects_and_appends_or_overrides() {
        let out = run(
            p(json!({"field": "foo.bar"})),
            json!({"foo.bar": "v2", "foo": {"bar": "v1", "x": 1}}),
        );
        assert_eq!(out, json!({"foo": {"bar": ["v1", "v2"], "x": 1}}));
        let out = run(
            p(json!({"field": "foo.bar"})),
            json!({"foo.bar": "v3", "foo": {"bar": ["v1", "v2"]}}),
        );
        assert_eq!(out["foo"]["bar"], json!(["v1", "v2", "v3"]));
        let out = run(
            p(json!({"field": "foo.bar", "override": true})),
            json!({"foo.bar": "v2", "foo": {"bar": "v1"}}),
        );
        assert_eq!(out, json!({"foo": {"bar": "v2"}}));
    }

    #[test]
    fn value_in_the_way_is_an_error_and_changes_nothing() {
        let e = run_err(p(json!({"field": "a.b.c"})), json!({"a.b.c": 1, "a": {"b": "text"}}));
        assert!(e.contains("`a.b` is a string, not an object"), "{e}");
        let e = run_err(p(json!({"field": "*"})), json!({"a.b": 1, "a": 5}));
        assert!(e.contains("`a` is a number"), "{e}");
    }

    #[test]
    fn path_option() {
        let out = run(
            p(json!({"field": "*", "path": "json"})),
            json!({"json": {"http.status": 200, "plain": 1}, "top.level": 1}),
        );
        assert_eq!(
            out,
            json!({"json": {"http": {"status": 200}, "plain": 1}, "top.level": 1})
        );
        assert!(run_err(p(json!({"field": "a.b", "path": "json"})), json!({})).contains("doesn't exist"));
        assert!(run_err(p(json!({"field": "a.b", "path": "json"})), json!({"json": "s"})).contains("not an object"));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(
            build(&json!({"field": "nodot"}))
                .err()
                .unwrap()
                .contains("does not contain a dot")
        );
        assert!(build(&json!({"field": ".a"})).err().unwrap().contains("start or end"));
        assert!(build(&json!({"field": "a."})).is_err());
        assert!(build(&json!({"field": "a..b"})).is_err());
        assert!(build(&json!({"field": "a.b", "path": ""})).is_err());
        assert!(build(&json!({})).is_err());
    }
}
