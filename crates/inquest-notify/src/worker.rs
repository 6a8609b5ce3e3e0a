//! The delivery worker: every poll, for every project, lease the due deliveries,
//! send them concurrently (each under the send timeout), and settle each attempt:
//! sent, queued again after an exponential backoff (`inquest_intake::store::backoff`),
//! or, after the last attempt, kept as failed with its error. A store that is down
//! skips the round (logged); nothing is dropped, since a delivery leaves the queue
//! only when it is settled. The channels' gauges are refreshed each round.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::channels::{Delivery, NotifyStore};
use inquest_ports::{AccessStore, StoreResult};
use tracing::{debug, info, warn};

use crate::{NotifyConfig, NotifyMetrics, Senders};

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Projects whose queue could not be read (a store down).
    pub skipped: usize,
}

pub struct Worker {
    pub store: Arc<dyn NotifyStore>,
    pub access: Arc<dyn AccessStore>,
    pub senders: Senders,
    pub metrics: NotifyMetrics,
    pub config: NotifyConfig,
    /// This worker's name on its leases.
    pub name: String,
    known: Mutex<BTreeSet<String>>,
}

enum Outcome {
    Sent,
    Retried,
    Failed,
}

impl Worker {
    pub fn new(
        store: Arc<dyn NotifyStore>,
        access: Arc<dyn AccessStore>,
        senders: Senders,
        metrics: NotifyMetrics,
        config: NotifyConfig,
        name: String,
    ) -> Worker {
        Worker { store, access, senders, metrics, config, name, known: Mutex::new(BTreeSet::new()) }
    }

    /// One poll of every project's queue.
    pub async fn round(&self, now: Timestamp) -> Round {
        let mut round = Round::default();
        let projects = match self.access.list_projects().await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "notifications not sent this round: projects not listed");
                round.skipped += 1;
                return round;
            }
        };
        let mut seen = BTreeSet::new();
        for p in &projects {
            let project = &p.project_id;
            match self.project(project, now).await {
                Ok(outcomes) => {
                    for o in outcomes {
                        match o {
                            Outcome::Sent => round.sent += 1,
                            Outcome::Retried => round.retried += 1,
                            Outcome::Failed => round.failed += 1,
                        }
                    }
                }
                Err(e) => {
                    warn!(project = %project, error = %e, "notifications not sent this round: the queue is unavailable");
                    round.skipped += 1;
                }
            }
            match self.store.list_channels(project).await {
                Ok(channels) => {
                    for c in channels {
                        let id = c.channel.channel_id.to_string();
                        self.metrics.health(&id, &c.health);
                        seen.insert(id);
                    }
                }
                Err(e) => debug!(project = %project, error = %e, "channel health not read"),
            }
        }
        if round.skipped == 0 {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            for gone in known.difference(&seen) {
                self.metrics.forget(gone);
            }
            *known = seen;
        }
        round
    }

    async fn project(&self, project: &ProjectId, now: Timestamp) -> StoreResult<Vec<Outcome>> {
        let c = &self.config;
        let due = self.store.take_due(project, &self.name, c.lease, c.max_attempts, c.batch, now).await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let settled = join_all(due.into_iter().map(|d| self.deliver(project, d))).await;
        Ok(settled.into_iter().flatten().collect())
    }

    /// Sends one delivery and settles its attempt; `None` when the store could not
    /// record it (the lease then runs out and the delivery is taken again).
    async fn deliver(&self, project: &ProjectId, d: Delivery) -> Option<Outcome> {
        let channel = match self.store.get_channel(project, d.channel_id).await {
            Ok(c) => c,
            Err(e) => {
                warn!(delivery = %d.delivery_id, error = %e, "channel not read: the delivery is taken again later");
                return None;
            }
        };
        let kind = channel.as_ref().map_or("deleted", |c| c.channel.target.kind().as_str());
        let result = match &channel {
            None => Err("the channel was deleted".to_string()),
            Some(c) if !c.channel.enabled => Err("the channel is disabled".to_string()),
            Some(c) => self.senders.send(&c.channel, &d).await.map_err(|e| e.0),
        };
        let now = chrono::Utc::now();
        let (settled, outcome) = match result {
            Ok(()) => (self.store.complete(project, d.delivery_id, &self.name, d.attempts, now).await, Outcome::Sent),
            Err(error) => {
                let last = d.attempts >= self.config.max_attempts || channel.is_none();
                let retry_at = (!last).then(|| {
                    now + inquest_intake::store::backoff(self.config.backoff, self.config.backoff_max, d.attempts)
                });
                let error = format!("attempt {} of {}: {error}", d.attempts, self.config.max_attempts);
                let settled =
                    self.store.fail(project, d.delivery_id, &self.name, d.attempts, &error, retry_at, now).await;
                match retry_at {
                    Some(at) => {
                        info!(delivery = %d.delivery_id, channel = %d.channel_id, kind, %error, retry_at = %at, "notification not delivered: retrying");
                        (settled, Outcome::Retried)
                    }
                    None => {
                        warn!(delivery = %d.delivery_id, channel = %d.channel_id, kind, %error, "notification given up: kept as failed");
                        (settled, Outcome::Failed)
                    }
                }
            }
        };
        let label = match outcome {
            Outcome::Sent => "sent",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
        };
        self.metrics.attempts.with_label_values(&[kind, label]).inc();
        match settled {
            Ok(Some(health)) => {
                if channel.is_some() {
                    self.metrics.health(&d.channel_id.to_string(), &health);
                }
                Some(outcome)
            }
            Ok(None) => {
                debug!(delivery = %d.delivery_id, "the lease was lost before the attempt was recorded");
                None
            }
            Err(e) => {
                warn!(delivery = %d.delivery_id, error = %e, "attempt not recorded: the delivery is taken again after its lease");
                None
            }
        }
    }

    /// Polls until `stop` fires; a round in flight finishes first.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        info!(worker = %self.name, poll_ms = self.config.poll.as_millis() as u64, "notification worker started");
        loop {
            let round = self.round(chrono::Utc::now()).await;
            if round.sent + round.retried + round.failed > 0 {
                debug!(sent = round.sent, retried = round.retried, failed = round.failed, "notifications round");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        info!(worker = %self.name, "notification worker stopped");
    }
}
