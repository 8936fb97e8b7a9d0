//! The service configuration (`sluice.yaml`): serde structs with
//! `deny_unknown_fields` and named defaults, environment overrides, and
//! validation that needs no network.
//!
//! Every key can be overridden by an environment variable named
//! `SLUICE_` + the key path in upper case joined by `__`, for example
//! `SLUICE_KAFKA__BROKERS=kafka:9092` or
//! `SLUICE_ELASTICSEARCH__BULK__MAX_DOCS=2000`. A numeric segment indexes a
//! list (`SLUICE_ROUTES__0__INDEX=...`). Values are parsed as YAML scalars
//! or flow collections (`SLUICE_ELASTICSEARCH__URLS='[http://a:9200]'`).
//! Variables without `__` (`SLUICE_LOG`, `SLUICE_GEOIP_DIR`) are command
//! line settings, not config keys.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::logging::LogFormat;
use crate::secret::Secret;

/// The whole service configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where records come from.
    pub kafka: KafkaConfig,
    /// Pipeline files and their compile settings.
    #[serde(default)]
    pub pipelines: PipelinesConfig,
    /// Which pipeline and index each record goes to. First match wins.
    pub routes: Vec<RouteConfig>,
    /// Where documents go.
    #[serde(default)]
    pub elasticsearch: ElasticsearchConfig,
    /// Where records that cannot be indexed go.
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    /// Commit and backpressure settings.
    #[serde(default)]
    pub offsets: OffsetsConfig,
    /// Metrics and health endpoints.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Stopping.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
}

/// Kafka consumer (and dead-letter producer) settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated host:port list.
    pub brokers: String,
    /// Consumer group; every pod of one deployment uses the same one.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// `client.id`, shown in broker logs.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// `partition.assignment.strategy`.
    #[serde(default = "default_assignment_strategy")]
    pub assignment_strategy: String,
    /// `auto.offset.reset` for a group without committed offsets.
    #[serde(default = "default_auto_offset_reset")]
    pub auto_offset_reset: String,
    /// `session.timeout.ms`.
    #[serde(default = "default_session_timeout", with = "humantime_serde")]
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`. Sluice keeps polling while paused, so this is
    /// only hit if the consumer thread is wedged.
    #[serde(default = "default_max_poll_interval", with = "humantime_serde")]
    pub max_poll_interval: Duration,
    /// How long `sluice run` retries reaching the brokers at start.
    #[serde(default = "default_startup_timeout", with = "humantime_serde")]
    pub startup_timeout: Duration,
    /// TLS and SASL.
    #[serde(default)]
    pub security: KafkaSecurity,
    /// Raw librdkafka settings for the consumer and the DLQ producer
    /// (applied last, so they override everything above). Values may be
    /// written as YAML numbers or booleans; librdkafka takes them as text.
    #[serde(default, deserialize_with = "lenient::string_map")]
    pub librdkafka: BTreeMap<String, String>,
}

fn default_group_id() -> String {
    "sluice".to_owned()
}
fn default_client_id() -> String {
    "sluice".to_owned()
}
// Cooperative rebalancing keeps unaffected partitions flowing during a
// rebalance, which matters with many pods.
fn default_assignment_strategy() -> String {
    "cooperative-sticky".to_owned()
}
// A new group indexes what is already in the topic rather than skipping it.
fn default_auto_offset_reset() -> String {
    "earliest".to_owned()
}
// librdkafka's default since 2.x.
fn default_session_timeout() -> Duration {
    Duration::from_secs(45)
}
// librdkafka's default.
fn default_max_poll_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_startup_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Kafka TLS/SASL settings (mapped to librdkafka options).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSecurity {
    /// `security.protocol`: plaintext, ssl, sasl_plaintext, sasl_ssl.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `sasl.mechanism`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// `sasl.username`.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// `sasl.password` (prefer `sasl_password_file` or the env variable).
    #[serde(default)]
    pub sasl_password: Option<Secret>,
    /// File holding `sasl.password`.
    #[serde(default)]
    pub sasl_password_file: Option<PathBuf>,
    /// `ssl.ca.location`.
    #[serde(default)]
    pub ssl_ca_location: Option<PathBuf>,
    /// `ssl.certificate.location` (client certificate).
    #[serde(default)]
    pub ssl_certificate_location: Option<PathBuf>,
    /// `ssl.key.location` (client key).
    #[serde(default)]
    pub ssl_key_location: Option<PathBuf>,
    /// `ssl.key.password`.
    #[serde(default)]
    pub ssl_key_password: Option<Secret>,
    /// File holding `ssl.key.password`.
    #[serde(default)]
    pub ssl_key_password_file: Option<PathBuf>,
}

/// Pipeline settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelinesConfig {
    /// Directory of pipeline YAML files, relative to the config file.
    #[serde(default = "default_pipelines_dir")]
    pub dir: PathBuf,
    /// GeoIP database directory (`SLUICE_GEOIP_DIR`, `--geoip-dir`).
    #[serde(default)]
    pub geoip_dir: Option<PathBuf>,
    /// A uap-core regexes.yaml replacing the embedded one.
    #[serde(default)]
    pub user_agent_regexes: Option<PathBuf>,
    /// Pipeline worker threads; 0 means one per CPU.
    #[serde(default, deserialize_with = "lenient::usize")]
    pub workers: usize,
    /// Records larger than this are dead-lettered unparsed.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: ByteSize,
    /// Reload when files in the pipelines or GeoIP directory change.
    #[serde(default = "default_true", deserialize_with = "lenient::bool")]
    pub watch: bool,
    /// Also reload on this period (like Logstash's `--reload-interval`);
    /// 0 disables. Useful where file events do not arrive (some network and
    /// ConfigMap volumes).
    #[serde(default, with = "humantime_serde")]
    pub reload_interval: Duration,
}

fn default_pipelines_dir() -> PathBuf {
    PathBuf::from("pipelines")
}
// Far above any sane log line, well below what would hurt memory.
fn default_max_record_bytes() -> ByteSize {
    ByteSize(10 * 1024 * 1024)
}

impl Default for PipelinesConfig {
    fn default() -> Self {
        PipelinesConfig {
            dir: default_pipelines_dir(),
            geoip_dir: None,
            user_agent_regexes: None,
            workers: 0,
            max_record_bytes: default_max_record_bytes(),
            watch: true,
            reload_interval: Duration::ZERO,
        }
    }
}

/// What happens to a record whose pipeline failed without handling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineFailurePolicy {
    /// Index it anyway, with `error.message` and a failure tag, so it can be
    /// found in Kibana (Logstash's behaviour).
    #[default]
    Index,
    /// Send the original record to the dead-letter queue.
    DeadLetter,
}

/// Matches a Kafka record header.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name.
    pub name: String,
    /// Required value (UTF-8).
    pub value: String,
}

/// One routing rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A topic this route applies to.
    #[serde(default)]
    pub topic: Option<String>,
    /// Several topics.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Optionally, only records carrying this header.
    #[serde(default)]
    pub header: Option<HeaderMatch>,
    /// The pipeline (file stem in the pipelines directory).
    pub pipeline: String,
    /// Index name pattern: `%{+yyyy.MM.dd}` is the document's date in
    /// `elasticsearch.timezone`, `%{field.path}` a field's value.
    pub index: String,
    /// Failed pipeline: index with error tags, or dead-letter.
    #[serde(default)]
    pub on_pipeline_failure: PipelineFailurePolicy,
}

impl RouteConfig {
    /// Every topic this route names.
    pub fn all_topics(&self) -> Vec<String> {
        self.topic.iter().chain(self.topics.iter()).cloned().collect()
    }
}

/// How document `_id`s are chosen.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[derive(Default)]
pub enum IdConfig {
    /// `<topic>-<partition>-<offset>`: a replay overwrites, never duplicates.
    #[default]
    Kafka,
    /// A hash of the listed fields: the same event produced twice (even to
    /// another topic) is one document.
    Fingerprint {
        /// Dotted field paths.
        fields: Vec<String>,
    },
    /// Let Elasticsearch choose; replays create duplicates.
    None,
}

/// `index` or `create` bulk actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpType {
    /// Create or overwrite.
    #[default]
    Index,
    /// Create only; 409 (already exists) counts as success.
    Create,
}

/// What to do when a document has no usable `@timestamp` for its index name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingTimestampPolicy {
    /// Use the Kafka record timestamp, set `@timestamp` to it and tag the
    /// document `_timestamp_from_kafka`.
    #[default]
    KafkaTimestamp,
    /// Dead-letter the record.
    DeadLetter,
}

/// Elasticsearch settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Node URLs, used round-robin.
    #[serde(default = "default_es_urls")]
    pub urls: Vec<String>,
    /// Basic auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic auth password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// API key (base64 `id:key`, as Kibana shows it).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// File holding the API key.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Bearer token.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// File holding the bearer token.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM CA certificate for https.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (with `client_key_file`).
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM client key.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// Timezone of the date in index names (IANA name, e.g. Asia/Shanghai).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// How `_id` is chosen.
    #[serde(default)]
    pub id: IdConfig,
    /// Bulk action.
    #[serde(default)]
    pub op_type: OpType,
    /// Data-stream mode: `create` actions, `@timestamp` required.
    #[serde(default, deserialize_with = "lenient::bool")]
    pub data_stream: bool,
    /// Policy for documents without a usable `@timestamp`.
    #[serde(default)]
    pub missing_timestamp: MissingTimestampPolicy,
    /// Directory of composable index templates (`<name>.json`), installed at
    /// start; relative to the config file.
    #[serde(default = "default_templates_dir")]
    pub templates_dir: Option<PathBuf>,
    /// Install the templates at start.
    #[serde(default = "default_true", deserialize_with = "lenient::bool")]
    pub install_templates: bool,
    /// Batching.
    #[serde(default)]
    pub bulk: BulkConfig,
    /// Retry backoff.
    #[serde(default)]
    pub retry: RetryConfig,
    /// How long `sluice run` retries reaching Elasticsearch at start.
    #[serde(default = "default_startup_timeout", with = "humantime_serde")]
    pub startup_timeout: Duration,
}

fn default_es_urls() -> Vec<String> {
    vec!["http://localhost:9200".to_owned()]
}
fn default_timezone() -> String {
    "UTC".to_owned()
}
fn default_templates_dir() -> Option<PathBuf> {
    Some(PathBuf::from("templates"))
}
fn default_true() -> bool {
    true
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            urls: default_es_urls(),
            username: None,
            password: None,
            password_file: None,
            api_key: None,
            api_key_file: None,
            bearer_token: None,
            bearer_token_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            timezone: default_timezone(),
            id: IdConfig::default(),
            op_type: OpType::default(),
            data_stream: false,
            missing_timestamp: MissingTimestampPolicy::default(),
            templates_dir: default_templates_dir(),
            install_templates: true,
            bulk: BulkConfig::default(),
            retry: RetryConfig::default(),
            startup_timeout: default_startup_timeout(),
        }
    }
}

/// Bulk request batching.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BulkConfig {
    /// Documents per request.
    #[serde(default = "default_max_docs", deserialize_with = "lenient::usize")]
    pub max_docs: usize,
    /// Uncompressed bytes per request.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// How long a partial batch waits for more documents.
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    /// Bulk requests in flight at once.
    #[serde(default = "default_concurrency", deserialize_with = "lenient::usize")]
    pub concurrency: usize,
    /// gzip request bodies.
    #[serde(default = "default_true", deserialize_with = "lenient::bool")]
    pub compression: bool,
    /// Per-request timeout.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

// Elastic's guidance: 5–15 MB bulk requests; docs cap keeps latency sane
// for tiny documents.
fn default_max_docs() -> usize {
    5000
}
fn default_max_bytes() -> ByteSize {
    ByteSize(8 * 1024 * 1024)
}
fn default_linger() -> Duration {
    Duration::from_millis(200)
}
fn default_concurrency() -> usize {
    4
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            max_docs: default_max_docs(),
            max_bytes: default_max_bytes(),
            linger: default_linger(),
            concurrency: default_concurrency(),
            compression: true,
            request_timeout: default_request_timeout(),
        }
    }
}

/// Exponential backoff with full jitter for retriable failures.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// First backoff.
    #[serde(default = "default_initial_backoff", with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Cap.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

fn default_initial_backoff() -> Duration {
    Duration::from_millis(200)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

/// The dead-letter queue.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Kafka topic receiving the original bytes of failed records. Without
    /// it (null or empty), failed records are logged, counted and skipped.
    #[serde(default = "default_dlq_topic")]
    pub topic: Option<String>,
    /// Also index a failure document into this ES index pattern
    /// (same syntax as route indices), for searching failures in Kibana.
    #[serde(default)]
    pub failure_index: Option<String>,
}

fn default_dlq_topic() -> Option<String> {
    Some("sluice-dlq".to_owned())
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            topic: default_dlq_topic(),
            failure_index: None,
        }
    }
}

/// Commits and backpressure.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetsConfig {
    /// How often acknowledged offsets are committed.
    #[serde(default = "default_commit_interval", with = "humantime_serde")]
    pub commit_interval: Duration,
    /// On revoke, how long to wait for in-flight records of the partition.
    #[serde(default = "default_revoke_timeout", with = "humantime_serde")]
    pub revoke_timeout: Duration,
    /// Record bytes consumed but not yet acknowledged before consumption
    /// pauses.
    #[serde(default = "default_max_in_flight_bytes")]
    pub max_in_flight_bytes: ByteSize,
    /// A partition with records waiting and no progress for this long is
    /// reported stalled (metric and /readyz).
    #[serde(default = "default_stall_timeout", with = "humantime_serde")]
    pub stall_timeout: Duration,
}

fn default_commit_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_revoke_timeout() -> Duration {
    Duration::from_secs(10)
}
// Raw record bytes. Each record in flight also holds its encoded bulk lines
// and the original for the dead-letter queue, about 6× the raw size for
// nginx lines whose clients GeoIP finds; 12 MiB is still 2.5 times what the
// default bulk concurrency (4 × 5000 documents) needs, and keeps peak RSS
// under 200 MB with the full nginx pipeline, even after an Elasticsearch
// stall (16 MiB peaked at 200–205 MB there; see the README's benchmarks).
// It must hold one record of `pipelines.max_record_bytes` (10 MiB).
fn default_max_in_flight_bytes() -> ByteSize {
    ByteSize(12 * 1024 * 1024)
}
fn default_stall_timeout() -> Duration {
    Duration::from_secs(120)
}

impl Default for OffsetsConfig {
    fn default() -> Self {
        OffsetsConfig {
            commit_interval: default_commit_interval(),
            revoke_timeout: default_revoke_timeout(),
            max_in_flight_bytes: default_max_in_flight_bytes(),
            stall_timeout: default_stall_timeout(),
        }
    }
}

/// Metrics and health endpoints.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address for /metrics, /healthz and /readyz.
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
}

fn default_metrics_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 9464))
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: default_metrics_listen(),
        }
    }
}

/// Shutdown.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Time allowed to flush and commit after SIGTERM; below Kubernetes'
    /// default 30 s terminationGracePeriodSeconds.
    #[serde(default = "default_grace_period", with = "humantime_serde")]
    pub grace_period: Duration,
}

fn default_grace_period() -> Duration {
    Duration::from_secs(25)
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_period: default_grace_period(),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// text or json.
    #[serde(default, serialize_with = "ser_log_format")]
    pub format: LogFormat,
    /// Interval of the progress line; 0 disables it.
    #[serde(default = "default_progress_interval", with = "humantime_serde")]
    pub progress_interval: Duration,
}

fn ser_log_format<S: Serializer>(f: &LogFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match f {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    })
}

fn default_progress_interval() -> Duration {
    Duration::from_secs(30)
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            progress_interval: default_progress_interval(),
        }
    }
}

/// A byte count written as a number or with a unit (`512KiB`, `8MB`, `1GiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl ByteSize {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: usize = num.parse().map_err(|_| format!("`{s}` is not a byte size like 8MiB"))?;
        let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "kib" | "k" => 1024,
            "mb" => 1000 * 1000,
            "mib" | "m" => 1024 * 1024,
            "gb" => 1000 * 1000 * 1000,
            "gib" | "g" => 1024 * 1024 * 1024,
            other => {
                return Err(format!(
                    "unknown byte unit `{other}` in `{s}` (use B, KiB, MiB, GiB, KB, MB, GB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("byte size `{s}` is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(usize),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0 as u64)
    }
}

/// Deserializers that accept a value written as text (from an environment
/// variable) as well as a YAML number or boolean.
mod lenient {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Bool(bool),
        Int(u64),
        Float(f64),
        Text(String),
    }

    pub fn usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Int(n) => usize::try_from(n).map_err(serde::de::Error::custom),
            Scalar::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number"))),
            _ => Err(serde::de::Error::custom("expected a whole number")),
        }
    }

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Scalar::deserialize(d)? {
            Scalar::Bool(b) => Ok(b),
            Scalar::Text(s) => match s.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(serde::de::Error::custom(format!("`{other}` is not true or false"))),
            },
            _ => Err(serde::de::Error::custom("expected true or false")),
        }
    }

    pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Scalar::Bool(b) => b.to_string(),
                    Scalar::Int(n) => n.to_string(),
                    Scalar::Float(f) => f.to_string(),
                    Scalar::Text(s) => s,
                };
                (k, text)
            })
            .collect())
    }
}

impl Config {
    /// Reads the file, applies `SLUICE_…__…` environment overrides, and
    /// validates everything that needs no network. Relative paths are made
    /// relative to the config file's directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        let mut config = Self::parse(&text, &env).with_context(|| format!("invalid config file {}", path.display()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config
            .validate()
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(config)
    }

    /// Parses YAML text with the given environment overrides.
    pub fn parse(text: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut value: serde_yaml::Value = serde_yaml::from_str(text).context("invalid YAML")?;
        apply_env_overrides(&mut value, env)?;
        let mut config: Config = serde_yaml::from_value(value).map_err(|e| anyhow::anyhow!("{e}"))?;
        // An environment variable cannot say null; an empty topic disables
        // the DLQ the same way.
        if config.dead_letter.topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
            config.dead_letter.topic = None;
        }
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.pipelines.dir);
        for p in [
            self.pipelines.geoip_dir.as_mut(),
            self.pipelines.user_agent_regexes.as_mut(),
            self.elasticsearch.templates_dir.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.kafka.brokers.trim().is_empty() {
            bail!("kafka.brokers is empty");
        }
        if self.routes.is_empty() {
            bail!("routes: at least one route is needed");
        }
        for (i, r) in self.routes.iter().enumerate() {
            if r.all_topics().is_empty() {
                bail!("routes[{i}]: set `topic` or `topics`");
            }
            crate::elasticsearch::index_name::IndexPattern::compile(&r.index)
                .map_err(|e| anyhow::anyhow!("routes[{i}].index: {e}"))?;
        }
        if let Some(f) = &self.dead_letter.failure_index {
            crate::elasticsearch::index_name::IndexPattern::compile(f)
                .map_err(|e| anyhow::anyhow!("dead_letter.failure_index: {e}"))?;
        }
        if self.elasticsearch.urls.is_empty() {
            bail!("elasticsearch.urls is empty");
        }
        for u in &self.elasticsearch.urls {
            let parsed =
                url::Url::parse(u).map_err(|e| anyhow::anyhow!("elasticsearch.urls: `{u}` is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("elasticsearch.urls: `{u}` must be http or https");
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                // Credentials in URLs end up in logs and printed configs.
                bail!(
                    "elasticsearch.urls: put credentials in elasticsearch.username and password_file (or api_key_file), not in the URL"
                );
            }
        }
        self.elasticsearch.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            anyhow::anyhow!(
                "elasticsearch.timezone: unknown timezone `{}` (use an IANA name such as UTC or Asia/Shanghai)",
                self.elasticsearch.timezone
            )
        })?;
        if let IdConfig::Fingerprint { fields } = &self.elasticsearch.id {
            if fields.is_empty() {
                bail!("elasticsearch.id.fields: list at least one field to fingerprint");
            }
            for f in fields {
                crate::pipeline::field_path::FieldPath::parse(f)
                    .map_err(|e| anyhow::anyhow!("elasticsearch.id.fields: {e}"))?;
            }
        }
        if self.elasticsearch.data_stream && self.elasticsearch.op_type == OpType::Index {
            // Data streams only accept `create`; be explicit rather than
            // silently switching.
            bail!("elasticsearch.data_stream requires elasticsearch.op_type: create");
        }
        let b = &self.elasticsearch.bulk;
        if b.max_docs == 0 || b.max_bytes.0 == 0 || b.concurrency == 0 {
            bail!("elasticsearch.bulk: max_docs, max_bytes and concurrency must be above 0");
        }
        if self.elasticsearch.retry.initial_backoff.is_zero()
            || self.elasticsearch.retry.max_backoff < self.elasticsearch.retry.initial_backoff
        {
            bail!("elasticsearch.retry: initial_backoff must be above 0 and at most max_backoff");
        }
        if self.offsets.commit_interval.is_zero() {
            bail!("offsets.commit_interval must be above 0");
        }
        if self.offsets.max_in_flight_bytes.0 < self.pipelines.max_record_bytes.0 {
            bail!(
                "offsets.max_in_flight_bytes must be at least pipelines.max_record_bytes, or a large record could never be taken"
            );
        }
        let es = &self.elasticsearch;
        let auth_count = [
            es.username.is_some(),
            es.api_key.is_some() || es.api_key_file.is_some(),
            es.bearer_token.is_some() || es.bearer_token_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if auth_count > 1 {
            bail!("elasticsearch: use only one of username/password, api_key and bearer_token");
        }
        if es.client_cert_file.is_some() != es.client_key_file.is_some() {
            bail!("elasticsearch: client_cert_file and client_key_file go together");
        }
        crate::secret::resolve(&es.password, &es.password_file, "elasticsearch.password")
            .map_err(anyhow::Error::msg)?;
        crate::secret::resolve(&es.api_key, &es.api_key_file, "elasticsearch.api_key").map_err(anyhow::Error::msg)?;
        crate::secret::resolve(&es.bearer_token, &es.bearer_token_file, "elasticsearch.bearer_token")
            .map_err(anyhow::Error::msg)?;
        let sec = &self.kafka.security;
        crate::secret::resolve(
            &sec.sasl_password,
            &sec.sasl_password_file,
            "kafka.security.sasl_password",
        )
        .map_err(anyhow::Error::msg)?;
        crate::secret::resolve(
            &sec.ssl_key_password,
            &sec.ssl_key_password_file,
            "kafka.security.ssl_key_password",
        )
        .map_err(anyhow::Error::msg)?;
        if self.shutdown.grace_period.is_zero() {
            bail!("shutdown.grace_period must be above 0");
        }
        Ok(())
    }

    /// Topics to subscribe to: every route's topics, deduplicated.
    pub fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self.routes.iter().flat_map(RouteConfig::all_topics).collect();
        t.sort();
        t.dedup();
        t
    }
}

/// Applies `SLUICE_A__B__C=value` variables to the YAML tree.
fn apply_env_overrides(root: &mut serde_yaml::Value, env: &[(String, String)]) -> anyhow::Result<()> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("SLUICE_") && k.contains("__"))
        .collect();
    // Deterministic order: parents before children.
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name["SLUICE_".len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) {
            bail!("environment variable {name}: empty key segment");
        }
        // Values are text, exactly as written, so a password like `12345`,
        // `true` or `abc #x` arrives intact; only lists and maps are parsed
        // as YAML flow collections. Numeric and boolean keys accept text.
        let trimmed = raw.trim_start();
        let value = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            serde_yaml::from_str(raw)
                .map_err(|e| anyhow::anyhow!("environment variable {name}: not a YAML list or map: {e}"))?
        } else {
            serde_yaml::Value::String(raw.clone())
        };
        set_path(root, &path, value).with_context(|| format!("environment variable {name}"))?;
    }
    Ok(())
}

fn set_path(node: &mut serde_yaml::Value, path: &[String], value: serde_yaml::Value) -> anyhow::Result<()> {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    if node.is_null() {
        *node = serde_yaml::Value::Mapping(Default::default());
    }
    match node {
        serde_yaml::Value::Mapping(m) => {
            let key = serde_yaml::Value::String(first.clone());
            let child = m.entry(key).or_insert(serde_yaml::Value::Null);
            set_path(child, rest, value)
        }
        serde_yaml::Value::Sequence(items) => {
            let idx: usize = first
                .parse()
                .map_err(|_| anyhow::anyhow!("`{first}` must be a list index here"))?;
            let len = items.len();
            let child = items
                .get_mut(idx)
                .ok_or_else(|| anyhow::anyhow!("list index {idx} is out of range ({len} items)"))?;
            set_path(child, rest, value)
        }
        _ => bail!("`{first}` is below a scalar value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
kafka:
  brokers: localhost:9092
routes:
  - topic: nginx
    pipeline: nginx-access
    index: "logs-nginx-%{+yyyy.MM.dd}"
"#;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = Config::parse(MINIMAL, &[]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.kafka.group_id, "sluice");
        assert_eq!(c.kafka.assignment_strategy, "cooperative-sticky");
        assert_eq!(c.elasticsearch.id, IdConfig::Kafka);
        assert_eq!(c.elasticsearch.bulk.max_docs, 5000);
        assert_eq!(c.dead_letter.topic.as_deref(), Some("sluice-dlq"));
        assert_eq!(c.shutdown.grace_period, Duration::from_secs(25));
        assert_eq!(c.topics(), vec!["nginx"]);
    }

    #[test]
    fn env_overrides_any_key() {
        let c = Config::parse(
            MINIMAL,
            &env(&[
                ("SLUICE_KAFKA__BROKERS", "k1:9092,k2:9092"),
                ("SLUICE_ELASTICSEARCH__BULK__MAX_DOCS", "100"),
                ("SLUICE_ELASTICSEARCH__URLS", "[http://a:9200, http://b:9200]"),
                ("SLUICE_ROUTES__0__INDEX", "other-%{+yyyy}"),
                ("SLUICE_OFFSETS__COMMIT_INTERVAL", "2s"),
                ("SLUICE_LOG", "debug"),
            ]),
        )
        .unwrap();
        assert_eq!(c.kafka.brokers, "k1:9092,k2:9092");
        assert_eq!(c.elasticsearch.bulk.max_docs, 100);
        assert_eq!(c.elasticsearch.urls.len(), 2);
        assert_eq!(c.routes[0].index, "other-%{+yyyy}");
        assert_eq!(c.offsets.commit_interval, Duration::from_secs(2));
    }

    #[test]
    fn env_values_are_text_unless_a_collection() {
        let c = Config::parse(
            MINIMAL,
            &env(&[
                ("SLUICE_ELASTICSEARCH__USERNAME", "12345"),
                ("SLUICE_ELASTICSEARCH__PASSWORD", "abc #x 'q'"),
                ("SLUICE_ELASTICSEARCH__BULK__COMPRESSION", "false"),
                ("SLUICE_PIPELINES__WORKERS", "3"),
                (
                    "SLUICE_KAFKA__LIBRDKAFKA",
                    "{fetch.min.bytes: 1000, enable.idempotence: true}",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.elasticsearch.username.as_deref(), Some("12345"));
        assert_eq!(c.elasticsearch.password.as_ref().unwrap().expose(), "abc #x 'q'");
        assert!(!c.elasticsearch.bulk.compression);
        assert_eq!(c.pipelines.workers, 3);
        assert_eq!(c.kafka.librdkafka["fetch.min.bytes"], "1000");
        assert_eq!(c.kafka.librdkafka["enable.idempotence"], "true");
        let err = Config::parse(MINIMAL, &env(&[("SLUICE_PIPELINES__WORKERS", "many")])).unwrap_err();
        assert!(format!("{err:#}").contains("not a whole number"), "{err:#}");
    }

    #[test]
    fn env_typos_are_rejected() {
        let err = Config::parse(MINIMAL, &env(&[("SLUICE_KAFKA__BROKRES", "x")])).unwrap_err();
        assert!(format!("{err:#}").contains("brokres"), "{err:#}");
        let err = Config::parse(MINIMAL, &env(&[("SLUICE_ROUTES__5__INDEX", "x")])).unwrap_err();
        assert!(format!("{err:#}").contains("out of range"), "{err:#}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let err = Config::parse(&format!("{MINIMAL}\nbogus: 1\n"), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("bogus"), "{err:#}");
        let c = Config::parse(&format!("{MINIMAL}\nelasticsearch: {{ timezone: Mars/Base }}\n"), &[]).unwrap();
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("Mars/Base"));
        let c = Config::parse(&format!("{MINIMAL}\nelasticsearch: {{ data_stream: true }}\n"), &[]).unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn credentials_in_urls_are_rejected() {
        let c = Config::parse(
            &format!("{MINIMAL}\nelasticsearch: {{ urls: ['https://elastic:hunter2@es:9200'] }}\n"),
            &[],
        )
        .unwrap();
        let err = format!("{:#}", c.validate().unwrap_err());
        assert!(err.contains("not in the URL") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(ByteSize::parse("8MiB").unwrap(), ByteSize(8 << 20));
        assert_eq!(ByteSize::parse("512").unwrap(), ByteSize(512));
        assert_eq!(ByteSize::parse("1 GB").unwrap(), ByteSize(1_000_000_000));
        assert!(ByteSize::parse("12 parsecs").is_err());
    }

    #[test]
    fn secrets_are_redacted_when_printed() {
        let c = Config::parse(
            &format!("{MINIMAL}\nelasticsearch: {{ username: elastic, password: hunter2 }}\n"),
            &[],
        )
        .unwrap();
        let printed = serde_yaml::to_string(&c).unwrap();
        assert!(!printed.contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
