//! Correlation, a pure function: given what the store holds for an alert's
//! fingerprint and service, decide whether it updates the alert it repeats,
//! attaches to the open incident, opens a new one, or is suppressed, and whether
//! the incident is now approved for investigation. Every decision is a row.

use inquest_domain::{Decision, DecisionId, IncidentDecision, IncidentId, IncidentStatus, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::lifecycle::{Action, IncidentState};
use crate::model::{Alert, AlertStatus};
use crate::policy::Policy;

/// A stored alert: one row per fingerprint occurrence (per incident).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub alert_id: Uuid,
    pub incident_id: Option<IncidentId>,
    pub alert: Alert,
    pub first_received_at: Timestamp,
    pub last_received_at: Timestamp,
    /// How many times this alert arrived (repeats update the row).
    pub occurrences: u32,
}

/// What the store knows, read inside the transaction that applies the plan.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The alert with the same fingerprint, and its incident.
    pub existing: Option<(StoredAlert, Option<IncidentState>)>,
    /// The service's latest active (open, triaged or suppressed) incident.
    pub active: Option<IncidentState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A repeat of a known alert updated it.
    Deduplicated,
    /// Attached to the service's open incident.
    Attached,
    /// Opened a new incident.
    Opened,
    /// Opened or joined a suppressed incident (maintenance, severity).
    Suppressed,
    /// A resolved alert resolved its incident.
    Resolved,
    /// A resolved notification for an alert that is unknown or whose incident is closed.
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deduplicated => "deduplicated",
            Outcome::Attached => "attached",
            Outcome::Opened => "opened",
            Outcome::Suppressed => "suppressed",
            Outcome::Resolved => "resolved",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The writes one alert leads to; the store applies them in one transaction.
#[derive(Debug, Clone)]
pub struct Plan {
    pub outcome: Outcome,
    pub alert: StoredAlert,
    /// The incident after this alert (new or updated), if any.
    pub incident: Option<IncidentState>,
    /// True when `incident` is new (it becomes the service's active incident).
    pub new_incident: bool,
    /// Set when the incident was approved now: enqueue this investigation job.
    pub enqueue_job: Option<Uuid>,
}

/// The investigation job of an incident (one per incident).
pub fn job_id_of(incident: IncidentId) -> Uuid {
    inquest_domain::derived_uuid(&["investigation-job", &incident.to_string()])
}

/// A decision row. Its id is derived from the incident, the decision and `key` (the
/// alert or job it is about), so correlation never needs the earlier decisions:
/// a store may keep them apart from the incident's state.
fn decision(
    incident: &IncidentState,
    decision: Decision,
    key: &str,
    rationale: String,
    policy: &Policy,
    at: Timestamp,
    details: serde_json::Value,
) -> IncidentDecision {
    IncidentDecision {
        decision_id: DecisionId::derived(&["decision", &incident.incident_id.to_string(), decision.as_str(), key]),
        incident_id: incident.incident_id,
        decided_at: at,
        decision,
        rationale,
        policy_version: policy.version.clone(),
        details,
    }
}

/// The decision row of an operator's lifecycle action that makes a policy decision
/// by hand (suppressing an incident), just after `action` was applied. Its id
/// derives from the transition's position, so each suppression is its own row.
pub fn operator_decision(incident: &IncidentState, action: Action, policy: &Policy) -> Option<IncidentDecision> {
    let t = incident.transitions.last().filter(|_| action == Action::Suppress)?;
    let why = t.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    Some(decision(
        incident,
        Decision::Suppressed,
        &format!("transition/{}", incident.transitions.len()),
        format!("suppressed by {}{why}", t.actor),
        policy,
        t.at,
        json!({"action": "suppress", "by": "operator", "actor": t.actor}),
    ))
}

/// Why the policy suppresses this alert, if it does.
fn suppression(alert: &Alert, policy: &Policy, now: Timestamp) -> Option<String> {
    if let Some(m) = policy.maintenance_for(&alert.service, now) {
        return Some(format!(
            "{} is in maintenance from {} until {}",
            alert.service,
            m.from.to_rfc3339(),
            m.until.to_rfc3339()
        ));
    }
    if !alert.severity.at_least(policy.min_severity) {
        return Some(format!("severity {} is below the minimum {}", alert.severity, policy.min_severity));
    }
    None
}

/// Approve `incident` for investigation when the N-in-M rule holds.
fn maybe_approve(incident: &mut IncidentState, policy: &Policy, now: Timestamp) -> Option<Uuid> {
    if incident.approved || incident.status != IncidentStatus::Open && incident.status != IncidentStatus::Triaged {
        return None;
    }
    if policy.maintenance_for(&incident.service, now).is_some() {
        return None;
    }
    let since = now - policy.approve_window();
    let recent = incident.qualifying_times.iter().filter(|t| **t >= since).count();
    if recent < policy.approve.alerts as usize {
        return None;
    }
    let job = job_id_of(incident.incident_id);
    let d = decision(
        incident,
        Decision::Approved,
        &job.to_string(),
        format!(
            "{recent} alerts at or above {} within {} minutes (rule: {} in {})",
            policy.min_severity, policy.approve.within_minutes, policy.approve.alerts, policy.approve.within_minutes
        ),
        policy,
        now,
        json!({"action": "approve", "job_id": job.to_string()}),
    );
    incident.decisions.push(d);
    incident.approved = true;
    incident.job_id = Some(job);
    Some(job)
}

/// Record a firing or resolved `alert` on `incident`. `counts` says whether it
/// counts toward the approval rule: a new alert does, a repeat only when it now
/// qualifies and did not before (escalated, or firing again after it resolved).
fn note_alert(incident: &mut IncidentState, alert: &Alert, policy: &Policy, now: Timestamp, counts: bool) {
    incident.last_alert_at = incident.last_alert_at.max(now);
    incident.updated_at = now;
    if alert.severity < incident.severity {
        incident.severity = alert.severity;
    }
    if alert.status == AlertStatus::Firing {
        incident.firing.insert(alert.fingerprint.clone());
        if counts && alert.severity.at_least(policy.min_severity) {
            incident.qualifying_times.push(now);
            let keep = 4 * policy.approve.alerts as usize + 16;
            if incident.qualifying_times.len() > keep {
                let drop = incident.qualifying_times.len() - keep;
                incident.qualifying_times.drain(..drop);
            }
        }
    }
}

/// How far before its arrival an alert may place the incident's onset.
pub const MAX_ONSET_LOOKBACK: chrono::Duration = chrono::Duration::hours(6);

/// Decide what `alert`, received at `now`, does.
pub fn correlate(snapshot: Snapshot, alert: Alert, policy: &Policy, now: Timestamp) -> Plan {
    let suppress = suppression(&alert, policy, now);
    // 1. A repeat of a known alert whose incident is still active updates it; but a
    //    firing repeat the policy no longer suppresses (the maintenance ended, the
    //    severity rose) leaves its suppressed incident and is correlated afresh.
    let Snapshot { existing, active } = snapshot;
    if let Some((mut stored, incident)) = existing {
        let escapes = |i: &IncidentState| {
            i.status == IncidentStatus::Suppressed && alert.status == AlertStatus::Firing && suppress.is_none()
        };
        let live = incident.as_ref().is_some_and(|i| i.is_active() && !escapes(i));
        if live || (incident.is_none() && alert.status == AlertStatus::Resolved) {
            let counted =
                stored.alert.status == AlertStatus::Firing && stored.alert.severity.at_least(policy.min_severity);
            stored.occurrences += 1;
            stored.last_received_at = now;
            stored.alert.status = alert.status;
            stored.alert.ends_at = alert.ends_at;
            stored.alert.severity = alert.severity;
            stored.alert.message = alert.message.clone();
            stored.alert.annotations = alert.annotations.clone();
            let Some(mut incident) = incident else {
                return Plan {
                    outcome: Outcome::Ignored,
                    alert: stored,
                    incident: None,
                    new_incident: false,
                    enqueue_job: None,
                };
            };
            let mut outcome = Outcome::Deduplicated;
            match alert.status {
                AlertStatus::Firing => {
                    note_alert(&mut incident, &alert, policy, now, !counted);
                }
                AlertStatus::Resolved => {
                    incident.firing.remove(&alert.fingerprint);
                    incident.updated_at = now;
                    // Resolved when Alertmanager says it ended (`endsAt`), not when the
                    // notification arrived, but never before the incident's last change.
                    let since = incident.transitions.last().map_or(incident.created_at, |t| t.at);
                    let resolved_at = alert.ends_at.map_or(now, |t| t.clamp(since.min(now), now));
                    if policy.resolve_on_alertmanager_resolved
                        && alert.source.tracks_recovery()
                        && incident.firing.is_empty()
                        && matches!(incident.status, IncidentStatus::Open | IncidentStatus::Triaged)
                        && incident
                            .apply(
                                Action::Resolve,
                                alert.source.as_str(),
                                Some("every alert of the incident resolved".into()),
                                resolved_at,
                            )
                            .is_ok()
                    {
                        outcome = Outcome::Resolved;
                    }
                }
            }
            let enqueue_job = maybe_approve(&mut incident, policy, now);
            return Plan { outcome, alert: stored, incident: Some(incident), new_incident: false, enqueue_job };
        }
    }

    let mut stored = StoredAlert {
        alert_id: Uuid::new_v4(),
        incident_id: None,
        alert: alert.clone(),
        first_received_at: now,
        last_received_at: now,
        occurrences: 1,
    };
    // 2. A resolved notification for nothing we track: keep it, open nothing.
    if alert.status == AlertStatus::Resolved {
        return Plan {
            outcome: Outcome::Ignored,
            alert: stored,
            incident: None,
            new_incident: false,
            enqueue_job: None,
        };
    }
    let in_window = |i: &IncidentState| i.is_active() && now - i.last_alert_at <= policy.correlation_window;
    // 3. Same service within the window: attach (a qualifying alert does not join a suppressed incident).
    if let Some(mut incident) = active.filter(|i| in_window(i))
        && (incident.status != IncidentStatus::Suppressed || suppress.is_some())
    {
        stored.incident_id = Some(incident.incident_id);
        let since = (now - incident.last_alert_at).num_seconds();
        note_alert(&mut incident, &alert, policy, now, true);
        incident.alert_count += 1;
        let d = decision(
            &incident,
            Decision::Attached,
            &stored.alert_id.to_string(),
            format!(
                "{} alert for {} {since}s after the incident's last alert, within the {}-minute window",
                alert.severity,
                alert.service,
                policy.correlation_window.num_minutes()
            ),
            policy,
            now,
            json!({"action": "attach", "fingerprint": alert.fingerprint, "alert_id": stored.alert_id.to_string()}),
        );
        incident.decisions.push(d);
        let enqueue_job = maybe_approve(&mut incident, policy, now);
        let outcome =
            if incident.status == IncidentStatus::Suppressed { Outcome::Suppressed } else { Outcome::Attached };
        return Plan { outcome, alert: stored, incident: Some(incident), new_incident: false, enqueue_job };
    }
    // 4. Otherwise a new incident, open or suppressed.
    let status = if suppress.is_some() { IncidentStatus::Suppressed } else { IncidentStatus::Open };
    let mut incident = IncidentState::new(&alert.service, status, alert.severity, now);
    // The onset the investigation looks from: the alert's own start, but not in
    // the future nor further back than `MAX_ONSET_LOOKBACK` (a bogus or very old
    // `startsAt` would make the investigation window enormous).
    incident.first_alert_at = alert.starts_at.clamp(now - MAX_ONSET_LOOKBACK, now);
    stored.incident_id = Some(incident.incident_id);
    note_alert(&mut incident, &alert, policy, now, true);
    let details = json!({"fingerprint": alert.fingerprint, "alert_id": stored.alert_id.to_string()});
    let (outcome, d) = match &suppress {
        Some(why) => (
            Outcome::Suppressed,
            decision(
                &incident,
                Decision::Suppressed,
                &stored.alert_id.to_string(),
                format!("suppressed: {why}"),
                policy,
                now,
                json!({"action": "suppress", "alert": details}),
            ),
        ),
        None => (
            Outcome::Opened,
            decision(
                &incident,
                Decision::Opened,
                &stored.alert_id.to_string(),
                format!(
                    "no active incident for {} within {} minutes: opened a new one",
                    alert.service,
                    policy.correlation_window.num_minutes()
                ),
                policy,
                now,
                json!({"action": "open", "alert": details}),
            ),
        ),
    };
    incident.decisions.push(d);
    let enqueue_job = maybe_approve(&mut incident, policy, now);
    Plan { outcome, alert: stored, incident: Some(incident), new_incident: true, enqueue_job }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertSource, Severity};
    use crate::policy::DEFAULT_POLICY;
    use chrono::Duration;
    use std::collections::BTreeMap;

    fn t(min: i64) -> Timestamp {
        "2026-03-01T10:00:00Z".parse::<Timestamp>().expect("time") + Duration::minutes(min)
    }

    fn alert(service: &str, sev: Severity, fp: &str) -> Alert {
        Alert {
            fingerprint: fp.into(),
            source: AlertSource::Alertmanager,
            service: service.into(),
            severity: sev,
            message: "m".into(),
            status: AlertStatus::Firing,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            starts_at: t(0),
            ends_at: None,
        }
    }

    /// The default policy with `search` in maintenance from t(-60) to t(60).
    fn search_in_maintenance() -> Policy {
        let text = format!(
            "{DEFAULT_POLICY}\n[[maintenance]]\nservice = \"search\"\nfrom = \"2026-03-01T09:00:00Z\"\nuntil = \"2026-03-01T11:00:00Z\"\n"
        );
        Policy::parse(&text).expect("policy")
    }

    /// A tiny in-memory store applying plans, to test sequences.
    #[derive(Default)]
    struct Mem {
        alerts: BTreeMap<String, StoredAlert>,
        incidents: BTreeMap<IncidentId, IncidentState>,
        active: BTreeMap<String, IncidentId>,
    }

    impl Mem {
        fn push(&mut self, a: Alert, p: &Policy, now: Timestamp) -> Plan {
            let existing = self
                .alerts
                .get(&a.fingerprint)
                .map(|s| (s.clone(), s.incident_id.and_then(|i| self.incidents.get(&i).cloned())));
            let active = self.active.get(&a.service).and_then(|i| self.incidents.get(i).cloned());
            let plan = correlate(Snapshot { existing, active }, a, p, now);
            self.alerts.insert(plan.alert.alert.fingerprint.clone(), plan.alert.clone());
            if let Some(i) = &plan.incident {
                if plan.new_incident {
                    self.active.insert(i.service.clone(), i.incident_id);
                }
                self.incidents.insert(i.incident_id, i.clone());
            }
            plan
        }
    }

    #[test]
    fn same_fingerprint_updates_the_alert_it_repeats() {
        let p = Policy::default_policy();
        let mut m = Mem::default();
        let first = m.push(alert("checkout", Severity::High, "a"), &p, t(0));
        let second = m.push(alert("checkout", Severity::High, "a"), &p, t(1));
        assert_eq!(first.outcome, Outcome::Opened);
        assert_eq!(second.outcome, Outcome::Deduplicated);
        assert_eq!(second.alert.alert_id, first.alert.alert_id);
        assert_eq!(second.alert.occurrences, 2);
        let inc = second.incident.expect("incident");
        assert_eq!(inc.alert_count, 1);
        // A repeat (a client's retry, a re-notification) is the same alert: it does
        // not count twice toward "2 alerts in 10 minutes".
        assert!(!inc.approved);
        assert_eq!(second.enqueue_job, None);
        // A second alert does: approved once, with a job.
        let other = m.push(alert("checkout", Severity::High, "b"), &p, t(2));
        assert_eq!(other.enqueue_job, Some(job_id_of(inc.incident_id)));
        let again = m.push(alert("checkout", Severity::High, "b"), &p, t(3));
        assert_eq!(again.enqueue_job, None, "approval happens once");
    }

    #[test]
    fn an_escalated_repeat_counts_toward_approval() {
        let p = Policy::default_policy();
        let mut m = Mem::default();
        let low = m.push(alert("checkout", Severity::High, "a"), &p, t(0));
        assert!(low.enqueue_job.is_none());
        // "b" arrives below the minimum (joins, does not count), then escalates.
        m.push(alert("checkout", Severity::Medium, "b"), &p, t(1));
        let escalated = m.push(alert("checkout", Severity::Critical, "b"), &p, t(2));
        assert_eq!(escalated.outcome, Outcome::Deduplicated);
        assert!(escalated.enqueue_job.is_some(), "the escalation is a second qualifying alert");
    }

    #[test]
    fn a_repeat_after_the_maintenance_window_leaves_the_suppressed_incident() {
        let p = search_in_maintenance();
        let mut m = Mem::default();
        let during = m.push(alert("search", Severity::Critical, "x"), &p, t(30));
        assert_eq!(during.outcome, Outcome::Suppressed);
        let suppressed = during.alert.incident_id;
        // Still in maintenance: the repeat stays with the suppressed incident.
        assert_eq!(m.push(alert("search", Severity::Critical, "x"), &p, t(50)).outcome, Outcome::Deduplicated);
        // The window ended at t60: the same alert, still firing, opens a real incident.
        let after = m.push(alert("search", Severity::Critical, "x"), &p, t(65));
        assert_eq!(after.outcome, Outcome::Opened);
        assert_ne!(after.alert.incident_id, suppressed);
        assert_ne!(after.alert.alert_id, during.alert.alert_id, "a new row for the new incident");
        // A low alert that escalates leaves its severity-suppressed incident the same way.
        let low = m.push(alert("cart", Severity::Low, "y"), &p, t(70));
        assert_eq!(low.outcome, Outcome::Suppressed);
        let high = m.push(alert("cart", Severity::Critical, "y"), &p, t(71));
        assert_eq!(high.outcome, Outcome::Opened);
        assert_ne!(high.alert.incident_id, low.alert.incident_id);
    }

    #[test]
    fn the_onset_is_the_alert_start_within_bounds() {
        let p = Policy::default_policy();
        let mut m = Mem::default();
        let mut old = alert("a", Severity::High, "a");
        old.starts_at = "0001-01-01T00:00:00Z".parse().expect("time");
        let inc = m.push(old, &p, t(0)).incident.expect("incident");
        assert_eq!(inc.first_alert_at, t(0) - MAX_ONSET_LOOKBACK);
        let mut future = alert("b", Severity::High, "b");
        future.starts_at = t(600);
        assert_eq!(m.push(future, &p, t(0)).incident.expect("incident").first_alert_at, t(0));
        let mut recent = alert("c", Severity::High, "c");
        recent.starts_at = t(-5);
        assert_eq!(m.push(recent, &p, t(0)).incident.expect("incident").first_alert_at, t(-5));
    }

    #[test]
    fn same_service_within_window_attaches_else_opens() {
        let p = Policy::default_policy();
        let mut m = Mem::default();
        let a = m.push(alert("checkout", Severity::Critical, "a"), &p, t(0));
        let b = m.push(alert("checkout", Severity::High, "b"), &p, t(10));
        assert_eq!(b.outcome, Outcome::Attached);
        assert_eq!(b.alert.incident_id, a.alert.incident_id);
        let inc = b.incident.clone().expect("incident");
        assert_eq!(inc.alert_count, 2);
        assert_eq!(
            inc.decisions.iter().map(|d| d.decision).collect::<Vec<_>>(),
            vec![Decision::Opened, Decision::Attached, Decision::Approved]
        );
        assert!(inc.decisions.iter().all(|d| d.policy_version == p.version && !d.rationale.is_empty()));
        // 15-minute window measured from the last alert (t10): t26 is outside.
        let c = m.push(alert("checkout", Severity::High, "c"), &p, t(26));
        assert_eq!(c.outcome, Outcome::Opened);
        assert_ne!(c.alert.incident_id, a.alert.incident_id);
        let other = m.push(alert("cart", Severity::High, "d"), &p, t(26));
        assert_eq!(other.outcome, Outcome::Opened);
    }

    #[test]
    fn low_severity_and_maintenance_are_suppressed() {
        let p = search_in_maintenance();
        let mut m = Mem::default();
        let low = m.push(alert("checkout", Severity::Low, "a"), &p, t(0));
        assert_eq!(low.outcome, Outcome::Suppressed);
        let inc = low.incident.expect("incident");
        assert_eq!(inc.status, IncidentStatus::Suppressed);
        assert_eq!(inc.decisions[0].decision, Decision::Suppressed);
        assert!(inc.decisions[0].rationale.contains("below the minimum high"), "{}", inc.decisions[0].rationale);
        // Another low one joins the suppressed incident; a high one opens a real incident.
        let low2 = m.push(alert("checkout", Severity::Medium, "b"), &p, t(1));
        assert_eq!(low2.outcome, Outcome::Suppressed);
        assert_eq!(low2.alert.incident_id, Some(inc.incident_id));
        let high = m.push(alert("checkout", Severity::High, "c"), &p, t(2));
        assert_eq!(high.outcome, Outcome::Opened);
        let maint = m.push(alert("search", Severity::Critical, "d"), &p, t(3));
        assert_eq!(maint.outcome, Outcome::Suppressed);
        assert!(maint.incident.expect("i").decisions[0].rationale.contains("maintenance"));
        let again = m.push(alert("search", Severity::Critical, "d"), &p, t(4));
        assert_eq!(again.enqueue_job, None, "never approved in maintenance");
        let after = m.push(alert("search", Severity::Critical, "e"), &p, t(61));
        assert_eq!(after.outcome, Outcome::Opened, "after the window it opens");
    }

    #[test]
    fn n_alerts_in_m_minutes_approves() {
        let p = Policy::parse(
            &DEFAULT_POLICY.replace("alerts = 2", "alerts = 3").replace("within_minutes = 10", "within_minutes = 5"),
        )
        .expect("policy");
        let mut m = Mem::default();
        assert_eq!(m.push(alert("s", Severity::High, "a"), &p, t(0)).enqueue_job, None);
        assert_eq!(m.push(alert("s", Severity::High, "b"), &p, t(4)).enqueue_job, None);
        // t0 falls out of the 5-minute window at t6: still two.
        assert_eq!(m.push(alert("s", Severity::High, "c"), &p, t(6)).enqueue_job, None);
        assert!(m.push(alert("s", Severity::High, "d"), &p, t(7)).enqueue_job.is_some());
    }

    #[test]
    fn resolved_alertmanager_alert_resolves_when_policy_says_so() {
        let p = Policy::default_policy();
        let mut m = Mem::default();
        m.push(alert("s", Severity::High, "a"), &p, t(0));
        m.push(alert("s", Severity::High, "b"), &p, t(1));
        let mut r = alert("s", Severity::High, "a");
        r.status = AlertStatus::Resolved;
        let first = m.push(r.clone(), &p, t(2));
        assert_eq!(first.outcome, Outcome::Deduplicated, "b still fires");
        let mut rb = alert("s", Severity::High, "b");
        rb.status = AlertStatus::Resolved;
        // Alertmanager says it ended at 2m30s; the notification comes at 3m.
        rb.ends_at = Some(t(2) + Duration::seconds(30));
        let second = m.push(rb, &p, t(3));
        assert_eq!(second.outcome, Outcome::Resolved);
        let inc = second.incident.expect("incident");
        assert_eq!(inc.status, IncidentStatus::Resolved);
        assert_eq!(inc.resolved_at, Some(t(2) + Duration::seconds(30)), "resolved when it ended");
        assert_eq!(inc.first_resolution_seconds(), Some(150.0));
        assert_eq!(inc.resolution_kind.as_deref(), Some("alerts_resolved"));
        // A new firing after resolution opens a new incident.
        let again = m.push(alert("s", Severity::High, "a"), &p, t(4));
        assert_eq!(again.outcome, Outcome::Opened);

        let keep = Policy::parse(
            &DEFAULT_POLICY
                .replace("resolve_on_alertmanager_resolved = true", "resolve_on_alertmanager_resolved = false"),
        )
        .expect("policy");
        let mut m = Mem::default();
        m.push(alert("s", Severity::High, "a"), &keep, t(0));
        let mut r = alert("s", Severity::High, "a");
        r.status = AlertStatus::Resolved;
        let plan = m.push(r, &keep, t(1));
        assert_eq!(plan.incident.expect("i").status, IncidentStatus::Open);
        let mut unknown = alert("s", Severity::High, "zzz");
        unknown.status = AlertStatus::Resolved;
        assert_eq!(m.push(unknown, &keep, t(2)).outcome, Outcome::Ignored);
    }

    #[test]
    fn an_anomaly_recovered_resolves_its_incident_but_a_generic_resolved_does_not() {
        let p = Policy::default_policy();
        for (source, resolves) in [(AlertSource::Anomaly, true), (AlertSource::Generic, false)] {
            let mut m = Mem::default();
            let mut a = alert("s", Severity::High, "anomaly-1");
            a.source = source;
            assert_eq!(m.push(a.clone(), &p, t(0)).outcome, Outcome::Opened);
            assert_eq!(m.push(a.clone(), &p, t(1)).outcome, Outcome::Deduplicated, "a repeat deduplicates");
            let mut r = a.clone();
            r.status = AlertStatus::Resolved;
            r.ends_at = Some(t(2));
            let plan = m.push(r, &p, t(2));
            let inc = plan.incident.expect("incident");
            assert_eq!(inc.status == IncidentStatus::Resolved, resolves, "{source:?}");
            if resolves {
                assert_eq!(plan.outcome, Outcome::Resolved);
                assert_eq!(inc.transitions.last().map(|t| t.actor.as_str()), Some("anomaly"));
            }
        }
    }
}
