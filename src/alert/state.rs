//! Persistent evaluation state in an Elasticsearch index (default
//! `sluice-alert-state`), so a restarted or newly elected evaluator neither
//! misses a window nor re-sends:
//!
//! - `rule:<name>`: last evaluated window end, per-group firing state, last
//!   notification time and spike baselines. Written with `if_seq_no` /
//!   `if_primary_term`, which also fences a deposed leader: its next write
//!   conflicts and it stops.
//! - `lease`: the leader lease (see `leader`).
//! - `notification:<id>/<receiver>`: one audit record per notification and
//!   receiver: `pending` before delivery, then `delivered` or `failed`;
//!   `suppressed` and `silenced` for ones held back. A new leader re-delivers
//!   records still `pending` (delivery is at least once: a crash between a
//!   successful send and the audit update sends again).

use std::collections::BTreeMap;

use elasticsearch::http::Method;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::Millis;
use super::lifecycle::GroupState;
use super::notify::Notification;
use crate::elasticsearch::client::{EsClient, excerpt};

/// Optimistic concurrency token of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqNo {
    /// `_seq_no`.
    pub seq_no: i64,
    /// `_primary_term`.
    pub primary_term: i64,
}

/// How a write is conditioned.
#[derive(Debug, Clone, Copy)]
pub enum Write {
    /// Only if the document does not exist (`op_type=create`).
    Create,
    /// Only if it is still at this version.
    IfMatch(SeqNo),
}

/// Store failures the caller branches on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The document changed (or exists) since it was read.
    #[error("version conflict")]
    Conflict,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// State of one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Last window end evaluated.
    #[serde(default)]
    pub last_end: Option<Millis>,
    /// Last window end at which the condition held for any group (for
    /// suppression hold times).
    #[serde(default)]
    pub last_true: Option<Millis>,
    /// Per-group state (`""` without `group_by`).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupState>,
    /// Hash of the rule's definition; state of a changed rule is dropped.
    #[serde(default)]
    pub definition: String,
}

impl RuleState {
    /// Some group is firing.
    pub fn firing(&self) -> bool {
        self.groups.values().any(|g| g.firing)
    }
}

/// Outcome of a delivery, for the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    /// Written before delivery starts.
    Pending,
    /// The receiver accepted it.
    Delivered,
    /// Every attempt failed.
    Failed,
    /// Held back by an upstream rule.
    Suppressed,
    /// Held back by a silence.
    Silenced,
}

/// A pending delivery found in the audit trail.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    /// Audit document id.
    pub audit_id: String,
    /// Receiver name.
    pub receiver: String,
    /// What to send.
    pub notification: Notification,
}

/// The state index.
pub struct StateStore {
    es: EsClient,
    index: String,
}

fn doc_path(index: &str, id: &str) -> String {
    format!("/{index}/_doc/{}", utf8_percent_encode(id, NON_ALPHANUMERIC))
}

impl StateStore {
    /// A store in `index`.
    pub fn new(es: EsClient, index: String) -> Self {
        StateStore { es, index }
    }

    /// The index name.
    pub fn index(&self) -> &str {
        &self.index
    }

    /// The client, for log queries.
    pub fn es(&self) -> &EsClient {
        &self.es
    }

    /// Creates the index with its mapping unless it exists. Opaque parts
    /// (group state, notifications with arbitrary sample documents) are not
    /// indexed, so they cannot cause mapping conflicts or explosions.
    pub async fn ensure_index(&self) -> Result<(), String> {
        let body = json!({
            "settings": {"number_of_shards": 1},
            "mappings": {
                "dynamic": false,
                "properties": {
                    "kind": {"type": "keyword"},
                    "rule": {"type": "keyword"},
                    "group": {"type": "keyword"},
                    "status": {"type": "keyword"},
                    "event": {"type": "keyword"},
                    "receiver": {"type": "keyword"},
                    "holder": {"type": "keyword"},
                    "reason": {"type": "keyword"},
                    "created_at": {"type": "date", "format": "epoch_millis"},
                    "updated_at": {"type": "date", "format": "epoch_millis"},
                    "expires_at": {"type": "date", "format": "epoch_millis"},
                    "window_end": {"type": "date", "format": "epoch_millis"},
                    "attempts": {"type": "integer"},
                    "state": {"type": "object", "enabled": false},
                    "notification": {"type": "object", "enabled": false},
                }
            }
        });
        let reply = self
            .es
            .json(Method::Put, &format!("/{}", self.index), Some(&body))
            .await?;
        if (200..300).contains(&reply.status) {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&reply.body);
        if reply.status == 400 && text.contains("resource_already_exists_exception") {
            return Ok(());
        }
        Err(format!(
            "cannot create state index {}: HTTP {}: {}",
            self.index,
            reply.status,
            excerpt(&reply.body)
        ))
    }

    /// Reads a document's `_source` and version.
    pub async fn get(&self, id: &str) -> Result<Option<(Value, SeqNo)>, StoreError> {
        let reply = self
            .es
            .json(Method::Get, &doc_path(&self.index, id), None)
            .await
            .map_err(StoreError::Other)?;
        if reply.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&reply.status) {
            return Err(StoreError::Other(format!(
                "GET {id}: HTTP {}: {}",
                reply.status,
                excerpt(&reply.body)
            )));
        }
        let v: Value = serde_json::from_slice(&reply.body).map_err(|e| StoreError::Other(e.to_string()))?;
        if v.get("found") == Some(&Value::Bool(false)) {
            return Ok(None);
        }
        let seq = seq_of(&v).ok_or_else(|| StoreError::Other(format!("GET {id}: answer without _seq_no")))?;
        Ok(Some((v.get("_source").cloned().unwrap_or(Value::Null), seq)))
    }

    /// Writes a whole document under a condition; returns its new version.
    pub async fn put(&self, id: &str, doc: &Value, cond: Option<Write>) -> Result<SeqNo, StoreError> {
        let mut path = doc_path(&self.index, id);
        match cond {
            Some(Write::Create) => path.push_str("?op_type=create"),
            Some(Write::IfMatch(s)) => {
                path.push_str(&format!("?if_seq_no={}&if_primary_term={}", s.seq_no, s.primary_term))
            }
            None => {}
        }
        let reply = self
            .es
            .json(Method::Put, &path, Some(doc))
            .await
            .map_err(StoreError::Other)?;
        match reply.status {
            409 => Err(StoreError::Conflict),
            s if (200..300).contains(&s) => {
                let v: Value = serde_json::from_slice(&reply.body).map_err(|e| StoreError::Other(e.to_string()))?;
                seq_of(&v).ok_or_else(|| StoreError::Other(format!("PUT {id}: answer without _seq_no")))
            }
            s => Err(StoreError::Other(format!(
                "PUT {id}: HTTP {s}: {}",
                excerpt(&reply.body)
            ))),
        }
    }

    /// Deletes a document if still at `seq`.
    pub async fn delete(&self, id: &str, seq: SeqNo) -> Result<(), StoreError> {
        let path = format!(
            "{}?if_seq_no={}&if_primary_term={}",
            doc_path(&self.index, id),
            seq.seq_no,
            seq.primary_term
        );
        let reply = self
            .es
            .json(Method::Delete, &path, None)
            .await
            .map_err(StoreError::Other)?;
        match reply.status {
            409 => Err(StoreError::Conflict),
            404 => Ok(()),
            s if (200..300).contains(&s) => Ok(()),
            s => Err(StoreError::Other(format!(
                "DELETE {id}: HTTP {s}: {}",
                excerpt(&reply.body)
            ))),
        }
    }

    /// Loads a rule's state.
    pub async fn load_rule(&self, rule: &str) -> Result<Option<(RuleState, SeqNo)>, StoreError> {
        match self.get(&format!("rule:{rule}")).await? {
            None => Ok(None),
            Some((src, seq)) => {
                let state = src
                    .get("state")
                    .cloned()
                    .map(serde_json::from_value)
                    .transpose()
                    .map_err(|e| StoreError::Other(format!("state of rule {rule} is unreadable: {e}")))?
                    .unwrap_or_default();
                Ok(Some((state, seq)))
            }
        }
    }

    /// Saves a rule's state, conditioned on the version it was loaded at.
    pub async fn save_rule(
        &self,
        rule: &str,
        state: &RuleState,
        prev: Option<SeqNo>,
        holder: &str,
        now: Millis,
    ) -> Result<SeqNo, StoreError> {
        let doc = json!({
            "kind": "rule_state",
            "rule": rule,
            "holder": holder,
            "updated_at": now,
            "window_end": state.last_end,
            "state": state,
        });
        let cond = Some(prev.map_or(Write::Create, Write::IfMatch));
        self.put(&format!("rule:{rule}"), &doc, cond).await
    }

    /// Writes an audit record. `Create` makes a re-evaluated window's record
    /// a conflict instead of a second delivery.
    pub async fn audit(
        &self,
        audit_id: &str,
        n: &Notification,
        receiver: &str,
        status: AuditStatus,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let doc = json!({
            "kind": "notification",
            "rule": n.rule,
            "group": n.group,
            "event": n.status,
            "receiver": receiver,
            "status": status,
            "reason": reason,
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
            "notification": n,
        });
        self.put(audit_id, &doc, Some(Write::Create)).await.map(|_| ())
    }

    /// Records a delivery outcome on an audit record.
    pub async fn audit_outcome(
        &self,
        audit_id: &str,
        status: AuditStatus,
        attempts: u32,
        error: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let body = json!({"doc": {"status": status, "attempts": attempts, "error": error, "updated_at": now}});
        let path = format!(
            "/{}/_update/{}",
            self.index,
            utf8_percent_encode(audit_id, NON_ALPHANUMERIC)
        );
        let reply = self
            .es
            .json(Method::Post, &path, Some(&body))
            .await
            .map_err(StoreError::Other)?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "update {audit_id}: HTTP {}: {}",
                reply.status,
                excerpt(&reply.body)
            )))
        }
    }

    /// Audit records still `pending` created at or after `since`.
    pub async fn pending(&self, since: Millis) -> Result<Vec<PendingDelivery>, String> {
        // Records written by the previous leader a moment ago may not be
        // searchable before a refresh.
        let _ = self
            .es
            .json(Method::Post, &format!("/{}/_refresh", self.index), None)
            .await;
        let body = json!({
            "size": 1000,
            "query": {"bool": {"filter": [
                {"term": {"kind": "notification"}},
                {"term": {"status": "pending"}},
                {"range": {"created_at": {"gte": since, "format": "epoch_millis"}}},
            ]}},
            "sort": [{"created_at": {"order": "asc"}}],
        });
        let v = self.search(&self.index, &body).await?;
        let hits = v
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for h in hits {
            let (Some(id), Some(src)) = (h.get("_id").and_then(Value::as_str), h.get("_source")) else {
                continue;
            };
            let receiver = src
                .get("receiver")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match src
                .get("notification")
                .cloned()
                .map(serde_json::from_value::<Notification>)
            {
                Some(Ok(notification)) => out.push(PendingDelivery {
                    audit_id: id.to_owned(),
                    receiver,
                    notification,
                }),
                _ => tracing::warn!(
                    audit_id = id,
                    "pending audit record has no readable notification; skipped"
                ),
            }
        }
        Ok(out)
    }

    /// `POST /<index>/_search`; missing indices count as empty.
    pub async fn search(&self, index: &str, body: &Value) -> Result<Value, String> {
        let path = format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
            utf8_percent_encode(index, SEARCH_INDEX)
        );
        let reply = self.es.json(Method::Post, &path, Some(body)).await?;
        if !(200..300).contains(&reply.status) {
            return Err(format!(
                "search {index}: HTTP {}: {}",
                reply.status,
                excerpt(&reply.body)
            ));
        }
        let v: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("search {index}: {e}"))?;
        // A partial answer (some shards failed) would undercount silently.
        if let Some(failed) = v.pointer("/_shards/failed").and_then(Value::as_u64)
            && failed > 0
        {
            let reason = v
                .pointer("/_shards/failures/0/reason/reason")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(format!("search {index}: {failed} shards failed: {reason}"));
        }
        Ok(v)
    }
}

/// Index patterns keep `*` and `,` readable in the path.
const SEARCH_INDEX: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b',')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

fn seq_of(v: &Value) -> Option<SeqNo> {
    Some(SeqNo {
        seq_no: v.get("_seq_no")?.as_i64()?,
        primary_term: v.get("_primary_term")?.as_i64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_state_round_trips_and_tolerates_missing_fields() {
        let mut s = RuleState {
            last_end: Some(60_000),
            last_true: Some(0),
            ..Default::default()
        };
        s.groups.insert(
            "api".into(),
            GroupState {
                firing: true,
                since: Some(0),
                last_true: Some(60_000),
                last_notified: Some(0),
                count: 12,
                baseline: None,
                held_back: None,
            },
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(serde_json::from_value::<RuleState>(v).unwrap(), s);
        assert_eq!(
            serde_json::from_value::<RuleState>(json!({})).unwrap(),
            RuleState::default()
        );
        assert!(s.firing());
    }

    #[test]
    fn doc_ids_are_escaped() {
        assert_eq!(doc_path("st", "rule:a/b"), "/st/_doc/rule%3Aa%2Fb");
        assert_eq!(
            utf8_percent_encode("logs-app-*,logs-x.y-*", SEARCH_INDEX).to_string(),
            "logs-app-*,logs-x.y-*"
        );
    }
}
