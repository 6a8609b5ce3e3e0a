//! The triage policy: a small TOML file deciding what is correlated, suppressed
//! and approved for investigation. Its version is the hash of the file's content.

use chrono::Duration;
use inquest_domain::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::Severity;

/// The policy used when no file is given (`[intake] policy_file` overrides it).
pub const DEFAULT_POLICY: &str = r#"# Inquest triage policy.
# Alerts below this severity open suppressed incidents (not investigated).
min_severity = "high"
# Alerts of the same service within this many minutes of the incident's last alert attach to it.
correlation_window_minutes = 15
# An Alertmanager "resolved" resolves the incident once none of its alerts fire.
resolve_on_alertmanager_resolved = true

# Approve an incident for investigation once it has this many alerts
# (at or above min_severity) within this many minutes.
[approve]
alerts = 2
within_minutes = 10

# Maintenance windows: alerts of the service in [from, until) are suppressed.
# [[maintenance]]
# service = "checkout"
# from = "2026-01-01T00:00:00Z"
# until = "2026-01-01T02:00:00Z"
"#;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy file {path}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid policy")]
    Parse(#[from] toml::de::Error),
    #[error("invalid policy: {field}: {message}")]
    Invalid { field: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    min_severity: Severity,
    correlation_window_minutes: u32,
    #[serde(default)]
    resolve_on_alertmanager_resolved: bool,
    approve: ApproveRule,
    #[serde(default)]
    maintenance: Vec<MaintenanceWindow>,
}

/// N alerts in M minutes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRule {
    pub alerts: u32,
    pub within_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub service: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub min_severity: Severity,
    pub correlation_window: Duration,
    pub resolve_on_alertmanager_resolved: bool,
    pub approve: ApproveRule,
    pub maintenance: Vec<MaintenanceWindow>,
    /// `sha256:<first 16 hex of the file's hash>`, recorded on every decision.
    pub version: String,
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let f: PolicyFile = toml::from_str(text)?;
        let invalid =
            |field: &str, message: &str| PolicyError::Invalid { field: field.into(), message: message.into() };
        if f.correlation_window_minutes == 0 {
            return Err(invalid("correlation_window_minutes", "must be at least 1"));
        }
        if f.approve.alerts == 0 {
            return Err(invalid("approve.alerts", "must be at least 1"));
        }
        if f.approve.within_minutes == 0 {
            return Err(invalid("approve.within_minutes", "must be at least 1"));
        }
        if let Some((i, _)) = f.maintenance.iter().enumerate().find(|(_, m)| m.until <= m.from) {
            return Err(invalid(&format!("maintenance[{i}].until"), "must be after from"));
        }
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Policy {
            min_severity: f.min_severity,
            correlation_window: Duration::minutes(i64::from(f.correlation_window_minutes)),
            resolve_on_alertmanager_resolved: f.resolve_on_alertmanager_resolved,
            approve: f.approve,
            maintenance: f.maintenance,
            version: format!("sha256:{}", &digest[..16]),
        })
    }

    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PolicyError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    pub fn default_policy() -> Policy {
        #[allow(clippy::expect_used)]
        Self::parse(DEFAULT_POLICY).expect("the built-in policy parses")
    }

    /// The maintenance window covering `service` at `at`, if any.
    pub fn maintenance_for(&self, service: &str, at: Timestamp) -> Option<&MaintenanceWindow> {
        self.maintenance.iter().find(|m| m.service == service && m.from <= at && at < m.until)
    }

    pub fn approve_window(&self) -> Duration {
        Duration::minutes(i64::from(self.approve.within_minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_parses_and_has_a_content_version() {
        let p = Policy::default_policy();
        assert_eq!(p.min_severity, Severity::High);
        assert_eq!(p.correlation_window, Duration::minutes(15));
        assert!(p.version.starts_with("sha256:"));
        let changed = Policy::parse(&DEFAULT_POLICY.replace("alerts = 2", "alerts = 3")).expect("parses");
        assert_ne!(p.version, changed.version);
        assert_eq!(changed.approve.alerts, 3);
        assert_eq!(Policy::parse(DEFAULT_POLICY).expect("parses").version, p.version);
    }

    #[test]
    fn maintenance_windows_apply_per_service_and_time() {
        let text = format!(
            "{DEFAULT_POLICY}\n[[maintenance]]\nservice = \"checkout\"\nfrom = \"2026-03-01T10:00:00Z\"\nuntil = \"2026-03-01T11:00:00Z\"\n"
        );
        let p = Policy::parse(&text).expect("parses");
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        assert!(p.maintenance_for("checkout", t("2026-03-01T10:30:00Z")).is_some());
        assert!(p.maintenance_for("checkout", t("2026-03-01T11:00:00Z")).is_none());
        assert!(p.maintenance_for("cart", t("2026-03-01T10:30:00Z")).is_none());
    }

    #[test]
    fn invalid_policies_are_refused_naming_the_field() {
        let bad_sev = DEFAULT_POLICY.replace("min_severity = \"high\"", "min_severity = \"urgent\"");
        assert!(matches!(Policy::parse(&bad_sev), Err(PolicyError::Parse(_))));
        let zero = DEFAULT_POLICY.replace("alerts = 2", "alerts = 0");
        let err = Policy::parse(&zero).expect_err("zero");
        assert!(err.to_string().contains("approve.alerts"), "{err}");
        let unknown = format!("{DEFAULT_POLICY}\nsurprise = 1\n");
        assert!(Policy::parse(&unknown).is_err());
        let backwards = format!(
            "{DEFAULT_POLICY}\n[[maintenance]]\nservice = \"c\"\nfrom = \"2026-03-01T11:00:00Z\"\nuntil = \"2026-03-01T10:00:00Z\"\n"
        );
        assert!(Policy::parse(&backwards).expect_err("backwards").to_string().contains("maintenance[0].until"));
    }
}
