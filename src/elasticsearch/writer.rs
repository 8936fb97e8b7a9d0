//! The Elasticsearch stage: batches documents by count, bytes and linger
//! time, keeps several bulk requests in flight, retries what is retriable
//! (only the failed items), acknowledges indexed records, and sends rejected
//! ones to the dead-letter queue.
//!
//! Backpressure: when every request slot is busy (Elasticsearch slow, or
//! retrying through an outage), the batcher stops reading its input, the
//! pipeline workers block, and the consumer pauses.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use super::bulk_request::{IndexItem, build_body};
use super::bulk_response::{self, ItemOutcome};
use super::client::{EsClient, excerpt};
use super::retry::{Backoff, RequestClass, classify_status};
use crate::config::{BulkConfig, RetryConfig};
use crate::dead_letter::DeadLetter;
use crate::metrics::Metrics;
use crate::offsets::Offsets;

/// The writer and what it reports to.
pub struct Writer {
    /// The connection.
    pub client: EsClient,
    /// Batching settings.
    pub bulk: BulkConfig,
    /// Backoff settings.
    pub retry: RetryConfig,
    /// True when actions are `create` (409 means already indexed).
    pub create: bool,
    /// For acknowledging records.
    pub offsets: Arc<Offsets>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// To the dead-letter writer.
    pub to_dlq: mpsc::Sender<DeadLetter>,
}

impl Writer {
    /// Runs until the input closes, then flushes and waits for every request.
    pub async fn run(self, mut rx: mpsc::Receiver<IndexItem>) {
        let this = Arc::new(self);
        let max_docs = this.bulk.max_docs;
        let max_bytes = this.bulk.max_bytes.0;
        let concurrency = this.bulk.concurrency;
        let mut batch: Vec<IndexItem> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut in_flight = JoinSet::new();
        let mut open = true;

        while open || !batch.is_empty() {
            let full = batch.len() >= max_docs || batch_bytes >= max_bytes;
            let slot_free = in_flight.len() < concurrency;
            let due = deadline.is_some_and(|d| d <= tokio::time::Instant::now());
            if slot_free && !batch.is_empty() && (full || due || !open) {
                let items = std::mem::take(&mut batch);
                batch_bytes = 0;
                deadline = None;
                in_flight.spawn(Arc::clone(&this).send(items));
                continue;
            }
            let sleep_until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + this.bulk.linger);
            tokio::select! {
                // Completions first: they free slots and memory.
                biased;
                Some(res) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(e) = res {
                        error!(error = %e, "bulk task failed");
                    }
                }
                item = rx.recv(), if open && !full => match item {
                    Some(item) => {
                        if batch.is_empty() {
                            deadline = Some(tokio::time::Instant::now() + this.bulk.linger);
                        }
                        batch_bytes += item.lines.len();
                        batch.push(item);
                    }
                    None => open = false,
                },
                _ = tokio::time::sleep_until(sleep_until), if deadline.is_some() && slot_free => {}
            }
        }
        while let Some(res) = in_flight.join_next().await {
            if let Err(e) = res {
                error!(error = %e, "bulk task failed");
            }
        }
        debug!("elasticsearch writer finished");
    }

    /// Sends items until each is indexed, dead-lettered or (for retriable
    /// failures) retried to success.
    fn send(self: Arc<Self>, items: Vec<IndexItem>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let mut pending = items;
            let mut backoff = Backoff::new(self.retry.initial_backoff, self.retry.max_backoff);
            while !pending.is_empty() {
                self.metrics.bulk_docs.observe(pending.len() as f64);
                let body = match build_body(pending.iter(), self.bulk.compression) {
                    Ok(b) => b,
                    Err(e) => {
                        // Only compression can fail here, and only for lack
                        // of memory: send uncompressed instead.
                        warn!(error = %e, "gzip failed; sending uncompressed");
                        match build_body(pending.iter(), false) {
                            Ok(b) => b,
                            Err(_) => return,
                        }
                    }
                };
                self.metrics
                    .bulk_bytes
                    .with_label_values(&["raw"])
                    .inc_by(body.raw_len as u64);
                self.metrics
                    .bulk_bytes
                    .with_label_values(&["wire"])
                    .inc_by(body.bytes.len() as u64);
                let started = Instant::now();
                let reply = self.client.bulk(&body).await;
                let elapsed = started.elapsed().as_secs_f64();
                let reply = match reply {
                    Ok(r) => r,
                    Err(e) => {
                        self.metrics.es_up.set(0);
                        self.observe(elapsed, "error");
                        self.wait_retry(&mut backoff, "connection", pending.len(), &e.to_string())
                            .await;
                        continue;
                    }
                };
                self.metrics.es_up.set(1);
                match classify_status(reply.status) {
                    RequestClass::Success => {}
                    RequestClass::Retry(reason) => {
                        self.observe(elapsed, "retry");
                        let why = format!("HTTP {}: {}", reply.status, excerpt(&reply.body));
                        self.wait_retry(&mut backoff, reason, pending.len(), &why).await;
                        continue;
                    }
                    RequestClass::Split => {
                        self.observe(elapsed, "split");
                        if pending.len() == 1 {
                            let reason = format!(
                                "document is too large for Elasticsearch (HTTP 413, {} bytes)",
                                body.raw_len
                            );
                            self.reject_all(pending, "es_request_too_large", &reason).await;
                            return;
                        }
                        let second = pending.split_off(pending.len() / 2);
                        warn!(
                            docs = pending.len() + second.len(),
                            "bulk request too large (HTTP 413); splitting it"
                        );
                        Arc::clone(&self).send(pending).await;
                        Arc::clone(&self).send(second).await;
                        return;
                    }
                    RequestClass::Reject => {
                        self.observe(elapsed, "reject");
                        let reason = format!("bulk request rejected: HTTP {}: {}", reply.status, excerpt(&reply.body));
                        error!(docs = pending.len(), reason = %reason, "bulk request rejected; dead-lettering its documents");
                        self.reject_all(pending, "es_request_rejected", &reason).await;
                        return;
                    }
                }
                let outcomes = match bulk_response::parse(&reply.body, pending.len(), self.create) {
                    Ok(o) => o,
                    Err(e) => {
                        // Ids are deterministic, so resending everything
                        // cannot duplicate.
                        self.observe(elapsed, "retry");
                        self.wait_retry(&mut backoff, "bad_response", pending.len(), &e.to_string())
                            .await;
                        continue;
                    }
                };
                self.observe(elapsed, "success");
                let mut retry = Vec::new();
                let mut retry_reason = "";
                let before = pending.len();
                for (item, outcome) in pending.into_iter().zip(outcomes) {
                    match outcome {
                        ItemOutcome::Indexed { created } => {
                            self.metrics
                                .docs
                                .with_label_values(&[if created { "created" } else { "updated" }])
                                .inc();
                            self.indexed(&item);
                        }
                        ItemOutcome::Duplicate => {
                            self.metrics.docs.with_label_values(&["duplicate"]).inc();
                            self.indexed(&item);
                        }
                        ItemOutcome::Retry { reason } => {
                            self.metrics.docs.with_label_values(&["retried"]).inc();
                            retry_reason = reason;
                            retry.push(item);
                        }
                        ItemOutcome::Reject {
                            status,
                            error_type,
                            reason,
                        } => {
                            self.metrics.docs.with_label_values(&["rejected"]).inc();
                            let why = format!("HTTP {status} {error_type}: {reason}");
                            self.reject(item, "es_rejected", why).await;
                        }
                    }
                }
                if retry.len() < before {
                    // Progress: the next failure starts with a short wait.
                    backoff.reset();
                }
                pending = retry;
                if !pending.is_empty() {
                    self.wait_retry(
                        &mut backoff,
                        retry_reason,
                        pending.len(),
                        "bulk items rejected temporarily",
                    )
                    .await;
                }
            }
        })
    }

    fn observe(&self, seconds: f64, outcome: &str) {
        self.metrics
            .bulk_duration
            .with_label_values(&[outcome])
            .observe(seconds);
        self.metrics.bulk_requests.with_label_values(&[outcome]).inc();
    }

    fn indexed(&self, item: &IndexItem) {
        self.metrics.docs_by_index.with_label_values(&[&item.index]).inc();
        if let Some(r) = &item.record {
            self.offsets.ack(r);
        }
    }

    async fn wait_retry(&self, backoff: &mut Backoff, reason: &str, docs: usize, why: &str) {
        self.metrics.retries.with_label_values(&[reason]).inc();
        let delay = backoff.next_delay();
        // The first attempts are routine (a busy cluster); keep the log
        // readable and make repeated failures loud.
        if backoff.attempts() <= 3 {
            debug!(reason, docs, attempt = backoff.attempts(), retry_in = ?delay, error = %why, "bulk retry");
        } else {
            warn!(reason, docs, attempt = backoff.attempts(), retry_in = ?delay, error = %why, "elasticsearch still failing; retrying (records are held, consumption pauses)");
        }
        tokio::time::sleep(delay).await;
    }

    async fn reject_all(&self, items: Vec<IndexItem>, kind: &'static str, reason: &str) {
        for item in items {
            self.reject(item, kind, reason.to_owned()).await;
        }
    }

    async fn reject(&self, item: IndexItem, kind: &'static str, reason: String) {
        match (item.record, item.original) {
            (Some(record), Some(original)) => {
                let dl = DeadLetter {
                    record,
                    original,
                    kind,
                    reason,
                    pipeline: Some(item.pipeline),
                };
                if self.to_dlq.send(dl).await.is_err() {
                    error!("dead-letter writer is gone; a rejected record stays unacknowledged and will be re-read");
                }
            }
            _ => warn!(index = %item.index, reason = %reason, "failure-index document rejected by Elasticsearch"),
        }
    }
}
