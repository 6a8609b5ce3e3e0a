//! After an investigation: the response policy's actions on its outcome. Each
//! planned action is taken once per investigation job (acknowledge the incident,
//! page the person assigned, tell the channels) and recorded as an
//! `incident_decisions` row with the policy's version; sending is only queued (the
//! `Notifier`), so nothing here waits on a channel.

use std::sync::Arc;

use chrono::Utc;
use inquest_domain::{Decision, IncidentDecision, IncidentId, IncidentStatus, ProjectId};
use inquest_intake::LifecycleError;
use inquest_intake::lifecycle::{Action, IncidentState, recorded_decision};
use inquest_intake::response::{Diagnosis, LeadingHypothesis, Planned, ResponseAction, ResponsePolicy};
use inquest_ops::notify::{Notice, NoticeCause, NoticeEvent, Notifier};
use serde_json::json;
use tracing::warn;

use crate::service::Ingest;

/// The response policy and where its notices go.
pub struct Responder {
    pub policy: ResponsePolicy,
    pub notifier: Arc<dyn Notifier>,
}

/// The actor lifecycle changes made by the response policy are recorded under.
pub const ACTOR: &str = "response policy";

impl Responder {
    /// Take the planned actions for the investigation `run` (the job's id: an action
    /// is recorded once per run) of `incident`, whose leading hypothesis is `top`.
    /// Answers the decisions recorded. An action that fails is logged and left out;
    /// the others are still taken.
    pub async fn respond(
        &self,
        ingest: &Ingest,
        project: &ProjectId,
        incident: IncidentId,
        run: &str,
        top: Option<LeadingHypothesis>,
    ) -> Result<Vec<IncidentDecision>, LifecycleError> {
        let store = ingest.store_in(project);
        let inc = store.get_incident(incident).await?.ok_or(LifecycleError::NotFound(incident))?;
        let diagnosis = Diagnosis { severity: inc.severity, top };
        let planned = self.policy.plan(&diagnosis);
        let mut decisions = Vec::new();
        for p in &planned {
            match self.act(ingest, project, &inc, &diagnosis, p).await {
                Ok(Some((decision, details))) => decisions.push(recorded_decision(
                    incident,
                    decision,
                    &format!("{}/{run}", p.action.as_str()),
                    p.rationale.clone(),
                    &self.policy.version,
                    Utc::now(),
                    details,
                )),
                Ok(None) => {}
                Err(e) => warn!(%project, %incident, action = p.action.as_str(), error = %e, "response action failed"),
            }
        }
        if !decisions.is_empty() {
            ingest.add_decisions(project, incident, decisions.clone()).await?;
        }
        Ok(decisions)
    }

    async fn act(
        &self,
        ingest: &Ingest,
        project: &ProjectId,
        inc: &IncidentState,
        d: &Diagnosis,
        p: &Planned,
    ) -> Result<Option<(Decision, serde_json::Value)>, String> {
        match p.action {
            ResponseAction::Acknowledge => {
                // Only an open incident is acknowledged; one a person already took is left as it is.
                if inc.status != IncidentStatus::Open {
                    return Ok(None);
                }
                ingest
                    .transition(project, inc.incident_id, Action::Triage, ACTOR, Some(p.rationale.clone()))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Some((Decision::Acknowledged, json!({ "action": "acknowledge", "rules": p.rules }))))
            }
            ResponseAction::Page | ResponseAction::Notify => {
                let (event, decision) = match p.action {
                    ResponseAction::Page => (NoticeEvent::Paged, Decision::Paged),
                    _ => (NoticeEvent::Diagnosed, Decision::Notified),
                };
                let recipient = inc.assignee();
                let notice = Notice {
                    incident_id: inc.incident_id,
                    event,
                    at: Utc::now(),
                    service: inc.service.clone(),
                    severity: inc.severity.to_string(),
                    status: inc.status.to_string(),
                    recipient: recipient.clone(),
                    cause: d.top.as_ref().map(|t| NoticeCause {
                        title: t.title.clone(),
                        hypothesis_type: t.hypothesis_type.to_string(),
                        confidence: t.confidence,
                    }),
                    link: Notice::link_of(inc.incident_id),
                    reason: match p.action {
                        ResponseAction::Page => format!("paged by the response policy ({})", p.rationale),
                        _ => format!("the investigation has ranked its hypotheses ({})", p.rationale),
                    },
                };
                let queued = self.notifier.notify(project, &notice).await.map_err(|e| e.to_string())?;
                Ok(Some((
                    decision,
                    json!({ "action": p.action.as_str(), "rules": p.rules, "recipient": recipient, "queued": queued }),
                )))
            }
        }
    }
}
