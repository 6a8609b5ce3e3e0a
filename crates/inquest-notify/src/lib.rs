//! Notification delivery, the IO side of `inquest_ops::channels`: the messages each
//! kind of channel receives (`message`: Slack-compatible JSON, the generic webhook's
//! JSON with its HMAC-SHA256 signature, the e-mail), the senders that post them or
//! hand them to an SMTP server under a timeout (`send`), the worker that drains the
//! durable queue with exponential backoff and keeps a delivery as failed after its
//! last attempt (`worker`), and its counters and per-channel gauges (`metrics`).
//! Nothing here is called by the intake or an investigation: they only queue.

pub mod message;
pub mod metrics;
pub mod send;
pub mod worker;

use std::time::Duration;

pub use metrics::NotifyMetrics;
pub use send::{SendError, Senders, SmtpConfig, SmtpTls};
pub use worker::{Round, Worker};

/// How the worker runs and what the messages link to (from `[notify]`).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The dashboard's address as people reach it.
    pub public_url: String,
    /// Pause between two polls of the queue.
    pub poll: Duration,
    pub max_attempts: u32,
    /// The first retry's wait; doubled for each next one, at most `backoff_max`.
    pub backoff: chrono::Duration,
    pub backoff_max: chrono::Duration,
    pub send_timeout: Duration,
    pub lease: chrono::Duration,
    /// Deliveries taken per project and poll.
    pub batch: usize,
    pub smtp: Option<SmtpConfig>,
}

impl NotifyConfig {
    /// From the checked `[notify]` settings.
    pub fn from_settings(s: &inquest_config::NotifySettings) -> NotifyConfig {
        let secs = |n: u64| chrono::Duration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000));
        NotifyConfig {
            public_url: s.public_url.clone(),
            poll: Duration::from_millis(s.poll_ms),
            max_attempts: s.max_attempts,
            backoff: secs(s.backoff_secs),
            backoff_max: secs(s.backoff_max_secs),
            send_timeout: Duration::from_secs(s.send_timeout_secs),
            lease: secs(s.lease_secs),
            batch: s.batch,
            smtp: s.smtp.as_ref().map(|m| SmtpConfig {
                host: m.host.clone(),
                port: m.port,
                from: m.from.clone(),
                username: m.username.clone(),
                password: m.password.as_ref().map(|p| p.expose().to_string()),
                tls: match m.tls.as_str() {
                    "none" => SmtpTls::None,
                    "tls" => SmtpTls::Tls,
                    _ => SmtpTls::StartTls,
                },
            }),
        }
    }
}
