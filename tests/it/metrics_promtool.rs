//! The `/metrics` exposition as Prometheus sees it: every metric family,
//! with every label in use, passes `promtool check metrics` (names, units,
//! help text, types), and every `sluice_*` metric that the alert rules, the
//! Grafana dashboard and the Kubernetes autoscaling manifests name really
//! exists, so a renamed metric cannot silently break an alert.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sluice::alert::metrics::AlertMetrics;
use sluice::document::Document;
use sluice::metrics::Metrics;
use sluice::pipeline::{CompileOptions, PipelineSet};

use crate::pipelines_support::{geoip_dir, repo};

const PROMTOOL_INSTALL: &str = "bash scripts/install-deps.sh (Debian package `prometheus`)";

/// Metrics with the shipped pipelines loaded and every labelled family
/// touched once, so that each family appears in the exposition.
fn populated_metrics() -> Arc<Metrics> {
    let options = CompileOptions {
        geoip_dir: Some(geoip_dir()),
        ..CompileOptions::default()
    };
    let set = PipelineSet::load_dir(&repo().join("pipelines"), &options).unwrap_or_else(|e| panic!("{e}"));
    // A record through a pipeline gives the per-processor counters values.
    let _ = set.run("nginx-access", Document::from_message("not an nginx line"));
    let m = Metrics::new(Arc::new(ArcSwap::from_pointee(set)));

    let part = ["nginx-access", "0"];
    m.records_consumed.with_label_values(&["nginx-access"]).inc();
    m.records_processed
        .with_label_values(&["nginx-access", "success"])
        .inc();
    m.dead_lettered.with_label_values(&["pipeline_failure"]).inc();
    m.dead_letter_skipped.with_label_values(&["invalid_utf8"]).inc();
    m.dead_letter_errors.inc();
    m.docs.with_label_values(&["created"]).inc();
    m.docs_by_index
        .with_label_values(&["logs-nginx.access-2024.01.01"])
        .inc();
    m.bulk_duration.with_label_values(&["success"]).observe(0.02);
    m.bulk_bytes.with_label_values(&["raw"]).inc_by(1000);
    m.bulk_requests.with_label_values(&["success"]).inc();
    m.retries.with_label_values(&["request_429"]).inc();
    m.es_up.set(1);
    m.commits.with_label_values(&["ok"]).inc();
    m.in_flight_bytes.set(1024);
    m.consumer_paused.set(0);
    m.rebalances.with_label_values(&["assign"]).inc();
    m.assigned_partitions.set(1);
    m.committed_offset.with_label_values(&part).set(10);
    m.acked_offset.with_label_values(&part).set(12);
    m.high_watermark.with_label_values(&part).set(20);
    m.consumer_lag.with_label_values(&part).set(10);
    m.partition_stalled.with_label_values(&part).set(0);
    m.partition_in_flight.with_label_values(&part).set(2);
    m.kafka_errors.with_label_values(&["BrokerTransportFailure"]).inc();
    m.reloads.with_label_values(&["success"]).inc();
    m.pipeline_set_info.with_label_values(&["0123abcd"]).set(1);
    m.geoip_database_age
        .with_label_values(&["GeoLite2-City.mmdb"])
        .set(86_400);
    m.last_reload.set(1_700_000_000);
    m.bulk_docs.observe(500.0);
    m
}

/// Metric family names in a text exposition (from the `# TYPE` lines).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// `sluice_*` metric names mentioned in a file (recording-rule names such
/// as `sluice:kafka_consumer_lag:sum` contain colons and are skipped).
fn names_in(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes = text.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find("sluice_") {
        let start = i + pos;
        let preceded_by_word = start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| start + n);
        let followed_by_colon = bytes.get(end) == Some(&b':');
        // `sluice_*` in prose names the prefix, not a metric.
        let bare_prefix = end == start + "sluice_".len();
        if !preceded_by_word && !followed_by_colon && !bare_prefix {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

#[test]
fn exposition_passes_promtool_check_metrics() {
    promtool_check_metrics(&populated_metrics().render());
}

fn promtool_check_metrics(text: &str) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run promtool ({e}); install it with: {PROMTOOL_INSTALL}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("writing the exposition to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && complaints.trim().is_empty(),
        "promtool check metrics complained ({}):\n{complaints}\n--- exposition ---\n{text}",
        out.status
    );
}

#[test]
fn every_family_is_exposed() {
    let found = families(&populated_metrics().render());
    for family in [
        "sluice_records_consumed_total",
        "sluice_records_processed_total",
        "sluice_dead_letter_records_total",
        "sluice_dead_letter_skipped_total",
        "sluice_dead_letter_errors_total",
        "sluice_es_docs_total",
        "sluice_es_docs_indexed_total",
        "sluice_es_bulk_request_duration_seconds",
        "sluice_es_bulk_request_docs",
        "sluice_es_bulk_bytes_total",
        "sluice_es_bulk_requests_total",
        "sluice_es_retries_total",
        "sluice_es_up",
        "sluice_kafka_commits_total",
        "sluice_in_flight_bytes",
        "sluice_consumer_paused",
        "sluice_kafka_rebalances_total",
        "sluice_kafka_assigned_partitions",
        "sluice_kafka_committed_offset",
        "sluice_kafka_acked_offset",
        "sluice_kafka_high_watermark",
        "sluice_kafka_consumer_lag",
        "sluice_partition_stalled",
        "sluice_partition_in_flight_records",
        "sluice_kafka_errors_total",
        "sluice_pipeline_reloads_total",
        "sluice_pipeline_set_info",
        "sluice_geoip_database_age_seconds",
        "sluice_pipeline_last_reload_timestamp_seconds",
        "sluice_processor_invocations_total",
        "sluice_processor_failures_total",
        "sluice_processor_seconds_total",
    ] {
        assert!(found.contains(family), "{family} is missing from /metrics: {found:?}");
    }
}

/// The `sluice alert` process's metrics, every family touched once.
fn populated_alert_metrics() -> Arc<AlertMetrics> {
    let m = AlertMetrics::new();
    m.evaluations.with_label_values(&["r", "ok"]).inc();
    m.evaluation_seconds.with_label_values(&["r"]).observe(0.01);
    m.windows_skipped.with_label_values(&["r"]).inc();
    m.firings.with_label_values(&["r"]).inc();
    m.resolutions.with_label_values(&["r"]).inc();
    m.suppressions.with_label_values(&["r", "up"]).inc();
    m.silenced.with_label_values(&["r", "s"]).inc();
    m.notifications.with_label_values(&["x", "slack", "delivered"]).inc();
    m.notification_failures
        .with_label_values(&["x", "slack", "retryable"])
        .inc();
    m.active.with_label_values(&["r"]).set(1);
    m.last_window_end.with_label_values(&["r"]).set(1);
    m.leader.set(1);
    m.es_up.set(1);
    m.deliveries_in_flight.set(0);
    m
}

#[test]
fn alert_exposition_passes_promtool_check_metrics() {
    promtool_check_metrics(&populated_alert_metrics().render());
}

#[test]
fn deployment_artifacts_name_only_real_metrics() {
    let mut found = families(&populated_metrics().render());
    found.extend(families(&populated_alert_metrics().render()));
    // Histograms are queried through their series suffixes.
    let exists = |name: &str| {
        found.contains(name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|base| found.contains(base)))
    };
    let files = [
        "deploy/prometheus/rules.yml",
        "deploy/prometheus/rules_test.yml",
        "deploy/grafana/sluice-dashboard.json",
        "deploy/kubernetes/components/hpa/horizontalpodautoscaler.yaml",
        "deploy/kubernetes/components/hpa/prometheus-adapter-rules.yaml",
        "README.md",
    ];
    let mut unknown = Vec::new();
    let mut checked = 0;
    for file in files {
        let path = repo().join(file);
        assert!(path.exists(), "{file} is missing");
        for name in names_in(&path) {
            checked += 1;
            if !exists(&name) {
                unknown.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} metric references found; is the scan broken?"
    );
    assert!(
        unknown.is_empty(),
        "metrics that Sluice does not export:\n{}",
        unknown.join("\n")
    );
}
