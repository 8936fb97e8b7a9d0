//! Leader election with no new infrastructure: a lease document (`lease`)
//! in the state index.
//!
//! - Acquire: `op_type=create` of `{holder, expires_at}`; only one of two
//!   racing evaluators gets 201, the other 409.
//! - Renew (every `renew_every`): rewrite it with `if_seq_no`/
//!   `if_primary_term` of our last write; a 409 means someone took over, and
//!   we stop at once.
//! - Take over: a standby that reads a lease with `expires_at +
//!   max_clock_skew` in the past rewrites it conditioned on the version it
//!   read, so two standbys cannot both win.
//! - Release: on shutdown the leader deletes the lease (conditioned on its
//!   version) so a successor starts without waiting for expiry.
//!
//! Safety: the leader counts its lease from the moment it *sent* the
//! renewal, on its monotonic clock, and acts only until `ttl −
//! max_clock_skew` after that; a standby takes over only after `expires_at +
//! max_clock_skew` on its wall clock. With clocks within `max_clock_skew` of
//! each other, the two never overlap. A leader that cannot reach
//! Elasticsearch stops acting when its lease runs out, which is also when it
//! could no longer write state anyway. Rule state writes are themselves
//! conditioned on versions, so even a leader paused past its lease (GC,
//! SIGSTOP) cannot overwrite its successor's state: its next write conflicts.
//! The lease TTL bounds failover time; keep the evaluation interval above
//! it if a missed evaluation must not be delayed by a failover.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::{info, warn};

use super::clock::{Clock, Millis, ms};
use super::config::LeaderConfig;
use super::state::{SeqNo, StateStore, StoreError, Write};

/// Document id of the lease.
pub const LEASE_ID: &str = "lease";

/// What happened in a lease round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We hold the lease.
    Leader,
    /// Someone else does (or Elasticsearch is unreachable).
    Standby,
}

/// This evaluator's side of the lease.
pub struct Lease {
    store: Arc<StateStore>,
    clock: Arc<dyn Clock>,
    holder: String,
    ttl: Duration,
    skew: Duration,
    held: Option<SeqNo>,
    valid_until: Option<Instant>,
    reachable: bool,
}

impl Lease {
    /// A lease handle; nothing is written until [`Lease::tick`].
    pub fn new(store: Arc<StateStore>, clock: Arc<dyn Clock>, c: &LeaderConfig, holder: String) -> Self {
        Lease {
            store,
            clock,
            holder,
            ttl: c.lease_ttl,
            skew: c.max_clock_skew,
            held: None,
            valid_until: None,
            reachable: false,
        }
    }

    /// The holder name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// True while the lease is ours and not expired on our clock.
    pub fn is_leader(&self) -> bool {
        self.held.is_some() && self.valid_until.is_some_and(|v| Instant::now() < v)
    }

    /// True if Elasticsearch answered the last lease round.
    pub fn reachable(&self) -> bool {
        self.reachable
    }

    /// Tries to acquire or renew the lease.
    pub async fn tick(&mut self) -> Role {
        self.reachable = true;
        let sent = Instant::now();
        let now = self.clock.now_ms();
        let doc = json!({
            "kind": "lease",
            "holder": self.holder,
            "expires_at": now + ms(self.ttl),
            "updated_at": now,
        });
        if let Some(seq) = self.held {
            match self.store.put(LEASE_ID, &doc, Some(Write::IfMatch(seq))).await {
                Ok(new) => self.won(new, sent),
                Err(StoreError::Conflict) => {
                    warn!(holder = %self.holder, "lost the leader lease to another evaluator");
                    self.held = None;
                    self.valid_until = None;
                }
                // Keep trying until the lease runs out on our clock.
                Err(StoreError::Other(e)) => {
                    self.reachable = false;
                    warn!(error = %e, "cannot renew the leader lease");
                }
            }
            return self.role();
        }
        match self.store.get(LEASE_ID).await {
            Ok(None) => match self.store.put(LEASE_ID, &doc, Some(Write::Create)).await {
                Ok(new) => self.won(new, sent),
                Err(StoreError::Conflict) => {}
                Err(StoreError::Other(e)) => {
                    self.reachable = false;
                    warn!(error = %e, "cannot create the leader lease");
                }
            },
            Ok(Some((current, seq))) => {
                let holder = current.get("holder").and_then(Value::as_str).unwrap_or("");
                let expires = current.get("expires_at").and_then(Value::as_i64).unwrap_or(0);
                // Our own lease from before a restart under the same holder
                // name is ours to continue.
                if holder == self.holder || self.expired(expires, now) {
                    match self.store.put(LEASE_ID, &doc, Some(Write::IfMatch(seq))).await {
                        Ok(new) => {
                            if holder != self.holder {
                                info!(previous = holder, "took over an expired leader lease");
                            }
                            self.won(new, sent)
                        }
                        Err(StoreError::Conflict) => {}
                        Err(StoreError::Other(e)) => {
                            self.reachable = false;
                            warn!(error = %e, "cannot take over the leader lease");
                        }
                    }
                }
            }
            Err(e) => {
                self.reachable = false;
                warn!(error = %e, "cannot read the leader lease");
            }
        }
        self.role()
    }

    fn expired(&self, expires_at: Millis, now: Millis) -> bool {
        now > expires_at.saturating_add(ms(self.skew))
    }

    fn won(&mut self, seq: SeqNo, sent: Instant) {
        if self.held.is_none() {
            info!(holder = %self.holder, "acquired the leader lease");
        }
        self.held = Some(seq);
        self.valid_until = Some(sent + self.ttl.saturating_sub(self.skew));
    }

    fn role(&self) -> Role {
        if self.is_leader() { Role::Leader } else { Role::Standby }
    }

    /// Gives the lease up (on shutdown) so a standby takes over at once.
    pub async fn release(&mut self) {
        if let Some(seq) = self.held.take() {
            self.valid_until = None;
            match self.store.delete(LEASE_ID, seq).await {
                Ok(()) => info!(holder = %self.holder, "released the leader lease"),
                Err(e) => warn!(error = %e, "cannot release the leader lease; a standby takes over when it expires"),
            }
        }
    }
}

/// What the evaluation loop sees of the lease, which a task of its own
/// renews: a long evaluation (a catch-up after downtime) never delays a
/// renewal, and the loop checks validity before each rule.
#[derive(Clone)]
pub struct LeaderHandle {
    valid_until: Arc<Mutex<Option<Instant>>>,
    /// Successful lease rounds so far.
    renewals: Arc<AtomicU64>,
    reachable: Arc<AtomicBool>,
    holder: Arc<str>,
}

impl LeaderHandle {
    /// True while we hold an unexpired lease.
    pub fn is_leader(&self) -> bool {
        self.valid_until
            .lock()
            .map(|v| v.is_some_and(|v| Instant::now() < v))
            .unwrap_or(false)
    }

    /// True if Elasticsearch answered the last lease round.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// Counts successful lease rounds: after a state write conflicted, the
    /// evaluation loop waits for the next one before acting again.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Acquire)
    }

    /// Our holder name.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// Runs the lease rounds every `every` until `stop` fires, then releases the
/// lease.
pub fn spawn(
    mut lease: Lease,
    every: Duration,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> (LeaderHandle, tokio::task::JoinHandle<()>) {
    let handle = LeaderHandle {
        valid_until: Arc::default(),
        renewals: Arc::default(),
        reachable: Arc::default(),
        holder: Arc::from(lease.holder()),
    };
    let h = handle.clone();
    let task = tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            if lease.tick().await == Role::Leader {
                h.renewals.fetch_add(1, Ordering::AcqRel);
            }
            h.reachable.store(lease.reachable(), Ordering::Release);
            if let Ok(mut v) = h.valid_until.lock() {
                *v = if lease.held.is_some() { lease.valid_until } else { None };
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
        if let Ok(mut v) = h.valid_until.lock() {
            *v = None;
        }
        lease.release().await;
    });
    (handle, task)
}

/// `$HOSTNAME-<pid>`: unique per process, recognisable in the lease.
pub fn default_holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "sluice".to_owned());
    format!("{host}-{}", std::process::id())
}
