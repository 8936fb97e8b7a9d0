//! Dotted field paths (`source.geo.location`), parsed once at load time and
//! resolved against a [`Document`] without re-splitting.
//!
//! As in Elasticsearch ingest, a dot always separates objects, a numeric
//! segment indexes into an array, `_index`/`_id`/`_routing` address the
//! document metadata and `_ingest.*` the ingest namespace. A `_source.`
//! prefix is accepted and ignored.

use crate::value::{Map, Name, Value};

use crate::document::Document;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Source,
    Meta,
    Ingest,
}

/// A compiled field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    raw: String,
    root: Root,
    segments: Box<[Name]>,
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FieldPath {
    /// Parses `a.b.c`. Empty paths and empty segments (`a..b`, `.a`) are
    /// rejected because they can never address a field.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("field path is empty".to_owned());
        }
        if trimmed.contains("{{") {
            // Only some options take templates (set's `field`, remove's
            // `field`); anywhere else `{{` would silently become part of a
            // field name.
            return Err(format!(
                "field path `{raw}` contains `{{{{`, but this option does not take templates"
            ));
        }
        let without_source = trimmed.strip_prefix("_source.").unwrap_or(trimmed);
        let mut segments: Vec<String> = without_source.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("field path `{raw}` has an empty segment"));
        }
        let root = match segments[0].as_str() {
            "_index" | "_id" | "_routing" => {
                if segments.len() > 1 {
                    return Err(format!("`{}` has no sub-fields (in `{raw}`)", segments[0]));
                }
                Root::Meta
            }
            "_ingest" => {
                segments.remove(0);
                if segments.is_empty() {
                    return Err("`_ingest` needs a sub-field such as `_ingest.timestamp`".to_owned());
                }
                Root::Ingest
            }
            _ => Root::Source,
        };
        Ok(FieldPath {
            raw: trimmed.to_owned(),
            root,
            segments: segments.iter().map(|s| Name::new(s)).collect(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The last segment (`location` for `source.geo.location`).
    pub fn leaf(&self) -> &str {
        self.segments.last().map(Name::as_str).unwrap_or("")
    }

    fn root_map<'a>(&self, doc: &'a Document) -> &'a Map {
        match self.root {
            Root::Source => &doc.source,
            Root::Meta => &doc.meta,
            Root::Ingest => &doc.ingest,
        }
    }

    fn root_map_mut<'a>(&self, doc: &'a mut Document) -> &'a mut Map {
        match self.root {
            Root::Source => &mut doc.source,
            Root::Meta => &mut doc.meta,
            Root::Ingest => &mut doc.ingest,
        }
    }

    /// The value at this path, if present. `null` counts as present.
    pub fn get<'a>(&self, doc: &'a Document) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = self.root_map(doc).get_name(first)?;
        for seg in rest {
            current = step(current, seg)?;
        }
        Some(current)
    }

    /// The value at this path, mutably.
    pub fn get_mut<'a>(&self, doc: &'a mut Document) -> Option<&'a mut Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = self.root_map_mut(doc).get_name_mut(first)?;
        for seg in rest {
            current = step_mut(current, seg)?;
        }
        Some(current)
    }

    /// The value at this path as a string, if it is one.
    pub fn get_str<'a>(&self, doc: &'a Document) -> Option<&'a str> {
        self.get(doc).and_then(Value::as_str)
    }

    /// True if the path resolves to a value (including `null`).
    pub fn exists(&self, doc: &Document) -> bool {
        self.get(doc).is_some()
    }

    /// Sets the value, creating intermediate objects. Fails if an
    /// intermediate value exists and is neither an object nor an array
    /// indexed by a valid number, as ES does ("cannot set \[b\] with parent
    /// object of type [java.lang.String]").
    pub fn set(&self, doc: &mut Document, value: impl Into<Value>) -> Result<(), String> {
        let value = value.into();
        let Some((last, parents)) = self.segments.split_last() else {
            return Err("field path is empty".to_owned());
        };
        set_in_map(self.root_map_mut(doc), parents, last, value, &self.raw)
    }

    /// Removes the value at this path and returns it.
    pub fn remove(&self, doc: &mut Document) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        let map = self.root_map_mut(doc);
        if parents.is_empty() {
            return map.remove_name(last);
        }
        let (first, rest) = parents.split_first()?;
        let mut current = map.get_name_mut(first)?;
        for seg in rest {
            current = step_mut(current, seg)?;
        }
        match current {
            Value::Object(m) => m.remove_name(last),
            Value::Array(items) => {
                let i = last.parse::<usize>().ok()?;
                (i < items.len()).then(|| items.remove(i))
            }
            _ => None,
        }
    }
}

fn step<'a>(value: &'a Value, seg: &Name) -> Option<&'a Value> {
    match value {
        Value::Object(m) => m.get_name(seg),
        Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Value, seg: &Name) -> Option<&'a mut Value> {
    match value {
        Value::Object(m) => m.get_name_mut(seg),
        Value::Array(items) => items.get_mut(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Sets `last` below `parents` inside `map`, creating what is missing.
/// Walks down the objects that exist in a loop: `find` returns a position,
/// so the map is free again to insert into when the key is absent (one
/// lookup per level). A path through an array goes on in [`set_in_value`].
fn set_in_map(mut map: &mut Map, parents: &[Name], last: &Name, value: Value, raw: &str) -> Result<(), String> {
    for (k, seg) in parents.iter().enumerate() {
        let Some(i) = map.find(seg) else {
            map.push_name(seg, nested(&parents[k + 1..], last, value));
            return Ok(());
        };
        match map.value_at_mut(i) {
            Value::Object(child) => map = child,
            other => return set_in_value(other, &parents[k + 1..], last, value, raw),
        }
    }
    map.insert_name(last, value);
    Ok(())
}

/// Like [`set_in_map`] for a value that already exists at some parent
/// path: it must be an object, or an array indexed by the next segment.
fn set_in_value(container: &mut Value, parents: &[Name], last: &Name, value: Value, raw: &str) -> Result<(), String> {
    match container {
        Value::Object(m) => set_in_map(m, parents, last, value, raw),
        Value::Array(items) => {
            let len = items.len();
            let seg = parents.first().unwrap_or(last).as_str();
            let Some(item) = seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) else {
                return Err(format!(
                    "cannot set `{raw}`: `{seg}` is not a valid index into an array of {len} items"
                ));
            };
            match parents.split_first() {
                Some((_, rest)) => set_in_value(item, rest, last, value, raw),
                None => {
                    *item = value;
                    Ok(())
                }
            }
        }
        other => Err(match parents.first() {
            Some(seg) => format!(
                "cannot set `{raw}`: `{seg}` would be inside a {}, not an object",
                type_name(other)
            ),
            None => format!("cannot set `{raw}`: parent is a {}, not an object", type_name(other)),
        }),
    }
}

/// `{parents[0]: {parents[1]: … {last: value}}}`, built from the inside out
/// (each map gets a single insert and no lookup).
fn nested(parents: &[Name], last: &Name, value: Value) -> Value {
    let mut m = Map::new();
    m.push_name(last, value);
    let mut v = Value::Object(m);
    for seg in parents.iter().rev() {
        let mut m = Map::new();
        m.push_name(seg, v);
        v = Value::Object(m);
    }
    v
}

/// The JSON type name used in error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        match v {
            Value::Object(m) => Document::from_source(m),
            _ => unreachable!("test documents are objects"),
        }
    }

    #[test]
    fn get_nested_and_array_index() {
        let d = doc(json!({"a": {"b": [10, {"c": "x"}]}}));
        assert_eq!(
            FieldPath::parse("a.b.0").unwrap().get(&d).map(Value::from),
            Some(json!(10))
        );
        assert_eq!(
            FieldPath::parse("a.b.1.c").unwrap().get(&d).map(Value::from),
            Some(json!("x"))
        );
        assert_eq!(FieldPath::parse("a.b.7").unwrap().get(&d), None);
        assert_eq!(
            FieldPath::parse("_source.a.b.0").unwrap().get(&d).map(Value::from),
            Some(json!(10))
        );
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut d = Document::default();
        FieldPath::parse("source.geo.location.lat")
            .unwrap()
            .set(&mut d, json!(1.5))
            .unwrap();
        assert_eq!(
            d.source.to_json(),
            json!({"source": {"geo": {"location": {"lat": 1.5}}}})
        );
    }

    #[test]
    fn set_through_scalar_is_an_error() {
        let mut d = doc(json!({"a": "text"}));
        let err = FieldPath::parse("a.b").unwrap().set(&mut d, json!(1)).unwrap_err();
        assert!(err.contains("string"), "{err}");
        let mut d = doc(json!({"a": {"b": 3}}));
        let err = FieldPath::parse("a.b.c").unwrap().set(&mut d, json!(1)).unwrap_err();
        assert!(err.contains("number"), "{err}");
    }

    #[test]
    fn set_into_arrays_and_existing_objects() {
        let mut d = doc(json!({"l": [1, {"x": 1}, 3], "o": {"keep": true}}));
        FieldPath::parse("l.0").unwrap().set(&mut d, json!("a")).unwrap();
        FieldPath::parse("l.1.y.z").unwrap().set(&mut d, json!(2)).unwrap();
        FieldPath::parse("o.new.deep").unwrap().set(&mut d, json!(3)).unwrap();
        FieldPath::parse("o.keep").unwrap().set(&mut d, json!(false)).unwrap();
        assert_eq!(
            d.source.to_json(),
            json!({"l": ["a", {"x": 1, "y": {"z": 2}}, 3], "o": {"keep": false, "new": {"deep": 3}}})
        );
        let err = FieldPath::parse("l.7").unwrap().set(&mut d, json!(0)).unwrap_err();
        assert_eq!(
            err,
            "cannot set `l.7`: `7` is not a valid index into an array of 3 items"
        );
        let err = FieldPath::parse("l.x.y").unwrap().set(&mut d, json!(0)).unwrap_err();
        assert_eq!(
            err,
            "cannot set `l.x.y`: `x` is not a valid index into an array of 3 items"
        );
        let err = FieldPath::parse("l.2.y").unwrap().set(&mut d, json!(0)).unwrap_err();
        assert_eq!(err, "cannot set `l.2.y`: parent is a number, not an object");
        let err = FieldPath::parse("l.2.y.z").unwrap().set(&mut d, json!(0)).unwrap_err();
        assert_eq!(err, "cannot set `l.2.y.z`: `y` would be inside a number, not an object");
    }

    #[test]
    fn metadata_and_ingest_roots() {
        let mut d = Document::default();
        FieldPath::parse("_index")
            .unwrap()
            .set(&mut d, json!("logs-x"))
            .unwrap();
        FieldPath::parse("_ingest.kafka.topic")
            .unwrap()
            .set(&mut d, json!("t"))
            .unwrap();
        assert_eq!(d.index(), Some("logs-x"));
        assert!(d.source.is_empty());
        assert_eq!(d.ingest["kafka"]["topic"], json!("t"));
        assert!(FieldPath::parse("_index.x").is_err());
        assert!(FieldPath::parse("_ingest").is_err());
    }

    #[test]
    fn remove_returns_value() {
        let mut d = doc(json!({"a": {"b": 1, "c": 2}, "l": [1, 2, 3]}));
        assert_eq!(
            FieldPath::parse("a.b").unwrap().remove(&mut d).map(Value::from),
            Some(json!(1))
        );
        assert_eq!(
            FieldPath::parse("l.1").unwrap().remove(&mut d).map(Value::from),
            Some(json!(2))
        );
        assert_eq!(FieldPath::parse("zz.y").unwrap().remove(&mut d), None);
        assert_eq!(d.source.to_json(), json!({"a": {"c": 2}, "l": [1, 3]}));
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(FieldPath::parse("a.{{b}}").unwrap_err().contains("templates"));
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse(".a").is_err());
    }
}
