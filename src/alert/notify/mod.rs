//! Notifications: the message model every receiver renders
//! ([`Notification`]), the payload templates, the webhook and SMTP senders,
//! retries, and the dispatcher that delivers without ever holding up rule
//! evaluation.

pub mod dispatch;
pub mod email;
pub mod retry;
pub mod templates;
pub mod webhook;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The condition holds.
    Firing,
    /// The condition cleared.
    Resolved,
}

impl Status {
    /// Upper-case label for titles.
    pub fn label(self) -> &'static str {
        match self {
            Status::Firing => "FIRING",
            Status::Resolved => "RESOLVED",
        }
    }
}

/// The evaluated window, in RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowInfo {
    /// Inclusive start.
    pub start: String,
    /// Exclusive end.
    pub end: String,
    /// Length in seconds.
    pub seconds: f64,
}

/// Spike details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeInfo {
    /// Baseline mean before this interval.
    pub baseline: f64,
    /// Baseline standard deviation.
    pub stddev: f64,
    /// Configured factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Configured number of standard deviations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddevs: Option<f64>,
}

/// One notification, as the generic webhook sends it and every other
/// template reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id: rule, group, window end and status. Audit records and
    /// re-deliveries after a restart use it.
    pub id: String,
    /// Firing or resolved.
    pub status: Status,
    /// Rule name.
    pub rule: String,
    /// Rule kind (frequency, spike).
    pub kind: String,
    /// Rule description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Rule severity.
    pub severity: String,
    /// The `group_by` field, if the rule groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    /// The group's value, if the rule groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Matching documents in the window (the interval, for spikes).
    pub count: u64,
    /// Frequency threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// Spike baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spike: Option<SpikeInfo>,
    /// The window evaluated.
    pub window: WindowInfo,
    /// When this episode started firing (RFC 3339 window end).
    pub since: String,
    /// A repeat of an earlier firing notification (realert).
    pub repeat: bool,
    /// Index pattern queried.
    pub index: String,
    /// The Elasticsearch query (for the group and window).
    pub query: Value,
    /// The same filter in Lucene syntax.
    pub query_string: String,
    /// Sample documents, earliest first.
    pub samples: Vec<Value>,
    /// First lines of the first sample's stack trace (or message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
    /// Request and trace ids found in the samples.
    pub request_ids: Vec<String>,
    /// Kibana Discover link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kibana_url: Option<String>,
}

impl Notification {
    /// `service.name=api`, or `None` without a group.
    pub fn group_label(&self) -> Option<String> {
        match (&self.group_by, &self.group) {
            (Some(f), Some(g)) => Some(format!("{f}={g}")),
            _ => None,
        }
    }
}
