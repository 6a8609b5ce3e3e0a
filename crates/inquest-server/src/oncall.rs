//! The on-call responder: every round it reads each project's incidents from the
//! intake, gives every open incident without an assignment to whoever is on call for
//! its service, and escalates an assigned incident still open (nobody acknowledged it)
//! once the next step's delay since the assignment has passed. Each action is a
//! decision on the incident (`IngestStore::add_decisions`), a row of the on-call store
//! and a notice through the `Notifier`. The state is in the stores, so a restart loses
//! nothing and a step fires once. A store that fails is logged and counted; the round
//! goes on with the next incident or project.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use inquest_domain::{Decision, DecisionId, IncidentDecision, IncidentId, IncidentStatus, ProjectId, Timestamp};
use inquest_intake::lifecycle::IncidentState;
use inquest_intake::store::LifecycleError;
use inquest_intake_service::Ingest;
use inquest_ops::notify::{Notice, NoticeEvent, Notifier};
use inquest_ops::oncall::{
    Assignment, Escalation, OncallStore, Schedule, StopReason, Stopped, on_call, schedule_for, targets_of,
};
use inquest_ports::{AccessStore, StoreError};
use prometheus::{IntCounterVec, Opts, Registry};
use serde_json::json;

/// The responder's counters on `/metrics`.
#[derive(Clone)]
pub struct OncallMetrics {
    /// `inquest_oncall_actions_total{action}`: assigned, escalated, stopped, unassigned
    /// (an open incident no schedule covers, or nobody on call), failed (a store or the
    /// notifier refused; tried again next round where the state allows).
    pub actions: IntCounterVec,
}

impl OncallMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<OncallMetrics> {
        let actions = IntCounterVec::new(
            Opts::new("inquest_oncall_actions_total", "What the on-call responder did, by action"),
            &["action"],
        )?;
        registry.register(Box::new(actions.clone()))?;
        for a in ["assigned", "escalated", "stopped", "unassigned", "failed"] {
            actions.with_label_values(&[a]);
        }
        Ok(OncallMetrics { actions })
    }

    fn count(&self, action: &str) {
        self.actions.with_label_values(&[action]).inc();
    }
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub projects: usize,
    pub assigned: usize,
    /// Escalation steps fired.
    pub escalated: usize,
    pub stopped: usize,
    /// Open incidents left without an assignment (no schedule, nobody on call).
    pub unassigned: usize,
    /// Store or notifier calls that failed.
    pub failures: usize,
}

impl Round {
    fn add(&mut self, o: Round) {
        self.projects += o.projects;
        self.assigned += o.assigned;
        self.escalated += o.escalated;
        self.stopped += o.stopped;
        self.unassigned += o.unassigned;
        self.failures += o.failures;
    }
}

/// Assigns and escalates; `run_once` is one round at an explicit time.
#[derive(Clone)]
pub struct Responder {
    pub oncall: Arc<dyn OncallStore>,
    pub ingest: Arc<Ingest>,
    /// Lists the projects a round visits.
    pub access: Arc<dyn AccessStore>,
    pub notifier: Arc<dyn Notifier>,
    pub counters: OncallMetrics,
    /// Open incidents already logged as unassigned, so each is logged once.
    told: Arc<Mutex<HashSet<(ProjectId, IncidentId)>>>,
}

/// The reason put on decisions this responder writes.
pub const POLICY: &str = "oncall";

fn lifecycle_err(e: LifecycleError) -> StoreError {
    match e {
        LifecycleError::Store(e) => e,
        other => StoreError::new(inquest_ports::ErrorKind::Conflict, "intake", "add_decisions", other.to_string()),
    }
}

impl Responder {
    pub fn new(
        oncall: Arc<dyn OncallStore>,
        ingest: Arc<Ingest>,
        access: Arc<dyn AccessStore>,
        notifier: Arc<dyn Notifier>,
        counters: OncallMetrics,
    ) -> Responder {
        Responder { oncall, ingest, access, notifier, counters, told: Arc::default() }
    }

    /// One round over every project at `now`.
    pub async fn run_once(&self, now: Timestamp) -> Round {
        let mut round = Round::default();
        let projects = match self.access.list_projects().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "on-call round skipped: projects not listed");
                self.counters.count("failed");
                round.failures += 1;
                return round;
            }
        };
        for p in projects {
            match self.project(&p.project_id, now).await {
                Ok(r) => round.add(r),
                Err(e) => {
                    tracing::warn!(project = %p.project_id, error = %e, "on-call round stopped for the project");
                    self.counters.count("failed");
                    round.failures += 1;
                }
            }
        }
        round
    }

    /// One round over the incidents of `project` at `now`. Fails only when the
    /// incidents, schedules or assignments cannot be listed.
    pub async fn project(&self, project: &ProjectId, now: Timestamp) -> Result<Round, StoreError> {
        let mut round = Round { projects: 1, ..Round::default() };
        let incidents = self.ingest.store_in(project).list_incidents().await?;
        let schedules = self.oncall.list_schedules(project).await?;
        let mut assignments: HashMap<IncidentId, Assignment> =
            self.oncall.list_assignments(project).await?.into_iter().map(|a| (a.incident_id, a)).collect();
        let mut still_unassigned = HashSet::new();
        for inc in &incidents {
            let result = match assignments.remove(&inc.incident_id) {
                None if inc.status == IncidentStatus::Open => match self.assign(project, inc, &schedules, now).await {
                    Ok(true) => {
                        round.assigned += 1;
                        Ok(())
                    }
                    Ok(false) => {
                        round.unassigned += 1;
                        still_unassigned.insert(inc.incident_id);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                None => Ok(()),
                Some(a) if a.stopped.is_some() => Ok(()),
                Some(a) => self.follow(project, inc, a, &schedules, now, &mut round).await,
            };
            if let Err(e) = result {
                tracing::warn!(%project, incident_id = %inc.incident_id, error = %e, "on-call action failed: tried again next round");
                self.counters.count("failed");
                round.failures += 1;
            }
        }
        // Forget incidents that are no longer open and unassigned, so the set stays small.
        if let Ok(mut told) = self.told.lock() {
            told.retain(|(p, id)| p != project || still_unassigned.contains(id));
        }
        Ok(round)
    }

    /// Logs (once per incident) why an open incident stays unassigned.
    fn unassigned(&self, project: &ProjectId, inc: &IncidentState, why: &str) {
        self.counters.count("unassigned");
        let first = self.told.lock().map(|mut t| t.insert((project.clone(), inc.incident_id))).unwrap_or(true);
        if first {
            tracing::info!(%project, incident_id = %inc.incident_id, service = %inc.service, why, "incident left unassigned");
        }
    }

    fn notice(inc: &IncidentState, event: NoticeEvent, recipient: &str, reason: String, now: Timestamp) -> Notice {
        Notice {
            incident_id: inc.incident_id,
            event,
            at: now,
            service: inc.service.clone(),
            severity: inc.severity.as_str().to_string(),
            status: inc.status.as_str().to_string(),
            recipient: Some(recipient.to_string()),
            cause: None,
            link: Notice::link_of(inc.incident_id),
            reason,
        }
    }

    /// Queues `notice`; a notifier that fails is logged and counted, the state stays.
    async fn tell(&self, project: &ProjectId, notice: &Notice) -> bool {
        match self.notifier.notify(project, notice).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%project, incident_id = %notice.incident_id, event = notice.event.as_str(), error = %e, "notice not queued");
                self.counters.count("failed");
                false
            }
        }
    }

    /// Gives `inc` to whoever is on call for its service; `false` when nobody can be.
    async fn assign(
        &self,
        project: &ProjectId,
        inc: &IncidentState,
        schedules: &[Schedule],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(schedule) = schedule_for(schedules, &inc.service) else {
            self.unassigned(project, inc, "no schedule covers the service");
            return Ok(false);
        };
        let Some(who) = on_call(schedule, now) else {
            self.unassigned(project, inc, "nobody is on call in its schedule");
            return Ok(false);
        };
        let id = inc.incident_id.to_string();
        let decision = IncidentDecision {
            // Derived, so a round repeated after a failure writes the same decision.
            decision_id: DecisionId::derived(&["decision", &id, "assigned"]),
            incident_id: inc.incident_id,
            decided_at: now,
            decision: Decision::Assigned,
            rationale: format!("{} is on call for {} (schedule {})", who.person, inc.service, schedule.name),
            policy_version: POLICY.to_string(),
            details: json!({"schedule_id": schedule.schedule_id, "schedule": schedule.name, "person": who.person,
                            "on_call_until": who.until}),
        };
        self.ingest.store_in(project).add_decisions(inc.incident_id, vec![decision]).await.map_err(lifecycle_err)?;
        let assignment = Assignment {
            incident_id: inc.incident_id,
            project_id: project.clone(),
            schedule_id: schedule.schedule_id,
            person: who.person.clone(),
            assigned_at: now,
            escalations: Vec::new(),
            stopped: None,
        };
        self.oncall.put_assignment(&assignment).await?;
        self.counters.count("assigned");
        tracing::info!(%project, incident_id = %inc.incident_id, person = %who.person, schedule = %schedule.name, "incident assigned");
        let reason = format!("on call for {} in schedule {} until {}", inc.service, schedule.name, who.until);
        self.tell(project, &Self::notice(inc, NoticeEvent::Assigned, &who.person, reason, now)).await;
        Ok(true)
    }

    /// Stops an acknowledged (or closed) incident's escalation, or fires its due steps.
    async fn follow(
        &self,
        project: &ProjectId,
        inc: &IncidentState,
        mut a: Assignment,
        schedules: &[Schedule],
        now: Timestamp,
        round: &mut Round,
    ) -> Result<(), StoreError> {
        let stop = match inc.status {
            IncidentStatus::Open => None,
            IncidentStatus::Triaged => Some(StopReason::Acknowledged),
            IncidentStatus::Resolved => Some(StopReason::Resolved),
            IncidentStatus::Suppressed => Some(StopReason::Suppressed),
        };
        let schedule = schedules.iter().find(|s| s.schedule_id == a.schedule_id);
        let stop = stop.or(schedule.is_none().then_some(StopReason::ScheduleDeleted));
        if let Some(reason) = stop {
            a.stopped = Some(Stopped { reason, at: now });
            self.oncall.put_assignment(&a).await?;
            self.counters.count("stopped");
            round.stopped += 1;
            tracing::debug!(%project, incident_id = %inc.incident_id, reason = reason.as_str(), "escalation stopped");
            return Ok(());
        }
        let Some(schedule) = schedule else { return Ok(()) };
        // Steps whose delays all passed (a round missed while the process was down) fire in order.
        while let Some(step) = a.due_step(schedule, now) {
            let plan = &schedule.escalation[step];
            let targets = targets_of(plan, schedule, schedules, now);
            let id = inc.incident_id.to_string();
            let decision = IncidentDecision {
                decision_id: DecisionId::derived(&["decision", &id, "escalated", &step.to_string()]),
                incident_id: inc.incident_id,
                decided_at: now,
                decision: Decision::Escalated,
                rationale: format!(
                    "nobody acknowledged within {} minutes of the assignment to {}: step {} tells {}",
                    plan.after_minutes,
                    a.person,
                    step + 1,
                    if targets.is_empty() { "nobody (no target is on call)".to_string() } else { targets.join(", ") }
                ),
                policy_version: POLICY.to_string(),
                details: json!({"schedule_id": schedule.schedule_id, "step": step, "after_minutes": plan.after_minutes,
                                "targets": targets, "assigned_to": a.person}),
            };
            self.ingest
                .store_in(project)
                .add_decisions(inc.incident_id, vec![decision])
                .await
                .map_err(lifecycle_err)?;
            a.escalations.push(Escalation { step, at: now, targets: targets.clone() });
            self.oncall.put_assignment(&a).await?;
            self.counters.count("escalated");
            round.escalated += 1;
            tracing::info!(%project, incident_id = %inc.incident_id, step, targets = ?targets, "incident escalated");
            let reason = format!("nobody acknowledged within {} minutes", plan.after_minutes);
            for t in &targets {
                self.tell(project, &Self::notice(inc, NoticeEvent::Escalated, t, reason.clone(), now)).await;
            }
        }
        Ok(())
    }
}
