//! Every metric `sluice alert` exports, declared once.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// All alerting metrics.
pub struct AlertMetrics {
    registry: Registry,
    /// Rule evaluations (one per window end) by rule and outcome (ok, error).
    pub evaluations: IntCounterVec,
    /// Time to evaluate a rule (all its due windows), by rule.
    pub evaluation_seconds: HistogramVec,
    /// Windows skipped because they were older than `max_catch_up`.
    pub windows_skipped: IntCounterVec,
    /// Firing notifications decided (sent or held back), by rule.
    pub firings: IntCounterVec,
    /// Resolved notifications decided, by rule.
    pub resolutions: IntCounterVec,
    /// Firings held back by an upstream rule, by rule and upstream.
    pub suppressions: IntCounterVec,
    /// Notifications held back by a silence, by rule and silence.
    pub silenced: IntCounterVec,
    /// Deliveries by receiver, kind and outcome (delivered, failed).
    pub notifications: IntCounterVec,
    /// Failed delivery attempts by receiver, kind and error (retryable,
    /// permanent).
    pub notification_failures: IntCounterVec,
    /// Groups currently firing, by rule.
    pub active: IntGaugeVec,
    /// End of the last evaluated window (Unix seconds), by rule.
    pub last_window_end: IntGaugeVec,
    /// 1 while this evaluator holds the leader lease.
    pub leader: IntGauge,
    /// 1 while Elasticsearch answered the last request.
    pub es_up: IntGauge,
    /// Deliveries waiting or in flight.
    pub deliveries_in_flight: IntGauge,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition is valid");
    r.register(Box::new(c.clone())).expect("each metric is registered once");
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition is valid");
    r.register(Box::new(g.clone())).expect("each metric is registered once");
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("static metric definition is valid");
    r.register(Box::new(g.clone())).expect("each metric is registered once");
    g
}

impl AlertMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Arc<Self> {
        let r = Registry::new();
        let evaluation_seconds = HistogramVec::new(
            HistogramOpts::new(
                "sluice_alert_rule_evaluation_duration_seconds",
                "Time to evaluate a rule's due windows, queries included.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["rule"],
        )
        .expect("static metric definition is valid");
        r.register(Box::new(evaluation_seconds.clone()))
            .expect("each metric is registered once");
        Arc::new(AlertMetrics {
            evaluations: counter(
                &r,
                "sluice_alert_rule_evaluations_total",
                "Rule evaluations (one per window), by outcome (ok, error).",
                &["rule", "outcome"],
            ),
            evaluation_seconds,
            windows_skipped: counter(
                &r,
                "sluice_alert_windows_skipped_total",
                "Windows older than evaluation.max_catch_up that were not evaluated.",
                &["rule"],
            ),
            firings: counter(
                &r,
                "sluice_alert_firings_total",
                "Firing notifications decided (including held-back ones).",
                &["rule"],
            ),
            resolutions: counter(
                &r,
                "sluice_alert_resolutions_total",
                "Resolved notifications decided.",
                &["rule"],
            ),
            suppressions: counter(
                &r,
                "sluice_alert_suppressions_total",
                "Firings held back because an upstream rule (suppressed_by) is active.",
                &["rule", "upstream"],
            ),
            silenced: counter(
                &r,
                "sluice_alert_silenced_total",
                "Notifications held back by a silence or maintenance window.",
                &["rule", "silence"],
            ),
            notifications: counter(
                &r,
                "sluice_alert_notifications_total",
                "Notification deliveries by receiver, kind and outcome (delivered, failed).",
                &["receiver", "kind", "outcome"],
            ),
            notification_failures: counter(
                &r,
                "sluice_alert_notification_failures_total",
                "Failed delivery attempts by receiver, kind and error class (retryable, permanent).",
                &["receiver", "kind", "error"],
            ),
            active: gauge_vec(&r, "sluice_alert_active", "Groups currently firing.", &["rule"]),
            last_window_end: gauge_vec(
                &r,
                "sluice_alert_last_window_end_seconds",
                "End of the last evaluated window, Unix seconds.",
                &["rule"],
            ),
            leader: gauge(
                &r,
                "sluice_alert_leader",
                "1 while this evaluator holds the leader lease.",
            ),
            es_up: gauge(
                &r,
                "sluice_alert_elasticsearch_up",
                "1 while Elasticsearch answered the last request.",
            ),
            deliveries_in_flight: gauge(
                &r,
                "sluice_alert_deliveries_in_flight",
                "Deliveries waiting for a slot or being attempted.",
            ),
            registry: r,
        })
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = AlertMetrics::new();
        m.evaluations.with_label_values(&["r", "ok"]).inc();
        m.leader.set(1);
        let text = m.render();
        assert!(
            text.contains("sluice_alert_rule_evaluations_total{outcome=\"ok\",rule=\"r\"} 1"),
            "{text}"
        );
        assert!(text.contains("sluice_alert_leader 1"));
    }
}
