//! The telemetry feeds (`[telemetry]`, `INQUEST_TELEMETRY_*`): the Prometheus remote
//! write receiver, the OTLP trace receiver and the PromQL poller.

use inquest_domain::ProjectId;
use serde::Deserialize;

use crate::{ConfigError, Secret, ServiceUrl};

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

/// `[telemetry.poll]`: every service is polled on its own interval with every query
/// template, `{{service}}` in the PromQL replaced by the service's name. Off while
/// `url` is unset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollSettings {
    /// The Prometheus HTTP API, e.g. `http://prometheus:9090` (`/api/v1/query_range` is appended).
    pub url: Option<ServiceUrl>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<Secret>,
    /// The project the points and the anomalies are written to.
    pub project: ProjectId,
    /// How far back each poll reads (`end - start` of the range query), in seconds.
    pub range_secs: u64,
    /// The resolution of the range query (`step`), in seconds; points come at multiples of it.
    pub step_secs: u64,
    /// Seconds one query may take.
    pub timeout_secs: u64,
    /// Interval of a service that does not give its own, in seconds.
    pub default_interval_secs: u64,
    /// Robust z-score (against the baseline's median and scaled MAD) past which a point is anomalous.
    pub z_threshold: f64,
    /// Consecutive anomalous points that raise an anomaly, and consecutive normal ones that resolve it.
    pub sustained_points: usize,
    /// Points a baseline needs before it is scored against.
    pub min_baseline_points: usize,
    /// The most recent normal points a baseline keeps.
    pub baseline_points: usize,
    /// `[[telemetry.poll.queries]]`.
    pub queries: Vec<PollQuery>,
    /// `[[telemetry.poll.services]]`.
    pub services: Vec<PolledService>,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            url: None,
            bearer_token: None,
            project: ProjectId::default_project(),
            range_secs: 3_600,
            step_secs: 60,
            timeout_secs: 10,
            default_interval_secs: 300,
            z_threshold: 4.0,
            sustained_points: 3,
            min_baseline_points: 10,
            baseline_points: 240,
            queries: Vec::new(),
            services: Vec::new(),
        }
    }
}

/// One query template (`[[telemetry.poll.queries]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollQuery {
    /// The metric name its points are stored under (with the series' labels, in selector
    /// notation, when the query returns several series).
    pub name: String,
    /// PromQL; `{{service}}` is replaced by the polled service's name.
    pub promql: String,
    /// Which way is bad: `up`, `down` or `either`; unset: from the metric catalogue by `name`.
    #[serde(default)]
    pub bad: Option<String>,
    /// Severity of the anomaly alert: `critical`, `high`, `medium` or `low`.
    #[serde(default = "default_anomaly_severity")]
    pub severity: String,
}

fn default_anomaly_severity() -> String {
    "high".into()
}

/// One polled service (`[[telemetry.poll.services]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolledService {
    /// The service name (or `cluster/namespace/name`), as alerts name it.
    pub name: String,
    /// Seconds between two polls (e.g. 60 for a critical service); unset: `default_interval_secs`.
    #[serde(default)]
    pub interval_secs: Option<u64>,
}

/// The placeholder a query template's PromQL names the service with.
pub const SERVICE_PLACEHOLDER: &str = "{{service}}";

/// The longest poll interval, range and step: a day.
const MAX_POLL_SECS: u64 = 86_400;

impl PollSettings {
    /// The interval of `service`, in seconds.
    pub fn interval_of(&self, service: &PolledService) -> u64 {
        service.interval_secs.unwrap_or(self.default_interval_secs)
    }

    /// Nothing is checked while the poller is off (no `url`); with a URL, every value
    /// the poller uses, each error naming its key.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: String, why: String| Err(ConfigError::Invalid(format!("telemetry.poll.{key}: {why}")));
        let Some(url) = &self.url else {
            if !self.services.is_empty() || !self.queries.is_empty() {
                return bad("url".into(), "must be set when services or queries are configured".into());
            }
            return Ok(());
        };
        let u = url.expose().trim();
        if u.is_empty() {
            return bad("url".into(), "must not be empty".into());
        }
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return bad("url".into(), format!("'{}' is not an http(s) URL", url.redacted()));
        }
        if self.bearer_token.as_ref().is_some_and(|t| t.expose().trim().is_empty()) {
            return bad("bearer_token".into(), "must not be empty when set".into());
        }
        for (key, value) in [
            ("range_secs", self.range_secs),
            ("step_secs", self.step_secs),
            ("timeout_secs", self.timeout_secs),
            ("default_interval_secs", self.default_interval_secs),
        ] {
            if !(1..=MAX_POLL_SECS).contains(&value) {
                return bad(key.into(), format!("{value} is not within 1..={MAX_POLL_SECS} seconds"));
            }
        }
        if self.step_secs > self.range_secs {
            return bad(
                "step_secs".into(),
                format!("{} is more than range_secs ({})", self.step_secs, self.range_secs),
            );
        }
        if !(self.z_threshold.is_finite() && self.z_threshold > 0.0) {
            return bad("z_threshold".into(), format!("{} is not a positive number", self.z_threshold));
        }
        if !(1..=1_000).contains(&self.sustained_points) {
            return bad("sustained_points".into(), format!("{} is not within 1..=1000", self.sustained_points));
        }
        if self.min_baseline_points < 2 {
            return bad("min_baseline_points".into(), "must be at least 2".into());
        }
        if !(self.min_baseline_points..=100_000).contains(&self.baseline_points) {
            return bad(
                "baseline_points".into(),
                format!(
                    "{} is not within min_baseline_points ({})..=100000",
                    self.baseline_points, self.min_baseline_points
                ),
            );
        }
        if self.queries.is_empty() {
            return bad("queries".into(), "at least one query template is needed".into());
        }
        if self.services.is_empty() {
            return bad("services".into(), "at least one service is needed".into());
        }
        for (i, q) in self.queries.iter().enumerate() {
            let key = |k: &str| format!("queries[{i}].{k}");
            if q.name.trim().is_empty() {
                return bad(key("name"), "must not be empty".into());
            }
            if !q.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                || q.name.starts_with(|c: char| c.is_ascii_digit())
            {
                return bad(key("name"), format!("'{}' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", q.name));
            }
            if self.queries[..i].iter().any(|o| o.name == q.name) {
                return bad(key("name"), format!("'{}' is configured twice", q.name));
            }
            if q.promql.trim().is_empty() {
                return bad(key("promql"), "must not be empty".into());
            }
            if let Some(b) = &q.bad
                && !["up", "down", "either"].contains(&b.as_str())
            {
                return bad(key("bad"), format!("'{b}' is not one of up, down, either"));
            }
            if !["critical", "high", "medium", "low"].contains(&q.severity.as_str()) {
                return bad(key("severity"), format!("'{}' is not one of critical, high, medium, low", q.severity));
            }
        }
        for (i, s) in self.services.iter().enumerate() {
            let key = |k: &str| format!("services[{i}].{k}");
            let name = s.name.trim();
            if name.is_empty() {
                return bad(key("name"), "must not be empty".into());
            }
            if name.contains(['"', '\\', '\n']) {
                return bad(
                    key("name"),
                    format!("'{name}' cannot be written into PromQL (a quote, backslash or newline)"),
                );
            }
            if self.services[..i].iter().any(|o| o.name.trim() == name) {
                return bad(key("name"), format!("'{name}' is configured twice"));
            }
            if let Some(v) = s.interval_secs
                && !(1..=MAX_POLL_SECS).contains(&v)
            {
                return bad(key("interval_secs"), format!("{v} is not within 1..={MAX_POLL_SECS} seconds"));
            }
        }
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

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail closures return figment::Error
mod poll_tests {
    use std::path::Path;

    use figment::Jail;

    use crate::Settings;

    const POLL: &str = r#"
[telemetry.poll]
url = "http://127.0.0.1:9090"
bearer_token = "poll-token-never-shown"
step_secs = 15
[[telemetry.poll.queries]]
name = "http_error_ratio"
promql = 'sum(rate(http_requests_total{service="{{service}}",code=~"5.."}[1m]))'
bad = "up"
[[telemetry.poll.queries]]
name = "http_p99_seconds"
promql = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="{{service}}"}[1m])))'
[[telemetry.poll.services]]
name = "checkout"
interval_secs = 60
[[telemetry.poll.services]]
name = "search"
"#;

    #[test]
    fn the_poller_is_off_by_default_and_read_from_the_file_and_the_environment() {
        Jail::expect_with(|jail| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert!(s.telemetry.poll.url.is_none() && s.telemetry.poll.services.is_empty());
            jail.create_file("inquest.toml", POLL)?;
            jail.set_env("INQUEST_TELEMETRY_POLL_RANGE_SECS", "600");
            jail.set_env("INQUEST_TELEMETRY_POLL_PROJECT", "payments");
            let s = Settings::load(Some(Path::new("inquest.toml"))).map_err(|e| e.to_string())?;
            let p = &s.telemetry.poll;
            assert_eq!((p.range_secs, p.step_secs, p.project.as_str()), (600, 15, "payments"));
            assert_eq!(p.queries.len(), 2);
            assert_eq!((p.queries[0].bad.as_deref(), p.queries[1].bad.as_deref()), (Some("up"), None));
            assert_eq!(p.queries[1].severity, "high");
            assert_eq!((p.interval_of(&p.services[0]), p.interval_of(&p.services[1])), (60, 300));
            assert_eq!(p.bearer_token.as_ref().map(crate::Secret::expose), Some("poll-token-never-shown"));
            assert!(!format!("{s:?}").contains("poll-token-never-shown"));
            Ok(())
        });
    }

    #[test]
    fn bad_poll_values_name_their_key() {
        for (from, to, key) in [
            ("url = \"http://127.0.0.1:9090\"", "url = \"\"", "telemetry.poll.url"),
            ("url = \"http://127.0.0.1:9090\"", "url = \"ftp://x\"", "telemetry.poll.url"),
            ("name = \"http_error_ratio\"", "name = \"\"", "telemetry.poll.queries[0].name"),
            ("name = \"http_error_ratio\"", "name = \"http_p99_seconds\"", "telemetry.poll.queries[1].name"),
            ("name = \"http_error_ratio\"\n", "", "name"),
            ("bad = \"up\"", "bad = \"sideways\"", "telemetry.poll.queries[0].bad"),
            ("bad = \"up\"", "severity = \"urgent\"", "telemetry.poll.queries[0].severity"),
            ("interval_secs = 60", "interval_secs = 0", "telemetry.poll.services[0].interval_secs"),
            ("name = \"search\"", "name = \"\"", "telemetry.poll.services[1].name"),
            ("name = \"search\"", "name = \"checkout\"", "telemetry.poll.services[1].name"),
            ("step_secs = 15", "step_secs = 0", "telemetry.poll.step_secs"),
            ("step_secs = 15", "step_secs = 7200", "telemetry.poll.step_secs"),
            ("step_secs = 15", "sustained_points = 0", "telemetry.poll.sustained_points"),
            ("step_secs = 15", "z_threshold = -1.0", "telemetry.poll.z_threshold"),
            ("step_secs = 15", "intervall = 3", "intervall"),
        ] {
            Jail::expect_with(|jail| {
                assert!(POLL.contains(from), "{from}");
                jail.create_file("inquest.toml", &POLL.replacen(from, to, 1))?;
                let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
                assert!(err.contains(key), "{to}: {err}");
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.set_env("INQUEST_TELEMETRY_POLL_DEFAULT_INTERVAL_SECS", "0");
            jail.create_file("inquest.toml", POLL)?;
            let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
            assert!(err.contains("telemetry.poll.default_interval_secs"), "{err}");
            jail.create_file("inquest.toml", "[[telemetry.poll.services]]\nname = \"checkout\"\n")?;
            let err = Settings::load(Some(Path::new("inquest.toml"))).expect_err("must fail").to_string();
            assert!(err.contains("telemetry.poll.url"), "{err}");
            Ok(())
        });
    }
}
