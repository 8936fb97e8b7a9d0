//! The dispatcher: hands each (notification, receiver) to its own task, so
//! a slow or failing receiver never holds up rule evaluation or other
//! receivers. A semaphore bounds deliveries in flight; retries back off
//! inside the task; the audit record is updated with the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::Notification;
use super::email::EmailSender;
use super::retry::{self, Backoff, DeliveryError};
use super::templates::WebhookKind;
use super::webhook::WebhookSender;
use crate::alert::clock::Clock;
use crate::alert::config::{AlertConfig, ReceiverKind};
use crate::alert::metrics::AlertMetrics;
use crate::alert::state::{AuditStatus, StateStore};

/// A receiver ready to send.
pub enum Sender {
    /// Any webhook kind.
    Webhook(WebhookSender),
    /// SMTP.
    Email(EmailSender),
}

impl Sender {
    /// Kind label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Sender::Webhook(w) => w.kind().name(),
            Sender::Email(_) => "email",
        }
    }

    async fn send(&self, n: &Notification, now_ms: i64) -> Result<(), DeliveryError> {
        match self {
            Sender::Webhook(w) => w.send(n, now_ms).await,
            Sender::Email(e) => e.send(n).await,
        }
    }
}

/// Builds every receiver (resolving secrets); fails naming the receiver.
pub fn build_senders(c: &AlertConfig) -> Result<BTreeMap<String, Arc<Sender>>, String> {
    let client = reqwest::Client::builder()
        .timeout(c.delivery.timeout)
        .user_agent(concat!("sluice-alert/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut out = BTreeMap::new();
    for r in &c.receivers {
        let sender = match &r.kind {
            ReceiverKind::Webhook(w) => WebhookSender::new(w, WebhookKind::Json, client.clone()).map(Sender::Webhook),
            ReceiverKind::Wechat(w) => WebhookSender::new(w, WebhookKind::Wechat, client.clone()).map(Sender::Webhook),
            ReceiverKind::Dingtalk(w) => {
                WebhookSender::new(w, WebhookKind::Dingtalk, client.clone()).map(Sender::Webhook)
            }
            ReceiverKind::Slack(w) => WebhookSender::new(w, WebhookKind::Slack, client.clone()).map(Sender::Webhook),
            ReceiverKind::Feishu(w) => WebhookSender::new(w, WebhookKind::Feishu, client.clone()).map(Sender::Webhook),
            ReceiverKind::Email(e) => EmailSender::new(e, c.delivery.timeout).map(Sender::Email),
        }
        .map_err(|e| format!("receiver `{}`: {e}", r.name))?;
        out.insert(r.name.clone(), Arc::new(sender));
    }
    Ok(out)
}

/// Delivers notifications in the background.
pub struct Dispatcher {
    senders: BTreeMap<String, Arc<Sender>>,
    backoff: Backoff,
    slots: Arc<Semaphore>,
    capacity: u32,
    metrics: Arc<AlertMetrics>,
    store: Arc<StateStore>,
    clock: Arc<dyn Clock>,
}

impl Dispatcher {
    /// A dispatcher over built senders.
    pub fn new(
        senders: BTreeMap<String, Arc<Sender>>,
        backoff: Backoff,
        concurrency: usize,
        metrics: Arc<AlertMetrics>,
        store: Arc<StateStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let capacity = u32::try_from(concurrency.max(1)).unwrap_or(u32::MAX);
        Dispatcher {
            senders,
            backoff,
            slots: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            metrics,
            store,
            clock,
        }
    }

    /// Starts delivering `n` to `receiver` and returns at once.
    pub fn dispatch(&self, n: Arc<Notification>, receiver: String, audit_id: String) {
        let Some(sender) = self.senders.get(&receiver).cloned() else {
            warn!(%receiver, "notification for an unknown receiver dropped");
            return;
        };
        let slots = self.slots.clone();
        let metrics = self.metrics.clone();
        let store = self.store.clone();
        let clock = self.clock.clone();
        let backoff = self.backoff;
        metrics.deliveries_in_flight.inc();
        tokio::spawn(async move {
            let _permit = slots.acquire_owned().await;
            let kind = sender.kind();
            let (attempts, result) = retry::run(
                backoff,
                |_| sender.send(&n, clock.now_ms()),
                |attempt, e| {
                    metrics
                        .notification_failures
                        .with_label_values(&[receiver.as_str(), kind, e.kind()])
                        .inc();
                    warn!(rule = %n.rule, %receiver, attempt, error = %e, "notification delivery failed");
                },
            )
            .await;
            let (status, error) = match &result {
                Ok(()) => {
                    info!(rule = %n.rule, group = n.group.as_deref().unwrap_or(""), status = n.status.label(), %receiver, attempts, "notification delivered");
                    (AuditStatus::Delivered, None)
                }
                Err(e) => (AuditStatus::Failed, Some(e.to_string())),
            };
            let outcome = if result.is_ok() { "delivered" } else { "failed" };
            metrics
                .notifications
                .with_label_values(&[receiver.as_str(), kind, outcome])
                .inc();
            if let Err(e) = store
                .audit_outcome(&audit_id, status, attempts, error.as_deref(), clock.now_ms())
                .await
            {
                warn!(%audit_id, error = %e, "cannot record the delivery outcome");
            }
            metrics.deliveries_in_flight.dec();
        });
    }

    /// Waits up to `timeout` for deliveries in flight (at shutdown).
    pub async fn drain(&self, timeout: Duration) {
        if tokio::time::timeout(timeout, self.slots.acquire_many(self.capacity))
            .await
            .is_err()
        {
            warn!(
                in_flight = self.metrics.deliveries_in_flight.get(),
                "shutdown with deliveries still in flight; they are re-sent by the next leader"
            );
        }
    }

    /// Known receiver names.
    pub fn has_receiver(&self, name: &str) -> bool {
        self.senders.contains_key(name)
    }
}
