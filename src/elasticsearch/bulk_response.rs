//! Reads a `_bulk` response and classifies each item: indexed, retry, or
//! reject. A 200 response can still carry per-item failures
//! (`"errors": true`), so every item is inspected.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::retry::{ItemClass, classify_item};

/// The outcome of one bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Stored (201 created or 200 updated).
    Indexed {
        /// True for 201.
        created: bool,
    },
    /// 409 on a `create` with our own id: the document already exists,
    /// which for a replay is exactly what we want.
    Duplicate,
    /// Try again later (429, 5xx, es_rejected_execution_exception).
    Retry {
        /// Metric label.
        reason: &'static str,
    },
    /// Will never succeed; dead-letter it.
    Reject {
        /// HTTP status of the item.
        status: u16,
        /// ES error type, e.g. `mapper_parsing_exception`.
        error_type: String,
        /// ES error reason.
        reason: String,
    },
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    errors: bool,
    items: Vec<Item>,
    #[serde(default, rename = "took")]
    _took: IgnoredAny,
}

#[derive(Deserialize)]
struct Item {
    // Exactly one of these keys is present, named after the action.
    #[serde(alias = "create", alias = "update", alias = "delete")]
    index: ItemResult,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<ItemError>,
}

#[derive(Deserialize)]
struct ItemError {
    #[serde(rename = "type", default)]
    error_type: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    caused_by: Option<Box<ItemError>>,
}

impl ItemError {
    fn describe(&self) -> String {
        let mut s = self.reason.clone().unwrap_or_default();
        if let Some(c) = &self.caused_by {
            let inner = c.describe();
            if !inner.is_empty() {
                s.push_str(&format!(" (caused by {}: {inner})", c.error_type));
            }
        }
        s
    }
}

/// Why a response could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Not a bulk response.
    #[error("bulk response is not valid JSON: {0}")]
    Malformed(String),
    /// Item count differs from the request: we cannot tell which document
    /// is which, so everything is retried (ids are deterministic).
    #[error("bulk response has {got} items for {sent} documents")]
    CountMismatch {
        /// Items sent.
        sent: usize,
        /// Items received.
        got: usize,
    },
}

/// Classifies each item of a response to a request of `sent` documents.
pub fn parse(body: &[u8], sent: usize, create: bool) -> Result<Vec<ItemOutcome>, ResponseError> {
    let r: Response = serde_json::from_slice(body).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    if r.items.len() != sent {
        return Err(ResponseError::CountMismatch {
            sent,
            got: r.items.len(),
        });
    }
    if !r.errors {
        return Ok(r
            .items
            .iter()
            .map(|i| ItemOutcome::Indexed {
                created: i.index.status == 201,
            })
            .collect());
    }
    Ok(r.items.into_iter().map(|i| outcome(i.index, create)).collect())
}

fn outcome(item: ItemResult, create: bool) -> ItemOutcome {
    let error_type = item.error.as_ref().map(|e| e.error_type.as_str()).unwrap_or("");
    match classify_item(item.status, error_type, create) {
        ItemClass::Indexed => ItemOutcome::Indexed {
            created: item.status == 201,
        },
        ItemClass::Duplicate => ItemOutcome::Duplicate,
        ItemClass::Retry(reason) => ItemOutcome::Retry { reason },
        ItemClass::Reject => ItemOutcome::Reject {
            status: item.status,
            error_type: error_type.to_owned(),
            reason: item.error.map(|e| e.describe()).unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_response_is_classified_per_item() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"a","_id":"1","status":201,"result":"created"}},
            {"index":{"_index":"a","_id":"2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"index":{"_index":"a","_id":"3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]","caused_by":{"type":"number_format_exception","reason":"For input string: \"x\""}}}},
            {"index":{"_index":"a","_id":"4","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
            {"index":{"_index":"a","_id":"5","status":200,"result":"updated"}}
        ]}"#;
        let out = parse(body, 5, false).unwrap();
        assert_eq!(out[0], ItemOutcome::Indexed { created: true });
        assert_eq!(out[1], ItemOutcome::Retry { reason: "item_429" });
        match &out[2] {
            ItemOutcome::Reject {
                status,
                error_type,
                reason,
            } => {
                assert_eq!(*status, 400);
                assert_eq!(error_type, "mapper_parsing_exception");
                assert!(reason.contains("number_format_exception"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out[3], ItemOutcome::Retry { reason: "item_5xx" });
        assert_eq!(out[4], ItemOutcome::Indexed { created: false });
    }

    #[test]
    fn conflict_on_create_is_a_duplicate_not_an_error() {
        let body = br#"{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}]}"#;
        assert_eq!(parse(body, 1, true).unwrap(), vec![ItemOutcome::Duplicate]);
        assert!(matches!(
            parse(body, 1, false).unwrap()[0],
            ItemOutcome::Reject { status: 409, .. }
        ));
    }

    #[test]
    fn malformed_and_mismatched_responses() {
        assert!(matches!(parse(b"<html>", 1, false), Err(ResponseError::Malformed(_))));
        let body = br#"{"errors":false,"items":[{"index":{"status":201}}]}"#;
        assert_eq!(
            parse(body, 2, false),
            Err(ResponseError::CountMismatch { sent: 2, got: 1 })
        );
    }
}
