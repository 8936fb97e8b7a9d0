//! `sluice alert`: a separate process that evaluates alert rules against
//! the logs Sluice indexed and notifies webhooks (generic JSON, WeChat Work,
//! DingTalk, Slack, Feishu) and email. Frequency thresholds and EWMA spikes,
//! causal-chain suppression, realert and resolve, silences; state, audit
//! trail and leader lease live in an Elasticsearch index. See
//! `README.md, "Alerting"`.

pub mod clock;
pub mod config;
pub mod ewma;
pub mod http;
pub mod kibana;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod query;
pub mod rules;
pub mod runner;
pub mod samples;
pub mod silence;
pub mod state;
pub mod suppression;
pub mod window;
