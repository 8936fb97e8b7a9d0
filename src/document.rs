//! The document a pipeline works on: the `_source` object plus the
//! ES-ingest metadata (`_index`, `_id`, `_routing`) and the read-mostly
//! `_ingest` namespace.

use crate::value::{Map, Value};

/// One log record on its way to becoming one Elasticsearch document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// The document body, as it will be indexed.
    pub source: Map,
    /// `_index`, `_id` and `_routing`: processors may set them (as in ES
    /// ingest) and the writer honours them; they never reach `_source`.
    pub meta: Map,
    /// `_ingest.*`: the ingest timestamp, the Kafka coordinates of the record
    /// and, inside `on_failure` handlers, the failure details.
    pub ingest: Map,
}

/// Why raw record bytes could not become a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the configured record size limit.
    #[error("record is {size} bytes, over the {limit}-byte limit (max_record_bytes)")]
    TooLarge {
        /// Record size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// Not UTF-8; pipelines work on text.
    #[error("record is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
}

impl DecodeError {
    /// Short machine-readable reason, used as a metric label and DLQ header.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "record_too_large",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
        }
    }
}

impl Document {
    /// Turns raw record bytes into a document with a `message` field,
    /// rejecting oversized and non-UTF-8 records as per-record errors.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Self, DecodeError> {
        if bytes.len() > max_bytes {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                limit: max_bytes,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        Ok(Document::from_message(text))
    }

    /// A document whose only field is `message`, the way Filebeat and ES
    /// ingest hand a raw line to a pipeline.
    pub fn from_message(message: impl Into<crate::value::Str>) -> Self {
        let mut source = Map::new();
        source.insert("message", Value::String(message.into()));
        Document {
            source,
            ..Document::default()
        }
    }

    /// A document whose `_source` is the given JSON object.
    pub fn from_source(source: impl Into<Map>) -> Self {
        let source = source.into();
        Document {
            source,
            ..Document::default()
        }
    }

    /// `_index` set by a processor, if it is a string.
    pub fn index(&self) -> Option<&str> {
        self.meta.get("_index").and_then(Value::as_str)
    }

    /// `_id` set by a processor, rendered as a string if it is a number.
    pub fn id(&self) -> Option<String> {
        match self.meta.get("_id")? {
            Value::String(s) => Some(s.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `_routing` set by a processor.
    pub fn routing(&self) -> Option<&str> {
        self.meta.get("_routing").and_then(Value::as_str)
    }

    /// Adds `tag` to the ECS `tags` array unless it is already there.
    pub fn add_tag(&mut self, tag: &str) {
        let tags = self.source.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        match tags {
            Value::Array(items) => {
                if !items.iter().any(|t| t.as_str() == Some(tag)) {
                    items.push(Value::from(tag));
                }
            }
            other => {
                let previous = std::mem::take(other);
                let mut items = vec![previous];
                if items[0].as_str() != Some(tag) {
                    items.push(Value::from(tag));
                }
                *other = Value::Array(items);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_tag_is_idempotent_and_upgrades_scalars() {
        let mut d = Document::from_message("x");
        d.add_tag("_grokparsefailure");
        d.add_tag("_grokparsefailure");
        assert_eq!(d.source["tags"], json!(["_grokparsefailure"]));

        let mut d = Document::from_message("x");
        d.source.insert("tags", json!("existing"));
        d.add_tag("new");
        assert_eq!(d.source["tags"], json!(["existing", "new"]));
    }

    #[test]
    fn decode_rejects_bad_records() {
        assert_eq!(Document::decode(b"hi", 10).unwrap().source["message"], json!("hi"));
        assert_eq!(
            Document::decode(b"toolong", 3).unwrap_err(),
            DecodeError::TooLarge { size: 7, limit: 3 }
        );
        assert_eq!(
            Document::decode(b"ok\xff", 10).unwrap_err(),
            DecodeError::InvalidUtf8 { valid_up_to: 2 }
        );
    }

    #[test]
    fn id_accepts_numbers() {
        let mut d = Document::default();
        d.meta.insert("_id", json!(42));
        assert_eq!(d.id().as_deref(), Some("42"));
    }
}
