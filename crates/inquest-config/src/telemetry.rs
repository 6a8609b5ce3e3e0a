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

/// `[telemetry.traces]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {}

impl TraceSettings {
    fn check(&self) -> Result<(), ConfigError> {
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
