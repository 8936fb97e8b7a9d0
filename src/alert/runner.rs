//! The evaluation loop, the one place that knows every part: it keeps the
//! leader lease, and while leader evaluates each due rule (upstreams first),
//! queries Elasticsearch, applies the results to the rule's state, decides
//! suppression and silences, writes audit records, hands notifications to
//! the dispatcher, and persists the state. A standby only keeps trying the
//! lease.
//!
//! Order per rule: evaluate windows → audit record (`pending`, created
//! only once per notification id) → dispatch → save state. A crash before
//! the state is saved re-evaluates the same windows after restart; their
//! notifications have the same ids, so the audit create conflicts and
//! nothing is sent twice, while a `pending` record left behind is
//! re-delivered by the next leader.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use tracing::{debug, info, warn};

use super::clock::{Clock, Millis, ms, rfc3339};
use super::config::{AlertConfig, RuleKind};
use super::http::Health;
use super::kibana;
use super::leader::{self, LeaderHandle, Lease};
use super::lifecycle::Action;
use super::metrics::AlertMetrics;
use super::notify::dispatch::{self, Dispatcher};
use super::notify::retry::Backoff;
use super::notify::{Notification, Status, WindowInfo};
use super::query::{self, QuerySpec};
use super::rules::{Event, Rule, frequency, spike};
use super::samples;
use super::silence::Silences;
use super::state::{AuditStatus, RuleState, SeqNo, StateStore, StoreError};
use super::suppression::{Activity, Suppression};
use super::window::{self, Window};
use crate::elasticsearch::client::EsClient;

/// Options that are not in the config file.
#[derive(Default)]
pub struct RunOptions {
    /// Set to the bound metrics address once listening (tests use port 0).
    pub metrics_bound: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
}

/// A rule's state while this evaluator leads.
struct Loaded {
    state: RuleState,
    /// Version of the stored document; `None` if it does not exist yet.
    seq: Option<SeqNo>,
    /// Wall time (ms) at which the next window becomes evaluable.
    next_due: Millis,
}

struct Runner {
    config: AlertConfig,
    rules: Vec<Rule>,
    suppression: Suppression,
    silences: Silences,
    store: Arc<StateStore>,
    dispatcher: Dispatcher,
    metrics: Arc<AlertMetrics>,
    clock: Arc<dyn Clock>,
    lease: Option<Lease>,
    leader: Option<LeaderHandle>,
    states: BTreeMap<String, Loaded>,
}

/// Runs `sluice alert` until `shutdown` resolves.
pub async fn run(
    config: AlertConfig,
    clock: Arc<dyn Clock>,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = AlertMetrics::new();
    let senders = dispatch::build_senders(&config).map_err(anyhow::Error::msg)?;
    // The client's request timeout is the bulk one in the indexer's config;
    // here every request is a search or a small state write.
    let mut es_config = config.elasticsearch.clone();
    es_config.bulk.request_timeout = config.evaluation.query_timeout;
    let es = EsClient::new(&es_config)?;
    let store = Arc::new(StateStore::new(es, config.state.index.clone()));
    let suppression = Suppression::new(&config.rules).map_err(anyhow::Error::msg)?;
    let by_name: BTreeMap<&str, &crate::alert::config::RuleConfig> =
        config.rules.iter().map(|r| (r.name.as_str(), r)).collect();
    let rules: Vec<Rule> = suppression
        .order()
        .iter()
        .filter_map(|n| by_name.get(n.as_str()))
        .map(|r| Rule::compile(r, &config.evaluation))
        .collect();
    let holder = config.leader.holder.clone().unwrap_or_else(leader::default_holder);
    let lease = Lease::new(store.clone(), clock.clone(), &config.leader, holder);
    let dispatcher = Dispatcher::new(
        senders,
        Backoff::from_config(&config.delivery),
        config.delivery.concurrency,
        metrics.clone(),
        store.clone(),
        clock.clone(),
    );

    let state_ready = Arc::new(AtomicBool::new(false));
    let health = Health {
        metrics: metrics.clone(),
        state_ready: state_ready.clone(),
    };
    let (bound, server) = super::http::bind(config.metrics.listen, health).await?;
    info!(%bound, "metrics listening");
    if let Some(tx) = opts.metrics_bound {
        let _ = tx.send(bound);
    }
    let server = tokio::spawn(server);

    let mut runner = Runner {
        silences: Silences::new(config.silences.clone()),
        config,
        rules,
        suppression,
        store,
        dispatcher,
        metrics,
        clock,
        lease: Some(lease),
        leader: None,
        states: BTreeMap::new(),
    };
    info!(
        rules = runner.rules.len(),
        holder = runner.lease.as_ref().map(Lease::holder).unwrap_or_default(),
        state_index = runner.store.index(),
        "alert evaluator starting"
    );
    let result = runner.run(state_ready, shutdown).await;
    server.abort();
    result
}

impl Runner {
    async fn run(&mut self, state_ready: Arc<AtomicBool>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        // The state index must exist with its mapping before the lease (or
        // anything else) is written, or a write would create it with a
        // dynamic one.
        loop {
            match self.store.ensure_index().await {
                Ok(()) => break,
                Err(e) => {
                    self.metrics.es_up.set(0);
                    warn!(error = %e, "state index not ready; retrying");
                }
            }
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        state_ready.store(true, Ordering::Release);
        self.metrics.es_up.set(1);
        let (stop_lease, stop_rx) = tokio::sync::oneshot::channel();
        let lease = self
            .lease
            .take()
            .ok_or_else(|| anyhow::anyhow!("runner started twice"))?;
        let (leader, lease_task) = leader::spawn(lease, self.config.leader.renew_every, stop_rx);
        self.leader = Some(leader.clone());

        let mut leading = false;
        let mut last_reachable = true;
        // Set when a state write conflicted: another evaluator wrote our
        // state, so our lease is doubtful until its next renewal succeeds.
        let mut doubted_at: Option<u64> = None;
        loop {
            let reachable = leader.reachable();
            if reachable != last_reachable {
                self.metrics.es_up.set(i64::from(reachable));
                last_reachable = reachable;
            }
            let is_leader = leader.is_leader() && doubted_at.is_none_or(|n| leader.renewals() > n);
            if is_leader && !leading {
                match self.on_elected().await {
                    Ok(()) => leading = true,
                    Err(e) => warn!(error = %e, "cannot load alert state after election; retrying"),
                }
            } else if !is_leader && leading {
                info!("no longer the leader; standing by");
                self.states.clear();
                leading = false;
            }
            self.metrics.leader.set(i64::from(leading));
            if leading {
                self.evaluate_due().await;
                if !leader.is_leader() || self.states.is_empty() {
                    // Lost the lease (or a state write conflicted) mid-round.
                    info!("leadership lost during evaluation; standing by");
                    doubted_at = Some(leader.renewals());
                    self.states.clear();
                    leading = false;
                    self.metrics.leader.set(0);
                }
            }
            let wait = self.wait_time(leading);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        info!("stopping: waiting for deliveries in flight");
        self.dispatcher.drain(Duration::from_secs(10)).await;
        // Only now give up the lease: a successor must not start while our
        // last deliveries and audit updates are still running.
        let _ = stop_lease.send(());
        let _ = lease_task.await;
        self.metrics.leader.set(0);
        Ok(())
    }

    /// Time until the next due rule (or the next look at the lease).
    fn wait_time(&self, leading: bool) -> Duration {
        // A standby checks the lease handle as often as it is renewed.
        let mut wait = self.config.leader.renew_every;
        if leading {
            let now = self.clock.now_ms();
            for l in self.states.values() {
                let until = Duration::from_millis(u64::try_from(l.next_due.saturating_sub(now)).unwrap_or(0));
                wait = wait.min(until);
            }
        }
        // Never spin; never sleep so long that a clock jump is noticed late.
        wait.clamp(Duration::from_millis(5), Duration::from_secs(5))
    }

    /// Loads every rule's state and re-delivers what the previous leader
    /// left pending.
    async fn on_elected(&mut self) -> anyhow::Result<()> {
        let mut states = BTreeMap::new();
        for rule in &self.rules {
            let loaded = self
                .store
                .load_rule(rule.name())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("loading state of rule {}", rule.name()))?;
            let (mut state, seq) = match loaded {
                Some((s, seq)) => (s, Some(seq)),
                None => (RuleState::default(), None),
            };
            if !state.definition.is_empty() && state.definition != rule.definition {
                info!(rule = rule.name(), "rule definition changed; starting its state afresh");
                state = RuleState::default();
            }
            state.definition = rule.definition.clone();
            self.metrics
                .active
                .with_label_values(&[rule.name()])
                .set(state.groups.values().filter(|g| g.firing).count() as i64);
            states.insert(
                rule.name().to_owned(),
                Loaded {
                    state,
                    seq,
                    next_due: 0,
                },
            );
        }
        self.states = states;
        let since = self.clock.now_ms() - ms(self.config.evaluation.max_catch_up);
        match self.store.pending(since).await {
            Ok(pending) => {
                if !pending.is_empty() {
                    info!(
                        count = pending.len(),
                        "re-delivering notifications left pending by the previous leader"
                    );
                }
                for p in pending {
                    if self.dispatcher.has_receiver(&p.receiver) {
                        self.dispatcher
                            .dispatch(Arc::new(p.notification), p.receiver, p.audit_id);
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot look for pending notifications"),
        }
        Ok(())
    }

    async fn evaluate_due(&mut self) {
        for i in 0..self.rules.len() {
            if !self.is_leader() {
                return;
            }
            let name = self.rules[i].name().to_owned();
            let due = self
                .states
                .get(&name)
                .is_some_and(|l| self.clock.now_ms() >= l.next_due);
            if !due {
                continue;
            }
            let Some(mut loaded) = self.states.remove(&name) else {
                continue;
            };
            let started = Instant::now();
            let keep = self.evaluate_rule(i, &mut loaded).await;
            self.metrics
                .evaluation_seconds
                .with_label_values(&[name.as_str()])
                .observe(started.elapsed().as_secs_f64());
            if !keep {
                // Our state write conflicted: another evaluator owns the
                // state now.
                self.states.clear();
                return;
            }
            self.states.insert(name, loaded);
        }
    }

    /// Evaluates a rule's due windows and saves its state. Returns false if
    /// the save conflicted.
    async fn evaluate_rule(&mut self, i: usize, loaded: &mut Loaded) -> bool {
        let rule = self.rules[i].clone();
        let now = self.clock.now_ms();
        let latest = window::latest_end(now, rule.delay, rule.every);
        let due = window::due_ends(
            loaded.state.last_end,
            latest,
            rule.every,
            ms(self.config.evaluation.max_catch_up),
            rule.first_run_windows(),
        );
        if due.skipped > 0 {
            warn!(
                rule = rule.name(),
                skipped = due.skipped,
                "windows older than max_catch_up skipped"
            );
            self.metrics
                .windows_skipped
                .with_label_values(&[rule.name()])
                .inc_by(due.skipped);
        }
        if due.ends.is_empty() {
            loaded.next_due = window::next_due(loaded.state.last_end.unwrap_or(latest), rule.delay, rule.every);
            return true;
        }
        let before = loaded.state.last_end;
        match &rule.config.kind {
            RuleKind::Frequency(f) => {
                for &end in &due.ends {
                    if !self.is_leader() {
                        break;
                    }
                    let body = rule.spec.frequency_body(frequency::window(f, end), rule.samples);
                    let answer = self
                        .store
                        .search(&rule.spec.index, &body)
                        .await
                        .and_then(|v| query::parse_frequency(&v, rule.spec.group_by.is_some()));
                    match answer {
                        Ok(groups) => {
                            self.metrics.evaluations.with_label_values(&[rule.name(), "ok"]).inc();
                            let events = frequency::apply(&rule, f, &mut loaded.state, end, groups);
                            self.handle_events(&rule, &mut loaded.state, events).await;
                        }
                        Err(e) => {
                            self.query_failed(&rule, &e);
                            break;
                        }
                    }
                }
            }
            RuleKind::Spike(s) => {
                let interval = ms(s.interval);
                let first = due.ends.first().copied().unwrap_or(latest);
                let range = Window {
                    start: first - interval,
                    end: due.ends.last().copied().unwrap_or(latest),
                };
                let body = rule.spec.histogram_body(range, interval);
                let answer = self
                    .store
                    .search(&rule.spec.index, &body)
                    .await
                    .and_then(|v| query::parse_histogram(&v, rule.spec.group_by.is_some(), interval));
                match answer {
                    Ok(series) => {
                        for &end in &due.ends {
                            let counts: BTreeMap<String, u64> = series
                                .iter()
                                .map(|(g, s)| (g.clone(), s.get(&end).copied().unwrap_or(0)))
                                .collect();
                            self.metrics.evaluations.with_label_values(&[rule.name(), "ok"]).inc();
                            let events = spike::apply(&rule, s, &mut loaded.state, end, &counts);
                            self.handle_events(&rule, &mut loaded.state, events).await;
                        }
                    }
                    Err(e) => self.query_failed(&rule, &e),
                }
            }
        }
        let firing = loaded.state.groups.values().filter(|g| g.firing).count();
        self.metrics.active.with_label_values(&[rule.name()]).set(firing as i64);
        if let Some(end) = loaded.state.last_end {
            self.metrics
                .last_window_end
                .with_label_values(&[rule.name()])
                .set(end / 1000);
            loaded.next_due = window::next_due(end, rule.delay, rule.every);
        } else {
            // Nothing evaluated (query failed on a first run): retry soon.
            loaded.next_due = now + rule.every.min(5_000);
        }
        if loaded.state.last_end == before {
            // The query failed before any window: retry after a pause.
            loaded.next_due = now + rule.every.min(5_000);
            return true;
        }
        self.save(&rule, loaded).await
    }

    fn query_failed(&self, rule: &Rule, e: &str) {
        warn!(rule = rule.name(), error = %e, "rule query failed; the window is evaluated again next round");
        self.metrics
            .evaluations
            .with_label_values(&[rule.name(), "error"])
            .inc();
        if !e.contains("HTTP") {
            self.metrics.es_up.set(0);
        }
    }

    async fn save(&mut self, rule: &Rule, loaded: &mut Loaded) -> bool {
        let holder = self.leader.as_ref().map(|l| l.holder().to_owned()).unwrap_or_default();
        match self
            .store
            .save_rule(rule.name(), &loaded.state, loaded.seq, &holder, self.clock.now_ms())
            .await
        {
            Ok(seq) => {
                loaded.seq = Some(seq);
                true
            }
            Err(StoreError::Conflict) => {
                warn!(
                    rule = rule.name(),
                    "rule state was written by another evaluator; standing by"
                );
                false
            }
            Err(StoreError::Other(e)) => {
                // The state stays in memory; the next save (same version)
                // writes it.
                warn!(rule = rule.name(), error = %e, "cannot save rule state");
                true
            }
        }
    }

    fn is_leader(&self) -> bool {
        self.leader.as_ref().is_some_and(LeaderHandle::is_leader)
    }

    fn activity(&self, rule: &str) -> Activity {
        match self.states.get(rule) {
            Some(l) => Activity {
                firing: l.state.firing(),
                last_true: l.state.last_true,
            },
            None => Activity::default(),
        }
    }

    async fn handle_events(&mut self, rule: &Rule, state: &mut RuleState, events: Vec<Event>) {
        for event in events {
            let end = event.window.end;
            let wall = self.clock.now_ms();
            let held_back = state.groups.get(&event.group).and_then(|g| g.held_back.clone());
            match event.action {
                Action::None => {}
                Action::Fire { repeat } => {
                    let held = match self
                        .suppression
                        .suppressor(rule.name(), rule.hold, end, |u| self.activity(u))
                    {
                        Some(up) => {
                            let up = up.to_owned();
                            Some((format!("suppressed_by:{up}"), AuditStatus::Suppressed, up))
                        }
                        None => self
                            .silences
                            .active(rule.name(), &event.group, wall)
                            .map(|s| (format!("silence:{s}"), AuditStatus::Silenced, s.to_owned())),
                    };
                    if let Some((reason, status, by)) = held {
                        // A held-back firing asks again every evaluation;
                        // count and record it once per reason.
                        if held_back.as_deref() != Some(reason.as_str()) {
                            self.metrics.firings.with_label_values(&[rule.name()]).inc();
                            match status {
                                AuditStatus::Suppressed => {
                                    self.metrics
                                        .suppressions
                                        .with_label_values(&[rule.name(), by.as_str()])
                                        .inc();
                                    info!(rule = rule.name(), group = %event.group, upstream = %by, "firing suppressed by an upstream rule");
                                }
                                _ => {
                                    self.metrics
                                        .silenced
                                        .with_label_values(&[rule.name(), by.as_str()])
                                        .inc();
                                    info!(rule = rule.name(), group = %event.group, silence = %by, "firing silenced");
                                }
                            }
                            let n = self.notification(rule, &event, Status::Firing, event.since, repeat);
                            let id = format!("notification:{}/-", n.id);
                            if let Err(e) = self.store.audit(&id, &n, "-", status, Some(&reason), wall).await
                                && !matches!(e, StoreError::Conflict)
                            {
                                warn!(error = %e, "cannot write audit record");
                            }
                            if let Some(g) = state.groups.get_mut(&event.group) {
                                g.held_back = Some(reason);
                            }
                        }
                        continue;
                    }
                    if held_back.is_none() {
                        self.metrics.firings.with_label_values(&[rule.name()]).inc();
                    }
                    let mut event = event;
                    if event.samples.is_empty() && rule.samples > 0 {
                        event.samples = self.fetch_samples(rule, &event).await;
                    }
                    let n = self.notification(rule, &event, Status::Firing, event.since, repeat);
                    if let Some(g) = state.groups.get_mut(&event.group) {
                        g.notified(end);
                    }
                    self.send(rule, n, wall).await;
                }
                Action::Resolve => {
                    self.metrics.resolutions.with_label_values(&[rule.name()]).inc();
                    if let Some(s) = self.silences.active(rule.name(), &event.group, wall) {
                        self.metrics.silenced.with_label_values(&[rule.name(), s]).inc();
                        continue;
                    }
                    let n = self.notification(rule, &event, Status::Resolved, event.since, false);
                    self.send(rule, n, wall).await;
                }
            }
        }
    }

    /// Audit record per receiver, then delivery. A record that already
    /// exists means this notification was handled before a restart.
    async fn send(&self, rule: &Rule, n: Notification, now: Millis) {
        let n = Arc::new(n);
        info!(
            rule = rule.name(),
            group = n.group.as_deref().unwrap_or(""),
            status = n.status.label(),
            count = n.count,
            "notifying"
        );
        for receiver in &rule.config.receivers {
            let audit_id = format!("notification:{}/{receiver}", n.id);
            match self
                .store
                .audit(&audit_id, &n, receiver, AuditStatus::Pending, None, now)
                .await
            {
                Ok(()) => self.dispatcher.dispatch(n.clone(), receiver.clone(), audit_id),
                Err(StoreError::Conflict) => {
                    debug!(%audit_id, "already notified before a restart; not sending again");
                }
                Err(StoreError::Other(e)) => {
                    // Better a notification without an audit record than
                    // none at all.
                    warn!(%audit_id, error = %e, "cannot write audit record; sending anyway");
                    self.dispatcher.dispatch(n.clone(), receiver.clone(), audit_id);
                }
            }
        }
    }

    async fn fetch_samples(&self, rule: &Rule, event: &Event) -> Vec<serde_json::Value> {
        let group = rule.spec.group_by.as_ref().map(|_| event.group.as_str());
        let body = json!({
            "size": rule.samples,
            "query": rule.spec.query(event.window, group),
            "sort": [{ rule.spec.timestamp_field.as_str(): {"order": "asc"} }],
        });
        match self.store.search(&rule.spec.index, &body).await {
            Ok(v) => query::hit_sources(&v),
            Err(e) => {
                warn!(rule = rule.name(), error = %e, "cannot fetch sample documents");
                Vec::new()
            }
        }
    }

    fn notification(
        &self,
        rule: &Rule,
        event: &Event,
        status: Status,
        since: Option<Millis>,
        repeat: bool,
    ) -> Notification {
        build_notification(&self.config, rule, event, status, since, repeat)
    }
}

/// Builds the notification for an event (public for tests and `--check`).
pub fn build_notification(
    config: &AlertConfig,
    rule: &Rule,
    event: &Event,
    status: Status,
    since: Option<Millis>,
    repeat: bool,
) -> Notification {
    let spec: &QuerySpec = &rule.spec;
    let group = spec.group_by.as_ref().map(|_| event.group.clone());
    let ev = &config.evaluation;
    let query_string = spec.lucene(group.as_deref());
    let kibana_url = config.kibana.url.as_ref().map(|base| {
        let view = rule
            .config
            .kibana_data_view
            .as_deref()
            .or(config.kibana.data_view.as_deref())
            .unwrap_or(&spec.index);
        kibana::discover_url(
            base,
            view,
            &query_string,
            event.window.start,
            event.window.end,
            &spec.timestamp_field,
        )
    });
    let status_name = match status {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    };
    let samples = if status == Status::Firing {
        event.samples.clone()
    } else {
        Vec::new()
    };
    Notification {
        id: format!(
            "{}/{}/{}/{status_name}",
            rule.name(),
            group.as_deref().unwrap_or("-"),
            event.window.end
        ),
        status,
        rule: rule.name().to_owned(),
        kind: rule.kind_name().to_owned(),
        description: rule.config.description.clone(),
        severity: rule.config.severity.clone(),
        group_by: spec.group_by.clone(),
        group: group.clone(),
        count: event.count,
        threshold: match &rule.config.kind {
            RuleKind::Frequency(f) => Some(f.threshold),
            RuleKind::Spike(_) => None,
        },
        spike: event.spike.clone(),
        window: WindowInfo {
            start: rfc3339(event.window.start),
            end: rfc3339(event.window.end),
            seconds: event.window.len() as f64 / 1000.0,
        },
        since: rfc3339(since.unwrap_or(event.window.end)),
        repeat,
        index: spec.index.clone(),
        query: spec.query(event.window, group.as_deref()),
        query_string,
        stack_trace: samples::stack_trace(&samples, &ev.stack_trace_fields, ev.stack_trace_lines),
        request_ids: samples::request_ids(&samples, &ev.id_fields),
        samples,
        kibana_url,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(group_by: &str) -> AlertConfig {
        serde_yaml::from_str(&format!(
            r#"
kibana: {{url: "https://kibana.example.com"}}
receivers: [{{name: hook, type: webhook, url: "http://127.0.0.1:9/x"}}]
rules:
  - {{name: burst, type: frequency, index: logs-app-*, window: 5m, threshold: 10, receivers: [hook],
     filter: [{{field: log.level, equals: error}}]{group_by}}}
"#
        ))
        .unwrap()
    }

    fn event(group: &str, samples: Vec<serde_json::Value>) -> Event {
        Event {
            group: group.into(),
            action: Action::Fire { repeat: false },
            count: 12,
            window: Window {
                start: 1_709_294_400_000,
                end: 1_709_294_700_000,
            },
            samples,
            spike: None,
            since: Some(1_709_294_640_000),
        }
    }

    #[test]
    fn firing_carries_samples_trace_ids_and_link() {
        let c = config(", group_by: service.name");
        let rule = Rule::compile(&c.rules[0], &c.evaluation);
        let sample = json!({"@timestamp": "2024-03-01T12:00:00Z", "message": "m",
            "error": {"stack_trace": "E\n\tat a\n\tat b"}, "http": {"request": {"id": "r-1"}}});
        let n = build_notification(
            &c,
            &rule,
            &event("api", vec![sample]),
            Status::Firing,
            Some(1_709_294_640_000),
            false,
        );
        assert_eq!(n.id, "burst/api/1709294700000/firing");
        assert_eq!(n.group_label().as_deref(), Some("service.name=api"));
        assert_eq!(n.stack_trace.as_deref(), Some("E\n\tat a\n\tat b"));
        assert_eq!(n.request_ids, ["r-1"]);
        assert_eq!(n.threshold, Some(10));
        assert_eq!(n.since, "2024-03-01T12:04:00.000Z");
        assert_eq!(n.window.seconds, 300.0);
        assert_eq!(n.query_string, r#"log.level:"error" AND service.name:"api""#);
        let url = n.kibana_url.unwrap();
        // Without a data view setting the index pattern is used.
        assert!(url.contains("index:'logs-app-*'"), "{url}");
        assert!(
            url.contains("from:'2024-03-01T12:00:00.000Z',to:'2024-03-01T12:05:00.000Z'"),
            "{url}"
        );
        assert_eq!(n.query["bool"]["filter"][1], json!({"term": {"service.name": "api"}}));
    }

    #[test]
    fn resolved_and_ungrouped() {
        let c = config("");
        let rule = Rule::compile(&c.rules[0], &c.evaluation);
        let n = build_notification(
            &c,
            &rule,
            &event("", vec![json!({"message": "x"})]),
            Status::Resolved,
            None,
            false,
        );
        assert_eq!(n.id, "burst/-/1709294700000/resolved");
        assert_eq!(n.group, None);
        assert!(
            n.samples.is_empty() && n.stack_trace.is_none(),
            "a resolve shows no samples"
        );
        assert_eq!(n.since, n.window.end);
    }
}
