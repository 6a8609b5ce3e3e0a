//! The incident lifecycle: `open -> triaged (acknowledged) -> resolved`, and
//! `suppressed`; transitions are checked, timed, and give MTTA and MTTR.

use std::collections::BTreeSet;

use inquest_domain::{
    Decision, DecisionId, Incident, IncidentDecision, IncidentId, IncidentStatus, ServiceId, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::model::Severity;

/// What an operator (or the policy) asks of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Also accepted as `acknowledge`: open -> triaged.
    #[serde(alias = "acknowledge", alias = "ack")]
    Triage,
    /// open|triaged -> resolved.
    Resolve,
    /// open|triaged -> suppressed.
    Suppress,
    /// suppressed|resolved -> open.
    Reopen,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Triage => "triage",
            Action::Resolve => "resolve",
            Action::Suppress => "suppress",
            Action::Reopen => "reopen",
        }
    }
}

/// A decision made outside correlation: an assignment, an escalation, a response
/// policy's action. Its id derives from the incident, the kind and `key`, so
/// recording the same decision again changes nothing.
pub fn recorded_decision(
    incident: IncidentId,
    decision: Decision,
    key: &str,
    rationale: impl Into<String>,
    policy_version: &str,
    at: Timestamp,
    details: serde_json::Value,
) -> IncidentDecision {
    IncidentDecision {
        decision_id: DecisionId::derived(&["decision", &incident.to_string(), decision.as_str(), key]),
        incident_id: incident,
        decided_at: at,
        decision,
        rationale: rationale.into(),
        policy_version: policy_version.to_string(),
        details,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} an incident that is {from}")]
pub struct InvalidTransition {
    pub from: IncidentStatus,
    pub action: &'static str,
}

/// The status `action` leads to from `from`, or why it is refused.
pub fn next_status(from: IncidentStatus, action: Action) -> Result<IncidentStatus, InvalidTransition> {
    use IncidentStatus::*;
    let to = match (from, action) {
        (Open, Action::Triage) => Triaged,
        (Open | Triaged, Action::Resolve) => Resolved,
        (Open | Triaged, Action::Suppress) => Suppressed,
        (Suppressed | Resolved, Action::Reopen) => Open,
        _ => return Err(InvalidTransition { from, action: action.as_str() }),
    };
    Ok(to)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: IncidentStatus,
    pub to: IncidentStatus,
    pub at: Timestamp,
    pub actor: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub at: Timestamp,
    pub author: String,
    pub text: String,
}

/// Everything Inquest's intake knows about one incident. The `incidents` row the
/// investigation reads is derived from it (`to_incident`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    pub incident_id: IncidentId,
    pub service: String,
    pub service_id: ServiceId,
    pub status: IncidentStatus,
    pub severity: Severity,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub first_alert_at: Timestamp,
    pub last_alert_at: Timestamp,
    /// Alert rows attached (a repeat of a fingerprint is not a new row).
    pub alert_count: u32,
    /// Fingerprints currently firing.
    pub firing: BTreeSet<String>,
    /// Arrival times of qualifying alerts (at or above the minimum severity), newest last.
    pub qualifying_times: Vec<Timestamp>,
    pub approved: bool,
    pub job_id: Option<uuid::Uuid>,
    pub transitions: Vec<Transition>,
    pub notes: Vec<Note>,
    /// Every decision on the incident, oldest first, when read from a store. Inside
    /// correlation a store may pass only the decisions not stored yet: decision ids
    /// do not depend on the earlier ones.
    pub decisions: Vec<IncidentDecision>,
    pub resolution_kind: Option<String>,
    pub resolution_summary: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

impl IncidentState {
    /// A new incident of `service` with no alert, transition, note or decision yet.
    pub fn new(service: &str, status: IncidentStatus, severity: Severity, at: Timestamp) -> IncidentState {
        IncidentState {
            incident_id: IncidentId::new_random(),
            service: service.to_string(),
            service_id: inquest_domain::ServiceId::of_key(&inquest_domain::service_key_of(service)),
            status,
            severity,
            created_at: at,
            updated_at: at,
            first_alert_at: at,
            last_alert_at: at,
            alert_count: 1,
            firing: BTreeSet::new(),
            qualifying_times: vec![],
            approved: false,
            job_id: None,
            transitions: vec![],
            notes: vec![],
            decisions: vec![],
            resolution_kind: None,
            resolution_summary: None,
            resolved_at: None,
        }
    }

    /// The person the incident is assigned to: the `person` of its latest
    /// `assigned` decision.
    pub fn assignee(&self) -> Option<String> {
        self.decisions
            .iter()
            .rev()
            .find(|d| d.decision == Decision::Assigned)
            .and_then(|d| d.details.get("person")?.as_str().map(str::to_string))
    }

    /// Apply `action`, recording the transition; refused transitions change nothing.
    pub fn apply(
        &mut self,
        action: Action,
        actor: &str,
        reason: Option<String>,
        at: Timestamp,
    ) -> Result<(), InvalidTransition> {
        let to = next_status(self.status, action)?;
        self.transitions.push(Transition {
            from: self.status,
            to,
            at,
            actor: actor.to_string(),
            reason: reason.clone(),
        });
        self.status = to;
        self.updated_at = at;
        match to {
            IncidentStatus::Resolved => {
                self.resolved_at = Some(at);
                self.resolution_kind =
                    Some(if actor == "alertmanager" { "alerts_resolved".into() } else { "manual".into() });
                self.resolution_summary = reason;
            }
            IncidentStatus::Open => {
                self.resolved_at = None;
                self.resolution_kind = None;
                self.resolution_summary = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Mean time to acknowledge of this incident: creation to first triage.
    pub fn time_to_acknowledge(&self) -> Option<chrono::Duration> {
        self.transitions.iter().find(|t| t.to == IncidentStatus::Triaged).map(|t| t.at - self.created_at)
    }

    /// Time to resolve of a resolved incident: creation to its (latest) resolution;
    /// `None` while it is not resolved, also after a reopening.
    pub fn time_to_resolve(&self) -> Option<chrono::Duration> {
        if self.status != IncidentStatus::Resolved {
            return None;
        }
        self.transitions.iter().rev().find(|t| t.to == IncidentStatus::Resolved).map(|t| t.at - self.created_at)
    }

    /// The MTTR sample (seconds) when the incident has just been resolved for the
    /// first time: each incident counts once in the histogram, as MTTA counts only
    /// the first triage.
    pub fn first_resolution_seconds(&self) -> Option<f64> {
        let resolutions = self.transitions.iter().filter(|t| t.to == IncidentStatus::Resolved).count();
        if resolutions != 1 || self.transitions.last().is_none_or(|t| t.to != IncidentStatus::Resolved) {
            return None;
        }
        self.time_to_resolve().map(|d| d.num_milliseconds() as f64 / 1000.0)
    }

    pub fn is_active(&self) -> bool {
        matches!(self.status, IncidentStatus::Open | IncidentStatus::Triaged | IncidentStatus::Suppressed)
    }

    /// The `incidents` row.
    pub fn to_incident(&self) -> Incident {
        Incident {
            incident_id: self.incident_id,
            service_id: self.service_id,
            status: self.status,
            trigger_type: "alert".into(),
            severity: self.severity.level(),
            window_start: self.first_alert_at,
            window_end: self.last_alert_at.max(self.first_alert_at + chrono::Duration::minutes(1)),
            created_at: self.created_at,
            updated_at: self.updated_at,
            resolved_at: self.resolved_at,
            resolution_kind: self.resolution_kind.clone(),
            resolution_summary: self.resolution_summary.clone(),
            resolved_hypothesis_id: None,
        }
    }
}

/// Mean of a set of durations in seconds (MTTA/MTTR over incidents).
pub fn mean_seconds(durations: impl IntoIterator<Item = chrono::Duration>) -> Option<f64> {
    let v: Vec<f64> = durations.into_iter().map(|d| d.num_milliseconds() as f64 / 1000.0).collect();
    if v.is_empty() { None } else { Some(v.iter().sum::<f64>() / v.len() as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    pub(crate) fn state(at: Timestamp) -> IncidentState {
        IncidentState::new("checkout", IncidentStatus::Open, Severity::High, at)
    }

    #[test]
    fn valid_and_invalid_transitions() {
        use IncidentStatus::*;
        assert_eq!(next_status(Open, Action::Triage), Ok(Triaged));
        assert_eq!(next_status(Triaged, Action::Resolve), Ok(Resolved));
        assert_eq!(next_status(Open, Action::Resolve), Ok(Resolved));
        assert_eq!(next_status(Open, Action::Suppress), Ok(Suppressed));
        assert_eq!(next_status(Suppressed, Action::Reopen), Ok(Open));
        let err = next_status(Resolved, Action::Triage).expect_err("refused");
        assert_eq!(err.to_string(), "cannot triage an incident that is resolved");
        assert!(next_status(Triaged, Action::Triage).is_err());
        assert!(next_status(Suppressed, Action::Resolve).is_err());
        assert!(next_status(Open, Action::Reopen).is_err());
    }

    #[test]
    fn acknowledge_is_an_alias_of_triage() {
        let a: Action = serde_json::from_str("\"acknowledge\"").expect("alias");
        assert_eq!(a, Action::Triage);
    }

    #[test]
    fn mtta_and_mttr_come_from_transition_times() {
        let t0: Timestamp = "2026-03-01T10:00:00Z".parse().expect("time");
        let mut s = state(t0);
        assert_eq!(s.time_to_acknowledge(), None);
        s.apply(Action::Triage, "oncall", None, t0 + Duration::seconds(90)).expect("triage");
        s.apply(Action::Resolve, "oncall", Some("rolled back".into()), t0 + Duration::minutes(30)).expect("resolve");
        assert_eq!(s.time_to_acknowledge(), Some(Duration::seconds(90)));
        assert_eq!(s.time_to_resolve(), Some(Duration::minutes(30)));
        assert_eq!(s.status, IncidentStatus::Resolved);
        assert_eq!(s.resolution_kind.as_deref(), Some("manual"));
        assert_eq!(s.to_incident().resolved_at, Some(t0 + Duration::minutes(30)));
        let before = s.clone();
        assert!(s.apply(Action::Triage, "sre", None, t0 + Duration::hours(1)).is_err());
        assert_eq!(s, before, "a refused transition changes nothing");
        assert_eq!(mean_seconds([Duration::seconds(60), Duration::seconds(120)]), Some(90.0));
        assert_eq!(mean_seconds(Vec::new()), None);
    }

    #[test]
    fn a_reopened_incident_has_no_resolve_time_and_counts_once_in_mttr() {
        let t0: Timestamp = "2026-03-01T10:00:00Z".parse().expect("time");
        let mut s = state(t0);
        s.apply(Action::Resolve, "oncall", None, t0 + Duration::minutes(10)).expect("resolve");
        assert_eq!(s.first_resolution_seconds(), Some(600.0));
        s.apply(Action::Reopen, "oncall", None, t0 + Duration::minutes(20)).expect("reopen");
        assert_eq!(s.time_to_resolve(), None, "open again: not resolved");
        assert_eq!(s.first_resolution_seconds(), None);
        s.apply(Action::Resolve, "oncall", None, t0 + Duration::minutes(60)).expect("resolve again");
        assert_eq!(s.time_to_resolve(), Some(Duration::minutes(60)));
        assert_eq!(s.first_resolution_seconds(), None, "the second resolution is not a new MTTR sample");
    }
}
