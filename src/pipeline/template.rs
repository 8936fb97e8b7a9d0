//! `{{field}}` value templates, as in ES ingest's mustache snippets.
//!
//! Only field substitution is supported (`{{a.b}}` and the unescaped
//! `{{{a.b}}}` form, which is the same thing here because we never produce
//! HTML). Missing fields render as the empty string, as mustache does.

use std::borrow::Cow;

use crate::value::{Key, Value};

use super::field_path::FieldPath;
use crate::document::Document;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field(FieldPath),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template. An unterminated `{{` is a load-time error.
    pub fn parse(src: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start..];
            let (open, close) = if after.starts_with("{{{") {
                ("{{{", "}}}")
            } else {
                ("{{", "}}")
            };
            let inner_start = open.len();
            let Some(end) = after[inner_start..].find(close) else {
                return Err(format!("template `{src}` has an unterminated `{open}`"));
            };
            let name = after[inner_start..inner_start + end].trim();
            let path = FieldPath::parse(name).map_err(|e| format!("template `{src}`: {e}"))?;
            parts.push(Part::Field(path));
            rest = &after[inner_start + end + close.len()..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// True if the template has no `{{…}}` substitutions.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Renders the template against a document.
    pub fn render(&self, doc: &Document) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Field(path) => {
                    if let Some(v) = path.get(doc) {
                        push_value(&mut out, v);
                    }
                }
            }
        }
        out
    }
}

/// A field name that may be a template (`set`'s and `remove`'s `field`).
/// A name without `{{` is parsed once at load time; rendering and parsing
/// it for every document was a large share of a cheap processor's cost.
#[derive(Debug, Clone, PartialEq)]
pub enum PathTemplate {
    /// A plain dotted path.
    Fixed(FieldPath),
    /// A path computed per document.
    Templated(Template),
}

impl PathTemplate {
    /// Compiles a field option; a plain path must be valid.
    pub fn parse(src: &str) -> Result<Self, String> {
        let template = Template::parse(src)?;
        Ok(if template.is_literal() {
            PathTemplate::Fixed(FieldPath::parse(src)?)
        } else {
            PathTemplate::Templated(template)
        })
    }

    /// The path for one document. `Err` is the rendered name's parse error.
    pub fn resolve(&self, doc: &Document) -> Result<Cow<'_, FieldPath>, String> {
        match self {
            PathTemplate::Fixed(path) => Ok(Cow::Borrowed(path)),
            PathTemplate::Templated(t) => FieldPath::parse(&t.render(doc)).map(Cow::Owned),
        }
    }
}

/// Appends a value the way mustache prints it: strings raw, everything
/// else as JSON.
pub fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
}

/// A processor value that may be a template. Non-string YAML values
/// (numbers, lists, objects) are kept as they are; strings inside them are
/// rendered as templates, as ES does for `set` and `append`.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueTemplate {
    /// A plain value with no templates inside.
    Constant(Value),
    /// A string template.
    String(Template),
    /// A list whose items may contain templates.
    Array(Vec<ValueTemplate>),
    /// An object whose values may contain templates.
    Object(Vec<(Key, ValueTemplate)>),
}

impl ValueTemplate {
    /// Compiles a value, turning every string into a template.
    pub fn compile(v: &Value) -> Result<Self, String> {
        Ok(match v {
            Value::String(s) => {
                let t = Template::parse(s)?;
                if t.is_literal() {
                    ValueTemplate::Constant(v.clone())
                } else {
                    ValueTemplate::String(t)
                }
            }
            Value::Array(items) => {
                let compiled = items.iter().map(Self::compile).collect::<Result<Vec<_>, _>>()?;
                if compiled.iter().all(|c| matches!(c, ValueTemplate::Constant(_))) {
                    ValueTemplate::Constant(v.clone())
                } else {
                    ValueTemplate::Array(compiled)
                }
            }
            Value::Object(m) => {
                let compiled = m
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(v)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                if compiled.iter().all(|(_, c)| matches!(c, ValueTemplate::Constant(_))) {
                    ValueTemplate::Constant(v.clone())
                } else {
                    ValueTemplate::Object(compiled)
                }
            }
            other => ValueTemplate::Constant(other.clone()),
        })
    }

    /// Produces the value for one document.
    pub fn render(&self, doc: &Document) -> Value {
        match self {
            ValueTemplate::Constant(v) => v.clone(),
            ValueTemplate::String(t) => Value::from(t.render(doc)),
            ValueTemplate::Array(items) => Value::Array(items.iter().map(|i| i.render(doc)).collect()),
            ValueTemplate::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.render(doc))).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_and_literals() {
        let mut d = Document::from_message("hello");
        d.source.insert("n", json!(3));
        let t = Template::parse("logs-{{ message }}-{{{n}}}-{{missing}}!").unwrap();
        assert_eq!(t.render(&d), "logs-hello-3-!");
        assert!(Template::parse("plain").unwrap().is_literal());
        assert!(Template::parse("bad {{x").is_err());
    }

    #[test]
    fn value_templates_keep_types() {
        let d = Document::from_message("m");
        let v = ValueTemplate::compile(&json!({"a": 1, "b": ["{{message}}", 2]}).into()).unwrap();
        assert_eq!(v.render(&d), json!({"a": 1, "b": ["m", 2]}));
        let c = ValueTemplate::compile(&json!(5).into()).unwrap();
        assert_eq!(c, ValueTemplate::Constant(json!(5).into()));
    }
}
