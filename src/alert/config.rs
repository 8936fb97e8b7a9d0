//! The alerting configuration (`alerts.yaml`): serde structs with
//! `deny_unknown_fields` and named defaults, and `validate` which checks
//! everything that needs no network (rule references, suppression cycles,
//! receiver settings, secrets) so a mistake fails at startup with the rule
//! or receiver it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ElasticsearchConfig;
use crate::logging::LogFormat;
use crate::secret::Secret;

/// The whole alerting configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Where the logs (and the alert state) live. Indexing-only keys
    /// (bulk, templates, …) are accepted and ignored.
    #[serde(default)]
    pub elasticsearch: ElasticsearchConfig,
    /// Kibana, for Discover links in notifications.
    #[serde(default)]
    pub kibana: KibanaConfig,
    /// Evaluation defaults.
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    /// Where state, leases and the audit trail are kept.
    #[serde(default)]
    pub state: StateConfig,
    /// Leader election.
    #[serde(default)]
    pub leader: LeaderConfig,
    /// `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub metrics: AlertMetricsConfig,
    /// Delivery retries.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Silences and maintenance windows: matching notifications are not sent.
    #[serde(default)]
    pub silences: Vec<SilenceConfig>,
    /// Where notifications go.
    pub receivers: Vec<ReceiverConfig>,
    /// What to alert on.
    pub rules: Vec<RuleConfig>,
    /// Logging.
    #[serde(default)]
    pub log: AlertLogConfig,
}

/// Kibana settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KibanaConfig {
    /// Base URL, e.g. `https://kibana.example.com` (with a space path such as
    /// `/s/ops` if needed). Without it notifications carry no link.
    #[serde(default)]
    pub url: Option<String>,
    /// Id of the data view Discover opens (Stack Management → Data Views,
    /// the id in its URL); a rule's `kibana_data_view` overrides it. Without
    /// either, the rule's index pattern is used as the id, which works only
    /// where the data view was created with its pattern as its id.
    #[serde(default)]
    pub data_view: Option<String>,
}

/// Evaluation defaults, overridable per rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    /// How often a frequency rule is evaluated.
    #[serde(default = "default_every", with = "humantime_serde")]
    pub every: Duration,
    /// Windows end this long before now, so documents still in Kafka or in
    /// an unrefreshed segment are counted in the window they belong to.
    #[serde(default = "default_ingest_delay", with = "humantime_serde")]
    pub ingest_delay: Duration,
    /// After downtime, windows missed up to this far back are evaluated in
    /// order; older ones are skipped with a warning.
    #[serde(default = "default_max_catch_up", with = "humantime_serde")]
    pub max_catch_up: Duration,
    /// Timeout of one Elasticsearch query.
    #[serde(default = "default_query_timeout", with = "humantime_serde")]
    pub query_timeout: Duration,
    /// Document field holding the event time.
    #[serde(default = "default_timestamp_field")]
    pub timestamp_field: String,
    /// Default number of sample documents per notification.
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Fields whose values are listed as request ids.
    #[serde(default = "default_id_fields")]
    pub id_fields: Vec<String>,
    /// Fields tried, in order, for the stack trace of the first sample.
    #[serde(default = "default_stack_fields")]
    pub stack_trace_fields: Vec<String>,
    /// Lines of the stack trace included.
    #[serde(default = "default_stack_lines")]
    pub stack_trace_lines: usize,
}

fn default_every() -> Duration {
    Duration::from_secs(60)
}
// Sluice commits offsets after the bulk is acknowledged and the index
// templates refresh every 5 s; 30 s covers both with room for a lagging
// consumer.
fn default_ingest_delay() -> Duration {
    Duration::from_secs(30)
}
fn default_max_catch_up() -> Duration {
    Duration::from_secs(3600)
}
fn default_query_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_timestamp_field() -> String {
    "@timestamp".to_owned()
}
fn default_samples() -> usize {
    3
}
fn default_id_fields() -> Vec<String> {
    vec!["http.request.id".to_owned(), "trace.id".to_owned()]
}
fn default_stack_fields() -> Vec<String> {
    vec!["error.stack_trace".to_owned(), "message".to_owned()]
}
// The issue asks for the first 50 lines: enough for the cause, short enough
// for a chat message.
fn default_stack_lines() -> usize {
    50
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            every: default_every(),
            ingest_delay: default_ingest_delay(),
            max_catch_up: default_max_catch_up(),
            query_timeout: default_query_timeout(),
            timestamp_field: default_timestamp_field(),
            samples: default_samples(),
            id_fields: default_id_fields(),
            stack_trace_fields: default_stack_fields(),
            stack_trace_lines: default_stack_lines(),
        }
    }
}

/// State index settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Index holding rule state, the leader lease and the audit records.
    #[serde(default = "default_state_index")]
    pub index: String,
}

fn default_state_index() -> String {
    "sluice-alert-state".to_owned()
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            index: default_state_index(),
        }
    }
}

/// Leader election through a lease document in the state index.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderConfig {
    /// How long a lease is valid without renewal.
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How often the leader renews (and a standby retries).
    #[serde(default = "default_renew_every", with = "humantime_serde")]
    pub renew_every: Duration,
    /// The largest clock difference assumed between two evaluators; a
    /// standby waits this much past expiry, the leader stops this much
    /// before it.
    #[serde(default = "default_max_clock_skew", with = "humantime_serde")]
    pub max_clock_skew: Duration,
    /// This evaluator's name in the lease (default: `$HOSTNAME-<pid>`).
    #[serde(default)]
    pub holder: Option<String>,
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(30)
}
fn default_renew_every() -> Duration {
    Duration::from_secs(10)
}
// NTP keeps nodes within milliseconds; a second leaves room for a bad one.
fn default_max_clock_skew() -> Duration {
    Duration::from_secs(1)
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            lease_ttl: default_lease_ttl(),
            renew_every: default_renew_every(),
            max_clock_skew: default_max_clock_skew(),
            holder: None,
        }
    }
}

/// Metrics listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertMetricsConfig {
    /// Address for `/metrics`, `/healthz` and `/readyz`.
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
}

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9465))
}

impl Default for AlertMetricsConfig {
    fn default() -> Self {
        AlertMetricsConfig {
            listen: default_metrics_listen(),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertLogConfig {
    /// Log line format.
    #[serde(default)]
    pub format: LogFormat,
}

/// Delivery retry settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts per notification and receiver, the first included.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    #[serde(default = "default_initial_backoff", with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Upper bound of the wait.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Timeout of one HTTP or SMTP attempt.
    #[serde(default = "default_delivery_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries in flight at once; more wait, evaluation does not.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
fn default_delivery_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_concurrency() -> usize {
    16
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: default_attempts(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            timeout: default_delivery_timeout(),
            concurrency: default_concurrency(),
        }
    }
}

/// A silence: notifications of the named rules (all rules if none) are not
/// sent while it is active. Rules are still evaluated and their state kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Shown in logs and audit records.
    pub name: String,
    /// Rules it applies to; empty means every rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Only these groups (values of the rule's `group_by`); empty means all.
    #[serde(default)]
    pub groups: Vec<String>,
    /// One-off window start (RFC 3339).
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// One-off window end (RFC 3339), exclusive.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// A window repeating every day (or on `weekdays`), in UTC.
    #[serde(default)]
    pub daily: Option<DailyWindow>,
}

/// A daily maintenance window, `start`–`end` in UTC (`end` before `start`
/// crosses midnight).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DailyWindow {
    /// `HH:MM`.
    pub start: NaiveTime,
    /// `HH:MM`, exclusive.
    pub end: NaiveTime,
    /// `mon`..`sun`; empty means every day. The day is the one the window
    /// starts on.
    #[serde(default)]
    pub weekdays: Vec<chrono::Weekday>,
}

/// A notification destination. (No `deny_unknown_fields` here: serde cannot
/// combine it with `flatten`; the kind's own struct rejects unknown keys.)
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReceiverConfig {
    /// Referenced by rules.
    pub name: String,
    /// What it is.
    #[serde(flatten)]
    pub kind: ReceiverKind,
}

/// Receiver kinds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReceiverKind {
    /// Generic JSON POST of the whole notification.
    Webhook(WebhookConfig),
    /// WeChat Work (企业微信) group robot.
    Wechat(WebhookConfig),
    /// DingTalk (钉钉) custom robot, optionally with a signing secret.
    Dingtalk(WebhookConfig),
    /// Slack incoming webhook.
    Slack(WebhookConfig),
    /// Feishu / Lark custom bot, optionally with a signing secret.
    Feishu(WebhookConfig),
    /// Email over SMTP.
    Email(Box<EmailConfig>),
}

/// Webhook settings shared by every webhook kind.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL (robot URLs carry their access token, so it is a secret).
    #[serde(default)]
    pub url: Option<Secret>,
    /// File holding the URL.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Signing secret (DingTalk "加签", Feishu "签名校验"); the generic webhook
    /// sends an `X-Sluice-Signature: sha256=<hex HMAC of the body>` with it.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// File holding the signing secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Extra HTTP headers (generic webhook).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Mobile numbers to @-mention (DingTalk; other kinds ignore it).
    #[serde(default)]
    pub mention_mobiles: Vec<String>,
    /// Mention everyone in the group (DingTalk).
    #[serde(default)]
    pub mention_all: bool,
}

/// SMTP settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub host: String,
    /// Port (default by `tls`: 587 starttls, 465 tls, 25 none).
    #[serde(default)]
    pub port: Option<u16>,
    /// Transport security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Auth user; with it, `password`/`password_file` are required.
    #[serde(default)]
    pub username: Option<String>,
    /// Auth password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Envelope and header sender, e.g. `Sluice <alerts@example.com>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject prefix.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
}

fn default_subject_prefix() -> String {
    "[sluice]".to_owned()
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a local relay.
    None,
}

/// One rule. Unknown keys are rejected by the kind's struct (serde cannot
/// combine `deny_unknown_fields` with `flatten`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RuleConfig {
    /// Unique name; used in state ids, links and suppression.
    pub name: String,
    /// Free text shown in notifications.
    #[serde(default)]
    pub description: Option<String>,
    /// Shown in notifications (e.g. critical, warning).
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Index pattern queried, e.g. `logs-app-*`.
    pub index: String,
    /// Conditions, all of which a document must meet.
    #[serde(default)]
    pub filter: Vec<ConditionConfig>,
    /// One alert per value of this (keyword) field.
    #[serde(default)]
    pub group_by: Option<String>,
    /// Most groups tracked per evaluation (terms aggregation size).
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// Receivers notified.
    pub receivers: Vec<String>,
    /// Rules whose firing silences this one (causal chain upstreams).
    #[serde(default)]
    pub suppressed_by: Vec<String>,
    /// How long after an upstream last fired it still silences this rule.
    #[serde(default = "default_suppress_hold", with = "humantime_serde")]
    pub suppress_hold: Duration,
    /// While firing, notify again at most this often.
    #[serde(default = "default_realert", with = "humantime_serde")]
    pub realert: Duration,
    /// Send a resolved notification when the condition clears.
    #[serde(default = "default_true")]
    pub resolve: bool,
    /// Sample documents per notification (default `evaluation.samples`).
    #[serde(default)]
    pub samples: Option<usize>,
    /// Kibana data view id for this rule's links.
    #[serde(default)]
    pub kibana_data_view: Option<String>,
    /// Overrides `evaluation.ingest_delay`.
    #[serde(default, with = "humantime_serde")]
    pub ingest_delay: Option<Duration>,
    /// The condition.
    #[serde(flatten)]
    pub kind: RuleKind,
}

fn default_severity() -> String {
    "warning".to_owned()
}
fn default_max_groups() -> usize {
    100
}
fn default_suppress_hold() -> Duration {
    Duration::from_secs(600)
}
fn default_realert() -> Duration {
    Duration::from_secs(1800)
}
fn default_true() -> bool {
    true
}

/// Rule kinds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleKind {
    /// Count in a sliding window ≥ threshold.
    Frequency(FrequencyConfig),
    /// Interval count far above its EWMA baseline.
    Spike(SpikeConfig),
}

/// Frequency rule settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyConfig {
    /// Window length.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Fire when the count reaches this.
    pub threshold: u64,
    /// Evaluation interval (default `evaluation.every`).
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
}

/// Spike rule settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeConfig {
    /// Bucket length; also the evaluation interval.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// EWMA smoothing factor in (0, 1]: weight of the newest interval.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Fire when count > factor × baseline mean.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Fire when count > mean + stddevs × standard deviation.
    #[serde(default)]
    pub stddevs: Option<f64>,
    /// With both `factor` and `stddevs`: `all` (both must hold) or `any`.
    #[serde(default)]
    pub combine: Combine,
    /// No firing below this count, so quiet services don't flap.
    #[serde(default = "default_min_count")]
    pub min_count: u64,
    /// Intervals learned before the baseline is trusted.
    #[serde(default = "default_warmup")]
    pub warmup: u32,
}

fn default_alpha() -> f64 {
    0.3
}
fn default_min_count() -> u64 {
    10
}
fn default_warmup() -> u32 {
    5
}

/// How two spike conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Every configured condition must hold.
    #[default]
    All,
    /// One is enough.
    Any,
}

/// A filter condition: a `field` with exactly one of `equals`, `in`,
/// `exists`, `range`; or a `query` (Lucene query_string syntax). `not`
/// negates it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Field path (use the keyword field for exact matches).
    #[serde(default)]
    pub field: Option<String>,
    /// Exact value.
    #[serde(default)]
    pub equals: Option<Value>,
    /// Any of these values.
    #[serde(default, rename = "in")]
    pub any_of: Option<Vec<Value>>,
    /// The field exists (true) or not (false).
    #[serde(default)]
    pub exists: Option<bool>,
    /// Bounds.
    #[serde(default)]
    pub range: Option<RangeConfig>,
    /// A query_string (Lucene syntax, e.g. `message:"connection refused"`).
    #[serde(default)]
    pub query: Option<String>,
    /// Negate.
    #[serde(default)]
    pub not: bool,
}

/// Range bounds (numbers or strings such as dates).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RangeConfig {
    /// ≥
    #[serde(default)]
    pub gte: Option<Value>,
    /// >
    #[serde(default)]
    pub gt: Option<Value>,
    /// ≤
    #[serde(default)]
    pub lte: Option<Value>,
    /// <
    #[serde(default)]
    pub lt: Option<Value>,
}

impl AlertConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: AlertConfig =
            serde_yaml::from_str(&text).with_context(|| format!("{}: invalid alerting config", path.display()))?;
        config.resolve_relative(path.parent().unwrap_or(Path::new(".")));
        config
            .validate()
            .with_context(|| format!("{}: invalid alerting config", path.display()))?;
        Ok(config)
    }

    /// Makes `*_file` paths relative to the config file's directory.
    fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        for r in &mut self.receivers {
            match &mut r.kind {
                ReceiverKind::Email(e) => fix(&mut e.password_file),
                ReceiverKind::Webhook(w)
                | ReceiverKind::Wechat(w)
                | ReceiverKind::Dingtalk(w)
                | ReceiverKind::Slack(w)
                | ReceiverKind::Feishu(w) => {
                    fix(&mut w.url_file);
                    fix(&mut w.secret_file);
                }
            }
        }
        let es = &mut self.elasticsearch;
        for p in [
            &mut es.password_file,
            &mut es.api_key_file,
            &mut es.bearer_token_file,
            &mut es.ca_file,
            &mut es.client_cert_file,
            &mut es.client_key_file,
        ] {
            fix(p);
        }
    }

    /// Checks everything that needs no network.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.elasticsearch.urls.is_empty() {
            bail!("elasticsearch.urls is empty");
        }
        if let Some(url) = &self.kibana.url {
            url::Url::parse(url).with_context(|| format!("kibana.url: `{url}` is not a URL"))?;
        }
        if self.state.index.is_empty() || self.state.index.contains(['*', ',', ' ']) {
            bail!("state.index: `{}` is not a concrete index name", self.state.index);
        }
        let ev = &self.evaluation;
        if ev.every.is_zero() {
            bail!("evaluation.every must be positive");
        }
        if ev.stack_trace_lines == 0 {
            bail!("evaluation.stack_trace_lines must be at least 1");
        }
        let l = &self.leader;
        if l.renew_every.is_zero() || l.renew_every * 2 > l.lease_ttl {
            bail!(
                "leader.renew_every ({:?}) must be positive and at most half of leader.lease_ttl ({:?}), \
                 so one failed renewal does not lose the lease",
                l.renew_every,
                l.lease_ttl
            );
        }
        if l.max_clock_skew * 2 >= l.lease_ttl {
            bail!("leader.max_clock_skew must be less than half of leader.lease_ttl");
        }
        let d = &self.delivery;
        if d.max_attempts == 0 || d.concurrency == 0 {
            bail!("delivery.max_attempts and delivery.concurrency must be at least 1");
        }

        let mut receivers = BTreeSet::new();
        for r in &self.receivers {
            if !receivers.insert(r.name.as_str()) {
                bail!("receiver `{}` is defined twice", r.name);
            }
            r.validate().with_context(|| format!("receiver `{}`", r.name))?;
        }
        let mut rules = BTreeSet::new();
        for rule in &self.rules {
            if !rules.insert(rule.name.as_str()) {
                bail!("rule `{}` is defined twice", rule.name);
            }
        }
        if self.rules.is_empty() {
            bail!("no rules");
        }
        for rule in &self.rules {
            rule.validate(&receivers, &rules)
                .with_context(|| format!("rule `{}`", rule.name))?;
        }
        crate::alert::suppression::Suppression::new(&self.rules).map_err(anyhow::Error::msg)?;
        for s in &self.silences {
            s.validate(&rules).with_context(|| format!("silence `{}`", s.name))?;
        }
        Ok(())
    }
}

impl ReceiverConfig {
    fn validate(&self) -> anyhow::Result<()> {
        match &self.kind {
            ReceiverKind::Email(e) => {
                if e.host.is_empty() {
                    bail!("host is empty");
                }
                if e.to.is_empty() {
                    bail!("`to` lists no recipient");
                }
                e.from
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|err| anyhow::anyhow!("from: `{}` is not a mailbox: {err}", e.from))?;
                for to in &e.to {
                    to.parse::<lettre::message::Mailbox>()
                        .map_err(|err| anyhow::anyhow!("to: `{to}` is not a mailbox: {err}"))?;
                }
                let pw =
                    crate::secret::resolve(&e.password, &e.password_file, "password").map_err(anyhow::Error::msg)?;
                if e.username.is_some() != pw.is_some() {
                    bail!("username and password (or password_file) go together");
                }
                Ok(())
            }
            ReceiverKind::Webhook(w)
            | ReceiverKind::Wechat(w)
            | ReceiverKind::Dingtalk(w)
            | ReceiverKind::Slack(w)
            | ReceiverKind::Feishu(w) => {
                let url = crate::secret::resolve(&w.url, &w.url_file, "url")
                    .map_err(anyhow::Error::msg)?
                    .ok_or_else(|| anyhow::anyhow!("`url` or `url_file` is required"))?;
                let parsed = url::Url::parse(url.expose().trim())
                    .map_err(|e| anyhow::anyhow!("url is not a URL ({e}); the value is not shown as it is a secret"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    bail!("url must be http or https, not {}", parsed.scheme());
                }
                crate::secret::resolve(&w.secret, &w.secret_file, "secret").map_err(anyhow::Error::msg)?;
                for name in w.headers.keys() {
                    reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| anyhow::anyhow!("headers: `{name}` is not a header name"))?;
                }
                Ok(())
            }
        }
    }
}

impl RuleConfig {
    fn validate(&self, receivers: &BTreeSet<&str>, rules: &BTreeSet<&str>) -> anyhow::Result<()> {
        if self.name.is_empty() || self.name.contains(['/', ' ']) {
            bail!("name must be non-empty without `/` or spaces");
        }
        if self.index.is_empty() || self.index.contains(' ') {
            bail!("index: `{}` is not an index pattern", self.index);
        }
        if self.receivers.is_empty() {
            bail!("receivers lists nothing; a rule must notify someone");
        }
        for r in &self.receivers {
            if !receivers.contains(r.as_str()) {
                bail!(
                    "receivers: `{r}` is not defined (defined: {})",
                    receivers.iter().copied().collect::<Vec<_>>().join(", ")
                );
            }
        }
        for up in &self.suppressed_by {
            if up == &self.name {
                bail!("suppressed_by names the rule itself");
            }
            if !rules.contains(up.as_str()) {
                bail!("suppressed_by: `{up}` is not a rule");
            }
        }
        if self.max_groups == 0 {
            bail!("max_groups must be at least 1");
        }
        if self.realert.is_zero() {
            bail!("realert must be positive (it is the minimum time between repeated notifications)");
        }
        if let Some(f) = &self.group_by
            && f.is_empty()
        {
            bail!("group_by is empty");
        }
        for (i, c) in self.filter.iter().enumerate() {
            c.validate().with_context(|| format!("filter[{i}]"))?;
        }
        match &self.kind {
            RuleKind::Frequency(f) => {
                if f.window.is_zero() {
                    bail!("window must be positive");
                }
                if f.threshold == 0 {
                    bail!("threshold must be at least 1");
                }
                if f.every.is_some_and(|e| e.is_zero()) {
                    bail!("every must be positive");
                }
                check_millis(f.window, "window")?;
                if let Some(e) = f.every {
                    check_millis(e, "every")?;
                }
            }
            RuleKind::Spike(s) => {
                if s.interval.is_zero() {
                    bail!("interval must be positive");
                }
                check_millis(s.interval, "interval")?;
                if !(s.alpha > 0.0 && s.alpha <= 1.0) {
                    bail!("alpha must be in (0, 1], got {}", s.alpha);
                }
                if s.factor.is_none() && s.stddevs.is_none() {
                    bail!("set `factor`, `stddevs` or both");
                }
                if s.factor.is_some_and(|f| !(f > 1.0 && f.is_finite())) {
                    bail!("factor must be greater than 1");
                }
                if s.stddevs.is_some_and(|k| !(k > 0.0 && k.is_finite())) {
                    bail!("stddevs must be positive");
                }
            }
        }
        Ok(())
    }

    /// The evaluation interval.
    pub fn every(&self, defaults: &EvaluationConfig) -> Duration {
        match &self.kind {
            RuleKind::Frequency(f) => f.every.unwrap_or(defaults.every),
            RuleKind::Spike(s) => s.interval,
        }
    }
}

fn check_millis(d: Duration, what: &str) -> anyhow::Result<()> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        bail!("{what} must be a whole number of milliseconds");
    }
    Ok(())
}

impl ConditionConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let ops = [
            self.equals.is_some(),
            self.any_of.is_some(),
            self.exists.is_some(),
            self.range.is_some(),
            self.query.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if ops != 1 {
            bail!("use exactly one of equals, in, exists, range, query (found {ops})");
        }
        match (&self.field, &self.query) {
            (Some(_), Some(_)) => bail!("`query` takes no `field` (name fields inside the query)"),
            (None, None) => bail!("`field` is required with equals/in/exists/range"),
            (Some(f), None) if f.is_empty() => bail!("field is empty"),
            _ => {}
        }
        if let Some(q) = &self.query
            && q.trim().is_empty()
        {
            bail!("query is empty");
        }
        if let Some(values) = &self.any_of
            && values.is_empty()
        {
            bail!("`in` lists no value");
        }
        for v in self.equals.iter().chain(self.any_of.iter().flatten()) {
            if !(v.is_string() || v.is_number() || v.is_boolean()) {
                bail!("values must be strings, numbers or booleans, not {v}");
            }
        }
        if let Some(r) = &self.range {
            if r.gte.is_some() && r.gt.is_some() || r.lte.is_some() && r.lt.is_some() {
                bail!("range: use one of gte/gt and one of lte/lt");
            }
            if r.gte.is_none() && r.gt.is_none() && r.lte.is_none() && r.lt.is_none() {
                bail!("range has no bound");
            }
        }
        Ok(())
    }
}

impl SilenceConfig {
    fn validate(&self, rules: &BTreeSet<&str>) -> anyhow::Result<()> {
        for r in &self.rules {
            if !rules.contains(r.as_str()) {
                bail!("rules: `{r}` is not a rule");
            }
        }
        match (&self.start, &self.end, &self.daily) {
            (Some(s), Some(e), None) => {
                if e <= s {
                    bail!("end must be after start");
                }
            }
            (None, None, Some(d)) => {
                if d.start == d.end {
                    bail!("daily: start and end are equal");
                }
            }
            _ => bail!("give either `start` and `end`, or `daily`"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
elasticsearch: {urls: ["http://localhost:9200"]}
receivers:
  - {name: ops, type: slack, url: "https://hooks.slack.com/services/T/B/X"}
rules:
  - name: errors
    type: frequency
    index: logs-app-*
    filter: [{field: log.level, equals: error}]
    window: 5m
    threshold: 10
    receivers: [ops]
"#;

    fn parse(text: &str) -> anyhow::Result<AlertConfig> {
        let c: AlertConfig = serde_yaml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = parse(BASE).unwrap();
        assert_eq!(c.evaluation.every, Duration::from_secs(60));
        assert_eq!(c.rules[0].realert, Duration::from_secs(1800));
        assert!(c.rules[0].resolve);
        assert_eq!(c.rules[0].every(&c.evaluation), Duration::from_secs(60));
    }

    #[test]
    fn unknown_receiver_and_rule_references() {
        let e = err(&BASE.replace("receivers: [ops]", "receivers: [pager]"));
        assert!(e.contains("`pager` is not defined"), "{e}");
        let e = err(&BASE.replace("receivers: [ops]", "receivers: [ops]\n    suppressed_by: [db]"));
        assert!(e.contains("`db` is not a rule"), "{e}");
    }

    #[test]
    fn condition_needs_exactly_one_operator() {
        let e = err(&BASE.replace("equals: error}", "equals: error, exists: true}"));
        assert!(e.contains("exactly one"), "{e}");
        let e = err(&BASE.replace("{field: log.level, equals: error}", "{query: 'a', field: b}"));
        assert!(e.contains("takes no `field`"), "{e}");
        let e = err(&BASE.replace("equals: error}", "equal: error}"));
        assert!(e.contains("unknown field `equal`"), "{e}");
    }

    #[test]
    fn spike_needs_a_condition() {
        let text = BASE.replace("type: frequency", "type: spike\n    interval: 1m\n    alpha: 0.5");
        let text = text.replace("    window: 5m\n    threshold: 10\n", "");
        let e = err(&text);
        assert!(e.contains("set `factor`, `stddevs` or both"), "{e}");
        let e = err(&text.replace("alpha: 0.5", "alpha: 1.5\n    factor: 3"));
        assert!(e.contains("alpha must be in (0, 1]"), "{e}");
        parse(&text.replace("alpha: 0.5", "alpha: 0.5\n    factor: 3")).unwrap();
    }

    #[test]
    fn lease_timing_is_checked() {
        let e = err(&format!("{BASE}leader: {{lease_ttl: 10s, renew_every: 6s}}\n"));
        assert!(e.contains("at most half"), "{e}");
    }

    #[test]
    fn webhook_url_is_required_and_hidden() {
        let e = err(&BASE.replace(", url: \"https://hooks.slack.com/services/T/B/X\"", ""));
        assert!(e.contains("`url` or `url_file` is required"), "{e}");
        let e = err(&BASE.replace("https://hooks.slack.com/services/T/B/X", "not a url secret-token"));
        assert!(!e.contains("secret-token"), "{e}");
    }

    #[test]
    fn email_settings_are_checked() {
        let text = BASE.replace(
            "receivers:\n",
            "receivers:\n  - {name: mail, type: email, host: smtp, from: 'not a mailbox', to: [a@example.com]}\n",
        );
        let e = err(&text);
        assert!(e.contains("receiver `mail`") && e.contains("from"), "{e}");
        let text = text.replace("not a mailbox", "Sluice <alerts@example.com>");
        parse(&text).unwrap();
        let e = err(&text.replace("host: smtp,", "host: smtp, username: u,"));
        assert!(e.contains("username and password"), "{e}");
    }

    #[test]
    fn silences_are_checked() {
        let e = err(&format!(
            "{BASE}silences: [{{name: m, rules: [nope], daily: {{start: '02:00:00', end: '03:00:00'}}}}]\n"
        ));
        assert!(e.contains("`nope` is not a rule"), "{e}");
        let e = err(&format!("{BASE}silences: [{{name: m}}]\n"));
        assert!(e.contains("either `start` and `end`"), "{e}");
    }
}
