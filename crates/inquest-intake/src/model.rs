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
    /// Raised by the PromQL poller's anomaly detector (and resolved by it on recovery).
    Anomaly,
    /// Raised by an SLO burning its error budget (and resolved when it stops).
    Slo,
    /// Raised by a failing invariant (and resolved when it passes again).
    Invariant,
}

impl AlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Generic => "generic",
            AlertSource::Alertmanager => "alertmanager",
            AlertSource::Anomaly => "anomaly",
            AlertSource::Slo => "slo",
            AlertSource::Invariant => "invariant",
        }
    }

    /// True for the senders that say when an alert stopped firing (Alertmanager, the
    /// anomaly detector, SLOs and invariants): their `resolved` may resolve the incident.
    pub fn tracks_recovery(self) -> bool {
        matches!(self, AlertSource::Alertmanager | AlertSource::Anomaly | AlertSource::Slo | AlertSource::Invariant)
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

impl ValidationError {
    /// A small, closed name for what was wrong, for the `reason` label of
    /// `inquest_alerts_rejected_total` (the field's name without position or label key).
    pub fn reason(&self) -> &'static str {
        reason_of(&self.field)
    }
}

/// Every `reason` a refused alert is counted under.
pub const REJECT_REASONS: [&str; 16] = [
    "body",
    "version",
    "status",
    "alerts",
    "alert",
    "service",
    "severity",
    "message",
    "labels",
    "annotations",
    "timestamp",
    "fingerprint",
    "startsAt",
    "endsAt",
    "other",
    // Passed validation, refused by the store as invalid input.
    "store",
];

fn reason_of(field: &str) -> &'static str {
    // Drop the alert's position (`[3].`, `alerts[0].`); a bare position is the alert itself.
    let rest = if field.starts_with('[') || field.starts_with("alerts[") {
        match field.split_once("].") {
            Some((_, rest)) => rest,
            None => return "alert",
        }
    } else {
        field
    };
    let mut segments = rest.split('.');
    let first = segments.next().unwrap_or_default();
    if first == "labels" && matches!(segments.next(), Some("service" | "job")) {
        return "service";
    }
    REJECT_REASONS.into_iter().find(|r| *r == first).unwrap_or("other")
}

/// Longest service name. Services and fingerprints are indexed, and a PostgreSQL
/// btree entry cannot exceed about 2.7 kB.
pub const MAX_SERVICE_BYTES: usize = 256;
/// Longest fingerprint, as sent (Alertmanager's are 16 hex digits).
pub const MAX_FINGERPRINT_BYTES: usize = 256;
/// Longest label or annotation name, and longest label value.
pub const MAX_LABEL_BYTES: usize = 1024;
/// Longest message, and longest annotation value (the `summary` annotation becomes
/// an Alertmanager alert's message).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Refuse what no store can hold: a NUL character (PostgreSQL `text` and `jsonb`
/// reject it) or more than `max` bytes.
fn check_text(field: &str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.contains('\0') {
        return Err(ValidationError::new(field, "must not contain a NUL character"));
    }
    if s.len() > max {
        return Err(ValidationError::new(field, format!("is {} bytes long, at most {max} are allowed", s.len())));
    }
    Ok(())
}

/// `check_text` on every key and value of a map. A bad key is named by the map
/// (the key itself may be unprintable or huge).
fn check_map(field: &str, map: &BTreeMap<String, String>, max_value: usize) -> Result<(), ValidationError> {
    for (k, v) in map {
        check_text(field, k, MAX_LABEL_BYTES)
            .map_err(|e| ValidationError::new(field, format!("a key {}", e.message)))?;
        check_text(&format!("{field}.{k}"), v, max_value)?;
    }
    Ok(())
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
    check_text(&prefixed(prefix, "service"), &service, MAX_SERVICE_BYTES)?;
    let severity_text = required_string(obj, prefix, "severity")?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        ValidationError::new(
            prefixed(prefix, "severity"),
            format!("'{severity_text}' is not one of critical, high, medium, low"),
        )
    })?;
    let message = required_string(obj, prefix, "message")?;
    check_text(&prefixed(prefix, "message"), &message, MAX_MESSAGE_BYTES)?;
    let labels = string_map(obj.get("labels"), &prefixed(prefix, "labels"))?;
    check_map(&prefixed(prefix, "labels"), &labels, MAX_LABEL_BYTES)?;
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
        Some(Value::String(s)) if !s.is_empty() => {
            check_text(&prefixed(prefix, "fingerprint"), s, MAX_FINGERPRINT_BYTES)?;
            s.clone()
        }
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

/// The Alertmanager webhook payload, `version: "4"`. Its alerts stay JSON here:
/// each is read on its own by `into_alerts`, so one bad alert does not refuse its
/// group (Alertmanager does not retry a 4xx, the group's other alerts would be lost).
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
    pub alerts: Vec<Value>,
}

/// One alert of the webhook. What is required is checked by `into_alerts`, so that
/// the error names the field rather than the alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerAlert {
    #[serde(default)]
    pub status: Option<AlertStatus>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    /// Absent or empty: computed from the labels, as Alertmanager does.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// An alert of a webhook group that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedAlert {
    /// Position in the payload's `alerts`.
    pub index: usize,
    pub field: String,
    pub message: String,
}

impl SkippedAlert {
    /// See `ValidationError::reason`.
    pub fn reason(&self) -> &'static str {
        reason_of(&self.field)
    }
}

/// A webhook group, normalised: the alerts that can be stored with their position in
/// the payload's `alerts`, and those skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerGroup {
    pub accepted: Vec<(usize, Alert)>,
    pub skipped: Vec<SkippedAlert>,
}

/// Deserialize an Alertmanager payload; the error names the failing field's path.
/// Only the envelope is checked here (JSON, `version`, `status`, `alerts` an array).
pub fn parse_alertmanager(body: &[u8]) -> Result<AlertmanagerPayload, ValidationError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let payload: AlertmanagerPayload = serde_path_to_error::deserialize(de).map_err(|e| {
        if e.inner().is_syntax() || e.inner().is_eof() {
            return ValidationError::new("body", format!("not JSON: {}", e.inner()));
        }
        let path = e.path().to_string();
        ValidationError::new(if path == "." { "body".to_string() } else { path }, e.inner().to_string())
    })?;
    if payload.version != "4" {
        return Err(ValidationError::new(
            "version",
            format!("unsupported webhook version '{}', expected '4'", payload.version),
        ));
    }
    Ok(payload)
}

/// Alertmanager's fingerprint of a label set (Prometheus `labelSetToFingerprint`):
/// FNV-1a 64 over the sorted names and values, each followed by 0xff, as 16 hex digits.
pub fn label_set_fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    // A BTreeMap iterates in byte order, as Go sorts label names.
    for (k, v) in labels {
        add(k.as_bytes());
        add(v.as_bytes());
    }
    format!("{h:016x}")
}

impl AlertmanagerPayload {
    /// Normalise every alert of the group; an alert that cannot be taken is skipped,
    /// naming its field. The service comes from the `service` label (absent or empty:
    /// `job`); severity from the `severity` label (absent or unknown: medium).
    pub fn into_alerts(self) -> AlertmanagerGroup {
        let mut group = AlertmanagerGroup { accepted: Vec::new(), skipped: Vec::new() };
        for (i, value) in self.alerts.iter().enumerate() {
            match alertmanager_alert(value, &format!("alerts[{i}]")) {
                Ok(alert) => group.accepted.push((i, alert)),
                Err(e) => group.skipped.push(SkippedAlert { index: i, field: e.field, message: e.message }),
            }
        }
        group
    }
}

fn alertmanager_alert(value: &Value, prefix: &str) -> Result<Alert, ValidationError> {
    if !value.is_object() {
        return Err(ValidationError::new(prefix, "must be a JSON object"));
    }
    let a: AlertmanagerAlert = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ValidationError::new(
            if path == "." { prefix.to_string() } else { prefixed(prefix, &path) },
            e.inner().to_string(),
        )
    })?;
    let status = a.status.ok_or_else(|| ValidationError::new(prefixed(prefix, "status"), "is required"))?;
    let starts_at = a.starts_at.ok_or_else(|| ValidationError::new(prefixed(prefix, "startsAt"), "is required"))?;
    check_map(&prefixed(prefix, "labels"), &a.labels, MAX_LABEL_BYTES)?;
    check_map(&prefixed(prefix, "annotations"), &a.annotations, MAX_MESSAGE_BYTES)?;
    // An empty `service` label is no service: fall back to `job`.
    let (service_label, service) = ["service", "job"]
        .into_iter()
        .find_map(|k| a.labels.get(k).filter(|s| !s.trim().is_empty()).map(|s| (k, s.clone())))
        .ok_or_else(|| ValidationError::new(prefixed(prefix, "labels.service"), "is required (or a job label)"))?;
    check_text(&prefixed(prefix, &format!("labels.{service_label}")), &service, MAX_SERVICE_BYTES)?;
    // Severity labels are free-form in Prometheus rules; an unknown one counts as
    // medium and the label itself is kept.
    let severity = match a.labels.get("severity") {
        None => Severity::Medium,
        Some(s) => Severity::from_label(s).unwrap_or_else(|| {
            tracing::warn!(severity = %s, alert = prefix, "unknown alertmanager severity label; taken as medium");
            Severity::Medium
        }),
    };
    let fingerprint = match a.fingerprint.filter(|f| !f.is_empty()) {
        Some(f) => {
            check_text(&prefixed(prefix, "fingerprint"), &f, MAX_FINGERPRINT_BYTES)?;
            f
        }
        None => label_set_fingerprint(&a.labels),
    };
    // Bounded by the annotation and label limits, both within MAX_MESSAGE_BYTES.
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
        fingerprint: format!("am:{fingerprint}"),
        source: AlertSource::Alertmanager,
        service,
        severity,
        message,
        status,
        labels: a.labels,
        annotations: a.annotations,
        starts_at,
        ends_at,
    })
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
        let err =
            parse_generic_body(&json!([{"service": "s", "severity": "low", "message": "m"}, {"service": "s"}]), now())
                .expect_err("second invalid");
        assert_eq!(err.field, "[1].severity");
    }

    #[test]
    fn same_alert_same_fingerprint_labels_matter() {
        let a = parse_generic(&json!({"service": "s", "severity": "high", "message": "m"}), "", now()).expect("ok");
        let b = parse_generic(&json!({"service": "s", "severity": "critical", "message": "m"}), "", now()).expect("ok");
        let c = parse_generic(
            &json!({"service": "s", "severity": "high", "message": "m", "labels": {"pod": "p1"}}),
            "",
            now(),
        )
        .expect("ok");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }

    #[test]
    fn generic_alert_refuses_what_no_store_can_hold() {
        let long = |n: usize| "x".repeat(n);
        let ok = json!({"service": long(MAX_SERVICE_BYTES), "severity": "high", "message": long(MAX_MESSAGE_BYTES),
            "fingerprint": long(MAX_FINGERPRINT_BYTES), "labels": {long(MAX_LABEL_BYTES): long(MAX_LABEL_BYTES)}});
        parse_generic(&ok, "", now()).expect("at the limits");
        let base = || json!({"service": "s", "severity": "high", "message": "m"});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        let cases = [
            (with("message", json!("a\u{0}b")), "message", "NUL"),
            (with("service", json!("s\u{0}")), "service", "NUL"),
            (with("fingerprint", json!("\u{0}")), "fingerprint", "NUL"),
            (with("labels", json!({"pod": "p\u{0}"})), "labels.pod", "NUL"),
            (with("labels", json!({"p\u{0}d": "p"})), "labels", "NUL"),
            (with("service", json!(long(3000))), "service", "at most 256"),
            (with("fingerprint", json!(long(3000))), "fingerprint", "at most 256"),
            (with("message", json!(long(MAX_MESSAGE_BYTES + 1))), "message", "at most 16384"),
            (with("labels", json!({"pod": long(MAX_LABEL_BYTES + 1)})), "labels.pod", "at most 1024"),
            (with("labels", json!({long(MAX_LABEL_BYTES + 1): "p"})), "labels", "a key is"),
        ];
        for (body, field, message) in cases {
            let err = parse_generic(&body, "", now()).expect_err("refused");
            assert_eq!(err.field, field, "{err}");
            assert!(err.message.contains(message), "{err}");
        }
        // A multibyte character counts in bytes.
        let err = parse_generic(&with("service", json!("é".repeat(129))), "", now()).expect_err("258 bytes");
        assert_eq!(err.field, "service");
        let err = parse_generic_body(&json!([base(), with("message", json!("\u{0}"))]), now()).expect_err("second");
        assert_eq!(err.field, "[1].message");
    }

    fn webhook(alerts: Value) -> Vec<u8> {
        json!({
            "version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "inquest", "groupLabels": {"alertname": "X"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am", "alerts": alerts
        })
        .to_string()
        .into_bytes()
    }

    fn group(alerts: Value) -> AlertmanagerGroup {
        parse_alertmanager(&webhook(alerts)).expect("valid envelope").into_alerts()
    }

    fn firing(labels: Value) -> Value {
        json!({"status": "firing", "labels": labels, "startsAt": "2026-03-01T09:59:00Z", "fingerprint": "f1"})
    }

    #[test]
    fn alertmanager_payload_normalises() {
        let alerts = json!([
            {"status": "firing", "labels": {"alertname": "X", "service": "checkout", "severity": "warning"},
             "annotations": {"summary": "latency high"}, "startsAt": "2026-03-01T09:59:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "abc123"},
            {"status": "resolved", "labels": {"alertname": "Y", "job": "cart"},
             "startsAt": "2026-03-01T09:00:00Z", "endsAt": "2026-03-01T09:30:00Z", "fingerprint": "def"}
        ]);
        let g = group(alerts.clone());
        assert_eq!(g.skipped, vec![]);
        let alerts_of = |g: AlertmanagerGroup| g.accepted.into_iter().map(|(_, a)| a).collect::<Vec<_>>();
        let alerts = alerts_of(g);
        assert_eq!(alerts[0].fingerprint, "am:abc123");
        assert_eq!(alerts[0].service, "checkout");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(alerts[0].message, "latency high");
        assert_eq!(alerts[0].ends_at, None);
        assert_eq!(alerts[1].service, "cart");
        assert_eq!(alerts[1].status, AlertStatus::Resolved);
        assert!(alerts[1].ends_at.is_some());
        // A severity label no mapping knows is medium, and the label is kept.
        let odd = String::from_utf8(webhook(json!([firing(json!({"service": "s", "severity": "sev2-maybe"}))])))
            .expect("utf-8");
        let alerts = alerts_of(parse_alertmanager(odd.as_bytes()).expect("valid").into_alerts());
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(alerts[0].labels["severity"], "sev2-maybe");
    }

    #[test]
    fn alertmanager_envelope_errors_name_the_field() {
        let field = |body: &[u8]| parse_alertmanager(body).expect_err("invalid envelope").field;
        assert_eq!(field(b"{not json"), "body");
        assert_eq!(field(json!({"version": "4", "status": "firing"}).to_string().as_bytes()), "body");
        assert_eq!(field(json!({"version": "4", "status": "sleeping", "alerts": []}).to_string().as_bytes()), "status");
        assert_eq!(field(json!({"version": "3", "status": "firing", "alerts": []}).to_string().as_bytes()), "version");
        assert_eq!(field(json!({"version": "4", "status": "firing", "alerts": {}}).to_string().as_bytes()), "alerts");
        let err = parse_alertmanager(json!({"version": "4", "status": "firing", "alerts": 3}).to_string().as_bytes())
            .expect_err("alerts not an array");
        assert_eq!(err.reason(), "alerts");
    }

    #[test]
    fn alertmanager_bad_alerts_are_skipped_and_the_rest_kept() {
        let g = group(json!([
            // Alertmanager's always-firing Watchdog has neither a service nor a job label.
            firing(json!({"alertname": "Watchdog", "severity": "none"})),
            firing(json!({"alertname": "A", "service": "checkout"})),
            {"status": "firing", "labels": {"service": "s"}, "annotations": {"summary": "a\u{0}b"},
             "startsAt": "2026-03-01T09:59:00Z", "fingerprint": "f"},
            {"status": "firing", "labels": {"service": "s"}, "startsAt": "2026-03-01T09:59:00Z", "fingerprint": "f".repeat(3000)},
            firing(json!({"service": "x".repeat(3000)})),
            "not an alert",
            {"status": "firing", "labels": {"service": "s"}, "startsAt": "yesterday"},
            {"status": "firing", "labels": {"service": "s", "pod": 3}, "startsAt": "2026-03-01T09:59:00Z"},
            {"labels": {"service": "s"}, "startsAt": "2026-03-01T09:59:00Z"},
            firing(json!({"alertname": "B", "job": "cart"})),
        ]));
        let accepted: Vec<(usize, &str)> = g.accepted.iter().map(|(i, a)| (*i, a.service.as_str())).collect();
        assert_eq!(accepted, vec![(1, "checkout"), (9, "cart")]);
        let skipped: Vec<(usize, &str, &str)> =
            g.skipped.iter().map(|s| (s.index, s.field.as_str(), s.reason())).collect();
        assert_eq!(
            skipped,
            vec![
                (0, "alerts[0].labels.service", "service"),
                (2, "alerts[2].annotations.summary", "annotations"),
                (3, "alerts[3].fingerprint", "fingerprint"),
                (4, "alerts[4].labels.service", "service"),
                (5, "alerts[5]", "alert"),
                (6, "alerts[6].startsAt", "startsAt"),
                (7, "alerts[7].labels.pod", "labels"),
                (8, "alerts[8].status", "status"),
            ]
        );
        // A 1 kB service label is within the label limit but not the service limit.
        let g = group(json!([firing(json!({"service": "x".repeat(1000)}))]));
        assert_eq!(g.skipped[0].field, "alerts[0].labels.service");
        assert!(g.skipped[0].message.contains("at most 256"), "{:?}", g.skipped);
        // A group in which nothing can be taken is still a group.
        let g = group(json!([firing(json!({"alertname": "Watchdog"}))]));
        assert!(g.accepted.is_empty());
        assert_eq!(g.skipped.len(), 1);
    }

    #[test]
    fn alertmanager_empty_service_label_falls_back_to_job() {
        let g =
            group(json!([firing(json!({"service": "", "job": "cart"})), firing(json!({"service": " ", "job": ""}))]));
        assert_eq!(g.accepted.len(), 1, "{:?}", g.skipped);
        assert_eq!(g.accepted[0].1.service, "cart");
        assert_eq!(g.accepted[0].1.labels["service"], "", "the labels are kept as sent");
        assert_eq!(g.skipped[0].field, "alerts[1].labels.service");
        // The service limit names the label the service came from.
        let g = group(json!([firing(json!({"service": "", "job": "j".repeat(300)}))]));
        assert_eq!(g.skipped[0].field, "alerts[0].labels.job");
    }

    #[test]
    fn alertmanager_missing_fingerprint_is_the_label_set_fingerprint() {
        // Prometheus' own vectors (common/model signature_test.go).
        assert_eq!(label_set_fingerprint(&BTreeMap::new()), format!("{:016x}", 14_695_981_039_346_656_037_u64));
        let labels: BTreeMap<String, String> = [("name", "garland, briggs"), ("fear", "love is not enough")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        assert_eq!(label_set_fingerprint(&labels), format!("{:016x}", 5_799_056_148_416_392_346_u64));

        let labels = json!({"alertname": "X", "service": "checkout"});
        let without = json!({"status": "firing", "labels": labels, "startsAt": "2026-03-01T09:59:00Z"});
        let empty =
            json!({"status": "firing", "labels": labels, "startsAt": "2026-03-01T09:59:00Z", "fingerprint": ""});
        let g = group(json!([without, empty]));
        assert_eq!(g.skipped, vec![]);
        let computed = &g.accepted[0].1.fingerprint;
        assert_eq!(computed, &g.accepted[1].1.fingerprint);
        let hex = computed.strip_prefix("am:").expect("am: prefix");
        assert_eq!(hex.len(), 16);
        // The same alert sent with Alertmanager's fingerprint has the same identity.
        let sent =
            json!({"status": "firing", "labels": labels, "startsAt": "2026-03-01T09:59:00Z", "fingerprint": hex});
        assert_eq!(&group(json!([sent])).accepted[0].1.fingerprint, computed);
        let other = group(
            json!([{"status": "firing", "labels": {"alertname": "Y", "service": "checkout"}, "startsAt": "2026-03-01T09:59:00Z"}]),
        );
        assert_ne!(&other.accepted[0].1.fingerprint, computed);
    }

    #[test]
    fn rejection_reasons_are_a_closed_set() {
        let cases = [
            ("body", "body"),
            ("version", "version"),
            ("[3].severity", "severity"),
            ("[3]", "alert"),
            ("labels.some-user-key", "labels"),
            ("[0].labels.a].b", "labels"),
            ("alerts[0].labels.service", "service"),
            ("alerts[0].labels.job", "service"),
            ("alerts[12].annotations.summary", "annotations"),
            ("alerts[0]", "alert"),
            ("alerts", "alerts"),
            ("alerts[0].generatorURL", "other"),
            ("something.else", "other"),
        ];
        for (field, reason) in cases {
            assert_eq!(ValidationError::new(field, "m").reason(), reason, "{field}");
            assert!(REJECT_REASONS.contains(&reason));
        }
    }
}
