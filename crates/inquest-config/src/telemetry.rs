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

/// `[telemetry.remote_write]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteWriteSettings {}

impl RemoteWriteSettings {
    fn check(&self) -> Result<(), ConfigError> {
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
