//! The worker's series on `/metrics`: every attempt counted by channel kind and
//! outcome, and per channel whether it is failing and how many failures in a row it has.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// Outcomes of an attempt: sent, queued again, or given up (kept as failed).
pub const OUTCOMES: [&str; 3] = ["sent", "retried", "failed"];

#[derive(Clone)]
pub struct NotifyMetrics {
    /// `inquest_notifications_total{kind, outcome}`
    pub attempts: IntCounterVec,
    /// `inquest_notification_channel_failing{channel}`: 1 after `FAILING_AFTER` failures in a row.
    pub failing: IntGaugeVec,
    /// `inquest_notification_channel_consecutive_failures{channel}`
    pub consecutive: IntGaugeVec,
}

impl NotifyMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<NotifyMetrics> {
        let attempts = IntCounterVec::new(
            Opts::new("inquest_notifications_total", "Notification attempts by channel kind and outcome"),
            &["kind", "outcome"],
        )?;
        let failing = IntGaugeVec::new(
            Opts::new(
                "inquest_notification_channel_failing",
                "1 when the channel's last attempts failed in a row (see the channels page), else 0",
            ),
            &["channel"],
        )?;
        let consecutive = IntGaugeVec::new(
            Opts::new("inquest_notification_channel_consecutive_failures", "Failed attempts since the last success"),
            &["channel"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(failing.clone()))?;
        registry.register(Box::new(consecutive.clone()))?;
        Ok(NotifyMetrics { attempts, failing, consecutive })
    }

    /// The channel's gauges from its health.
    pub fn health(&self, channel: &str, health: &inquest_ops::channels::ChannelHealth) {
        self.failing.with_label_values(&[channel]).set(i64::from(health.failing()));
        self.consecutive.with_label_values(&[channel]).set(i64::from(health.consecutive_failures));
    }

    /// A deleted channel's gauges go.
    pub fn forget(&self, channel: &str) {
        let _ = self.failing.remove_label_values(&[channel]);
        let _ = self.consecutive.remove_label_values(&[channel]);
    }
}
