//! Deterministic document `_id`s, so that a replay after a crash or a
//! rebalance overwrites documents instead of duplicating them.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::IdConfig;
use crate::document::Document;
use crate::offsets::RecordId;
use crate::pipeline::field_path::FieldPath;

/// How ids are computed.
#[derive(Debug, Clone)]
pub enum IdStrategy {
    /// `<topic>-<partition>-<offset>`.
    Kafka,
    /// base64url(SHA-256) over the listed fields.
    Fingerprint(Vec<FieldPath>),
    /// No id; Elasticsearch generates one.
    None,
}

impl IdStrategy {
    /// Builds the strategy from validated config.
    pub fn from_config(c: &IdConfig) -> Result<Self, String> {
        Ok(match c {
            IdConfig::Kafka => IdStrategy::Kafka,
            IdConfig::None => IdStrategy::None,
            IdConfig::Fingerprint { fields } => {
                IdStrategy::Fingerprint(fields.iter().map(|f| FieldPath::parse(f)).collect::<Result<_, _>>()?)
            }
        })
    }

    /// The id for a document. A `_id` set by a pipeline wins.
    pub fn id_for(&self, record: &RecordId, doc: &Document) -> Option<String> {
        if let Some(id) = doc.id() {
            return Some(id);
        }
        match self {
            IdStrategy::Kafka => Some(kafka_id(record)),
            IdStrategy::None => None,
            IdStrategy::Fingerprint(fields) => {
                let mut h = Sha256::new();
                for f in fields {
                    h.update(f.as_str().as_bytes());
                    // Separators keep ("ab","c") and ("a","bc") apart; a missing
                    // field hashes differently from a null one.
                    match f.get(doc) {
                        None => h.update([0u8]),
                        Some(v) => {
                            h.update([1u8]);
                            h.update(v.to_string().as_bytes());
                        }
                    }
                    h.update([0xffu8]);
                }
                Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize()))
            }
        }
    }
}

/// `<topic>-<partition>-<offset>`: unique per record across topics.
pub fn kafka_id(record: &RecordId) -> String {
    format!(
        "{}-{}-{}",
        record.partition.topic, record.partition.partition, record.offset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::Partition;
    use serde_json::json;
    use std::sync::Arc;

    fn rid(offset: i64) -> RecordId {
        RecordId {
            partition: Partition {
                topic: Arc::from("nginx"),
                partition: 3,
            },
            epoch: 9,
            offset,
        }
    }

    #[test]
    fn kafka_ids_ignore_the_epoch() {
        let mut other_epoch = rid(42);
        other_epoch.epoch = 1;
        assert_eq!(
            IdStrategy::Kafka.id_for(&rid(42), &Document::default()).unwrap(),
            "nginx-3-42"
        );
        assert_eq!(kafka_id(&other_epoch), "nginx-3-42");
    }

    #[test]
    fn fingerprint_depends_on_fields_only() {
        let s = IdStrategy::from_config(&IdConfig::Fingerprint {
            fields: vec!["message".into(), "host.name".into()],
        })
        .unwrap();
        let mut a = Document::from_message("x");
        a.source.insert("host", json!({"name": "h"}));
        let id1 = s.id_for(&rid(1), &a).unwrap();
        let id2 = s.id_for(&rid(2), &a).unwrap();
        assert_eq!(id1, id2);
        assert_eq!(id1.len(), 43);
        let b = Document::from_message("x");
        assert_ne!(s.id_for(&rid(1), &b).unwrap(), id1);
    }

    #[test]
    fn pipeline_id_wins() {
        let mut d = Document::default();
        d.meta.insert("_id", json!("mine"));
        assert_eq!(IdStrategy::Kafka.id_for(&rid(1), &d).as_deref(), Some("mine"));
    }
}
