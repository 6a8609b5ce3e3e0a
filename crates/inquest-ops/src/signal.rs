//! The signals SLOs and invariants raise into the alert intake: an alert of source
//! `slo` or `invariant` when one starts burning or failing, and its `resolved` when it
//! recovers, so it opens or joins an incident and resolves like Alertmanager's. A
//! state without data (`no_data`, `error`) neither raises nor resolves.

use std::collections::BTreeMap;

use inquest_domain::Timestamp;
use inquest_intake::model::{Alert, AlertSource, AlertStatus, Severity};

use crate::model::*;

/// The alert identity of an SLO: repeats and its resolution share it.
pub fn slo_fingerprint(slo: &Slo) -> String {
    format!("slo:{}", slo.slo_id)
}

pub fn invariant_fingerprint(inv: &Invariant) -> String {
    format!("invariant:{}", inv.invariant_id)
}

/// What the intake should hear after an evaluation: `Some(true)` raise, `Some(false)`
/// resolve, `None` nothing new. `now` is the new state as a signal (`None`: unknown).
pub fn transition(signalled: bool, now: Option<bool>) -> Option<bool> {
    match now {
        Some(firing) if firing != signalled => Some(firing),
        _ => None,
    }
}

fn round(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.4}") }
}

/// The alert for an SLO's new status, if its signal changes.
pub fn slo_alert(slo: &Slo, status: &SloStatus, signalled: bool, now: Timestamp) -> Option<Alert> {
    let firing = match status.state {
        SloState::Burning => Some(true),
        SloState::Ok => Some(false),
        SloState::NoData | SloState::Error => None,
    };
    let raise = transition(signalled, firing)?;
    let spec = &slo.spec;
    let worst = status.conditions.iter().filter(|c| c.firing).map(|c| c.threshold.severity).min();
    let mut labels = BTreeMap::from([
        ("alertname".to_string(), "SloBurnRate".to_string()),
        ("slo".to_string(), spec.name.clone()),
        ("slo_id".to_string(), slo.slo_id.to_string()),
        ("service".to_string(), spec.metric_query.service().to_string()),
    ]);
    let mut annotations = BTreeMap::from([("summary".to_string(), format!("SLO {}: {}", spec.name, status.message))]);
    if let Some(left) = status.budget_remaining {
        annotations.insert("budget_remaining".into(), round(left));
    }
    for c in status.conditions.iter().filter(|c| c.firing) {
        let key = format!("burn_{}_{}", c.threshold.long_window_minutes, c.threshold.short_window_minutes);
        let (l, s) = (c.long_burn.unwrap_or_default(), c.short_burn.unwrap_or_default());
        annotations.insert(key, format!("{} / {} (above {})", round(l), round(s), c.threshold.factor));
    }
    labels.insert("target".into(), spec.target.to_string());
    Some(Alert {
        fingerprint: slo_fingerprint(slo),
        source: AlertSource::Slo,
        service: spec.metric_query.service().to_string(),
        severity: worst.unwrap_or(Severity::High),
        message: format!("SLO {}: {}", spec.name, status.message),
        status: if raise { AlertStatus::Firing } else { AlertStatus::Resolved },
        labels,
        annotations,
        starts_at: now,
        ends_at: (!raise).then_some(now),
    })
}

/// The alert for an invariant's new result, if its signal changes.
pub fn invariant_alert(inv: &Invariant, result: &InvariantResult, signalled: bool, now: Timestamp) -> Option<Alert> {
    let failing = match result.state {
        CheckState::Fail => Some(true),
        CheckState::Pass => Some(false),
        CheckState::NoData | CheckState::Error => None,
    };
    let raise = transition(signalled, failing)?;
    let spec = &inv.spec;
    let labels = BTreeMap::from([
        ("alertname".to_string(), "InvariantFailed".to_string()),
        ("invariant".to_string(), spec.name.clone()),
        ("invariant_id".to_string(), inv.invariant_id.to_string()),
        ("service".to_string(), spec.query.service.clone()),
        ("metric".to_string(), spec.query.metric.clone()),
    ]);
    let message = format!("invariant {}: {}", spec.name, result.message);
    let mut annotations = BTreeMap::from([("summary".to_string(), message.clone())]);
    if let Some(v) = result.value {
        annotations.insert("value".into(), round(v));
    }
    Some(Alert {
        fingerprint: invariant_fingerprint(inv),
        source: AlertSource::Invariant,
        service: spec.query.service.clone(),
        severity: spec.severity,
        message,
        status: if raise { AlertStatus::Firing } else { AlertStatus::Resolved },
        labels,
        annotations,
        starts_at: now,
        ends_at: (!raise).then_some(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_signalled() {
        assert_eq!(transition(false, Some(true)), Some(true));
        assert_eq!(transition(true, Some(true)), None);
        assert_eq!(transition(true, Some(false)), Some(false));
        assert_eq!(transition(false, Some(false)), None);
        assert_eq!(transition(true, None), None, "a gap does not resolve");
    }
}
