//! The telemetry feeds (`[telemetry]`, `INQUEST_TELEMETRY_*`): the Prometheus remote
//! write receiver, the OTLP trace receiver and the PromQL poller.

use serde::Deserialize;

use crate::ConfigError;

/// `[telemetry]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `[telemetry.remote_write]`.
    pub remote_write: RemoteWriteSettings,
    /// `[telemetry.traces]`.
    pub traces: TraceSettings,
    /// `[telemetry.poll]`.
    pub poll: PollSettings,
}

impl TelemetrySettings {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        self.remote_write.check()?;
        self.traces.check()?;
        self.poll.check()
    }
}

// ---------------------------------------------------------------------------------
// Prometheus remote write.

/// `[telemetry.remote_write]`: `POST /api/v1/write`. A series belongs to the service
/// `cluster/namespace/service` read from its labels (the first present of
/// `service_labels`; a missing cluster or namespace is `default`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteSettings {
    /// Take remote writes at all (default true).
    pub enabled: bool,
    /// The label naming the cluster (default `cluster`).
    pub cluster_label: String,
    /// The label naming the namespace (default `namespace`).
    pub namespace_label: String,
    /// Labels naming the service, the first present wins (default `service`, `app`, `job`).
    pub service_labels: Vec<String>,
    /// Regexes a metric name must match (whole) one of; empty keeps every metric.
    pub keep_metrics: Vec<String>,
    /// Regexes (whole name): matching metrics are dropped.
    pub drop_metrics: Vec<String>,
    /// Label matchers (`env="prod"`, `env!="dev"`, `env=~"prod|staging"`, `env!~"dev.*"`) a series must all satisfy.
    pub keep_series: Vec<String>,
    /// Label matchers: a series satisfying any of them is dropped.
    pub drop_series: Vec<String>,
    /// Labels not stored (default `instance`, `pod`).
    pub drop_labels: Vec<String>,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
    /// The largest body taken, compressed (default 16 MiB): larger is `413`.
    pub max_body_bytes: usize,
    /// The largest body taken, decompressed (default 64 MiB): larger is `413`.
    pub max_decoded_bytes: usize,
    /// Writes into the store at once (default 4); more wait, within `max_queued_samples`.
    pub max_concurrent_writes: usize,
    /// Samples received and not yet written (default 2,000,000): past it, `429`.
    pub max_queued_samples: usize,
    /// Series whose derivation state is kept (default 1,000,000).
    pub max_series: usize,
    /// No rate or quantile across a longer gap between samples (default 300).
    pub max_gap_secs: u64,
    /// A series silent this long is forgotten (default 900).
    pub idle_secs: u64,
    /// `Retry-After` of a `429` (default 5).
    pub retry_after_secs: u64,
}

impl Default for RemoteWriteSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            cluster_label: "cluster".into(),
            namespace_label: "namespace".into(),
            service_labels: vec!["service".into(), "app".into(), "job".into()],
            keep_metrics: Vec::new(),
            drop_metrics: Vec::new(),
            keep_series: Vec::new(),
            drop_series: Vec::new(),
            drop_labels: vec!["instance".into(), "pod".into()],
            max_label_name_bytes: 128,
            max_label_value_bytes: 2048,
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            max_concurrent_writes: 4,
            max_queued_samples: 2_000_000,
            max_series: 1_000_000,
            max_gap_secs: 300,
            idle_secs: 900,
            retry_after_secs: 5,
        }
    }
}

impl RemoteWriteSettings {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("telemetry.remote_write.{key}: {why}")));
        if self.service_labels.is_empty() {
            return bad("service_labels", "at least one label must name the service");
        }
        for (key, n) in [
            ("max_label_name_bytes", self.max_label_name_bytes),
            ("max_label_value_bytes", self.max_label_value_bytes),
            ("max_body_bytes", self.max_body_bytes),
            ("max_decoded_bytes", self.max_decoded_bytes),
            ("max_concurrent_writes", self.max_concurrent_writes),
            ("max_queued_samples", self.max_queued_samples),
            ("max_series", self.max_series),
        ] {
            if n == 0 {
                return bad(key, "must be at least 1");
            }
        }
        for (key, n) in [("max_gap_secs", self.max_gap_secs), ("idle_secs", self.idle_secs)] {
            if n == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if self.max_decoded_bytes < self.max_body_bytes {
            return bad("max_decoded_bytes", "must not be less than max_body_bytes");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// OTLP traces.

/// `[telemetry.traces]`: the OTLP/HTTP receiver (`POST /v1/traces`) and the service
/// graph it derives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// The step of the per-edge series (request rate, error ratio, latency), seconds.
    pub bucket_seconds: u64,
    /// How long a span waits for its parent (and a client span for its answer) before
    /// it is given up (or counted as a call to its peer), seconds.
    pub wait_seconds: u64,
    /// How often the closed buckets and the edges are written to the stores, seconds.
    pub flush_seconds: u64,
    /// Spans held per project (waiting for parents or children); beyond it the ones
    /// that ended first are dropped, and counted.
    pub max_held_spans: usize,
    /// The largest request body taken, compressed or decompressed, in bytes.
    pub max_body_bytes: usize,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            bucket_seconds: 60,
            wait_seconds: 10,
            flush_seconds: 10,
            max_held_spans: 1_000_000,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

impl TraceSettings {
    fn check(&self) -> Result<(), ConfigError> {
        let zero = [
            ("bucket_seconds", self.bucket_seconds == 0),
            ("wait_seconds", self.wait_seconds == 0),
            ("flush_seconds", self.flush_seconds == 0),
            ("max_held_spans", self.max_held_spans == 0),
            ("max_body_bytes", self.max_body_bytes == 0),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(ConfigError::Invalid(format!("telemetry.traces.{key}: must be at least 1")));
        }
        // A day is longer than any trace: a larger value is a unit mistake.
        for (key, value) in [
            ("bucket_seconds", self.bucket_seconds),
            ("wait_seconds", self.wait_seconds),
            ("flush_seconds", self.flush_seconds),
        ] {
            if value > 86_400 {
                return Err(ConfigError::Invalid(format!(
                    "telemetry.traces.{key}: {value} is more than 86400 seconds (a day)"
                )));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// The PromQL poller.

/// `[telemetry.poll]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollSettings {}

impl PollSettings {
    fn check(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod tests {
    use figment::Jail;

    use crate::Settings;

    #[test]
    fn trace_settings_have_defaults_are_read_from_the_environment_and_refuse_zeros() {
        Jail::expect_with(|jail| {
            let t = Settings::load(None).expect("defaults").telemetry.traces;
            assert_eq!((t.bucket_seconds, t.wait_seconds, t.flush_seconds), (60, 10, 10));
            jail.set_env("INQUEST_TELEMETRY_TRACES_BUCKET_SECONDS", "30");
            jail.set_env("INQUEST_TELEMETRY_TRACES_MAX_HELD_SPANS", "500");
            let t = Settings::load(None).expect("from env").telemetry.traces;
            assert_eq!((t.bucket_seconds, t.max_held_spans), (30, 500));
            Ok(())
        });
        for key in ["bucket_seconds", "wait_seconds", "flush_seconds", "max_held_spans", "max_body_bytes"] {
            Jail::expect_with(|jail| {
                jail.set_env(format!("INQUEST_TELEMETRY_TRACES_{}", key.to_uppercase()), "0");
                let err = Settings::load(None).expect_err("zero refused").to_string();
                assert!(err.contains(&format!("telemetry.traces.{key}")), "{key}: {err}");
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.set_env("INQUEST_TELEMETRY_TRACES_WAIT_SECONDS", "100000");
            let err = Settings::load(None).expect_err("too long").to_string();
            assert!(err.contains("telemetry.traces.wait_seconds"), "{err}");
            Ok(())
        });
    }
}

#[cfg(test)]
mod remote_write_tests {
    use super::*;

    #[test]
    fn remote_write_defaults_pass_and_zero_limits_name_their_key() {
        assert!(RemoteWriteSettings::default().check().is_ok());
        let zero = RemoteWriteSettings { max_concurrent_writes: 0, ..RemoteWriteSettings::default() };
        let err = zero.check().expect_err("zero writers");
        assert!(err.to_string().contains("telemetry.remote_write.max_concurrent_writes"), "{err}");
        let none = RemoteWriteSettings { service_labels: Vec::new(), ..RemoteWriteSettings::default() };
        assert!(none.check().is_err());
    }
}
