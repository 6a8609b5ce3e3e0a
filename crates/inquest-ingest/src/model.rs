//! Alerts as they arrive: the generic alert, the Alertmanager webhook (v4) payload,
//! validation with errors naming the field, and the normalised `Alert`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inquest_domain::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Alert severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// `incidents.severity`: 1 (critical) to 4 (low).
    pub fn level(self) -> i32 {
        match self {
            Severity::Critical => 1,
            Severity::High => 2,
            Severity::Medium => 3,
            Severity::Low => 4,
        }
    }

    /// True when `self` is at least as severe as `min`.
    pub fn at_least(self, min: Severity) -> bool {
        self <= min
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            _ => None,
        }
    }

    /// Alertmanager's customary severity labels, mapped onto ours.
    pub fn from_label(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "critical" | "page" | "fatal" => Some(Severity::Critical),
            "high" | "error" | "major" => Some(Severity::High),
            "medium" | "warning" | "warn" | "minor" => Some(Severity::Medium),
            "low" | "info" | "none" => Some(Severity::Low),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSource {
    Generic,
    Alertmanager,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Generic => "generic",
            AlertSource::Alertmanager => "alertmanager",
        }
    }
}

/// One alert, normalised from either intake format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identity of the alert: repeats share it.
    pub fingerprint: String,
    pub source: AlertSource,
    pub service: String,
    pub severity: Severity,
    pub message: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
}

/// A payload that cannot be accepted, naming the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// JSON path of the field (`severity`, `[3].service`, `alerts[0].labels.service`).
    pub field: String,
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

fn prefixed(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") }
}

fn required_string(obj: &serde_json::Map<String, Value>, prefix: &str, field: &str) -> Result<String, ValidationError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(ValidationError::new(prefixed(prefix, field), "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(ValidationError::new(prefixed(prefix, field), "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ValidationError::new(prefixed(prefix, field), "must be a string")),
    }
}

fn string_map(v: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, ValidationError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ValidationError::new(format!("{field}.{k}"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(ValidationError::new(field, "must be an object of strings")),
    }
}

/// Parse one generic alert (`service`, `severity`, `message`, optional `labels`,
/// `timestamp`, `fingerprint`, `status`). `prefix` is prepended to field names.
pub fn parse_generic(value: &Value, prefix: &str, now: Timestamp) -> Result<Alert, ValidationError> {
    let Value::Object(obj) = value else {
        return Err(ValidationError::new(if prefix.is_empty() { "body" } else { prefix }, "must be a JSON object"));
    };
    let service = required_string(obj, prefix, "service")?;
    let severity_text = required_string(obj, prefix, "severity")?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        ValidationError::new(
            prefixed(prefix, "severity"),
            format!("'{severity_text}' is not one of critical, high, medium, low"),
        )
    })?;
    let message = required_string(obj, prefix, "message")?;
    let labels = string_map(obj.get("labels"), &prefixed(prefix, "labels"))?;
    let starts_at = match obj.get("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ValidationError::new(prefixed(prefix, "timestamp"), format!("not an RFC 3339 time: {e}")))?,
        Some(_) => return Err(ValidationError::new(prefixed(prefix, "timestamp"), "must be an RFC 3339 string")),
    };
    let status = match obj.get("status") {
        None | Some(Value::Null) => AlertStatus::Firing,
        Some(Value::String(s)) if s == "firing" => AlertStatus::Firing,
        Some(Value::String(s)) if s == "resolved" => AlertStatus::Resolved,
        Some(_) => return Err(ValidationError::new(prefixed(prefix, "status"), "must be 'firing' or 'resolved'")),
    };
    let fingerprint = match obj.get("fingerprint") {
        None | Some(Value::Null) => generic_fingerprint(&service, &message, &labels),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(ValidationError::new(prefixed(prefix, "fingerprint"), "must be a non-empty string")),
    };
    Ok(Alert {
        fingerprint,
        source: AlertSource::Generic,
        service,
        severity,
        message,
        status,
        labels,
        annotations: BTreeMap::new(),
        starts_at,
        ends_at: None,
    })
}

/// A generic alert's identity: service, message and labels (severity may escalate).
pub fn generic_fingerprint(service: &str, message: &str, labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(service.as_bytes());
    h.update([0x1f]);
    h.update(message.as_bytes());
    for (k, v) in labels {
        h.update([0x1e]);
        h.update(k.as_bytes());
        h.update([0x1f]);
        h.update(v.as_bytes());
    }
    format!("g:{}", &hex::encode(h.finalize())[..16])
}

/// `POST /api/alerts` accepts one alert object or an array of them.
pub fn parse_generic_body(value: &Value, now: Timestamp) -> Result<Vec<Alert>, ValidationError> {
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ValidationError::new("body", "the batch is empty"));
            }
            items.iter().enumerate().map(|(i, v)| parse_generic(v, &format!("[{i}]"), now)).collect()
        }
        other => Ok(vec![parse_generic(other, "", now)?]),
    }
}

/// The Alertmanager webhook payload, `version: "4"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: AlertStatus,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<AlertmanagerAlert>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    pub fingerprint: String,
}

/// Deserialize an Alertmanager payload; the error names the failing field's path.
pub fn parse_alertmanager(body: &[u8]) -> Result<AlertmanagerPayload, ValidationError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let payload: AlertmanagerPayload = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ValidationError::new(if path == "." { "body".to_string() } else { path }, e.inner().to_string())
    })?;
    if payload.version != "4" {
        return Err(ValidationError::new("version", format!("unsupported webhook version '{}', expected '4'", payload.version)));
    }
    Ok(payload)
}

impl AlertmanagerPayload {
    /// Normalise every alert of the group. The service comes from the `service`
    /// label (else `job`); severity from the `severity` label (absent or unknown: medium).
    pub fn into_alerts(self) -> Result<Vec<Alert>, ValidationError> {
        self.alerts
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let service = a
                    .labels
                    .get("service")
                    .or_else(|| a.labels.get("job"))
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .ok_or_else(|| {
                        ValidationError::new(format!("alerts[{i}].labels.service"), "is required (or a job label)")
                    })?;
                // Severity labels are free-form in Prometheus rules; refusing the group
                // would make Alertmanager retry it forever and lose its other alerts.
                // An unknown one counts as medium; the label itself is kept.
                let severity = match a.labels.get("severity") {
                    None => Severity::Medium,
                    Some(s) => Severity::from_label(s).unwrap_or_else(|| {
                        tracing::warn!(severity = %s, alert = i, "unknown alertmanager severity label; taken as medium");
                        Severity::Medium
                    }),
                };
                if a.fingerprint.is_empty() {
                    return Err(ValidationError::new(format!("alerts[{i}].fingerprint"), "must not be empty"));
                }
                let message = a
                    .annotations
                    .get("summary")
                    .or_else(|| a.annotations.get("description"))
                    .or_else(|| a.labels.get("alertname"))
                    .cloned()
                    .unwrap_or_else(|| "alert".to_string());
                // Alertmanager sends the zero time while an alert fires.
                let ends_at = a.ends_at.filter(|t| t.timestamp() > 0);
                Ok(Alert {
                    fingerprint: format!("am:{}", a.fingerprint),
                    source: AlertSource::Alertmanager,
                    service,
                    severity,
                    message,
                    status: a.status,
                    labels: a.labels,
                    annotations: a.annotations,
                    starts_at: a.starts_at,
                    ends_at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-03-01T10:00:00Z".parse().expect("time")
    }

    #[test]
    fn generic_alert_parses_and_defaults() {
        let a = parse_generic(&json!({"service": "checkout", "severity": "high", "message": "5xx"}), "", now())
            .expect("valid");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.starts_at, now());
        assert!(a.fingerprint.starts_with("g:"));
    }

    #[test]
    fn generic_alert_errors_name_the_field() {
        let cases = [
            (json!({"severity": "high", "message": "m"}), "service"),
            (json!({"service": "s", "severity": "urgent", "message": "m"}), "severity"),
            (json!({"service": "s", "severity": "high"}), "message"),
            (json!({"service": "s", "severity": "high", "message": 3}), "message"),
            (json!({"service": "s", "severity": "high", "message": "m", "labels": {"a": 1}}), "labels.a"),
            (json!({"service": "s", "severity": "high", "message": "m", "timestamp": "yesterday"}), "timestamp"),
            (json!({"service": "", "severity": "high", "message": "m"}), "service"),
        ];
        for (body, field) in cases {
            let err = parse_generic(&body, "", now()).expect_err("invalid");
            assert_eq!(err.field, field, "{body}");
        }
        let err = parse_generic_body(&json!([{"service": "s", "severity": "low", "message": "m"}, {"service": "s"}]), now())
            .expect_err("second invalid");
        assert_eq!(err.field, "[1].severity");
    }

    #[test]
    fn same_alert_same_fingerprint_labels_matter() {
        let a = parse_generic(&json!({"service": "s", "severity": "high", "message": "m"}), "", now()).expect("ok");
        let b = parse_generic(&json!({"service": "s", "severity": "critical", "message": "m"}), "", now()).expect("ok");
        let c = parse_generic(&json!({"service": "s", "severity": "high", "message": "m", "labels": {"pod": "p1"}}), "", now())
            .expect("ok");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }

    #[test]
    fn alertmanager_payload_normalises() {
        let body = json!({
            "version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "inquest", "groupLabels": {"alertname": "X"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am", "alerts": [
                {"status": "firing", "labels": {"alertname": "X", "service": "checkout", "severity": "warning"},
                 "annotations": {"summary": "latency high"}, "startsAt": "2026-03-01T09:59:00Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "abc123"},
                {"status": "resolved", "labels": {"alertname": "Y", "job": "cart"},
                 "startsAt": "2026-03-01T09:00:00Z", "endsAt": "2026-03-01T09:30:00Z", "fingerprint": "def"}
            ]
        });
        let p = parse_alertmanager(body.to_string().as_bytes()).expect("valid");
        let alerts = p.into_alerts().expect("alerts");
        assert_eq!(alerts[0].service, "checkout");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(alerts[0].message, "latency high");
        assert_eq!(alerts[0].ends_at, None);
        assert_eq!(alerts[1].service, "cart");
        assert_eq!(alerts[1].status, AlertStatus::Resolved);
        assert!(alerts[1].ends_at.is_some());
        // A severity label no mapping knows is medium, and the label is kept.
        let odd = body.to_string().replace("\"warning\"", "\"sev2-maybe\"");
        let alerts = parse_alertmanager(odd.as_bytes()).expect("valid").into_alerts().expect("alerts");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(alerts[0].labels["severity"], "sev2-maybe");
    }

    #[test]
    fn alertmanager_errors_name_the_field() {
        let bad = json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-03-01T09:59:00Z"}]});
        let err = parse_alertmanager(bad.to_string().as_bytes()).expect_err("no fingerprint");
        assert!(err.field.starts_with("alerts[0]"), "{err}");
        assert!(err.message.contains("fingerprint"), "{err}");
        let bad = json!({"version": "4", "status": "sleeping", "alerts": []});
        assert_eq!(parse_alertmanager(bad.to_string().as_bytes()).expect_err("status").field, "status");
        let bad = json!({"version": "3", "status": "firing", "alerts": []});
        assert_eq!(parse_alertmanager(bad.to_string().as_bytes()).expect_err("version").field, "version");
        let no_service = json!({"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "X"},
            "startsAt": "2026-03-01T09:59:00Z", "fingerprint": "f"}]});
        let err = parse_alertmanager(no_service.to_string().as_bytes()).expect("parses").into_alerts().expect_err("service");
        assert_eq!(err.field, "alerts[0].labels.service");
    }
}
